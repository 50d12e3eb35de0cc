/// What a person should take from a connection, as the JSON report's `class` says it.
public enum VerdictClass: String, Hashable, Sendable, CaseIterable {
    /// The gateway answered (or would answer) 502 Bad Gateway.
    case badGateway = "502"
    /// The gateway answered 503 Service Unavailable.
    case serviceUnavailable = "503"
    /// The gateway answered 504 Gateway Timeout.
    case gatewayTimeout = "504"
    /// The gateway itself answered 500 Internal Server Error for the upstream's failure (Apache
    /// httpd for a certificate it refuses, lighttpd for a reset before the response).
    case internalError = "500"
    /// The failure came after response headers were forwarded: the client saw a cut response.
    case truncated
    /// The upstream itself answered 5xx and the gateway relayed it.
    case relayed
    /// Healthy.
    case ok
    /// The capture lacks the bytes the verdict would depend on.
    case unknown

    /// Hashed by case, not by raw value: every judged connection is counted by its class, and
    /// hashing the raw string cost a string hash each time.
    public func hash(into hasher: inout Hasher) {
        let ordinal: UInt8
        switch self {
        case .badGateway: ordinal = 0
        case .serviceUnavailable: ordinal = 1
        case .gatewayTimeout: ordinal = 2
        case .internalError: ordinal = 3
        case .truncated: ordinal = 4
        case .relayed: ordinal = 5
        case .ok: ordinal = 6
        case .unknown: ordinal = 7
        }
        hasher.combine(ordinal)
    }
}

/// How far the exchange got when it failed.
public enum Phase: String, Hashable, Sendable, CaseIterable {
    case connect
    case tls
    case request
    case responseHead = "response_head"
    case responseBody = "response_body"
    case idle
}

/// What one gateway does with a connection's failure.
public struct GatewayOutcome: Hashable, Sendable {
    /// The status the gateway's client sees, or `nil` when it sees none (a silent retry, a cut).
    public var status: Int?
    /// What the gateway writes: nginx's error.log text, HAProxy's termination state, Envoy's flag.
    public var detail: String

    /// An outcome from its parts.
    public init(status: Int?, detail: String) {
        self.status = status
        self.detail = detail
    }
}

/// The root cause of one connection's outcome.
public struct Verdict: Hashable, Sendable {
    /// The root-cause code (`none` when healthy).
    public var code: FindingCode
    /// What the client of the gateway saw, broadly.
    public var verdictClass: VerdictClass
    /// Where in the exchange it happened.
    public var phase: Phase
    /// One sentence a person on call understands.
    public var summary: String
    /// What each gateway profile does with it, keyed `nginx`, `haproxy`, `envoy`.
    public var gateways: [String: GatewayOutcome]
    /// On a FastCGI hop, what the application wrote to FCGI_STDERR (PHP's messages), bounded and
    /// with credential values masked; `nil` when it wrote nothing or the hop is not FastCGI.
    public var stderr: String? {
        get { self.stderrText?.text }
        set { self.stderrText = newValue.map(SharedText.init) }
    }
    /// Out of line: one word in every verdict, which nearly never has it.
    private var stderrText: SharedText?

    /// A verdict from its parts.
    public init(
        code: FindingCode, verdictClass: VerdictClass, phase: Phase, summary: String,
        gateways: [String: GatewayOutcome] = [:]
    ) {
        self.code = code
        self.verdictClass = verdictClass
        self.phase = phase
        self.summary = summary
        self.gateways = gateways
    }

    /// The verdict of a connection with nothing wrong.
    public static let healthy = Verdict(
        code: .none, verdictClass: .ok, phase: .idle, summary: "No failure seen: the upstream answered and the connection ended normally.")
}

/// A text kept out of line, compared and hashed by its value.
final class SharedText: Hashable, Sendable {
    let text: String

    init(_ text: String) {
        self.text = text
    }

    static func == (a: SharedText, b: SharedText) -> Bool { a.text == b.text }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.text)
    }
}
