import CaptureModel
import Reporting
import Testing

@Test func headlineNamesTheMemberTheGatewayFailedMostNotTheOneThatRelayedMost5xx() {
    let members = [
        Headline.Member(server: "127.0.0.2:8080", name: nil, connections: 40, failed: 0, relayed: 30, failedCauses: []),
        Headline.Member(server: "127.0.0.3:8080", name: "billing", connections: 40, failed: 13, relayed: 0,
                        failedCauses: [("http.header.name_ctl_or_space", 13)]),
    ]
    #expect(Headline.sentence(members)
        == "127.0.0.3:8080 (billing) sent a malformed header on 13 of 40 connections (http.header.name_ctl_or_space)")
    let onlyRelayed = [Headline.Member(server: "127.0.0.2:8080", name: nil, connections: 40, failed: 0, relayed: 30, failedCauses: [])]
    #expect(Headline.sentence(onlyRelayed)
        == "No upstream failed at the gateway; upstreams answered 30 request(s) with a 5xx of their own, which the gateway relayed")
    #expect(Headline.sentence([]) == nil)
}

@Test func headlineBreaksTiesByAddressAndCountsTheRest() {
    let members = [
        Headline.Member(server: "10.0.0.10:80", name: nil, connections: 9, failed: 4, relayed: 0, failedCauses: [("tcp.connect.refused", 3), ("tcp.read_timeout", 1)]),
        Headline.Member(server: "10.0.0.9:80", name: nil, connections: 8, failed: 4, relayed: 0, failedCauses: [("tcp.read_timeout", 4)]),
    ]
    // 10.0.0.9 sorts before 10.0.0.10 by number, not by text.
    #expect(Headline.sentence(members)
        == "10.0.0.9:80 did not answer in time on 4 of 8 connections (tcp.read_timeout); 1 other upstream failed too")
    #expect(Headline.sentence([members[0]])
        == "10.0.0.10:80 refused the connection on 3 of 9 connections (tcp.connect.refused); 1 more failed with other causes")
}

@Test(arguments: [
    ("http.header.obs_fold", "sent a malformed header"), ("http.chunked.bad_size", "sent a malformed chunked body"),
    ("http.cl.invalid", "sent a bad Content-Length"), ("http.te_cl.both", "sent a bad Transfer-Encoding"),
    ("tls.cert.expired", "presented a certificate the gateway rejects"), ("tls.alert.handshake_failure", "failed the TLS handshake"),
    ("tcp.fin.mid_body", "cut the response body short"), ("proto.h2_preface_to_h1", "spoke a protocol the gateway did not expect"),
    ("made.up.code", "failed"),
])
func everyCodeReadsAsWords(code: String, phrase: String) {
    #expect(Headline.phrase(code) == phrase)
}

@Test func upstreamsSortByNumericAddressThenPort() {
    let servers = ["[::1]:443", "10.0.0.10:80", "10.0.0.9:81", "10.0.0.9:80", "name:1"]
    #expect(servers.sorted(by: Summary.addressPrecedes) == ["10.0.0.9:80", "10.0.0.9:81", "10.0.0.10:80", "[::1]:443", "name:1"])
}

@Test func aReportWrittenBeforeTheTimelineMemberStillDrawsItFromItsConnections() throws {
    let text = """
    {"schema": "edgescope.report/1", "source": {"first_time": "2026-04-13T10:00:00Z", "last_time": "2026-04-13T10:01:00Z"},
     "totals": {"connections": 2, "failed": 1}, "upstreams": [{"server": "10.0.0.1:80", "connections": 2, "failed": 1, "causes": {"tcp.connect.refused": 1}}],
     "connections": [
      {"id": "c1", "server": "10.0.0.1:80", "start": "2026-04-13T10:00:00Z", "verdict": {"class": "ok", "code": "none"}},
      {"id": "c2", "server": "10.0.0.1:80", "start": "2026-04-13T10:00:59Z", "verdict": {"class": "502", "code": "tcp.connect.refused"}}]}
    """
    let document = try ReportDocument(text: text)
    let row = try #require(document.timelineRows?.rows.first)
    #expect(row.label == "10.0.0.1:80")
    #expect(row.started[0] == 1 && row.started[59] == 1)
    #expect(row.failed[59] == 1 && row.failed.reduce(0, +) == 1)
    #expect(HTMLReport.render(document).contains("1/2</text>"))
}
