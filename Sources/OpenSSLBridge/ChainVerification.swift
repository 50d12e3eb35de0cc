import CaptureModel

/// The outcome of verifying a server's certificate chain, as the JSON report's
/// `tls.verification` and `tls.chain` show it.
public struct ChainVerification: Hashable, Sendable {
    /// Whether the chain verified.
    public enum Outcome: String, Hashable, Sendable {
        /// OpenSSL accepted the chain for the expected host at the verification time.
        case ok
        /// OpenSSL rejected it (or it could not be parsed).
        case failed
    }

    /// Whether the chain verified.
    public var result: Outcome
    /// OpenSSL's `X509_V_ERR_*` code (0, `X509_V_OK`, when it verified), as nginx logs it in
    /// `upstream SSL certificate verify error: (N:text)`.
    public var opensslCode: Int32
    /// OpenSSL's text for the code (`X509_verify_cert_error_string`), e.g. `certificate has expired`.
    public var opensslText: String
    /// Depth of the certificate the error is about: 0 is the leaf.
    public var depth: Int32
    /// edgescope's code for the failure, `nil` when the chain verified. See `ChainVerifier` for
    /// how OpenSSL's codes map to it.
    public var code: FindingCode?
    /// The chain exactly as the server sent it, leaf first (a certificate that does not parse is
    /// left out; then `result` is `failed` with `code` `tls.cert.invalid`).
    public var chain: [CertificateInfo]
    /// The chain OpenSSL built: the sent certificates it used, then those it found in the trust
    /// store, up to the trust anchor when it got that far. Where it stopped explains 20/21.
    public var builtChain: [CertificateInfo]

    /// Every error OpenSSL found when told to go on after each (as nginx's verify callback
    /// does), in the order it found them, each (code, depth) once. The first is `opensslCode`.
    /// Empty when the chain verified; one entry when the chain could not be read.
    public var errors: [ChainError]

    /// A verification result from its parts; `errors` defaults to the one error given.
    public init(
        result: Outcome, opensslCode: Int32, opensslText: String, depth: Int32, code: FindingCode?,
        chain: [CertificateInfo], builtChain: [CertificateInfo], errors: [ChainError]? = nil
    ) {
        self.result = result
        self.opensslCode = opensslCode
        self.opensslText = opensslText
        self.depth = depth
        self.code = code
        self.chain = chain
        self.builtChain = builtChain
        self.errors = errors ?? (result == .ok ? [] : [ChainError(opensslCode: opensslCode, opensslText: opensslText, depth: depth, code: code)])
    }
}

/// One error OpenSSL found in a chain.
public struct ChainError: Hashable, Sendable {
    /// OpenSSL's `X509_V_ERR_*` code.
    public var opensslCode: Int32
    /// OpenSSL's text for it.
    public var opensslText: String
    /// Depth of the certificate it is about: 0 is the leaf.
    public var depth: Int32
    /// edgescope's code for it.
    public var code: FindingCode?

    /// An error from its parts.
    public init(opensslCode: Int32, opensslText: String, depth: Int32, code: FindingCode?) {
        self.opensslCode = opensslCode
        self.opensslText = opensslText
        self.depth = depth
        self.code = code
    }
}
