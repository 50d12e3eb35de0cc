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
            let run = try Run(["analyze", path], deadline: 20)
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
                // Warnings go to stderr, each once.
                let warnings = run.stderr.split(separator: "\n").filter { $0.hasPrefix("edgescope: warning: ") }
                #expect(warnings.contains { $0.contains(item.says) }, "\(item.file): \(run.stderr)")
                #expect(Set(warnings).count == warnings.count, "\(item.file): \(run.stderr)")
                #expect(!run.stdout.contains("warning: "), "\(item.file): \(run.stdout)")
            default:
                #expect(run.status == 0, "\(item.file): status \(run.status), \(run.stderr)")
                #expect(run.stderr.isEmpty, "\(item.file): \(run.stderr)")
                #expect(!run.stdout.contains("\nwarning: "), "\(item.file): \(run.stdout)")
                #expect(run.stdout.contains(item.says), "\(item.file): \(run.stdout)")
            }
            guard let connections = item.connections else { continue }
            // A report for what is readable, and valid JSON.
            let json = try Run(["analyze", path, "--json"], deadline: 20)
            let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let listed = document?["connections"] as? [[String: Any]]
            #expect(listed?.count == connections, "\(item.file)")
            #expect(listed?.first?["client"] as? String == "10.0.0.5:40001", "\(item.file)")
        }
    }
}
