import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private let fixtures = Paths.packageRoot + "/Tests/OpenSSLBridgeTests/Fixtures"

/// `openssl s_server` on 127.0.0.1 with the fixtures' valid chain, answering HTTP (`-www`).
/// Stopped with SIGKILL: Foundation's children inherit a blocked SIGTERM.
private final class TLSServer {
    let process = Process()
    let port: UInt16

    init?() {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return nil }
        self.port = UInt16.random(in: 20000...40000)
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        self.process.arguments = [
            "s_server", "-accept", "127.0.0.1:\(self.port)", "-cert", fixtures + "/leaf-valid.pem",
            "-key", fixtures + "/leaf-valid.key", "-cert_chain", fixtures + "/intermediate.pem", "-www",
        ]
        let output = Pipe()
        self.process.standardOutput = output
        self.process.standardError = output
        guard (try? self.process.run()) != nil else { return nil }
        // s_server prints ACCEPT once it listens.
        var seen = Data()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !String(decoding: seen, as: UTF8.self).contains("ACCEPT") {
            seen += output.fileHandleForReading.availableData
        }
    }

    deinit {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }
}

@Test func probeOfAHealthyUpstreamExitsZeroWithItsChain() throws {
    guard let server = TLSServer() else { return }
    let run = try Run(["probe", "127.0.0.1:\(server.port)", "--sni", "upstream.test", "--ca-file", fixtures + "/root.pem", "--request", "/"])
    #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("TLSv1.3"))
    #expect(run.stdout.contains("[0] CN=upstream.test"))
    #expect(run.stdout.contains("chain: ok for upstream.test"))
    #expect(run.stdout.contains("response: 200"))
}

@Test func probeOfAnHTTPSURLSendsItsPath() throws {
    guard let server = TLSServer() else { return }
    let run = try Run(["probe", "https://127.0.0.1:\(server.port)/", "--sni", "upstream.test", "--ca-file", fixtures + "/root.pem"], deadline: 30)
    #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("chain: ok for upstream.test"))
    #expect(run.stdout.contains("response: 200"))
}

@Test func probeWithTheWrongNameFindsTheSameCodeAsThePassiveCheck() throws {
    guard let server = TLSServer() else { return }
    let run = try Run(["probe", "127.0.0.1:\(server.port)", "--sni", "wrong.test", "--ca-file", fixtures + "/root.pem"])
    #expect(run.status == 3)
    #expect(run.stdout.contains("chain: tls.cert.name_mismatch: OpenSSL 62 hostname mismatch at depth 0"))
}

@Test func probeOfAClosedPortIsAFindingNotACrash() throws {
    let run = try Run(["probe", "127.0.0.1:1"])
    #expect(run.status == 3)
    #expect(run.stdout.contains("tcp.connect.refused"))
}

@Test func probeTargetWithoutAPortIsAUsageError() throws {
    let run = try Run(["probe", "upstream.test"])
    #expect(run.status == 1)
    #expect(run.stderr.contains("is not HOST:PORT"))
}

@Test func unreadableCAFileIsOneLineAndStatusTwo() throws {
    let run = try Run(["analyze", Paths.captures + "/nginx/tls-healthy-1.2.pcap", "--ca-file", "/nonexistent/ca.pem"])
    #expect(run.status == 2)
    #expect(run.errorLines.count == 1)
    #expect(run.stderr.contains("/nonexistent/ca.pem"))
}

@Test func garbageCAFileIsOneLineAndStatusTwo() throws {
    let run = try Run(["analyze", Paths.captures + "/nginx/tls-healthy-1.2.pcap", "--ca-file", fixtures + "/garbage.pem"])
    #expect(run.status == 2)
    #expect(run.errorLines.count == 1)
    #expect(run.stderr.contains("garbage.pem"))
}

@Test func malformedKeyLogNamesTheLine() throws {
    let path = Paths.temporaryDirectory("keylog") + "/bad.keylog"
    try Data("# comment\nCLIENT_RANDOM nothex secret\n".utf8).write(to: URL(fileURLWithPath: path))
    let run = try Run(["analyze", Paths.captures + "/no-gateway/tls-keylog-healthy-1.3.pcap", "--keylog", path])
    #expect(run.status == 2)
    #expect(run.errorLines == ["edgescope: key log \(path) line 2: the client random must be 64 hex digits"])
}

@Test func missingKeyLogIsOneLineAndStatusTwo() throws {
    let run = try Run(["analyze", Paths.captures + "/no-gateway/tls-keylog-healthy-1.3.pcap", "--keylog", "/nonexistent/keys.log"])
    #expect(run.status == 2)
    #expect(run.errorLines == ["edgescope: cannot read key log /nonexistent/keys.log: No such file or directory"])
}

@Test func keyLogWithoutThisCapturesSecretsIsAWarningNotAFailure() throws {
    let path = Paths.temporaryDirectory("keylog") + "/other.keylog"
    try Data("CLIENT_RANDOM \(String(repeating: "00", count: 32)) \(String(repeating: "11", count: 48))\n".utf8)
        .write(to: URL(fileURLWithPath: path))
    let run = try Run(["analyze", Paths.captures + "/no-gateway/tls-keylog-healthy-1.3.pcap", "--keylog", path])
    #expect(run.status == 0)
    #expect(run.errorLines == ["edgescope: warning: The key log holds no secrets for any of the 1 TLS session(s) in this capture; nothing was decrypted."])
}

@Test func keyLogDecryptsTheBrokenChunkedBodyInsideTLS() throws {
    let run = try Run([
        "analyze", Paths.captures + "/no-gateway/tls-keylog-chunked-bad-size-1.3-chacha20.pcap",
        "--keylog", Paths.captures + "/no-gateway/tls-keylog-chunked-bad-size-1.3-chacha20.keylog", "--json",
    ])
    #expect(run.status == 0)
    let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    let connection = try #require((report["connections"] as? [[String: Any]])?.first)
    #expect((connection["verdict"] as? [String: Any])?["code"] as? String == "http.chunked.bad_size")
    #expect((connection["tls"] as? [String: Any])?["decrypted"] as? Bool == true)
    #expect((connection["tls"] as? [String: Any])?["cipher"] as? String == "TLS_CHACHA20_POLY1305_SHA256")
}
