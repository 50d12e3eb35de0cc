import CaptureModel

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

    /// An error from its parts.
    public init(code: Code, message: String, alert: UInt8? = nil, peerChain: [[UInt8]] = []) {
        self.code = code
        self.message = message
        self.alert = alert
        self.peerChain = peerChain
    }

    /// The RFC 8446 name of `alert` (`handshake_failure`), if any.
    public var alertName: String? {
        alert.map(tlsAlertName)
    }

    /// edgescope's code for the failure (taxonomy §2.A, §2.B, §2.G), when one fits:
    /// `tcp.connect.refused`, `tcp.connect.timeout`, `tls.handshake_timeout`,
    /// `tls.peer_closed_in_handshake`, `tls.alert.<name>`, `proto.tls_to_plain_port`.
    public var findingCode: FindingCode? {
        switch code {
        case .refused: return FindingCode("tcp.connect.refused")
        case .connectTimeout: return FindingCode("tcp.connect.timeout")
        case .handshakeTimeout: return FindingCode("tls.handshake_timeout")
        case .peerClosedInHandshake: return FindingCode("tls.peer_closed_in_handshake")
        case .notTLS: return FindingCode("proto.tls_to_plain_port")
        case .handshake, .io: return alertName.map { FindingCode("tls.alert.\($0)") }
        case .resolve, .connect, .setup: return nil
        }
    }

    /// The message.
    public var description: String { message }
}

/// The RFC 8446 §6 (and RFC 5246 §7.2) name of a TLS alert description.
func tlsAlertName(_ description: UInt8) -> String {
    switch description {
    case 0: return "close_notify"
    case 10: return "unexpected_message"
    case 20: return "bad_record_mac"
    case 21: return "decryption_failed"
    case 22: return "record_overflow"
    case 30: return "decompression_failure"
    case 40: return "handshake_failure"
    case 41: return "no_certificate"
    case 42: return "bad_certificate"
    case 43: return "unsupported_certificate"
    case 44: return "certificate_revoked"
    case 45: return "certificate_expired"
    case 46: return "certificate_unknown"
    case 47: return "illegal_parameter"
    case 48: return "unknown_ca"
    case 49: return "access_denied"
    case 50: return "decode_error"
    case 51: return "decrypt_error"
    case 60: return "export_restriction"
    case 70: return "protocol_version"
    case 71: return "insufficient_security"
    case 80: return "internal_error"
    case 86: return "inappropriate_fallback"
    case 90: return "user_canceled"
    case 100: return "no_renegotiation"
    case 109: return "missing_extension"
    case 110: return "unsupported_extension"
    case 111: return "certificate_unobtainable"
    case 112: return "unrecognized_name"
    case 113: return "bad_certificate_status_response"
    case 114: return "bad_certificate_hash_value"
    case 115: return "unknown_psk_identity"
    case 116: return "certificate_required"
    case 120: return "no_application_protocol"
    default: return "unknown_\(description)"
    }
}
