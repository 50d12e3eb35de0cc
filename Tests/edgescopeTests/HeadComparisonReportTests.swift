import Foundation
import Reporting
import Testing
import TestSupport

// Issue 19 part 2 in every output. pool-turns-bad.pcap: a real nginx 1.22.1, three members on
// 127.0.0.2-4:28490; 127.0.0.3 answered its first three requests well, then `Content Type:
// text/plain` (nginx's error.log: `upstream sent invalid header: "Content\x20..."`, three times).
// The first failing answer is c2's 4th transaction; c2's 2nd is the healthy answer kept for the path.

private let capture = Paths.captures + "/nginx/pool-turns-bad.pcap"

private func report(_ directory: String) throws -> JSONValue {
    try JSONValue(parsing: try String(contentsOfFile: directory + "/report.json", encoding: .utf8))
}

@Test func reportJSONCarriesTheComparisonOnTheFailingConnection() throws {
    let directory = Paths.temporaryDirectory("comparison-json") + "/out"
    #expect(try Run(["analyze", capture, "--gateway", "nginx:1.22", "--out", directory]).status == 0)
    let connections = try report(directory)["connections"].items
    let compared = connections.filter { !$0["comparison"].isNull }
    #expect(compared.map { $0["id"].string ?? "" } == ["c2", "c4", "c5"])
    let comparison = compared[0]["comparison"]
    #expect(comparison["connection"].string == "c2")
    #expect(comparison["transaction"].int == 4)
    #expect(comparison["healthy"]["connection"].string == "c2")
    #expect(comparison["healthy"]["transaction"].int == 2)
    #expect(comparison["healthy"]["server"].string == "127.0.0.3:28490")
    #expect(comparison["healthy"]["request"].string == "GET /s/pool-turns-bad/item?n=5")
    #expect(comparison["matched_by"].string == "same_target")
    #expect(comparison["request"].string == "GET /s/pool-turns-bad/item?n=11")
    #expect(comparison["frame"].int == 44)
    let differences = comparison["differences"].items
    #expect(differences.map { $0["line"].int ?? 0 } == [2, 3])
    #expect(differences.map { $0["failing"].string ?? "" } == ["Content Type: text/plain", "Content-Length: 60"])
    #expect(differences.map { $0["healthy"].string ?? "" } == ["Content-Type: text/plain", "Content-Length: 59"])
    #expect(differences.map { $0["kind"].string ?? "" } == ["changed", "value"])
    #expect(comparison["offending"]["line"].int == 2)
    #expect(comparison["offending"]["column"].int == 8)
    #expect(comparison["offending"]["stream_offset"].int == 468)
    #expect(comparison["offending"]["hex"].string == "20")
    // The offending byte is where the connection's first evidence starts.
    #expect(compared[0]["evidence"].items.first?["stream_offset"].int == 468)
    #expect(comparison["failing_head"].items.compactMap(\.string) == ["HTTP/1.1 200 OK", "Content Type: text/plain", "Content-Length: 60", "Connection: keep-alive"])
    #expect(comparison["healthy_head"].items.compactMap(\.string) == ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 59", "Connection: keep-alive"])
    #expect(comparison["rows"].items.map { $0.items.compactMap(\.int) } == [[1, 1], [2, 2], [3, 3], [4, 4]])
    let members = comparison["members"].items
    #expect(members.map { $0["server"].string ?? "" } == ["127.0.0.2:28490", "127.0.0.3:28490", "127.0.0.4:28490"])
    #expect(members.map { $0["sends"].string ?? "" } == ["Content-Type: text/plain", "Content Type: text/plain", "Content-Type: text/plain"])
    #expect(members.map { $0["failing"].bool == true } == [false, true, false])
    #expect(members[1]["since"].string == comparison["time"].string)
    #expect(members[0]["since"].isNull)
    // Healthy connections are not listed, and have no comparison anyway.
    #expect(connections.allSatisfy { $0["verdict"]["class"].string != "ok" })
}

@Test func theTextSummaryShowsOneLinePerDifferenceAndThePool() throws {
    let run = try Run(["analyze", capture, "--gateway", "nginx:1.22"])
    #expect(run.status == 0)
    let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let start = try #require(lines.firstIndex(of: "  c2 127.0.0.1:52212 → 127.0.0.3:28490  frames 8-47"))
    let heading = try #require(lines[start...].firstIndex { $0.hasPrefix("    the head of transaction 4 beside") })
    #expect(Array(lines[heading...].prefix(4)) == [
        "    the head of transaction 4 beside the nearest healthy response, c2, transaction 2 (127.0.0.3:28490, GET /s/pool-turns-bad/item?n=5 → 200; the same upstream and request):",
        "      line 2: failing `Content Type: text/plain`, healthy `Content-Type: text/plain`; the offending byte is byte 8 (0x20)",
        "      line 3: failing `Content-Length: 60`, healthy `Content-Length: 59`",
        "    members .2 and .4 send `Content-Type: text/plain`; .3 sends `Content Type: text/plain` since 02:15:56 UTC",
    ])
}

@Test func reportMarkdownAndHTMLShowBothHeadsSideBySideAndReRenderFromTheJSON() throws {
    let directory = Paths.temporaryDirectory("comparison-md") + "/out"
    #expect(try Run(["analyze", capture, "--gateway", "nginx:1.22", "--out", directory]).status == 0)
    let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
    #expect(markdown.contains("""
        The head of transaction 4 beside the nearest healthy response, c2, transaction 2 (127.0.0.3:28490, GET /s/pool-turns-bad/item?n=5 → 200; the same upstream and request):

        ```
             failing (c2, transaction 4) | healthy (c2, transaction 2)
           1 HTTP/1.1 200 OK             | HTTP/1.1 200 OK
        ≠  2 Content Type: text/plain    | Content-Type: text/plain
                    ^ byte 8 (0x20)
        ≠  3 Content-Length: 60          | Content-Length: 59
           4 Connection: keep-alive      | Connection: keep-alive
        ```

        - line 2: failing `Content Type: text/plain`, healthy `Content-Type: text/plain`; the offending byte is byte 8 (0x20)
        - line 3: failing `Content-Length: 60`, healthy `Content-Length: 59`

        Pool: members .2 and .4 send `Content-Type: text/plain`; .3 sends `Content Type: text/plain` since 02:15:56 UTC.
        """))
    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    #expect(html.contains(
        "<tr><td class=\"differs\">≠</td><td>2</td><td><code>Content<mark title=\"the offending byte: byte 8, stream offset 468\"> </mark>Type: text/plain</code></td><td><code>Content-Type: text/plain</code></td></tr>"))
    #expect(html.contains(
        "<tr><td class=\"differs\">≠</td><td>3</td><td><code>Content-Length: 60</code></td><td><code>Content-Length: 59</code></td></tr><tr><td></td><td>4</td><td><code>Connection: keep-alive</code></td><td><code>Connection: keep-alive</code></td></tr>"))
    #expect(html.contains("<p class=\"pool\">Pool: members .2 and .4 send “Content-Type: text/plain”; .3 sends “Content Type: text/plain” since 02:15:56 UTC.</p>"))
    // Three failing connections, each with its two columns.
    #expect(html.components(separatedBy: "<section class=\"comparison\">").count == 4)

    // `edgescope report` renders the same bytes from report.json alone.
    let rendered = Paths.temporaryDirectory("comparison-rerender")
    #expect(try Run(["report", directory + "/report.json", "--format", "md", "--output", rendered + "/report.md"]).status == 0)
    #expect(try Run(["report", directory + "/report.json", "--format", "html", "--output", rendered + "/report.html"]).status == 0)
    #expect(try String(contentsOfFile: rendered + "/report.md", encoding: .utf8) == markdown)
    #expect(try String(contentsOfFile: rendered + "/report.html", encoding: .utf8) == html)
}

@Test func theComparisonIsTheSameOnSeveralThreads() throws {
    let one = try Run(["analyze", capture, "--gateway", "nginx:1.22", "--json", "--threads", "1"])
    let three = try Run(["analyze", capture, "--gateway", "nginx:1.22", "--json", "--threads", "3"])
    #expect(one.status == 0)
    #expect(three.status == 0)
    let comparisons = { (run: Run) throws -> [JSONValue] in
        try JSONValue(parsing: run.stdout)["connections"].items.map { $0["comparison"] }.filter { !$0.isNull }
    }
    let single = try comparisons(one)
    #expect(single.count == 3)
    #expect(try comparisons(three) == single)
}
