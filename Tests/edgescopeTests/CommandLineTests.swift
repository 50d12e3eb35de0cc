import CaptureModel
import Foundation
import PacketDecoding
import Testing
import TestSupport

/// Runs the built `edgescope` and captures its exit status, stdout and stderr. With a deadline,
/// a run still going when it passes is ended and marked `timedOut`: a hang is a failure, not a
/// stuck test run.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut = false

    init(_ arguments: [String], deadline seconds: Double? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.buildDirectory + "/edgescope")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        // Drain both pipes while waiting, so a large report cannot block the child.
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if let seconds {
            self.timedOut = done.wait(timeout: .now() + seconds) == .timedOut
            if self.timedOut {
                process.terminate()
                done.wait()
            }
        } else {
            done.wait()
        }
        readers.wait()
        self.status = process.terminationStatus
        self.stdout = String(decoding: outData, as: UTF8.self)
        self.stderr = String(decoding: errData, as: UTF8.self)
    }

    /// stderr's lines, without the empty one after the last newline.
    var errorLines: [String] { self.stderr.split(separator: "\n").map(String.init) }
}

private func write(_ bytes: [UInt8], named name: String) throws -> String {
    let path = Paths.temporaryDirectory("cli") + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

/// A small valid capture: a refused connection (SYN, RST-ACK).
private func refusedCapture(format: PcapFileBuilder.Format = .pcapMicroseconds, linkType: LinkType = .ethernet) -> PcapFileBuilder {
    let gateway = Endpoint(address: .v4(0x7f00_0001), port: 40000)
    let upstream = Endpoint(address: .v4(0x7f00_0001), port: 18082)
    var file = PcapFileBuilder(format: format, linkType: linkType)
    file.append(FrameBuilder.tcp(from: gateway, to: upstream, seq: 7, flags: .syn, link: linkType), at: Timestamp(nanoseconds: 1_000_000_000))
    file.append(FrameBuilder.tcp(from: upstream, to: gateway, seq: 0, ack: 8, flags: [.rst, .ack], link: linkType), at: Timestamp(nanoseconds: 1_000_010_000))
    return file
}

@Test func missingFileIsOneLineAndStatusTwo() throws {
    let run = try Run(["analyze", "/nonexistent/dir/capture.pcap"])
    #expect(run.status == 2)
    #expect(run.errorLines.count == 1)
    #expect(run.errorLines.first?.hasPrefix("edgescope: cannot read capture /nonexistent/dir/capture.pcap: ") == true)
    #expect(run.stderr.contains("No such file or directory"))
    #expect(run.stdout.isEmpty)
}

@Test func emptyFileIsOneLineAndStatusTwo() throws {
    let path = try write([], named: "empty.pcap")
    let run = try Run(["analyze", path])
    #expect(run.status == 2)
    #expect(run.errorLines == ["edgescope: cannot read capture \(path): empty file: no capture header"])
}

@Test func fileThatIsNotACaptureIsOneLineAndStatusTwo() throws {
    let path = try write(Array("GET / HTTP/1.1\r\nHost: example\r\n\r\n".utf8), named: "request.txt")
    let run = try Run(["analyze", path])
    #expect(run.status == 2)
    #expect(run.errorLines == ["edgescope: cannot read capture \(path): not a pcap or pcapng capture (unknown file format)"])
}

@Test func truncatedGlobalHeaderIsOneLineAndStatusTwo() throws {
    let path = try write(Array(refusedCapture().build().prefix(10)), named: "header.pcap")
    let run = try Run(["analyze", path])
    #expect(run.status == 2)
    #expect(run.errorLines.count == 1)
    #expect(run.stderr.contains(path))
    #expect(run.stderr.contains("truncated"))
}

@Test func unsupportedLinkTypeIsOneLineAndStatusTwo() throws {
    // DLT_IEEE802_11 (105): a valid pcap of 802.11 frames, which edgescope does not decode.
    var file = PcapFileBuilder(linkType: LinkType(rawValue: 105))
    file.append([1, 2, 3, 4], at: Timestamp(nanoseconds: 0))
    let path = try write(file.build(), named: "wifi.pcap")
    let run = try Run(["analyze", path])
    #expect(run.status == 2)
    #expect(run.errorLines.count == 1)
    #expect(run.stderr.contains("unsupported link type IEEE802_11 (105)"))
}

@Test func captureCutMidRecordStillReportsWhatCameBefore() throws {
    let whole = refusedCapture().build()
    // Cut 5 bytes into the second record's data: the first record (the SYN) is intact.
    let firstRecordEnd = 24 + 16 + FrameBuilder.tcp(
        from: Endpoint(address: .v4(0x7f00_0001), port: 40000), to: Endpoint(address: .v4(0x7f00_0001), port: 18082),
        seq: 7, flags: .syn).count
    let path = try write(Array(whole.prefix(firstRecordEnd + 16 + 5)), named: "cut.pcap")
    let run = try Run(["analyze", path, "--json"])
    #expect(run.status == 0)
    #expect(run.errorLines.count == 1)
    #expect(run.errorLines.first?.hasPrefix("edgescope: warning: \(path): stopped after frame 1: the file is cut off in the middle of a record") == true)
    let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    let source = try #require(report["source"] as? [String: Any])
    #expect(source["packets"] as? Int == 1)
    #expect(source["complete"] as? Bool == false)
    let warnings = try #require(report["warnings"] as? [String])
    #expect(warnings.contains { $0.contains("covers frames 1-1") })
    let connections = try #require(report["connections"] as? [[String: Any]])
    #expect(connections.count == 1)
}

@Test func badUpstreamIsAUsageErrorWithStatusOne() throws {
    let path = try write(refusedCapture().build(), named: "ok.pcap")
    let run = try Run(["analyze", path, "--upstream", "not-an-address"])
    #expect(run.status == 1)
    #expect(run.stderr.contains("--upstream 'not-an-address' is not [NAME=]ADDR[:PORT]"))
}

@Test func unknownOptionIsAUsageErrorWithStatusOne() throws {
    let run = try Run(["analyze", "--no-such-option"])
    #expect(run.status == 1)
}

@Test func jsonReportFollowsTheContract() throws {
    let path = try write(refusedCapture(format: .pcapNanoseconds).build(), named: "refused.pcap")
    let run = try Run(["analyze", path, "--json"])
    #expect(run.status == 0)
    let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    #expect(report["schema"] as? String == "edgescope.report/1")
    let source = try #require(report["source"] as? [String: Any])
    #expect(source["link_type"] as? String == "EN10MB")
    #expect(source["packets"] as? Int == 2)
    #expect(source["first_time"] as? String == "1970-01-01T00:00:01.000000000Z")
    let upstreams = try #require(report["upstreams"] as? [[String: Any]])
    #expect(upstreams.first?["server"] as? String == "127.0.0.1:18082")
    #expect(upstreams.first?["failed"] as? Int == 1)
    #expect((upstreams.first?["causes"] as? [String: Int])?["tcp.connect.refused"] == 1)
    let connection = try #require((report["connections"] as? [[String: Any]])?.first)
    #expect(connection["id"] as? String == "c1")
    #expect(connection["client"] as? String == "127.0.0.1:40000")
    #expect(connection["server"] as? String == "127.0.0.1:18082")
    #expect(connection["start"] as? String == "1970-01-01T00:00:01.000000000Z")
    #expect(connection["end"] as? String == "1970-01-01T00:00:01.000010000Z")
    #expect(connection["frames"] as? [Int] == [1, 2])
    let tcp = try #require(connection["tcp"] as? [String: Any])
    #expect(tcp["history"] as? String == "Sr")
    #expect(tcp["reset_by"] as? String == "server")
    #expect(tcp["closed_by"] as? String == "none")
    let verdict = try #require(connection["verdict"] as? [String: Any])
    #expect(verdict["code"] as? String == "tcp.connect.refused")
    #expect(verdict["class"] as? String == "502")
    #expect(verdict["phase"] as? String == "connect")
    let nginx = try #require((verdict["gateways"] as? [String: Any])?["nginx"] as? [String: Any])
    #expect(nginx["status"] as? Int == 502)
    let findings = try #require(connection["findings"] as? [[String: Any]])
    #expect(findings.first?["code"] as? String == "tcp.connect.refused")
    #expect(findings.first?["severity"] as? String == "fatal")
    let evidence = try #require(connection["evidence"] as? [[String: Any]])
    #expect(evidence.first?["frame"] as? Int == 2)
    #expect(evidence.first?["direction"] as? String == "server")
    #expect(connection["slice"] is NSNull)
}

@Test func outWritesReportsAndASliceWithExactlyTheConnectionsFrames() throws {
    let directory = Paths.temporaryDirectory("out") + "/report"
    let capture = Paths.captures + "/nginx/any-mixed.pcap"
    let run = try Run(["analyze", capture, "--out", directory])
    #expect(run.status == 0)
    #expect(run.stdout.contains("tcp.connect.refused"))
    let report = try #require(try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))) as? [String: Any])
    let connections = try #require(report["connections"] as? [[String: Any]])
    let refused = try #require(connections.first { ($0["verdict"] as? [String: Any])?["code"] as? String == "tcp.connect.refused" })
    let slice = try #require(refused["slice"] as? String)
    let frames = try #require(refused["frames"] as? [Int])
    #expect(FileManager.default.fileExists(atPath: directory + "/report.md"))

    // The slice holds the same packets as the original capture's frames of that connection,
    // byte for byte and with the same nanosecond times, in the original link type.
    let sliceText = try Run(["analyze", directory + "/" + slice, "--json"])
    let sliceReport = try #require(try JSONSerialization.jsonObject(with: Data(sliceText.stdout.utf8)) as? [String: Any])
    let sliceSource = try #require(sliceReport["source"] as? [String: Any])
    #expect(sliceSource["link_type"] as? String == "LINUX_SLL2")
    #expect(sliceSource["packets"] as? Int == frames[1] - frames[0] + 1)
    let sliceConnection = try #require((sliceReport["connections"] as? [[String: Any]])?.first)
    #expect((sliceConnection["verdict"] as? [String: Any])?["code"] as? String == "tcp.connect.refused")
    #expect(sliceConnection["start"] as? String == refused["start"] as? String)
    #expect(sliceConnection["client"] as? String == refused["client"] as? String)

    // Healthy connections are counted, not listed, and get no slice unless asked for.
    #expect(!connections.contains { ($0["verdict"] as? [String: Any])?["code"] as? String == "none" })
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/slices").sorted() == connections.compactMap { ($0["slice"] as? String)?.dropFirst("slices/".count).description }.sorted())
    let attributes = try FileManager.default.attributesOfItem(atPath: directory)
    #expect((attributes[.posixPermissions] as? Int) == 0o700)
}

@Test func textSummaryNamesCauseUpstreamAndEvidenceFrame() throws {
    let run = try Run(["analyze", Paths.captures + "/nginx/rst-before-response.pcap"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("127.0.0.1:18083  1 conn, 1 failed  (tcp.rst.before_response ×1)"))
    #expect(run.stdout.contains("evidence: server frame 6"))
    #expect(run.stderr.isEmpty)
}

@Test func markdownReportGivesEachCauseOnceWithAnExampleAndItsHexdump() throws {
    let directory = Paths.temporaryDirectory("md") + "/out"
    let run = try Run(["analyze", Paths.captures + "/nginx/pool-of-three.pcap", "--gateway", "nginx:1.22", "--out", directory])
    #expect(run.status == 0)
    let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
    #expect(markdown.contains("| **`127.0.0.1:18091`** |  | 3 | 3 | 100% | 0 | `http.header.name_ctl_or_space` ×3 |"))
    #expect(markdown.contains("| `127.0.0.1:18090` |  | 1 | 0 | 0% | 0 |  |"))
    #expect(markdown.contains("| `http.header.name_ctl_or_space` | 3 | 502 | `127.0.0.1:18091` ×3 |"))
    // The cause once, with its count and one example: the worst, first in the capture.
    #expect(markdown.components(separatedBy: "### `http.header.name_ctl_or_space` ×3").count == 2)
    #expect(markdown.contains("Example c2: `127.0.0.1:34536` → `127.0.0.1:18091`, frames 8–16"))
    #expect(markdown.contains("| haproxy | 502 | `PH` |"))
    // The hexdump, fenced, marks the space before the colon; the frame that proves it is named.
    #expect(markdown.contains("```\n00000021  78 74 2f 70 6c 61 69 6e 0d 0a 43 6f 6e 74 65 6e   xt/plain..Conten\n00000031  74 2d 4c 65 6e 67 74 68[20] 3a 20 35 0d 0a 0d 0a  t-Length[ ]: 5....\n```"))
    #expect(markdown.contains("Evidence: server frame 13 (byte 123 of the frame), stream offset 57"))
    #expect(markdown.contains("Slice: [slices/c2.pcap](slices/c2.pcap)"))
    // Every failing connection in the table, worst first.
    #expect(markdown.contains("## Failing connections"))
    for id in ["c2", "c4", "c5"] {
        #expect(markdown.contains("| \(id) | `127.0.0.1:"))
    }
}

@Test func textSummaryShowsTheHexdumpWithTheOffendingByteMarked() throws {
    let run = try Run(["analyze", Paths.captures + "/nginx/pool-of-three.pcap", "--gateway", "nginx:1.22"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("127.0.0.1:18091  3 conn, 3 failed  (http.header.name_ctl_or_space ×3)"))
    #expect(run.stdout.contains("[20] 3a 20 35"))
    #expect(run.stdout.contains("t-Length[ ]: 5"))
}

@Test(arguments: [["--gateway", "squid"], ["--gateway", "nginx:x.y"], ["--crl-scope", "root"]])
func unknownProfileOrScopeIsAUsageErrorWithStatusOne(arguments: [String]) throws {
    let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap"] + arguments)
    #expect(run.status == 1)
    #expect(run.errorLines.first?.hasPrefix("edgescope: --") == true)
}
