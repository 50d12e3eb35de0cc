import CaptureModel
import Diagnosis
import OpenSSLBridge
import Synchronization
import TLSRecords

/// The engine's chain-verification hook, answered by OpenSSL with the gateway's trust store.
public struct OpenSSLChainVerifier: ChainVerifying {
    /// The OpenSSL verifier with its trust store.
    public let verifier: OpenSSLBridge.ChainVerifier

    /// A hook for `verifier`.
    public init(verifier: OpenSSLBridge.ChainVerifier) {
        self.verifier = verifier
    }

    /// Verifies with OpenSSL and maps the result for the engine.
    public func verify(chain: [[UInt8]], host: String?, at time: Timestamp) -> ChainCheck {
        let result = self.verifier.verify(chain: chain, expectedHost: host, at: time)
        return ChainCheck(
            ok: result.result == .ok, code: result.code, opensslCode: result.opensslCode, opensslText: result.opensslText,
            depth: result.depth, certificates: result.chain.map(Self.summary),
            errors: result.errors.map { ChainCheck.Problem(code: $0.code, opensslCode: $0.opensslCode, opensslText: $0.opensslText, depth: $0.depth) })
    }

    /// A certificate as reports show it.
    public static func summary(_ info: CertificateInfo) -> CertificateSummary {
        CertificateSummary(
            subject: info.subject, issuer: info.issuer, notBefore: info.notBeforeText, notAfter: info.notAfterText,
            subjectAltNames: info.subjectAltNames, key: info.key, sha256: info.sha256)
    }
}

/// The engine's decryption hook, answered by OpenSSL's KDF and AEAD.
public struct OpenSSLCrypto: TLSCryptoProviding {
    /// The hook.
    public init() {}

    public func hkdfExpandLabel(secret: [UInt8], label: String, context: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        TLSCrypto.hkdfExpandLabel(secret: secret, label: label, context: context, length: length, hash: Self.hash(hash))
    }

    public func prf(secret: [UInt8], label: String, seed: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        TLSCrypto.tls12PRF(secret: secret, label: label, seed: seed, length: length, hash: Self.hash(hash))
    }

    public func open(_ cipher: TLSRecords.AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        let aead: OpenSSLBridge.AEADCipher
        switch cipher {
        case .aes128GCM: aead = .aes128GCM
        case .aes256GCM: aead = .aes256GCM
        case .chacha20Poly1305: aead = .chacha20Poly1305
        }
        return TLSCrypto.aeadOpen(cipher: aead, key: key, nonce: nonce, additionalData: additionalData, sealed: sealed)
    }

    private static func hash(_ hash: HashAlgorithm) -> TLSHash {
        switch hash {
        case .sha256: return .sha256
        case .sha384: return .sha384
        }
    }
}

/// The chain-verification hook with the system trust store, loaded the first time a chain
/// needs it: reading the system's CA certificates takes tens of milliseconds, which a capture
/// with no TLS chain in the clear (most of them) should not pay.
public final class SystemStoreChainVerifier: ChainVerifying, Sendable {
    private let loaded = Mutex<Result<OpenSSLChainVerifier, TrustStoreError>?>(nil)

    /// A hook that loads the system store on first use.
    public init() {}

    /// Verifies with the system store; if the store cannot be loaded, the chain is reported
    /// unverified with the reason.
    public func verify(chain: [[UInt8]], host: String?, at time: Timestamp) -> ChainCheck {
        let verifier = self.loaded.withLock { state in
            if let state { return state }
            let result = Result { () throws(TrustStoreError) in
                OpenSSLChainVerifier(verifier: ChainVerifier(trustStore: try TrustStore.systemDefault()))
            }
            state = result
            return result
        }
        switch verifier {
        case .success(let verifier):
            return verifier.verify(chain: chain, host: host, at: time)
        case .failure(let error):
            return ChainCheck(
                ok: false, code: nil, opensslCode: -1, opensslText: "the system trust store could not be loaded: \(error.description)",
                depth: 0, certificates: [])
        }
    }
}
