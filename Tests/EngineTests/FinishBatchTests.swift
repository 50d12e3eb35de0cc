import CaptureModel
import Engine
import PacketDecoding
import Testing
import TestSupport

/// Issue 16: the connections open when a capture ends are judged and handed over a batch at a
/// time, not all held at once; what is handed over is what `finish()` and `takeEnded()` give.

/// 2,500 short exchanges, every one still lingering when the capture ends (no sweep came), one
/// in five answered 503; returns the engine before `finish`.
private func lingering(options: AnalysisOptions) -> HopHarness {
    var harness = HopHarness(options: options)
    for index in 0..<2_500 {
        var connection = TestConnection(
            client: Endpoint(address: .v4(0x0a00_0001), port: UInt16(20_000 + index)),
            server: Endpoint(address: .v4(0x0a00_030a), port: 8080))
        let ms = Int64(index / 10)
        harness.open(&connection, at: ms)
        harness.send(&connection, fromClient: true, "GET /item/\(index) HTTP/1.0\r\nHost: api\r\n\r\n", at: ms)
        let status = index % 5 == 0 ? "503 Service Unavailable" : "200 OK"
        harness.send(&connection, fromClient: false, "HTTP/1.1 \(status)\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", at: ms)
        harness.close(&connection, clientFirst: false, at: ms)
    }
    return harness
}

@Test func theConnectionsOpenAtTheEndAreHandedOverInBatches() {
    var options = AnalysisOptions()
    // Closed connections wait out the linger, so all 2,500 are in the table at the end.
    options.judgesAfterLinger = true
    options.queueEnded = true
    options.retention = .bounded(100)
    var batched = lingering(options: options)
    #expect(batched.engine.liveConnections == 2_500)
    var batches: [[ConnectionReport]] = []
    let batchedResult = batched.engine.finish { batches.append($0) }
    #expect(batches.map(\.count) == [1_024, 1_024, 452])
    #expect(batched.engine.takeEnded().isEmpty)

    var whole = lingering(options: options)
    let wholeResult = whole.engine.finish()
    let ended = whole.engine.takeEnded()
    #expect(ended.count == 2_500)
    let describe = { (report: ConnectionReport) in "\(report.id) \(report.verdict.code) \(report.verdict.verdictClass) \(report.frames)" }
    #expect(batches.joined().map(describe) == ended.map(describe))
    #expect(batchedResult.tally.connections == 2_500)
    #expect(batchedResult.tally.classes[.relayed] == 500)
    #expect(batchedResult.tally.classes == wholeResult.tally.classes)
    #expect(batchedResult.connections.map(describe) == wholeResult.connections.map(describe))
}
