import CaptureModel

/// The Markdown report (GitHub-flavoured), for pasting into a postmortem: summary tables, each
/// root cause once with its count, upstreams and one example with its hexdump, then the
/// failing connections in a table. Rendered from the `edgescope.report/1` document alone, so
/// `edgescope report DIR/report.json --format md` gives the same text as the run.
///
/// Text from the wire is inert: table cells and prose are backslash-escaped (GFM §6.1), code
/// spans and fences are longer than any backtick run inside them, and control characters are
/// shown as `\xNN`, so no byte an upstream sent can start a table row, a link or markup.
public enum MarkdownReport {
    /// At most this many failing connections get a row in the table; the rest are counted.
    public static let connectionsListed = 500

    /// The document, ending with a newline.
    public static func render(_ document: ReportDocument) -> String {
        let json = document.json
        let source = json["source"]
        var out = "# edgescope report\n\n"
        var capture = "- Capture: \(self.code(source["path"].string ?? "?"))"
        capture += " (\(self.text(source["link_type"].string ?? "?")), \(source["packets"].int ?? 0) frames, \(source["bytes"].int ?? 0) bytes)\n"
        out += capture
        if let window = document.window {
            out += "- Window: \(window.first.rfc3339) to \(window.last.rfc3339) (\(Self.duration(window.last.nanoseconds(since: window.first))))\n"
        }
        if let profile = json["generator"]["gateway_profile"].string {
            out += "- Gateway profile: \(self.code(profile)) (decides each connection's class)\n"
        }
        if json["generator"]["redacted"].bool == false {
            out += "- **Not redacted** (`--no-redact`): evidence shows credential values (Authorization, Cookie, API tokens) as they were sent.\n"
        }
        let failingClasses = document.classes.filter { $0.name != "ok" && $0.count > 0 }
        out += "- Connections: \(document.connectionCount), not healthy: \(document.failedCount)"
        if !failingClasses.isEmpty {
            out += " (" + failingClasses.map { "\(self.text($0.name)) ×\($0.count)" }.joined(separator: ", ") + ")"
        }
        out += "\n"
        for warning in json["warnings"].items.compactMap(\.string) {
            out += "- **Warning:** \(self.text(warning))\n"
        }

        if let headline = Headline.sentence(
            document.json["upstreams"].items.map(Headline.Member.init), code: { self.code($0) }, text: { self.text($0) }) {
            out += "\n**\(headline).**\n"
        }
        out += self.sources(document)
        out += "\n## Outcome by class\n\n| class | connections |\n|---|---:|\n"
        for item in document.classes {
            out += "| \(self.text(item.name)) | \(item.count) |\n"
        }

        out += self.upstreams(document)
        out += self.causes(document)
        out += self.clientErrors(json)
        out += DNSReport.markdown(json)
        out += self.failingConnections(document)
        out += GatewayLogReport.markdown(document)
        return out
    }

    private static func upstreams(_ document: ReportDocument) -> String {
        let rows = document.json["upstreams"].items
        guard !rows.isEmpty else { return "" }
        var out = "\n## By upstream\n\nMost connections the gateway failed first; an upstream's own 5xx, relayed as sent, is counted apart.\n\n"
        // A merged report: each source's failed/connections, a column each.
        let labels = document.sources.map(\.label)
        out += "| upstream | name | connections | failed | failed % | relayed 5xx |" + labels.map { " \(self.text($0)) |" }.joined() + " causes |\n"
        out += "|---|---|---:|---:|---:|---:|" + String(repeating: "---:|", count: labels.count) + "---|\n"
        for row in Summary.worstFirst(rows, failed: { $0["failed"].int ?? 0 }, server: { $0["server"].string ?? "?" }) {
            let connections = row["connections"].int ?? 0
            let failed = row["failed"].int ?? 0
            let causes = HTMLReport.splitCauses(row).map { cause in
                "\(self.code(cause.code, inTable: true)) ×\(cause.count)\(cause.relayed ? " (relayed)" : "")"
            }.joined(separator: ", ")
            let name = row["name"].string.map { self.text($0) } ?? ""
            let server = self.code(row["server"].string ?? "?", inTable: true)
            let bySource = labels.map { " \(ReportDocument.sourceCell(row, label: $0)) |" }.joined()
            out += "| \(failed > 0 ? "**\(server)**" : server) | \(name) | \(connections) | \(failed) | \(self.percent(failed, of: connections)) | \(row["relayed"].int ?? 0) |\(bySource) \(causes) |\n"
        }
        return out
    }

    /// A merged report's sources, one row each; nothing for one report.
    private static func sources(_ document: ReportDocument) -> String {
        let sources = document.sources
        guard !sources.isEmpty else { return "" }
        var out = "\n## Sources\n\n\(sources.count) reports merged; each connection below names its source.\n\n"
        out += "| source | report | capture | gateway profile | window | connections | not healthy |\n|---|---|---|---|---|---:|---:|\n"
        for source in sources {
            out += "| \(self.text(source.label)) | \(self.code(source.report, inTable: true)) | \(self.code(source.capture, inTable: true)) "
            out += "| \(source.profile.map { self.code($0, inTable: true) } ?? "") | \(self.text(source.window ?? "")) | \(source.connections) | \(source.failed) |\n"
        }
        return out
    }

    private static func causes(_ document: ReportDocument) -> String {
        let causes = document.causes
        guard !causes.isEmpty else { return "" }
        var out = "\n## Root causes\n\n| cause | connections | class | upstreams |\n|---|---:|---|---|\n"
        for cause in causes {
            let example = document.example(of: cause.code)
            out += "| \(self.code(cause.code, inTable: true)) | \(cause.count) | \(self.text(example?["verdict"]["class"].string ?? "")) | \(self.upstreamCounts(cause.code, document, inTable: true)) |\n"
        }
        for cause in causes {
            out += "\n### \(self.code(cause.code)) ×\(cause.count)\n\n"
            out += "Upstreams: \(self.upstreamCounts(cause.code, document, inTable: false))\n"
            guard let example = document.example(of: cause.code) else {
                out += "\nNo connection with this cause is listed in report.json (a bounded report lists failures first).\n"
                continue
            }
            out += self.example(example, gateways: document.gatewayDetailKeys, document: document)
        }
        return out
    }

    /// One connection in full: verdict, what each gateway does, the first evidence as a hexdump.
    private static func example(
        _ connection: JSONValue, gateways order: [(gateway: String, key: String, label: String)], document: ReportDocument
    ) -> String {
        let verdict = connection["verdict"]
        let frames = connection["frames"].items.compactMap(\.int)
        var out = "\nExample \(self.text(connection["id"].string ?? "?")): \(self.code(connection["client"].string ?? "?")) → \(self.code(connection["server"].string ?? "?"))"
        if frames.count == 2 { out += ", frames \(frames[0])–\(frames[1])" }
        // A merged report's source, or the file of several that holds the connection.
        if let origin = document.origin(of: connection) { out += " (\(self.text(origin)))" }
        if let start = connection["start"].string { out += ", started \(self.text(start))" }
        out += "; class \(self.text(verdict["class"].string ?? "?")), phase \(self.text(verdict["phase"].string ?? "?")).\n\n"
        out += "Verdict: \(self.text(verdict["summary"].string ?? ""))\n"
        if let stderr = verdict["stderr"].string {
            out += "\nThe application wrote to stderr (FCGI_STDERR):\n\n" + self.fenced(stderr)
        }
        let gateways = order.filter { !verdict["gateways"][$0.gateway].isNull }
        if !gateways.isEmpty {
            out += "\n| gateway | status | says |\n|---|---|---|\n"
            for gateway in gateways {
                let outcome = verdict["gateways"][gateway.gateway]
                let detail = outcome[gateway.key].string ?? ""
                out += "| \(gateway.gateway) | \(outcome["status"].int.map(String.init) ?? "none") | \(detail.isEmpty ? "" : self.code(detail, inTable: true)) |\n"
            }
        }
        if let evidence = self.primaryEvidence(connection) {
            out += "\nEvidence: \(self.text(evidence["direction"].string ?? "?")) frame \(evidence["frame"].int.map(String.init) ?? "-")"
            if let offset = evidence["frame_offset"].int { out += " (byte \(offset) of the frame)" }
            if let file = document.fileName(of: evidence, in: connection) { out += " of \(self.text(file))" }
            if let stream = evidence["stream_id"].int { out += ", HTTP/2 stream \(stream)" }
            out += ", stream offset \(evidence["stream_offset"].int ?? 0): \(self.text(evidence["note"].string ?? ""))\n"
            let dump = Hexdump.lines(ReportDocument.hexdump(evidence), indent: "")
            if !dump.isEmpty {
                out += "\n" + self.fenced(dump.joined(separator: "\n"))
            }
        }
        if !connection["comparison"].isNull {
            out += HeadComparisonReport.markdown(connection["comparison"])
        }
        // HTTP/2: the streams, each a transaction of its own.
        let streams = connection["transactions"].items.filter { !$0["stream_id"].isNull }
        if !streams.isEmpty {
            out += "\n| stream | request | upstream sent | complete |\n|---:|---|---|---|\n"
            for stream in streams {
                let request = stream["request"]
                let response = stream["response"]
                let asked = request.isNull ? "none seen" : self.code((request["method"].string ?? "") + " " + (request["target"].string ?? ""), inTable: true)
                let status = response.isNull ? "no response" : (response["status"].text ?? "no status")
                out += "| \(stream["stream_id"].int ?? 0) | \(asked) | \(status) | \(response["complete"].bool == true ? "yes" : "no") |\n"
            }
        }
        if let filter = connection["display_filter"].string {
            out += "\nWireshark/tshark display filter: \(self.code(filter))\n"
        }
        if let slice = ReportDocument.slicePath(connection) {
            out += "\nSlice: [\(slice)](\(slice))\n"
        }
        return out
    }

    /// The errors the gateway's clients saw, when the capture holds the client hop too.
    private static func clientErrors(_ json: JSONValue) -> String {
        let hop = json["client_hop"]
        let items = json["client_errors"].items
        guard !hop.isNull || !items.isEmpty else { return "" }
        let unexplained = hop["unexplained"].int ?? items.filter { $0["upstream_connection"].isNull && $0["cause"].isNull }.count
        let explained = hop["explained"].int ?? (items.count - unexplained)
        let gateways = hop["gateways"].items.map { gateway in
            "\(self.code(gateway["listen"].text ?? "?")) (\(gateway["found_by"].text == "gateway_address" ? "given" : "inferred"))"
        }
        var out = "\n## Client-visible errors\n\n"
        out += "The capture also holds the client-to-gateway hop (\(gateways.count == 1 ? "gateway" : "gateways") \(gateways.joined(separator: ", "))): "
        out += "\(hop["connections"].int ?? 0) client connection(s), \(hop["requests"].int ?? 0) request(s). "
        out += "Clients saw \(hop["errors"].int ?? items.count) failure(s) (502, 503, 504, empty replies, resets, cut bodies): **\(explained) explained** by an upstream connection, **\(unexplained) unexplained**.\n"
        guard !items.isEmpty else { return out }
        out += "\n| time | client | client saw | request | made by | upstream connection | cause |\n|---|---|---|---|---|---|---|\n"
        for item in items.prefix(self.connectionsListed) {
            let disabledBy = item["disabled_by"].items.compactMap(\.text)
            var connection = item["upstream_connection"].string.map { self.text($0) }
                ?? item["dns_frame"].int.map { frame in
                    let shown = ReportDocument.frameText(frame, file: item["dns_file"], label: item["source"].string, in: json)
                    return "none: \(self.code(item["dns_name"].text ?? "?", inTable: true)) did not resolve (DNS frame \(self.text(shown)))"
                }
                ?? (disabledBy.isEmpty ? "**unexplained**" : "none tried; members down after " + disabledBy.map { self.text($0) }.joined(separator: ", "))
            let earlier = item["earlier_upstream_connections"].items.compactMap(\.text)
            if !earlier.isEmpty { connection += ", after " + earlier.map { self.text($0) }.joined(separator: ", ") }
            // A merged report: the source whose ids these are.
            if let source = item["source"].string { connection += " (\(self.text(source)))" }
            out += "| \(self.text(item["time"].text ?? "")) | \(self.code(item["client"].text ?? "", inTable: true)) | \(ClientErrorsReport.seen(item)) "
            out += "| \(self.code(item["request"].text ?? "", inTable: true)) | \(self.text(item["generated_by"].text ?? "")) | \(connection) "
            out += "| \(item["cause"].text.map { self.code($0, inTable: true) } ?? "") |\n"
        }
        let notListed = items.count - min(items.count, self.connectionsListed) + (hop["errors_not_listed"].int ?? 0)
        if notListed > 0 {
            out += "\n\(notListed) more are counted but not in this table (report.json lists up to its own limit).\n"
        }
        return out
    }

    private static func failingConnections(_ document: ReportDocument) -> String {
        guard !document.failures.isEmpty else { return "" }
        var out = "\n## Failing connections\n\nWorst first: gateway errors, cut responses, unknowns, relayed 5xx.\n\n"
        out += "| connection | gateway → upstream | class | cause | phase | start | frames |\n|---|---|---|---|---|---|---|\n"
        for connection in document.failures.prefix(self.connectionsListed) {
            let verdict = connection["verdict"]
            let frames = connection["frames"].items.compactMap(\.int)
            out += "| \(self.text(connection["id"].string ?? "?"))\(document.origin(of: connection).map { " (\(self.text($0)))" } ?? "") "
            out += "| \(self.code(connection["client"].string ?? "?", inTable: true)) → \(self.code(connection["server"].string ?? "?", inTable: true)) "
            out += "| \(self.text(verdict["class"].string ?? "?")) | \(self.code(verdict["code"].string ?? "?", inTable: true)) "
            out += "| \(self.text(verdict["phase"].string ?? "?")) | \(self.text(connection["start"].string ?? "")) "
            out += "| \(frames.count == 2 ? "\(frames[0])–\(frames[1])" : "") |\n"
        }
        let more = document.failures.count - min(document.failures.count, self.connectionsListed)
        let unlisted = max(0, document.failedCount - document.failures.count)
        if more + unlisted > 0 {
            out += "\n\(more + unlisted) more failing connection(s) are counted above but not in this table; report.json has every listed one.\n"
        }
        return out
    }

    // MARK: Shared with the HTML report's reading of the document

    /// The evidence of the root-cause finding (the first finding's first evidence).
    static func primaryEvidence(_ connection: JSONValue) -> JSONValue? {
        let evidence = connection["evidence"].items
        let index = connection["findings"].items.first?["evidence"].items.first?.int ?? 0
        return evidence.indices.contains(index) ? evidence[index] : evidence.first
    }

    /// `` `127.0.0.1:18091` ×3, `127.0.0.1:18092` ×1 ``: the upstreams that failed with `code`.
    private static func upstreamCounts(_ code: String, _ document: ReportDocument, inTable: Bool) -> String {
        document.json["upstreams"].items.compactMap { row -> String? in
            guard let count = row["causes"][code].int, count > 0 else { return nil }
            return "\(self.code(row["server"].string ?? "?", inTable: inTable)) ×\(count)"
        }.joined(separator: ", ")
    }

    static func percent(_ part: Int, of whole: Int) -> String {
        guard whole > 0 else { return "–" }
        return "\((part * 100 + whole / 2) / whole)%"
    }

    /// `12.345 ms`, `0.984 s`, `49 min 23.556 s`, `3 h 2 min 5 s`.
    static func duration(_ nanoseconds: Int64) -> String {
        var out: [UInt8] = []
        self.duration(nanoseconds, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `duration(_:)`'s text (ASCII digits, letters, spaces and dots), appended to `out`.
    static func duration(_ nanoseconds: Int64, into out: inout [UInt8]) {
        func number(_ value: Int64) { HTMLWriter.decimal(Int(value), into: &out) }
        if nanoseconds >= 3_600_000_000_000 {
            let seconds = (nanoseconds + 500_000_000) / 1_000_000_000
            number(seconds / 3600)
            out.append(contentsOf: " h ".utf8)
            number(seconds % 3600 / 60)
            out.append(contentsOf: " min ".utf8)
            number(seconds % 60)
            out.append(contentsOf: " s".utf8)
            return
        }
        if nanoseconds >= 60_000_000_000 {
            let milliseconds = (nanoseconds + 500_000) / 1_000_000
            number(milliseconds / 60_000)
            out.append(contentsOf: " min ".utf8)
            number(milliseconds % 60_000 / 1000)
            out.append(UInt8(ascii: "."))
            self.pad(milliseconds % 1000, 3, into: &out)
            out.append(contentsOf: " s".utf8)
            return
        }
        if nanoseconds >= 1_000_000_000 {
            let milliseconds = (nanoseconds + 500_000) / 1_000_000
            number(milliseconds / 1000)
            out.append(UInt8(ascii: "."))
            self.pad(milliseconds % 1000, 3, into: &out)
            out.append(contentsOf: " s".utf8)
            return
        }
        let microseconds = (nanoseconds + 500) / 1000
        number(microseconds / 1000)
        out.append(UInt8(ascii: "."))
        self.pad(microseconds % 1000, 3, into: &out)
        out.append(contentsOf: " ms".utf8)
    }

    /// `value` in decimal, zeros in front to make `width` characters.
    static func pad(_ value: Int64, _ width: Int, into out: inout [UInt8]) {
        let start = out.count
        HTMLWriter.decimal(Int(value), into: &out)
        let written = out.count - start
        if written < width { out.insert(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - written), at: start) }
    }

    // MARK: Escaping

    /// Prose or a table cell: controls shown as `\xNN`, inline Markdown punctuation
    /// backslash-escaped (nothing here starts a line, so block syntax such as `#` cannot apply).
    static func text(_ text: String) -> String {
        let characters = Array(Terminal.safe(text))
        var out = ""
        for (index, character) in characters.enumerated() {
            switch character {
            case "_":
                // GFM never reads an underscore between two alphanumerics as emphasis: `response_head` stays readable.
                let inWord = index > 0 && index + 1 < characters.count
                    && characters[index - 1].isLetterOrDigit && characters[index + 1].isLetterOrDigit
                if !inWord { out.append("\\") }
            case "\\", "`", "*", "[", "]", "<", ">", "|", "~", "&":
                out.append("\\")
            default:
                break
            }
            out.append(character)
        }
        return out
    }

    /// A code span that holds `text` literally: fenced by more backticks than any run inside,
    /// padded when it starts or ends with one; in a table, pipes are escaped (GFM §6.1 ex. 200).
    static func code(_ text: String, inTable: Bool = false) -> String {
        var body = Terminal.safe(text)
        if inTable { body = body.replacing("|", with: "\\|") }
        if body.isEmpty { return "` `" }
        let fence = String(repeating: "`", count: self.longestBacktickRun(body) + 1)
        let pad = body.first == "`" || body.last == "`" || (body.first == " " && body.last == " ")
        return fence + (pad ? " " : "") + body + (pad ? " " : "") + fence
    }

    /// A fenced code block whose fence is longer than any backtick run in `body`.
    static func fenced(_ body: String) -> String {
        let fence = String(repeating: "`", count: max(3, self.longestBacktickRun(body) + 1))
        return fence + "\n" + body + "\n" + fence + "\n"
    }

    private static func longestBacktickRun(_ text: String) -> Int {
        var longest = 0
        var run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        return longest
    }
}

extension Character {
    fileprivate var isLetterOrDigit: Bool { self.isASCII && (self.isLetter || self.isNumber) }
}
