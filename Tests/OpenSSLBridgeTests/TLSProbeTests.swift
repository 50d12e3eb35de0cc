import CaptureModel
import Testing
@testable import OpenSSLBridge

@Suite(.serialized) struct TLSProbeTests {
    static let request = Array("GET / HTTP/1.0\r\nHost: upstream.test\r\n\r\n".utf8)

    @Test(.enabled(if: LocalServers.openssl != nil, "openssl is not on PATH: no local s_server to probe"))
    func probesTLS13AndReadsTheResponse() throws {
        let server = try LocalServers.SServer(LocalServers.openssl!, arguments: ["-www", "-alpn", "http/1.1"])
        defer { server.stop() }
        let result = try TLSProbe.run(
            host: "127.0.0.1", port: server.port, sni: "upstream.test", alpn: ["h2", "http/1.1"],
            request: Self.request, timeout: .seconds(10))
        #expect(result.address == "127.0.0.1:\(server.port)")
        #expect(result.version == "TLSv1.3")
        #expect(result.cipher == "TLS_AES_256_GCM_SHA384")
        #expect(result.alpn == "http/1.1")
        #expect(result.peerChain.count == 2)
        #expect(result.peerChain.first == Fixtures.certificate("leaf-valid.pem"))
        #expect(result.peerChain.last == Fixtures.certificate("intermediate.pem"))
        // s_server -www answers any GET with an HTTP/1.0 page about the session.
        let text = String(decoding: result.response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.0 200 ok\r\n"), "\(text.prefix(80))")
        #expect(text.contains("TLS_AES_256_GCM_SHA384"))
        #expect(result.responseEnd == .closeNotify)

        // The probed chain goes through the same verification as a captured one.
        let store = try TrustStore(caFile: Fixtures.path("root.pem"), caPath: nil, crlFile: nil)
        let verification = ChainVerifier(trustStore: store).verify(chain: result.peerChain, expectedHost: "upstream.test", at: Fixtures.now)
        #expect(verification.result == .ok)
    }

    @Test(.enabled(if: LocalServers.openssl != nil, "openssl is not on PATH: no local s_server to probe"))
    func probesTLS12WithoutRequest() throws {
        let server = try LocalServers.SServer(LocalServers.openssl!, arguments: ["-www", "-tls1_2"])
        defer { server.stop() }
        let result = try TLSProbe.run(host: "localhost", port: server.port, sni: nil, alpn: [], request: nil, timeout: .seconds(10))
        #expect(result.version == "TLSv1.2")
        #expect(result.cipher == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
        #expect(result.alpn == nil)
        #expect(result.peerChain.count == 2)
        #expect(result.response.isEmpty)
        #expect(result.responseEnd == .notRequested)
    }

    @Test(.enabled(if: LocalServers.openssl != nil, "openssl is not on PATH: no local s_server to probe"))
    func tls12ServerAlertIsReported() throws {
        // A server that demands a client certificate: TLS 1.2 ends the handshake with alert 40.
        let server = try LocalServers.SServer(LocalServers.openssl!, arguments: ["-www", "-tls1_2", "-Verify", "1"])
        defer { server.stop() }
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: server.port, sni: "upstream.test", alpn: [], request: Self.request, timeout: .seconds(10))
            Issue.record("the handshake succeeded without a client certificate")
        } catch {
            #expect(error.code == .handshake)
            #expect(error.alert == 40)
            #expect(error.alertName == "handshake_failure")
            #expect(error.findingCode?.description == "tls.alert.handshake_failure")
            #expect(error.message.contains("the server sent alert 40 handshake_failure"), "\(error.message)")
            #expect(error.message.contains("SSL alert number 40"), "\(error.message)")
            #expect(!error.message.contains("\n"))
            // The server's Certificate came before its CertificateRequest, so the chain is known.
            #expect(error.peerChain.count == 2)
        }
    }

    @Test(.enabled(if: LocalServers.openssl != nil, "openssl is not on PATH: no local s_server to probe"))
    func tls13ClientCertificateRequiredArrivesAfterTheHandshake() throws {
        let server = try LocalServers.SServer(LocalServers.openssl!, arguments: ["-www", "-Verify", "1"])
        defer { server.stop() }
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: server.port, sni: "upstream.test", alpn: [], request: Self.request, timeout: .seconds(10))
            Issue.record("the exchange succeeded without a client certificate")
        } catch {
            #expect(error.code == .handshake)
            #expect(error.alert == 116)
            #expect(error.findingCode?.description == "tls.alert.certificate_required")
            #expect(error.peerChain.count == 2)
        }
    }

    @Test func refusedConnection() {
        let port = LocalServers.freePort()
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: port, sni: nil, alpn: [], request: nil, timeout: .seconds(5))
            Issue.record("connected to a closed port")
        } catch {
            #expect(error.code == .refused)
            #expect(error.message == "connection refused by 127.0.0.1:\(port)")
            #expect(error.findingCode?.description == "tcp.connect.refused")
        }
    }

    @Test func plainHTTPPortIsNotTLS() {
        let port = LocalServers.plain(reply: Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8))
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: port, sni: "upstream.test", alpn: [], request: nil, timeout: .seconds(5))
            Issue.record("a plain HTTP server completed a TLS handshake")
        } catch {
            #expect(error.code == .notTLS)
            #expect(error.message.contains("\"HTTP/1.1\""), "\(error.message)")
            #expect(error.findingCode?.description == "proto.tls_to_plain_port")
        }
    }

    @Test func peerClosingDuringTheHandshake() {
        let port = LocalServers.plain(reply: [])
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: port, sni: nil, alpn: [], request: nil, timeout: .seconds(5))
            Issue.record("a silent close completed a TLS handshake")
        } catch {
            #expect(error.code == .peerClosedInHandshake)
            #expect(error.findingCode?.description == "tls.peer_closed_in_handshake")
            #expect(error.message.hasPrefix("127.0.0.1:\(port) closed the connection during the TLS handshake without an alert"), "\(error.message)")
        }
        let resetPort = LocalServers.plain(reply: [], reset: true)
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: resetPort, sni: nil, alpn: [], request: nil, timeout: .seconds(5))
            Issue.record("a reset completed a TLS handshake")
        } catch {
            #expect(error.code == .peerClosedInHandshake)
            #expect(error.message.hasPrefix("127.0.0.1:\(resetPort) reset the connection during the TLS handshake without an alert"), "\(error.message)")
        }
    }

    @Test func silentServerTimesOutTheHandshake() {
        let port = LocalServers.plain(reply: [], hold: 2)
        let start = ContinuousClock.now
        do {
            _ = try TLSProbe.run(host: "127.0.0.1", port: port, sni: nil, alpn: [], request: nil, timeout: .milliseconds(300))
            Issue.record("a silent server completed a TLS handshake")
        } catch {
            #expect(error.code == .handshakeTimeout)
            #expect(error.findingCode?.description == "tls.handshake_timeout")
        }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func unresolvableHost() {
        do {
            _ = try TLSProbe.run(host: "no-such-host.invalid", port: 443, sni: nil, alpn: [], request: nil, timeout: .seconds(5))
            Issue.record("resolved an .invalid name")
        } catch {
            #expect(error.code == .resolve)
            #expect(error.message.hasPrefix("cannot resolve no-such-host.invalid"))
            #expect(error.findingCode == nil)
        }
    }
}
