import CaptureModel
import Engine
import Foundation
import Testing
import TestSupport

// Issue 15, item 8: the client's first bytes on the ACK that completes the three-way handshake
// (Linux sends them so with TCP_DEFER_ACCEPT on the connecting socket, as other stacks do on
// their own). Captures made by captures/tools/handshake-ack-data.py; what is expected comes from
// their truth files (the client's and the upstream's logs, tshark's frame numbers).

/// The truth beside `capture` as JSON, and the capture analysed with the options it implies.
private func recorded(_ capture: String) throws -> (truth: [[String: Any]], result: AnalysisResult) {
    let base = Paths.captures + "/" + capture.replacingOccurrences(of: ".pcap", with: "")
    let data = try Data(contentsOf: URL(fileURLWithPath: base + ".truth.json"))
    let raw = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    let result = try analyse(Paths.captures + "/" + capture, options: try truth.options())
    return (raw["expected_connections"] as? [[String: Any]] ?? [], result)
}

@Test func aRequestOnTheHandshakesLastACKStaysOnItsConnection() throws {
    let (expected, result) = try recorded("no-gateway/tcp-data-on-handshake-ack.pcap")
    #expect(result.connections.count == 2)
    for (want, connection) in zip(expected, result.connections.sorted { $0.id < $1.id }) {
        #expect(connection.client.description == want["client"] as? String)
        #expect(connection.verdict.code.description == want["verdict"] as? String)
        // The connection starts at its SYN: the data-bearing ACK did not open a second one.
        #expect(connection.facts.syn?.frame == connection.frames.lowerBound)
        let first = try #require(connection.transactions.first?.request)
        #expect(Int(first.frame) == want["request_frame"] as? Int)
        #expect(first.offset == 0)
        #expect(first.target.hasPrefix("/h/"))
    }
    let healthy = try #require(result.connections.min { $0.id < $1.id })
    #expect(healthy.transactions.map { $0.response?.status } == [200, 200])
    let reset = try #require(result.connections.max { $0.id < $1.id })
    #expect(reset.verdict.code == .tcpRSTBeforeResponse)
    #expect(reset.verdict.verdictClass == .badGateway)
    #expect(reset.findings.first?.evidence.first?.frame.map(Int.init) == expected[1]["evidence_frame"] as? Int)
}

@Test func aClientHelloOnTheHandshakesLastACKIsReadAsTLSFromItsStart() throws {
    let (expected, result) = try recorded("no-gateway/tls-data-on-handshake-ack-keylog.pcap")
    let connection = try #require(result.connections.first)
    #expect(result.connections.count == 1)
    #expect(connection.verdict.code == .none)
    #expect(connection.tls?.decrypted == true)
    #expect(connection.tls?.version == "TLS 1.3")
    let transaction = try #require(connection.transactions.first)
    #expect(transaction.request?.target == "/t/1")
    #expect(transaction.request.map { Int($0.frame) } == expected[0]["request_frame"] as? Int)
    #expect(transaction.response?.status == 200)
}

@Test func aConnectionWhoseSYNACKTheCaptureLostIsNotAnUnfinishedConnect() throws {
    // Before: capture.truncated, "the capture ended ... before the connection attempt could
    // succeed", though data went both ways and the client got its 200.
    let (expected, result) = try recorded("no-gateway/tls-data-on-handshake-ack-no-synack-keylog.pcap")
    let connection = try #require(result.connections.first)
    #expect(result.connections.count == 1)
    #expect(connection.facts.synAck == nil)
    #expect(connection.verdict.code == .none)
    #expect(connection.verdict.verdictClass == .ok)
    let transaction = try #require(connection.transactions.first)
    #expect(transaction.request.map { Int($0.frame) } == expected[0]["request_frame"] as? Int)
    #expect(transaction.response?.status == 200)
}
