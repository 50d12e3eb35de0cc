import CaptureModel
import Engine

/// The Markdown report (GitHub-flavoured), for pasting into a postmortem.
public enum MarkdownReport {
    /// The document.
    public static func render(_ result: AnalysisResult, source: SourceInfo) -> String {
        let stats = result.statistics
        var out = "# edgescope report\n\n"
        out += "- Capture: `\(self.code(source.path))` (\(result.linkType), \(stats.frames) frames, \(stats.wireBytes) bytes)\n"
        if let first = stats.firstTime, let last = stats.lastTime {
            out += "- Window: \(first.rfc3339) to \(last.rfc3339)\n"
        }
        out += "- Gateway profile: \(result.gateway)\n"
        let failures = result.connections.filter(Summary.isFailure)
        out += "- Connections: \(result.tally.connections), not healthy: \(result.tally.failed)\n"
        for warning in result.warnings {
            out += "- **Warning:** \(self.cell(warning))\n"
        }
        out += "\n## By upstream\n\n| upstream | connections | failed | causes |\n|---|---:|---:|---|\n"
        for row in Summary.upstreams(result) {
            let causes = row.causes.map { "`\($0.code)` ×\($0.count)" }.joined(separator: ", ")
            out += "| `\(row.server)` | \(row.connections) | \(row.failed) | \(causes) |\n"
        }
        let causes = Summary.causes(result)
        if !causes.isEmpty {
            out += "\n## Root causes\n"
            for cause in causes {
                let examples = failures.filter { $0.verdict.code == cause.code }
                let servers = Summary.upstreams(result).filter { row in row.causes.contains { $0.code == cause.code } }.map(\.server)
                out += "\n### `\(cause.code)` ×\(cause.count)\n\n"
                out += "Upstreams: \(servers.map { "`\($0)`" }.joined(separator: ", "))\n\n"
                if let example = examples.first {
                    out += "Example \(example.name) (`\(example.client)` → `\(example.server)`, frames \(example.frames.lowerBound)–\(example.frames.upperBound)): \(self.cell(example.verdict.summary))\n\n"
                    if !example.verdict.gateways.isEmpty {
                        out += "| gateway | status | says |\n|---|---|---|\n"
                        for name in ["nginx", "haproxy", "envoy"] {
                            guard let outcome = example.verdict.gateways[name] else { continue }
                            out += "| \(name) | \(outcome.status.map(String.init) ?? "none") | `\(self.code(outcome.detail))` |\n"
                        }
                        out += "\n"
                    }
                    out += "Wireshark display filter: `\(Summary.displayFilter(example))`\n"
                }
            }
        }
        let shown = Summary.worstFirst(failures).prefix(self.connectionsListed)
        if !shown.isEmpty {
            out += "\n## Failing connections\n"
            for connection in shown {
                out += "\n### \(connection.name): `\(connection.client)` → `\(connection.server)`\n\n"
                out += "- Verdict: `\(connection.verdict.code)`, class \(connection.verdict.verdictClass.rawValue), phase \(connection.verdict.phase.rawValue)\n"
                out += "- \(self.cell(connection.verdict.summary))\n"
                out += "- Frames \(connection.frames.lowerBound)–\(connection.frames.upperBound), \(connection.facts.first.time.rfc3339) to \(connection.facts.last.time.rfc3339), TCP history `\(connection.facts.history)`\n"
                for name in ["nginx", "haproxy", "envoy"] {
                    guard let outcome = connection.verdict.gateways[name] else { continue }
                    out += "- \(name): \(outcome.status.map(String.init) ?? "no status")\(outcome.detail.isEmpty ? "" : " `\(self.code(outcome.detail))`")\n"
                }
                out += "- Wireshark: `\(Summary.displayFilter(connection))`\n"
                if let evidence = connection.findings.first?.evidence.first {
                    out += "\nEvidence: \(evidence.direction.name) frame \(evidence.frame.map(String.init) ?? "-"), stream offset \(evidence.streamOffset): \(self.cell(evidence.note))\n"
                    let dump = Hexdump.lines(evidence, indent: "")
                    if !dump.isEmpty {
                        out += "\n```\n" + dump.joined(separator: "\n") + "\n```\n"
                    }
                }
            }
            if failures.count > shown.count {
                out += "\n\(failures.count - shown.count) more failing connection(s) are in report.json.\n"
            }
        }
        out += ClientErrorsReport.markdown(result)
        return out
    }

    /// At most this many failing connections get a section of their own.
    public static let connectionsListed = 50

    private static func cell(_ text: String) -> String {
        Terminal.safe(text).replacing("|", with: "\\|")
    }

    private static func code(_ text: String) -> String {
        Terminal.safe(text).replacing("`", with: "'")
    }
}
