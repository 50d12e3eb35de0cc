import CaptureModel
import Foundation
import Reporting
import Testing
import TestSupport

/// Documents built directly, as `edgescope report` could be handed them: the renderers must
/// stay bounded and inert whatever the JSON holds.
enum SyntheticReport {
    /// A connection as large as a run can make it, and then some: a full ladder, long texts,
    /// many transactions, findings and certificates.
    static func connection(_ number: Int, server: String, verdictClass: String, code: String, text: String, heavy: Bool) -> JSONValue {
        let start = Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(number) * 1_000_000)
        let packets: [JSONValue] = (0..<(heavy ? 32 : 11)).map { index -> JSONValue in
            let frame: JSONValue = .number(number * 40 + index + 1)
            let since: JSONValue = .double(Double(index) * 12.5)
            let from: JSONValue = .string(index % 2 == 0 ? "client" : "server")
            let flags: JSONValue = .string(index == 0 ? "SYN" : "PSH ACK")
            let members: [(String, JSONValue)] = [
                ("frame", frame), ("time", .string(start.rfc3339)), ("since_start_us", since), ("from", from), ("flags", flags),
                ("seq", .number(index * 1448)), ("ack", .number(index)), ("len", .number(1448)),
            ]
            return .object(members)
        }
        let evidence: JSONValue = .object([
            ("direction", .string("server")), ("stream_offset", .number(1000)), ("frame", .number(number * 40 + 9)), ("frame_offset", .number(66)),
            ("length", .number(4)), ("hex", .string("7a7a0d0a")), ("context_hex", .string(String(repeating: "3c7363726970743e", count: 64))),
            ("context_offset", .number(900)), ("note", .string(text)),
        ])
        return .object([
            ("id", .string("c\(number)")), ("client", .string("10.0.0.1:\(30000 + number % 30000)")), ("server", .string(server)),
            ("start", .string(start.rfc3339)), ("end", .string(start.rfc3339)), ("frames", .array([.number(number * 40 + 1), .number(number * 40 + 40)])),
            ("display_filter", .string("ip.addr==10.0.0.1 && tcp.port==\(30000 + number % 30000)")),
            ("tcp", .object([
                ("history", .string("ShADadFfR")), ("opened_by", .string("client")), ("closed_by", .string("server")), ("reset_by", .string("server")),
                ("handshake_rtt_us", .double(8.5)), ("client", .object([("bytes", .number(77))])), ("server", .object([("bytes", .number(1 << 20))])),
                ("ladder", .object([("packets", .array(packets)), ("omitted", .number(heavy ? 5000 : 0)), ("omitted_after", .number(heavy ? 24 : 11))])),
            ])),
            ("tls", !heavy ? .null : .object([
                ("version", .string("TLS 1.2")), ("sni", .string(text)), ("alpn", .string(text)), ("cipher", .string(text)),
                ("alerts", .array(Array(repeating: .string(text), count: 20))), ("decrypted", .bool(true)),
                ("chain", .array(Array(repeating: .object([
                    ("subject", .string(text)), ("issuer", .string(text)), ("not_before", .string(text)), ("not_after", .string(text)),
                    ("sha256", .string(String(repeating: "ab", count: 32))),
                ]), count: 10))),
                ("verification", .object([("result", .string("failed")), ("openssl_code", .number(10)), ("openssl_text", .string(text)), ("depth", .number(0))])),
            ])),
            ("transactions", .array(Array(repeating: .object([
                ("request", .object([("method", .string("GET")), ("target", .string(text)), ("host", .string(text)), ("frame", .number(4))])),
                ("response", .object([("status", .number(200)), ("frame", .number(9)), ("framing", .string("chunked")), ("complete", .bool(false)), ("interim", .array([.number(100)]))])),
            ]), count: heavy ? 60 : 1))),
            ("transactions_not_listed", .number(heavy ? 900 : 0)),
            ("verdict", .object([
                ("code", .string(code)), ("class", .string(verdictClass)), ("phase", .string("response_body")), ("summary", .string(text)),
                ("gateways", .object([
                    ("nginx", .object([("status", .number(502)), ("log", .string(text))])),
                    ("haproxy", .object([("status", .number(502)), ("termination", .string(text))])),
                    ("envoy", .object([("status", .number(502)), ("flag", .string(text))])),
                ])),
            ])),
            ("findings", .array(Array(repeating: .object([
                ("code", .string(code)), ("severity", .string("fatal")), ("evidence", .array((0..<(heavy ? 8 : 1)).map { _ in .number(0) })),
            ]), count: heavy ? 20 : 1))),
            ("evidence", .array([evidence])),
            ("slice", .string("slices/c\(number).pcap")),
        ])
    }

    static func document(connections count: Int, upstreams: Int, text: String, heavy: Bool = true, failing: (Int) -> Bool = { _ in true }) -> JSONValue {
        let classes = ["502", "truncated", "unknown", "relayed", "503", "504"]
        var connections: [JSONValue] = []
        var rows: [(server: String, connections: Int, failed: Int, causes: [String: Int])] = (0..<upstreams).map {
            ("10.0.3.\($0 % 250):\(8000 + $0)", 0, 0, [:])
        }
        var classCounts: [String: Int] = [:]
        var causes: [String: Int] = [:]
        for number in 1...count {
            let upstream = number % upstreams
            let fails = failing(number)
            let verdictClass = fails ? classes[number % classes.count] : "ok"
            let code = fails ? "http.chunked.bad_size.\(number % 40)" : "none"
            connections.append(self.connection(number, server: rows[upstream].server, verdictClass: verdictClass, code: code, text: text, heavy: heavy))
            rows[upstream].connections += 1
            classCounts[verdictClass, default: 0] += 1
            if fails {
                rows[upstream].failed += 1
                rows[upstream].causes[code, default: 0] += 1
                causes[code, default: 0] += 1
            }
        }
        return .object([
            ("schema", .string("edgescope.report/1")),
            ("generator", .object([("name", .string("edgescope")), ("gateway_profile", .string("nginx"))])),
            ("source", .object([
                ("path", .string(text)), ("link_type", .string("EN10MB")), ("packets", .number(count * 40)), ("bytes", .number(count * 40_000)),
                ("first_time", .string(Timestamp(nanoseconds: 1_800_000_000_000_000_000).rfc3339)),
                ("last_time", .string(Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(count + 1) * 1_000_000).rfc3339)),
            ])),
            ("warnings", .array(Array(repeating: .string(text), count: 40))),
            ("totals", .object([
                ("connections", .number(count)), ("failed", .number(count - (classCounts["ok"] ?? 0))), ("listed", .number(count)),
                ("classes", .object(["502", "503", "504", "truncated", "relayed", "ok", "unknown"].compactMap { name in classCounts[name].map { (name, .number($0)) } })),
                ("causes", .object(causes.sorted { $0.key < $1.key }.map { ($0.key, .number($0.value)) })),
            ])),
            ("upstreams", .array(rows.map { row in
                .object([
                    ("server", .string(row.server)), ("name", .null), ("connections", .number(row.connections)), ("failed", .number(row.failed)),
                    ("causes", .object(row.causes.sorted { $0.key < $1.key }.map { ($0.key, .number($0.value)) })),
                ])
            })),
            ("connections", .array(connections)),
        ])
    }
}

@Suite struct HTMLReportTests {
    @Test func tenThousandFailingConnectionsStayUnderTheSizeLimit() throws {
        // Every connection failing, every text 2,000 characters, 1,000 upstreams: the worst a document can ask.
        let long = String(repeating: "é<&\"x", count: 400)
        let json = SyntheticReport.document(connections: 10_000, upstreams: 1000, text: long)
        let document = try ReportDocument(json)
        let html = HTMLReport.render(document)
        let markdown = MarkdownReport.render(document)
        let bytes = html.utf8.count
        let sections = html.components(separatedBy: "<article class=\"conn").count - 1
        print("10,000 failing connections, worst case: report.html \(bytes) bytes with \(sections) sections, report.md \(markdown.utf8.count) bytes")
        #expect(bytes < HTMLReport.sizeLimit)
        // The budget, not the cap, decides here: fewer sections, the rest counted.
        #expect(sections > 20 && sections < HTMLReport.connectionsDetailed)
        #expect(html.contains("\(10_000 - sections) more failing connection(s) are counted in the summary but have no section here, to keep this page under 5 MB"))
        #expect(html.contains("900 more upstream(s), with fewer failures, are in report.json."))
        #expect(markdown.utf8.count < 2_000_000)
        #expect(markdown.contains("9500 more failing connection(s) are counted above but not in this table"))
    }

    @Test func healthyConnectionsAreCountedNotListed() throws {
        // Connections the size a run usually makes: a short ladder, one transaction, one finding.
        let json = SyntheticReport.document(connections: 10_000, upstreams: 3, text: "plain", heavy: false) { $0 % 50 == 0 }
        let document = try ReportDocument(json)
        let html = HTMLReport.render(document)
        print("10,000 connections, 200 failing: report.html \(html.utf8.count) bytes")
        #expect(html.components(separatedBy: "<article class=\"conn").count - 1 == 200)
        #expect(html.contains("9800 healthy connection(s) are counted, not listed."))
        #expect(!html.contains("id=\"c1\""))
        #expect(html.contains("id=\"c50\""))
        #expect(html.utf8.count < 1_500_000)
    }

    @Test func nothingFromTheDocumentBecomesMarkup() throws {
        let hostile = "<script>alert(1)</script>\"'&amp;</textarea><img src=x onerror=alert(2)>|`\u{1b}[31m\n# x"
        var json = SyntheticReport.document(connections: 3, upstreams: 1, text: hostile)
        // Hostile ids, servers and slices too: they land in attributes and links.
        if case .object(var members) = json, let at = members.firstIndex(where: { $0.0 == "connections" }) {
            members[at].1 = .array(members[at].1.items.map { connection in
                guard case .object(var fields) = connection else { return connection }
                for (index, field) in fields.enumerated() {
                    switch field.0 {
                    case "id", "server", "client", "display_filter": fields[index].1 = .string(hostile)
                    case "slice": fields[index].1 = .string("javascript:alert(3)//slices/x.pcap")
                    default: break
                    }
                }
                return .object(fields)
            })
            json = .object(members)
        }
        let document = try ReportDocument(json)
        let html = HTMLReport.render(document)
        // The page's own script is the only one, and no element or attribute came from the text.
        #expect(html.components(separatedBy: "<script").count - 1 == 1)
        #expect(!html.contains("<img"))
        #expect(!html.contains("</textarea>"))
        #expect(!html.contains("javascript:"))
        #expect(!html.contains("'"))
        #expect(!html.contains("\u{1b}"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;amp;&lt;/textarea&gt;&lt;img src=x onerror=alert(2)&gt;|`\\x1b[31m"))
        #expect(html.contains("data-upstream=\"&lt;script&gt;"))

        let markdown = MarkdownReport.render(document)
        // Outside code spans (where everything is literal), nothing of it is markup.
        #expect(!Markdown.outsideCodeSpans(markdown).contains("<script>"))
        #expect(Markdown.outsideCodeSpans(markdown).contains("\\<script\\>"))
        #expect(!markdown.contains("\u{1b}"))
        #expect(markdown.contains(#"\<script\>alert(1)\</script\>"'\&amp;\</textarea\>\<img src=x onerror=alert(2)\>\|\`\\x1b\[31m\\x0a# x"#))
        // Every table row keeps its column count: pipes from the text are escaped.
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix(#"| \<script"#) }
        #expect(rows.count == 3)
        for line in rows {
            let cells = line.replacingOccurrences(of: #"\|"#, with: "").split(separator: "|", omittingEmptySubsequences: false).count
            #expect(cells == 9, "\(line)")
        }
    }

    /// `client_errors` (docs/json-report.md) as the client-side correlation writes it: each linked to its
    /// upstream connection's section, the unexplained ones called so.
    @Test func clientErrorsLinkToTheirUpstreamConnection() throws {
        guard case .object(var members) = SyntheticReport.document(connections: 2, upstreams: 1, text: "t", heavy: false) else {
            Issue.record("not an object")
            return
        }
        members.append(("client_errors", .array([
            .object([
                ("client", .string("203.0.113.10:51234")), ("status", .number(502)), ("time", .string("2027-01-15T08:00:00.002000000Z")),
                ("request", .string("GET /v1/report")), ("generated_by", .string("gateway")), ("upstream_connection", .string("c1")),
                ("cause", .string("http.chunked.bad_size.1")),
            ]),
            .object([
                ("client", .string("203.0.113.11:40000")), ("status", .number(504)), ("time", .string("2027-01-15T08:00:00.003000000Z")),
                ("request", .string("GET /<b>slow</b>")), ("generated_by", .string("gateway")), ("upstream_connection", .null), ("cause", .null),
            ]),
        ])))
        let document = try ReportDocument(.object(members))
        let html = HTMLReport.render(document)
        #expect(html.contains("<p>2 failure(s) the gateway&#39;s clients saw (error statuses, empty replies, resets, cut bodies): 1 explained by an upstream connection, 1 unexplained.</p>"))
        #expect(html.contains("<td><a href=\"#c1\">c1</a></td>"))
        #expect(html.contains("<tr class=\"unexplained\">"))
        #expect(html.contains("<code>GET /&lt;b&gt;slow&lt;/b&gt;</code>"))
        let markdown = MarkdownReport.render(document)
        #expect(markdown.contains("Clients saw 2 failure(s) (502, 503, 504, empty replies, resets, cut bodies): **1 explained** by an upstream connection, **1 unexplained**."))
        #expect(markdown.contains("| `GET /v1/report` | gateway | c1 | `http.chunked.bad_size.1` |"))
        #expect(markdown.contains("| **unexplained** |"))
    }

    @Test func hexdumpMarksTheOffendingBytesWithTheirFrame() throws {
        let json = SyntheticReport.document(connections: 1, upstreams: 1, text: "t")
        let html = HTMLReport.render(try ReportDocument(json))
        // Context from offset 900 (0x384); the evidence is 4 bytes at 1000 (0x3e8), in row 0x3e4.
        #expect(html.contains("<span class=\"off\">000003e4</span>  3c 73 63 72 <mark class=\"evidence-byte\" title=\"frame 49\">69 70 74 3e</mark> 3c 73"))
        #expect(html.contains("&lt;scr<mark class=\"evidence-byte\" title=\"frame 49\">ipt&gt;</mark>&lt;s"))
    }
}

