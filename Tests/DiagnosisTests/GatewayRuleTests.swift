import CaptureModel
import Testing
import TestSupport

@testable import Diagnosis

private let nginx = GatewayProfile(.nginx)
private let haproxy = GatewayProfile(.haproxy)
private let envoy = GatewayProfile(.envoy)
private let strict = GatewayProfile(.strict)

private func react(_ code: String, _ profile: GatewayProfile, _ context: RuleContext = RuleContext()) -> GatewayReaction {
    Gateways.reaction(to: FindingCode(code: code)!, context: context, profile: profile)
}

// MARK: Coverage

@Test(arguments: designCodes)
func everyCodeHasARuleInEveryFamily(_ code: String) {
    for model in Gateways.all {
        let reaction = react(code, GatewayProfile(model: model))
        #expect(reaction != GatewayRuleKit.noRule, "\(model.name) has no rule for \(code)")
    }
}

@Test func unknownCodesAreNoGatewayEvent() {
    #expect(react("tcp.overlap.mismatch", nginx) == GatewayRuleKit.noRule)
    #expect(react("limit.flow_table", strict).kind == .accepts)
}

/// The strict profile accepts only the pure lints among the HTTP codes.
@Test(arguments: designCodes.filter { $0.hasPrefix("http.") && $0 != "http.upstream_5xx" })
func strictRejectsAllButLints(_ code: String) {
    let reaction = react(code, strict, RuleContext(phase: FindingCode(code: code)!.cause.defaultPhase))
    let accepted: Set = [
        "http.status_line.no_reason_sp", "http.header.dup_single_value", "http.te.not_chunked", "http.body.extra_after_message",
    ]
    #expect(reaction.kind == (accepted.contains(code) ? .accepts : .rejects))
    #expect(reaction.detail.hasPrefix("RFC 91"))
}

@Test func strictNamesTheSection() {
    #expect(react("http.chunked.ws_after_size", strict, RuleContext(phase: .responseBody)).detail.hasPrefix("RFC 9112 §7.1:"))
    #expect(react("http.line.bare_lf", strict).status == 502)
    #expect(react("http.header.obs_fold", strict).detail.hasPrefix("RFC 9112 §5.2:"))
    #expect(react("http.header.value_ctl", strict).detail.hasPrefix("RFC 9110 §5.5:"))
    #expect(react("http.cl.invalid", strict, RuleContext(value: "5, 5")).status == 502)
    #expect(react("http.cl.duplicate", strict, RuleContext(value: "5, 5")).status == 502)
}

// MARK: TCP

@Test func connectRefused() {
    let code = "tcp.connect.refused"
    #expect(react(code, nginx) == .rejects(502, "connect() failed (111: Connection refused) while connecting to upstream", note: react(code, nginx).note))
    #expect(react(code, haproxy).status == 503)
    #expect(react(code, haproxy).detail == "SC")
    #expect(react(code, envoy).status == 503)
    #expect(react(code, envoy).detail == "UF")
}

@Test func connectTimeout() {
    let code = "tcp.connect.timeout"
    #expect(react(code, nginx).status == 504)
    #expect(react(code, nginx).detail == "upstream timed out (110: Connection timed out) while connecting to upstream")
    #expect(react(code, haproxy).status == 503)
    #expect(react(code, haproxy).detail == "sC")
    #expect(react(code, envoy).status == 503)
    #expect(react(code, envoy).detail == "UF")
}

@Test func readTimeout() {
    let code = "tcp.read_timeout"
    #expect(react(code, nginx).status == 504)
    #expect(react(code, nginx).detail == "upstream timed out (110: Connection timed out) while reading response header from upstream")
    #expect(react(code, haproxy).status == 504)
    #expect(react(code, haproxy).detail == "sH")
    #expect(react(code, envoy).status == 504)
    #expect(react(code, envoy).detail == "UT")
}

@Test func closedOrResetBeforeTheResponse() {
    for code in ["tcp.rst.before_response", "tcp.fin.before_response", "tcp.fin.mid_headers"] {
        #expect(react(code, nginx).status == 502)
        #expect(react(code, haproxy).status == 502)
        #expect(react(code, haproxy).detail == "SH")
        #expect(react(code, envoy).status == 503)
        #expect(react(code, envoy).detail == "UC")
    }
    #expect(react("tcp.fin.before_response", nginx).detail == "upstream prematurely closed connection while reading response header from upstream")
    #expect(react("tcp.send_timeout", nginx).detail == "upstream timed out (110: Connection timed out) while sending request to upstream")
}

// MARK: Phase

@Test func chunkedErrorInTheBodyCutsIt() {
    let body = RuleContext(phase: .responseBody, upstreamStatus: 200)
    let n = react("http.chunked.bad_size", nginx, body)
    #expect(n.kind == .rejects)
    #expect(n.status == nil)
    #expect(n.detail == "upstream sent invalid chunked response while reading upstream")
    let h = react("http.chunked.bad_size", haproxy, body)
    #expect(h.status == nil)
    #expect(h.detail == "PD")
    let e = react("http.chunked.bad_size", envoy, body)
    #expect(e.status == nil)
    #expect(e.detail == "UPE")
    #expect(Gateways.verdictClass(for: n, code: FindingCode(code: "http.chunked.bad_size")!, context: body) == .truncated)
}

/// A body-phase code is a cut even when the caller left the phase at its default.
@Test func bodyCodesAreCutsWhateverThePhase() {
    #expect(react("http.chunked.data_len_mismatch", nginx).status == nil)
    #expect(react("http.chunked.bad_size", strict).status == nil)
    let fin = react("tcp.fin.mid_body", nginx)
    #expect(fin.status == nil)
    #expect(fin.detail == "upstream prematurely closed connection while reading upstream")
    #expect(react("tcp.rst.mid_body", haproxy).detail == "SD")
    #expect(react("tcp.rst.mid_body", envoy).detail == "UC")
    #expect(react("tcp.rst.mid_body", envoy).status == nil)
}

/// A timeout after the headers went out cuts the body instead of answering 504.
@Test func readTimeoutInTheBody() {
    let body = RuleContext(phase: .responseBody, upstreamStatus: 200)
    #expect(react("tcp.read_timeout", nginx, body).status == nil)
    #expect(react("tcp.read_timeout", nginx, body).detail == "upstream timed out (110: Connection timed out) while reading upstream")
    #expect(react("tcp.read_timeout", haproxy, body).detail == "sD")
    #expect(react("tcp.read_timeout", strict, body).status == nil)
}

@Test func defaultPhases() {
    #expect(FindingCode(code: "tcp.connect.refused")!.cause.defaultPhase == .connect)
    #expect(FindingCode(code: "tls.cert.expired")!.cause.defaultPhase == .tls)
    #expect(FindingCode(code: "http.chunked.bare_lf")!.cause.defaultPhase == .responseBody)
    #expect(FindingCode(code: "http.header.obs_fold")!.cause.defaultPhase == .responseHead)
}

// MARK: Keep-alive race

@Test(arguments: ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
func keepAliveRaceRetriesIdempotent(_ method: String) {
    let context = RuleContext(phase: .request, method: method, reusedConnection: true)
    let n = react("tcp.keepalive_race", nginx, context)
    #expect(n.kind == .retries)
    #expect(n.status == nil)
    #expect(n.detail == "upstream prematurely closed connection while reading response header from upstream")
    #expect(Gateways.verdictClass(for: n, code: FindingCode(code: "tcp.keepalive_race")!, context: context) == .ok)
}

@Test(arguments: ["POST", "LOCK", "PATCH"])
func keepAliveRaceFailsNonIdempotent(_ method: String) {
    let context = RuleContext(phase: .request, method: method, reusedConnection: true)
    let n = react("tcp.keepalive_race", nginx, context)
    #expect(n.kind == .rejects)
    #expect(n.status == 502)
}

@Test func keepAliveRaceInHAProxyAndEnvoy() {
    let context = RuleContext(phase: .request, method: "GET", reusedConnection: true)
    let h = react("tcp.keepalive_race", haproxy, context)
    #expect(h.kind == .closesSilently)
    #expect(h.status == nil)
    let e = react("tcp.keepalive_race", envoy, context)
    #expect(e.kind == .rejects)
    #expect(e.status == 503)
    #expect(e.detail == "UC")
}

/// A reset or close before the response on a reused connection is the race, whatever it is called.
@Test func reusedConnectionMakesARace() {
    let reused = RuleContext(method: "GET", reusedConnection: true)
    #expect(react("tcp.rst.before_response", nginx, reused).kind == .retries)
    #expect(react("tcp.rst.before_response", nginx, RuleContext(method: "POST", reusedConnection: true)).status == 502)
    #expect(react("tcp.fin.before_response", haproxy, reused).kind == .closesSilently)
    #expect(react("tcp.rst.before_response", nginx, RuleContext(method: "GET")).status == 502)
    #expect(react("tcp.rst.before_response", haproxy, RuleContext(method: "GET")).detail == "SH")
}

// MARK: Relayed, healthy, capture

@Test(arguments: [502, 503, 504, 500])
func upstream5xxIsRelayed(_ status: Int) {
    let context = RuleContext(upstreamStatus: status)
    for profile in [nginx, haproxy, envoy, strict] {
        let reaction = react("http.upstream_5xx", profile, context)
        #expect(reaction.kind == .accepts)
        #expect(reaction.status == status)
        #expect(Gateways.verdictClass(for: reaction, code: FindingCode(code: "http.upstream_5xx")!, context: context) == .relayed)
    }
    #expect(react("http.upstream_5xx", haproxy, context).detail == "----")
    #expect(react("http.upstream_5xx", envoy, context).detail == "via_upstream")
    #expect(Gateways.reported.allSatisfy {
        Gateways.reaction(to: FindingCode(code: "http.upstream_5xx")!, context: RuleContext(), profile: GatewayProfile(model: $0)).kind == .accepts
    })
}

@Test(arguments: ["capture.gap", "capture.truncated"])
func captureProblemsAreNoGatewayReaction(_ code: String) {
    for profile in [nginx, haproxy, envoy, strict] {
        let reaction = react(code, profile)
        #expect(reaction.kind == .accepts)
        #expect(reaction.status == nil)
        #expect(Gateways.verdictClass(for: reaction, code: FindingCode(code: code)!, context: RuleContext()) == .unknown)
    }
}

@Test func healthy() {
    let context = RuleContext(phase: .idle, upstreamStatus: 200)
    let reaction = react("none", nginx, context)
    #expect(reaction.kind == .accepts)
    #expect(Gateways.verdictClass(for: reaction, code: .none, context: context) == .ok)
}

@Test func verdictClasses() {
    let context = RuleContext()
    let code = FindingCode(code: "http.header.obs_fold")!
    #expect(Gateways.verdictClass(for: react("http.header.obs_fold", nginx), code: code, context: context) == .badGateway)
    #expect(Gateways.verdictClass(for: react("tcp.connect.refused", haproxy), code: code, context: context) == .serviceUnavailable)
    #expect(Gateways.verdictClass(for: react("tcp.read_timeout", envoy), code: code, context: context) == .gatewayTimeout)
    #expect(Gateways.verdictClass(for: react("http.header.obs_fold", haproxy), code: code, context: RuleContext(upstreamStatus: 503)) == .relayed)
    #expect(Gateways.verdictClass(for: react("tcp.keepalive_race", haproxy), code: code, context: context) == .truncated)
}

// MARK: TLS

@Test func tlsHandshakeFailures() {
    for code in ["tls.alert.handshake_failure", "tls.alert.unrecognized_name", "tls.alert.decode_error", "tls.version_mismatch"] {
        let n = react(code, nginx)
        #expect(n.status == 502)
        #expect(n.detail.hasPrefix("SSL_do_handshake() failed ("))
        #expect(n.detail.hasSuffix(") while SSL handshaking to upstream"))
        #expect(react(code, haproxy).status == 503)
        #expect(react(code, haproxy).detail == "SC")
        #expect(react(code, envoy).status == 503)
        #expect(react(code, envoy).detail == "UF")
    }
    #expect(react("tls.alert.decode_error", nginx).detail.contains("SSL alert number 50)"))
    #expect(react("tls.handshake_timeout", nginx).status == 504)
    #expect(react("tls.handshake_timeout", haproxy).detail == "sC")
}

@Test func tlsVerification() {
    let closed = react("tls.closed_after_handshake", nginx)
    #expect(closed.status == 502)
    #expect(closed.detail.hasPrefix("upstream SSL certificate verify error"))
    let expired = react("tls.cert.expired", nginx)
    #expect(expired.detail == "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream")
    #expect(expired.note?.contains("proxy_ssl_verify") == true)
    #expect(react("tls.cert.expired", haproxy).note?.contains("45 certificate_expired") == true)
    #expect(react("tls.cert.name_mismatch", nginx).detail == "upstream SSL certificate does not match \"…\" while SSL handshaking to upstream")
}

// MARK: The older API

/// The TCP codes keep the outcomes the first verdicts shipped with.
@Test func tcpCodesKeepTheirOutcomes() {
    let expected: [String: [String: GatewayOutcome]] = [
        "tcp.connect.refused": [
            "nginx": GatewayOutcome(status: 502, detail: "connect() failed (111: Connection refused) while connecting to upstream"),
            "haproxy": GatewayOutcome(status: 503, detail: "SC"), "envoy": GatewayOutcome(status: 503, detail: "UF"),
        ],
        "tcp.connect.timeout": [
            "nginx": GatewayOutcome(status: 504, detail: "upstream timed out (110: Connection timed out) while connecting to upstream"),
            "haproxy": GatewayOutcome(status: 503, detail: "sC"), "envoy": GatewayOutcome(status: 503, detail: "UF"),
        ],
        "tcp.rst.before_response": [
            "nginx": GatewayOutcome(status: 502, detail: "recv() failed (104: Connection reset by peer) while reading response header from upstream"),
            "haproxy": GatewayOutcome(status: 502, detail: "SH"), "envoy": GatewayOutcome(status: 503, detail: "UC"),
        ],
        "tcp.fin.before_response": [
            "nginx": GatewayOutcome(status: 502, detail: "upstream prematurely closed connection while reading response header from upstream"),
            "haproxy": GatewayOutcome(status: 502, detail: "SH"), "envoy": GatewayOutcome(status: 503, detail: "UC"),
        ],
        "tcp.read_timeout": [
            "nginx": GatewayOutcome(status: 504, detail: "upstream timed out (110: Connection timed out) while reading response header from upstream"),
            "haproxy": GatewayOutcome(status: 504, detail: "sH"), "envoy": GatewayOutcome(status: 504, detail: "UT"),
        ],
    ]
    func outcomes(_ code: FindingCode) -> [String: GatewayOutcome] {
        Gateways.outcomes(for: code, context: RuleContext(phase: code.cause.defaultPhase))
    }
    for (code, expected) in expected {
        #expect(outcomes(FindingCode(code: code)!) == expected, "\(code)")
    }
    for code in [FindingCode.none, .captureGap] {
        #expect(Gateways.reported.allSatisfy {
            Gateways.reaction(to: code, context: RuleContext(), profile: GatewayProfile(model: $0)).kind == .accepts
        })
    }
    let timeout = Gateways.verdict(FindingCode(code: "tcp.read_timeout")!, context: RuleContext(), profile: .default, summary: "")
    #expect(timeout.verdictClass == .gatewayTimeout)
    let cut = Gateways.verdict(FindingCode(code: "tcp.fin.mid_body")!, context: RuleContext(phase: .responseBody), profile: .default, summary: "")
    #expect(cut.verdictClass == .truncated)
}

/// The report's gateways object applies the profile's version to its own family only.
@Test func outcomesApplyTheProfileVersion() throws {
    let profile = try #require(GatewayProfile(parsing: "nginx:1.22"))
    let old = Gateways.outcomes(for: FindingCode(code: "http.cl.invalid")!, context: RuleContext(value: "NaN"), profile: profile)
    #expect(old["nginx"]?.status == nil)
    #expect(old["haproxy"] == GatewayOutcome(status: 502, detail: "PH"))
    #expect(old["envoy"] == GatewayOutcome(status: 502, detail: "UPE"))
    #expect(old["strict"] == nil)
    let new = Gateways.outcomes(for: FindingCode(code: "http.cl.invalid")!, context: RuleContext(value: "NaN"))
    #expect(new["nginx"]?.status == 502)
}
