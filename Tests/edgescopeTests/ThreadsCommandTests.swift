import CaptureModel
import Foundation
import Testing
import TestSupport

/// `--threads` outside 1-64 is a usage error: one line, status 1, before the capture is read.
@Test(arguments: ["0", "65", "-1"])
func threadsOutOfRangeIsAUsageError(value: String) throws {
    let run = try Run(["analyze", Paths.captures + "/nginx/client-hop.pcap", "--threads=\(value)"])
    #expect(run.status == 1)
    #expect(run.errorLines == ["edgescope: --threads \(value): give 1 to 64 threads"])
    #expect(run.stdout.isEmpty)
}

/// The binary writes the same report.json, report.md, report.html, slices and summary with 1,
/// 2 and 3 threads: the client-hop capture (correlation across shards), a TLS capture with
/// its key log, and the largest capture.
@Test(arguments: [
    ["nginx/client-hop.pcap"],
    ["no-gateway/tls-keylog-healthy-1.3.pcap", "--keylog", Paths.captures + "/no-gateway/tls-keylog-healthy-1.3.keylog"],
    ["nginx/healthy-control.pcap", "--slices", "all"],
])
func reportsAreTheSameOnEveryThreadCount(arguments: [String]) throws {
    let capture = Paths.captures + "/" + arguments[0]
    var outputs: [(summary: String, files: [String: Data])] = []
    for threads in ["1", "2", "3"] {
        let directory = Paths.temporaryDirectory("threads") + "/out"
        let run = try Run(["analyze", capture] + arguments.dropFirst() + ["--out", directory, "--threads", threads])
        #expect(run.status == 0, "\(run.stderr)")
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
            }
        }
        outputs.append((run.stdout.replacingOccurrences(of: directory, with: "DIR"), files))
    }
    #expect(outputs[0].files["report.json"] != nil)
    #expect(outputs[0].files.keys.contains { $0.hasPrefix("slices/") } || arguments[0] == "no-gateway/tls-keylog-healthy-1.3.pcap")
    for output in outputs.dropFirst() {
        #expect(output.summary == outputs[0].summary)
        #expect(output.files.keys.sorted() == outputs[0].files.keys.sorted())
        for (name, bytes) in outputs[0].files {
            #expect(output.files[name] == bytes, "\(name)")
        }
    }
}
