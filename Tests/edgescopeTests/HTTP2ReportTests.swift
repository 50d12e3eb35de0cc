import Foundation
import PcapSource
import Reporting
import Testing
import TestSupport

/// An HTTP/2 connection in every report: the verdict, the stream of the evidence, the stream table.
@Suite struct HTTP2ReportTests {
    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags, 0, 0, 0, UInt8(stream)] + payload
    }

    static func literal(_ name: String, _ value: String) -> [UInt8] {
        [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
    }

    /// nginx grpc_pass's opening and a gRPC call on stream 1; the upstream's SETTINGS, its ACK and
    /// an RST_STREAM REFUSED_STREAM (at stream offset 18), in one segment.
    static func outputs() throws -> [String: String] {
        let request = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            + frame(4, stream: 0, [0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff])
            + frame(1, flags: 5, stream: 1, literal(":method", "POST") + literal(":path", "/pkg.Svc/Call") + literal(":authority", "api.test"))
        let response = frame(4, stream: 0) + frame(4, flags: 1, stream: 0) + frame(3, stream: 1, [0, 0, 0, 7])
        let path = Paths.temporaryDirectory("http2-report") + "/rst.pcap"
        try PcapFileBuilder.oneExchange(request: request, response: response).write(to: path)
        let directory = Paths.temporaryDirectory("http2-report-out") + "/out"
        let run = try Run(["analyze", path, "--out", directory])
        #expect(run.status == 0, "\(run.stderr)")
        var texts = ["stdout": run.stdout]
        for name in ["report.json", "report.md", "report.html"] {
            texts[name] = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        }
        return texts
    }

    @Test func streamsInEveryFormat() throws {
        let texts = try Self.outputs()
        let json = try JSONValue(parsing: texts["report.json"]!)
        let connection = try #require(json["connections"].items.first)
        #expect(connection["verdict"]["code"].string == "h2.rst_stream.before_response")
        #expect(connection["verdict"]["gateways"]["nginx"]["log"].string == "upstream rejected request with error 7 while reading response header from upstream")
        let evidence = try #require(connection["evidence"].items.first)
        #expect(evidence["stream_id"].int == 1)
        #expect(evidence["stream_offset"].int == 18)
        #expect(evidence["frame"].int == 5)
        #expect(connection["transactions"].items.first?["stream_id"].int == 1)
        #expect(connection["transactions"].items.first?["request"]["target"].string == "/pkg.Svc/Call")

        let stdout = texts["stdout"]!
        #expect(stdout.contains("evidence: server frame 5 +72, HTTP/2 stream 1, stream offset 18: an RST_STREAM frame with error REFUSED_STREAM (7)"), "\(stdout)")
        #expect(stdout.contains("    stream 1: POST /pkg.Svc/Call → no response\n"), "\(stdout)")
        let markdown = texts["report.md"]!
        #expect(markdown.contains(", HTTP/2 stream 1, stream offset 18:"), "\(markdown)")
        #expect(markdown.contains("| stream | request | upstream sent | complete |\n|---:|---|---|---|\n| 1 | `POST /pkg.Svc/Call` | no response | no |"), "\(markdown)")
        let html = texts["report.html"]!
        #expect(html.contains("<th>stream</th>"))
        #expect(html.contains(" · HTTP/2 stream 1 · stream offset 18"))
    }
}
