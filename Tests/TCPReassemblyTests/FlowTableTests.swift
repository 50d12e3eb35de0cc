import CaptureModel
import PacketDecoding
import TCPReassembly
import Testing

private let c: UInt32 = 5000  // gateway ISN
private let s: UInt32 = 90000  // upstream ISN

/// SYN, SYN-ACK, ACK, request, ACK, response, then the closing packets given.
private func exchange(_ h: inout FlowHarness, request: String = "GET / HTTP/1.1\r\n\r\n", response: String = "HTTP/1.1 204 No Content\r\n\r\n") {
    h.send(fromGateway: true, seq: c, flags: .syn)
    h.send(fromGateway: false, seq: s, ack: c + 1, flags: [.syn, .ack])
    h.send(fromGateway: true, seq: c + 1, ack: s + 1, flags: .ack)
    h.send(fromGateway: true, seq: c + 1, ack: s + 1, flags: [.psh, .ack], Array(request.utf8))
    h.send(fromGateway: false, seq: s + 1, ack: c + 1 + UInt32(request.utf8.count), flags: [.psh, .ack], Array(response.utf8))
}

@Test func fullConnectionHasFactsAndZeekHistory() throws {
    var h = FlowHarness()
    // Judged after the linger, so the last ACK (frame 8) counts.
    h.table.judgment = .afterLinger
    exchange(&h)
    let requestEnd = c + 1 + 18
    h.send(fromGateway: true, seq: requestEnd, ack: s + 1 + 27, flags: [.fin, .ack])
    h.send(fromGateway: false, seq: s + 1 + 27, ack: requestEnd + 1, flags: [.fin, .ack])
    h.send(fromGateway: true, seq: requestEnd + 1, ack: s + 1 + 28, flags: .ack)
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(h.sink.ended.count == 1)
    #expect(connection.client == h.gateway)
    #expect(connection.server == h.upstream)
    // The upstream never sends a pure ACK here (its data carries the ACK), so no `a`.
    #expect(connection.facts.history == "ShADdFf")
    #expect(connection.facts.opener == .client)
    #expect(connection.facts.handshakeRTT == 1_000_000)
    #expect(connection.facts.firstToClose == .client)
    #expect(connection.facts.firstToReset == nil)
    #expect(connection.facts.simultaneousClose == false)
    #expect(connection.clientStream.nextOffset == 18)
    #expect(connection.serverStream.nextOffset == 27)
    #expect(connection.facts.client.packets == 5)
    #expect(connection.facts.server.packets == 3)
    #expect(connection.facts.client.fin?.frame == 6)
    let fins = h.sink.events.compactMap { item -> Direction? in
        if case .fin = item.event { return item.direction } else { return nil }
    }
    #expect(fins == [.client, .server])
}

@Test func simultaneousCloseIsRecognised() throws {
    var h = FlowHarness()
    exchange(&h)
    let requestEnd = c + 1 + 18
    let responseEnd = s + 1 + 27
    // Each FIN acknowledges only the data, not the other's FIN: they crossed on the wire.
    h.send(fromGateway: true, seq: requestEnd, ack: responseEnd, flags: [.fin, .ack])
    h.send(fromGateway: false, seq: responseEnd, ack: requestEnd, flags: [.fin, .ack])
    h.send(fromGateway: true, seq: requestEnd + 1, ack: responseEnd + 1, flags: .ack)
    h.send(fromGateway: false, seq: responseEnd + 1, ack: requestEnd + 1, flags: .ack)
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.facts.simultaneousClose)
    #expect(connection.facts.firstToClose == .client)
}

@Test func connectionWithoutSYNIsReassembledWithTheLowerPortAsServer() throws {
    var h = FlowHarness()
    // Picked up mid-stream: the first packet seen is the upstream's response.
    h.send(fromGateway: false, seq: 777, ack: 123, flags: [.psh, .ack], Array("HTTP/1.1 200 OK\r\n".utf8))
    h.send(fromGateway: false, seq: 777 + 17, ack: 123, flags: [.psh, .ack], Array("\r\n".utf8))
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.server == h.upstream)
    #expect(connection.client == h.gateway)
    #expect(connection.facts.opener == nil)
    #expect(connection.serverStream.startedBySYN == false)
    #expect(connection.serverStream.nextOffset == 19)
    #expect(h.sink.events.map(\.direction) == [.server, .server])
}

@Test func knownUpstreamFixesRolesWhenPortsMislead() throws {
    var h = FlowHarness(
        gateway: Endpoint(address: .v4(0x0a00_0005), port: 80),
        upstream: Endpoint(address: .v4(0x0a00_0318), port: 9000))
    h.table.knownServers = [h.upstream]
    h.send(fromGateway: true, seq: 1, ack: 1, flags: [.psh, .ack], Array("GET".utf8))
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.server == h.upstream)
}

@Test func refusedConnectionHasSYNAndAnRSTFromTheServer() throws {
    var h = FlowHarness()
    h.send(fromGateway: true, seq: c, flags: .syn)
    h.send(fromGateway: false, seq: 0, ack: c + 1, flags: [.rst, .ack])
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.facts.history == "Sr")
    #expect(connection.facts.server.rst?.frame == 2)
    #expect(connection.facts.synAck == nil)
    #expect(h.sink.resets.count == 1)
    #expect(h.sink.resets.first?.0 == .server)
}

@Test func reusedPortsAfterACloseStartANewConnection() {
    var h = FlowHarness()
    h.table.judgment = .afterLinger
    exchange(&h)
    h.send(fromGateway: false, seq: s + 28, ack: c + 19, flags: [.rst, .ack])
    h.send(fromGateway: true, seq: c + 100_000, flags: .syn)
    h.finish()
    #expect(h.sink.started == [1, 2])
    #expect(h.sink.ended.map(\.id) == [1, 2])
    #expect(h.sink.ended.first?.end == .reused)
}

/// Issue 16: by default a connection is judged when both FINs are delivered; what lingers
/// holds no slot, and its late packets are recognised and dropped.
@Test func aConnectionClosedBothWaysIsJudgedAtOnceAndItsLateACKDropped() throws {
    var h = FlowHarness()
    exchange(&h)
    let requestEnd = c + 1 + 18
    h.send(fromGateway: true, seq: requestEnd, ack: s + 1 + 27, flags: [.fin, .ack])
    #expect(h.sink.ended.isEmpty)
    h.send(fromGateway: false, seq: s + 1 + 27, ack: requestEnd + 1, flags: [.fin, .ack])
    let connection = try #require(h.sink.ended.first)
    #expect(connection.end == .closed)
    #expect(connection.facts.last.frame == 7)
    #expect(h.table.liveConnections == 0)
    #expect(h.table.lingeringCount == 1)
    // The gateway's last ACK and a retransmitted FIN: late, no new connection.
    h.send(fromGateway: true, seq: requestEnd + 1, ack: s + 1 + 28, flags: .ack)
    #expect(h.table.lastSegmentWasLate)
    h.send(fromGateway: false, seq: s + 1 + 27, ack: requestEnd + 1, flags: [.fin, .ack])
    #expect(h.table.lastSegmentWasLate)
    #expect(h.sink.started == [1])
    #expect(h.sink.ended.count == 1)
    #expect(connection.facts.client.packets == 4)
    #expect(connection.facts.history == "ShADdFf")
    // The linger ends 5 s after the last late packet: the key is let go.
    h.table.sweep(now: Timestamp(nanoseconds: 9 * 1_000_000 + 5_000_000_000 - 1), sink: &h.sink)
    #expect(h.table.lingeringCount == 1)
    h.table.sweep(now: Timestamp(nanoseconds: 9 * 1_000_000 + 5_000_000_000), sink: &h.sink)
    #expect(h.table.lingeringCount == 0)
    h.finish()
    #expect(h.sink.ended.count == 1)
}

@Test func aFreshSYNOnAJudgedConnectionsPortsOpensANewOneAndItsRetransmittedSYNDoesNot() throws {
    var h = FlowHarness()
    exchange(&h)
    h.send(fromGateway: false, seq: s + 28, ack: c + 19, flags: [.rst, .ack])
    #expect(h.sink.ended.map(\.id) == [1])
    #expect(h.sink.ended.first?.end == .closed)
    #expect(h.sink.ended.first?.facts.server.rst?.frame == 6)
    h.send(fromGateway: true, seq: c, flags: .syn)
    #expect(h.table.lastSegmentWasLate)
    h.send(fromGateway: true, seq: c + 100_000, flags: .syn)
    #expect(!h.table.lastSegmentWasLate)
    h.finish()
    #expect(h.sink.started == [1, 2])
    #expect(h.sink.ended.map(\.id) == [1, 2])
    #expect(h.sink.ended.last?.facts.syn?.frame == 8)
}

@Test func retransmittedSYNIsCountedNotANewConnection() throws {
    var h = FlowHarness()
    h.send(fromGateway: true, seq: c, flags: .syn, at: 0)
    h.send(fromGateway: true, seq: c, flags: .syn, at: 1000)
    h.send(fromGateway: true, seq: c, flags: .syn, at: 3000)
    h.finish(at: 3000)
    let connection = try #require(h.sink.ended.first)
    #expect(h.sink.ended.count == 1)
    #expect(connection.facts.synCount == 3)
    #expect(connection.facts.history == "ST")
}

@Test func idleConnectionIsEvictedWithAFinding() throws {
    var h = FlowHarness(limits: ReassemblyLimits(idleTimeout: 10 * 1_000_000_000))
    exchange(&h)
    // A packet of another connection 20 s later drives the sweep.
    let other = Endpoint(address: .v4(0x0a00_0006), port: 40000)
    var payload: [UInt8] = []
    payload.withUnsafeBytes { raw in
        let segment = TCPSegment(
            source: other, destination: h.upstream, sequence: 1, acknowledgment: 0, flags: .syn, window: 100,
            payload: raw, payloadFrameOffset: nil, payloadWireLength: 0)
        h.table.process(segment, frame: 99, time: Timestamp(nanoseconds: 20_000_000_000), sink: &h.sink)
    }
    payload = []
    let evicted = try #require(h.sink.ended.first)
    #expect(evicted.end == .idleEvicted)
    #expect(evicted.findings.map(\.code) == [.tcpIdleEvicted])
    #expect(evicted.findings.first?.evidence.first?.frame == 5)
    #expect(h.table.liveConnections == 1)
}

@Test func fullFlowTableEndsTheQuietestConnectionWithAFinding() throws {
    var h = FlowHarness(limits: ReassemblyLimits(maxConnections: 1))
    h.send(fromGateway: true, seq: c, flags: .syn)
    let other = Endpoint(address: .v4(0x0a00_0006), port: 40000)
    [UInt8]().withUnsafeBytes { raw in
        let segment = TCPSegment(
            source: other, destination: h.upstream, sequence: 1, acknowledgment: 0, flags: .syn, window: 100,
            payload: raw, payloadFrameOffset: nil, payloadWireLength: 0)
        h.table.process(segment, frame: 2, time: Timestamp(nanoseconds: 2_000_000), sink: &h.sink)
    }
    let first = try #require(h.sink.ended.first)
    #expect(first.end == .flowTableFull)
    #expect(first.findings.map(\.code) == [.limitFlowTable])
    #expect(h.table.flowTableEvictions == 1)
}

@Test func lostServerSegmentIsAGapOnceTheGatewayAcknowledgesIt() {
    var h = FlowHarness()
    exchange(&h, response: "HTTP/1.1 200 OK\r\n")
    // The next 10 response bytes are missing from the capture; the gateway ACKs past them.
    h.send(fromGateway: true, seq: c + 19, ack: s + 1 + 17 + 10, flags: .ack)
    let serverEvents = h.sink.events.filter { $0.direction == .server }.map(\.event)
    #expect(serverEvents.last == .gap(17..<27, .notCaptured))
}

@Test func zeroWindowAndItsProbeAreRecognised() throws {
    var h = FlowHarness()
    exchange(&h)
    // The upstream's window closes; the gateway probes it with one byte, which the upstream
    // drops (its ACK does not move); when the window opens the gateway sends the byte again
    // with the next one.
    h.send(fromGateway: false, seq: s + 28, ack: c + 19, flags: .ack, window: 0)
    h.send(fromGateway: true, seq: c + 19, ack: s + 28, flags: [.ack], Array("P".utf8))
    h.send(fromGateway: false, seq: s + 28, ack: c + 19, flags: .ack, window: 0)
    h.send(fromGateway: false, seq: s + 28, ack: c + 19, flags: .ack, window: 512)
    h.send(fromGateway: true, seq: c + 19, ack: s + 28, flags: [.ack], Array("PQ".utf8))
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.facts.client.zeroWindowProbes == 1)
    #expect(connection.facts.server.zeroWindowAdvertisements == 2)
    #expect(connection.facts.history == "ShADdawT")
    #expect(connection.clientStream.findings.isEmpty)
    #expect(connection.clientStream.keepAliveProbes == 0)
    #expect(connection.clientStream.nextOffset == 20)
}

@Test func fullFlowTableEndsTheQuietestSixteenthInOrderOfID() throws {
    var h = FlowHarness(limits: ReassemblyLimits(maxConnections: 32))
    let upstream = h.upstream
    func syn(port: UInt16, frame: FrameNumber, millisecond: Int64) {
        var table = h.table
        var sink = h.sink
        [UInt8]().withUnsafeBytes { raw in
            let segment = TCPSegment(
                source: Endpoint(address: .v4(0x0a00_0006), port: port), destination: upstream, sequence: 1, acknowledgment: 0,
                flags: .syn, window: 100, payload: raw, payloadFrameOffset: nil, payloadWireLength: 0)
            table.process(segment, frame: frame, time: Timestamp(nanoseconds: millisecond * 1_000_000), sink: &sink)
        }
        h.table = table
        h.sink = sink
    }
    // 32 connections; the 5th and the 2nd were quiet longest (their packets came first).
    let order: [UInt16] = [5, 2] + (1...32).map(UInt16.init).filter { $0 != 5 && $0 != 2 }
    // Frames in port order, so ids follow ports; each time from its rank in `order`.
    for port in UInt16(1)...32 {
        let quietRank = Int64(order.firstIndex(of: port)!)
        syn(port: 40_000 + port, frame: FrameNumber(port), millisecond: 10 + quietRank)
    }
    #expect(h.table.liveConnections == 32)
    syn(port: 41_000, frame: 33, millisecond: 100)
    #expect(h.sink.ended.map(\.id) == [2, 5])
    #expect(h.sink.ended.allSatisfy { $0.end == .flowTableFull })
    #expect(h.table.flowTableEvictions == 2)
    #expect(h.table.liveConnections == 31)
}

// MARK: Issue 15 item 7: who is the server of a connection picked up mid-stream

/// 10.0.0.5:1025 ↔ 10.0.3.24:8080 with no SYN: the lower port used to make 1025 the server.
private func midStream() -> FlowHarness {
    FlowHarness(gateway: Endpoint(address: .v4(0x0a00_0005), port: 1025), upstream: Endpoint(address: .v4(0x0a00_0318), port: 8080))
}

@Test func midStreamTheSideSendingAStatusLineIsTheServer() throws {
    var h = midStream()
    h.send(fromGateway: false, seq: 777, ack: 123, flags: [.psh, .ack], Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.server == h.upstream)
    #expect(connection.client == h.gateway)
}

@Test func midStreamTheSideSendingARequestIsTheClient() throws {
    // Ports that mislead: the gateway on 80, the upstream on an ephemeral port.
    var h = FlowHarness(gateway: Endpoint(address: .v4(0x0a00_0005), port: 80), upstream: Endpoint(address: .v4(0x0a00_0318), port: 40000))
    h.send(fromGateway: true, seq: 1, ack: 1, flags: [.psh, .ack], Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.server == h.upstream)
}

@Test func midStreamATLSServerHelloNamesTheServer() throws {
    var h = FlowHarness(gateway: Endpoint(address: .v4(0x0a00_0005), port: 443), upstream: Endpoint(address: .v4(0x0a00_0318), port: 50000))
    // A record header (handshake, TLS 1.2) and a ServerHello's type byte, from the upstream.
    h.send(fromGateway: false, seq: 9, ack: 1, flags: [.psh, .ack], [0x16, 0x03, 0x03, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2c])
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.server == h.upstream)
}

@Test func midStreamWithoutContentACommonServerPortBeatsALowerRegisteredOne() throws {
    var h = midStream()
    h.send(fromGateway: true, seq: 123, ack: 777, flags: .ack)
    h.finish()
    let connection = try #require(h.sink.ended.first)
    #expect(connection.server == h.upstream)
    #expect(connection.server.port == 8080)
}

@Test(arguments: [(UInt16(80), 3), (443, 3), (8080, 2), (8443, 2), (1025, 1), (32767, 1), (32768, 0), (51234, 0)])
func serverRanksOrderPorts(_ port: UInt16, _ rank: Int) {
    #expect(FlowTable.serverRank(port) == rank)
}
