/// A connection's `comparison` (its failing response head beside the nearest healthy one) as
/// the text summary, report.md and report.html show it, read from the JSON alone so that
/// `edgescope report` renders it the same.
public enum HeadComparisonReport {
    /// Why the healthy response was the one chosen, in words.
    static func matched(_ comparison: JSONValue) -> String {
        switch comparison["matched_by"].string {
        case "same_target": return "the same upstream and request"
        case "same_upstream": return "the same upstream"
        case "pool_member": return "another member of the pool: this upstream sent no healthy response that was kept"
        default: return "?"
        }
    }

    /// `c1, transaction 1 (127.0.0.2:18090, GET /x → 200; the same upstream)`.
    static func healthyName(_ comparison: JSONValue) -> String {
        let healthy = comparison["healthy"]
        var out = healthy["connection"].string ?? "?"
        if let transaction = healthy["transaction"].int { out += ", transaction \(transaction)" }
        var parts = [healthy["server"].string ?? "?"]
        if let request = healthy["request"].string {
            parts.append(request + (healthy["status"].int.map { " → \($0)" } ?? ""))
        }
        return out + " (" + parts.joined(separator: ", ") + "; " + self.matched(comparison) + ")"
    }

    /// `the head of transaction 4`, or `the failing head` when its transaction is not known.
    static func failingName(_ comparison: JSONValue) -> String {
        comparison["transaction"].int.map { "the head of transaction \($0)" } ?? "the failing head"
    }

    /// One line per difference (and the offending byte's place), as `quote` quotes a line.
    static func differences(_ comparison: JSONValue, quote: (String) -> String) -> [String] {
        let offending = comparison["offending"]
        var out: [String] = []
        var offendingShown = offending.isNull
        for difference in comparison["differences"].items {
            let line = difference["line"].int
            let healthyLine = difference["healthy_line"].int
            var text: String
            switch difference["kind"].string {
            case "only_failing":
                text = "line \(line ?? 0): only the failing head has \(quote(difference["failing"].string ?? ""))"
            case "only_healthy":
                text = "healthy line \(healthyLine ?? 0): only the healthy head has \(quote(difference["healthy"].string ?? ""))"
            default:
                text = "line \(line ?? 0): failing \(quote(difference["failing"].string ?? "")), healthy \(quote(difference["healthy"].string ?? ""))"
                if let healthyLine, healthyLine != line { text += " (its line \(healthyLine))" }
            }
            if let line, line == offending["line"].int {
                text += "; the offending byte is byte \(offending["column"].int ?? 0) (0x\(offending["hex"].string ?? "??"))"
                offendingShown = true
            }
            out.append(text)
        }
        if !offendingShown {
            out.append("the offending byte is line \(offending["line"].int ?? 0), byte \(offending["column"].int ?? 0) (0x\(offending["hex"].string ?? "??")), the same in both heads")
        }
        if out.isEmpty { out.append("the two heads are the same, line for line") }
        return out
    }

    /// What the pool's members send: `members .2, .4 and .5 send X; .3 sends Y since 17:05:48`,
    /// or nil when the comparison names no pool.
    static func members(_ comparison: JSONValue, quote: (String) -> String) -> String? {
        let members = comparison["members"].items
        guard members.count >= 2 else { return nil }
        let servers = members.map { $0["server"].string ?? "?" }
        let short = self.shortNames(servers)
        var groups: [(sends: String, failing: Bool, since: String?, names: [String])] = []
        for (member, name) in zip(members, short) {
            let sends = member["sends"].string ?? ""
            let failing = member["failing"].bool == true
            if let index = groups.firstIndex(where: { $0.sends == sends && $0.failing == failing }) {
                groups[index].names.append(name)
                if let since = member["since"].string, since < (groups[index].since ?? "~") { groups[index].since = since }
            } else {
                groups.append((sends, failing, member["since"].string, [name]))
            }
        }
        // Healthy members whose lines differ in their values only (`Content-Length: 2410`,
        // `Content-Length: 637`...) say nothing one by one: one group, the value elided.
        let healthy = groups.filter { !$0.failing }
        if healthy.count > 2, let field = Self.fieldName(healthy[0].sends), healthy.allSatisfy({ Self.fieldName($0.sends) == field }) {
            let names = zip(members, short).filter { $0.0["failing"].bool != true }.map(\.1)
            groups = [(field + ": …", false, nil, names)] + groups.filter(\.failing)
        }
        // The healthy members first, as the issue's reader expects the exception last.
        groups.sort { !$0.failing && $1.failing }
        let parts = groups.map { group -> String in
            let names: String
            switch group.names.count {
            case 1: names = group.names[0]
            case 2...Self.membersNamed: names = group.names.dropLast().joined(separator: ", ") + " and " + group.names.last!
            default: names = group.names.prefix(3).joined(separator: ", ") + " and \(group.names.count - 3) more"
            }
            var text = "\(names) \(group.names.count == 1 ? "sends" : "send") \(quote(group.sends))"
            if group.failing, let since = group.since { text += " since \(self.clock(since))" }
            return text
        }
        return "members " + parts.joined(separator: "; ")
    }

    /// Members of one group named one by one; past this, the first three and a count.
    static let membersNamed = 5

    /// The field name of a shown line, the text before its colon; nil without one.
    static func fieldName(_ line: String) -> Substring? {
        line.firstIndex(of: ":").map { line[..<$0] }
    }

    /// `.2` for `127.0.0.2:18090` when every member shares the port and the first three
    /// octets; the endpoint otherwise.
    static func shortNames(_ servers: [String]) -> [String] {
        let split = servers.map { server -> (prefix: Substring, last: Substring, port: Substring)? in
            let parts = server.split(separator: ":")
            guard parts.count == 2 else { return nil }
            let octets = parts[0].split(separator: ".")
            guard octets.count == 4 else { return nil }
            return (parts[0].dropLast(octets[3].count), octets[3], parts[1])
        }
        guard let first = split.first, let first, split.allSatisfy({ $0?.prefix == first.prefix && $0?.port == first.port }) else {
            return servers
        }
        return split.map { "." + ($0!.last) }
    }

    /// `17:05:48` from an RFC 3339 time (UTC).
    static func clock(_ time: String) -> String {
        let characters = Array(time)
        guard characters.count >= 19 else { return time }
        return String(characters[11..<19]) + " UTC"
    }

    /// The summary's lines for one connection, indented by `indent`.
    public static func text(_ comparison: JSONValue, indent: String) -> [String] {
        var out = ["\(indent)\(self.failingName(comparison)) beside the nearest healthy response, \(self.healthyName(comparison)):"]
        for line in self.differences(comparison, quote: { "`\($0)`" }) { out.append(indent + "  " + line) }
        if let members = self.members(comparison, quote: { "`\($0)`" }) { out.append(indent + members) }
        return out
    }

    /// The failing line's text split around its offending byte: (before, the byte as shown, after).
    static func split(_ line: String, column: Int) -> (String, String, String)? {
        // Each byte is one character, or four (`\xNN`): the shown text is ASCII.
        var tokens: [String] = []
        var characters = Array(line)[...]
        while let first = characters.first {
            if first == "\\", characters.count >= 4 {
                tokens.append(String(characters.prefix(4)))
                characters = characters.dropFirst(4)
            } else {
                tokens.append(String(first))
                characters = characters.dropFirst()
            }
        }
        guard column >= 1, column <= tokens.count else { return nil }
        return (tokens[..<(column - 1)].joined(), tokens[column - 1], tokens[column...].joined())
    }

    /// The side-by-side view as Markdown: a sentence, both heads in a fenced block (`≠` marks a
    /// line that differs, `^` the offending byte), the differences as a list, the pool.
    static func markdown(_ comparison: JSONValue) -> String {
        let failing = comparison["failing_head"].items.compactMap(\.string)
        let healthy = comparison["healthy_head"].items.compactMap(\.string)
        let offending = comparison["offending"]
        var out = "\n" + MarkdownReport.text(self.failingName(comparison).prefix(1).uppercased() + self.failingName(comparison).dropFirst())
            + " beside the nearest healthy response, \(MarkdownReport.text(self.healthyName(comparison))):\n\n"
        func title(_ side: JSONValue) -> String {
            (side["connection"].string ?? "?") + (side["transaction"].int.map { ", transaction \($0)" } ?? "")
        }
        let failingTitle = "failing (\(title(comparison)))"
        let width = max(failingTitle.count, min(60, failing.map(\.count).max() ?? 0))
        func padded(_ text: String) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        var block = "     " + padded(failingTitle) + " | healthy (\(title(comparison["healthy"])))\n"
        for row in comparison["rows"].items {
            let pair = row.items
            let f = pair.first?.int
            let h = pair.count > 1 ? pair[1].int : nil
            let left = f.flatMap { failing.indices.contains($0 - 1) ? failing[$0 - 1] : nil } ?? ""
            let right = h.flatMap { healthy.indices.contains($0 - 1) ? healthy[$0 - 1] : nil } ?? ""
            let differs = f == nil || h == nil || left != right
            let number = f.map { String($0) } ?? ""
            let line = (differs ? "≠ " : "  ") + String(repeating: " ", count: max(0, 2 - number.count)) + number + " "
                + padded(left) + " | " + right
            block += (right.isEmpty ? String(line.dropLast()) : line) + "\n"
            if let f, f == offending["line"].int, let column = offending["column"].int, let (before, _, _) = self.split(left, column: column) {
                block += "     " + String(repeating: " ", count: before.count) + "^ byte \(column) (0x\(offending["hex"].string ?? "??"))\n"
            }
        }
        out += MarkdownReport.fenced(block.hasSuffix("\n") ? String(block.dropLast()) : block)
        out += "\n"
        for line in self.differences(comparison, quote: { MarkdownReport.code($0) }) {
            out += "- " + line + "\n"
        }
        if let members = self.members(comparison, quote: { MarkdownReport.code($0) }) {
            out += "\nPool: " + members + ".\n"
        }
        return out
    }

    /// The side-by-side view as HTML: a table of two columns, the lines that differ marked,
    /// the offending byte in `<mark>`, the pool's members after it.
    static func html(_ comparison: JSONValue, _ html: inout HTMLWriter) {
        let failing = comparison["failing_head"].items.compactMap(\.string)
        let healthy = comparison["healthy_head"].items.compactMap(\.string)
        let offending = comparison["offending"]
        html.element("section", [("class", "comparison")]) { html in
            html.element("h4", text: "Beside a healthy response")
            let title = self.failingName(comparison)
            html.element("p", text: title.prefix(1).uppercased() + title.dropFirst() + " beside the nearest healthy response, "
                + HTMLReport.clip(self.healthyName(comparison)) + ".")
            html.element("table", [("class", "cmp")]) { html in
                html.element("thead") { html in
                    html.element("tr") { html in
                        html.element("th", text: "")
                        html.element("th", text: "line")
                        html.element("th", text: "failing " + (comparison["connection"].string ?? "?"))
                        html.element("th", text: "healthy " + (comparison["healthy"]["connection"].string ?? "?"))
                    }
                }
                html.element("tbody") { html in
                    for row in comparison["rows"].items {
                        let pair = row.items
                        let f = pair.first?.int
                        let h = pair.count > 1 ? pair[1].int : nil
                        let left = f.flatMap { failing.indices.contains($0 - 1) ? failing[$0 - 1] : nil }
                        let right = h.flatMap { healthy.indices.contains($0 - 1) ? healthy[$0 - 1] : nil }
                        let differs = left == nil || right == nil || left != right
                        html.element("tr") { html in
                            html.element("td", differs ? [("class", "differs")] : [], text: differs ? "≠" : "")
                            html.element("td", text: f.map(String.init) ?? "")
                            html.element("td") { html in
                                guard let left else { return }
                                html.element("code") { html in
                                    if f == offending["line"].int, let column = offending["column"].int,
                                       let (before, byte, after) = self.split(left, column: column) {
                                        html.text(before)
                                        html.element("mark", [("title", "the offending byte: byte \(column), stream offset \(offending["stream_offset"].int ?? 0)")], text: byte)
                                        html.text(after)
                                    } else {
                                        html.text(left)
                                    }
                                }
                            }
                            html.element("td") { html in
                                if let right { html.element("code", text: right) }
                            }
                        }
                    }
                }
            }
            if let members = self.members(comparison, quote: { "“\($0)”" }) {
                html.element("p", [("class", "pool")], text: "Pool: " + HTMLReport.clip(members) + ".")
            }
        }
    }
}
