import CaptureModel
import DNS
import Engine

/// The gateway's DNS traffic in each format: the names it resolved, their answers over time,
/// failures and changes. Every part is empty when the capture holds no DNS, so the reports call
/// them unconditionally.
public enum DNSReport {
    /// Answers listed per name in the text summary and the Markdown and HTML pages.
    public static let answersShown = 12
    /// Names listed in the text summary.
    public static let namesShown = 20

    /// `A`, `AAAA`, `CNAME`, … or `TYPE<n>`.
    public static func typeName(_ type: UInt16) -> String {
        switch type {
        case 1: return "A"
        case 5: return "CNAME"
        case 28: return "AAAA"
        case 33: return "SRV"
        case 64: return "SVCB"
        case 65: return "HTTPS"
        default: return "TYPE\(type)"
        }
    }

    // MARK: JSON

    /// The top-level `dns` member. With `origins` (several capture files), each frame is
    /// numbered in its file and a `file` (`query_file`, `files`) member beside it says which.
    public static func json(_ summary: DNSSummary, origins: FrameOrigins? = nil) -> JSONValue {
        let naming = FrameNaming(origins)
        return .object([
            ("messages", .number(summary.messages)),
            ("tcp_messages", .number(summary.tcpMessages)),
            ("malformed", .number(summary.malformed)),
            ("first_malformed_frame", summary.firstMalformedFrame.map { .number(naming.number($0)) } ?? .null),
            ("cut_by_snap_length", .number(summary.cutBySnapLength)),
            ("tcp_gaps", .number(summary.tcpGaps)),
            ("names_not_followed", .number(summary.namesNotFollowed)),
            ("names", .array(summary.names.map { self.name($0, naming) })),
            ("findings", .array(summary.findings.map { self.finding($0, naming) })),
        ])
    }

    static func addresses(_ list: [IPAddress]) -> JSONValue {
        .array(list.map { .string($0.text) })
    }

    /// `frame` numbered as `naming` numbers it, and its `file` after it with several files.
    static func frame(_ frame: FrameNumber, _ naming: FrameNaming, key: String = "frame", fileKey: String = "file") -> [(String, JSONValue)] {
        [(key, .number(naming.number(frame)))] + (naming.file(frame).map { [(fileKey, .number($0))] } ?? [])
    }

    static func name(_ history: DNSNameHistory, _ naming: FrameNaming = FrameNaming(nil)) -> JSONValue {
        let current = history.answers.last { $0.responseCode == .noError && !$0.addresses.isEmpty && $0.type != 28 }
            ?? history.answers.last { $0.responseCode == .noError && !$0.addresses.isEmpty }
        return .object([
            ("name", .string(history.name)),
            ("queries", .number(history.queries)),
            ("answers", .number(history.answers.count + history.answersNotKept)),
            ("nxdomain", .number(history.count(.nameError))),
            ("servfail", .number(history.count(.serverFailure))),
            ("refused", .number(history.count(.refused))),
            ("unanswered", .number(history.unanswered.count)),
            ("truncated", .number(history.answers.filter(\.isTruncated).count)),
            ("last_addresses", self.addresses(current?.addresses ?? [])),
            ("history", .array(history.answers.map { answer in
                .object([("time", .string(answer.time.rfc3339))] + self.frame(answer.frame, naming)
                    + (answer.queryFrame.map { self.frame($0, naming, key: "query_frame", fileKey: "query_file") } ?? [("query_frame", .null)]) + [
                    ("type", .string(self.typeName(answer.type))),
                    ("rcode", .string(answer.responseCode.description)),
                    ("addresses", self.addresses(answer.addresses)),
                    ("ttl", answer.ttl.map { .number(Int($0)) } ?? .null),
                    ("truncated", .bool(answer.isTruncated)),
                    ("transport", .string(answer.transport.rawValue)),
                    ("edns_payload_size", answer.ednsPayloadSize.map { .number(Int($0)) } ?? .null),
                ])
            })),
            ("history_not_kept", .number(history.answersNotKept)),
            ("unanswered_queries", .array(history.unanswered.map { query in
                .object([("time", .string(query.time.rfc3339))] + self.frame(query.frame, naming) + [
                    ("type", .string(self.typeName(query.type))),
                    ("transport", .string(query.transport.rawValue)),
                    ("server", .string(query.server.description)),
                ])
            })),
            ("changes", .array(history.changes.map { change in
                .object([("time", .string(change.time.rfc3339))] + self.frame(change.frame, naming) + [
                    ("type", .string(self.typeName(change.type))),
                    ("before", self.addresses(change.before)),
                    ("after", self.addresses(change.after)),
                    ("added", self.addresses(change.added)),
                    ("removed", self.addresses(change.removed)),
                ])
            })),
        ])
    }

    static func finding(_ finding: DNSFinding, _ naming: FrameNaming = FrameNaming(nil)) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("code", .string(finding.code.description)),
            ("name", .string(finding.name)),
        ]
        members += finding.frames.first.map { self.frame($0, naming) } ?? [("frame", .null)]
        members.append(("frames", .array(finding.frames.map { .number(naming.number($0)) })))
        if naming.origins != nil { members.append(("files", .array(finding.frames.map { .number(naming.file($0) ?? 0) }))) }
        members += [
            ("count", .number(finding.count)),
            ("first_time", .string(finding.firstTime.rfc3339)),
            ("last_time", .string(finding.lastTime.rfc3339)),
            ("summary", .string(finding.summary)),
        ]
        if let address = finding.address {
            members.append(("address", .string(address.text)))
            members.append(("connections", .number(finding.connections)))
            members.append(("failed_connections", .array(finding.failedConnections.map { .string("c\($0)") })))
        }
        return .object(members)
    }

    // MARK: Text

    /// The text summary's part, starting with an empty line.
    public static func text(_ result: AnalysisResult, source: SourceInfo? = nil) -> String {
        guard let dns = result.dns else { return "" }
        let source = source ?? SourceInfo(path: "", snapLength: 0)
        func frame(_ number: FrameNumber) -> String { TextSummary.frame(number, offset: nil, in: source) }
        var out = "\nDNS: \(dns.messages) message(s) (\(dns.tcpMessages) over TCP), \(dns.names.count) name(s)"
        if dns.malformed > 0 { out += ", \(dns.malformed) malformed (first in frame \(dns.firstMalformedFrame.map(frame) ?? "-"))" }
        out += "\n"
        for history in dns.names.prefix(self.namesShown) {
            out += "  \(Terminal.safe(history.name)): \(history.queries) quer\(history.queries == 1 ? "y" : "ies"), \(self.outcomes(history))\n"
            for answer in history.answers.prefix(self.answersShown) {
                out += "    \(answer.time.rfc3339) frame \(frame(answer.frame)) \(self.typeName(answer.type)) \(self.describe(answer))\n"
            }
            if history.answers.count > self.answersShown {
                out += "    … and \(history.answers.count - self.answersShown) more answer(s) (see report.json)\n"
            }
            for change in history.changes {
                out += "    changed at \(change.time.rfc3339) (frame \(frame(change.frame))): \(self.list(change.before)) → \(self.list(change.after))\n"
            }
        }
        if dns.names.count > self.namesShown {
            out += "  … and \(dns.names.count - self.namesShown) more name(s) (see report.json)\n"
        }
        for finding in dns.findings {
            out += "  \(finding.code): \(Terminal.safe(finding.summary))\n"
        }
        return out
    }

    /// `2 NXDOMAIN, 1 unanswered`, `1 answer`.
    static func outcomes(_ history: DNSNameHistory) -> String {
        var parts = ["\(history.answers.count + history.answersNotKept) answer(s)"]
        for (code, label) in [(DNSMessage.ResponseCode.nameError, "NXDOMAIN"), (.serverFailure, "SERVFAIL"), (.refused, "REFUSED")] {
            let count = history.count(code)
            if count > 0 { parts.append("\(count) \(label)") }
        }
        if !history.unanswered.isEmpty { parts.append("\(history.unanswered.count) unanswered") }
        if !history.changes.isEmpty { parts.append("\(history.changes.count) change(s)") }
        return parts.joined(separator: ", ")
    }

    static func describe(_ answer: DNSAnswer) -> String {
        var out = answer.responseCode.description
        if !answer.addresses.isEmpty { out += " " + self.list(answer.addresses) }
        if let ttl = answer.ttl { out += " ttl \(ttl)" }
        if answer.isTruncated { out += " truncated (TC)" }
        if answer.transport == .tcp { out += " over TCP" }
        return out
    }

    static func list(_ addresses: [IPAddress]) -> String {
        addresses.isEmpty ? "(none)" : addresses.map(\.text).joined(separator: ", ")
    }

    // MARK: Markdown and HTML, from report.json

    /// One row per answer of the JSON `dns` section: time, name, type, rcode, addresses, TTL, frame.
    static func rows(_ json: JSONValue) -> [[String]] {
        let dns = json["dns"]
        func frame(_ item: JSONValue, _ key: String, _ fileKey: String) -> String {
            item[key].int.map { ReportDocument.frameText($0, file: item[fileKey], in: json) } ?? ""
        }
        var rows: [(time: String, row: [String])] = []
        for name in dns["names"].items {
            let label = name["name"].text ?? ""
            for answer in name["history"].items.prefix(self.answersShown) {
                var rcode = answer["rcode"].text ?? ""
                if answer["truncated"].bool == true { rcode += " (TC)" }
                if answer["transport"].text == "tcp" { rcode += " over TCP" }
                rows.append((answer["time"].text ?? "", [
                    answer["time"].text ?? "", label, answer["type"].text ?? "", rcode,
                    answer["addresses"].items.compactMap(\.text).joined(separator: ", "),
                    answer["ttl"].int.map(String.init) ?? "", frame(answer, "frame", "file"),
                ]))
            }
            for query in name["unanswered_queries"].items.prefix(self.answersShown) {
                rows.append((query["time"].text ?? "", [
                    query["time"].text ?? "", label, query["type"].text ?? "", "no answer", "", "", frame(query, "frame", "file"),
                ]))
            }
        }
        return rows.sorted { $0.time < $1.time }.map(\.row)
    }

    /// The Markdown page's section.
    static func markdown(_ json: JSONValue) -> String {
        let dns = json["dns"]
        guard !dns.isNull else { return "" }
        var out = "\n## DNS\n\n"
        out += "The capture holds the gateway's DNS traffic: \(dns["messages"].int ?? 0) message(s), \(dns["tcp_messages"].int ?? 0) over TCP, \(dns["names"].items.count) name(s).\n"
        let findings = dns["findings"].items
        if !findings.isEmpty {
            out += "\n"
            for finding in findings {
                out += "- \(MarkdownReport.code(finding["code"].text ?? "")): \(MarkdownReport.text(finding["summary"].text ?? ""))\n"
            }
        }
        out += "\n| name | queries | answers | NXDOMAIN | SERVFAIL | REFUSED | unanswered | changes | last addresses |\n|---|---|---|---|---|---|---|---|---|\n"
        for name in dns["names"].items {
            out += "| \(MarkdownReport.code(name["name"].text ?? "", inTable: true)) | \(name["queries"].int ?? 0) | \(name["answers"].int ?? 0) "
            out += "| \(name["nxdomain"].int ?? 0) | \(name["servfail"].int ?? 0) | \(name["refused"].int ?? 0) | \(name["unanswered"].int ?? 0) "
            out += "| \(name["changes"].items.count) | \(MarkdownReport.text(name["last_addresses"].items.compactMap(\.text).joined(separator: ", "))) |\n"
        }
        let rows = self.rows(json)
        if !rows.isEmpty {
            out += "\nAnswers over time:\n\n| time | name | type | answer | addresses | TTL | frame |\n|---|---|---|---|---|---|---|\n"
            for row in rows {
                out += "| " + row.enumerated().map { $0.offset == 1 ? MarkdownReport.code($0.element, inTable: true) : MarkdownReport.text($0.element) }
                    .joined(separator: " | ") + " |\n"
            }
        }
        return out
    }

    /// The HTML page's section.
    static func html(_ json: JSONValue, _ html: inout HTMLWriter) {
        let dns = json["dns"]
        guard !dns.isNull else { return }
        html.element("section", [("id", "dns")]) { html in
            html.element("h2", text: "DNS")
            html.element("p", text: "The gateway's DNS traffic: \(dns["messages"].int ?? 0) message(s), \(dns["tcp_messages"].int ?? 0) over TCP, \(dns["names"].items.count) name(s).")
            let findings = dns["findings"].items
            if !findings.isEmpty {
                html.element("ul") { html in
                    for finding in findings {
                        html.element("li") { html in
                            html.element("code", text: HTMLReport.clip(finding["code"].text ?? ""))
                            html.text(": " + HTMLReport.clip(finding["summary"].text ?? ""))
                        }
                    }
                }
            }
            html.element("table") { html in
                html.element("tr") { html in
                    for header in ["time", "name", "type", "answer", "addresses", "TTL", "frame"] { html.element("th", text: header) }
                }
                for row in self.rows(json).prefix(HTMLReport.connectionsDetailed) {
                    html.element("tr", [("class", row[3].hasPrefix("NOERROR") ? nil : "unexplained")]) { html in
                        for (index, cell) in row.enumerated() {
                            if index == 1 {
                                html.element("td") { $0.element("code", text: HTMLReport.clip(cell)) }
                            } else {
                                html.element("td", text: HTMLReport.clip(cell))
                            }
                        }
                    }
                }
            }
        }
    }
}
