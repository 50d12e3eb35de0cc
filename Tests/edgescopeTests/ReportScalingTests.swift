import CaptureModel
import Foundation
import Reporting
import Testing
import TestSupport

// pool-mixed-5xx.pcap: a real nginx 1.22.1 in front of four members on 127.0.0.2-5:18090. The
// truth file (from nginx's logs): 127.0.0.3 sent `Content-Length : 5` on all 10 of its
// connections (502); the other three answered 5 requests each with their own 500/503 (relayed).

private func json(_ path: String) throws -> JSONValue {
    try JSONValue(parsing: try String(contentsOfFile: path, encoding: .utf8))
}

@Test func upstreamTableAndHeadlinePointAtTheBadMemberNotAtRelayed5xx() throws {
    let directory = Paths.temporaryDirectory("pool-mixed") + "/out"
    let run = try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", directory])
    #expect(run.status == 0)
    let report = try json(directory + "/report.json")
    let upstreams = report["upstreams"].items
    #expect(upstreams.map { $0["server"].string ?? "" } == ["127.0.0.3:18090", "127.0.0.2:18090", "127.0.0.4:18090", "127.0.0.5:18090"])
    #expect(upstreams.map { $0["failed"].int ?? -1 } == [10, 0, 0, 0])
    #expect(upstreams.map { $0["relayed"].int ?? -1 } == [0, 5, 5, 5])
    #expect(upstreams[0]["failed_causes"]["http.header.name_ctl_or_space"].int == 10)
    #expect(upstreams[1]["failed_causes"].members.isEmpty)
    #expect(upstreams[1]["causes"]["http.upstream_5xx"].int == 5)

    let headline = "127.0.0.3:18090 sent a malformed header on 10 of 10 connections (http.header.name_ctl_or_space)."
    let lines = run.stdout.split(separator: "\n").map(String.init)
    #expect(lines.dropFirst(2).first == headline)
    let byUpstream = try #require(lines.firstIndex(of: "By upstream:"))
    #expect(lines[byUpstream + 1] == "  127.0.0.3:18090  10 conn, 10 failed  (http.header.name_ctl_or_space ×10)")
    #expect(lines[byUpstream + 2] == "  127.0.0.2:18090  10 conn, 0 failed, 5 relayed 5xx  (relayed: http.upstream_5xx ×5)")
    let byCause = try #require(lines.firstIndex(of: "By cause:"))
    #expect(lines[byCause + 1] == "  10  http.header.name_ctl_or_space")
    #expect(lines[byCause + 2] == "  15  http.upstream_5xx (relayed: the upstream's own answer)")

    let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
    #expect(markdown.contains("**`127.0.0.3:18090` sent a malformed header on 10 of 10 connections (`http.header.name_ctl_or_space`).**"))
    #expect(markdown.contains("| **`127.0.0.3:18090`** |  | 10 | 10 | 100% | 0 | `http.header.name_ctl_or_space` ×10 |\n| `127.0.0.2:18090` |  | 10 | 0 | 0% | 5 | `http.upstream_5xx` ×5 (relayed) |"))

    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    #expect(html.contains("<p class=\"headline\" id=\"headline\">\(headline)</p>"))
    #expect(!html.contains("Most frequent cause: <code>http.upstream_5xx"))
    #expect(html.contains("Most frequent gateway failure: <code>http.header.name_ctl_or_space</code> on 10 connection(s)"))
    let rows = html.components(separatedBy: "<tr class=\"").dropFirst().filter { $0.contains("data-upstream=") }.map { String($0.prefix { $0 != ">" }) }
    #expect(rows == [
        "bad\" data-upstream=\"127.0.0.3:18090\"", "relayed\" data-upstream=\"127.0.0.2:18090\"",
        "relayed\" data-upstream=\"127.0.0.4:18090\"", "relayed\" data-upstream=\"127.0.0.5:18090\"",
    ])
}

@Test func totalsListedCountsTheConnectionsReportJSONLists() throws {
    let directory = Paths.temporaryDirectory("listed") + "/out"
    let run = try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", directory])
    #expect(run.status == 0)
    let report = try json(directory + "/report.json")
    // The 10 connections nginx failed in full, the 15 relayed 5xx in short, the 15 healthy counted.
    let connections = report["connections"].items
    #expect(connections.count == 25)
    #expect(connections.filter { $0["compact"].isNull }.map { $0["verdict"]["class"].string } == Array(repeating: "502", count: 10))
    let relayed = connections.filter { $0["compact"].bool == true }
    #expect(relayed.count == 15)
    #expect(relayed.allSatisfy { $0["verdict"]["class"].string == "relayed" && $0["verdict"]["code"].string == "http.upstream_5xx" })
    #expect(relayed.first?["verdict"]["summary"].string == "The upstream 127.0.0.4:18090 itself answered 503; the gateway relayed it.")
    #expect(report["totals"]["connections"].int == 40)
    #expect(report["totals"]["listed"].int == 25)
    #expect(report["totals"]["unlisted"].int == 15)
    #expect(report["totals"]["listed_compact"].int == 15)

    let stdout = try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--json"])
    let printed = try JSONValue(parsing: stdout.stdout)
    #expect(printed["connections"].items.count == 40)
    #expect(printed["totals"]["listed"].int == 40)
    #expect(printed["totals"]["unlisted"].int == 0)
    #expect(printed["totals"]["listed_compact"].int == 15)
    // On stdout the relayed 5xx are in full, the healthy ones in short.
    #expect(printed["connections"].items.filter { $0["compact"].bool == true }.allSatisfy { $0["verdict"]["class"].string == "ok" })
}

@Test func reportJSONListsFailuresAndCountsHealthyTrafficPerUpstream() throws {
    let directory = Paths.temporaryDirectory("healthy") + "/out"
    let run = try Run(["analyze", Paths.captures + "/nginx/healthy-keepalive.pcap", "--out", directory])
    #expect(run.status == 0)
    let report = try json(directory + "/report.json")
    #expect(report["schema"].string == "edgescope.report/1")
    #expect(report["connections"].items.isEmpty)
    #expect(report["totals"]["connections"].int == 2)
    #expect(report["totals"]["listed"].int == 0)
    #expect(report["totals"]["unlisted"].int == 2)
    let upstream = try #require(report["upstreams"].items.first)
    #expect(upstream["healthy"].int == 2)
    #expect(upstream["requests"].int == 8)
    #expect((upstream["bytes_from_upstream"].int ?? 0) > 0)
    #expect(upstream["response_time_ms"]["responses"].int == 8)
    #expect(upstream["response_time_ms"]["median"].double != nil)
    #expect(!FileManager.default.fileExists(atPath: directory + "/connections.jsonl"))
    // The timeline still shows the healthy connections: report.json carries it.
    #expect(report["timeline"]["rows"].items.first?["started"].items.compactMap(\.int).reduce(0, +) == 2)
    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    #expect(html.contains("0/2</text>"))

    // --json: every connection, the healthy ones compactly, with the fields scripts read.
    let printed = try JSONValue(parsing: try Run(["analyze", Paths.captures + "/nginx/healthy-keepalive.pcap", "--json"]).stdout)
    let first = try #require(printed["connections"].items.first)
    #expect(printed["connections"].items.count == 2)
    #expect(first["id"].string == "c1")
    #expect(first["compact"].bool == true)
    #expect(first["verdict"]["code"].string == "none")
    #expect(first["verdict"]["class"].string == "ok")
    #expect(first["frames"].items.count == 2)
    for key in ["client", "server", "start", "end"] { #expect(first[key].string != nil, "\(key)") }
}

@Test func listAllListsEveryConnectionAndWritesConnectionsJSONL() throws {
    let directory = Paths.temporaryDirectory("list-all") + "/out"
    let run = try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", directory, "--list", "all"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("\(directory)/connections.jsonl"))
    let report = try json(directory + "/report.json")
    #expect(report["connections"].items.count == 40)
    #expect(report["totals"]["listed"].int == 40)
    #expect(report["connections"].items.allSatisfy { $0["compact"].isNull })
    let lines = try String(contentsOfFile: directory + "/connections.jsonl", encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 40)
    let first = try JSONValue(parsing: String(lines[0]))
    #expect(first["id"].string == "c1")
    #expect(first["verdict"]["class"].string == report["connections"].items[0]["verdict"]["class"].string)
    #expect(try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--list", "some"]).status == 1)
}

@Test func reportCommandRendersTheSamePagesFromReportJSON() throws {
    let directory = Paths.temporaryDirectory("rerender") + "/out"
    #expect(try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", directory]).status == 0)
    let html = try Run(["report", directory + "/report.json", "--format", "html"])
    let markdown = try Run(["report", directory + "/report.json", "--format", "md"])
    #expect(html.stdout == (try String(contentsOfFile: directory + "/report.html", encoding: .utf8)))
    #expect(markdown.stdout == (try String(contentsOfFile: directory + "/report.md", encoding: .utf8)))
}

@Test func theRestOfTheFailuresArePointedToWhereTheyAre() throws {
    let bare = try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22"])
    #expect(bare.stdout.contains("  … and 15 more (use --out DIR to list them all in DIR/report.json)\n"))
    #expect(!bare.stdout.contains("see report.json"))
    let directory = Paths.temporaryDirectory("more") + "/out"
    let written = try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", directory])
    #expect(written.stdout.contains("  … and 15 more (see \(directory)/report.json)\n"))
}

@Test func htmlSaysWhatTheUpstreamSentAndWhatTheClientGot() throws {
    let directory = Paths.temporaryDirectory("http-table") + "/out"
    #expect(try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", directory]).status == 0)
    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    #expect(html.contains("<th>request frame</th><th>upstream sent</th><th>client got</th><th>framing</th><th>complete</th><th>response frame</th>"))
    // c2: 127.0.0.3 sent 200 with a bad header; nginx gave its client a 502 (its access log says 502).
    #expect(html.contains("<td>200</td><td class=\"bad\">502 (made by the gateway)</td>"))
    // A relayed 503 reached the client as sent (listed in full with --list all).
    let all = Paths.temporaryDirectory("http-table-all") + "/out"
    #expect(try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--gateway", "nginx:1.22", "--out", all, "--list", "all"]).status == 0)
    #expect(try String(contentsOfFile: all + "/report.html", encoding: .utf8).contains("<td>503</td><td>503</td>"))
    // The timeline's last time label ends inside the picture.
    #expect(html.contains("class=\"tl-time last\""))
    #expect(html.contains(".tl-time.last{text-anchor:end}"))
}

/// 150 connections from 10.0.0.1 to 10.0.3.24:8080, one request each: every fifth reset
/// before its response (30), the rest answered 200 (120).
private func manyConnections() throws -> String {
    var file = PcapFileBuilder()
    var time: Int64 = 1_700_000_000_000_000_000
    let request = Array("GET /x HTTP/1.1\r\nHost: up\r\n\r\n".utf8)
    let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
    for n in 0..<150 {
        file.appendExchange(
            from: Endpoint(address: .v4(0x0a00_0001), port: UInt16(20_000 + n)), to: Endpoint(address: .v4(0x0a00_0318), port: 8080),
            request: request, response: n % 5 == 4 ? nil : response, time: &time)
    }
    let path = Paths.temporaryDirectory("many") + "/many.pcap"
    try file.write(to: path)
    return path
}

@Test func moreConnectionsThanTheSummaryKeepsAreCountedWithoutAFalseWarning() throws {
    let capture = try manyConnections()
    let directory = Paths.temporaryDirectory("many-out") + "/out"
    let run = try Run(["analyze", capture, "--out", directory])
    #expect(run.status == 0)
    #expect(!run.stdout.contains("counted but not listed"))
    #expect(run.stdout.contains("  … and 20 more (see \(directory)/report.json)\n"))
    let report = try json(directory + "/report.json")
    #expect(report["warnings"].items.isEmpty)
    #expect(report["connections"].items.map { $0["id"].string ?? "" } == (0..<30).map { "c\($0 * 5 + 5)" })
    #expect(report["totals"]["listed"].int == 30)
    #expect(report["totals"]["unlisted"].int == 120)
    let upstream = try #require(report["upstreams"].items.first)
    #expect(upstream["failed"].int == 30)
    #expect(upstream["healthy"].int == 120)
    #expect(upstream["requests"].int == 150)
    #expect(upstream["response_time_ms"]["responses"].int == 120)
    // The frames are 1 ms apart: every response came 1 ms after its request.
    #expect(upstream["response_time_ms"]["median"].double == 1.0)
    #expect(upstream["response_time_ms"]["p99"].double == 1.0)
    #expect(upstream["bytes_to_upstream"].int == 150 * 29)
    #expect(upstream["bytes_from_upstream"].int == 120 * 40)
    let all = try JSONValue(parsing: try Run(["analyze", capture, "--json"]).stdout)
    #expect(all["connections"].items.count == 150)
    #expect(all["warnings"].items.isEmpty)
}

@Test func slicesAllListsEveryConnectionSoReportJSONNamesEverySlice() throws {
    let directory = Paths.temporaryDirectory("slices-every") + "/out"
    #expect(try Run(["analyze", Paths.captures + "/nginx/pool-mixed-5xx.pcap", "--out", directory, "--slices", "all"]).status == 0)
    let report = try json(directory + "/report.json")
    let named = report["connections"].items.compactMap { $0["slice"].string?.dropFirst("slices/".count).description }
    #expect(named.count == 40)
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/slices").sorted() == named.sorted())
    #expect(FileManager.default.fileExists(atPath: directory + "/connections.jsonl"))
}
