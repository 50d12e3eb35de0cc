import Foundation
import Testing
import TestSupport

/// `analyze` reads a capture from wherever it comes (a file, `-`, /dev/stdin, a named FIFO, a
/// process substitution), plain or compressed, and writes the same report and slices as for the
/// file: only `source.path` differs. Each run goes through bash, as a user types it.
struct PipedCaptureTests {
    /// A bash command line's status and output; `$ES` is the binary, `$CAP` the capture.
    struct Shell {
        var status: Int32
        var stdout: String
        var stderr: String

        init(_ script: String, capture: String, in directory: String, deadline: Double = 60) throws {
            let process = Process()
            // timeout(1) ends the whole process group: a hang (a FIFO opened twice) is a
            // failure (status 124), not a stuck test run or a process left behind.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = ["-k", "5", String(Int(deadline)), "/bin/bash", "-c", script]
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            var environment = ProcessInfo.processInfo.environment
            environment["ES"] = Paths.buildDirectory + "/edgescope"
            environment["CAP"] = capture
            process.environment = environment
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            nonisolated(unsafe) var outData = Data()
            nonisolated(unsafe) var errData = Data()
            let readers = DispatchGroup()
            DispatchQueue.global().async(group: readers) { outData = out.fileHandleForReading.readDataToEndOfFile() }
            DispatchQueue.global().async(group: readers) { errData = err.fileHandleForReading.readDataToEndOfFile() }
            process.waitUntilExit()
            readers.wait()
            self.status = process.terminationStatus
            self.stdout = String(decoding: outData, as: UTF8.self)
            self.stderr = String(decoding: errData, as: UTF8.self)
        }
    }

    /// Where the capture comes from, as a bash command line writing `--out` to `out`.
    enum Source: String, CaseIterable, CustomTestStringConvertible {
        case standardInput, devStdin, processSubstitution, namedFIFO
        case gzipFile, zstdFile, xzFile, gzipPipe, zstdPipe, xzPipe

        var testDescription: String { self.rawValue }

        /// The command line, and the path the report names.
        func command(_ arguments: String) -> (script: String, path: String) {
            switch self {
            case .standardInput: ("cat \"$CAP\" | \"$ES\" analyze - \(arguments)", "-")
            case .devStdin: ("cat \"$CAP\" | \"$ES\" analyze /dev/stdin \(arguments)", "/dev/stdin")
            case .processSubstitution: ("\"$ES\" analyze <(cat \"$CAP\") \(arguments)", "/dev/fd/63")
            case .namedFIFO: ("mkfifo fifo && { cat \"$CAP\" > fifo & } && \"$ES\" analyze fifo \(arguments)", "fifo")
            // Named .pcap: the format is told by the magic bytes, never the name.
            case .gzipFile: ("gzip -c \"$CAP\" > c.pcap && \"$ES\" analyze c.pcap \(arguments)", "c.pcap")
            case .zstdFile: ("zstd -q -c \"$CAP\" > c.pcap && \"$ES\" analyze c.pcap \(arguments)", "c.pcap")
            case .xzFile: ("xz -c \"$CAP\" > c.pcap && \"$ES\" analyze c.pcap \(arguments)", "c.pcap")
            case .gzipPipe: ("gzip -c \"$CAP\" | \"$ES\" analyze - \(arguments)", "-")
            case .zstdPipe: ("zstd -q -c \"$CAP\" | \"$ES\" analyze /dev/stdin \(arguments)", "/dev/stdin")
            case .xzPipe: ("\"$ES\" analyze <(xz -c \"$CAP\") \(arguments)", "/dev/fd/63")
            }
        }
    }

    /// The files of an `--out` directory (slices included), by relative path.
    static func files(_ directory: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        }
        return files
    }

    /// A classic pcap of 4 MiB with failing connections (Benchmarks/generate-capture.py), read
    /// in several blocks; made once.
    static let generated: String = {
        let path = Paths.temporaryDirectory("piped-generated") + "/mixed.pcap"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Paths.packageRoot + "/Benchmarks/generate-capture.py", "--out", path, "--size-mb", "4"]
        process.standardOutput = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
        return path
    }()

    /// Each capture, its slice choice, and the slices the file gives.
    static let captures: [(path: String, arguments: String, slices: Int)] = [
        (Self.generated, "--slices all", 200),
        (Paths.captures + "/nginx/healthy-keepalive.pcapng", "--slices all", 1),
    ]

    @Test(arguments: Source.allCases)
    func everySourceGivesTheFilesReportAndSlices(source: Source) throws {
        for capture in Self.captures {
            let base = Paths.temporaryDirectory("piped-\(source.rawValue)")
            let file = try Shell("\"$ES\" analyze \"$CAP\" --out file \(capture.arguments)", capture: capture.path, in: base)
            #expect(file.status == 0, "\(file.stderr)")
            let expected = try Self.files(base + "/file")
            #expect(expected.keys.filter { $0.hasPrefix("slices/") }.count >= capture.slices, "\(expected.keys.sorted())")

            let (script, path) = source.command("--out piped \(capture.arguments)")
            let piped = try Shell(script, capture: capture.path, in: base)
            #expect(piped.status == 0, "\(source): \(piped.stderr)")
            #expect(piped.stderr.isEmpty, "\(source): \(piped.stderr)")
            let got = try Self.files(base + "/piped")
            // Nothing else in the directory: the copy kept for the slices was unlinked at once.
            #expect(got.keys.sorted() == expected.keys.sorted(), "\(source)")
            for (name, bytes) in expected.sorted(by: { $0.key < $1.key }) {
                var want = bytes
                if !name.hasPrefix("slices/") {
                    // source.path, and where the HTML and Markdown reports show it.
                    want = Data(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: capture.path, with: path).utf8)
                }
                #expect(got[name] == want, "\(source) \(capture.path): \(name) differs")
            }
        }
    }

    /// The text summary too, and without --out (nothing kept for slices).
    @Test func standardInputSummaryIsTheFilesSummary() throws {
        let base = Paths.temporaryDirectory("piped-summary")
        let file = try Shell("\"$ES\" analyze \"$CAP\"", capture: Self.generated, in: base)
        let piped = try Shell("gzip -c \"$CAP\" | \"$ES\" analyze -", capture: Self.generated, in: base)
        #expect(piped.status == 0)
        #expect(piped.stdout == file.stdout.replacingOccurrences(of: Self.generated, with: "-"))
        #expect(piped.stdout.contains("(EN10MB, "))
    }

    /// Compressed data cut short or corrupt, from a file or a pipe: the report of what was read,
    /// and a warning on stderr and in the report, as for a pcap cut in the middle of a record.
    @Test(arguments: ["gzip", "zstd", "xz"], [false, true])
    func aBrokenCompressedCaptureIsReportedWithAWarning(tool: String, corrupt: Bool) throws {
        let base = Paths.temporaryDirectory("piped-broken")
        let breaking = corrupt
            ? "python3 -c 'import sys; b = bytearray(open(\"c\", \"rb\").read()); n = len(b) // 2; b[n:n + 64] = bytes(x ^ 0x5a for x in b[n:n + 64]); open(\"c\", \"wb\").write(b)'"
            : "truncate -s $(( $(stat -c %s c) / 2 )) c"
        let flag = tool == "xz" ? "" : "-q"
        for (reading, path) in [("\"$ES\" analyze c --json", "c"), ("cat c 2>/dev/null | \"$ES\" analyze - --json", "-")] {
            let run = try Shell("\(tool) \(flag) -c \"$CAP\" > c && \(breaking) && \(reading)", capture: Self.generated, in: base)
            #expect(run.status == 0, "\(tool) \(corrupt): \(run.stderr)")
            let lines = run.stderr.split(separator: "\n")
            // zstd and xz check each block before handing it out; zlib checks a member's CRC only
            // at its end, so libpcap meets the garbage first (an impossible record length).
            let what = !corrupt ? "the \(tool) data is cut short (the compressed stream ends before its end)"
                : tool == "gzip" ? "bigger than snaplen of 262144 (in gzip-compressed data: `gzip -t` checks the file)"
                : "the \(tool) data is corrupt ("
            // The first line says where and why reading stopped; garbage that reached the decoder
            // before the check failed may add the report's own warning about it (each once).
            #expect(lines.allSatisfy { $0.hasPrefix("edgescope: warning: ") }, "\(run.stderr)")
            #expect(Set(lines).count == lines.count, "\(run.stderr)")
            #expect(lines.first?.hasPrefix("edgescope: warning: \(path): stopped after frame ") == true, "\(run.stderr)")
            #expect(lines.first?.contains(what) == true, "\(run.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let source = document?["source"] as? [String: Any]
            #expect(source?["complete"] as? Bool == false)
            #expect((source?["read_error"] as? String)?.contains(what) == true)
            #expect((source?["packets"] as? Int ?? 0) > 0)
            let warnings = document?["warnings"] as? [String] ?? []
            #expect(warnings.contains { $0.hasPrefix("The capture is cut short: stopped after frame ") && $0.contains(what) }, "\(warnings)")
        }
    }

    // MARK: How short a capture can be (issue 13, item 9)

    static func write(_ bytes: [UInt8]) throws -> String {
        let path = Paths.temporaryDirectory("short-captures") + "/capture.pcap"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let header: [UInt8] = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]

    @Test func theMissingFileMessageNamesThePathOnce() throws {
        let run = try Run(["analyze", "/nonexistent/dir/capture.pcap"])
        #expect(run.status == 2)
        #expect(run.stderr == "edgescope: cannot read capture /nonexistent/dir/capture.pcap: No such file or directory\n")
    }

    /// A valid header and no packets: a capture with nothing in it, reported (0 connections) with
    /// a warning.
    @Test func aHeaderOnlyCaptureIsReportedWithNoPackets() throws {
        let path = try Self.write(Self.header)
        let run = try Run(["analyze", path])
        #expect(run.status == 0)
        #expect(run.stderr == "edgescope: warning: \(path): no packets (only the capture header)\n")
        #expect(!run.stdout.contains("warning"))  // warnings go to stderr only, once
        #expect(run.stdout.contains("0 connection(s), 0 not healthy"))
        let json = try Run(["analyze", path, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((document?["connections"] as? [Any])?.count == 0)
        #expect((document?["warnings"] as? [String]) == ["The capture holds no packets: only its header."])
        #expect((document?["source"] as? [String: Any])?["complete"] as? Bool == true)
    }

    /// A header and part of the first record: a capture cut in the middle of a record, like any
    /// other: the report (of no frames) and a warning, status 0.
    @Test(arguments: [1, 15, 16 + 10])
    func aHeaderAndPartOfARecordIsACaptureCutShort(extra: Int) throws {
        // A record header saying 60 bytes, then fewer than that.
        let record: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0] + [UInt8](repeating: 0, count: 60)
        let path = try Self.write(Self.header + record.prefix(extra))
        let run = try Run(["analyze", path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.errorLines.count == 1)
        #expect(run.errorLines.first?.hasPrefix("edgescope: warning: \(path): stopped after frame 0: the file is cut off in the middle of a record (truncated dump file; ") == true, "\(run.stderr)")
        #expect(run.errorLines.first?.hasSuffix("; reporting no frames") == true, "\(run.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect((document?["connections"] as? [Any])?.count == 0)
        #expect((document?["source"] as? [String: Any])?["complete"] as? Bool == false)
        #expect((document?["warnings"] as? [String])?.first?.hasSuffix("This report covers no frames.") == true)
    }

    /// Too short for a header: not a capture, one line and status 2.
    @Test(arguments: [0, 4, 23])
    func aFileTooShortForAHeaderIsStatusTwo(length: Int) throws {
        let path = try Self.write(Array(Self.header.prefix(length)))
        let run = try Run(["analyze", path])
        #expect(run.status == 2)
        #expect(run.errorLines.count == 1)
        #expect(run.errorLines.first?.hasPrefix("edgescope: cannot read capture \(path): ") == true, "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }
}
