import CaptureModel
import Testing
@testable import OpenSSLBridge

@Suite struct ChainVerifierTests {
    /// Inside every "valid" window of the fixtures, and after the expired leaf's.
    static let captureTime = Fixtures.utc(2025, 6, 1)

    static func verifier(crl: Bool = false, crlScope: CRLScope = .leaf) throws -> ChainVerifier {
        let store = try TrustStore(
            caFile: Fixtures.path("root.pem"), caPath: nil,
            crlFile: crl ? Fixtures.path("intermediate.crl.pem") : nil, crlScope: crlScope)
        return ChainVerifier(trustStore: store)
    }

    @Test func validChainVerifies() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-valid.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.result == .ok)
        #expect(result.opensslCode == 0)
        #expect(result.opensslText == "ok")
        #expect(result.code == nil)
        #expect(result.chain.map(\.subject) == ["CN=upstream.test,O=edgescope test", "CN=edgescope test intermediate,O=edgescope test"])
        // OpenSSL completed the chain with the root from the store.
        #expect(result.builtChain.map(\.subject).last == "CN=edgescope test root,O=edgescope test")
        #expect(result.builtChain.count == 3)
    }

    @Test func validChainVerifiesForItsAddresses() throws {
        let verifier = try Self.verifier()
        let chain = Fixtures.chain("leaf-valid.pem", "intermediate.pem")
        #expect(verifier.verify(chain: chain, expectedHost: "127.0.0.1", at: Self.captureTime).result == .ok)
        #expect(verifier.verify(chain: chain, expectedHost: "::1", at: Self.captureTime).result == .ok)
        let other = verifier.verify(chain: chain, expectedHost: "10.0.0.1", at: Self.captureTime)
        #expect(other.opensslCode == 64)  // X509_V_ERR_IP_ADDRESS_MISMATCH
        #expect(other.code == .tlsCertNameMismatch)
        // No expected host: only the chain is judged.
        #expect(verifier.verify(chain: chain, expectedHost: nil, at: Self.captureTime).result == .ok)
    }

    @Test func expiredLeaf() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-expired.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.result == .failed)
        #expect(result.opensslCode == 10)  // X509_V_ERR_CERT_HAS_EXPIRED
        #expect(result.opensslText == "certificate has expired")
        #expect(result.depth == 0)
        #expect(result.code == .tlsCertExpired)
        #expect(result.code?.description == "tls.cert.expired")
    }

    @Test func verificationUsesTheCaptureTimeNotTheClock() throws {
        let verifier = try Self.verifier()
        let chain = Fixtures.chain("leaf-expired.pem", "intermediate.pem")
        // Valid 2024-01-01..2024-06-01: fine when the capture was taken, expired today.
        let atCapture = verifier.verify(chain: chain, expectedHost: "upstream.test", at: Fixtures.utc(2024, 3, 1))
        #expect(atCapture.result == .ok)
        #expect(atCapture.code == nil)
        let now = verifier.verify(chain: chain, expectedHost: "upstream.test", at: Fixtures.now)
        #expect(now.result == .failed)
        #expect(now.code == .tlsCertExpired)
        // One second before notBefore of the valid leaf.
        let early = verifier.verify(
            chain: Fixtures.chain("leaf-valid.pem", "intermediate.pem"), expectedHost: "upstream.test",
            at: Timestamp(nanoseconds: Fixtures.utc(2024, 1, 1).nanoseconds - 1_000_000_000))
        #expect(early.code == .tlsCertNotYetValid)
    }

    @Test func notYetValidLeaf() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-not-yet-valid.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 9)  // X509_V_ERR_CERT_NOT_YET_VALID
        #expect(result.code == .tlsCertNotYetValid)
        #expect(result.depth == 0)
    }

    @Test func wrongName() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-wrong-name.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 62)  // X509_V_ERR_HOSTNAME_MISMATCH
        #expect(result.opensslText == "hostname mismatch")
        #expect(result.code == .tlsCertNameMismatch)
    }

    @Test func selfSignedLeaf() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-self-signed.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 18)  // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        #expect(result.code == .tlsCertSelfSigned)
    }

    @Test func selfSignedRootSentInTheChain() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-other-ca.pem", "other-intermediate.pem", "other-root.pem"),
            expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 19)  // X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        #expect(result.depth == 2)
        #expect(result.code == .tlsCertSelfSigned)
    }

    @Test func leafWithoutServerAuth() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-client-only.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 26)  // X509_V_ERR_INVALID_PURPOSE
        #expect(result.code == .tlsCertBadPurpose)
    }

    @Test func revokedLeaf() throws {
        let verifier = try Self.verifier(crl: true)
        let result = verifier.verify(
            chain: Fixtures.chain("leaf-revoked.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 23)  // X509_V_ERR_CERT_REVOKED
        #expect(result.code == .tlsCertRevoked)
        // The same CRL leaves the valid leaf alone.
        let valid = verifier.verify(
            chain: Fixtures.chain("leaf-valid.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(valid.result == .ok)
        // Without the CRL nobody knows.
        let unchecked = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-revoked.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(unchecked.result == .ok)
    }

    @Test func chainWideCRLCheckNeedsACRLFromEveryIssuer() throws {
        // nginx's proxy_ssl_crl checks the whole chain: the root's CRL is missing from the file.
        let result = try Self.verifier(crl: true, crlScope: .chain).verify(
            chain: Fixtures.chain("leaf-valid.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 3)  // X509_V_ERR_UNABLE_TO_GET_CRL
        #expect(result.code == .tlsCertInvalid)
        #expect(result.opensslText == "unable to get certificate CRL")
    }

    @Test func leafAloneIsAMissingIntermediate() throws {
        let verifier = try Self.verifier()
        // The valid leaf also names its issuer's URL (AIA caIssuers).
        for leaf in ["leaf-valid.pem", "leaf-revoked.pem"] {
            let result = verifier.verify(chain: Fixtures.chain(leaf), expectedHost: "upstream.test", at: Self.captureTime)
            #expect(result.result == .failed)
            // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY or X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
            #expect([20, 21].contains(result.opensslCode), "\(leaf): \(result.opensslCode) \(result.opensslText)")
            #expect(result.depth == 0)
            #expect(result.code == .tlsCertMissingIntermediate, "\(leaf)")
        }
    }

    @Test func chainFromAnotherRootIsAnUnknownCA() throws {
        let result = try Self.verifier().verify(
            chain: Fixtures.chain("leaf-other-ca.pem", "other-intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 20)  // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        #expect(result.depth == 1)
        #expect(result.code == .tlsCertUnknownCA)
        #expect(result.builtChain.count == 2)
    }

    @Test func systemStoreDoesNotTrustTheTestRoot() throws {
        let result = ChainVerifier(trustStore: try .systemDefault()).verify(
            chain: Fixtures.chain("leaf-valid.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.opensslCode == 20)
        #expect(result.code == .tlsCertUnknownCA)
    }

    @Test func hashedDirectoryStoreVerifies() throws {
        let store = try TrustStore(caFile: nil, caPath: Fixtures.path("capath"), crlFile: nil)
        let result = ChainVerifier(trustStore: store).verify(
            chain: Fixtures.chain("leaf-valid.pem", "intermediate.pem"), expectedHost: "upstream.test", at: Self.captureTime)
        #expect(result.result == .ok)
    }

    @Test func securityLevelRejectsSmallKeys() throws {
        // Level 5 asks for 256-bit security: an RSA 2048 leaf is too small (X509_V_ERR_EE_KEY_TOO_SMALL).
        let store = try TrustStore(caFile: Fixtures.path("root.pem"), caPath: nil, crlFile: nil)
        let chain = Fixtures.chain("leaf-valid.pem", "intermediate.pem")
        let strict = ChainVerifier(trustStore: store, securityLevel: 5).verify(chain: chain, expectedHost: "upstream.test", at: Self.captureTime)
        #expect(strict.opensslCode == 66)
        #expect(strict.code == .tlsCertInvalid)
        let debian = ChainVerifier(trustStore: store, securityLevel: 2).verify(chain: chain, expectedHost: "upstream.test", at: Self.captureTime)
        #expect(debian.result == .ok)
    }

    @Test func unparsableCertificatesAreReportedNotVerified() throws {
        let verifier = try Self.verifier()
        let empty = verifier.verify(chain: [], expectedHost: "upstream.test", at: Self.captureTime)
        #expect(empty.result == .failed)
        #expect(empty.code == .tlsCertInvalid)
        #expect(empty.opensslText == "the server sent no certificate")

        let broken = verifier.verify(
            chain: [Fixtures.certificate("leaf-valid.pem"), [0x30, 0x03, 0x02, 0x01, 0x00]],
            expectedHost: "upstream.test", at: Self.captureTime)
        #expect(broken.result == .failed)
        #expect(broken.code == .tlsCertInvalid)
        #expect(broken.depth == 1)
        #expect(broken.opensslText.hasPrefix("certificate 1 of the chain is not a DER X.509 certificate"))
        // What did parse is still listed.
        #expect(broken.chain.count == 1)
        #expect(broken.chain.first?.subject == "CN=upstream.test,O=edgescope test")
    }

    @Test(arguments: [
        (Int32(27), "tls.cert.unknown_ca"),  // X509_V_ERR_CERT_UNTRUSTED
        (28, "tls.cert.unknown_ca"),  // X509_V_ERR_CERT_REJECTED
        (7, "tls.cert.invalid"),  // X509_V_ERR_CERT_SIGNATURE_FAILURE
        (12, "tls.cert.invalid"),  // X509_V_ERR_CRL_HAS_EXPIRED: the gateway's CRL, not the upstream
        (25, "tls.cert.invalid"),  // X509_V_ERR_PATH_LENGTH_EXCEEDED
    ])
    func otherErrorsMap(code: Int32, expected: String) {
        #expect(ChainVerifier.findingCode(opensslCode: code, builtChain: [], sentChain: [])?.description == expected)
    }

    @Test func missingIssuerAboveATrustedIntermediateIsAnUnknownCA() throws {
        // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT (2): the top of the built chain is a CA.
        let intermediate = try CertificateInfo(der: Fixtures.certificate("intermediate.pem"))
        let leaf = try CertificateInfo(der: Fixtures.certificate("leaf-revoked.pem"))
        #expect(ChainVerifier.findingCode(opensslCode: 2, builtChain: [leaf, intermediate], sentChain: [leaf]) == .tlsCertUnknownCA)
        #expect(ChainVerifier.findingCode(opensslCode: 2, builtChain: [leaf], sentChain: [leaf]) == .tlsCertMissingIntermediate)
    }
}
