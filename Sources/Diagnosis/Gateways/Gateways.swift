import CaptureModel

/// The gateway models edgescope knows, and how a verdict is judged with them.
///
/// Adding a gateway is one model file in this folder and one line in `all`. Reports, help
/// texts and errors iterate `all`; no gateway's name is spelled outside its model.
///
/// The behaviour of a model without a version is the newest its sources read. Defaults are
/// assumed throughout (each model says which); Debian 12's packages were run against crafted
/// upstream responses to check the rules for the releases it ships (docs/gateways.md).
public enum Gateways {
    /// Every model, in the order help texts and reports list them.
    public static let all: [any GatewayModel] = [
        NginxModel(),
        HAProxyModel(),
        EnvoyModel(),
        ApacheModel(),
        CaddyModel(),
        VarnishModel(),
        LighttpdModel(),
        CloudflareModel(),
        ALBModel(),
        StrictModel(),
    ]

    /// The model `name` names (`nginx`, case-insensitive), or `nil`.
    public static func named(_ name: String) -> (any GatewayModel)? {
        let lowered = name.lowercased()
        return self.all.first { $0.name == lowered }
    }

    /// The models every report shows, whichever decides the class.
    public static let reported: [any GatewayModel] = Self.all.filter(\.isAlwaysReported)

    /// The models a verdict's `gateways` shows: the reported ones, and `profile`'s model after
    /// them when it is not one of them.
    public static func shown(for profile: GatewayProfile) -> [any GatewayModel] {
        self.reported.contains { $0.name == profile.model.name } ? self.reported : self.reported + [profile.model]
    }

    /// What `profile` (model and optional version; `nil` version = newest behaviour known) does
    /// with `code`.
    public static func reaction(to code: FindingCode, context: RuleContext, profile: GatewayProfile) -> GatewayReaction {
        let model = profile.model
        var reaction = model.reaction(to: code, context: context)
        if let version = profile.version, let change = self.change(for: code, in: model, at: version) {
            reaction = change.before
        }
        // Taxonomy §1.1: once a response header went out, a failure can only cut the body.
        if reaction.kind == .rejects, code.cause.isBodyPhase || context.phase == .responseBody {
            reaction.status = nil
        }
        return model.settle(reaction, code: code, context: context)
    }

    /// What each shown gateway does, keyed by model name as the report's `gateways` object is.
    /// `profile`'s version applies to its own model; the others show their newest behaviour.
    public static func outcomes(for code: FindingCode, context: RuleContext, profile: GatewayProfile = .default) -> [String: GatewayOutcome] {
        var outcomes: [String: GatewayOutcome] = [:]
        for model in self.shown(for: profile) {
            let modelProfile = model.name == profile.model.name ? profile : GatewayProfile(model: model)
            outcomes[model.name] = self.outcome(self.reaction(to: code, context: context, profile: modelProfile))
        }
        return outcomes
    }

    /// A verdict for `code`: the class the chosen `profile`'s reaction gives, and what every
    /// shown gateway does (`profile`'s version applies to its own model).
    public static func verdict(
        _ code: FindingCode, context: RuleContext, profile: GatewayProfile, summary: String
    ) -> Verdict {
        let chosen = self.reaction(to: code, context: context, profile: profile)
        return Verdict(
            code: code, verdictClass: self.verdictClass(for: chosen, code: code, context: context, model: profile.model), phase: context.phase,
            summary: summary, gateways: self.outcomes(for: code, context: context, profile: profile))
    }

    /// The report's view of a reaction.
    public static func outcome(_ reaction: GatewayReaction) -> GatewayOutcome {
        GatewayOutcome(status: reaction.status, detail: reaction.detail)
    }

    /// The class of a verdict whose deciding gateway (`model`, the default's when `nil`) reacted to
    /// `code` with `reaction`.
    public static func verdictClass(
        for reaction: GatewayReaction, code: FindingCode, context: RuleContext, model: (any GatewayModel)? = nil
    ) -> VerdictClass {
        if [.captureGap, .captureTruncated, .captureFileTruncated].contains(code.cause) { return .unknown }
        switch reaction.kind {
        case .rejects:
            guard let status = reaction.status else { return .truncated }
            return (model ?? GatewayProfile.default.model).errorClass(forStatus: status)
        case .accepts:
            // A gRPC error status is the service's own answer, relayed like an HTTP 5xx.
            if code.cause == .grpcStatus { return .relayed }
            let status = reaction.status ?? context.upstreamStatus
            if let status, (500...599).contains(status) { return .relayed }
            // The upstream's own 400 to a PROXY header: relayed, and what the client sees.
            if code == .protoProxyHeaderUnexpected { return .relayed }
            return .ok
        case .passesAsHTTP09, .retries:
            // The client got a status (200 for the HTTP/0.9 relay, the retry's own otherwise).
            return .ok
        case .closesSilently:
            // No status and no complete response: the client saw the connection end.
            return .truncated
        }
    }

    /// Every recorded release that changed a rule, of every model.
    public static var changes: [GatewayRuleChange] { self.all.flatMap(\.changes) }

    /// The releases that changed what some model does with `code`.
    public static func changes(for code: FindingCode) -> [GatewayRuleChange] {
        self.changes.filter { $0.code == code }
    }

    /// `-1`, `0` or `1` as dotted release `a` is older than, the same as, or newer than `b`,
    /// compared numerically component by component; a missing component counts as 0, so
    /// `1.22` < `1.22.1` < `1.23` and `1.9` < `1.10`.
    public static func compareVersions(_ a: String, _ b: String) -> Int {
        let left = a.split(separator: ".").map { Int($0) ?? 0 }
        let right = b.split(separator: ".").map { Int($0) ?? 0 }
        for index in 0..<max(left.count, right.count) {
            let l = index < left.count ? left[index] : 0
            let r = index < right.count ? right[index] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }

    /// The change that decides `model`'s behaviour for `code` at `version`: the oldest change
    /// the release predates, since each `before` describes the releases just before its change.
    static func change(for code: FindingCode, in model: any GatewayModel, at version: String) -> GatewayRuleChange? {
        model.changes
            .filter { $0.code == code && self.compareVersions(version, $0.since) < 0 }
            .min { self.compareVersions($0.since, $1.since) < 0 }
    }
}
