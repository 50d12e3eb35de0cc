@testable import edgescope
import CaptureModel
import Foundation
import Testing
import TestSupport

/// `analyze --gateway-log` on the sample captures with the gateway's own logs beside them:
/// which line joins which connection and client error, and where the words and bytes disagree.
struct GatewayLogCommandTests {
    /// The layouts captures/tools gives nginx, Apache and lighttpd (run-scenario.py,
    /// client-hop-run.py, gw_apache_lighttpd.py).
    static let formats = [
        "--gateway-log-format", #"nginx:$msec $status "$upstream_addr" "$upstream_status" "$upstream_connect_time" "$request" $remote_addr $remote_port"#,
        "--gateway-log-format",
        #"nginx:$msec $status "$upstream_addr" "$upstream_status" "$upstream_connect_time" "$request" $remote_addr $remote_port $request_id "$http_x_request_id""#,
        "--gateway-log-format", #"apache:%{%s}t.%{usec_frac}t %>s \"%r\" %a %{remote}p %D %X"#,
        "--gateway-log-format", #"lighttpd:%{%s}t.%{usec_frac}t %>s "%r" %h %b %D"#,
    ]

    struct Joined: Equatable, CustomStringConvertible {
        var owner: String
        var file: String
        var line: Int
        var matchedBy: [String]
        var disagreement: String?
        var description: String { "\(self.owner) ← \(self.file):\(self.line) \(self.matchedBy)\(self.disagreement.map { " ! \($0)" } ?? "")" }
    }

    /// `analyze CAPTURE --json` with `logs` (relative to captures/): the lines each connection
    /// (`c1`) and client error (`client 127.0.0.1:60698`) got, and the document.
    static func joins(_ capture: String, logs: [String], extra: [String] = []) throws -> ([Joined], [String: Any]) {
        var arguments = ["analyze", Paths.captures + "/" + capture, "--json", "--gateway-log-tz", "UTC"] + extra + Self.formats
        for log in logs { arguments += ["--gateway-log", Paths.captures + "/" + log] }
        let run = try Run(arguments)
        #expect(run.status == 0, "\(run.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        var joined: [Joined] = []
        func add(_ owner: String, _ notes: [[String: Any]]) {
            for note in notes {
                joined.append(Joined(
                    owner: owner, file: String((note["file"] as? String ?? "").split(separator: "/").last ?? ""), line: note["line"] as? Int ?? 0,
                    matchedBy: note["matched_by"] as? [String] ?? [], disagreement: note["disagreement"] as? String))
            }
        }
        for connection in document["connections"] as? [[String: Any]] ?? [] {
            add(connection["id"] as? String ?? "?", connection["gateway_log"] as? [[String: Any]] ?? [])
        }
        for error in document["client_errors"] as? [[String: Any]] ?? [] {
            add("client " + (error["client"] as? String ?? "?"), error["gateway_log"] as? [[String: Any]] ?? [])
        }
        return (joined, document)
    }

    static func section(_ document: [String: Any]) -> [String: Any] {
        document["gateway_log"] as? [String: Any] ?? [:]
    }

    @Test func nginxErrorAndAccessLinesJoinTheirConnections() throws {
        let (joined, document) = try Self.joins("nginx/any-mixed.pcap", logs: ["nginx/any-mixed.nginx-error.log", "nginx/any-mixed.access.log"])
        #expect(joined == [
            Joined(owner: "c1", file: "any-mixed.access.log", line: 1, matchedBy: ["upstream", "request", "time"]),
            Joined(owner: "c1", file: "any-mixed.access.log", line: 3, matchedBy: ["upstream", "request", "time"]),
            // The refused connection carried no request: the upstream nginx names ties it.
            Joined(owner: "c2", file: "any-mixed.nginx-error.log", line: 1, matchedBy: ["upstream", "time"]),
            Joined(owner: "c2", file: "any-mixed.access.log", line: 2, matchedBy: ["upstream", "time"]),
            Joined(owner: "c3", file: "any-mixed.nginx-error.log", line: 2, matchedBy: ["upstream", "request", "time"]),
            Joined(owner: "c3", file: "any-mixed.access.log", line: 4, matchedBy: ["upstream", "request", "time"]),
        ])
        let section = Self.section(document)
        #expect(section["matched"] as? Int == 6)
        #expect(section["unmatched_count"] as? Int == 0)
        #expect(section["zone"] as? String == "UTC")
        let connection = try #require((document["connections"] as? [[String: Any]])?.first { $0["id"] as? String == "c2" })
        let line = try #require((connection["gateway_log"] as? [[String: Any]])?.first)
        #expect(line["time"] as? String == "2026-11-22T01:11:36.000000000Z")
        #expect(line["kind"] as? String == "nginx_error")
        let fields = try #require(line["fields"] as? [String: String])
        #expect(fields["message"] == "connect() failed (111: Connection refused) while connecting to upstream")
        #expect(fields["upstream"] == "http://127.0.0.1:18082/refused/2")
        #expect((line["text"] as? String)?.hasPrefix("2026/11/22 01:11:36 [error] 30566#30566: *3 connect() failed") == true)
    }

    /// nginx's access log says 200 for the request whose client got an empty reply (a bad chunk
    /// size after the head was relayed).
    @Test func anAccessLog200ForAnEmptyReplyIsADisagreement() throws {
        let (joined, _) = try Self.joins(
            "nginx/client-hop-cut.pcap", logs: ["nginx/client-hop-cut.nginx-error.log", "nginx/client-hop-cut.access.log"])
        let empty = joined.filter { $0.owner == "client 127.0.0.1:60698" }
        #expect(empty == [
            Joined(owner: "client 127.0.0.1:60698", file: "client-hop-cut.nginx-error.log", line: 3, matchedBy: ["request", "upstream", "time"]),
            Joined(
                owner: "client 127.0.0.1:60698", file: "client-hop-cut.access.log", line: 4, matchedBy: ["client_port", "request", "request_id", "upstream", "time"],
                disagreement: "nginx's access log says 200, but the client got an empty reply (the connection closed before a byte of the response)."),
        ])
        // The upstream connection behind it: the same two lines, the access log's 200 against the cut body.
        let upstream = joined.filter { $0.owner == "c8" }
        #expect(upstream.map(\.line) == [3, 4])
        #expect(upstream[1].disagreement?.hasPrefix("nginx's access log says 200, but the upstream's response never came whole (http.chunked.bad_size:") == true)
    }

    /// HAProxy logs one TLS error for four certificate faults; the bytes tell them apart.
    @Test(arguments: [
        ("tls-cert-expired", "tls.cert.expired"), ("tls-cert-self-signed", "tls.cert.self_signed"),
        ("tls-cert-unknown-ca", "tls.cert.unknown_ca"), ("tls-cert-name-mismatch", "tls.cert.name_mismatch"),
    ])
    func haproxysOneCertificateErrorIsADisagreement(scenario: String, code: String) throws {
        let (joined, document) = try Self.joins(
            "haproxy/\(scenario).haproxy.pcap", logs: ["haproxy/\(scenario).haproxy.log"],
            extra: ["--gateway", "haproxy", "--ca-file", Paths.captures + "/tls/root.pem"])
        #expect(joined.count == 1)
        #expect(joined.first?.owner == "c1")
        #expect(joined.first?.line == 1)
        #expect(joined.first?.matchedBy == ["time"])
        let disagreement = try #require(joined.first?.disagreement)
        #expect(disagreement.hasPrefix(
            "HAProxy logs 'error:0A000086:SSL routines::certificate verify failed', the same words for an expired, a self-signed, an unknown-CA and a wrong-host certificate; the bytes show which: \(code): "))
        // HAProxy's own events ("Proxy fe stopped") are listed, not dropped.
        #expect(Self.section(document)["unmatched_count"] as? Int == 3)
        let unmatched = try #require(Self.section(document)["unmatched"] as? [[String: Any]])
        #expect(unmatched.map { $0["line"] as? Int } == [2, 3, 4])
    }

    /// nginx blames a timeout where the bytes show a Content-Length it could not read.
    @Test func nginxsTimeoutForAnInvalidContentLengthIsADisagreement() throws {
        let (joined, _) = try Self.joins("nginx/http-cl-invalid.pcap", logs: ["nginx/http-cl-invalid.nginx-error.log", "nginx/http-cl-invalid.access.log"])
        #expect(joined.map(\.line) == [1, 1])
        #expect(joined[0].file == "http-cl-invalid.nginx-error.log")
        #expect(joined[0].disagreement?.hasPrefix(
            "nginx logs 'upstream timed out (110: Connection timed out) while reading upstream', but the bytes show http.cl.invalid: ") == true)
        #expect(joined[0].disagreement?.hasSuffix("The close or timeout nginx names follows a response it could not frame; the cause is in the response.") == true)
    }

    @Test func apacheErrorAndAccessLines() throws {
        let (joined, _) = try Self.joins(
            "apache/fin-before-response.pcap", logs: ["apache/fin-before-response.error.log", "apache/fin-before-response.access.log"],
            extra: ["--gateway", "apache"])
        #expect(joined == [
            Joined(owner: "c1", file: "fin-before-response.error.log", line: 1, matchedBy: ["upstream", "time"]),
            Joined(owner: "c1", file: "fin-before-response.error.log", line: 2, matchedBy: ["request", "time"]),
            Joined(owner: "c1", file: "fin-before-response.access.log", line: 1, matchedBy: ["request", "time"]),
        ])
    }

    @Test func lighttpdErrorAndAccessLines() throws {
        let (joined, _) = try Self.joins(
            "lighttpd/refused.pcap", logs: ["lighttpd/refused.error.log", "lighttpd/refused.access.log"], extra: ["--gateway", "lighttpd"])
        #expect(joined == [
            Joined(owner: "c1", file: "refused.error.log", line: 1, matchedBy: ["upstream", "time"]),
            Joined(owner: "c1", file: "refused.error.log", line: 2, matchedBy: ["time"]),
            Joined(owner: "c1", file: "refused.access.log", line: 1, matchedBy: ["time"]),
        ])
    }

    @Test func caddysJSONLog() throws {
        let (joined, document) = try Self.joins("caddy/fin-before-response.pcap", logs: ["caddy/fin-before-response.gateway.log"], extra: ["--gateway", "caddy"])
        #expect(joined == [
            Joined(owner: "c1", file: "fin-before-response.gateway.log", line: 10, matchedBy: ["upstream", "time"]),
            Joined(owner: "c1", file: "fin-before-response.gateway.log", line: 11, matchedBy: ["upstream", "request", "time"]),
            Joined(owner: "c1", file: "fin-before-response.gateway.log", line: 12, matchedBy: ["request", "time"]),
            Joined(owner: "c1", file: "fin-before-response.gateway.log", line: 13, matchedBy: ["request", "time"]),
        ])
        // Caddy's start and stop lines are about no request: listed among those that joined nothing.
        #expect(Self.section(document)["unmatched_count"] as? Int == 14)
    }

    /// varnishlog's BackendOpen names the connection's own port.
    @Test func varnishlogBackendFetchJoinsByTheGatewaysPort() throws {
        let (joined, _) = try Self.joins("varnish/fin-before-response.pcap", logs: ["varnish/fin-before-response.gateway.log"], extra: ["--gateway", "varnish"])
        #expect(joined == [
            Joined(owner: "c1", file: "fin-before-response.gateway.log", line: 1, matchedBy: ["request", "time"]),
            Joined(owner: "c1", file: "fin-before-response.gateway.log", line: 39, matchedBy: ["gateway_port", "upstream", "request", "time"]),
        ])
    }

    /// HAProxy's `be/<NOSRV>` lines (every server down) join the client errors by the client's
    /// port, and no connection: neither the refused health checks nor the clients' own connections.
    @Test func haproxysNoServerLinesJoinTheClientErrorsOnly() throws {
        let out = Paths.temporaryDirectory("gwlog-nosrv") + "/out"
        let run = try Run([
            "analyze", Paths.captures + "/haproxy/client-hop-no-server.haproxy.pcap", "--gateway", "haproxy", "--out", out,
            "--gateway-log", Paths.captures + "/haproxy/client-hop-no-server.haproxy.log", "--gateway-log-tz", "UTC",
        ])
        #expect(run.status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let connections = try #require(document["connections"] as? [[String: Any]])
        #expect(connections.allSatisfy { ($0["gateway_log"] as? [Any])?.isEmpty ?? true })
        let errors = try #require(document["client_errors"] as? [[String: Any]])
        let joined = errors.map { error in
            ((error["gateway_log"] as? [[String: Any]]) ?? []).map { "\(error["client"] as? String ?? "?") \($0["line"] as? Int ?? 0) \($0["matched_by"] as? [String] ?? [])" }
        }
        #expect(joined == [
            [#"127.0.0.1:34950 4 ["client_port", "request", "time"]"#], [#"127.0.0.1:34962 5 ["client_port", "request", "time"]"#],
            [#"127.0.0.1:34972 6 ["client_port", "request", "time"]"#],
        ])
        #expect(Self.section(document)["matched"] as? Int == 3)
        #expect(Self.section(document)["unmatched_count"] as? Int == 6)
    }

    /// 1200 access lines on two keep-alive connections: each lists 50, counts the rest.
    @Test func aKeepAliveConnectionListsFiftyLinesAndCountsTheRest() throws {
        let (joined, document) = try Self.joins("nginx/healthy-control.pcap", logs: ["nginx/healthy-control.access.log"])
        #expect(joined.filter { $0.owner == "c1" }.map(\.line) == Array(1...50))
        #expect(joined.filter { $0.owner == "c2" }.map(\.line) == Array(1001...1050))
        let connections = try #require(document["connections"] as? [[String: Any]])
        #expect(connections.map { $0["gateway_log_not_listed"] as? Int } == [950, 150])
        #expect(Self.section(document)["matched"] as? Int == 1200)
    }

    /// 1,300 short connections with an access log line each, two of them answered with a
    /// malformed head (nginx logs 502). The notes of the connections the summary will not
    /// list are let go once 1,024 are held; the summary's two failures, one annotated before
    /// that and one after, still show their lines, and report.json still has every
    /// connection's line joined.
    @Test func theSummaryKeepsTheLinesOfItsConnectionsWhenTheOthersAreLetGo() throws {
        let directory = Paths.temporaryDirectory("gwlog-many")
        let capture = directory + "/short.pcap"
        let log = directory + "/access.log"
        let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)
        let failing: Set<Int> = [5, 1200]
        var file = PcapFileBuilder()
        var lines = ""
        for index in 0..<1300 {
            var time: Int64 = (1_700_000_000_000 + Int64(index) * 10) * 1_000_000
            let request = Array("GET /item/\(index) HTTP/1.0\r\nHost: api\r\n\r\n".utf8)
            let head = failing.contains(index) ? "HTTP/1.1 200 OK\r\nBad Header: x\r\n" : "HTTP/1.1 200 OK\r\n"
            file.appendExchange(
                from: Endpoint(address: .v4(0x0a00_0001), port: UInt16(20000 + index)), to: upstream,
                request: request, response: Array((head + "Content-Length: 2\r\n\r\nok").utf8), time: &time)
            let status = failing.contains(index) ? "502" : "200"
            let milliseconds = time / 1_000_000
            lines += "\(milliseconds / 1000).\(String(format: "%03d", Int(milliseconds % 1000))) \(status) \"10.0.3.24:8080\" \"\(status)\" \"GET /item/\(index) HTTP/1.0\" 0.001\n"
        }
        try file.write(to: capture)
        try lines.write(toFile: log, atomically: true, encoding: .utf8)
        let out = directory + "/out"
        let run = try Run([
            "analyze", capture, "--out", out, "--gateway-log", log, "--gateway-log-tz", "UTC", "--gateway-log-format",
            #"nginx:$msec $status "$upstream_addr" "$upstream_status" "$request" $request_time"#,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\(log):6: "), "the line of c6, annotated before the others were let go")
        #expect(run.stdout.contains("\(log):1201: "), "the line of c1201, annotated after")
        #expect(run.stdout.contains("  1300 joined to a connection or client error, 0 joined nothing"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let listed = try #require(report["connections"] as? [[String: Any]])
        let lineOf = listed.map { connection in
            "\(connection["id"] as? String ?? "?") \(((connection["gateway_log"] as? [[String: Any]])?.first?["line"] as? Int) ?? 0)"
        }
        #expect(lineOf == ["c6 6", "c1201 1201"])
    }

    @Test func everyFormatShowsTheLinesAndTheDisagreement() throws {
        let out = Paths.temporaryDirectory("gwlog") + "/out"
        var arguments = ["analyze", Paths.captures + "/nginx/client-hop-cut.pcap", "--out", out, "--gateway-log-tz", "UTC"] + Self.formats
        for log in ["nginx/client-hop-cut.nginx-error.log", "nginx/client-hop-cut.access.log"] { arguments += ["--gateway-log", Paths.captures + "/" + log] }
        let run = try Run(arguments)
        #expect(run.status == 0)
        let disagreement = "nginx's access log says 200, but the client got an empty reply (the connection closed before a byte of the response)."
        #expect(run.stdout.contains("        disagreement: " + disagreement))
        #expect(run.stdout.contains("  8 joined to a connection or client error, 0 joined nothing"))
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.contains("## The gateway's own log"))
        #expect(markdown.contains("- client 127.0.0.1:60698, `" + Paths.captures + "/nginx/client-hop-cut.access.log:4`: " + disagreement))
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("<section id=\"gateway-log\">"))
        #expect(html.contains("<a href=\"#gateway-log\">Gateway log</a>"))
        #expect(html.contains("Disagreement: nginx&#39;s access log says 200") || html.contains("Disagreement: nginx's access log says 200"))
    }

    @Test func anUnreadableLineIsCountedAndListed() throws {
        let directory = Paths.temporaryDirectory("gwlog-unread")
        let lines = try String(contentsOfFile: Paths.captures + "/nginx/any-mixed.nginx-error.log", encoding: .utf8).split(separator: "\n")
        let path = directory + "/error.log"
        try (lines[0] + "\nthis is not a log line\n" + lines[1] + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let run = try Run(["analyze", Paths.captures + "/nginx/any-mixed.pcap", "--json", "--gateway-log", path, "--gateway-log-tz", "UTC"])
        #expect(run.status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let section = Self.section(document)
        #expect(section["unread_count"] as? Int == 1)
        let unread = try #require((section["unread"] as? [[String: Any]])?.first)
        #expect(unread["line"] as? Int == 2)
        #expect(unread["text"] as? String == "this is not a log line")
        #expect(section["matched"] as? Int == 2)
    }

    @Test func aFileInNoLayoutIsOneClearError() throws {
        let run = try Run(["analyze", Paths.captures + "/nginx/any-mixed.pcap", "--gateway-log", Paths.captures + "/nginx/any-mixed.upstream.log"])
        #expect(run.status == 2)
        #expect(run.errorLines.count == 1)
        #expect(run.errorLines.first?.hasPrefix(
            "edgescope: gateway log \(Paths.captures)/nginx/any-mixed.upstream.log: no line is in a layout edgescope reads (") == true)
    }

    @Test func aMissingFileIsOneClearError() throws {
        let run = try Run(["analyze", Paths.captures + "/nginx/any-mixed.pcap", "--gateway-log", "/nonexistent/error.log"])
        #expect(run.status == 2)
        #expect(run.errorLines == ["edgescope: cannot read gateway log /nonexistent/error.log: No such file or directory"])
        let directory = try Run(["analyze", Paths.captures + "/nginx/any-mixed.pcap", "--gateway-log", Paths.captures])
        #expect(directory.status == 2)
        #expect(directory.errorLines == ["edgescope: cannot read gateway log \(Paths.captures): it is a directory"])
    }

    @Test func badOptionsAreUsageErrors() throws {
        let capture = Paths.captures + "/nginx/any-mixed.pcap"
        let log = Paths.captures + "/nginx/any-mixed.nginx-error.log"
        let format = try Run(["analyze", capture, "--gateway-log", log, "--gateway-log-format", "squid:%x"])
        #expect(format.status == 1)
        #expect(format.errorLines == ["edgescope: --gateway-log-format 'squid:%x': give nginx:'<log_format string>' or apache:'<LogFormat string>', with at least one field"])
        let zone = try Run(["analyze", capture, "--gateway-log", log, "--gateway-log-tz", "Mars/Olympus"])
        #expect(zone.status == 1)
        #expect(zone.errorLines == ["edgescope: --gateway-log-tz 'Mars/Olympus': give UTC, an offset such as +02:00, or a tz name such as Europe/Paris"])
        let alone = try Run(["analyze", capture, "--gateway-log-tz", "UTC"])
        #expect(alone.status == 1)
        #expect(alone.errorLines == ["edgescope: --gateway-log-format and --gateway-log-tz need --gateway-log FILE"])
    }

    /// A tz name: nginx's local 01:11:36 in Europe/Paris is 00:11:36 UTC, an hour before the
    /// capture, so nothing joins and the report says why it may be.
    @Test func aZoneThatMissesTheCaptureIsNamedInAWarning() throws {
        let run = try Run([
            "analyze", Paths.captures + "/nginx/any-mixed.pcap", "--json", "--gateway-log", Paths.captures + "/nginx/any-mixed.nginx-error.log",
            "--gateway-log-tz", "Europe/Paris",
        ])
        #expect(run.status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(Self.section(document)["matched"] as? Int == 0)
        #expect((document["warnings"] as? [String])?.contains(
            "No line of the gateway logs joined a connection (the first is from 2026-11-22T00:11:36.000000000Z): if the times are off by hours, give the logs' zone with --gateway-log-tz.") == true)
    }
}
