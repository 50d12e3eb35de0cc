@testable import edgescope
import Engine
import Foundation
import Testing
import TestSupport

/// `analyze` on `captures/nginx/client-hop.pcap` (both hops of nginx), and `--gateway-address`.
struct ClientHopCommandTests {
    static let capture = Paths.captures + "/nginx/client-hop.pcap"

    @Test func jsonReportHasTheClientErrorsBlockOfTheDesign() throws {
        let run = try Run(["analyze", Self.capture, "--gateway", "nginx:1.22", "--json"])
        #expect(run.status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let errors = try #require(document["client_errors"] as? [[String: Any]])
        #expect(errors.count == 7)
        for error in errors {
            for key in ["client", "status", "time", "request", "generated_by", "upstream_connection", "cause"] {
                #expect(error.keys.contains(key), "client_errors entry lacks \(key)")
            }
            #expect(["gateway", "upstream"].contains(error["generated_by"] as? String ?? ""))
        }
        let hop = try #require(document["client_hop"] as? [String: Any])
        #expect(hop["explained"] as? Int == 6)
        #expect(hop["unexplained"] as? Int == 1)
        // The listener's connections are not an upstream's.
        let upstreams = try #require(document["upstreams"] as? [[String: Any]])
        #expect(!upstreams.contains { $0["server"] as? String == "127.0.0.1:18080" })
        let unexplained = try #require(errors.first { $0["upstream_connection"] is NSNull })
        #expect(unexplained["request"] as? String == "GET /gw/8")
        #expect(unexplained["cause"] is NSNull)
    }

    /// A listener found only at the end of the capture: its connections, judged before it was
    /// known (the gateway relayed an upstream's 502, so they are relayed 5xx, listed in full on
    /// stdout only), leave `--json`'s connections as they leave report.json's.
    @Test(arguments: ["client-hop-no-live-upstreams.pcap", "client-hop-cut.pcap", "client-hop.pcap"])
    func jsonOnStdoutListsNoConnectionToTheListener(capture: String) throws {
        let path = Paths.captures + "/nginx/" + capture
        let run = try Run(["analyze", path, "--json"])
        #expect(run.status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let hop = try #require(document["client_hop"] as? [String: Any])
        let listeners = Set(try #require(hop["gateways"] as? [[String: Any]]).compactMap { $0["listen"] as? String })
        let connections = try #require(document["connections"] as? [[String: Any]])
        #expect(!listeners.isEmpty)
        #expect(connections.allSatisfy { !listeners.contains($0["server"] as? String ?? "") })
        let totals = try #require(document["totals"] as? [String: Any])
        #expect(totals["listed"] as? Int == connections.count)
        #expect(totals["connections"] as? Int == connections.count)
    }

    @Test func textSummaryAndMarkdownSayHowManyWereExplained() throws {
        let directory = Paths.temporaryDirectory("client-hop") + "/out"
        let run = try Run(["analyze", Self.capture, "--gateway", "nginx:1.22", "--out", directory])
        #expect(run.status == 0)
        #expect(run.stdout.contains("Client hop (gateway 127.0.0.1:18080 inferred): 9 connection(s), 9 request(s)"))
        #expect(run.stdout.contains("7 failure(s) clients saw (502, 503, 504, empty replies, resets, cut bodies): 6 explained by an upstream connection, 1 unexplained"))
        #expect(run.stdout.contains("502 GET /gw/8 from 127.0.0.1:"))
        let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
        #expect(markdown.contains("## Client-visible errors"))
        #expect(markdown.contains("**6 explained** by an upstream connection, **1 unexplained**"))
        #expect(markdown.contains("| 503 | `GET /busy/5` | upstream |"))
    }

    @Test func aGivenListenerIsReportedAsGiven() throws {
        let run = try Run(["analyze", Self.capture, "--gateway-address", "127.0.0.1:18080", "--gateway-address", "[::1]:18080"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("Client hop (gateway 127.0.0.1:18080 given)"))
    }

    @Test(arguments: ["nginx", "127.0.0.1:http", "[::1]:99999"])
    func malformedGatewayAddressIsAUsageError(text: String) throws {
        let run = try Run(["analyze", Self.capture, "--gateway-address", text])
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: --gateway-address '\(text)' is not ADDR[:PORT] (for IPv6: [ADDR]:PORT)"])
    }

    @Test func captureFilterTakesTheListenersWithTheUpstreams() throws {
        let upstream = try #require(UpstreamSpec(parsing: "10.0.3.24:8080"))
        let listener = try #require(GatewayAddress(parsing: "10.0.0.5:443"))
        #expect(Capture.filter(for: [upstream], gateways: [listener]) == "(tcp and ((host 10.0.3.24 and port 8080) or (host 10.0.0.5 and port 443))) or port 53")
        #expect(Capture.filter(for: [upstream]) == "(tcp and ((host 10.0.3.24 and port 8080))) or port 53")
        #expect(Capture.filter(for: [], gateways: [listener]) == "tcp or port 53")
    }
}
