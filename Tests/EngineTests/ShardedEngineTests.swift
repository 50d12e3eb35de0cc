import CaptureModel
import Diagnosis
import Foundation
@testable import Engine
import PacketDecoding
import PcapSource
import Reporting
import TCPReassembly
import Testing
import TestSupport

/// What a run leaves that a report is made of: the whole JSON document (every connection:
/// retention `.all`) and the order connections were judged in (`takeEnded`), which decides
/// what a bounded listing keeps and what client-hop correlation sees.
private struct Outcome: Equatable {
    var json: String
    var ended: [String]

    init<Analyser: CaptureAnalysing>(_ engine: Analyser, frames: (inout Analyser) throws -> Void) rethrows {
        var engine = engine
        var ended: [String] = []
        try frames(&engine)
        let result = engine.finish()
        ended += engine.takeEnded().map { "\($0.id) \($0.server) \($0.verdict.code)" }
        self.json = JSONReport.document(result, source: SourceInfo(path: "capture", snapLength: 65535)).serialized(pretty: true)
        self.ended = ended
    }
}

/// Runs `options` over the capture at `path` with one engine and with `shards` shards.
private func outcomes(_ path: String, options: AnalysisOptions, shards: [Int]) throws -> [Outcome] {
    var options = options
    options.queueEnded = true
    let reader = try PcapReader(path: path)
    var runs = [try Outcome(Engine(linkType: reader.linkType, options: options)) { engine in
        try PcapReader(path: path).forEachFrame { engine.process($0) }
    }]
    for count in shards {
        runs.append(try Outcome(ShardedEngine(linkType: reader.linkType, options: options, shards: count)) { engine in
            try PcapReader(path: path).forEachFrame { engine.process($0) }
        })
    }
    return runs
}

/// Every capture in `captures/`, with the options its ground truth implies (key log, CA file,
/// gateway) when it has one.
private func everyCapture() -> [String] {
    Paths.sampleCaptureFiles(endingWith: [".pcap", ".pcapng"])
}

private func options(for capture: String) throws -> AnalysisOptions {
    for file in truthFiles() {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + file))
        let truth = try JSONDecoder().decode(Truth.self, from: data)
        if capturePath(truthFile: file, capture: truth.capture) == Paths.captures + "/" + capture { return try truth.options() }
    }
    return AnalysisOptions()
}

@Test func everyCaptureIsCompared() {
    #expect(everyCapture().count >= 140)
}

/// The report is the same, byte for byte, on 1, 2 and 3 threads, for every capture we have.
@Test(arguments: everyCapture())
func shardedReportIsTheSingleThreadedOne(capture: String) throws {
    let runs = try outcomes(Paths.captures + "/" + capture, options: try options(for: capture), shards: [2, 3])
    #expect(!runs[0].ended.isEmpty || capture.contains("empty"))
    for run in runs.dropFirst() {
        #expect(run.ended == runs[0].ended)
        #expect(run.json == runs[0].json)
    }
}

/// The client-hop capture with its listener given, where correlation links client errors to
/// upstream connections by the order they were judged in.
@Test func clientHopWithListenerGivenIsTheSame() throws {
    var options = AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!)
    options.gatewayAddresses = [try #require(GatewayAddress(parsing: "127.0.0.1:18080"))]
    let runs = try outcomes(Paths.captures + "/nginx/client-hop.pcap", options: options, shards: [2, 3, 4])
    #expect(runs[0].json.contains("\"client_hop\""))
    for run in runs.dropFirst() {
        #expect(run.ended == runs[0].ended)
        #expect(run.json == runs[0].json)
    }
}

// MARK: - A generated capture: many connections at once, both hops

extension SplitMix {
    /// A number below `bound`.
    mutating func next(_ bound: Int) -> Int { Int(self.next() % UInt64(bound)) }
}

/// Frames of a gateway at 10.0.0.1 (listening on :80) and four upstreams: `count` upstream
/// connections over about 40 capture-seconds, each carrying one request that a client sent the
/// gateway first (same X-Request-ID), answered, cut by a RST or FIN, retransmitted or
/// reordered, closed, left idle or left open; the gateway answers the client 200 or 502.
private func generatedFrames(count: Int, seed: UInt64) -> [(time: Int64, bytes: [UInt8])] {
    var random = SplitMix(seed: seed)
    var packets: [(time: Int64, order: Int, bytes: [UInt8])] = []
    func add(_ time: Int64, _ from: Endpoint, _ to: Endpoint, seq: UInt32, ack: UInt32, _ flags: TCPFlags, _ payload: [UInt8] = []) {
        packets.append((time, packets.count, FrameBuilder.tcp(from: from, to: to, seq: seq, ack: ack, flags: flags, payload: payload)))
    }
    let gatewayAddress: UInt32 = 0x0a00_0001
    let listener = Endpoint(address: .v4(gatewayAddress), port: 80)
    for index in 0..<count {
        let ms = Int64(1_000_000)
        let start = Int64(random.next(40_000)) * ms
        let client = Endpoint(address: .v4(0xc0a8_0000 | UInt32(1 + random.next(200))), port: UInt16(30000 + index))
        let gatewaySide = Endpoint(address: .v4(gatewayAddress), port: UInt16(40000 + index))
        let upstream = Endpoint(address: .v4(0x0a00_0100 | UInt32(1 + random.next(4))), port: 8080)
        let request = Array("GET /item/\(index) HTTP/1.1\r\nHost: api\r\nX-Request-ID: gen-\(index)\r\n\r\n".utf8)
        let body = Array(repeating: UInt8(ascii: "x"), count: 200 + random.next(3000))
        let fate = random.next(8)
        let status = fate == 1 ? "503 Service Unavailable" : "200 OK"
        let response = Array("HTTP/1.1 \(status)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body

        // The client hop: the request reaches the gateway first.
        var t = start
        add(t, client, listener, seq: 10, ack: 0, .syn)
        add(t + ms / 10, listener, client, seq: 20, ack: 11, [.syn, .ack])
        add(t + ms / 5, client, listener, seq: 11, ack: 21, .ack)
        add(t + ms / 2, client, listener, seq: 11, ack: 21, [.psh, .ack], request)

        // The upstream hop.
        t += ms
        add(t, gatewaySide, upstream, seq: 100, ack: 0, .syn)
        add(t + ms / 10, upstream, gatewaySide, seq: 500, ack: 101, [.syn, .ack])
        add(t + ms / 5, gatewaySide, upstream, seq: 101, ack: 501, .ack)
        add(t + ms / 2, gatewaySide, upstream, seq: 101, ack: 501, [.psh, .ack], request)
        let afterRequest = 101 + UInt32(request.count)
        t += ms
        let half = response.count / 2
        var failed = false
        switch fate {
        case 2:  // reset before any response
            add(t, upstream, gatewaySide, seq: 501, ack: afterRequest, [.rst, .ack])
            failed = true
        case 3:  // the response cut in the middle by a FIN
            add(t, upstream, gatewaySide, seq: 501, ack: afterRequest, [.psh, .ack], Array(response[..<half]))
            add(t + ms, upstream, gatewaySide, seq: 501 + UInt32(half), ack: afterRequest, [.fin, .ack])
            add(t + 2 * ms, gatewaySide, upstream, seq: afterRequest, ack: 502 + UInt32(half), [.fin, .ack])
            failed = true
        case 4:  // second half first, then the first half twice (reordered and retransmitted)
            add(t, upstream, gatewaySide, seq: 501 + UInt32(half), ack: afterRequest, [.psh, .ack], Array(response[half...]))
            add(t + ms, upstream, gatewaySide, seq: 501, ack: afterRequest, .ack, Array(response[..<half]))
            add(t + 2 * ms, upstream, gatewaySide, seq: 501, ack: afterRequest, .ack, Array(response[..<half]))
        case 5:  // answered, then left idle: evicted by a sweep
            add(t, upstream, gatewaySide, seq: 501, ack: afterRequest, [.psh, .ack], response)
            add(t + ms, gatewaySide, upstream, seq: afterRequest, ack: 501 + UInt32(response.count), .ack)
        case 6:  // no answer at all: open at the end, or idle
            failed = true
        default:
            add(t, upstream, gatewaySide, seq: 501, ack: afterRequest, [.psh, .ack], response)
        }
        if fate == 0 || fate == 1 || fate == 4 || fate == 7 {
            let end = 501 + UInt32(response.count)
            t += 3 * ms
            add(t, gatewaySide, upstream, seq: afterRequest, ack: end, [.fin, .ack])
            add(t + ms / 10, upstream, gatewaySide, seq: end, ack: afterRequest + 1, [.fin, .ack])
            add(t + ms / 5, gatewaySide, upstream, seq: afterRequest + 1, ack: end + 1, .ack)
        }

        // The gateway answers its client.
        t += 5 * ms
        let answer = Array((failed ? "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n" : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").utf8)
        let afterClientRequest = 11 + UInt32(request.count)
        add(t, listener, client, seq: 21, ack: afterClientRequest, [.psh, .ack], answer)
        if random.next(2) == 0 {
            add(t + ms, client, listener, seq: afterClientRequest, ack: 21 + UInt32(answer.count), [.fin, .ack])
            add(t + 2 * ms, listener, client, seq: 21 + UInt32(answer.count), ack: afterClientRequest + 1, [.fin, .ack])
        }
    }
    packets.sort { ($0.time, $0.order) < ($1.time, $1.order) }
    return packets.map { ($0.time, $0.bytes) }
}

private func feed<Analyser: CaptureAnalysing>(_ frames: [(time: Int64, bytes: [UInt8])], to engine: inout Analyser) {
    for (index, frame) in frames.enumerated() {
        withFrame(frame.bytes, number: FrameNumber(index + 1), timestamp: Timestamp(nanoseconds: 1_776_000_000_000_000_000 + frame.time)) {
            engine.process($0)
        }
    }
}

/// Hundreds of connections at once over both hops, with sweeps (short linger and idle timeout)
/// that end connections of every shard at once, retransmissions, reordering, and client errors
/// that correlation explains with upstream connections judged in other shards.
@Test(arguments: [UInt64(1), 2, 3])
func generatedCaptureIsTheSameOnEveryShardCount(seed: UInt64) throws {
    let frames = generatedFrames(count: 600, seed: seed)
    var options = AnalysisOptions(limits: ReassemblyLimits(idleTimeout: 4_000_000_000, closedLinger: 1_000_000_000))
    options.queueEnded = true
    let single = Outcome(Engine(linkType: .ethernet, options: options)) { feed(frames, to: &$0) }
    // The scenario is what it claims: client errors explained, sweeps ending connections.
    #expect(single.json.contains("\"client_hop\""))
    #expect(single.json.contains("tcp.idle_evicted"))
    #expect(single.json.contains("\"upstream_connection\": \"c"))
    for shards in [2, 3, 5] {
        let sharded = Outcome(ShardedEngine(linkType: .ethernet, options: options, shards: shards)) { feed(frames, to: &$0) }
        #expect(sharded.ended == single.ended, "\(shards) shards")
        #expect(sharded.json == single.json, "\(shards) shards")
    }
}

/// Bounded retention keeps the worst connections seen so far, so what it lists depends on the
/// order connections are judged in: the same with shards.
@Test func boundedListingIsTheSame() throws {
    let frames = generatedFrames(count: 300, seed: 7)
    var options = AnalysisOptions(limits: ReassemblyLimits(idleTimeout: 4_000_000_000, closedLinger: 1_000_000_000))
    options.retention = .bounded(20)
    let single = Outcome(Engine(linkType: .ethernet, options: options)) { feed(frames, to: &$0) }
    let sharded = Outcome(ShardedEngine(linkType: .ethernet, options: options, shards: 2)) { feed(frames, to: &$0) }
    #expect(single.json.contains("are counted but not listed"))
    #expect(sharded.json == single.json)
}

// MARK: - The merge order itself

/// Eight connections closed together, in both shards of two: one sweep ends them all, and
/// they come out by id, as one flow table's sweep ends them; ids follow first frames across
/// shards.
@Test func oneSweepEndsConnectionsOfEveryShardInIDOrder() throws {
    let server = Endpoint(address: .v4(0x0a00_0002), port: 8080)
    let clients = (0..<8).map { Endpoint(address: .v4(0x0a00_0001), port: UInt16(41000 + $0)) }
    let shards = Set(clients.map { ShardedEngine.shard(of: $0, server, count: 2) })
    #expect(shards == [0, 1])
    var frames: [(time: Int64, bytes: [UInt8])] = []
    let ms = Int64(1_000_000)
    // Opened in reverse port order, so ids do not follow ports (or shards).
    for (index, client) in clients.reversed().enumerated() {
        frames.append((Int64(index) * ms, FrameBuilder.tcp(from: client, to: server, seq: 1, flags: .syn)))
    }
    for client in clients {
        frames.append((100 * ms, FrameBuilder.tcp(from: server, to: client, seq: 9, ack: 2, flags: [.rst, .ack])))
    }
    // 6 s later (linger 5 s): the sweep at this frame ends all eight.
    let late = Endpoint(address: .v4(0x0a00_0001), port: 50000)
    frames.append((6_000 * ms, FrameBuilder.tcp(from: late, to: server, seq: 1, flags: .syn)))

    var options = AnalysisOptions()
    options.queueEnded = true
    // The eight wait out the linger (else each is judged at its RST).
    options.judgesAfterLinger = true
    var engine = ShardedEngine(linkType: .ethernet, options: options, shards: 2)
    feed(frames, to: &engine)
    let result = engine.finish()
    let ended = engine.takeEnded()
    #expect(ended.map(\.id) == Array(1...9))
    #expect(ended.prefix(8).map(\.client.port) == clients.reversed().map(\.port))
    #expect(ended.prefix(8).allSatisfy { $0.end == .closed })
    #expect(ended.last?.end == .captureEnded)
    #expect(result.connections.map(\.id) == Array(1...9))

    let single = Outcome(Engine(linkType: .ethernet, options: options)) { feed(frames, to: &$0) }
    let sharded = Outcome(ShardedEngine(linkType: .ethernet, options: options, shards: 2)) { feed(frames, to: &$0) }
    #expect(sharded == single)
}

/// Both directions of a connection, and an ICMP error quoting it, go to the same shard.
@Test func shardIsTheSameBothWaysRound() {
    for port in UInt16(1000)..<1200 {
        let a = Endpoint(address: .v4(0x0a00_0001), port: port)
        let b = Endpoint(address: .v6(high: 0x2001_0db8 << 32, low: UInt64(port)), port: 443)
        for count in 1...5 {
            #expect(ShardedEngine.shard(of: a, b, count: count) == ShardedEngine.shard(of: b, a, count: count))
        }
    }
}

/// An engine that is let go without `finish()` (a read error thrown past it) ends its threads.
@Test func unfinishedEngineStopsItsThreads() {
    for _ in 0..<20 {
        var engine = ShardedEngine(linkType: .ethernet, shards: 3)
        feed(generatedFrames(count: 5, seed: 9), to: &engine)
    }
}
