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
    /// Whether evidence masks the values of credential fields (`--no-redact` turns it off).
    public var redactsSecrets = true

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
