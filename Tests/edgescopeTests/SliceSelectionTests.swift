import CaptureModel
import Foundation
import Reporting
import Testing
import TestSupport

/// Which connections get a slice: by default the ones the gateway failed on (502, 503, 504, a
/// cut response, unknown), not a 5xx the upstream itself sent and the gateway relayed.
struct SliceSelectionTests {
    /// c1: the upstream answers 503 itself (relayed); c2: it resets after the request (502).
    static func capture() throws -> String {
        let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)
        let request = Array("GET / HTTP/1.1\r\nHost: up\r\n\r\n".utf8)
        let response = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".utf8)
        var file = PcapFileBuilder()
        var time: Int64 = 1_700_000_000_000_000_000
        for (port, answer) in [(UInt16(40000), response), (40001, nil)] {
            file.appendExchange(from: Endpoint(address: .v4(0x0a00_0001), port: port), to: upstream, request: request, response: answer, time: &time)
        }
        let path = Paths.temporaryDirectory("slices") + "/relayed.pcap"
        try Data(file.build()).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func relayedFiveHundredsGetASliceOnlyWithSlicesAll() throws {
        let capture = try Self.capture()
        let out = Paths.temporaryDirectory("slices-out") + "/out"
        let run = try Run(["analyze", capture, "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONValue(parsing: String(contentsOfFile: out + "/report.json", encoding: .utf8))
        let connections = report["connections"].items
        #expect(connections.map { $0["verdict"]["class"].string } == ["relayed", "502"])
        #expect(connections.map { $0["slice"].string } == [nil, "slices/c2.pcap"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/slices") == ["c2.pcap"])

        let all = Paths.temporaryDirectory("slices-all") + "/out"
        #expect(try Run(["analyze", capture, "--out", all, "--slices", "all"]).status == 0)
        let everySlice = try FileManager.default.contentsOfDirectory(atPath: all + "/slices").sorted()
        #expect(everySlice == ["c1.pcap", "c2.pcap"])
    }
}
