import CaptureModel
import Testing
import TestSupport

@testable import Diagnosis

/// The registry and the documented models (Cloudflare, AWS ALB, Envoy's releases).
struct GatewayModelTests {
    private func judge(_ code: FindingCode, _ profile: GatewayProfile, _ context: RuleContext? = nil) -> Verdict {
        Gateways.verdict(code, context: context ?? RuleContext(phase: code.cause.defaultPhase), profile: profile, summary: "")
    }

    @Test func everyModelIsFoundByItsNameAndNamesAreUnique() {
        let names = Gateways.all.map(\.name)
        #expect(Set(names).count == names.count)
        for model in Gateways.all {
            #expect(Gateways.named(model.name.uppercased())?.name == model.name)
            #expect(model.name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) })
            #expect(GatewayProfile(parsing: model.name)?.model.name == model.name)
        }
        #expect(Gateways.named("squid") == nil)
    }

    /// A verdict shows the always-reported models, and the chosen one when it is not among them.
    @Test func aVerdictShowsTheChosenModelBesideTheReportedOnes() {
        let verdict = self.judge(.tcpConnectRefused, GatewayProfile(.cloudflare))
        #expect(Set(verdict.gateways.keys) == ["nginx", "haproxy", "envoy", "cloudflare"])
        #expect(verdict.gateways["cloudflare"] == GatewayOutcome(status: 521, detail: "521 Web server is down"))
        #expect(Set(self.judge(.tcpConnectRefused, .default).gateways.keys) == ["nginx", "haproxy", "envoy"])
    }

    @Test func cloudflareAnswersItsOwn52xCodesInTheirClasses() {
        let cloudflare = GatewayProfile(.cloudflare)
        let cases: [(FindingCode, Int?, VerdictClass)] = [
            (.tcpConnectRefused, 521, .badGateway),
            (.tcpConnectTimeout, 522, .gatewayTimeout),
            (.tcpSendTimeout, 522, .gatewayTimeout),
            (.tcpReadTimeout, 524, .gatewayTimeout),
            (.tcpRSTBeforeResponse, 520, .badGateway),
            (.protoNonHTTPResponse, 520, .badGateway),
            (.tlsAlert(named: "handshake_failure"), 525, .badGateway),
            (.protoTLSToPlainPort, 525, .badGateway),
            (.tlsCertExpired, 526, .badGateway),
            (.tcpFINMidBody, nil, .truncated),
        ]
        for (code, status, verdictClass) in cases {
            let verdict = self.judge(code, cloudflare)
            #expect(verdict.gateways["cloudflare"]?.status == status, "\(code)")
            #expect(verdict.verdictClass == verdictClass, "\(code)")
        }
        // Response headers: 128 KB is documented.
        let small = self.judge(.headerTooLarge, cloudflare, RuleContext(value: "20000 20500"))
        #expect(small.verdictClass == .ok)
        let large = self.judge(.headerTooLarge, cloudflare, RuleContext(value: "140000 141000"))
        #expect(large.gateways["cloudflare"]?.status == 520)
    }

    @Test func theALBFailsClosesAndTimeoutsButNotCertificates() {
        let alb = GatewayProfile(.alb)
        #expect(self.judge(.tcpRSTBeforeResponse, alb).verdictClass == .badGateway)
        #expect(self.judge(.tcpKeepaliveRace, alb).gateways["alb"]?.detail.hasPrefix("The target closed the connection with a TCP RST or a TCP FIN") == true)
        #expect(self.judge(.tcpConnectRefused, alb).verdictClass == .badGateway)
        #expect(self.judge(.tcpConnectTimeout, alb).verdictClass == .gatewayTimeout)
        #expect(self.judge(.tcpReadTimeout, alb).verdictClass == .gatewayTimeout)
        #expect(self.judge(.gatewayNoLiveUpstreams, alb).verdictClass == .serviceUnavailable)
        #expect(self.judge(.tlsCertExpired, alb).verdictClass == .ok)
        #expect(self.judge(.tlsCertUnknownCA, alb).verdictClass == .ok)
        #expect(self.judge(.tlsAlert(named: "handshake_failure"), alb).verdictClass == .badGateway)
        #expect(self.judge(.headerTooLarge, alb, RuleContext(value: "30000 31000")).verdictClass == .ok)
        #expect(self.judge(.headerTooLarge, alb, RuleContext(value: "40000 41000")).verdictClass == .badGateway)
    }

    /// Envoy 1.18.0 turned an upstream protocol error from 503 UC into 502 UPE.
    @Test func envoyBefore1_18AnswersProtocolErrorsWith503UC() throws {
        let newest = self.judge(.headerValueNUL, GatewayProfile(.envoy))
        #expect(newest.verdictClass == .badGateway)
        #expect(newest.gateways["envoy"] == GatewayOutcome(status: 502, detail: "UPE"))
        let old = self.judge(.headerValueNUL, try GatewayProfile(validating: "envoy:1.17"))
        #expect(old.verdictClass == .serviceUnavailable)
        #expect(old.gateways["envoy"] == GatewayOutcome(status: 503, detail: "UC"))
        let since = self.judge(.headerValueNUL, try GatewayProfile(validating: "envoy:1.18"))
        #expect(since.verdictClass == .badGateway)
        // A connect failure was always UF.
        #expect(self.judge(.tcpConnectRefused, try GatewayProfile(validating: "envoy:1.17")).gateways["envoy"]?.detail == "UF")
        #expect(EnvoyModel().changes.allSatisfy { $0.since == "1.18.0" && $0.before.status == 503 })
        #expect(EnvoyModel().changes.contains { $0.code == .statusLineBadVersion })
    }

    /// The class of a gateway's own answer: 500 is its own class.
    @Test func aGatewaysOwn500IsClass500() {
        let reaction = GatewayReaction.rejects(500, "Proxy Error")
        #expect(Gateways.verdictClass(for: reaction, code: .tlsCertExpired, context: RuleContext()) == .internalError)
        #expect(VerdictClass.internalError.rawValue == "500")
    }
}

/// Each model judges `http.header.too_many` by the head's field count against its own limit.
@Test func fieldCountsAreJudgedAgainstEachModelsLimit() throws {
    func outcome(_ profile: GatewayProfile, _ count: Int) -> VerdictClass {
        Gateways.verdict(.headerTooMany, context: RuleContext(value: String(count)), profile: profile, summary: "").verdictClass
    }
    #expect(outcome(GatewayProfile(.varnish), 71) == .serviceUnavailable)
    #expect(outcome(GatewayProfile(.varnish), 59) == .ok)
    #expect(outcome(GatewayProfile(.haproxy), 71) == .ok)
    #expect(outcome(GatewayProfile(.haproxy), 101) == .badGateway)
    #expect(outcome(GatewayProfile(.envoy), 100) == .ok)
    #expect(outcome(GatewayProfile(.nginx), 150) == .ok)
}
