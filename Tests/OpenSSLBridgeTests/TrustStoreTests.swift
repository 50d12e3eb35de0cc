import Testing
@testable import OpenSSLBridge

@Suite struct TrustStoreTests {
    @Test func missingCAFileIsAnErrorNamingIt() {
        let path = "/nonexistent/edgescope/ca.pem"
        do {
            _ = try TrustStore(caFile: path, caPath: nil, crlFile: nil)
            Issue.record("a missing CA file loaded")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.path == path)
            #expect(error.message == "cannot read CA file \(path): No such file or directory")
        }
    }

    @Test func garbageCAFileIsAnErrorNamingIt() {
        let path = Fixtures.path("garbage.pem")
        do {
            _ = try TrustStore(caFile: path, caPath: nil, crlFile: nil)
            Issue.record("a garbage CA file loaded")
        } catch {
            #expect(error.code == .noCertificate)
            #expect(error.message.hasPrefix("CA file \(path) holds no PEM certificate"))
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func aDirectoryIsNotACAFile() {
        do {
            _ = try TrustStore(caFile: Fixtures.path("capath"), caPath: nil, crlFile: nil)
            Issue.record("a directory loaded as a CA file")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.message.contains(Fixtures.path("capath")))
        }
    }

    @Test func missingAndGarbageCRLFilesAreErrorsNamingThem() {
        let root = Fixtures.path("root.pem")
        for (path, code) in [("/nonexistent/edgescope/crl.pem", TrustStoreError.Code.unreadable),
                             (Fixtures.path("garbage.pem"), .noCRL),
                             // A certificate is not a CRL.
                             (root, .noCRL)] {
            do {
                _ = try TrustStore(caFile: root, caPath: nil, crlFile: path)
                Issue.record("\(path) loaded as a CRL file")
            } catch {
                #expect(error.code == code)
                #expect(error.path == path)
                #expect(error.message.contains("CRL file \(path)"))
            }
        }
    }

    @Test func missingCADirectoryIsAnErrorNamingIt() {
        let path = "/nonexistent/edgescope/certs"
        do {
            _ = try TrustStore(caFile: nil, caPath: path, crlFile: nil)
            Issue.record("a missing CA directory loaded")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.message == "cannot read CA directory \(path): No such file or directory")
        }
        do {
            _ = try TrustStore(caFile: nil, caPath: Fixtures.path("root.pem"), crlFile: nil)
            Issue.record("a file loaded as a CA directory")
        } catch {
            #expect(error.message == "CA directory \(Fixtures.path("root.pem")) is not a directory")
        }
    }

    @Test func originSaysWhereTrustCameFrom() throws {
        #expect(try TrustStore.systemDefault().origin == "system default")
        let store = try TrustStore(caFile: Fixtures.path("root.pem"), caPath: nil, crlFile: Fixtures.path("intermediate.crl.pem"))
        #expect(store.origin == "CA file \(Fixtures.path("root.pem")), CRL file \(Fixtures.path("intermediate.crl.pem"))")
        #expect(store.checksRevocation)
    }
}
