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
    /// Every problem of the chain, in the order OpenSSL finds them when it goes on after each;
    /// the first is the one above. Empty when the chain verified.
    public var errors: [Problem]

    /// One problem of the chain.
    public struct Problem: Hashable, Sendable {
        /// The edgescope code for it.
        public var code: FindingCode?
        /// OpenSSL's X509_V_ERR number.
        public var opensslCode: Int32
        /// OpenSSL's text for it.
        public var opensslText: String
        /// The depth of the certificate it is about.
        public var depth: Int32

        /// A problem from its parts.
        public init(code: FindingCode?, opensslCode: Int32, opensslText: String, depth: Int32) {
            self.code = code
            self.opensslCode = opensslCode
            self.opensslText = opensslText
            self.depth = depth
        }
    }

    /// A result from its parts; `errors` defaults to the one failure given.
    public init(
        ok: Bool, code: FindingCode?, opensslCode: Int32, opensslText: String, depth: Int32, certificates: [CertificateSummary],
        errors: [Problem]? = nil
    ) {
        self.ok = ok
        self.code = code
        self.opensslCode = opensslCode
        self.opensslText = opensslText
        self.depth = depth
        self.certificates = certificates
        self.errors = errors ?? (ok ? [] : [Problem(code: code, opensslCode: opensslCode, opensslText: opensslText, depth: depth)])
    }

    /// The problem `gateway` reports when a chain has several. nginx's verify callback lets
    /// OpenSSL go on after each error and reads `SSL_get_verify_result` afterwards, which holds
    /// the last one; it checks the name itself only when the chain verified ("does not match").
    /// HAProxy's callback stops at the first error and checks the name, at depth 0, only when
    /// OpenSSL found nothing. Envoy and the strict reading take OpenSSL's first.
    public func reportedProblem(by gateway: any GatewayModel) -> Problem? {
        let name: (Problem) -> Bool = { $0.opensslCode == Self.hostnameMismatch || $0.opensslCode == Self.ipAddressMismatch }
        switch gateway.chainErrorPick {
        case .lastBeforeName:
            return self.errors.last { !name($0) } ?? self.errors.first
        case .firstBeforeName:
            return self.errors.first { !name($0) } ?? self.errors.first
        case .first:
            return self.errors.first
        }
    }

    /// X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH (OpenSSL's x509_vfy.h).
    static let hostnameMismatch: Int32 = 62
    static let ipAddressMismatch: Int32 = 64
}

/// Verifies a certificate chain against the gateway's trust store at a given time. Implemented
/// with OpenSSL outside this pure module; tests may provide their own.
public protocol ChainVerifying: Sendable {
    /// Verifies `chain` (DER, leaf first, as sent) for `host` at `time`.
    func verify(chain: [[UInt8]], host: String?, at time: Timestamp) -> ChainCheck
}
