import CaptureModel
import Diagnosis
import Engine
import Testing
import TestSupport

/// Issue 15 items 1 and 9 on captures from Debian's nginx 1.22.1 and HAProxy 2.6.12
/// (captures/tools/scenarios.py; ground truth from their logs in the .truth.json beside each).
struct ReusedConnectionCaptureTests {
    let nginx = AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!)

    /// nginx: `recv() failed (104: Connection reset by peer) while reading response header from
    /// upstream` for the POST sent 40 ms after the first response on the same upstream connection;
    /// the upstream's RST (frame 9) acknowledges all 129 bytes of it.
    @Test func anUpstreamThatReadsTheReusedRequestAndResetsIsRSTBeforeResponse() throws {
        let result = try analyse(Paths.captures + "/nginx/tcp-rst-after-request-reused.pcap", options: self.nginx)
        let connection = try #require(result.connections.first)
        #expect(connection.verdict.code == .tcpRSTBeforeResponse)
        #expect(connection.verdict.verdictClass == .badGateway)
        #expect(connection.findings.first?.evidence.first?.frame == 9)
        #expect(connection.findings.first?.evidence.first?.streamOffset == 69)
        #expect(connection.facts.server.rstAcknowledged == 189)
        #expect(connection.verdict.summary.contains("its RST acknowledged 129 bytes of the request"))
        #expect(connection.verdict.gateways["nginx"]?.detail == "recv() failed (104: Connection reset by peer) while reading response header from upstream")
    }

    /// The race capture stays a race, and says why: the FIN (frame 9) acknowledged only the first
    /// request's bytes.
    @Test func theKeepAliveRaceCaptureSaysWhatDecidedIt() throws {
        let result = try analyse(Paths.captures + "/nginx/tcp-keepalive-race.pcap", options: self.nginx)
        let connection = try #require(result.connections.first)
        #expect(connection.verdict.code == .tcpKeepaliveRace)
        #expect(connection.findings.first?.evidence.first?.frame == 9)
        let request = try #require(connection.transactions.last?.request)
        #expect(connection.facts.server.finAcknowledged == Int64(request.offset))
        #expect(connection.verdict.summary.contains("its FIN did not acknowledge the request's bytes"))
    }

    /// nginx (`proxy_connect_timeout 500ms`): `upstream timed out (110: Connection timed out) while
    /// connecting to upstream`, 504; one SYN (frame 1), no retransmission, and the capture goes on
    /// with a healthy connection to the second server 2.5 s later.
    @Test(arguments: [("nginx/tcp-connect-timeout-short.pcap", "nginx:1.22", VerdictClass.gatewayTimeout),
                      ("haproxy/tcp-connect-timeout-short.haproxy.pcap", "haproxy:2.6", .serviceUnavailable)])
    func oneSYNThenSilenceWhileTheCaptureGoesOnIsAConnectTimeout(capture: String, gateway: String, expected: VerdictClass) throws {
        let result = try analyse(Paths.captures + "/" + capture, options: AnalysisOptions(gateway: GatewayProfile(parsing: gateway)!))
        let connection = try #require(result.connections.first { $0.facts.synAck == nil })
        #expect(connection.facts.synCount == 1)
        #expect(connection.verdict.code == .tcpConnectTimeout)
        #expect(connection.verdict.verdictClass == expected)
        #expect(connection.verdict.phase == .connect)
        #expect(connection.findings.first?.evidence.first?.frame == 1)
        #expect(connection.findings.first?.evidence.first?.note.hasPrefix("unanswered SYN; then 2.5") == true)
    }
}
