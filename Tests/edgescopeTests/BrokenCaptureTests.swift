import Foundation
import Testing
import TestSupport

/// The corpus of broken captures (Tests/broken-captures/make-broken-captures.py writes it, with a
/// manifest of what each file must give): a report with a warning, or one error line and exit
/// status 2; never a crash, never a hang.
struct BrokenCaptureTests {
    struct Case: Decodable {
        var file: String
        /// `error`, `warning` or `report`.
        var expect: String
        /// Words the error line, the warning or the report must contain.
        var says: String
        /// Connections the report must hold.
        var connections: Int?
    }

    /// Runs the tool with a deadline: a hang is a failure, not a stuck test run.
    struct TimedRun {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool

        init(_ arguments: [String], seconds: Double = 20) throws {
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
            // Drain the pipes while waiting, so a large report cannot block the child.
            nonisolated(unsafe) var outData = Data()
            nonisolated(unsafe) var errData = Data()
            let readers = DispatchGroup()
            DispatchQueue.global().async(group: readers) { outData = out.fileHandleForReading.readDataToEndOfFile() }
            DispatchQueue.global().async(group: readers) { errData = err.fileHandleForReading.readDataToEndOfFile() }
            self.timedOut = done.wait(timeout: .now() + seconds) == .timedOut
            if self.timedOut {
                process.terminate()
                done.wait()
            }
            readers.wait()
            self.status = process.terminationStatus
            self.stdout = String(decoding: outData, as: UTF8.self)
            self.stderr = String(decoding: errData, as: UTF8.self)
        }
    }

    static func corpus() throws -> (directory: String, cases: [Case]) {
        let directory = try BrokenCaptureCorpus.write("broken-captures")
        let manifest = try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
        return (directory, try JSONDecoder().decode([Case].self, from: manifest))
    }

    @Test func everyBrokenCaptureGivesAReportOrOneErrorLine() throws {
        let (directory, cases) = try Self.corpus()
        #expect(cases.count >= 14)
        for item in cases {
            let path = directory + "/" + item.file
            let run = try TimedRun(["analyze", path])
            #expect(!run.timedOut, "\(item.file): hung")
            let errorLines = run.stderr.split(separator: "\n")
            switch item.expect {
            case "error":
                #expect(run.status == 2, "\(item.file): status \(run.status)")
                #expect(errorLines.count == 1, "\(item.file): \(run.stderr)")
                #expect(errorLines.first?.hasPrefix("edgescope: cannot read capture \(path): ") == true, "\(item.file): \(run.stderr)")
                #expect(run.stderr.contains(item.says), "\(item.file): \(run.stderr)")
                #expect(run.stdout.isEmpty, "\(item.file)")
            case "warning":
                #expect(run.status == 0, "\(item.file): status \(run.status), \(run.stderr)")
                let warnings = run.stdout.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
                #expect(warnings.contains { $0.contains(item.says) }, "\(item.file): \(run.stdout)")
            default:
                #expect(run.status == 0, "\(item.file): status \(run.status), \(run.stderr)")
                #expect(run.stderr.isEmpty, "\(item.file): \(run.stderr)")
                #expect(!run.stdout.contains("\nwarning: "), "\(item.file): \(run.stdout)")
                #expect(run.stdout.contains(item.says), "\(item.file): \(run.stdout)")
            }
            guard let connections = item.connections else { continue }
            // A report for what is readable, and valid JSON.
            let json = try TimedRun(["analyze", path, "--json"])
            let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let listed = document?["connections"] as? [[String: Any]]
            #expect(listed?.count == connections, "\(item.file)")
            #expect(listed?.first?["client"] as? String == "10.0.0.5:40001", "\(item.file)")
        }
    }
}
