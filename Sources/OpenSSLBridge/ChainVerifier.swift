import COpenSSL
import CaptureModel

/// Verifies a server's certificate chain the way an OpenSSL-based gateway does, at the capture's
/// time rather than today's.
///
/// The chain is checked with `X509_verify_cert`: the leaf is the target, the rest of the sent
/// chain is the untrusted pool (libssl does the same in `ssl_verify_cert_chain`), the purpose
/// is `X509_PURPOSE_SSL_SERVER` (`X509_STORE_CTX_set_default(ctx, "ssl_server")`, as a TLS client
/// sets it), the expected host is checked with `X509_VERIFY_PARAM_set1_host` (or
/// `set1_ip_asc` for an address), and the time is fixed with `X509_VERIFY_PARAM_set_time`.
///
/// OpenSSL's result maps to edgescope's codes (taxonomy §2.G):
///
/// | OpenSSL (`X509_V_ERR_…`) | code |
/// |---|---|
/// | `CERT_HAS_EXPIRED` (10) | `tls.cert.expired` |
/// | `CERT_NOT_YET_VALID` (9) | `tls.cert.not_yet_valid` |
/// | `DEPTH_ZERO_SELF_SIGNED_CERT` (18), `SELF_SIGNED_CERT_IN_CHAIN` (19) | `tls.cert.self_signed` |
/// | `UNABLE_TO_GET_ISSUER_CERT_LOCALLY` (20), `UNABLE_TO_VERIFY_LEAF_SIGNATURE` (21), `UNABLE_TO_GET_ISSUER_CERT` (2) | `tls.cert.missing_intermediate` when the certificate whose issuer is missing (the top of the chain OpenSSL built) is not a CA, or is the leaf and carries an AIA caIssuers URL; else `tls.cert.unknown_ca` |
/// | `HOSTNAME_MISMATCH` (62), `IP_ADDRESS_MISMATCH` (64) | `tls.cert.name_mismatch` |
/// | `INVALID_PURPOSE` (26) | `tls.cert.bad_purpose` |
/// | `CERT_REVOKED` (23) | `tls.cert.revoked` |
/// | `CERT_UNTRUSTED` (27), `CERT_REJECTED` (28) | `tls.cert.unknown_ca` |
/// | anything else (bad signature, `UNABLE_TO_GET_CRL`, `CRL_HAS_EXPIRED`, `PATH_LENGTH_EXCEEDED`, `INVALID_CA`, key too small…) | `tls.cert.invalid`, with OpenSSL's code and text |
///
/// `X509_verify_cert` finds errors in its own order (chain building, purpose, host, revocation,
/// then signatures and validity dates) and, left alone, stops at the first. A verify callback
/// decides whether it goes on, and gateways differ: nginx's (`ngx_ssl_verify_callback`) always
/// returns 1, so OpenSSL goes on and `SSL_get_verify_result` ends up holding the *last* error;
/// HAProxy's (`ssl_sock_srv_verifycbk`) returns OpenSSL's verdict unchanged, so it stops at the
/// first. This verifier goes on after every error, as nginx's callback does, and records each
/// one (`ChainVerification.errors`); `opensslCode` is the first, what OpenSSL alone reports.
public struct ChainVerifier: Sendable {
    /// The certificates the gateway trusts.
    public var trustStore: TrustStore
    /// OpenSSL's security level for the chain (`X509_VERIFY_PARAM_set_auth_level`, what libssl
    /// sets from `SSL_get_security_level`): at 2, Debian 12's default, RSA keys under 2048 bits
    /// and SHA-1 signatures fail. `nil` checks neither, as bare `X509_verify_cert` does.
    public var securityLevel: Int32?

    /// A verifier against a trust store.
    public init(trustStore: TrustStore, securityLevel: Int32? = nil) {
        self.trustStore = trustStore
        self.securityLevel = securityLevel
    }

    /// Verifies `chain` (DER blobs exactly as the server sent them, leaf first) for
    /// `expectedHost` (a DNS name or an IP address; `nil` skips the name check) at `time`,
    /// normally the capture time of the server's Certificate message.
    public func verify(chain: [[UInt8]], expectedHost: String?, at time: Timestamp) -> ChainVerification {
        var certificates: [OpaquePointer] = []
        defer { for certificate in certificates { X509_free(certificate) } }
        var sent: [CertificateInfo] = []
        for (depth, der) in chain.enumerated() {
            guard let certificate = CertificateInfo.parse(der) else {
                let reason = OpenSSLErrorQueue.drain() ?? "d2i_X509 failed"
                return ChainVerifier.unverifiable(
                    text: "certificate \(depth) of the chain is not a DER X.509 certificate: \(reason)",
                    depth: Int32(depth), chain: sent)
            }
            certificates.append(certificate)
            do {
                sent.append(try CertificateInfo(certificate: certificate, der: der))
            } catch {
                return ChainVerifier.unverifiable(
                    text: "certificate \(depth) of the chain cannot be read: \(error.message)",
                    depth: Int32(depth), chain: sent)
            }
        }
        guard let leaf = certificates.first else {
            return ChainVerifier.unverifiable(text: "the server sent no certificate", depth: 0, chain: [])
        }

        guard let untrusted = COpenSSL_sk_X509_new_null() else {
            return ChainVerifier.unverifiable(text: "out of memory", depth: 0, chain: sent)
        }
        // The stack only borrows the certificates; `certificates` frees them.
        defer { COpenSSL_sk_X509_free(untrusted) }
        for certificate in certificates.dropFirst() {
            _ = COpenSSL_sk_X509_push(untrusted, certificate)
        }
        guard let context = X509_STORE_CTX_new() else {
            return ChainVerifier.unverifiable(text: "out of memory", depth: 0, chain: sent)
        }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, trustStore.store, leaf, untrusted) == 1 else {
            return ChainVerifier.unverifiable(
                text: "cannot start verification: \(OpenSSLErrorQueue.drain() ?? "X509_STORE_CTX_init failed")",
                depth: 0, chain: sent)
        }
        // The purpose and trust settings libssl gives a TLS client verifying its server.
        _ = X509_STORE_CTX_set_default(context, "ssl_server")
        _ = X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER)
        let parameters = X509_STORE_CTX_get0_param(context)
        // Floor, so a capture time of 10:00:00.9 checks against 10:00:00 like the gateway's clock.
        let seconds = time.nanoseconds >= 0
            ? time.nanoseconds / 1_000_000_000
            : (time.nanoseconds - 999_999_999) / 1_000_000_000
        X509_VERIFY_PARAM_set_time(parameters, time_t(seconds))
        if let securityLevel {
            X509_VERIFY_PARAM_set_auth_level(parameters, securityLevel)
        }
        if let expectedHost, !expectedHost.isEmpty {
            let ok: Int32
            if IPAddress(parsing: expectedHost[...]) != nil {
                ok = X509_VERIFY_PARAM_set1_ip_asc(parameters, expectedHost)
            } else {
                ok = X509_VERIFY_PARAM_set1_host(parameters, expectedHost, expectedHost.utf8.count)
            }
            guard ok == 1 else {
                return ChainVerifier.unverifiable(
                    text: "cannot check the name \(expectedHost): \(OpenSSLErrorQueue.drain() ?? "rejected by OpenSSL")",
                    depth: 0, chain: sent)
            }
        }

        // Every error OpenSSL reports through the callback, in order; the callback returns 1 so
        // verification goes on (what nginx's callback does).
        let recorder = ErrorRecorder()
        let unmanaged = Unmanaged.passRetained(recorder)
        defer { unmanaged.release() }
        // Index 0 is the "app data" slot every ex_data class reserves; this context is ours.
        _ = X509_STORE_CTX_set_ex_data(context, 0, unmanaged.toOpaque())
        X509_STORE_CTX_set_verify_cb(context) { ok, context in
            guard ok == 0 else { return ok }
            guard let context, let raw = X509_STORE_CTX_get_ex_data(context, 0) else { return 0 }
            let recorder = Unmanaged<ErrorRecorder>.fromOpaque(raw).takeUnretainedValue()
            recorder.errors.append((X509_STORE_CTX_get_error(context), X509_STORE_CTX_get_error_depth(context)))
            return 1
        }
        let verified = X509_verify_cert(context)
        // The first error is the one OpenSSL stops at without a callback that goes on.
        let error = recorder.errors.first?.code ?? X509_STORE_CTX_get_error(context)
        let depth = recorder.errors.first?.depth ?? X509_STORE_CTX_get_error_depth(context)
        var built: [CertificateInfo] = []
        if let stack = X509_STORE_CTX_get0_chain(context) {
            for index in 0..<COpenSSL_sk_X509_num(stack) {
                guard let certificate = COpenSSL_sk_X509_value(stack, index) else { continue }
                if let info = try? CertificateInfo(certificate: certificate) { built.append(info) }
            }
        }
        OpenSSLErrorQueue.clear()
        if verified == 1 && error == X509_V_OK {
            return ChainVerification(
                result: .ok, opensslCode: X509_V_OK, opensslText: ChainVerifier.text(X509_V_OK), depth: 0,
                code: nil, chain: sent, builtChain: built)
        }
        // A negative return is an internal failure with no verify error set: say so rather than "ok".
        let code = error == X509_V_OK ? X509_V_ERR_UNSPECIFIED : error
        var errors: [ChainError] = []
        for (errorCode, errorDepth) in recorder.errors.isEmpty ? [(code, depth)] : recorder.errors
        where !errors.contains(where: { $0.opensslCode == errorCode && $0.depth == errorDepth }) {
            // The same error at the same depth can come twice (a missing issuer is found while
            // building the chain and again while checking signatures): it is one problem.
            errors.append(ChainError(
                opensslCode: errorCode, opensslText: ChainVerifier.text(errorCode), depth: errorDepth,
                code: ChainVerifier.findingCode(opensslCode: errorCode, builtChain: built, sentChain: sent)))
        }
        return ChainVerification(
            result: .failed, opensslCode: code, opensslText: ChainVerifier.text(code), depth: depth,
            code: ChainVerifier.findingCode(opensslCode: code, builtChain: built, sentChain: sent),
            chain: sent, builtChain: built, errors: errors)
    }

    /// edgescope's code for an OpenSSL verify error, given the chain OpenSSL built (for the
    /// missing-issuer errors, whose meaning depends on where building stopped).
    static func findingCode(opensslCode: Int32, builtChain: [CertificateInfo], sentChain: [CertificateInfo]) -> FindingCode? {
        switch opensslCode {
        case X509_V_OK:
            return nil
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return .tlsCertExpired
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return .tlsCertNotYetValid
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return .tlsCertSelfSigned
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
             X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            // The issuer of the top of the built chain is missing. Public CAs never issue a leaf
            // straight from a root, so a missing issuer above a non-CA certificate is an
            // intermediate the server did not send; above a CA, the chain reached a CA we do not
            // trust. A leaf that names where its issuer lives (AIA caIssuers) also says its issuer
            // is an intermediate to fetch (RFC 5280 §4.2.2.1).
            guard let top = builtChain.last ?? sentChain.first else { return .tlsCertUnknownCA }
            if !top.isCA { return .tlsCertMissingIntermediate }
            if builtChain.count <= 1 && !top.caIssuersURLs.isEmpty { return .tlsCertMissingIntermediate }
            return .tlsCertUnknownCA
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return .tlsCertNameMismatch
        case X509_V_ERR_INVALID_PURPOSE:
            return .tlsCertBadPurpose
        case X509_V_ERR_CERT_REVOKED:
            return .tlsCertRevoked
        case X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_CERT_REJECTED:
            // The anchor is in the store but not trusted for serverAuth: to the gateway, an unknown CA.
            return .tlsCertUnknownCA
        default:
            return .tlsCertInvalid
        }
    }

    /// `X509_verify_cert_error_string`.
    static func text(_ code: Int32) -> String {
        string(fromC: X509_verify_cert_error_string(Int(code))) ?? "verification error \(code)"
    }

    /// What the verify callback writes into: it is called from C with only the store context.
    private final class ErrorRecorder {
        var errors: [(code: Int32, depth: Int32)] = []
    }

    private static func unverifiable(text: String, depth: Int32, chain: [CertificateInfo]) -> ChainVerification {
        OpenSSLErrorQueue.clear()
        return ChainVerification(
            result: .failed, opensslCode: X509_V_ERR_UNSPECIFIED, opensslText: text, depth: depth,
            code: .tlsCertInvalid, chain: chain, builtChain: [])
    }
}
