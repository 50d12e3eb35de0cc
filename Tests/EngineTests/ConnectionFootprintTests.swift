import CaptureModel
@testable import Engine
import HTTP1
import TCPReassembly
import Testing

/// What a connection costs the engine while it lingers closed, and the pool its open state comes
/// from (issue 16): a closed connection keeps its outcome only, and a reused pool entry carries
/// nothing of the connection before.

private let okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

/// One HTTP/1.0 exchange on a new connection that the upstream closes, at `ms`.
private func shortExchange(_ harness: inout HopHarness, port: UInt16, at ms: Int64, response: String = okResponse) {
    var connection = TestConnection(
        client: Endpoint(address: .v4(0x0a00_0001), port: port), server: Endpoint(address: .v4(0x0a00_030a), port: 8080))
    harness.open(&connection, at: ms)
    harness.send(&connection, fromClient: true, "GET /item/\(port) HTTP/1.0\r\nHost: api\r\nConnection: close\r\n\r\n", at: ms + 3)
    harness.send(&connection, fromClient: false, response, at: ms + 4)
    harness.close(&connection, clientFirst: false, at: ms + 5)
    harness.packet(&connection, fromClient: false, flags: .ack, at: ms + 7)
}

/// Issue 16 item 3, the default: judged once closed both ways, the connection leaves neither a
/// flow-table slot nor a pool entry, only its key in the index; its late packets are dropped.
@Test func closedConnectionIsJudgedAtOnceAndLeavesOnlyItsKey() throws {
    var options = AnalysisOptions()
    options.queueEnded = true
    var harness = HopHarness(options: options)
    var connection = TestConnection(
        client: Endpoint(address: .v4(0x0a00_0001), port: 40_000), server: Endpoint(address: .v4(0x0a00_030a), port: 8080))
    harness.open(&connection, at: 0)
    harness.send(&connection, fromClient: true, "GET /item/40000 HTTP/1.0\r\nHost: api\r\nConnection: close\r\n\r\n", at: 3)
    harness.send(&connection, fromClient: false, okResponse, at: 4)
    harness.close(&connection, clientFirst: false, at: 5)
    let report = try #require(harness.engine.takeEnded().first)
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.end == .closed)
    #expect(report.transactions.first?.response?.status == 200)
    #expect(harness.engine.liveConnections == 0)
    #expect(harness.engine.flows.lingeringCount == 1)
    #expect(harness.engine.collector.slots.allSatisfy { $0.live == -1 && $0.settled == nil })
    #expect(harness.engine.flows.budget.retainedBytes == 0)
    // The gateway's last ACK: late, dropped, no second report.
    harness.packet(&connection, fromClient: true, flags: .ack, at: 7)
    #expect(harness.engine.lastFrameWasLate)
    #expect(harness.engine.takeEnded().isEmpty)
    #expect(harness.engine.finish().tally.connections == 1)
}

@Test func closedConnectionLingersWithItsOutcomeOnly() throws {
    var options = AnalysisOptions()
    options.queueEnded = true
    options.judgesAfterLinger = true
    var harness = HopHarness(options: options)
    shortExchange(&harness, port: 40_000, at: 0)
    // Closed both ways, not yet judged: the slot holds the settled outcome, no pool entry and
    // no retransmission memory.
    let slot = try #require(harness.engine.collector.slots.firstIndex { $0.id == 1 })
    #expect(harness.engine.liveConnections == 1)
    #expect(harness.engine.collector.slots[slot].live == -1)
    let settled = try #require(harness.engine.collector.slots[slot].settled)
    #expect(settled.outcome.transactions.count == 1)
    #expect(settled.outcome.transactions.first?.response?.status == 200)
    #expect(harness.engine.collector.freeLive.count == harness.engine.collector.live.count)
    #expect(harness.engine.flows.budget.retainedBytes == 0)

    // A late duplicate of the upstream's FIN while it lingers is still counted in the report.
    var late = TestConnection(
        client: Endpoint(address: .v4(0x0a00_0001), port: 40_000), server: Endpoint(address: .v4(0x0a00_030a), port: 8080),
        clientSeq: 1000 + 1 + UInt32("GET /item/40000 HTTP/1.0\r\nHost: api\r\nConnection: close\r\n\r\n".utf8.count) + 1,
        serverSeq: 5000 + 1 + UInt32(okResponse.utf8.count))
    harness.packet(&late, fromClient: false, flags: [.fin, .ack], at: 100)
    harness.engine.tick(now: Timestamp(nanoseconds: 1_776_075_462_000_000_000 + 10_000_000_000))
    let report = try #require(harness.engine.takeEnded().first)
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.facts.server.packets == 5)  // SYN-ACK, response, FIN, ACK, the late FIN
    #expect(report.transactions.count == 1)
    #expect(report.transactions.first?.request?.target == "/item/40000")
    #expect(report.end == .closed)
}

@Test func reusedPoolEntryCarriesNothingOfTheConnectionBefore() throws {
    var harness = HopHarness()
    // The first connection ends inside a response head: its parser held bytes when its entry
    // went back to the pool.
    shortExchange(&harness, port: 40_000, at: 0, response: "HTTP/1.1 200 OK\r\nContent-Len")
    shortExchange(&harness, port: 40_001, at: 20)
    // One entry served both: the first closed before the second opened.
    #expect(harness.engine.collector.live.count == 1)
    let result = harness.engine.finish()
    #expect(result.connections.count == 2)
    let first = result.connections[0]
    let second = result.connections[1]
    #expect(first.verdict.code == .tcpFINMidHeaders)
    #expect(first.verdict.verdictClass == .badGateway)
    #expect(second.verdict.verdictClass == .ok)
    #expect(second.findings.isEmpty)
    #expect(second.transactions.count == 1)
    #expect(second.transactions.first?.request?.target == "/item/40001")
    #expect(second.transactions.first?.response?.status == 200)
    #expect(second.transactions.first?.response?.complete == true)
}

@Test func poolFollowsOpenConnectionsNotLingeringOnes() {
    var options = AnalysisOptions()
    options.judgesAfterLinger = true
    var harness = HopHarness(options: options)
    // 300 short connections, each closed before the next opens, none judged yet (all within
    // the linger): the flow table holds 300, the pool one entry.
    for index in 0..<300 {
        shortExchange(&harness, port: UInt16(40_000 + index), at: Int64(index) * 10)
    }
    #expect(harness.engine.liveConnections == 300)
    #expect(harness.engine.collector.live.count == 1)
    #expect(harness.engine.collector.freeLive.count == harness.engine.collector.live.count)
    #expect(harness.engine.collector.slots.filter { $0.settled != nil }.count == 300)
    let result = harness.engine.finish()
    #expect(result.tally.connections == 300)
    #expect(result.tally.classes[.ok] == 300)
    #expect(result.connections.allSatisfy { $0.transactions.count == 1 && $0.transactions[0].response?.status == 200 })
}
