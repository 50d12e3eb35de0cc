import CaptureModel
import Diagnosis
import Engine
import Testing
import TestSupport

/// Issue 15 item 11: HAProxy 2.6's own limits, measured against Debian's 2.6.12 (the captures'
/// truth is its httplog line; `show errors` was read from its stats socket for the same bytes).
struct HAProxyLimitsCaptureTests {
    let haproxy = AnalysisOptions(gateway: GatewayProfile(parsing: "haproxy:2.6")!)

    /// A head must fit 15360 bytes of HTX (tune.bufsize 16384 less tune.maxrewrite 1024): each
    /// field's name and value plus 8 bytes, and 85 more with the status line. Of 32 ~486-byte
    /// fields, 15153 bytes pass (200 `----`) and 15154 do not (502 `PH--`).
    @Test(arguments: [("haproxy/http-header-htx-room-fits.haproxy.pcap", VerdictClass.ok, 15360),
                      ("haproxy/http-header-htx-room-exceeded.haproxy.pcap", .badGateway, 15361)])
    func theHeadMustFitHAProxysHTXRoom(capture: String, expected: VerdictClass, htx: Int) throws {
        let result = try analyse(Paths.captures + "/" + capture, options: self.haproxy)
        let connection = try #require(result.connections.first)
        #expect(connection.verdict.code == .headerTooLarge)
        #expect(connection.verdict.verdictClass == expected)
        let evidence = try #require(connection.findings.first?.evidence.first)
        #expect(evidence.frame == 6)
        #expect(evidence.streamOffset == 4096)
        #expect(evidence.note.hasSuffix("(HAProxy would need \(htx) of the 15360 bytes its buffer keeps for a head)"))
    }

    /// 150 fields: HAProxy has slots for 100 and the end of the head; the 101st field line is the
    /// first it cannot keep, and its `show errors` names position 1344 (the end of the 102nd).
    @Test func tooManyFieldsNamesTheFieldAndHAProxysPosition() throws {
        let result = try analyse(Paths.captures + "/haproxy/http-header-too-many.haproxy.pcap", options: self.haproxy)
        let connection = try #require(result.connections.first)
        #expect(connection.verdict.code == .headerTooMany)
        #expect(connection.verdict.verdictClass == .badGateway)
        let evidence = try #require(connection.findings.first?.evidence.first)
        #expect(evidence.streamOffset == 1316)
        #expect(evidence.length == 12)
        #expect(evidence.note.hasSuffix("(HAProxy's show errors names position 1344)"))
    }
}
