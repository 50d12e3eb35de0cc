/// What an active probe of an upstream saw.
public struct ProbeResult: Hashable, Sendable {
    /// How reading the response ended.
    public enum ResponseEnd: Hashable, Sendable {
        /// No request was sent, so nothing was read.
        case notRequested
        /// The server sent close_notify.
        case closeNotify
        /// The server closed the TCP connection without close_notify.
        case closed
        /// The server reset the TCP connection.
        case reset
        /// The response was whole by its own framing, so the probe stopped reading (plain HTTP).
        case complete
        /// The timeout passed with the connection still open.
        case timeout
        /// The response reached `TLSProbe.responseCap` bytes.
        case cap
        /// The server sent this alert (RFC 8446 §6 description) after some response bytes.
        case alert(UInt8)
        /// Reading failed otherwise; OpenSSL's or the system's reason.
        case failed(String)
    }

    /// The address connected to, `10.0.3.24:443` or `[2001:db8::1]:443`.
    public var address: String
    /// The negotiated protocol version as OpenSSL names it: `TLSv1.3`, `TLSv1.2`.
    public var version: String
    /// The negotiated cipher suite's IANA name (`TLS_AES_256_GCM_SHA384`,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), as a capture's ServerHello shows it.
    public var cipher: String
    /// The protocol the server selected with ALPN, if any.
    public var alpn: String?
    /// The certificates exactly as the server sent them, leaf first, DER.
    public var peerChain: [[UInt8]]
    /// The bytes read after sending the request, at most `TLSProbe.responseCap`.
    public var response: [UInt8]
    /// How reading the response ended.
    public var responseEnd: ResponseEnd

    /// A probe result from its parts.
    public init(
        address: String, version: String, cipher: String, alpn: String?, peerChain: [[UInt8]],
        response: [UInt8], responseEnd: ResponseEnd
    ) {
        self.address = address
        self.version = version
        self.cipher = cipher
        self.alpn = alpn
        self.peerChain = peerChain
        self.response = response
        self.responseEnd = responseEnd
    }
}
