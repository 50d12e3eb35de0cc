import Foundation
import Reporting
import Testing
import TestSupport

/// `edgescope report A/report.json B/report.json ...`: a fleet's reports merged into one. The
/// sources are real captures analysed as a fleet's hosts would: nginx and HAProxy in front of
/// the same scripted upstreams (two of them share `127.0.0.1:18090`).
struct ReportMergeCommandTests {
    /// Four report directories, `gw-a` to `gw-d`, written once.
    static let fleet: String = {
        let directory = Paths.temporaryDirectory("fleet")
        let sources: [(String, [String])] = [
            ("gw-a", ["nginx/fin-before-response.pcap"]),
            ("gw-b", ["haproxy/fin-before-response.haproxy.pcap", "--gateway", "haproxy:2.6"]),
            ("gw-c", ["haproxy/http-chunked-bad-ext.haproxy.pcap", "--gateway", "haproxy:2.6"]),
            ("gw-d", ["nginx/client-hop-cut.pcap"]),
        ]
        for (name, arguments) in sources {
            let run = try? Run(["analyze", Paths.captures + "/" + arguments[0]] + arguments.dropFirst() + ["--out", directory + "/" + name])
            precondition(run?.status == 0, "analyze \(arguments[0]): \(run?.stderr ?? "did not run")")
        }
        return directory
    }()

    static var reports: [String] { ["gw-a", "gw-b", "gw-c", "gw-d"].map { Self.fleet + "/" + $0 + "/report.json" } }

    static func merged(_ extra: [String] = []) throws -> JSONValue {
        let run = try Run(["report"] + Self.reports + ["--json"] + extra)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty)
        return try JSONValue(parsing: run.stdout)
    }

    @Test func jsonMergesTheTotalsTheUpstreamsAndTheWorstConnections() throws {
        let document = try Self.merged()
        #expect(document["schema"].string == "edgescope.report/1")
        #expect(document["sources"].items.map { $0["label"].string } == ["gw-a", "gw-b", "gw-c", "gw-d"])
        #expect(document["sources"].items.map { $0["report"].string } == Self.reports)
        #expect(document["sources"].items.map { $0["source"]["path"].string } == [
            "nginx/fin-before-response.pcap", "haproxy/fin-before-response.haproxy.pcap", "haproxy/http-chunked-bad-ext.haproxy.pcap",
            "nginx/client-hop-cut.pcap",
        ].map { Paths.captures + "/" + $0 })
        #expect(document["sources"].items.map { $0["totals"]["connections"].int } == [1, 1, 1, 4])
        #expect(document["generator"]["gateway_profile"].string == "nginx, haproxy:2.6")
        #expect(document["source"]["packets"].int == 8 + 8 + 10 + 95)
        #expect(document["source"]["first_time"].string == "2026-11-22T01:11:33.538664000Z")
        #expect(document["source"]["last_time"].string == "2026-12-06T22:46:47.095091000Z")

        let totals = document["totals"]
        #expect(totals["connections"].int == 7)
        #expect(totals["failed"].int == 5)
        #expect(totals["classes"].serialized() == #"{"502":2,"truncated":3,"ok":2}"#)
        #expect(totals["causes"].serialized() == #"{"tcp.fin.before_response":2,"http.chunked.bad_size":1,"tcp.fin.mid_body":1,"tcp.rst.mid_body":1}"#)

        // One table across the hosts: the members failed most first, each host's counts beside.
        let upstreams = document["upstreams"].items
        #expect(upstreams.map { $0["server"].string } == [
            "127.0.0.1:18084", "127.0.0.1:18090", "127.0.0.1:27120", "127.0.0.1:27121", "127.0.0.1:27122", "127.0.0.1:27101",
        ])
        let shared = upstreams[1]
        #expect(shared["connections"].int == 2)
        #expect(shared["failed"].int == 1)
        #expect(shared["healthy"].int == 1)
        #expect(shared["causes"].serialized() == #"{"tcp.fin.before_response":1}"#)
        #expect(shared["by_source"].serialized()
            == #"{"gw-b":{"connections":1,"failed":1,"relayed":0,"healthy":0},"gw-c":{"connections":1,"failed":0,"relayed":0,"healthy":1}}"#)

        // Every listed connection, each with its source; worst first is the renderers' order.
        let connections = document["connections"].items
        #expect(connections.map { "\($0["source"].string ?? "?") \($0["id"].string ?? "?") \($0["verdict"]["code"].string ?? "?")" } == [
            "gw-a c1 tcp.fin.before_response", "gw-b c1 tcp.fin.before_response", "gw-d c4 tcp.fin.mid_body", "gw-d c6 tcp.rst.mid_body",
            "gw-d c8 http.chunked.bad_size",
        ])
        // The slice is named from where the reports were named, and is there.
        let slice = try #require(connections[1]["slice"].string)
        #expect(slice == Self.fleet + "/gw-b/slices/c1.pcap")
        #expect(FileManager.default.fileExists(atPath: slice))
        // Frames, ids and evidence stay the source's.
        #expect(connections[4]["evidence"].items.first?["frame"].int == 72)

        #expect(document["client_errors"].items.map { $0["source"].string } == ["gw-d", "gw-d", "gw-d"])
        #expect(document["client_hop"]["explained"].int == 3)

        // One timeline over the widest window, every source's connections in it.
        let timeline = document["timeline"]
        #expect(timeline["first_time"].string == "2026-11-22T01:11:33.538664000Z")
        let rows = timeline["rows"].items
        #expect(rows.reduce(0) { $0 + $1["started"].items.reduce(0) { $0 + ($1.int ?? 0) } } == 7)
        #expect(rows.reduce(0) { $0 + $1["failed"].items.reduce(0) { $0 + ($1.int ?? 0) } } == 5)
    }

    @Test func labelsNameTheSources() throws {
        let document = try Self.merged(["--label", "edge-1", "--label", "edge-2"])
        #expect(document["sources"].items.map { $0["label"].string } == ["edge-1", "edge-2", "gw-c", "gw-d"])
        #expect(document["connections"].items.first?["source"].string == "edge-1")
        #expect(document["upstreams"].items[1]["by_source"].members.map(\.0) == ["edge-2", "gw-c"])
    }

    @Test func markdownHasTheSourcesAColumnPerHostAndEachConnectionsSource() throws {
        let run = try Run(["report"] + Self.reports + ["--format", "md"])
        #expect(run.status == 0)
        let markdown = run.stdout
        #expect(markdown.contains("## Sources\n\n4 reports merged; each connection below names its source.\n"))
        #expect(markdown.contains("| gw-b | `\(Self.fleet)/gw-b/report.json` | `\(Paths.captures)/haproxy/fin-before-response.haproxy.pcap` | `haproxy:2.6` | "))
        #expect(markdown.contains("| upstream | name | connections | failed | failed % | relayed 5xx | gw-a | gw-b | gw-c | gw-d | causes |\n"))
        #expect(markdown.contains("| **`127.0.0.1:18090`** |  | 2 | 1 | 50% | 0 | – | 1/1 | 0/1 | – | `tcp.fin.before_response` ×1 |\n"))
        #expect(markdown.contains("| c1 (gw-b) | `127.0.0.1:"))
        #expect(markdown.contains("| c8 (gw-d) | `127.0.0.1:58962` → `127.0.0.1:27122` | truncated | `http.chunked.bad_size` | "))
        // The errors the clients of gw-d saw, tied to gw-d's connections.
        #expect(markdown.contains("| `GET /chunk-bad/4` | gateway | c8 (gw-d) | `http.chunked.bad_size` |\n"))
    }

    @Test func htmlHasTheSourcesAColumnPerHostAndEachConnectionsSource() throws {
        let output = Paths.temporaryDirectory("fleet-html") + "/fleet.html"
        let run = try Run(["report"] + Self.reports + ["--format", "html", "--output", output])
        #expect(run.status == 0, "\(run.stderr)")
        let html = try String(contentsOfFile: output, encoding: .utf8)
        #expect(html.contains("<section id=\"sources\"><h2>Sources</h2>"))
        #expect(html.contains("<th class=\"n\">relayed 5xx</th><th class=\"n\">gw-a</th><th class=\"n\">gw-b</th><th class=\"n\">gw-c</th><th class=\"n\">gw-d</th><th>causes</th>"))
        #expect(html.contains("<td class=\"n source\">1/1</td><td class=\"n source\">0/1</td>"))
        // The two hosts' c1 are two sections, each anchored by its source.
        #expect(html.contains("id=\"gw-a-c1\""))
        #expect(html.contains("id=\"gw-b-c1\""))
        #expect(html.contains(" · frames 1–7 · gw-b · "))
        #expect(html.contains("<a href=\"#gw-d-c8\">c8</a> (gw-d)</td>"))
        #expect(html.contains("id=\"gw-d-c8\""))
    }

    @Test func oneReportRendersAsItAlwaysDid() throws {
        let directory = Self.fleet + "/gw-d"
        let markdown = try Run(["report", directory + "/report.json", "--format", "md"])
        #expect(Array(markdown.stdout.utf8) == Array(try String(contentsOfFile: directory + "/report.md", encoding: .utf8).utf8))
        #expect(!markdown.stdout.contains("## Sources"))
    }

    @Test func badInputsAreOneLineAndTheirStatus() throws {
        let directory = Paths.temporaryDirectory("fleet-bad")
        let text = directory + "/notes.json"
        try Data("GET / HTTP/1.1\r\n".utf8).write(to: URL(fileURLWithPath: text))
        let otherSchema = directory + "/old.json"
        try Data(#"{"schema": "edgescope.report/0", "connections": []}"#.utf8).write(to: URL(fileURLWithPath: otherSchema))
        let cases: [([String], Int32, String)] = [
            ([Self.reports[0], text, "--format", "md"], 2,
             "edgescope: cannot read report \(text): not valid JSON (line 1, column 1: unexpected character, expected a value)"),
            ([Self.reports[0], otherSchema, "--json"], 2,
             "edgescope: cannot read report \(otherSchema): schema is \"edgescope.report/0\", not \"edgescope.report/1\""),
            ([Self.reports[0], "/nonexistent/report.json", "--format", "html"], 2,
             "edgescope: cannot read report /nonexistent/report.json: No such file or directory"),
            ([Self.reports[0], Self.reports[1], "--label", "a", "--label", "b", "--label", "c", "--json"], 1,
             "edgescope: 3 --label value(s) for 2 report(s): give at most one per report"),
            ([Self.reports[0], Self.reports[1]], 1, "edgescope: give --format html or md, or --json (see 'edgescope report --help')"),
            ([Self.reports[0], Self.reports[1], "--json", "--format", "md"], 1,
             "edgescope: --json and --format each choose the output: give one (see 'edgescope report --help')"),
        ]
        for (arguments, status, line) in cases {
            let run = try Run(["report"] + arguments)
            #expect(run.status == status, "\(arguments)")
            #expect(run.errorLines == [line])
            #expect(run.stdout.isEmpty)
        }
    }
}
