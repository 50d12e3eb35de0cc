import CaptureModel

// The certificate codes of docs/root-causes.md (TLS) that chain verification produces,
// plus `tls.cert.invalid` for the verification errors no other code describes. Stable: never renamed.
// Internal on purpose: TLSRecords declares the public constants with the same names, and two
// public declarations would make `.tlsCertExpired` ambiguous in any file importing both modules.
extension FindingCode {
    /// A certificate of the chain was past its notAfter at the capture's time.
    static let tlsCertExpired = FindingCode("tls.cert.expired")
    /// A certificate of the chain was before its notBefore at the capture's time.
    static let tlsCertNotYetValid = FindingCode("tls.cert.not_yet_valid")
    /// The chain ends in a CA the gateway's trust store does not hold.
    static let tlsCertUnknownCA = FindingCode("tls.cert.unknown_ca")
    /// The upstream did not send the intermediate that links its leaf to a trusted root.
    static let tlsCertMissingIntermediate = FindingCode("tls.cert.missing_intermediate")
    /// A self-signed certificate (the leaf itself, or a root sent in the chain) that is not trusted.
    static let tlsCertSelfSigned = FindingCode("tls.cert.self_signed")
    /// The leaf names neither the expected host nor address.
    static let tlsCertNameMismatch = FindingCode("tls.cert.name_mismatch")
    /// A CRL of the trust store revokes the certificate.
    static let tlsCertRevoked = FindingCode("tls.cert.revoked")
    /// The leaf may not be used for a TLS server (extendedKeyUsage without serverAuth, keyUsage).
    static let tlsCertBadPurpose = FindingCode("tls.cert.bad_purpose")
    /// Any other verification failure (bad signature, broken DER, missing CRL, path too long…);
    /// the report carries OpenSSL's code and text.
    static let tlsCertInvalid = FindingCode("tls.cert.invalid")
}
