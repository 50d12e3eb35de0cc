import CaptureModel
import Diagnosis
import Engine
import Foundation
import Testing
import TestSupport

// Issue 20 part 2: path-MTU black holes and the ICMP around them, made by captures/tools/mtu-run.py
// (the gateway, a router and the upstream in three network namespaces, one of the router's links at
// MTU 1000, the upstream's route advertising MSS 1460, nftables dropping the router's ICMP
// fragmentation needed; Debian's nginx 1.22). What is expected comes from each truth: nginx's own
// error.log, the scenario's rules and tshark's decode.

private func recorded(_ name: String) throws -> (truth: [String: Any], expected: [String: Any], result: AnalysisResult) {
    let base = Paths.captures + "/nginx/" + name
    let data = try Data(contentsOf: URL(fileURLWithPath: base + ".truth.json"))
    let raw = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let expected = try #require((raw["expected_connections"] as? [[String: Any]])?.first)
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    return (raw, expected, try analyse(base + ".pcap", options: try truth.options()))
}

/// The request path: nginx's full-size segments (1448 bytes) are lost at the router, the small
/// tail gets through and the upstream acknowledges it out of order; nginx retransmits the full-size
/// ones until proxy_read_timeout and logs a read timeout (504). With the router's ICMP dropped at the
/// gateway's input instead, the capture holds the fragmentation needed messages (MTU 1000), which
/// the kernel never acted on; over IPv6 (a 1280-byte link, 1428-byte segments) the ICMPv6 packet
/// too big.
@Test(arguments: ["tcp-mtu-blackhole-request", "tcp-mtu-blackhole-request-icmp-seen", "tcp-mtu-blackhole-request-icmp-seen-v6"])
func fullSizeSegmentsRetransmittedWithoutAcknowledgementAreAnMTUBlackHole(name: String) throws {
    let (truth, expected, result) = try recorded(name)
    let logged = try #require(expected["gateway_log"] as? String)
    #expect(logged.contains("upstream timed out (110: Connection timed out) while reading response header from upstream"))
    #expect(expected["client_status"] as? Int == 504)
    let connection = try #require(result.connections.first)
    #expect(result.connections.count == 1)
    #expect(connection.verdict.code == .tcpMTUBlackhole)
    #expect(connection.verdict.verdictClass == .gatewayTimeout)
    #expect(connection.verdict.phase == .responseHead)
    let nginx = try #require(connection.verdict.gateways["nginx"])
    #expect(nginx.status == 504)
    #expect(logged.contains(nginx.detail))
    let primary = try #require(connection.findings.first)
    #expect(primary.code == .tcpMTUBlackhole)
    let evidence = try #require(primary.evidence.first)
    #expect(evidence.direction == .client)
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    let longest = (truth["retransmissions"] as? [[String: Any]] ?? []).compactMap { $0["length"] as? Int }.max()
    #expect(evidence.length == longest.map(UInt64.init))
    #expect(longest == (name.hasSuffix("-v6") ? 1428 : 1448))
    #expect(evidence.streamOffset == 0)
    let icmp = truth["icmp"] as? [[String: Any]] ?? []
    let fragNeeded = connection.findings.first { $0.code == .tcpICMPFragNeeded }
    if icmp.isEmpty {
        #expect(fragNeeded == nil)
        #expect(connection.verdict.summary.contains("duplicate ACK"))
    } else {
        let mtu = name.hasSuffix("-v6") ? 1280 : 1000
        #expect(icmp.allSatisfy {
            ($0["type"] as? Int == 3 && $0["code"] as? Int == 4 || $0["type"] as? Int == 2 && $0["code"] as? Int == 0) && $0["mtu"] as? Int == mtu
        })
        let finding = try #require(fragNeeded)
        #expect(finding.value == String(mtu))
        #expect(finding.evidence.first?.frame.map(Int.init) == icmp.first?["frame"] as? Int)
        #expect(finding.evidence.first?.note.contains("\(icmp.count) such messages") == true)
        // The ICMP is the primary finding's evidence too.
        #expect(primary.evidence.contains { $0.frame.map(Int.init) == icmp.first?["frame"] as? Int })
        #expect(connection.verdict.summary.contains("next-hop MTU of \(mtu)"))
    }
}

/// The response path: the upstream's full-size segments are lost at the router; the gateway's
/// capture holds only the 477-byte tail after a hole of 8 whole segments, which nginx acknowledged
/// out of order (SACK) and never acknowledged past. Not a capture gap: the gateway never had the
/// bytes. nginx: read timeout, 504.
@Test func aHoleOfWholeSegmentsBeforeASmallTailIsAnMTUBlackHoleOnTheResponsePath() throws {
    let (truth, expected, result) = try recorded("tcp-mtu-blackhole-response")
    let logged = try #require(expected["gateway_log"] as? String)
    #expect(logged.contains("upstream timed out (110: Connection timed out) while reading response header from upstream"))
    #expect((truth["sack_frames"] as? [[String: Any]])?.isEmpty == false)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .tcpMTUBlackhole)
    #expect(connection.verdict.verdictClass == .gatewayTimeout)
    #expect(connection.verdict.gateways["nginx"].map { logged.contains($0.detail) } == true)
    let evidence = try #require(connection.findings.first?.evidence)
    #expect(evidence.count == 2)
    #expect(evidence[0].direction == .server)
    #expect(evidence[0].frame.map(Int.init) == expected["evidence_frame"] as? Int)
    #expect(evidence[0].streamOffset == 11584)
    #expect(evidence[0].length == 477)
    #expect(evidence[1].frame == nil)
    #expect(evidence[1].streamOffset == 0)
    #expect(evidence[1].length == 11584)
    #expect(evidence[1].note.contains("8 segments of 1448"))
    #expect(!connection.findings.contains { $0.code == .captureGap })
}

/// The same bottleneck with the ICMP let through: the kernel lowers the path MTU, sends the
/// request again in 948-byte segments, and nginx answers 200 with nothing in its error.log. The
/// fragmentation needed messages are shown on the healthy connection.
@Test func aFragmentationNeededTheKernelHeededIsEvidenceOnAHealthyConnection() throws {
    let (truth, expected, result) = try recorded("tcp-mtu-frag-needed-adapts")
    #expect(expected["client_status"] as? Int == 200)
    #expect((truth["nginx_errors"] as? [String])?.isEmpty == true)
    let icmp = try #require(truth["icmp"] as? [[String: Any]])
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .none)
    #expect(connection.verdict.verdictClass == .ok)
    let finding = try #require(connection.findings.first { $0.code == .tcpICMPFragNeeded })
    #expect(finding.value == "1000")
    #expect(finding.evidence.first?.direction == .client)
    #expect(finding.evidence.first?.frame.map(Int.init) == icmp.first?["frame"] as? Int)
    #expect(finding.evidence.first?.note.contains("\(icmp.count) such messages") == true)
}

/// A router that answers the SYN with an ICMP time exceeded: Linux fails the connect at once with
/// EHOSTUNREACH, and nginx logs `connect() failed (113: No route to host)` (502), as for a host
/// unreachable.
@Test func aTimeExceededAnsweringTheSYNIsAnUnreachableUpstream() throws {
    let (truth, expected, result) = try recorded("tcp-connect-icmp-time-exceeded")
    let logged = try #require(expected["gateway_log"] as? String)
    #expect((truth["icmp"] as? [[String: Any]])?.first?["type"] as? Int == 11)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .tcpConnectUnreachable)
    #expect(connection.verdict.verdictClass == .badGateway)
    #expect(connection.findings.first?.value == "113: No route to host")
    #expect(connection.findings.first?.evidence.first?.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    #expect(connection.verdict.summary.contains("time exceeded"))
    let nginx = try #require(connection.verdict.gateways["nginx"])
    #expect(logged.contains(nginx.detail))
}
