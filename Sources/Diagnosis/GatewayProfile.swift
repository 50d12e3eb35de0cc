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

        /// The release series (`MAJOR.MINOR`) whose behaviour the rules describe, oldest first:
        /// from the oldest still shipped by a maintained Linux distribution to the newest the
        /// taxonomy read (`GatewayRules` records the releases within them that changed a rule).
        /// Empty when the rules know no release differences, so a version would mean nothing.
        public var releases: [String] {
            switch self {
            // Debian 11 and Ubuntu 22.04 ship 1.18; the taxonomy read 1.31.5.
            case .nginx: return (18...31).map { "1.\($0)" }
            // Ubuntu 20.04 ships 2.0; the taxonomy read 3.5-dev5.
            case .haproxy: return (0...9).map { "2.\($0)" } + (0...5).map { "3.\($0)" }
            case .envoy, .strict: return []
            }
        }

        /// Whether `version` is one of `releases` or a point release of one (`1.22`, `1.22.1`).
        public func isKnownRelease(_ version: String) -> Bool {
            let parts = version.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return false }
            // Numerically: `1.022` is not a release anyone writes, but `1.22` is.
            guard let major = Int(parts[0]), let minor = Int(parts[1]) else { return false }
            return self.releases.contains("\(major).\(minor)") && parts[0] == "\(major)" && parts[1] == "\(minor)"
        }
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

    /// Parses `nginx`, `haproxy:2.6`, `envoy`, `strict`; `nil` for anything else. Any dotted
    /// number is taken as a version; `init(validating:)` also checks it is a known release.
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

    /// Parses `--gateway`: a family, and optionally a release of it that edgescope knows
    /// (`Kind.releases`). Throws a `ParseError` naming what is known.
    public init(validating text: String) throws(ParseError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = Kind(rawValue: parts[0].lowercased()) else { throw .unknownFamily(text) }
        guard parts.count == 2 else {
            self.init(kind: kind)
            return
        }
        let version = String(parts[1])
        guard kind.isKnownRelease(version) else { throw .unknownRelease(text, kind) }
        self.init(kind: kind, version: version)
    }

    /// Why `init(validating:)` refused its text.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The part before the colon is no family edgescope models.
        case unknownFamily(String)
        /// The family is known, the release after the colon is not.
        case unknownRelease(String, Kind)

        /// One line for the person who typed it.
        public var description: String {
            switch self {
            case .unknownFamily(let text):
                let families = Kind.allCases.map(\.rawValue)
                return "'\(text)' is not a gateway edgescope models; give \(families.dropLast().joined(separator: ", ")) or \(families.last!), optionally with :VERSION"
            case .unknownRelease(let text, let kind):
                let releases = kind.releases
                guard !releases.isEmpty else {
                    return "'\(text)': edgescope knows no release differences for \(kind.rawValue); give \(kind.rawValue) without a version"
                }
                return "'\(text)' is not a release of \(kind.rawValue) edgescope knows; known: \(releases.joined(separator: ", ")) (or a point release of one), or \(kind.rawValue) alone for the newest behaviour"
            }
        }
    }

    /// `nginx`, or `nginx:1.22`.
    public var description: String {
        self.version.map { "\(self.kind.rawValue):\($0)" } ?? self.kind.rawValue
    }

    /// nginx, the most common gateway in front of HTTP/1 upstreams.
    public static let `default` = GatewayProfile(kind: .nginx)
}
