import CaptureModel
import Foundation
import PacketDecoding
import Reporting
import Testing
import TestSupport

/// Real captures, with the options their verdicts need: plain HTTP, both link types, IPv6,
/// TLS 1.2 with a chain verified, TLS 1.3 decrypted with a key log.
private let roundTripCaptures: [[String]] = [
    ["nginx/pool-of-three.pcap", "--gateway", "nginx:1.22"],
    ["nginx/any-mixed.pcap"],
    ["nginx/http-chunked-bad-size.pcap"],
    ["nginx/tcp-keepalive-race.pcap"],
    ["nginx/ipv6-loopback.pcap"],
    ["nginx/healthy-keepalive.pcapng"],
    ["nginx/tls-cert-expired.pcap", "--ca-file", "tls/root.pem"],
    ["nginx/tls-cert-missing-intermediate.pcap", "--ca-file", "tls/root.pem"],
    ["no-gateway/tls-keylog-chunked-bad-size-1.3-aes128gcm.pcap", "--keylog", "no-gateway/tls-keylog-chunked-bad-size-1.3-aes128gcm.keylog", "--ca-file", "tls/root.pem"],
]

/// `analyze CAPTURE --out DIR` with the capture's options (paths relative to captures/).
private func analyze(_ arguments: [String], label: String) throws -> (run: Run, directory: String) {
    let directory = Paths.temporaryDirectory(label) + "/out"
    var command = ["analyze", Paths.captures + "/" + arguments[0], "--out", directory]
    var rest = arguments.dropFirst()
    while let option = rest.popFirst() {
        command.append(option)
        if let value = rest.popFirst() {
            command.append(["--ca-file", "--keylog"].contains(option) ? Paths.captures + "/" + value : value)
        }
    }
    return (try Run(command), directory)
}

@Test(arguments: roundTripCaptures)
func reportRendersTheSameBytesAsTheRunThatWroteIt(arguments: [String]) throws {
    let (run, directory) = try analyze(arguments, label: "roundtrip")
    #expect(run.status == 0, "\(run.stderr)")
    let json = try String(contentsOfFile: directory + "/report.json", encoding: .utf8)
    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)

    // The JSON reads back to the same document: order, number kinds and text.
    let parsed = try JSONValue(parsing: json)
    #expect(parsed.serialized(pretty: true) + "\n" == json)

    let htmlAgain = try Run(["report", directory + "/report.json", "--format", "html"])
    #expect(htmlAgain.status == 0)
    #expect(htmlAgain.stderr.isEmpty)
    #expect(Array(htmlAgain.stdout.utf8) == Array(html.utf8))
    let markdownAgain = try Run(["report", directory + "/report.json", "--format", "md"])
    #expect(markdownAgain.status == 0)
    #expect(Array(markdownAgain.stdout.utf8) == Array(markdown.utf8))

    // A failing connection has its section, ladder and display filter in the page.
    let failing = parsed["connections"].items.filter { $0["verdict"]["class"].string != "ok" }
    for connection in failing {
        let id = try #require(connection["id"].string)
        #expect(html.contains("id=\"\(id)\""))
        #expect(!connection["tcp"]["ladder"].isNull)
        #expect(connection["display_filter"].string?.contains("frame.number>=") == true)
    }
    #expect(parsed["connections"].items.filter { $0["verdict"]["class"].string == "ok" }.allSatisfy { $0["tcp"]["ladder"].isNull })
}

@Test func reportWritesToOutputThroughARename() throws {
    let (run, directory) = try analyze(["nginx/refused.pcap"], label: "output")
    #expect(run.status == 0)
    let target = Paths.temporaryDirectory("output") + "/again.html"
    let written = try Run(["report", directory + "/report.json", "--format", "html", "--output", target])
    #expect(written.status == 0)
    #expect(written.stdout.isEmpty)
    #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(contentsOf: URL(fileURLWithPath: directory + "/report.html")))
}

@Test func tlsSectionShowsTheChainAndOpenSSLsResult() throws {
    let (run, directory) = try analyze(["nginx/tls-cert-expired.pcap", "--ca-file", "tls/root.pem"], label: "tls")
    #expect(run.status == 0)
    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    #expect(html.contains("<h4>TLS</h4>"))
    #expect(html.contains("OpenSSL verification: <b>failed</b> · code 10 (certificate has expired) at depth 0"))
    #expect(html.contains("<td>CN=upstream.test</td>"))
    #expect(html.contains("<code>upstream.test</code>"))
}

@Test(arguments: [
    ("/nonexistent/report.json", "No such file or directory"),
    ("not-json", "not valid JSON (line 1, column 1: unexpected character, expected a value)"),
    ("wrong-schema", "schema is \"edgescope.report/0\", not \"edgescope.report/1\""),
    ("empty", "empty file"),
    ("directory", "not a regular file"),
])
func unreadableReportIsOneLineAndStatusTwo(name: String, reason: String) throws {
    let directory = Paths.temporaryDirectory("badreport")
    var path = name
    switch name {
    case "not-json": try Data("GET / HTTP/1.1\r\n".utf8).write(to: URL(fileURLWithPath: directory + "/x.json"))
    case "wrong-schema": try Data(#"{"schema": "edgescope.report/0"}"#.utf8).write(to: URL(fileURLWithPath: directory + "/x.json"))
    case "empty": try Data().write(to: URL(fileURLWithPath: directory + "/x.json"))
    default: break
    }
    if name != "/nonexistent/report.json" { path = name == "directory" ? directory : directory + "/x.json" }
    for format in ["html", "md"] {
        let run = try Run(["report", path, "--format", format])
        #expect(run.status == 2)
        #expect(run.errorLines == ["edgescope: cannot read report \(path): \(reason)"])
        #expect(run.stdout.isEmpty)
    }
}

@Test func reportWithAnUnknownFormatIsAUsageError() throws {
    let run = try Run(["report", "/nonexistent/report.json", "--format", "pdf"])
    #expect(run.status == 1)
}

// MARK: --fail-on

@Test(arguments: [
    (["--fail-on", "502"], 3),
    (["--fail-on", "truncated,relayed"], 0),
    (["--fail-on", "ok"], 0),
    (["--fail-on", "unknown", "--fail-on", "504, 502"], 3),
    (["--fail-on", "502", "--json"], 3),
    (["--fail-on", "bad-gateway"], 1),
    (["--fail-on", "502,"], 1),
    (["--fail-on", ""], 1),
] as [([String], Int32)])
func failOnExitsThreeWhenAConnectionOfTheClassesIsFound(options: [String], status: Int32) throws {
    // refused.pcap: one connection, refused: class 502.
    let directory = Paths.temporaryDirectory("failon") + "/out"
    let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--out", directory] + options)
    #expect(run.status == status, "\(run.stderr)")
    switch status {
    case 3:
        // Every output is written before the exit status says what was found.
        #expect(run.errorLines == ["edgescope: --fail-on: 1 connection(s) of class 502"])
        for name in ["report.json", "report.md", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + name))
        }
        if options.contains("--json") {
            #expect((try? JSONValue(parsing: run.stdout))?["schema"].string == "edgescope.report/1")
        } else {
            #expect(run.stdout.contains("tcp.connect.refused"))
        }
    case 1:
        #expect(run.errorLines.count == 1)
        #expect(run.errorLines.first?.hasPrefix("edgescope: --fail-on '") == true)
        #expect(run.stderr.hasSuffix("; classes: \(VerdictClass.allCases.map(\.rawValue).joined(separator: ", "))\n"))
        #expect(!FileManager.default.fileExists(atPath: directory))
    default:
        #expect(run.stderr.isEmpty)
    }
}

// MARK: Markup from the wire

@Test func markupFromTheWireIsEscapedInHTMLAndInertInMarkdown() throws {
    let request = Array("GET /<script>alert(1)</script>?q=\"x\"&y=1 HTTP/1.1\r\nHost: <b>up</b>\r\n\r\n".utf8)
    // `<` is not a token character (RFC 9110 §5.6.2): the header name is the finding, and its bytes the evidence.
    let response = Array("HTTP/1.1 200 OK\r\nX-<script>alert(1)</script>: \"&amp;\"\r\nContent-Length: 0\r\n\r\n".utf8)
    let base = Paths.temporaryDirectory("markup")
    let capture = base + "/markup.pcap"
    try PcapFileBuilder.oneExchange(request: request, response: response).write(to: capture)
    let directory = base + "/out"
    // nginx passes this header through; HAProxy answers 502, so the connection gets its section.
    let run = try Run(["analyze", capture, "--out", directory, "--gateway", "haproxy"])
    #expect(run.status == 0)

    let report = try JSONValue(parsing: String(contentsOfFile: directory + "/report.json", encoding: .utf8))
    let connection = try #require(report["connections"].items.first)
    #expect(connection["verdict"]["code"].string == "http.header.name_non_token")
    #expect(connection["verdict"]["class"].string == "502")
    #expect(connection["transactions"].items.first?["request"]["target"].string == "/<script>alert(1)</script>?q=\"x\"&y=1")

    let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
    #expect(html.components(separatedBy: "<script").count - 1 == 1)
    #expect(!html.contains("<script>alert"))
    #expect(!html.contains("<b>up</b>"))
    #expect(html.contains("<code>GET /&lt;script&gt;alert(1)&lt;/script&gt;?q=&quot;x&quot;&amp;y=1</code>"))
    #expect(html.contains("&lt;b&gt;up&lt;/b&gt;"))
    // The hexdump's text column: the name's bytes as text, marked from the offending `<` to the
    // colon (the rest of the bad name, issue 15 item 12).
    #expect(html.contains("X-<mark class=\"evidence-byte\" title=\"frame 5\">&lt;script&gt;alert</mark>"))
    #expect(html.contains("<mark class=\"evidence-byte\" title=\"frame 5\">(1)&lt;/script&gt;</mark>: "))

    let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
    let prose = Markdown.outsideCodeSpans(markdown)
    #expect(!prose.contains("<script"))
    #expect(!prose.contains("<b>"))
    #expect(markdown.contains("```\n"))
}
