import CaptureModel
import Diagnosis
import TCPReassembly
import TLSRecords

/// One `--upstream [NAME=]ADDR[:PORT]`: a server the gateway connects to, and the name it expects.
public struct UpstreamSpec: Hashable, Sendable {
    /// The host name the gateway expects (in the certificate), if given.
    public var name: String?
    /// The address.
    public var address: IPAddress
    /// The port, or `nil` for any port on that address.
    public var port: UInt16?

    /// Parses `[NAME=]ADDR[:PORT]` (`api=10.0.3.24:8080`, `[::1]:8080`, `10.0.3.24`); `nil` if malformed.
    public init?(parsing text: String) {
        var rest = Substring(text)
        if let equals = rest.firstIndex(of: "=") {
            let name = rest[..<equals]
            guard !name.isEmpty else { return nil }
            self.name = String(name)
            rest = rest[rest.index(after: equals)...]
        } else {
            self.name = nil
        }
        if let endpoint = Endpoint(parsing: rest) {
            self.address = endpoint.address
            self.port = endpoint.port
        } else if let address = IPAddress(parsing: rest.hasPrefix("[") && rest.hasSuffix("]") ? rest.dropFirst().dropLast() : rest) {
            self.address = address
            self.port = nil
        } else {
            return nil
        }
    }
}

/// How to analyse a capture.
public struct AnalysisOptions: Sendable {
    /// Reassembly caps.
    public var limits: ReassemblyLimits
    /// Known upstreams (`--upstream`): they fix roles on connections picked up mid-stream.
    public var upstreams: [UpstreamSpec]
    /// The gateway whose behaviour decides each verdict's class.
    public var gateway: GatewayProfile
    /// Verifies certificate chains seen in the clear (TLS 1.2 and earlier); `nil` skips it.
    public var verifier: (any ChainVerifying)?
    /// Decrypts TLS sessions whose secrets the key log holds (`--keylog`).
    public var decryption: TLSConnection.Decryption?
    /// Which judged connections the result lists.
    public var retention: ReportRetention = .all
    /// Whether each judged connection is also kept for `Engine.takeEnded()` (a live capture).
    public var queueEnded = false
    /// Whether a connection is judged at the packet that closes it on the gateway's side (its
    /// FIN, or an RST from either side) instead of after it lingered closed (a live capture,
    /// whose incidents should not wait). Its late packets are dropped and change nothing of
    /// the verdict, so a report may differ from `analyze` of the same packets in the TCP facts
    /// those late packets would have added.
    public var judgesAtGatewayClose = false
    /// Whether a closed connection waits out the linger (`ReassemblyLimits.closedLinger`) before
    /// it is judged, keeping all its state meanwhile, so the packets after its close (the last
    /// ACK, a retransmitted FIN) count in its report's TCP facts. Off, the default: a connection
    /// is judged when it has closed both ways (both FINs, in stream order) or at an RST, its state
    /// let go at once, and those late packets are recognised and dropped (issue 16: a busy
    /// gateway's closed connections cost a few dozen bytes each while they linger).
    public var judgesAfterLinger = false
    /// Whether evidence masks the values of credential fields (`--no-redact` turns it off).
    public var redactsSecrets = true
    /// Where the gateway listens (`--gateway-address`), when the capture also holds the client
    /// hop and the listeners cannot be inferred from the requests.
    public var gatewayAddresses: [GatewayAddress] = []
    /// What client-hop correlation keeps.
    public var clientHop = ClientHopLimits()

    /// Options from their parts.
    public init(
        limits: ReassemblyLimits = ReassemblyLimits(), upstreams: [UpstreamSpec] = [], gateway: GatewayProfile = .default,
        verifier: (any ChainVerifying)? = nil, decryption: TLSConnection.Decryption? = nil
    ) {
        self.decryption = decryption
        self.limits = limits
        self.upstreams = upstreams
        self.gateway = gateway
        self.verifier = verifier
    }
}

/// The caps of client-hop correlation: it keeps recent requests, not every one, so a capture
/// that runs for days matches its two hops in bounded memory.
public struct ClientHopLimits: Sendable {
    /// Recent requests kept (both hops, every connection) to match a request on one hop with the
    /// same request on the other; the oldest is let go first.
    public var recentRequests: Int
    /// Failed upstream connections that carried no request (refused, timed out, TLS), kept to
    /// explain a client error by timing.
    public var recentFailures: Int
    /// 502, 503 and 504 responses waiting for the role of their connection and the upstream
    /// connections behind them to be known.
    public var pendingErrors: Int
    /// Client errors listed in the report; past it they are only counted.
    public var listedErrors: Int
    /// Capture-time nanoseconds a client error waits, after its response, for the upstream
    /// connections behind it to be judged (they are judged once closed for
    /// `ReassemblyLimits.closedLinger`).
    public var settleDelay: Int64
    /// Capture-time nanoseconds by which a later hop's packet may seem to precede the earlier
    /// hop's. 0 by default: the gateway reads a request before it sends it on and hears from
    /// upstream before it answers, and one host stamps both hops with one clock, so the order in
    /// the capture is the order of cause and effect.
    public var tolerance: Int64

    /// The defaults.
    public init(
        recentRequests: Int = 8192, recentFailures: Int = 4096, pendingErrors: Int = 10_000, listedErrors: Int = 10_000,
        settleDelay: Int64 = 8 * 1_000_000_000, tolerance: Int64 = 0
    ) {
        self.recentRequests = recentRequests
        self.recentFailures = recentFailures
        self.pendingErrors = pendingErrors
        self.listedErrors = listedErrors
        self.settleDelay = settleDelay
        self.tolerance = tolerance
    }
}
