import CaptureModel
import DNS
import Diagnosis
import Engine
import Foundation
import PcapSource
import Reporting
import Testing
import TestSupport

// Issue 20 part 1: nginx 1.22 resolving its upstream's name at request time against a scripted
// DNS server (captures/tools/dns-run.py, PyPI dnslib). What is expected comes from each truth:
// nginx's error.log and access.log, curl's results and tshark's decode of the DNS messages.

private struct DNSTruth: Decodable {
    struct ClientError: Decodable {
        var request: String
        var status: Int
        var request_id: String
        var response_frame: Int
        var cause: String
        var dns_frame: Int?
        var dns_name: String?
        var upstream_server: String?
        var source: String?
    }

    struct ExpectedFinding: Decodable {
        var code: String
        var name: String
        var frame: Int
    }

    struct Drift: Decodable {
        var name: String
        var address: String
        var appeared_frame: Int
        var connections_to_new_address: Int
        var failed: Int
    }

    var capture: String
    var client_errors: [ClientError]
    var expected_findings: [ExpectedFinding]
    var nginx_errors: [String]
    var truncated_frame: Int?
    var tcp_answer_frame: Int?
    var drift: Drift?
}

private func recorded(_ name: String) throws -> (truth: DNSTruth, result: AnalysisResult) {
    let base = Paths.captures + "/dns/" + name
    let truth = try JSONDecoder().decode(DNSTruth.self, from: Data(contentsOf: URL(fileURLWithPath: base + ".truth.json")))
    return (truth, try analyse(base + ".pcap"))
}

private func sharded(_ name: String) throws -> AnalysisResult {
    let reader = try PcapReader(path: Paths.captures + "/dns/" + name + ".pcap")
    let engine = ShardedEngine(linkType: reader.linkType, options: AnalysisOptions(), shards: 2)
    try reader.forEachFrame { engine.process($0) }
    return engine.finish()
}

/// nginx answers 502 without connecting anywhere; the client error's cause is the DNS code and
/// names the frame nginx decided on: the last failing answer for the name, or for a timeout the
/// last query still unanswered when the 502 went out. nginx's log line is the model's.
@Test(arguments: [
    ("nginx-nxdomain", FindingCode.dnsNXDOMAIN, "nx.internal"),
    ("nginx-servfail", FindingCode.dnsSERVFAIL, "fail.internal"),
    ("nginx-refused", FindingCode.dnsREFUSED, "refused.internal"),
    ("nginx-timeout", FindingCode.dnsTimeout, "silent.internal"),
])
func aNameThatDoesNotResolveIsTheClientErrorsCause(name: String, code: FindingCode, host: String) throws {
    let (truth, result) = try recorded(name)
    let expected = try #require(truth.client_errors.first)
    #expect(expected.cause == code.description)
    let hop = try #require(result.clientHop)
    #expect(hop.errorCount == 1)
    #expect(hop.explained == 1)
    let error = try #require(hop.errors.first)
    #expect(error.status == 502)
    #expect(error.frame.map(Int.init) == expected.response_frame)
    #expect(error.upstreamConnection == nil)
    #expect(error.cause == code)
    #expect(error.dnsFrame.map(Int.init) == expected.dns_frame)
    #expect(error.dnsName == host)
    #expect(error.isExplained)
    // The one upstream connection is the healthy request's; no connection to port 53 is one.
    #expect(result.connections.count == 1)
    #expect(result.connections.allSatisfy { $0.verdict.code == .none && $0.server.port != 53 })

    let dns = try #require(result.dns)
    let finding = try #require(dns.findings.first { $0.code == code })
    #expect(finding.name == host)
    let frame = try #require(truth.expected_findings.first?.frame)
    #expect(finding.frames.map(Int.init).contains(frame))
    #expect(dns.findings.count == 1)
    #expect(dns.names.map(\.name) == ["ok.internal", host])

    // What nginx logged is what its model says it logs.
    let logged = try #require(truth.nginx_errors.first)
    let detail = try #require(Gateways.named("nginx")?.reaction(to: code, context: RuleContext(phase: .connect)).detail)
    #expect(logged.contains(host + " " + detail.replacing("… ", with: "")))

    // The JSON document's client error and dns section.
    let json = JSONReport.document(result, source: SourceInfo(path: name + ".pcap", snapLength: 262_144))
    let entry = try #require(json["client_errors"].items.first)
    #expect(entry["cause"].string == code.description)
    #expect(entry["dns_frame"].int == expected.dns_frame)
    #expect(entry["dns_name"].string == host)
    #expect(json["dns"]["findings"].items.first?["code"].string == code.description)
    #expect(json["dns"]["names"].items.map { $0["name"].string } == ["ok.internal", host])
}

/// The sharded engine reads DNS on its reading thread: the same causes and findings.
@Test(arguments: ["nginx-nxdomain", "nginx-timeout", "nginx-drift", "nginx-truncated"])
func theShardedEngineGivesTheSameDNSAnswers(name: String) throws {
    let (_, one) = try recorded(name)
    let many = try sharded(name)
    #expect(many.clientHop?.errors.map { "\($0.cause?.description ?? "-") \($0.dnsFrame ?? 0)" } == one.clientHop?.errors.map { "\($0.cause?.description ?? "-") \($0.dnsFrame ?? 0)" })
    #expect(many.dns?.findings.map(\.summary) == one.dns?.findings.map(\.summary))
    #expect(many.connections.map { $0.findings.map(\.code) } == one.connections.map { $0.findings.map(\.code) })
}

/// A TC answer over UDP; nginx asks again over TCP and gets the address there. The TCP
/// connection to port 53 is DNS, never an upstream connection or an HTTP finding.
@Test func aTruncatedAnswerIsAskedAgainOverTCP() throws {
    let (truth, result) = try recorded("nginx-truncated")
    #expect(result.connections.count == 2)
    #expect(result.connections.allSatisfy { $0.server.port == 28581 && $0.verdict.code == .none })
    #expect(result.clientHop?.errorCount == 0)
    let dns = try #require(result.dns)
    #expect(dns.findings.isEmpty)
    #expect(dns.tcpMessages == 4)
    let big = try #require(dns.names.first { $0.name == "big.internal" })
    let truncated = try #require(big.answers.first { $0.isTruncated })
    #expect(Int(truncated.frame) == truth.truncated_frame)
    #expect(truncated.transport == .udp)
    #expect(truncated.addresses.isEmpty)
    let overTCP = try #require(big.answers.first { $0.transport == .tcp && !$0.addresses.isEmpty })
    #expect(Int(overTCP.frame) == truth.tcp_answer_frame)
    #expect(overTCP.addresses == [.v4(0x7f00_0001)])
    #expect(overTCP.ttl == 30)
    #expect(big.unanswered.isEmpty)
}

/// The name's answer moves to 127.0.0.9, where nothing listens: every connection there is
/// refused (nginx `connect() failed (111: Connection refused)`) and gets `dns.drift` beside its
/// verdict, the answer's frame as evidence.
@Test func connectionsToAnAddressThatJustEnteredTheAnswersAreDrift() throws {
    let (truth, result) = try recorded("nginx-drift")
    let drift = try #require(truth.drift)
    let dns = try #require(result.dns)
    let finding = try #require(dns.findings.first)
    #expect(dns.findings.count == 1)
    #expect(finding.code == .dnsDrift)
    #expect(finding.name == drift.name)
    #expect(finding.address == .v4(0x7f00_0009))
    #expect(finding.frames.map(Int.init) == [drift.appeared_frame])
    #expect(finding.connections == drift.connections_to_new_address)
    #expect(finding.failedConnections.count == drift.failed)
    #expect(finding.summary.hasPrefix("127.0.0.9 appeared in the answers for drift.internal at "))
    #expect(finding.summary.hasSuffix("; 16 of its 16 connections failed"))
    let history = try #require(dns.names.first)
    #expect(history.changes.count == 1)
    #expect(history.changes.first?.added == [.v4(0x7f00_0009)])
    #expect(history.changes.first?.removed == [.v4(0x7f00_0001)])

    let moved = result.connections.filter { $0.server.address == .v4(0x7f00_0009) }
    #expect(moved.count == drift.connections_to_new_address)
    for connection in moved {
        #expect(connection.verdict.code == .tcpConnectRefused)
        let mark = try #require(connection.findings.first { $0.code == .dnsDrift })
        #expect(mark.evidence.first?.frame.map(Int.init) == drift.appeared_frame)
        #expect(mark.value == "127.0.0.9")
    }
    #expect(result.connections.filter { $0.server.address == .v4(0x7f00_0001) }.allSatisfy { !$0.findings.contains { $0.code == .dnsDrift } })
    // The client errors stay the connections' own: nginx logged the refusal.
    let errors = try #require(result.clientHop?.errors)
    #expect(errors.count == truth.client_errors.count)
    #expect(errors.allSatisfy { $0.cause == .tcpConnectRefused && $0.upstreamServer?.address == .v4(0x7f00_0009) && $0.dnsFrame == nil })
}

/// A capture with no DNS has no `dns` member, and its reports read as before.
@Test func aCaptureWithoutDNSHasNoDNSSection() throws {
    let result = try analyse(Paths.captures + "/nginx/client-hop.pcap")
    #expect(result.dns == nil)
    let json = JSONReport.document(result, source: SourceInfo(path: "client-hop.pcap", snapLength: 262_144))
    #expect(json["dns"].isNull)
}
