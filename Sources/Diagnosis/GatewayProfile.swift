import CaptureModel

/// Which gateway's behaviour decides a verdict's class (`--gateway NAME[:VERSION]`): a model of
/// `Gateways.all` and, optionally, a release of it.
public struct GatewayProfile: Hashable, Sendable, CustomStringConvertible {
    /// The gateway model.
    public let model: any GatewayModel
    /// The release, as written after the colon (`1.22`), or `nil` for the newest behaviour known.
    public var version: String?

    /// A profile from its parts.
    public init(model: any GatewayModel, version: String? = nil) {
        self.model = model
        self.version = version
    }

    /// A profile from its parts, for a model named by its static member (`.nginx`).
    public init<Model: GatewayModel>(_ model: Model, version: String? = nil) {
        self.init(model: model as any GatewayModel, version: version)
    }

    /// Parses `nginx`, `haproxy:2.6`, `envoy`, `strict`; `nil` for anything else. Any dotted
    /// number is taken as a version; `init(validating:)` also checks it is a known release.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let model = Gateways.named(String(parts[0])) else { return nil }
        if parts.count == 2 {
            let version = parts[1]
            guard !version.isEmpty, version.allSatisfy({ $0.isNumber || $0 == "." }) else { return nil }
            self.init(model: model, version: String(version))
        } else {
            self.init(model: model)
        }
    }

    /// Parses `--gateway`: a model, and optionally a release of it that edgescope knows
    /// (`GatewayModel.releases`). Throws a `ParseError` naming what is known.
    public init(validating text: String) throws(ParseError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let model = Gateways.named(String(parts[0])) else { throw .unknownFamily(text) }
        guard parts.count == 2 else {
            self.init(model: model)
            return
        }
        let version = String(parts[1])
        guard model.isKnownRelease(version) else { throw .unknownRelease(text, model.name) }
        self.init(model: model, version: version)
    }

    /// Why `init(validating:)` refused its text.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The part before the colon is no model edgescope has.
        case unknownFamily(String)
        /// The model is known (by this name), the release after the colon is not.
        case unknownRelease(String, String)

        /// One line for the person who typed it.
        public var description: String {
            switch self {
            case .unknownFamily(let text):
                let names = Gateways.all.map(\.name)
                return "'\(text)' is not a gateway edgescope models; give \(names.dropLast().joined(separator: ", ")) or \(names.last!), optionally with :VERSION"
            case .unknownRelease(let text, let name):
                let releases = Gateways.named(name)?.releases ?? []
                guard !releases.isEmpty else {
                    return "'\(text)': edgescope knows no release differences for \(name); give \(name) without a version"
                }
                return "'\(text)' is not a release of \(name) edgescope knows; known: \(releases.joined(separator: ", ")) (or a point release of one), or \(name) alone for the newest behaviour"
            }
        }
    }

    /// The model's name: `nginx`.
    public var name: String { self.model.name }

    /// `nginx`, or `nginx:1.22`.
    public var description: String {
        self.version.map { "\(self.model.name):\($0)" } ?? self.model.name
    }

    public static func == (lhs: GatewayProfile, rhs: GatewayProfile) -> Bool {
        lhs.model.name == rhs.model.name && lhs.version == rhs.version
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.model.name)
        hasher.combine(self.version)
    }

    /// The first model of `Gateways.all` (nginx, the most common gateway in front of HTTP/1 upstreams).
    public static let `default` = GatewayProfile(model: Gateways.all[0])
}
