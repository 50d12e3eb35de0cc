import Testing

@testable import OpenSSLBridge

private let request = Array("GET / HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n".utf8)

private func kinds(_ transcript: ProbeTranscript) -> [String] {
    transcript.events.map { _, event in
        switch event {
        case .connecting: "connecting"
        case .refused: "refused"
        case .connected: "connected"
        case .sent(let bytes): "sent \(bytes.count)"
        case .received(let bytes): "received \(bytes.count)"
        case .upstreamClosed: "upstream FIN"
        case .upstreamReset: "upstream RST"
        case .probeClosed: "probe FIN"
        }
    }
}

@Test func plainProbeRecordsTheExchangeInOrder() throws {
    let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
    let port = LocalServers.plain(reply: reply)
    let transcript = try PlainProbe.run(host: "127.0.0.1", port: port, request: request, timeout: .seconds(5))
    #expect(kinds(transcript) == ["connecting", "connected", "sent \(request.count)", "received \(reply.count)", "upstream FIN", "probe FIN"])
    #expect(transcript.response == reply)
    #expect(transcript.peer == "127.0.0.1:\(port)")
    #expect(transcript.local?.hasPrefix("127.0.0.1:") == true)
    #expect(transcript.responseEnd == .closed)
    let times = transcript.events.map(\.time)
    #expect(times == times.sorted())
}

@Test func plainProbeOfAClosedPortIsARefusalNotAnError() throws {
    let port = LocalServers.freePort()
    let transcript = try PlainProbe.run(host: "127.0.0.1", port: port, request: request, timeout: .seconds(5))
    #expect(kinds(transcript) == ["connecting", "refused"])
    #expect(transcript.peer == "127.0.0.1:\(port)")
}

@Test func plainProbeRecordsAReset() throws {
    let port = LocalServers.plain(reply: [], reset: true)
    let transcript = try PlainProbe.run(host: "127.0.0.1", port: port, request: request, timeout: .seconds(5))
    #expect(kinds(transcript) == ["connecting", "connected", "sent \(request.count)", "upstream RST"])
    #expect(transcript.responseEnd == .reset)
}

@Test func plainProbeGivesUpAfterTheTimeoutAndClosesItsSide() throws {
    let port = LocalServers.plain(reply: [], hold: 3)
    let clock = ContinuousClock()
    let started = clock.now
    let transcript = try PlainProbe.run(host: "127.0.0.1", port: port, request: request, timeout: .seconds(1))
    let waited = clock.now - started
    #expect(kinds(transcript) == ["connecting", "connected", "sent \(request.count)", "probe FIN"])
    #expect(transcript.responseEnd == .timeout)
    #expect(waited >= .seconds(1) && waited < .seconds(2.5))
    let sent = try #require(transcript.events.first { if case .sent = $0.event { true } else { false } }?.time)
    #expect(try #require(transcript.events.last?.time) - sent >= 1_000_000_000)
}
