import CaptureModel
import Diagnosis
import Engine
import Foundation
import Testing
import TestSupport

// Issue 20 part 2: connection attempts answered by the kernel's own ICMP errors, made by
// captures/tools/icmp-run.py (two network namespaces, an nftables REJECT rule on the upstream's
// host, Debian's nginx 1.22 and HAProxy 2.6). What is expected comes from each truth: the gateway's
// own log line, the rule the scenario installed, tshark's decode of the ICMP message.

private func recorded(_ capture: String) throws -> (truth: [String: Any], result: AnalysisResult) {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + capture.replacingOccurrences(of: ".pcap", with: ".truth.json")))
    let raw = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    return (raw, try analyse(Paths.captures + "/" + capture, options: try truth.options()))
}

/// A REJECT with icmp port-unreachable reads as "(111: Connection refused)" to nginx, exactly as a
/// closed port does: only the capture tells a firewall (an ICMP error) from a closed port (a RST).
/// An admin-prohibited REJECT and a host unreachable both read "(113: No route to host)"; the ICMP
/// type tells them apart. nginx's line is the model's, with the errno the ICMP type gives.
@Test(arguments: [
    ("port-unreachable", FindingCode.tcpConnectProhibited, "111: Connection refused"),
    ("admin-prohibited", FindingCode.tcpConnectProhibited, "113: No route to host"),
    ("host-unreachable", FindingCode.tcpConnectUnreachable, "113: No route to host"),
])
func anICMPErrorAnsweringTheSYNIsAFirewallOrAnUnreachableHost(name: String, code: FindingCode, errno: String) throws {
    let (truth, result) = try recorded("nginx/tcp-connect-icmp-\(name).pcap")
    let expected = try #require((truth["expected_connections"] as? [[String: Any]])?.first)
    #expect(expected["errno"] as? String == errno)
    let connection = try #require(result.connections.first)
    #expect(result.connections.count == 1)
    #expect(connection.verdict.code == code)
    #expect(connection.verdict.verdictClass == .badGateway)
    #expect(connection.verdict.phase == .connect)
    let evidence = try #require(connection.findings.first?.evidence.first)
    #expect(evidence.direction == .server)
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    #expect(connection.findings.first?.value == errno)
    let logged = try #require(expected["gateway_log"] as? String)
    let nginx = try #require(connection.verdict.gateways["nginx"])
    #expect(logged.contains(nginx.detail))
    #expect(nginx.detail.contains("(\(errno))"))
    #expect(connection.verdict.summary.contains("(\(errno))"))
}

/// HAProxy 2.6.12 answers 503 to all three, `SC--` for the REJECTs and `sC--` (its connect timeout)
/// for the host unreachable, after which its socket sent the SYN again.
@Test(arguments: [("port-unreachable", "SC"), ("admin-prohibited", "SC"), ("host-unreachable", "sC")])
func haproxyAnswers503ToTheSameICMPErrors(name: String, termination: String) throws {
    let (truth, result) = try recorded("haproxy/tcp-connect-icmp-\(name).haproxy.pcap")
    let logged = try #require((truth["gateway_errors"] as? [String])?.first)
    #expect(logged.contains(" 503 "))
    #expect(logged.contains(" \(termination)-- "))
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.verdictClass == .serviceUnavailable)
    #expect(connection.verdict.gateways["haproxy"]?.detail == termination)
}
