import Foundation
import Testing
import TestSupport

/// Class `500`, a gateway's own 500 for an upstream's failure, in every output and in --fail-on.
struct Class500ReportTests {
    /// Apache 2.4.71 answered 500 for an expired upstream certificate (captures/apache/tls-cert-expired.error.log: AH02039).
    @Test func apachesOwn500IsClass500InEveryReport() throws {
        let out = Paths.temporaryDirectory("class500") + "/out"
        let run = try Run([
            "analyze", Paths.captures + "/apache/tls-cert-expired.pcap", "--gateway", "apache:2.4",
            "--ca-file", Paths.captures + "/apache/tls/root.pem", "--out", out, "--fail-on", "500",
        ])
        #expect(run.status == 3)
        #expect(run.stdout.contains("tls.cert.expired [500, tls]"))
        #expect(run.stdout.contains("apache 500 \"AH02039: Certificate Verification: Error (10): certificate has expired\"; nginx 502"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let connection = try #require((json["connections"] as? [[String: Any]])?.first)
        let verdict = try #require(connection["verdict"] as? [String: Any])
        #expect(verdict["class"] as? String == "500")
        let apache = try #require((verdict["gateways"] as? [String: Any])?["apache"] as? [String: Any])
        #expect(apache["status"] as? Int == 500)
        #expect((apache["log"] as? String)?.hasPrefix("AH02039: ") == true)
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("<span class=\"cls cls-500\">500</span>"))
        #expect(html.contains(".cls-500,"))
        #expect(html.contains("<tr><td>apache</td><td>500</td>"))
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.contains("| apache | 500 |"))
    }
}
