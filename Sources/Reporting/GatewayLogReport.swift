import CaptureModel
import Engine
import GatewayLog

/// The gateway's own log lines (`--gateway-log`) in each format: under each connection and
/// client error they joined, and a section with each file and the lines that joined nothing.
/// Every part is empty when no log was given.
public enum GatewayLogReport {
    /// Lines shown under a connection in the text summary.
    static let linesShown = 5

    // MARK: JSON

    /// One joined line: `file`, `line`, `time`, `kind`, `matched_by`, `disagreement`, `fields`, `text`.
    static func note<Output: JSONOutput>(_ note: GatewayLogNote, into out: inout Output) {
        out.beginObject()
        self.recordMembers(note.record, into: &out)
        out.array("matched_by") { out in
            for key in note.matchedBy { out.string(key) }
        }
        out.member("disagreement", note.disagreement)
        self.recordFields(note.record, into: &out)
        out.endObject()
    }

    private static func recordMembers<Output: JSONOutput>(_ record: GatewayLogRecord, into out: inout Output) {
        out.member("file", record.file)
        out.member("line", number: record.line)
        out.key("time")
        if let time = record.time { out.time(time) } else { out.null() }
        out.member("kind", record.kind.rawValue)
    }

    private static func recordFields<Output: JSONOutput>(_ record: GatewayLogRecord, into out: inout Output) {
        out.object("fields") { out in
            var seen = Set<String>()
            for (name, value) in record.fields where seen.insert(name).inserted {
                out.key(text: name)
                out.string(value)
            }
        }
        out.member("text", record.text)
    }

    /// `gateway_log` on a connection or a client error (only when logs were given).
    static func members<Output: JSONOutput>(_ notes: [GatewayLogNote]?, notListed: Int = 0, into out: inout Output) {
        guard let notes else { return }
        out.array("gateway_log") { out in
            for item in notes { self.note(item, into: &out) }
        }
        if notListed > 0 { out.member("gateway_log_not_listed", number: notListed) }
    }

    /// The same as a tree.
    static func value(_ notes: [GatewayLogNote]) -> JSONValue {
        var tree = JSONTreeBuilder()
        tree.beginArray()
        for item in notes { self.note(item, into: &tree) }
        tree.endArray()
        return tree.value
    }

    /// The document's `gateway_log` section.
    static func summary(_ summary: GatewayLogSummary) -> JSONValue {
        var tree = JSONTreeBuilder()
        tree.beginObject()
        tree.array("files") { out in
            for file in summary.files {
                out.object { out in
                    out.member("path", file.path)
                    out.member("kind", file.kind?.rawValue)
                    out.member("format", file.format)
                    out.member("records", number: file.records)
                    out.member("unread", number: file.unread)
                }
            }
        }
        tree.member("zone", summary.zone)
        tree.member("matched", number: summary.matched)
        tree.member("unmatched_count", number: summary.unmatchedCount)
        tree.array("unmatched") { out in
            for record in summary.unmatched {
                out.object { out in
                    self.recordMembers(record, into: &out)
                    self.recordFields(record, into: &out)
                }
            }
        }
        tree.member("unread_count", number: summary.unreadCount)
        tree.array("unread") { out in
            for line in summary.unread {
                out.object { out in
                    out.member("file", line.file)
                    out.member("line", number: line.line)
                    out.member("reason", line.reason)
                    out.member("text", line.text)
                }
            }
        }
        tree.endObject()
        return tree.value
    }

    // MARK: Text

    /// Lines under a connection or client error in the text summary, each starting with `indent`.
    public static func text(_ notes: [GatewayLogNote]?, indent: String = "    ") -> String {
        guard let notes, !notes.isEmpty else { return "" }
        var out = ""
        for note in notes.prefix(self.linesShown) {
            out += "\(indent)\(self.place(note.record)): \(Terminal.safe(String(String(note.record.text.split(separator: "\n").first ?? "").prefix(240))))\n"
            if let disagreement = note.disagreement {
                out += "\(indent)  disagreement: \(Terminal.safe(disagreement))\n"
            }
        }
        if notes.count > self.linesShown {
            out += "\(indent)… and \(notes.count - self.linesShown) more gateway log line(s)\n"
        }
        return out
    }

    /// `error.log:3`.
    static func place(_ record: GatewayLogRecord) -> String {
        "\(Terminal.safe(record.file)):\(record.line)"
    }

    /// The text summary's section, starting with an empty line.
    public static func text(_ summary: GatewayLogSummary?) -> String {
        guard let summary else { return "" }
        var out = "\nGateway logs (local times in \(summary.zone)):\n"
        for file in summary.files {
            out += "  \(Terminal.safe(file.path)): \(file.kind?.phrase ?? "no line in a known layout")"
            if let format = file.format { out += " (\(Terminal.safe(format)))" }
            out += ", \(file.records) record(s)"
            if file.unread > 0 { out += ", \(file.unread) line(s) not read" }
            out += "\n"
        }
        out += "  \(summary.matched) joined to a connection or client error, \(summary.unmatchedCount) joined nothing\n"
        for record in summary.unmatched.prefix(self.linesShown * 2) {
            out += "    \(self.place(record)): \(Terminal.safe(String(String(record.text.split(separator: "\n").first ?? "").prefix(240))))\n"
        }
        if summary.unmatchedCount > self.linesShown * 2 {
            out += "    … and \(summary.unmatchedCount - self.linesShown * 2) more (see report.json's gateway_log)\n"
        }
        for line in summary.unread.prefix(self.linesShown) {
            out += "  not read: \(Terminal.safe(line.file)):\(line.line) (\(line.reason)): \(Terminal.safe(String(line.text.prefix(200))))\n"
        }
        if summary.unreadCount > self.linesShown {
            out += "  … and \(summary.unreadCount - self.linesShown) more line(s) not read\n"
        }
        return out
    }
}

// MARK: - Markdown and HTML, from the JSON document

extension GatewayLogReport {
    /// A line of a `gateway_log` entry in short: `error.log:3 (nginx_error)`.
    static func place(_ item: JSONValue) -> String {
        "\(item["file"].text ?? "?"):\(item["line"].int ?? 0)"
    }

    /// The first line of an entry's text.
    static func firstLine(_ item: JSONValue) -> String {
        String((item["text"].text ?? "").split(separator: "\n").first ?? "")
    }

    /// The Markdown section: the lines joined to each failing connection and client error,
    /// disagreements first in words; the files; the lines that joined nothing.
    static func markdown(_ document: ReportDocument) -> String {
        let section = document.json["gateway_log"]
        guard !section.isNull else { return "" }
        var out = "\n## The gateway's own log\n\n"
        let files = section["files"].items.map { file in
            "\(MarkdownReport.code(file["path"].text ?? "?")) (\(MarkdownReport.text(file["kind"].text ?? "no known layout")), \(file["records"].int ?? 0) record(s)\((file["unread"].int ?? 0) > 0 ? ", \(file["unread"].int ?? 0) line(s) not read" : ""))"
        }
        out += "Files: \(files.joined(separator: ", ")); local times read in \(MarkdownReport.text(section["zone"].text ?? "?")). "
        out += "\(section["matched"].int ?? 0) record(s) joined a connection or client error, \(section["unmatched_count"].int ?? 0) joined nothing.\n"
        var rows: [(String, JSONValue)] = []
        for connection in document.failures {
            for item in connection["gateway_log"].items { rows.append((connection["id"].text ?? "?", item)) }
        }
        for error in document.json["client_errors"].items {
            for item in error["gateway_log"].items { rows.append(("client \(error["client"].text ?? "?")", item)) }
        }
        let disagreements = rows.filter { !$0.1["disagreement"].isNull }
        if !disagreements.isEmpty {
            out += "\nWhere the gateway's words and the bytes disagree:\n\n"
            for (owner, item) in disagreements {
                out += "- \(MarkdownReport.text(owner)), \(MarkdownReport.code(self.place(item))): \(MarkdownReport.text(item["disagreement"].text ?? ""))\n"
            }
        }
        if !rows.isEmpty {
            out += "\n| about | line | time | joined by | says |\n|---|---|---|---|---|\n"
            for (owner, item) in rows.prefix(MarkdownReport.connectionsListed) {
                let joined = item["matched_by"].items.compactMap(\.text).joined(separator: ", ")
                out += "| \(MarkdownReport.text(owner)) | \(MarkdownReport.code(self.place(item), inTable: true)) | \(MarkdownReport.text(item["time"].text ?? "-")) "
                out += "| \(MarkdownReport.text(joined)) | \(MarkdownReport.code(String(self.firstLine(item).prefix(300)), inTable: true)) |\n"
            }
            if rows.count > MarkdownReport.connectionsListed {
                out += "\n\(rows.count - MarkdownReport.connectionsListed) more line(s) are in report.json.\n"
            }
        }
        let unmatched = section["unmatched"].items
        if !unmatched.isEmpty {
            out += "\n### Lines that joined nothing\n\n| line | time | text |\n|---|---|---|\n"
            for item in unmatched.prefix(MarkdownReport.connectionsListed) {
                out += "| \(MarkdownReport.code(self.place(item), inTable: true)) | \(MarkdownReport.text(item["time"].text ?? "-")) "
                out += "| \(MarkdownReport.code(String(self.firstLine(item).prefix(300)), inTable: true)) |\n"
            }
            let more = (section["unmatched_count"].int ?? unmatched.count) - min(unmatched.count, MarkdownReport.connectionsListed)
            if more > 0 { out += "\n\(more) more are counted (report.json lists the first \(unmatched.count)).\n" }
        }
        let unread = section["unread"].items
        if !unread.isEmpty {
            out += "\n### Lines not read\n\n"
            for item in unread.prefix(MarkdownReport.connectionsListed) {
                out += "- \(MarkdownReport.code(self.place(item))) (\(MarkdownReport.text(item["reason"].text ?? ""))): \(MarkdownReport.code(String((item["text"].text ?? "").prefix(200))))\n"
            }
        }
        return out
    }

    /// The lines joined to one connection, inside its HTML card.
    static func html(connection: JSONValue, _ html: inout HTMLWriter) {
        let items = connection["gateway_log"].items
        guard !items.isEmpty else { return }
        html.element("div", [("class", "gwlog")]) { html in
            html.element("p", [("class", "muted")], text: "The gateway's own log:")
            self.htmlLines(items, &html)
        }
    }

    private static func htmlLines(_ items: [JSONValue], _ html: inout HTMLWriter) {
        html.element("ul") { html in
            for item in items {
                html.element("li") { html in
                    html.element("code", text: HTMLReport.clip(self.place(item)))
                    html.text(" ")
                    html.element("code", text: HTMLReport.clip(self.firstLine(item)))
                    html.text(" (joined by " + item["matched_by"].items.compactMap(\.text).joined(separator: ", ") + ")")
                    if let disagreement = item["disagreement"].text {
                        html.element("p", [("class", "warning")], text: "Disagreement: " + HTMLReport.clip(disagreement))
                    }
                }
            }
        }
    }

    /// The HTML section: files, the lines joined to client errors, the lines that joined nothing.
    static func html(_ document: ReportDocument, _ html: inout HTMLWriter) {
        let section = document.json["gateway_log"]
        guard !section.isNull else { return }
        html.element("section", [("id", "gateway-log")]) { html in
            html.element("h2", text: "The gateway's own log")
            html.element("ul") { html in
                for file in section["files"].items {
                    html.element("li") { html in
                        html.element("code", text: HTMLReport.clip(file["path"].text ?? "?"))
                        var about = " \(file["kind"].text ?? "no known layout"), \(file["records"].int ?? 0) record(s)"
                        if let format = file["format"].text { about += " (\(format))" }
                        if (file["unread"].int ?? 0) > 0 { about += ", \(file["unread"].int ?? 0) line(s) not read" }
                        html.text(HTMLReport.clip(about))
                    }
                }
            }
            html.element("p", text: "Local times read in \(section["zone"].text ?? "?"). \(section["matched"].int ?? 0) record(s) joined a connection or client error (shown with each connection below), \(section["unmatched_count"].int ?? 0) joined nothing.")
            let errors = document.json["client_errors"].items.filter { !$0["gateway_log"].items.isEmpty }
            if !errors.isEmpty {
                html.element("h3", text: "Beside the client errors")
                for error in errors.prefix(HTMLReport.connectionsDetailed) {
                    html.element("p") { html in
                        html.text("client ")
                        html.element("code", text: HTMLReport.clip(error["client"].text ?? "?"))
                        html.text(" " + HTMLReport.clip(ClientErrorsReport.seen(error)) + " ")
                        html.element("code", text: HTMLReport.clip(error["request"].text ?? ""))
                    }
                    self.htmlLines(error["gateway_log"].items, &html)
                }
            }
            let unmatched = section["unmatched"].items
            if !unmatched.isEmpty {
                html.element("h3", text: "Lines that joined nothing")
                html.element("ul") { html in
                    for item in unmatched {
                        html.element("li") { html in
                            html.element("code", text: HTMLReport.clip(self.place(item)))
                            html.text(" ")
                            html.element("code", text: HTMLReport.clip(self.firstLine(item)))
                        }
                    }
                }
                let more = (section["unmatched_count"].int ?? 0) - unmatched.count
                if more > 0 { html.element("p", [("class", "muted")], text: "\(more) more are counted in report.json.") }
            }
            let unread = section["unread"].items
            if !unread.isEmpty {
                html.element("h3", text: "Lines not read")
                html.element("ul") { html in
                    for item in unread {
                        html.element("li") { html in
                            html.element("code", text: HTMLReport.clip(self.place(item)))
                            html.text(" " + HTMLReport.clip(item["reason"].text ?? "") + ": ")
                            html.element("code", text: HTMLReport.clip(item["text"].text ?? ""))
                        }
                    }
                }
            }
        }
    }
}
