import CaptureModel
import Diagnosis
import Engine

/// The short human summary `analyze` prints: by upstream, by cause, the worst connections.
public enum TextSummary {
    /// How many failing connections are shown with their evidence.
    public static let connectionsShown = 10
    /// HTTP/2 streams listed under a failed connection.
    public static let streamsShown = 8

    /// The summary text, ending with a newline. `listedIn` is where the failing connections the
    /// summary has no room for are listed (report.json's path), `nil` when no report was written.
    public static func render(_ result: AnalysisResult, source: SourceInfo, listedIn: String? = "report.json") -> String {
        let stats = result.statistics
        var out = "edgescope: \(Terminal.safe(source.path)) (\(result.linkType), \(stats.frames) frames"
        if let first = stats.firstTime, let last = stats.lastTime {
            out += ", \(first.rfc3339) to \(last.rfc3339)"
        }
        out += ")\n"
        for warning in result.warnings {
            out += "warning: \(Terminal.safe(warning))\n"
        }
        let failures = Summary.worstFirst(result.connections.filter(Summary.isFailure))
        out += "\(result.tally.connections) connection(s), \(result.tally.failed) not healthy; gateway profile \(result.gateway)\n"
        if !result.redactsSecrets {
            out += "not redacted (--no-redact): evidence shows credential values as they were sent\n"
        }
        let upstreams = Summary.upstreams(result)
        let names = upstreams.map { row in JSONReport.name(of: row, in: result.upstreams) }
        if let headline = Headline.sentence(zip(upstreams, names).map { $0.member(name: $1) }) {
            out += Terminal.safe(headline) + ".\n"
        }
        if !upstreams.isEmpty {
            // Most gateway failures first: the member to take out of the pool heads the list.
            out += "\nBy upstream:\n"
            let width = upstreams.map(\.server.count).max() ?? 0
            for row in upstreams {
                var causes = row.failedCauses.map { "\($0.code) ×\($0.count)" }
                let relayedCauses = row.causes.compactMap { cause -> String? in
                    let relayed = cause.count - (row.failedCauses.first { $0.code == cause.code }?.count ?? 0)
                    return relayed > 0 ? "\(cause.code) ×\(relayed)" : nil
                }
                if !relayedCauses.isEmpty { causes.append("relayed: " + relayedCauses.joined(separator: ", ")) }
                out += "  " + row.server.padding(width) + "  \(row.connections) conn, \(row.failed) failed"
                if row.relayed > 0 { out += ", \(row.relayed) relayed 5xx" }
                out += causes.isEmpty ? "\n" : "  (\(causes.joined(separator: "; ")))\n"
            }
        }
        let causes = Summary.causes(result)
        if !causes.isEmpty {
            // What the gateway failed first; the upstreams' own 5xx after, as what they are.
            var gateway: [FindingCode: Int] = [:]
            for row in upstreams {
                for cause in row.failedCauses { gateway[cause.code, default: 0] += cause.count }
            }
            out += "\nBy cause:\n"
            for cause in causes where gateway[cause.code] != nil {
                out += "  \(gateway[cause.code]!)  \(cause.code)\n"
            }
            for cause in causes where cause.count > gateway[cause.code] ?? 0 {
                out += "  \(cause.count - (gateway[cause.code] ?? 0))  \(cause.code) (relayed: the upstream's own answer)\n"
            }
            out += "\nConnections:\n"
            for connection in failures.prefix(self.connectionsShown) {
                out += "  \(connection.name) \(connection.client) → \(connection.server)  frames \(Self.frames(connection.frames, in: source))\n"
                out += "    \(connection.verdict.code) [\(connection.verdict.verdictClass.rawValue), \(connection.verdict.phase.rawValue)]: \(Terminal.safe(connection.verdict.summary))\n"
                if let stderr = connection.verdict.stderr {
                    // The application's own words (FastCGI's FCGI_STDERR), on one line.
                    let line = stderr.split(whereSeparator: \.isNewline).joined(separator: " | ")
                    out += "    stderr: \(Terminal.safe(String(line.prefix(300))))\n"
                }
                let chosen = result.gateway.name
                let names = [chosen] + Gateways.all.map(\.name).filter { $0 != chosen }
                let gateways = names.compactMap { name -> String? in
                    guard let outcome = connection.verdict.gateways[name] else { return nil }
                    let status = outcome.status.map(String.init) ?? "no status"
                    return outcome.detail.isEmpty ? "\(name) \(status)" : "\(name) \(status) \"\(Terminal.safe(outcome.detail))\""
                }
                if !gateways.isEmpty {
                    out += "    " + gateways.joined(separator: "; ") + "\n"
                }
                if let evidence = connection.findings.first?.evidence.first {
                    out += "    evidence: \(evidence.direction.name) frame \(Self.frame(evidence.frame, offset: evidence.frameOffset, in: source))"
                    out += evidence.streamID.map { ", HTTP/2 stream \($0)" } ?? ""
                    out += ", stream offset \(evidence.streamOffset): \(Terminal.safe(evidence.note))\n"
                    for line in Hexdump.lines(evidence) {
                        out += line + "\n"
                    }
                }
                if let comparison = connection.comparison {
                    var tree = JSONTreeBuilder()
                    JSONReport.comparison(comparison, into: &tree)
                    for line in HeadComparisonReport.text(tree.value, indent: "    ") { out += Terminal.safe(line) + "\n" }
                }
                // HTTP/2: each stream is a transaction of its own.
                let streams = connection.transactions.filter { $0.streamID != nil }
                for transaction in streams.prefix(self.streamsShown) {
                    let request = transaction.request.map { "\($0.method) \($0.target)" } ?? "no request seen"
                    let response = transaction.response.map { r in
                        (r.status.map(String.init) ?? "no status") + (r.complete ? "" : ", incomplete")
                    } ?? "no response"
                    out += "    stream \(transaction.streamID!): \(Terminal.safe(request)) → \(response)\n"
                }
                if streams.count > self.streamsShown {
                    out += "    … and \(streams.count - self.streamsShown) more stream(s)\n"
                }
                out += GatewayLogReport.text(connection.gatewayLog)
            }
            let failing = max(failures.count, result.tally.failed)
            if failing > self.connectionsShown {
                let more = failing - self.connectionsShown
                if let listedIn {
                    out += "  … and \(more) more (see \(Terminal.safe(listedIn)))\n"
                } else {
                    out += "  … and \(more) more (use --out DIR to list them all in DIR/report.json)\n"
                }
            }
        }
        out += ClientErrorsReport.text(result, origins: source.origins)
        out += DNSReport.text(result, source: source)
        out += GatewayLogReport.text(result.gatewayLog)
        return out
    }
}

/// Text from the wire made safe for a terminal: control characters shown as `\xNN`.
public enum Terminal {
    /// `text` with C0 controls, DEL and C1 controls escaped, so no escape sequence reaches the terminal.
    public static func safe(_ text: String) -> String {
        // Printable ASCII (nearly every path and name) is safe as it is.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) {
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension TextSummary {
    /// `17 +66` (the byte in the frame), or with several capture files `17 +66 of FILE` (its
    /// number in the file that holds it); `-` for none.
    static func frame(_ frame: FrameNumber?, offset: Int?, in source: SourceInfo) -> String {
        guard let frame else { return "-" + (offset.map { " +\($0)" } ?? "") }
        let located = source.origins.map { $0.locate(frame) }
        let number = "\(located?.frame ?? frame)" + (offset.map { " +\($0)" } ?? "")
        guard let origins = source.origins, let located else { return number }
        return "\(number) of \(Terminal.safe(origins.paths[located.file]))"
    }

    /// `12-40`, or with several capture files `12-40 of FILE` (the connection's file).
    static func frames(_ frames: ClosedRange<FrameNumber>, in source: SourceInfo) -> String {
        guard let origins = source.origins else { return "\(frames.lowerBound)-\(frames.upperBound)" }
        let (file, first) = origins.locate(frames.lowerBound)
        return "\(first)-\(origins.locate(frames.upperBound).frame) of \(Terminal.safe(origins.paths[file]))"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        self.count >= width ? self : self + String(repeating: " ", count: width - self.count)
    }

}
