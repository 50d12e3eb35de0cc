@testable import edgescope
import Foundation
import Testing
import TestSupport

/// `analyze` on the DNS captures (captures/dns/, nginx 1.22.1 and a scripted DNS server): the
/// text summary, report.md and report.html list the names, their answers and failures over time,
/// and report.json has the `dns` section.
struct DNSReportCommandTests {
    static func capture(_ name: String) -> String { Paths.captures + "/dns/" + name + ".pcap" }

    @Test func aNameThatDidNotResolveIsListedInEveryFormat() throws {
        let directory = Paths.temporaryDirectory("dns-report") + "/out"
        let run = try Run(["analyze", Self.capture("nginx-nxdomain"), "--out", directory])
        #expect(run.status == 0)
        #expect(run.stdout.contains("    502 GET /nx/1 from 127.0.0.1:39690 ← dns.nxdomain: no upstream connection; nx.internal did not resolve (DNS frame 33)\n"))
        #expect(run.stdout.contains("\nDNS: 8 message(s) (0 over TCP), 2 name(s)\n"))
        #expect(run.stdout.contains("  nx.internal: 2 queries, 2 answer(s), 2 NXDOMAIN\n"))
        #expect(run.stdout.contains("    2026-12-07T01:55:18.324190000Z frame 32 A NXDOMAIN\n"))
        #expect(run.stdout.contains("  dns.nxdomain: nx.internal was answered NXDOMAIN 2 times (first in frame 32)\n"))
        let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
        #expect(markdown.contains("\n## DNS\n"))
        #expect(markdown.contains("| `nx.internal` | 2 | 2 | 2 | 0 | 0 | 0 | 0 |  |"))
        #expect(markdown.contains("| 2026-12-07T01:55:18.324304000Z | `nx.internal` | AAAA | NXDOMAIN |  |  | 33 |"))
        #expect(markdown.contains("none: `nx.internal` did not resolve (DNS frame 33) | `dns.nxdomain` |"))
        let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(html.contains("<section id=\"dns\"><h2>DNS</h2>"))
        #expect(html.contains("<a href=\"#dns\">DNS</a>"))
        #expect(html.contains("none: <code>nx.internal</code> did not resolve (DNS frame 33)"))
    }

    @Test func theJSONReportsDNSSectionHasNamesAnswersAndFindingsWithFrames() throws {
        let run = try Run(["analyze", Self.capture("nginx-drift"), "--json"])
        #expect(run.status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let dns = try #require(document["dns"] as? [String: Any])
        let names = try #require(dns["names"] as? [[String: Any]])
        #expect(names.map { $0["name"] as? String } == ["drift.internal"])
        let history = try #require(names.first?["history"] as? [[String: Any]])
        #expect(history.count == 10)
        #expect(history.first?["addresses"] as? [String] == ["127.0.0.1"])
        #expect(history.first?["ttl"] as? Int == 30)
        let changes = try #require(names.first?["changes"] as? [[String: Any]])
        #expect(changes.first?["frame"] as? Int == 296)
        #expect(changes.first?["added"] as? [String] == ["127.0.0.9"])
        let finding = try #require((dns["findings"] as? [[String: Any]])?.first)
        #expect(finding["code"] as? String == "dns.drift")
        #expect(finding["frame"] as? Int == 296)
        #expect(finding["address"] as? String == "127.0.0.9")
        #expect((finding["failed_connections"] as? [String])?.count == 16)
        // Each refused connection carries the finding, its evidence the answer's frame.
        let connections = try #require(document["connections"] as? [[String: Any]])
        let moved = connections.filter { ($0["server"] as? String)?.hasPrefix("127.0.0.9:") == true }
        #expect(moved.count == 16)
        for connection in moved {
            let findings = try #require(connection["findings"] as? [[String: Any]])
            let drift = try #require(findings.first { $0["code"] as? String == "dns.drift" })
            let index = try #require((drift["evidence"] as? [Int])?.first)
            #expect((connection["evidence"] as? [[String: Any]])?[index]["frame"] as? Int == 296)
        }
    }

    @Test func aCaptureWithoutDNSHasNoDNSSectionInAnyFormat() throws {
        let directory = Paths.temporaryDirectory("dns-none") + "/out"
        let run = try Run(["analyze", Paths.captures + "/nginx/client-hop.pcap", "--out", directory])
        #expect(run.status == 0)
        #expect(!run.stdout.contains("\nDNS:"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))) as? [String: Any])
        #expect(document["dns"] == nil)
        #expect(!(try String(contentsOfFile: directory + "/report.html", encoding: .utf8)).contains("id=\"dns\""))
    }
}
