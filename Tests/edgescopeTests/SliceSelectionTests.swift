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
        func add(_ frame: [UInt8]) {
            time += 1_000_000
            file.append(frame, at: Timestamp(nanoseconds: time))
        }
        for (port, relayed) in [(UInt16(40000), true), (40001, false)] {
            let gateway = Endpoint(address: .v4(0x0a00_0001), port: port)
            let afterRequest = 101 + UInt32(request.count)
            add(FrameBuilder.tcp(from: gateway, to: upstream, seq: 100, flags: .syn))
            add(FrameBuilder.tcp(from: upstream, to: gateway, seq: 500, ack: 101, flags: [.syn, .ack]))
            add(FrameBuilder.tcp(from: gateway, to: upstream, seq: 101, ack: 501, flags: .ack))
            add(FrameBuilder.tcp(from: gateway, to: upstream, seq: 101, ack: 501, flags: [.psh, .ack], payload: request))
            if relayed {
                add(FrameBuilder.tcp(from: upstream, to: gateway, seq: 501, ack: afterRequest, flags: [.psh, .ack], payload: response))
                add(FrameBuilder.tcp(from: gateway, to: upstream, seq: afterRequest, ack: 501 + UInt32(response.count), flags: [.fin, .ack]))
            } else {
                add(FrameBuilder.tcp(from: upstream, to: gateway, seq: 501, ack: afterRequest, flags: [.rst, .ack]))
            }
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
