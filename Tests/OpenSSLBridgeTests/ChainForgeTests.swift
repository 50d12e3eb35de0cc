import CaptureModel
import Foundation
import Testing
@testable import OpenSSLBridge

/// `ForgedChain`: a captured chain under new keys fails (or passes) verification against the
/// forged CA for the same reason the captured one did against the real CA.
@Suite struct ChainForgeTests {
    static let captureTime = ChainVerifierTests.captureTime

    /// The forged chain verified against its own CA, as a gateway trusting `ca.pem` would.
    static func verify(_ forged: ForgedChain, host: String = "upstream.test") throws -> ChainVerification {
        let directory = NSTemporaryDirectory() + "chain-forge-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try forged.caPEM.write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        try forged.chainPEM.write(toFile: directory + "/chain.pem", atomically: true, encoding: .utf8)
        let store = try TrustStore(caFile: directory + "/ca.pem", caPath: nil, crlFile: nil)
        let chain = Fixtures.derFromFile(directory + "/chain.pem")
        return ChainVerifier(trustStore: store).verify(chain: chain, expectedHost: host, at: Self.captureTime)
    }

    @Test func aValidChainStaysValidWithTheSameNames() throws {
        let captured = Fixtures.chain("leaf-valid.pem", "intermediate.pem")
        let forged = try ForgedChain.forge(certificates: captured, shape: .asCaptured)
        let result = try Self.verify(forged)
        #expect(result.result == .ok)
        #expect(result.chain.map(\.subject) == ["CN=upstream.test,O=edgescope test", "CN=edgescope test intermediate,O=edgescope test"])
        // The forged CA is named as the captured intermediate's issuer.
        #expect(result.builtChain.map(\.subject).last == "CN=edgescope test root,O=edgescope test")
        // New keys: the served leaf is not the captured one.
        #expect(Fixtures.derFromPEM(forged.chainPEM).first != captured.first)
    }

    @Test func anExpiredLeafKeepsItsDates() throws {
        let forged = try ForgedChain.forge(certificates: Fixtures.chain("leaf-expired.pem", "intermediate.pem"), shape: .asCaptured)
        let result = try Self.verify(forged)
        #expect(result.opensslCode == 10)  // X509_V_ERR_CERT_HAS_EXPIRED
        #expect(result.code == .tlsCertExpired)
    }

    @Test func aWrongNameKeepsItsSubjectAltName() throws {
        let forged = try ForgedChain.forge(certificates: Fixtures.chain("leaf-wrong-name.pem", "intermediate.pem"), shape: .asCaptured)
        #expect(try Self.verify(forged).code == .tlsCertNameMismatch)
    }

    @Test func aMissingIntermediateIsStillMissing() throws {
        let forged = try ForgedChain.forge(certificates: Fixtures.chain("leaf-valid.pem"), shape: .missingIntermediate)
        let result = try Self.verify(forged)
        #expect(result.opensslCode == 20 || result.opensslCode == 21)
        #expect(result.code == .tlsCertMissingIntermediate)
    }

    @Test func aSelfSignedLeafStaysSelfSigned() throws {
        let forged = try ForgedChain.forge(certificates: Fixtures.chain("leaf-self-signed.pem"), shape: .selfSigned)
        let result = try Self.verify(forged)
        #expect(result.opensslCode == 18)  // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        #expect(result.code == .tlsCertSelfSigned)
    }

    @Test func anUnknownCAIsNotTheTrustedOne() throws {
        let forged = try ForgedChain.forge(certificates: Fixtures.chain("leaf-other-ca.pem", "other-intermediate.pem"), shape: .unknownCA)
        let result = try Self.verify(forged)
        #expect(result.opensslCode == 20)  // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    }

    @Test func noCertificateIsAnError() {
        #expect(throws: TLSServerError.self) { try ForgedChain.forge(certificates: [], shape: .asCaptured) }
    }
}

extension Fixtures {
    /// The DER of every certificate in a PEM file.
    static func derFromFile(_ path: String) -> [[UInt8]] {
        derFromPEM((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }
}
