import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `edgescope replay`: its one-line errors and, on a real socket, the captured bytes served
/// with the captured ending.
@Suite struct ReplayCommandTests {
    static let rstMidBody = Paths.captures + "/nginx/tcp-rst-mid-body.pcap"

    /// A loopback port nothing listens on now.
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Connects to 127.0.0.1:`port` (retrying while the server starts), sends `request`, and reads
    /// until the server closes or resets; returns what it sent and whether it reset.
    static func exchange(port: UInt16, request: String) throws -> (bytes: [UInt8], reset: Bool) {
        var fd: Int32 = -1
        for _ in 0..<200 {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if connected == 0 { break }
            close(fd)
            fd = -1
            usleep(50_000)
        }
        guard fd >= 0 else { throw POSIXError(.ECONNREFUSED) }
        defer { close(fd) }
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EIO) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&readable, 1, 20_000) == 1 else { throw POSIXError(.ETIMEDOUT) }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { return (reply, errno == ECONNRESET) }
            if n == 0 { return (reply, false) }
            reply += buffer[..<n]
        }
    }

    @Test func servesTheCapturedBytesThenResetsAsTheUpstreamDid() throws {
        let port = Self.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.buildDirectory + "/edgescope")
        process.arguments = ["replay", Self.rstMidBody, "--connection", "c1", "--listen", "127.0.0.1:\(port)", "--count", "1", "--timing", "none"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let (reply, reset) = try Self.exchange(port: port, request: "GET /s/tcp-rst-mid-body/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        process.waitUntilExit()
        let lines = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: reply, as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789")
        #expect(reset)
        #expect(lines.count == 2)
        #expect(lines.first == "edgescope: replaying c1 127.0.0.1:47484 -> 127.0.0.1:18090: 1 request, 76 bytes in 2 segments, then RST on 127.0.0.1:\(port)")
        #expect(lines.last?.hasPrefix("edgescope: replay: client 1 127.0.0.1:") == true)
        #expect(lines.last?.contains(": read 1 request, sent 76 bytes in 2 segments, reset (RST) in ") == true)
    }

    @Test func aDecryptedConnectionIsServedOverTLSWithCertAndKey() throws {
        // curl's own session, decrypted with its key log, served again over TLS: curl reads the
        // status line and fails on the chunk size `zz` as it did in the capture (exit 56).
        let port = Self.freePort()
        let fixtures = Paths.packageRoot + "/Tests/OpenSSLBridgeTests/Fixtures"
        let capture = Paths.captures + "/no-gateway/tls-keylog-chunked-bad-size-1.2"
        let replay = Process()
        replay.executableURL = URL(fileURLWithPath: Paths.buildDirectory + "/edgescope")
        replay.arguments = [
            "replay", capture + ".pcap", "--connection", "c1", "--keylog", capture + ".keylog", "--listen", "\(port)", "--count", "1",
            "--cert", fixtures + "/leaf-valid.pem", "--key", fixtures + "/leaf-valid.key", "--timing", "none",
        ]
        let err = Pipe()
        replay.standardError = err
        replay.standardOutput = FileHandle.nullDevice
        try replay.run()
        var curl = Process()
        var output = Pipe()
        for _ in 0..<50 {
            usleep(100_000)
            curl = Process()
            output = Pipe()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-sk", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/x"]
            curl.standardOutput = output
            try curl.run()
            curl.waitUntilExit()
            if curl.terminationStatus != 7 { break }  // 7: not listening yet
        }
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "200")
        replay.waitUntilExit()
        let lines = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(curl.terminationStatus == 56)
        #expect(replay.terminationStatus == 0)
        #expect(lines.first?.hasSuffix("1 request, 89 bytes in 2 segments, then silence until the client closes (then FIN) (decrypted) over TLS on 127.0.0.1:\(port)") == true)
        #expect(lines.last?.contains(": read 1 request, sent 89 bytes in 2 segments, closed (FIN) after the client closed in ") == true)
    }

    @Test func anUnknownConnectionIsOneLineAndStatusOne() throws {
        let run = try Run(["replay", Self.rstMidBody, "--connection", "c7", "--listen", "\(Self.freePort())"], deadline: 60)
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: --connection c7: no such connection; the capture has c1 only"])
    }

    @Test func aRefusedConnectionHasNothingToReplay() throws {
        let run = try Run(["replay", Paths.captures + "/nginx/refused.pcap", "--connection", "c1", "--listen", "\(Self.freePort())"], deadline: 60)
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: --connection c1: the upstream refused it (RST to the SYN); nothing to replay (a closed port or a dropped SYN reproduces it)"])
    }

    @Test func aPortInUseIsOneLineAndStatusTwo() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listen(fd, 1)
        let port = UInt16(bigEndian: address.sin_port)
        let run = try Run(["replay", Self.rstMidBody, "--connection", "c1", "--listen", "127.0.0.1:\(port)"], deadline: 60)
        #expect(run.status == 2)
        #expect(run.errorLines == ["edgescope: cannot listen on 127.0.0.1:\(port): the port is in use"])
    }

    @Test(arguments: [
        (["--timing", "slow"], "edgescope: --timing 'slow' is not original or none"),
        (["--count", "0"], "edgescope: --count 0: give 1 or more clients"),
        (["--cert", "/nonexistent.pem"], "edgescope: --cert needs --key"),
        (["--forge-chain", "/tmp/x", "--cert", "a", "--key", "b"], "edgescope: --forge-chain makes its own certificate: give it or --cert/--key, not both"),
    ])
    func badOptionsAreOneLineAndStatusOne(extra: [String], message: String) throws {
        let run = try Run(["replay", Self.rstMidBody, "--connection", "c1", "--listen", "\(Self.freePort())"] + extra, deadline: 60)
        #expect(run.status == 1)
        #expect(run.errorLines == [message])
    }

    @Test func aBadListenAddressIsStatusOne() throws {
        let run = try Run(["replay", Self.rstMidBody, "--connection", "c1", "--listen", "localhost:80:1"], deadline: 60)
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: --listen 'localhost:80:1' is not [ADDR:]PORT (for IPv6: [ADDR]:PORT)"])
    }

    @Test func anUnreadableCaptureIsStatusTwo() throws {
        let run = try Run(["replay", "/nonexistent/c.pcap", "--connection", "c1", "--listen", "\(Self.freePort())"], deadline: 60)
        #expect(run.status == 2)
        #expect(run.errorLines.count == 1)
        #expect(run.errorLines.first?.hasPrefix("edgescope: cannot read capture /nonexistent/c.pcap: ") == true)
    }
}
