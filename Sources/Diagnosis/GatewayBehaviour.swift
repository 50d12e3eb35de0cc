import CaptureModel

/// What nginx, HAProxy and Envoy do with each root cause (taxonomy section 2), as data.
public enum GatewayBehaviour {
    /// Each gateway's outcome for `code`, keyed `nginx`, `haproxy`, `envoy`; empty when the code
    /// does not make a gateway error.
    public static func outcomes(for code: FindingCode) -> [String: GatewayOutcome] {
        switch code {
        case .tcpConnectRefused:
            return [
                "nginx": GatewayOutcome(status: 502, detail: "connect() failed (111: Connection refused) while connecting to upstream"),
                "haproxy": GatewayOutcome(status: 503, detail: "SC"),
                "envoy": GatewayOutcome(status: 503, detail: "UF"),
            ]
        case .tcpConnectTimeout:
            return [
                "nginx": GatewayOutcome(status: 504, detail: "upstream timed out (110: Connection timed out) while connecting to upstream"),
                "haproxy": GatewayOutcome(status: 503, detail: "sC"),
                "envoy": GatewayOutcome(status: 503, detail: "UF"),
            ]
        case .tcpRSTBeforeResponse:
            return [
                "nginx": GatewayOutcome(status: 502, detail: "recv() failed (104: Connection reset by peer) while reading response header from upstream"),
                "haproxy": GatewayOutcome(status: 502, detail: "SH"),
                "envoy": GatewayOutcome(status: 503, detail: "UC"),
            ]
        case .tcpFINBeforeResponse:
            return [
                "nginx": GatewayOutcome(status: 502, detail: "upstream prematurely closed connection while reading response header from upstream"),
                "haproxy": GatewayOutcome(status: 502, detail: "SH"),
                "envoy": GatewayOutcome(status: 503, detail: "UC"),
            ]
        case .tcpReadTimeout:
            return [
                "nginx": GatewayOutcome(status: 504, detail: "upstream timed out (110: Connection timed out) while reading response header from upstream"),
                "haproxy": GatewayOutcome(status: 504, detail: "sH"),
                "envoy": GatewayOutcome(status: 504, detail: "UT"),
            ]
        default:
            return [:]
        }
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
