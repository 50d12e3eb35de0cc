import COpenSSL
import TLSRecords

/// An active TLS client that connects to an upstream as a gateway would and records what the
/// upstream presents: version, cipher, ALPN, the certificate chain as sent, and the response to
/// one request (`edgescope probe`).
///
/// The probe does not verify the certificate (`SSL_VERIFY_NONE`): like the passive path, it hands
/// the chain to `ChainVerifier`, so both paths judge a chain the same way. Protocol versions and
/// ciphers are the system OpenSSL's defaults, the ones a gateway linked against it offers.
public enum TLSProbe {
    /// The most response bytes a probe keeps: 1 MiB.
    public static let responseCap = 1 << 20

    /// Connects to `host` (a name, or an IPv4/IPv6 literal) on `port`, performs a TLS handshake
    /// with `sni` as server_name and `alpn` as the offered protocols (each omitted when empty),
    /// then, when `request` is given, sends it and reads until the server closes, `timeout`
    /// passes with nothing more, or `responseCap` bytes arrived.
    ///
    /// `timeout` bounds each phase separately: the TCP connect, the handshake, and reading the
    /// response. Name resolution is the system resolver's and has its own timeout.
    public static func run(
        host: String, port: UInt16, sni: String?, alpn: [String], request: [UInt8]?, timeout: Duration
    ) throws(ProbeError) -> ProbeResult {
        let socket = try ProbeSocket.connect(host: host, port: port, deadline: .now.advanced(by: timeout))
        let session = try TLSSession(sni: sni, alpn: alpn)
        try session.handshake(over: socket, deadline: .now.advanced(by: timeout))

        let version = string(fromC: SSL_get_version(session.ssl)) ?? "unknown"
        var cipher = "unknown"
        if let current = SSL_get_current_cipher(session.ssl) {
            cipher = string(fromC: SSL_CIPHER_standard_name(current)) ?? string(fromC: SSL_CIPHER_get_name(current)) ?? "unknown"
        }
        var selected: UnsafePointer<UInt8>?
        var selectedLength: UInt32 = 0
        SSL_get0_alpn_selected(session.ssl, &selected, &selectedLength)
        let negotiated = selected.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(selectedLength)), as: UTF8.self) }
        let chain = session.peerChain()

        var response: [UInt8] = []
        var end = ProbeResult.ResponseEnd.notRequested
        if let request {
            do {
                end = try session.exchange(request, over: socket, deadline: .now.advanced(by: timeout), into: &response)
            } catch {
                var failure = error
                failure.peerChain = chain
                throw failure
            }
        }
        return ProbeResult(
            address: socket.address, version: version, cipher: cipher, alpn: negotiated, peerChain: chain,
            response: response, responseEnd: end)
    }
}

/// Alerts seen on one connection, filled in by OpenSSL's info callback.
private final class AlertLog {
    var received: [(level: UInt8, description: UInt8)] = []
    var sent: [(level: UInt8, description: UInt8)] = []
}

/// One client `SSL` over a pair of memory BIOs.
private final class TLSSession {
    let context: OpaquePointer
    let ssl: OpaquePointer
    /// What OpenSSL reads from: bytes received from the socket.
    let networkIn: OpaquePointer
    /// What OpenSSL writes to: bytes to send on the socket.
    let networkOut: OpaquePointer
    let alerts = AlertLog()
    /// The first bytes the server sent, to tell a plain-HTTP port from a TLS failure.
    var firstBytes: [UInt8] = []

    init(sni: String?, alpn: [String]) throws(ProbeError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw ProbeError(code: .setup, message: "cannot create a TLS context: \(OpenSSLErrorQueue.drain() ?? "unknown error")")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw ProbeError(code: .setup, message: "cannot create a TLS connection: \(OpenSSLErrorQueue.drain() ?? "unknown error")")
        }
        guard let networkIn = BIO_new(BIO_s_mem()), let networkOut = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            SSL_CTX_free(context)
            throw ProbeError(code: .setup, message: "cannot create memory BIOs")
        }
        // The SSL owns both BIOs from here on: SSL_free frees them.
        SSL_set_bio(ssl, networkIn, networkOut)
        self.context = context
        self.ssl = ssl
        self.networkIn = networkIn
        self.networkOut = networkOut

        SSL_set_connect_state(ssl)
        if let sni, !sni.isEmpty {
            guard COpenSSL_SSL_set_tlsext_host_name(ssl, sni) == 1 else {
                throw ProbeError(code: .setup, message: "cannot send \(sni) as SNI: \(OpenSSLErrorQueue.drain() ?? "rejected by OpenSSL")")
            }
        }
        if !alpn.isEmpty {
            // RFC 7301 §3.1: each protocol name is one length byte and 1...255 bytes.
            var wire: [UInt8] = []
            for name in alpn {
                let bytes = Array(name.utf8)
                guard (1...255).contains(bytes.count) else {
                    throw ProbeError(code: .setup, message: "ALPN protocol name \"\(name)\" must be 1 to 255 bytes")
                }
                wire.append(UInt8(bytes.count))
                wire += bytes
            }
            // Unlike most of OpenSSL, SSL_set_alpn_protos returns 0 on success.
            guard SSL_set_alpn_protos(ssl, wire, UInt32(wire.count)) == 0 else {
                throw ProbeError(code: .setup, message: "cannot offer ALPN \(alpn.joined(separator: ",")): \(OpenSSLErrorQueue.drain() ?? "rejected by OpenSSL")")
            }
        }
        _ = SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(alerts).toOpaque())
        SSL_set_info_callback(ssl) { ssl, kind, value in
            guard kind & SSL_CB_ALERT != 0, let ssl, let raw = SSL_get_ex_data(ssl, 0) else { return }
            let log = Unmanaged<AlertLog>.fromOpaque(raw).takeUnretainedValue()
            let alert = (level: UInt8(truncatingIfNeeded: value >> 8), description: UInt8(truncatingIfNeeded: value))
            if kind & SSL_CB_READ != 0 { log.received.append(alert) } else { log.sent.append(alert) }
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// Drives the handshake to completion, moving bytes between the socket and the BIOs.
    func handshake(over socket: borrowing ProbeSocket, deadline: ContinuousClock.Instant) throws(ProbeError) {
        while true {
            OpenSSLErrorQueue.clear()
            let status = SSL_do_handshake(ssl)
            try flush(to: socket, until: deadline)
            if status == 1 { return }
            let error = SSL_get_error(ssl, status)
            switch error {
            case SSL_ERROR_WANT_READ:
                switch socket.receive(until: deadline) {
                case .bytes(let bytes):
                    if firstBytes.count < 8 { firstBytes += bytes.prefix(8 - firstBytes.count) }
                    feed(bytes)
                case .closed:
                    throw closedInHandshake(socket.address, how: "closed the connection")
                case .reset:
                    throw closedInHandshake(socket.address, how: "reset the connection")
                case .timedOut:
                    throw ProbeError(code: .handshakeTimeout, message: "TLS handshake with \(socket.address) timed out\(stage())", peerChain: peerChain())
                case .failed(let reason):
                    throw ProbeError(code: .io, message: "TLS handshake with \(socket.address) failed: \(reason)", peerChain: peerChain())
                }
            case SSL_ERROR_WANT_WRITE:
                continue
            default:
                throw handshakeFailure(socket.address)
            }
        }
    }

    /// Sends `request` and reads the response into `response` until the connection ends.
    func exchange(
        _ request: [UInt8], over socket: borrowing ProbeSocket, deadline: ContinuousClock.Instant, into response: inout [UInt8]
    ) throws(ProbeError) -> ProbeResult.ResponseEnd {
        if !request.isEmpty {
            OpenSSLErrorQueue.clear()
            let written = request.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard written == Int32(request.count) else {
                throw ProbeError(code: .io, message: "cannot write the request to \(socket.address): \(OpenSSLErrorQueue.drain() ?? "SSL_write failed")")
            }
            try flush(to: socket, until: deadline)
        }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            OpenSSLErrorQueue.clear()
            let count = SSL_read(ssl, &buffer, Int32(buffer.count))
            if count > 0 {
                response += buffer.prefix(Int(count))
                if response.count >= TLSProbe.responseCap {
                    response.removeLast(response.count - TLSProbe.responseCap)
                    return .cap
                }
                continue
            }
            // TLS 1.3 post-handshake messages (KeyUpdate) may need an answer.
            try flush(to: socket, until: deadline)
            switch SSL_get_error(ssl, count) {
            case SSL_ERROR_WANT_READ:
                switch socket.receive(until: deadline) {
                case .bytes(let bytes): feed(bytes)
                case .closed: return .closed
                case .reset: return .reset
                case .timedOut: return .timeout
                case .failed(let reason): return .failed(reason)
                }
            case SSL_ERROR_WANT_WRITE:
                continue
            case SSL_ERROR_ZERO_RETURN:
                return .closeNotify
            default:
                let reason = OpenSSLErrorQueue.drain() ?? "SSL_read failed"
                if let alert = alerts.received.last {
                    // A fatal alert before any response byte is a handshake failure seen late:
                    // a TLS 1.3 server rejects a missing client certificate after the client's
                    // handshake has already completed (RFC 8446 §4.4.2.4, certificate_required).
                    if response.isEmpty && alert.level == 2 {
                        throw ProbeError(
                            code: .handshake,
                            message: "\(socket.address) sent alert \(alert.description) \(TLSNames.alert(alert.description)) after the handshake, before any response (\(reason))",
                            alert: alert.description)
                    }
                    return .alert(alert.description)
                }
                return .failed(reason)
            }
        }
    }

    /// The server's certificates as it sent them, leaf first.
    func peerChain() -> [[UInt8]] {
        var chain: [[UInt8]] = []
        if let stack = SSL_get_peer_cert_chain(ssl) {
            for index in 0..<COpenSSL_sk_X509_num(stack) {
                if let certificate = COpenSSL_sk_X509_value(stack, index) {
                    chain.append(CertificateInfo.encode(certificate))
                }
            }
        }
        // A client's peer chain starts with the leaf; make sure of it rather than assume it.
        if let leaf = SSL_get0_peer_certificate(ssl) {
            let der = CertificateInfo.encode(leaf)
            if chain.first != der { chain.insert(der, at: 0) }
        }
        return chain
    }

    private func feed(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { BIO_write(networkIn, $0.baseAddress, Int32($0.count)) }
    }

    private func flush(to socket: borrowing ProbeSocket, until deadline: ContinuousClock.Instant) throws(ProbeError) {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while BIO_ctrl_pending(networkOut) > 0 {
            let count = BIO_read(networkOut, &chunk, Int32(chunk.count))
            if count <= 0 { break }
            try socket.send(Array(chunk.prefix(Int(count))), until: deadline)
        }
    }

    private func closedInHandshake(_ address: String, how: String) -> ProbeError {
        if let failure = notTLS(address) { return failure }
        return ProbeError(
            code: .peerClosedInHandshake,
            message: "\(address) \(how) during the TLS handshake without an alert\(stage())",
            peerChain: peerChain())
    }

    private func handshakeFailure(_ address: String) -> ProbeError {
        let reason = OpenSSLErrorQueue.drain() ?? "SSL_do_handshake failed"
        if let failure = notTLS(address) { return failure }
        if let alert = alerts.received.last {
            return ProbeError(
                code: .handshake,
                message: "TLS handshake with \(address) failed: the server sent alert \(alert.description) \(TLSNames.alert(alert.description)) (\(reason))",
                alert: alert.description, peerChain: peerChain())
        }
        if let alert = alerts.sent.last {
            return ProbeError(
                code: .handshake,
                message: "TLS handshake with \(address) failed: we sent alert \(alert.description) \(TLSNames.alert(alert.description)) (\(reason))",
                peerChain: peerChain())
        }
        return ProbeError(code: .handshake, message: "TLS handshake with \(address) failed: \(reason)", peerChain: peerChain())
    }

    /// A server that answers a ClientHello with something other than a TLS alert or handshake
    /// record (RFC 8446 §5.1 content types 21, 22) is not speaking TLS: typically plain HTTP.
    private func notTLS(_ address: String) -> ProbeError? {
        guard let first = firstBytes.first, first != 0x15, first != 0x16 else { return nil }
        let printable = firstBytes.map { (0x20..<0x7f).contains($0) ? Character(UnicodeScalar($0)) : "." }
        OpenSSLErrorQueue.clear()
        return ProbeError(
            code: .notTLS,
            message: "\(address) does not speak TLS: it answered the ClientHello with \"\(String(printable))\" (\(hex(firstBytes)))")
    }

    private func stage() -> String {
        guard let state = string(fromC: SSL_state_string_long(ssl)) else { return "" }
        return " (\(state))"
    }
}
