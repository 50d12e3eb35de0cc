import CaptureModel
import Testing
@testable import OpenSSLBridge

@Suite struct CertificateInfoTests {
    @Test func readsEveryFieldOfTheValidLeafFromDER() throws {
        let der = Fixtures.bytes("leaf-valid.der")
        let info = try CertificateInfo(der: der)
        #expect(info.subject == "CN=upstream.test,O=edgescope test")
        #expect(info.issuer == "CN=edgescope test intermediate,O=edgescope test")
        #expect(info.notBefore == Fixtures.utc(2024, 1, 1))
        #expect(info.notAfter == Fixtures.utc(2034, 1, 1))
        #expect(info.notBeforeText == "2024-01-01T00:00:00Z")
        #expect(info.notAfterText == "2034-01-01T00:00:00Z")
        #expect(info.subjectAltNames == ["upstream.test", "127.0.0.1", "::1"])
        #expect(info.key == "RSA 2048")
        #expect(info.isCA == false)
        #expect(info.caIssuersURLs == ["http://ca.upstream.test/intermediate.der"])
        #expect(info.der == der)
        // The oracle is openssl's own fingerprint, written by make-certs.sh.
        let expected = String(decoding: Fixtures.bytes("leaf-valid.sha256"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(info.sha256 == expected)
        // The PEM and DER fixtures are the same certificate.
        #expect(Fixtures.certificate("leaf-valid.pem") == der)
    }

    @Test func readsCAsAndKeyTypes() throws {
        let intermediate = try CertificateInfo(der: Fixtures.certificate("intermediate.pem"))
        #expect(intermediate.isCA)
        #expect(intermediate.key == "EC P-256")
        #expect(intermediate.caIssuersURLs.isEmpty)
        #expect(intermediate.subjectAltNames.isEmpty)

        let selfSigned = try CertificateInfo(der: Fixtures.certificate("leaf-self-signed.pem"))
        #expect(selfSigned.key == "Ed25519")
        #expect(selfSigned.subject == selfSigned.issuer)
        #expect(selfSigned.isCA == false)
    }

    @Test func rejectsBytesThatAreNotACertificate() {
        #expect(throws: CertificateParseError.self) { try CertificateInfo(der: [0x30, 0x03, 0x02, 0x01, 0x00]) }
        #expect(throws: CertificateParseError.self) { try CertificateInfo(der: []) }
        // A certificate cut short, as a snap length would cut it.
        let cut = Array(Fixtures.bytes("leaf-valid.der").prefix(300))
        do {
            _ = try CertificateInfo(der: cut)
            Issue.record("a truncated certificate parsed")
        } catch {
            #expect(error.message.hasPrefix("not a DER X.509 certificate"))
        }
    }
}
