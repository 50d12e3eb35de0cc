import CaptureModel

/// What nginx, HAProxy and Envoy do with each root cause, in the shape the first verdicts used.
/// The rules themselves, with phase, method and release, are `GatewayRules`.
public enum GatewayBehaviour {
    /// Each reported gateway's newest outcome for `code` in its usual phase, keyed `nginx`,
    /// `haproxy`, `envoy`; empty when none of them turns the code into an error.
    public static func outcomes(for code: FindingCode) -> [String: GatewayOutcome] {
        let context = RuleContext(phase: GatewayRules.defaultPhase(for: code))
        var outcomes: [String: GatewayOutcome] = [:]
        var anyError = false
        for family in GatewayRules.reported {
            let reaction = GatewayRules.reaction(to: code, context: context, profile: GatewayProfile(kind: family))
            anyError = anyError || reaction.kind != .accepts
            outcomes[family.rawValue] = GatewayRules.outcome(reaction)
        }
        return anyError ? outcomes : [:]
    }

    /// The report class for a gateway's status: 502, 503, 504, or `truncated` when it sends none.
    public static func verdictClass(status: Int?) -> VerdictClass {
        switch status {
        case 502: return .badGateway
        case 503: return .serviceUnavailable
        case 504: return .gatewayTimeout
        case nil: return .truncated
        default: return .badGateway
        }
    }
}
