import CaptureModel
import TLSRecords

/// Why an active probe could not complete: an operational error with a one-line message.
public struct ProbeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, broadly.
    public enum Code: String, Hashable, Sendable {
        /// The host name did not resolve.
        case resolve
        /// The upstream answered the SYN with a reset.
        case refused
        /// No TCP connection within the timeout.
        case connectTimeout = "connect_timeout"
        /// Any other connect failure (unreachable network, no route).
        case connect
        /// The handshake did not finish within the timeout.
        case handshakeTimeout = "handshake_timeout"
        /// The upstream closed or reset the connection during the handshake without an alert.
        case peerClosedInHandshake = "peer_closed_in_handshake"
        /// The handshake failed: an alert (see `alert`), or bytes OpenSSL rejected.
        case handshake
        /// The upstream answered the ClientHello with bytes that are not TLS (a plain HTTP port).
        case notTLS = "not_tls"
        /// Reading or writing after the handshake failed.
        case io
        /// OpenSSL or the system could not set up the probe.
        case setup
    }

    /// What went wrong, broadly.
    public var code: Code
    /// One line a person understands, with OpenSSL's reason and the alert when there was one.
    public var message: String
    /// The TLS alert description the server sent (RFC 8446 §6: 40 is handshake_failure), if any.
    public var alert: UInt8?
    /// The certificates the server sent before the failure, leaf first, DER (empty when it sent
    /// none or the failure came first). Lets `ChainVerifier` explain a handshake that a client
    /// certificate requirement ended.
    public var peerChain: [[UInt8]]
    /// For a refused connection: the address that refused it, `127.0.0.1:8080`.
    public var peer: String?
    /// For a refused connection: the probe's own address, when the system gave one.
    public var local: String?

    /// An error from its parts.
    public init(code: Code, message: String, alert: UInt8? = nil, peerChain: [[UInt8]] = []) {
        self.code = code
        self.message = message
        self.alert = alert
        self.peerChain = peerChain
    }

    /// The RFC 8446 name of `alert` (`handshake_failure`), if any.
    public var alertName: String? {
        alert.map(TLSNames.alert)
    }

    /// edgescope's code for the failure (taxonomy §2.A, §2.B, §2.G), when one fits:
    /// `tcp.connect.refused`, `tcp.connect.timeout`, `tls.handshake_timeout`,
    /// `tls.peer_closed_in_handshake`, `tls.alert.<name>`, `proto.tls_to_plain_port`.
    public var findingCode: FindingCode? {
        switch code {
        case .refused: return FindingCode.tcpConnectRefused
        case .connectTimeout: return FindingCode.tcpConnectTimeout
        case .handshakeTimeout: return FindingCode.tlsHandshakeTimeout
        case .peerClosedInHandshake: return FindingCode.tlsPeerClosedInHandshake
        case .notTLS: return FindingCode.protoTLSToPlainPort
        case .handshake, .io: return alertName.map { FindingCode.tlsAlert(named: $0) }
        case .resolve, .connect, .setup: return nil
        }
    }

    /// The message.
    public var description: String { message }
}
