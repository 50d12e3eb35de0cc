import CaptureModel

/// One certificate as a report shows it.
public struct CertificateSummary: Hashable, Sendable {
    public var subject: String
    public var issuer: String
    public var notBefore: String
    public var notAfter: String
    public var subjectAltNames: [String]
    public var key: String
    public var sha256: String

    /// A summary from its parts.
    public init(subject: String, issuer: String, notBefore: String, notAfter: String, subjectAltNames: [String], key: String, sha256: String) {
        self.subject = subject
        self.issuer = issuer
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.subjectAltNames = subjectAltNames
        self.key = key
        self.sha256 = sha256
    }
}

/// The result of verifying a chain as the gateway would.
public struct ChainCheck: Hashable, Sendable {
    /// Whether the chain verified.
    public var ok: Bool
    /// The edgescope code for the failure (`tls.cert.expired`), `nil` when it verified.
    public var code: FindingCode?
    /// OpenSSL's X509_V_ERR number (0 when ok).
    public var opensslCode: Int32
    /// OpenSSL's text for it.
    public var opensslText: String
    /// The depth in the chain where verification failed.
    public var depth: Int32
    /// The certificates as sent, leaf first.
    public var certificates: [CertificateSummary]

    /// A result from its parts.
    public init(ok: Bool, code: FindingCode?, opensslCode: Int32, opensslText: String, depth: Int32, certificates: [CertificateSummary]) {
        self.ok = ok
        self.code = code
        self.opensslCode = opensslCode
        self.opensslText = opensslText
        self.depth = depth
        self.certificates = certificates
    }
}

/// Verifies a certificate chain against the gateway's trust store at a given time. Implemented
/// with OpenSSL outside this pure module; tests may provide their own.
public protocol ChainVerifying: Sendable {
    /// Verifies `chain` (DER, leaf first, as sent) for `host` at `time`.
    func verify(chain: [[UInt8]], host: String?, at time: Timestamp) -> ChainCheck
}
