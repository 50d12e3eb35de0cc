import CaptureModel

/// Which gateway's behaviour decides a verdict's class (`--gateway nginx|haproxy|envoy|strict[:VERSION]`).
public struct GatewayProfile: Hashable, Sendable, CustomStringConvertible {
    /// The gateway families edgescope knows.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case nginx
        case haproxy
        case envoy
        /// The RFC read strictly: anything a recipient MAY reject is rejected.
        case strict
    }

    /// The family.
    public var kind: Kind
    /// The release, as written after the colon (`1.22`), or `nil` for the newest behaviour known.
    public var version: String?

    /// A profile from its parts.
    public init(kind: Kind, version: String? = nil) {
        self.kind = kind
        self.version = version
    }

    /// Parses `nginx`, `haproxy:2.6`, `envoy`, `strict`; `nil` for anything else.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = Kind(rawValue: parts[0].lowercased()) else { return nil }
        if parts.count == 2 {
            let version = parts[1]
            guard !version.isEmpty, version.allSatisfy({ $0.isNumber || $0 == "." }) else { return nil }
            self.init(kind: kind, version: String(version))
        } else {
            self.init(kind: kind)
        }
    }

    /// `nginx`, or `nginx:1.22`.
    public var description: String {
        self.version.map { "\(self.kind.rawValue):\($0)" } ?? self.kind.rawValue
    }

    /// nginx, the most common gateway in front of HTTP/1 upstreams.
    public static let `default` = GatewayProfile(kind: .nginx)
}
