import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The executable `name` on PATH, or `nil`.
private func executable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Test func captureWithAMalformedKeyLogIsOneLineAndStatusTwo() throws {
    let path = Paths.temporaryDirectory("keylog") + "/bad.keylog"
    try Data("# keys\nCLIENT_RANDOM abcd \(String(repeating: "11", count: 48))\n".utf8).write(to: URL(fileURLWithPath: path))
    let run = try Run(["capture", "-i", "lo", "--keylog", path, "--out", Paths.temporaryDirectory("capture"), "--duration", "1"])
    #expect(run.status == 2)
    #expect(run.errorLines == ["edgescope: key log \(path) line 2: the client random must be 64 hex digits"])
}

/// `edgescope capture --keylog` against a real TLS exchange on loopback: the key log is empty
/// when the capture starts and only the client (curl, through SSLKEYLOGFILE) fills it, as a
/// gateway does, so the session is decrypted only if the capture follows the file.
@Suite(.enabled(if: geteuid() == 0, "edgescope capture opens live captures: run the tests as root to include these"),
       .enabled(if: executable("openssl") != nil && executable("curl") != nil, "needs openssl and curl"))
struct LiveKeyLogTests {
    @Test func sessionKeyedAfterTheCaptureStartedIsDecrypted() throws {
        let fixtures = Paths.packageRoot + "/Tests/OpenSSLBridgeTests/Fixtures"
        let work = Paths.temporaryDirectory("livekeylog")
        // Root's alone (mkdtemp makes the directory 0700): the capture, running as nobody by
        // then, can only read it through the descriptor it opened as root.
        let keyLog = work + "/keys.log"
        #expect(FileManager.default.createFile(atPath: keyLog, contents: nil, attributes: [.posixPermissions: 0o600]))
        // A new --out, made for nobody, in a directory nobody can pass through.
        let base = Paths.temporaryDirectory("capture")
        chmod(base, 0o755)
        let out = base + "/out"

        let port = freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try #require(executable("openssl")))
        server.arguments = [
            "s_server", "-accept", "127.0.0.1:\(port)", "-www",
            "-cert", fixtures + "/leaf-valid.pem", "-key", fixtures + "/leaf-valid.key", "-cert_chain", fixtures + "/intermediate.pem",
        ]
        let serverLog = work + "/s_server.log"
        _ = FileManager.default.createFile(atPath: serverLog, contents: nil)
        server.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: serverLog))
        server.standardError = server.standardOutput
        server.standardInput = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the child inherits the test runner's blocked signal mask, SIGTERM included.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        try waitFor("s_server to listen", timeout: 10) { (try? String(contentsOfFile: serverLog, encoding: .utf8))?.contains("ACCEPT") == true }

        let capture = Process()
        capture.executableURL = URL(fileURLWithPath: Paths.buildDirectory + "/edgescope")
        capture.arguments = ["capture", "-i", "lo", "--upstream", "127.0.0.1:\(port)", "--keylog", keyLog, "--duration", "6", "--out", out]
        let captureLog = work + "/capture.err"
        _ = FileManager.default.createFile(atPath: captureLog, contents: nil)
        capture.standardOutput = FileHandle.nullDevice
        capture.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: captureLog))
        capture.standardInput = FileHandle.nullDevice
        try capture.run()
        defer { if capture.isRunning { kill(capture.processIdentifier, SIGKILL) } }
        try waitFor("the capture to start", timeout: 10) {
            (try? String(contentsOfFile: captureLog, encoding: .utf8))?.contains("running as nobody") == true
        }

        let client = Process()
        client.executableURL = URL(fileURLWithPath: try #require(executable("curl")))
        client.arguments = ["-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/"]
        client.environment = ["SSLKEYLOGFILE": keyLog, "PATH": "/usr/bin:/bin"]
        let answer = Pipe()
        client.standardOutput = answer
        client.standardError = FileHandle.nullDevice
        try client.run()
        let code = String(decoding: answer.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        client.waitUntilExit()
        #expect(code == "200")
        #expect(try String(contentsOfFile: keyLog, encoding: .utf8).contains("CLIENT_TRAFFIC_SECRET_0"))

        capture.waitUntilExit()
        let errors = try String(contentsOfFile: captureLog, encoding: .utf8)
        #expect(capture.terminationStatus == 0, "stderr: \(errors)")
        #expect(!errors.contains("warning"), "stderr: \(errors)")

        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let connections = try #require(report["connections"] as? [[String: Any]])
        try #require(connections.count == 1)
        let connection = connections[0]
        #expect((connection["tls"] as? [String: Any])?["decrypted"] as? Bool == true)
        #expect((connection["verdict"] as? [String: Any])?["code"] as? String == "none")
        let transactions = try #require(connection["transactions"] as? [[String: Any]])
        #expect(transactions.count == 1)
        #expect((transactions.first?["request"] as? [String: Any])?["target"] as? String == "/")
        #expect((transactions.first?["response"] as? [String: Any])?["status"] as? Int == 200)
    }
}

/// A port nothing listens on right now (bound, then released).
private func freePort() -> UInt16 {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    precondition(bound, "bind: \(String(cString: strerror(errno)))")
    return UInt16(bigEndian: address.sin_port)
}

private struct Timeout: Error, CustomStringConvertible {
    var description: String
}

private func waitFor(_ what: String, timeout: Double, _ done: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !done() {
        guard Date() < deadline else { throw Timeout(description: "timed out waiting for \(what)") }
        Thread.sleep(forTimeInterval: 0.05)
    }
}
