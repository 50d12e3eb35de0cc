import CaptureModel
import Engine
import PacketDecoding
import Reporting
import TCPReassembly
import Testing
import TestSupport

/// Feeds whole connections, one after another, each judged (by a tick past its linger) before
/// the next starts: the order a long live capture reports them in.
private struct Sequence {
    var engine: Engine
    var number: FrameNumber = 0
    var seconds: Int64 = 0
    var ended: [ConnectionReport] = []
    let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)

    init(options: AnalysisOptions) {
        self.engine = Engine(linkType: .ethernet, options: options)
    }

    mutating func frame(_ bytes: [UInt8], ring: inout PacketRing?) {
        self.number += 1
        let timestamp = Timestamp(nanoseconds: (1_776_075_462 + self.seconds) * 1_000_000_000 + Int64(self.number) * 1_000)
        withFrame(bytes, number: self.number, timestamp: timestamp) { frame in
            let decoded = self.engine.process(frame)
            ring?.record(frame, decoded: decoded)
        }
    }

    /// A request answered `200` (or `status`) with Content-Length, then FIN both ways.
    mutating func healthy(port: UInt16, to server: Endpoint? = nil, status: String = "200 OK", ring: inout PacketRing?) {
        let client = Endpoint(address: .v4(0x0a00_0005), port: port)
        let server = server ?? self.upstream
        let request = Array("GET / HTTP/1.1\r\nHost: api\r\n\r\n".utf8)
        let response = Array("HTTP/1.1 \(status)\r\nContent-Length: 2\r\n\r\nok".utf8)
        self.frame(FrameBuilder.tcp(from: client, to: server, seq: 100, flags: .syn), ring: &ring)
        self.frame(FrameBuilder.tcp(from: server, to: client, seq: 900, ack: 101, flags: [.syn, .ack]), ring: &ring)
        self.frame(FrameBuilder.tcp(from: client, to: server, seq: 101, ack: 901, flags: .ack), ring: &ring)
        self.frame(FrameBuilder.tcp(from: client, to: server, seq: 101, ack: 901, flags: [.psh, .ack], payload: request), ring: &ring)
        let afterRequest = 101 + UInt32(request.count)
        self.frame(FrameBuilder.tcp(from: server, to: client, seq: 901, ack: afterRequest, flags: [.psh, .ack], payload: response), ring: &ring)
        let afterResponse = 901 + UInt32(response.count)
        self.frame(FrameBuilder.tcp(from: client, to: server, seq: afterRequest, ack: afterResponse, flags: [.fin, .ack]), ring: &ring)
        self.frame(FrameBuilder.tcp(from: server, to: client, seq: afterResponse, ack: afterRequest + 1, flags: [.fin, .ack]), ring: &ring)
        self.frame(FrameBuilder.tcp(from: client, to: server, seq: afterRequest + 1, ack: afterResponse + 1, flags: .ack), ring: &ring)
        self.judge()
    }

    /// A SYN the upstream answers with RST: `tcp.connect.refused`.
    mutating func refused(port: UInt16, ring: inout PacketRing?) {
        let client = Endpoint(address: .v4(0x0a00_0005), port: port)
        self.frame(FrameBuilder.tcp(from: client, to: self.upstream, seq: 100, flags: .syn), ring: &ring)
        self.frame(FrameBuilder.tcp(from: self.upstream, to: client, seq: 0, ack: 101, flags: [.rst, .ack]), ring: &ring)
        self.judge()
    }

    /// Lets ten seconds pass: past the 5 s linger, so the connection is judged now.
    private mutating func judge() {
        self.seconds += 10
        self.engine.tick(now: Timestamp(nanoseconds: (1_776_075_462 + self.seconds) * 1_000_000_000))
        self.ended += self.engine.takeEnded()
    }
}

private func run(_ options: AnalysisOptions, _ script: String) -> (AnalysisResult, [ConnectionReport]) {
    var sequence = Sequence(options: options)
    var ring: PacketRing?
    for (index, kind) in script.enumerated() {
        let port = UInt16(40_000 + index)
        switch kind {
        case "H": sequence.healthy(port: port, ring: &ring)
        case "R": sequence.healthy(port: port, status: "503 Service Unavailable", ring: &ring)
        default: sequence.refused(port: port, ring: &ring)
        }
    }
    return (sequence.engine.finish(), sequence.ended)
}

@Test func boundedRetentionListsFailuresFirstAndCountsEveryConnection() {
    var options = AnalysisOptions()
    options.retention = .bounded(3)
    // c1 H, c2 F, c3 H fill the three places; c4 F takes c1's, c5 H is only counted, c6 F
    // takes c3's, c7 F finds no healthy place to take.
    let (result, _) = run(options, "HFHFHFF")
    #expect(result.connections.map(\.id) == [2, 4, 6])
    #expect(result.connections.allSatisfy { $0.verdict.code == .tcpConnectRefused })
    #expect(result.unlistedConnections == 4)
    #expect(result.tally.connections == 7)
    #expect(result.tally.failed == 4)
    #expect(result.tally.causes[.tcpConnectRefused] == 4)
    #expect(result.tally.classes[.ok] == 3)
    let rows = Summary.upstreams(result)
    #expect(rows.count == 1)
    #expect(rows.first?.connections == 7)
    #expect(rows.first?.failed == 4)
    #expect(result.warnings.contains("4 of 7 connection(s) are counted but not listed (at most 3 are kept, the worst failures first)."))
    let json = JSONReport.document(result, source: SourceInfo(path: "live:lo", snapLength: 65_599, readError: nil)).serialized()
    #expect(json.contains(#""totals":{"connections":7,"failed":4,"listed":3,"unlisted":4,"outside_upstreams":0,"classes":{"502":4,"ok":3},"causes":{"tcp.connect.refused":4}}"#))
}

@Test func unboundedRetentionListsEveryConnectionAndQueuesNothingUnlessAsked() {
    let (result, ended) = run(AnalysisOptions(), "HFHF")
    #expect(result.connections.map(\.id) == [1, 2, 3, 4])
    #expect(result.unlistedConnections == 0)
    #expect(result.tally.connections == 4)
    #expect(ended.isEmpty)
}

@Test func queuedConnectionsArriveOnceEachAsTheyAreJudged() {
    var options = AnalysisOptions()
    options.queueEnded = true
    options.retention = .bounded(0)
    let (result, ended) = run(options, "HFHF")
    #expect(ended.map(\.id) == [1, 2, 3, 4])
    #expect(result.connections.isEmpty)
    #expect(result.tally.connections == 4)
}

@Test func connectionsOutsideTheUpstreamsAreNeitherQueuedNorCounted() throws {
    var options = AnalysisOptions()
    options.queueEnded = true
    options.upstreams = [try #require(UpstreamSpec(parsing: "10.0.3.24:8080"))]
    var sequence = Sequence(options: options)
    var ring: PacketRing?
    sequence.healthy(port: 40_000, ring: &ring)
    sequence.healthy(port: 40_001, to: Endpoint(address: .v4(0x0a00_0319), port: 8080), ring: &ring)
    let result = sequence.engine.finish()
    #expect(sequence.ended.map(\.server.description) == ["10.0.3.24:8080"])
    #expect(result.tally.connections == 1)
    #expect(result.otherConnections == 1)
}

@Test func aGatewayErrorTakesTheListedPlaceOfARelayedOne() {
    var options = AnalysisOptions()
    options.retention = .bounded(2)
    // c1, c2 relayed 503s fill the places; c3 (refused, 502) takes c2's; c4 relayed finds no
    // place; c5 (502) takes c1's.
    let (result, _) = run(options, "RRFRF")
    #expect(result.connections.map(\.id) == [3, 5])
    #expect(result.connections.allSatisfy { $0.verdict.verdictClass == .badGateway })
    #expect(result.unlistedConnections == 3)
    #expect(result.tally.classes[.relayed] == 3)
}
