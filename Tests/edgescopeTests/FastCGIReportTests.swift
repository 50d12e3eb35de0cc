import Foundation
import Testing
import TestSupport

/// What a FastCGI application wrote to FCGI_STDERR, with the verdict in every output.
struct FastCGIReportTests {
    @Test func stderrOfAFatalErrorIsInEveryReport() throws {
        let message = "PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /var/www/html/index.php:3"
        let request = FastCGIWire.request("GET", "/index.php")
        let response = FastCGIWire.stderr(message) + FastCGIWire.stdout("Status: 500 Internal Server Error\r\nContent-type: text/html\r\n\r\n")
            + FastCGIWire.end()
        let directory = Paths.temporaryDirectory("fastcgi-stderr")
        let capture = directory + "/fcgi.pcap"
        try PcapFileBuilder.oneExchange(request: request, response: response).write(to: capture)
        let out = directory + "/out"
        let run = try Run(["analyze", capture, "--out", out, "--fail-on", "500"])
        #expect(run.status == 3)
        #expect(run.stdout.contains("fcgi.stderr.fatal [500, response_head]"))
        #expect(run.stdout.contains("    stderr: " + message + "\n"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let connection = try #require((json["connections"] as? [[String: Any]])?.first)
        let verdict = try #require(connection["verdict"] as? [String: Any])
        #expect(verdict["code"] as? String == "fcgi.stderr.fatal")
        #expect(verdict["class"] as? String == "500")
        #expect(verdict["stderr"] as? String == message)
        let transaction = try #require((connection["transactions"] as? [[String: Any]])?.first)
        #expect(String(describing: transaction).contains("/index.php"))
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.contains("The application wrote to stderr (FCGI_STDERR):\n\n```\n" + message + "\n```\n"))
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("<pre class=\"stderr\">PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /var/www/html/index.php:3</pre>"))
    }

    @Test func headerErrorInsideStdoutHasItsContentOffsetInTheJSON() throws {
        let request = FastCGIWire.request()
        let response = FastCGIWire.stdout("Content Type: text/plain\r\n\r\nx") + FastCGIWire.end()
        let directory = Paths.temporaryDirectory("fastcgi-header")
        let capture = directory + "/fcgi.pcap"
        try PcapFileBuilder.oneExchange(request: request, response: response).write(to: capture)
        let run = try Run(["analyze", capture, "--out", directory + "/out"])
        #expect(run.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/out/report.json"))) as? [String: Any])
        let connection = try #require((json["connections"] as? [[String: Any]])?.first)
        #expect((connection["verdict"] as? [String: Any])?["code"] as? String == "http.header.name_ctl_or_space")
        let evidence = try #require((connection["evidence"] as? [[String: Any]])?.first)
        #expect(evidence["content_offset"] as? Int == 7)
        #expect(evidence["stream_offset"] as? Int == 15)
        #expect(evidence["frame"] as? Int == 5)
    }
}
