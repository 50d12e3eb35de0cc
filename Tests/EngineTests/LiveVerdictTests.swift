import CaptureModel
import Engine
import PacketDecoding
import PcapSource
import TCPReassembly
import Testing
import TestSupport

/// Issue 15 item 10: a live capture judges a connection at the gateway's FIN or the RST, not
/// after the closed-connection linger, and its late packets change nothing.
private let request = "GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n"

private func liveHarness(judgesAtGatewayClose: Bool) -> EngineHarness {
    var options = AnalysisOptions()
    options.queueEnded = true
    options.judgesAtGatewayClose = judgesAtGatewayClose
    options.judgesAfterLinger = !judgesAtGatewayClose
    var h = EngineHarness()
    h.engine = Engine(linkType: .ethernet, options: options)
    return h
}

/// The gateway's read timeout: request, silence, the gateway's FIN (frame 6).
private func readTimeout(_ h: inout EngineHarness) {
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3)
    h.send(fromGateway: false, seq: 901, ack: 101 + UInt32(request.utf8.count), flags: .ack, at: 4)
    h.send(fromGateway: true, seq: 101 + UInt32(request.utf8.count), ack: 901, flags: [.fin, .ack], at: 2_003)
}

/// What follows the gateway's FIN: the upstream's ACK and FIN, the gateway's last ACK (frames 7-9).
private func lateClose(_ h: inout EngineHarness) {
    let finAcked = 102 + UInt32(request.utf8.count)
    h.send(fromGateway: false, seq: 901, ack: finAcked, flags: .ack, at: 2_004)
    h.send(fromGateway: false, seq: 901, ack: finAcked, flags: [.fin, .ack], at: 2_005)
    h.send(fromGateway: true, seq: finAcked, ack: 902, flags: .ack, at: 2_006)
}

@Test func aReadTimeoutIsJudgedAtTheGatewaysFINNotAfterTheLinger() throws {
    var h = liveHarness(judgesAtGatewayClose: true)
    readTimeout(&h)
    let ended = h.engine.takeEnded()
    #expect(ended.count == 1)
    let report = try #require(ended.first)
    #expect(report.id == 1)
    #expect(report.verdict.code == .tcpReadTimeout)
    #expect(report.verdict.verdictClass == .gatewayTimeout)
    #expect(report.findings.first?.evidence.first?.frame == 6)
    #expect(report.frames == 1...6)
    #expect(report.end == .closed)

    // The late packets land on the judged connection: no new connection, no second report.
    lateClose(&h)
    #expect(h.engine.lastFrameWasLate)
    #expect(h.engine.takeEnded().isEmpty)
    h.engine.tick(now: Timestamp(nanoseconds: 1_776_075_462_000_000_000 + 20_000_000_000))
    #expect(h.engine.takeEnded().isEmpty)
    #expect(h.engine.liveConnections == 0)
    let result = h.engine.finish()
    #expect(h.engine.takeEnded().isEmpty)
    #expect(result.tally.connections == 1)
    #expect(result.connections.map(\.id) == [1])
    #expect(result.connections.first?.verdict.code == .tcpReadTimeout)
}

@Test func withoutJudgingAtTheCloseTheConnectionLingersAndSeesItsLatePackets() throws {
    var h = liveHarness(judgesAtGatewayClose: false)
    readTimeout(&h)
    #expect(h.engine.takeEnded().isEmpty)
    lateClose(&h)
    #expect(!h.engine.lastFrameWasLate)
    #expect(h.engine.takeEnded().isEmpty)
    let result = h.engine.finish()
    let report = try #require(result.connections.first)
    #expect(report.verdict.code == .tcpReadTimeout)
    #expect(report.findings.first?.evidence.first?.frame == 6)
    #expect(report.frames == 1...9)
}

@Test func anRSTIsJudgedAtOnceAndAFreshSYNOnTheSamePortsIsANewConnection() throws {
    var h = liveHarness(judgesAtGatewayClose: true)
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3)
    h.send(fromGateway: false, seq: 901, ack: 101 + UInt32(request.utf8.count), flags: [.rst, .ack], at: 5)
    let first = try #require(h.engine.takeEnded().first)
    #expect(first.verdict.code == .tcpRSTBeforeResponse)
    #expect(first.findings.first?.evidence.first?.frame == 5)
    // A retransmitted RST is late; a SYN with a new ISN within the linger reuses the ports.
    h.send(fromGateway: false, seq: 901, ack: 101 + UInt32(request.utf8.count), flags: [.rst, .ack], at: 6)
    #expect(h.engine.lastFrameWasLate)
    h.send(fromGateway: true, seq: 5_000, flags: .syn, at: 1_000)
    #expect(!h.engine.lastFrameWasLate)
    h.send(fromGateway: false, seq: 7_000, ack: 5_001, flags: [.syn, .ack], at: 1_001)
    h.send(fromGateway: true, seq: 5_001, ack: 7_001, flags: [.rst, .ack], at: 1_002)
    let second = try #require(h.engine.takeEnded().first)
    #expect(second.id == 2)
    #expect(second.frames == 7...9)
    #expect(h.engine.finish().tally.connections == 2)
}

/// Every connection of every sample capture, `id code class`, judged at the gateway's close,
/// when closed both ways (the default), or after the linger.
private func verdicts(_ path: String, judgesAtGatewayClose: Bool, afterLinger: Bool = true) throws -> [String] {
    var options = AnalysisOptions()
    options.judgesAtGatewayClose = judgesAtGatewayClose
    options.judgesAfterLinger = afterLinger
    let reader = try PcapReader(path: Paths.captures + "/" + path)
    var engine = Engine(linkType: reader.linkType, options: options)
    try reader.forEachFrame { engine.process($0) }
    return engine.finish().connections.map { "\($0.id) \($0.verdict.code) \($0.verdict.verdictClass)" }
}

@Test(arguments: Paths.sampleCaptureFiles(endingWith: [".pcap", ".pcapng"]))
func judgingAtTheGatewaysCloseGivesTheVerdictTheLingerGives(_ path: String) throws {
    #expect(try verdicts(path, judgesAtGatewayClose: true) == verdicts(path, judgesAtGatewayClose: false))
}

/// Issue 16: judged when closed both ways (analyze's default), every sample capture's verdicts
/// are those the linger gives.
@Test(arguments: Paths.sampleCaptureFiles(endingWith: [".pcap", ".pcapng"]))
func judgingWhenClosedBothWaysGivesTheVerdictTheLingerGives(_ path: String) throws {
    #expect(try verdicts(path, judgesAtGatewayClose: false, afterLinger: false) == verdicts(path, judgesAtGatewayClose: false))
}
