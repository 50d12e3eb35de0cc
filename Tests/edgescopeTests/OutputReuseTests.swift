import Foundation
import Testing
import TestSupport

/// `--out DIR` given again: the slices directory holds exactly the slices report.json names;
/// files edgescope does not write there are left alone.
struct OutputReuseTests {
    static func slices(_ out: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: out + "/slices").sorted()
    }

    static func namedSlices(_ out: String) throws -> [String] {
        let report = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let connections = try #require(report["connections"] as? [[String: Any]])
        return connections.compactMap { $0["slice"] as? String }.sorted()
    }

    @Test func aReusedOutKeepsOnlyTheSlicesTheNewReportNames() throws {
        let base = Paths.temporaryDirectory("reuse")
        let out = base + "/out"
        let first = try Run(["analyze", Paths.captures + "/nginx/pool-of-three.pcap", "--gateway", "nginx:1.22", "--out", out])
        #expect(first.status == 0)
        #expect(try Self.slices(out) == ["c2.pcap", "c4.pcap", "c5.pcap"])
        // Files edgescope never writes: a note, a link and a directory under slice-like names.
        try "mine".write(toFile: out + "/slices/notes.txt", atomically: false, encoding: .utf8)
        try "mine".write(toFile: out + "/slices/c2.pcap.bak", atomically: false, encoding: .utf8)
        try "target".write(toFile: base + "/target", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: out + "/slices/c77.pcap", withDestinationPath: base + "/target")
        try FileManager.default.createDirectory(atPath: out + "/slices/c88.pcap", withIntermediateDirectories: false)

        let second = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--out", out])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try Self.namedSlices(out) == ["slices/c1.pcap"])
        #expect(try Self.slices(out) == ["c1.pcap", "c2.pcap.bak", "c77.pcap", "c88.pcap", "notes.txt"])
        #expect(try String(contentsOfFile: base + "/target", encoding: .utf8) == "target")
        #expect(try String(contentsOfFile: out + "/slices/notes.txt", encoding: .utf8) == "mine")
        // The slice now named c1.pcap is the new run's connection: the refused SYN and its RST.
        let slice = try Run(["analyze", out + "/slices/c1.pcap", "--json"])
        #expect(slice.stdout.contains("\"code\": \"tcp.connect.refused\""))
    }

    @Test func aRunThatWritesNoSliceRemovesTheEarlierRunsSlices() throws {
        let out = Paths.temporaryDirectory("reuse-none") + "/out"
        #expect(try Run(["analyze", Paths.captures + "/nginx/pool-of-three.pcap", "--gateway", "nginx:1.22", "--out", out]).status == 0)
        #expect(try Self.slices(out).count == 3)
        let run = try Run(["analyze", Paths.captures + "/nginx/pool-of-three.pcap", "--gateway", "nginx:1.22", "--out", out, "--slices", "none"])
        #expect(run.status == 0)
        #expect(try Self.namedSlices(out).isEmpty)
        #expect(try Self.slices(out).isEmpty)
    }

    /// A `--list all` run writes connections.jsonl; a later run that lists less removes it, so the
    /// directory holds only what the new report describes (a file of another kind is kept).
    @Test func aRunThatListsLessRemovesTheEarlierConnectionsJSONL() throws {
        let out = Paths.temporaryDirectory("reuse-jsonl") + "/out"
        let capture = Paths.captures + "/nginx/pool-of-three.pcap"
        #expect(try Run(["analyze", capture, "--gateway", "nginx:1.22", "--out", out, "--list", "all"]).status == 0)
        let lines = try String(contentsOfFile: out + "/connections.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5)
        #expect(try Run(["analyze", capture, "--gateway", "nginx:1.22", "--out", out]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + "/connections.jsonl"))
        #expect(FileManager.default.fileExists(atPath: out + "/report.json"))
    }
}
