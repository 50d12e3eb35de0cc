import CaptureModel
import Foundation
import Reporting
import Testing
import TestSupport

/// `edgescope codes`: the vocabulary and the gateway models as a person or a script reads them.
struct CodesCommandTests {
    @Test func theTableHasEveryCodeOnItsOwnLine() throws {
        let run = try Run(["codes"])
        #expect(run.status == 0)
        #expect(run.stderr.isEmpty)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == RootCause.allCases.count)
        #expect(lines.contains { $0.hasPrefix("tcp.connect.refused ") && $0.contains("connect") && $0.hasSuffix("nothing listens on the port)") })
        #expect(lines.contains { $0.hasPrefix("tls.alert.<description> ") })
    }

    @Test func jsonListsEveryCodeWithItsFields() throws {
        let run = try Run(["codes", "--json"])
        #expect(run.status == 0)
        let items = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        #expect(items.count == RootCause.allCases.count)
        let refused = try #require(items.first { $0["code"] as? String == "tcp.connect.refused" })
        #expect(refused["phases"] as? [String] == ["connect"])
        #expect(refused["role"] as? String == "root cause")
        #expect(refused["severity"] as? String == "fatal")
        #expect(refused["layer"] as? String == "TCP and connection")
        let overlap = try #require(items.first { $0["code"] as? String == "tcp.overlap.mismatch" })
        #expect(overlap["role"] as? String == "finding")
    }

    @Test func markdownAndGatewaysAreWhatTheDocsHold() throws {
        let markdown = try Run(["codes", "--markdown"])
        #expect(markdown.status == 0)
        #expect(markdown.stdout == CodeTables.markdown())
        let gateways = try Run(["codes", "--gateways"])
        #expect(gateways.status == 0)
        #expect(gateways.stdout == CodeTables.gatewaysMarkdown())
        #expect(gateways.stdout.contains("## `apache`: "))
        #expect(gateways.stdout.contains("| `tcp.connect.refused` | **521** | 521 Web server is down |"))
    }

    @Test func jsonWithMarkdownIsAUsageError() throws {
        let run = try Run(["codes", "--json", "--markdown"])
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: give --json or --markdown, not both (see 'edgescope codes --help')"])
        #expect(run.stdout.isEmpty)
        let gateways = try Run(["codes", "--json", "--gateways"])
        #expect(gateways.status == 1)
        #expect(gateways.errorLines == ["edgescope: --gateways prints Markdown or text, not JSON (see 'edgescope codes --help')"])
        #expect(gateways.stdout.isEmpty)
    }
}
