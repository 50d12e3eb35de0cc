import CaptureModel
import Diagnosis

/// The vocabulary (`RootCause`) and the gateway models (`Gateways.all`) as tables: what
/// `edgescope codes` prints, and what `docs/root-causes.md` and `docs/gateway-models.md` are
/// generated from (a test keeps the files equal to this output).
public enum CodeTables {
    /// One Markdown section per layer: `| code | what happened | phase | role | severity | rule |`.
    public static func markdown() -> String {
        var out = ""
        for layer in CodeLayer.allCases {
            let causes = RootCause.allCases.filter { $0.entry.layer == layer }
            guard !causes.isEmpty else { continue }
            out += "## \(layer.rawValue)\n\n"
            out += "| code | what happened | phase | role | severity | rule |\n"
            out += "|---|---|---|---|---|---|\n"
            for cause in causes {
                let entry = cause.entry
                out += "| `\(entry.code)` | \(self.cell(entry.meaning)) | \(entry.phases.map(\.rawValue).joined(separator: ", ")) | "
                out += "\(entry.role.rawValue) | \(entry.severity.rawValue) | \(entry.rfc ?? "") |\n"
            }
            out += "\n"
        }
        return out
    }

    /// Every code as a JSON array of objects (`code`, `layer`, `phases`, `role`, `severity`,
    /// `meaning`, `rfc`, `phrase`).
    public static func json() -> String {
        var writer = PrettyJSONWriter()
        writer.beginArray()
        for cause in RootCause.allCases {
            let entry = cause.entry
            writer.object { out in
                out.member("code", entry.code)
                out.member("layer", entry.layer.rawValue)
                out.array("phases") { out in
                    for phase in entry.phases { out.string(phase.rawValue) }
                }
                out.member("role", entry.role.rawValue)
                out.member("severity", entry.severity.rawValue)
                out.member("meaning", entry.meaning)
                out.member("rfc", entry.rfc)
                out.member("phrase", entry.phrase)
            }
        }
        writer.endArray()
        return String(decoding: writer.bytes, as: UTF8.self) + "\n"
    }

    /// A plain table for a terminal: code, phase, role, meaning.
    public static func text() -> String {
        let width = RootCause.allCases.map(\.entry.code.count).max() ?? 0
        var out = ""
        for cause in RootCause.allCases {
            let entry = cause.entry
            let code = self.padded(entry.code, width)
            let phase = self.padded(entry.phases[0].rawValue, 13)
            let role = self.padded(entry.role.rawValue, 10)
            out += "\(code)  \(phase)  \(role)  \(entry.meaning)\n"
        }
        return out
    }

    /// One section per gateway model: its releases and, for every code, what its client sees and
    /// what it writes, in the code's default phase on a fresh connection with no value.
    public static func gatewaysMarkdown() -> String {
        var out = ""
        for model in Gateways.all {
            out += "## `\(model.name)`: \(model.title)\n\n"
            if model.releases.isEmpty {
                out += "Releases: no release differences are modelled.\n\n"
            } else {
                out += "Releases: \(model.releases.first!) to \(model.releases.last!)"
                let changes = model.changes.map { "`\($0.code)` (\($0.since))" }
                out += changes.isEmpty ? ".\n\n" : "; rules that changed: \(changes.joined(separator: ", ")).\n\n"
            }
            out += "Limits: \(self.limits(model.limits)).\n\n"
            out += "| code | the client sees | \(model.detail.label) | note |\n"
            out += "|---|---|---|---|\n"
            for code in self.sampleCodes {
                let context = RuleContext(phase: code.cause.defaultPhase)
                let reaction = Gateways.reaction(to: code, context: context, profile: GatewayProfile(model: model))
                out += "| `\(code)` | \(self.clientSees(reaction)) | \(self.cell(reaction.detail)) | \(self.cell(reaction.note ?? "")) |\n"
            }
            out += "\n"
        }
        return out
    }

    /// `head 4096 bytes, read timeout 60 s (source)`.
    static func limits(_ limits: GatewayLimits) -> String {
        func seconds(_ value: Double) -> String {
            value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
        }
        var parts: [String] = []
        if let bytes = limits.headBytes { parts.append("head \(bytes) bytes") }
        if let count = limits.fieldCount { parts.append("\(count) header fields") }
        if let bytes = limits.lineBytes { parts.append("a header line of \(bytes) bytes") }
        if let time = limits.readTimeout { parts.append("read timeout \(seconds(time))") }
        if let time = limits.connectTimeout { parts.append("connect timeout \(seconds(time))") }
        return (parts.isEmpty ? "none modelled" : parts.joined(separator: ", ")) + " (\(self.cell(limits.source)))"
    }

    /// One code per case, a family by one member (`tls.alert.handshake_failure`).
    static var sampleCodes: [FindingCode] {
        RootCause.allCases.map { $0.familyPrefix == nil ? FindingCode($0) : FindingCode($0, qualifier: "handshake_failure") }
    }

    /// What the gateway's client gets, in a few words.
    static func clientSees(_ reaction: GatewayReaction) -> String {
        switch reaction.kind {
        case .rejects: return reaction.status.map { "**\($0)**" } ?? "a cut response"
        case .accepts: return reaction.status.map { "\($0) (relayed)" } ?? "passes"
        case .passesAsHTTP09: return "200, the bytes as an HTTP/0.9 body"
        case .retries: return "a retry on another connection"
        case .closesSilently: return "the connection closed, no status"
        }
    }

    /// Text made safe for a Markdown table cell: `|` escaped, line breaks as spaces.
    static func cell(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "|": out += "\\|"
            case "\n", "\r\n", "\r": out += " "
            default: out.append(character)
            }
        }
        return out
    }

    /// `text` and spaces up to `width` characters.
    static func padded(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}
