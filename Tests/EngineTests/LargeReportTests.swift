import CaptureModel
import Engine
import PacketDecoding
import Reporting
import Testing
import TestSupport

/// A pool of four upstreams, 10,000 connections: one member sends a malformed header on one
/// connection in five of its own, and another refuses one connection in twenty-five.
@Test func tenThousandConnectionReportStaysSmallAndPointsAtTheBadMember() throws {
    var engine = Engine(linkType: .ethernet, options: AnalysisOptions())
    var number: FrameNumber = 0
    let start: Int64 = 1_776_075_462_000_000_000
    func feed(_ bytes: [UInt8], at nanoseconds: Int64) {
        number += 1
        withFrame(bytes, number: number, timestamp: Timestamp(nanoseconds: start + nanoseconds)) { _ = engine.process($0) }
    }
    let upstreams = (0..<4).map { Endpoint(address: .v4(0x0a00_030a + UInt32($0)), port: 8080) }
    let request = Array("GET /v1/items HTTP/1.1\r\nHost: api\r\n\r\n".utf8)
    let good = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
    let bad = Array("HTTP/1.1 200 OK\r\nContent Length: 2\r\n\r\nok".utf8)
    var expectedFailures = 0
    for index in 0..<10_000 {
        let client = Endpoint(address: .v4(0x0a00_0001), port: UInt16(20_000 + index))
        let server = upstreams[index % 4]
        let t = Int64(index) * 2_000_000  // a connection every 2 ms, 20 s in all
        feed(FrameBuilder.tcp(from: client, to: server, seq: 100, flags: .syn), at: t)
        if index % 100 == 99 {
            feed(FrameBuilder.tcp(from: server, to: client, seq: 0, ack: 101, flags: [.rst, .ack]), at: t + 10_000)
            expectedFailures += 1
            continue
        }
        let response = index % 4 == 2 && index % 5 == 0 ? bad : good
        if response == bad { expectedFailures += 1 }
        feed(FrameBuilder.tcp(from: server, to: client, seq: 900, ack: 101, flags: [.syn, .ack]), at: t + 10_000)
        feed(FrameBuilder.tcp(from: client, to: server, seq: 101, ack: 901, flags: .ack), at: t + 20_000)
        feed(FrameBuilder.tcp(from: client, to: server, seq: 101, ack: 901, flags: [.psh, .ack], payload: request), at: t + 30_000)
        let requestEnd = 101 + UInt32(request.count)
        feed(FrameBuilder.tcp(from: server, to: client, seq: 901, ack: requestEnd, flags: [.psh, .ack], payload: response), at: t + 300_000)
        let responseEnd = 901 + UInt32(response.count)
        feed(FrameBuilder.tcp(from: client, to: server, seq: requestEnd, ack: responseEnd, flags: [.fin, .ack]), at: t + 310_000)
        feed(FrameBuilder.tcp(from: server, to: client, seq: responseEnd, ack: requestEnd + 1, flags: [.fin, .ack]), at: t + 320_000)
        feed(FrameBuilder.tcp(from: client, to: server, seq: requestEnd + 1, ack: responseEnd + 1, flags: .ack), at: t + 330_000)
    }
    let result = engine.finish()
    #expect(result.tally.connections == 10_000)
    #expect(result.tally.failed == expectedFailures)
    #expect(expectedFailures == 100 + 500)

    let json = JSONReport.document(result, source: SourceInfo(path: "pool-of-four.pcap", snapLength: 262_144))
    let rendered = JSONReport.renderings(of: json)
    let htmlBytes = rendered.html.utf8.count
    print("10,000 connections (\(expectedFailures) failing): report.json \(json.serialized(pretty: true).utf8.count) bytes, report.html \(htmlBytes) bytes, report.md \(rendered.markdown.utf8.count) bytes")
    #expect(htmlBytes < HTMLReport.sizeLimit)
    #expect(htmlBytes < 4_000_000)
    #expect(rendered.markdown.utf8.count < 200_000)
    // The worst 500 get a section (the refusals, then the header failures by id), the rest are counted.
    #expect(rendered.html.components(separatedBy: "<article class=\"conn").count - 1 == HTMLReport.connectionsDetailed)
    #expect(rendered.html.contains("\(expectedFailures - 500) more failing connection(s) are counted in the summary"))
    #expect(rendered.html.contains("9400 healthy connection(s) are counted, not listed."))
    // The bad member stands out in the table and in the headline.
    #expect(rendered.html.contains("<tr class=\"bad\" data-upstream=\"10.0.3.12:8080\"><td><code>10.0.3.12:8080</code></td><td></td><td class=\"n\">2500</td><td class=\"n failed\">500</td><td class=\"n\">20%</td>"))
    #expect(rendered.html.contains("<p class=\"headline\" id=\"headline\">10.0.3.12:8080 sent a malformed header on 500 of 2500 connections (http.header.name_ctl_or_space); 1 other upstream failed too.</p>"))
    #expect(rendered.markdown.contains("| **`10.0.3.12:8080`** |  | 2500 | 500 | 20% | 0 | `http.header.name_ctl_or_space` ×500 |"))
}
