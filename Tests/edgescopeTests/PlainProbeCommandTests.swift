import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection HTTP upstream on 127.0.0.1 that writes exact bytes: it reads the request
/// head, sends `reply`, waits `hold` seconds, then closes (aborting with an RST when `reset`).
private final class ScriptedUpstream: @unchecked Sendable {
    let port: UInt16
    private let lock = NSLock()
    private var received: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    /// The bytes the probe sent, once the exchange is over.
    var request: String {
        self.done.wait()
        self.done.signal()
        return self.lock.withLock { String(decoding: self.received, as: UTF8.self) }
    }

    init(reply: String, hold: Double = 0, reset: Bool = false) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(listener >= 0, "socket: \(String(cString: strerror(errno)))")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, pointer, &length) == 0
            }
        }
        precondition(bound, "bind/listen: \(String(cString: strerror(errno)))")
        self.port = UInt16(bigEndian: address.sin_port)
        let reply = Array(reply.utf8)
        Thread.detachNewThread { [self] in
            defer { self.done.signal() }
            let connection = accept(listener, nil, nil)
            close(listener)
            guard connection >= 0 else { return }
            var head: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !head.ends(with: Array("\r\n\r\n".utf8)) {
                let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                head += buffer.prefix(count)
            }
            self.lock.withLock { self.received = head }
            if !reply.isEmpty {
                _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            if hold > 0 { Thread.sleep(forTimeInterval: hold) }
            if reset {
                // SO_LINGER with a zero timeout: close() aborts the connection with an RST.
                var option = linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(connection, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
            }
            close(connection)
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool { self.count >= suffix.count && Array(self.suffix(suffix.count)) == suffix }
}

/// A port nothing listens on: bound, then released.
private func closedPort() -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    precondition(bound, "bind: \(String(cString: strerror(errno)))")
    return UInt16(bigEndian: address.sin_port)
}

private let okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"

@Test func plainProbeOfAHealthyUpstreamSendsOneGetAndExitsZero() throws {
    let upstream = ScriptedUpstream(reply: okResponse)
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/health?full=1"], deadline: 30)
    #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Response: 200, 62 bytes"))
    #expect(run.stdout.contains("Verdict: none [ok, idle]: No failure seen"))
    #expect(run.stderr.isEmpty)
    #expect(upstream.request == "GET /health?full=1 HTTP/1.1\r\nHost: 127.0.0.1:\(upstream.port)\r\nUser-Agent: edgescope-probe\r\nConnection: close\r\n\r\n")
}

@Test func plainProbeStopsReadingAtTheEndOfAWholeResponse() throws {
    // The upstream ignores "Connection: close" and holds the connection open for 8 s.
    let upstream = ScriptedUpstream(reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", hold: 8)
    let started = Date()
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/"], deadline: 30)
    #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Verdict: none [ok, idle]"))
    #expect(Date().timeIntervalSince(started) < 5)
}

@Test func plainFlagProbesHostPortWithTheRequestPath() throws {
    let upstream = ScriptedUpstream(reply: okResponse)
    let run = try Run(["probe", "--plain", "127.0.0.1:\(upstream.port)", "--request", "/ready"], deadline: 30)
    #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
    #expect(upstream.request.hasPrefix("GET /ready HTTP/1.1\r\nHost: 127.0.0.1:\(upstream.port)\r\n"))
}

@Test func plainProbeFindsABadHeaderWithItsCodeAndByteOffset() throws {
    // "Content Length": the space is byte 24 of the response (17 for the status line, 7 for "Content").
    let upstream = ScriptedUpstream(reply: "HTTP/1.1 200 OK\r\nContent Length: 5\r\n\r\nhello")
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/"], deadline: 30)
    #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Verdict: http.header.name_ctl_or_space [502, response_head]: The upstream 127.0.0.1:\(upstream.port) sent whitespace in a field name"))
    #expect(run.stdout.contains("at byte 24 of its stream"))
    #expect(run.stdout.contains("stream offset 24: whitespace in a field name"))
    // The space and the rest of the bad name, to the colon (issue 15 item 12).
    #expect(run.stdout.contains("0a 43 6f 6e 74 65 6e 74[20 4c 65 6e 67 74 68] 3a"))
}

@Test(arguments: [("nginx", "[502, response_head]"), ("haproxy", "[ok, response_head]")])
func plainProbeJudgesWithTheChosenGateway(gateway: String, verdict: String) throws {
    // obs-fold at byte 25 (17 for the status line, 8 for "X-A: a"): nginx refuses it, HAProxy folds it into the value.
    let upstream = ScriptedUpstream(reply: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/", "--gateway", gateway], deadline: 30)
    #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("gateway profile \(gateway)"))
    #expect(run.stdout.contains("Verdict: http.header.obs_fold \(verdict)"))
    #expect(run.stdout.contains("at byte 25 of its stream"))
}

@Test func plainProbeOfAClosedPortIsConnectRefused() throws {
    let port = closedPort()
    let run = try Run(["probe", "http://127.0.0.1:\(port)/"], deadline: 30)
    #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Verdict: tcp.connect.refused [502, connect]: The upstream 127.0.0.1:\(port) refused the connection"))
}

@Test func plainProbeOfAnUpstreamThatResetsIsRSTBeforeResponse() throws {
    let upstream = ScriptedUpstream(reply: "", reset: true)
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/x"], deadline: 30)
    #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Verdict: tcp.rst.before_response [502, response_head]: The upstream 127.0.0.1:\(upstream.port) reset the connection after the gateway's GET /x"))
}

@Test func plainProbeOfASilentUpstreamIsReadTimeout() throws {
    let upstream = ScriptedUpstream(reply: "", hold: 4)
    let started = Date()
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/", "--timeout", "1"], deadline: 30)
    #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Verdict: tcp.read_timeout [504, response_head]: The upstream 127.0.0.1:\(upstream.port) sent nothing for 1"))
    #expect(Date().timeIntervalSince(started) < 3.5)
}

@Test func plainProbeOfAnUpstream5xxIsRelayed() throws {
    let upstream = ScriptedUpstream(reply: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    let run = try Run(["probe", "http://127.0.0.1:\(upstream.port)/"], deadline: 30)
    #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
    #expect(run.stdout.contains("Verdict: http.upstream_5xx [relayed, response_head]: The upstream 127.0.0.1:\(upstream.port) itself answered 503"))
}

@Test(arguments: [
    (["probe", "--plain", "https://127.0.0.1:8443/"], "--plain contradicts https://127.0.0.1:8443/"),
    (["probe", "http://127.0.0.1:8080/", "--sni", "upstream.test"], "--sni is for TLS"),
    (["probe", "http://127.0.0.1:8080/a", "--request", "/b"], "give the path once"),
    (["probe", "http://127.0.0.1:8080/", "--timeout", "0"], "--timeout must be"),
    (["probe", "--plain", "127.0.0.1:8080", "--request", "/a b"], "must start with / and hold no spaces"),
    (["probe", "http://127.0.0.1:port/"], "is not HOST:PORT, http://HOST[:PORT][/PATH]"),
    (["probe", "http://127.0.0.1:8080/", "--gateway", "nginx:99x"], "--gateway 'nginx:99x' is not"),
    (["probe", "127.0.0.1:8443", "--gateway", "haproxy"], "--gateway judges plain HTTP probes"),
])
func plainProbeUsageErrorsAreOneLineAndStatusOne(arguments: [String], message: String) throws {
    let run = try Run(arguments, deadline: 30)
    #expect(run.status == 1, "\(run.stdout) \(run.stderr)")
    #expect(run.errorLines.count == 1)
    #expect(run.stderr.contains(message), "\(run.stderr)")
}
