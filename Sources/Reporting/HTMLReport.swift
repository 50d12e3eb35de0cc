import CaptureModel

/// The self-contained HTML report: one file with its style, script and diagrams inline, no
/// request of any kind (its Content-Security-Policy forbids them), readable with script off.
/// Rendered from the `edgescope.report/1` document alone, so `edgescope report
/// DIR/report.json --format html` gives the same bytes as the run that wrote it.
///
/// Size is bounded whatever the document holds: healthy connections are counted, not listed;
/// every list and text is capped; failing connections get a section each, worst first, up to
/// `connectionsDetailed` and while the page stays under `sizeLimit` (5 MB); the rest are counted.
public enum HTMLReport {
    /// Failing connections with a section of their own; the rest are counted, with a pointer to report.json.
    public static let connectionsDetailed = 500
    /// The documented bound on the page's size (bytes), whatever the capture (README, "Using it").
    public static let sizeLimit = 5_000_000
    /// Upstream table rows (the ones with most failures when there are more).
    static let upstreamRows = 100
    /// Upstream rows in the timeline.
    static let timelineRows = Timeline.rowsShown
    /// Timeline buckets across the capture window.
    static let timelineBins = Timeline.bins
    /// Transactions, findings and evidence entries shown per connection.
    public static let transactionsShown = 12
    static let findingsShown = 6
    static let evidencePerFinding = 3
    static let hexdumpRows = 8
    static let hexdumpsShown = 3
    static let chainShown = 5
    /// Characters of any one text shown before it is cut with `…`.
    static let textLimit = 240
    /// Room kept for the largest one section (every text at `textLimit`, escaped) and the
    /// page's end, so stopping before the budget runs out keeps the page under `sizeLimit`.
    static let sectionReserve = 250_000

    /// The page.
    public static func render(_ document: ReportDocument) -> String {
        var html = HTMLWriter()
        let path = document.json["source"]["path"].string ?? "capture"
        html.trusted("<!DOCTYPE html>\n")
        html.element("html", [("lang", "en")]) { html in
            html.element("head") { html in
                html.void("meta", [("charset", "utf-8")])
                html.void("meta", [("http-equiv", "Content-Security-Policy"), ("content", Self.contentSecurityPolicy)])
                html.void("meta", [("name", "viewport"), ("content", "width=device-width, initial-scale=1")])
                html.void("meta", [("name", "referrer"), ("content", "no-referrer")])
                html.element("title", text: "edgescope: " + Self.clip(path))
                html.element("style") { $0.trusted(Self.styleSheet) }
            }
            html.newline()
            html.element("body") { html in
                Self.markerDefinitions(&html)
                html.element("header") { html in
                    html.element("h1", text: "Why the gateway answered 502: edgescope report")
                    html.element("p", [("class", "muted")]) { html in
                        html.element("code", text: Self.clip(path))
                        html.text(" · " + (document.json["source"]["link_type"].string ?? "?"))
                        html.text(" · \(document.json["source"]["packets"].int ?? 0) frames, \(document.json["source"]["bytes"].int ?? 0) bytes")
                        if let profile = document.json["generator"]["gateway_profile"].string {
                            html.text(" · gateway profile ")
                            html.element("code", text: Self.clip(profile))
                        }
                    }
                    if document.json["generator"]["redacted"].bool == false {
                        html.element("p", [("class", "warning")], text: "Not redacted (--no-redact): evidence shows credential values (Authorization, Cookie, API tokens) as they were sent.")
                    }
                    html.element("nav") { html in
                        var sections = [("#summary", "Summary"), ("#upstreams", "Upstreams"), ("#timeline", "Timeline"), ("#causes", "Causes"), ("#connections", "Failing connections")]
                        if !document.json["dns"].isNull { sections.append(("#dns", "DNS")) }
                        // The gateway's own log only when --gateway-log gave one.
                        if !document.json["gateway_log"].isNull { sections.append(("#gateway-log", "Gateway log")) }
                        for (target, label) in sections {
                            html.element("a", [("href", target)], text: label)
                            html.text(" ")
                        }
                    }
                }
                html.newline()
                html.element("main") { html in
                    Self.sources(document, &html)
                    Self.summary(document, &html)
                    html.newline()
                    Self.upstreams(document, &html)
                    html.newline()
                    Self.timeline(document, &html)
                    html.newline()
                    Self.causes(document, &html)
                    html.newline()
                    Self.clientErrors(document.json, &html)
                    DNSReport.html(document.json, &html)
                    Self.connections(document, &html)
                    GatewayLogReport.html(document, &html)
                }
                html.element("footer", [("class", "muted")]) { html in
                    let healthy = document.connectionCount - document.failedCount
                    html.element("p", text: "\(healthy) healthy connection(s) are counted, not listed. report.json (schema \(JSONReport.schema)) lists every connection the gateway failed with all its findings, and the upstreams' own 5xx in short (analyze --list all lists every connection in full); edgescope report report.json --format html renders this page again.")
                }
                html.element("script") { $0.trusted(Self.script) }
                html.newline()
            }
        }
        html.newline()
        return html.output
    }

    // MARK: Summary

    /// A merged report's sources, one row each; nothing for one report.
    static func sources(_ document: ReportDocument, _ html: inout HTMLWriter) {
        let sources = document.sources
        guard !sources.isEmpty else { return }
        html.element("section", [("id", "sources")]) { html in
            html.element("h2", text: "Sources")
            html.element("p", [("class", "muted")], text: "\(sources.count) reports merged; each failing connection names its source.")
            html.element("table", [("class", "sources")]) { html in
                html.element("tr") { html in
                    for (header, numeric) in [("source", false), ("report", false), ("capture", false), ("gateway profile", false), ("window", false), ("connections", true), ("not healthy", true)] {
                        html.element("th", [("class", numeric ? "n" : nil)], text: header)
                    }
                }
                for source in sources {
                    html.element("tr") { html in
                        html.element("td", text: Self.clip(source.label))
                        html.element("td") { $0.element("code", text: Self.clip(source.report)) }
                        html.element("td") { $0.element("code", text: Self.clip(source.capture)) }
                        html.element("td") { $0.element("code", text: Self.clip(source.profile ?? "")) }
                        html.element("td", text: Self.clip(source.window ?? ""))
                        html.element("td", [("class", "n")], text: "\(source.connections)")
                        html.element("td", [("class", "n")], text: "\(source.failed)")
                    }
                }
            }
        }
        html.newline()
    }

    static func summary(_ document: ReportDocument, _ html: inout HTMLWriter) {
        html.element("section", [("id", "summary")]) { html in
            html.element("h2", text: "Summary")
            html.element("div", [("class", "cards")]) { html in
                Self.card("connections", "\(document.connectionCount)", nil, &html)
                Self.card("not healthy", "\(document.failedCount)", document.failedCount > 0 ? "bad" : nil, &html)
                for item in document.classes where item.name != "ok" && item.count > 0 {
                    Self.card("class " + item.name, "\(item.count)", "cls-" + Self.classToken(item.name), &html)
                }
                if let window = document.window {
                    Self.card("capture window", MarkdownReport.duration(window.last.nanoseconds(since: window.first)), nil, &html)
                }
            }
            if let window = document.window {
                html.element("p") { html in
                    html.text("Capture window: ")
                    html.element("time", text: window.first.rfc3339)
                    html.text(" to ")
                    html.element("time", text: window.last.rfc3339)
                }
            }
            let rows = document.json["upstreams"].items
            if let headline = Headline.sentence(rows.map(Headline.Member.init)) {
                html.element("p", [("class", "headline"), ("id", "headline")], text: Self.clip(headline) + ".")
            }
            // The gateway's failures by cause; the upstreams' own 5xx apart.
            var gateway: [String: Int] = [:]
            for row in rows {
                for cause in Self.splitCauses(row) where !cause.relayed { gateway[cause.code, default: 0] += cause.count }
            }
            let causes = document.causes.compactMap { cause in gateway[cause.code].map { (code: cause.code, count: $0) } }
            let relayed = rows.reduce(0) { $0 + ($1["relayed"].int ?? 0) }
            if relayed > 0 {
                html.element("p", [("class", "muted")], text: "Upstreams answered \(relayed) request(s) with a 5xx of their own, which the gateway relayed as sent: the application's answer, not a failing pool member (class relayed).")
            }
            if let top = causes.first {
                html.element("p", [("class", "headline")]) { html in
                    html.text("Most frequent gateway failure: ")
                    html.element("code", text: Self.clip(top.code))
                    html.text(" on \(top.count) connection(s)")
                    let upstreams = rows.filter { row in Self.splitCauses(row).contains { !$0.relayed && $0.code == top.code } }
                    if !upstreams.isEmpty {
                        html.text(", upstream(s) ")
                        for (index, row) in upstreams.prefix(5).enumerated() {
                            if index > 0 { html.text(", ") }
                            html.element("code", text: Self.clip(row["server"].string ?? "?"))
                        }
                        if upstreams.count > 5 { html.text(" and \(upstreams.count - 5) more") }
                    }
                    html.text(".")
                }
            }
            let warnings = document.json["warnings"].items.compactMap(\.string)
            if !warnings.isEmpty {
                html.element("ul", [("class", "warnings")]) { html in
                    for warning in warnings.prefix(20) {
                        html.element("li", text: "Warning: " + Self.clip(warning))
                    }
                    if warnings.count > 20 { html.element("li", text: "\(warnings.count - 20) more warning(s) in report.json") }
                }
            }
            html.element("table", [("class", "classes")]) { html in
                html.element("tr") { html in
                    html.element("th", text: "class")
                    html.element("th", [("class", "n")], text: "connections")
                    html.element("th", text: "meaning")
                }
                for item in document.classes {
                    html.element("tr") { html in
                        html.element("td") { $0.element("span", [("class", "cls cls-" + Self.classToken(item.name))], text: Self.clip(item.name)) }
                        html.element("td", [("class", "n")], text: "\(item.count)")
                        html.element("td", text: Self.classMeaning(item.name))
                    }
                }
            }
        }
    }

    static func card(_ label: String, _ value: String, _ style: String?, _ html: inout HTMLWriter) {
        html.element("div", [("class", "card" + (style.map { " " + $0 } ?? ""))]) { html in
            html.element("b", text: value)
            html.text(label)
        }
    }

    static func upstreams(_ document: ReportDocument, _ html: inout HTMLWriter) {
        let rows = document.json["upstreams"].items
        html.element("section", [("id", "upstreams")]) { html in
            html.element("h2", text: "By upstream")
            guard !rows.isEmpty else {
                html.element("p", text: "No upstream connections were seen.")
                return
            }
            // Most gateway failures first, then by address: the member to take out heads the table.
            let shown = Array(Summary.worstFirst(rows, failed: { $0["failed"].int ?? 0 }, server: { $0["server"].string ?? "?" })
                .prefix(Self.upstreamRows))
            let labels = document.sources.map(\.label)
            html.element("table", [("id", "upstream-table"), ("class", "upstreams")]) { html in
                html.element("tr") { html in
                    // A merged report: each source's failed/connections, a column each.
                    let headers = [("upstream", false), ("name", false), ("connections", true), ("failed", true), ("failed %", true), ("", false), ("relayed 5xx", true)]
                        + labels.map { (Self.clip($0), true) } + [("causes", false)]
                    for (header, numeric) in headers {
                        html.element("th", [("class", numeric ? "n" : nil)], text: header)
                    }
                }
                for row in shown {
                    let connections = row["connections"].int ?? 0
                    let failed = row["failed"].int ?? 0
                    let relayed = row["relayed"].int ?? 0
                    let server = row["server"].string ?? "?"
                    // Red only for what the gateway failed; an upstream's own 5xx is not a failing member.
                    html.element("tr", [("class", failed > 0 ? "bad" : relayed > 0 ? "relayed" : "good"), ("data-upstream", server)]) { html in
                        html.element("td") { $0.element("code", text: Self.clip(server)) }
                        html.element("td", text: Self.clip(row["name"].string ?? ""))
                        html.element("td", [("class", "n")], text: "\(connections)")
                        html.element("td", [("class", "n failed")], text: "\(failed)")
                        html.element("td", [("class", "n")], text: MarkdownReport.percent(failed, of: connections))
                        html.element("td") { html in
                            let width = connections > 0 ? (failed * 100 + connections / 2) / connections : 0
                            html.element("div", [("class", "bar"), ("role", "img"), ("aria-label", "\(width)% failed")]) { html in
                                html.element("span", [("style", "width:\(width)%")], text: "")
                            }
                        }
                        html.element("td", [("class", "n")], text: "\(relayed)")
                        for label in labels {
                            html.element("td", [("class", "n source")], text: ReportDocument.sourceCell(row, label: label))
                        }
                        html.element("td") { html in
                            let causes = Self.splitCauses(row)
                            for (index, cause) in causes.prefix(6).enumerated() {
                                if index > 0 { html.text(", ") }
                                html.element("code", text: Self.clip(cause.code))
                                html.text(" ×\(cause.count)" + (cause.relayed ? " (relayed)" : ""))
                            }
                            if causes.count > 6 { html.text(", …") }
                        }
                    }
                }
            }
            if shown.count < rows.count {
                html.element("p", [("class", "muted")], text: "\(rows.count - shown.count) more upstream(s), with fewer failures, are in report.json.")
            }
        }
    }

    /// An upstream's causes: the gateway failures (`failed_causes`), then what it relayed of its
    /// own (`causes` less those). A report written before `failed_causes` counts every cause as a failure.
    public static func splitCauses(_ row: JSONValue) -> [(code: String, count: Int, relayed: Bool)] {
        guard !row["failed_causes"].isNull else {
            return row["causes"].members.map { ($0.0, $0.1.int ?? 0, false) }
        }
        let failed = row["failed_causes"].members.map { (code: $0.0, count: $0.1.int ?? 0, relayed: false) }
        let relayed = row["causes"].members.compactMap { cause -> (code: String, count: Int, relayed: Bool)? in
            let count = (cause.1.int ?? 0) - (row["failed_causes"][cause.0].int ?? 0)
            return count > 0 ? (cause.0, count, true) : nil
        }
        return failed + relayed
    }

    static func causes(_ document: ReportDocument, _ html: inout HTMLWriter) {
        let causes = document.causes
        html.element("section", [("id", "causes")]) { html in
            html.element("h2", text: "Root causes")
            guard !causes.isEmpty else {
                html.element("p", text: "No failure: every connection ended normally.")
                return
            }
            html.element("table", [("class", "causes")]) { html in
                html.element("tr") { html in
                    for (header, numeric) in [("connections", true), ("cause", false), ("class", false), ("upstreams", false), ("example", false)] {
                        html.element("th", [("class", numeric ? "n" : nil)], text: header)
                    }
                }
                for cause in causes.prefix(100) {
                    let example = document.example(of: cause.code)
                    html.element("tr", [("data-cause", cause.code)]) { html in
                        html.element("td", [("class", "n")], text: "\(cause.count)")
                        html.element("td") { $0.element("code", text: Self.clip(cause.code)) }
                        html.element("td") { html in
                            if let verdictClass = example?["verdict"]["class"].string {
                                html.element("span", [("class", "cls cls-" + Self.classToken(verdictClass))], text: Self.clip(verdictClass))
                            }
                        }
                        html.element("td") { html in
                            let rows = document.json["upstreams"].items.filter { ($0["causes"][cause.code].int ?? 0) > 0 }
                            for (index, row) in rows.prefix(6).enumerated() {
                                if index > 0 { html.text(", ") }
                                html.element("code", text: Self.clip(row["server"].string ?? "?"))
                                html.text(" ×\(row["causes"][cause.code].int ?? 0)")
                            }
                            if rows.count > 6 { html.text(", and \(rows.count - 6) more") }
                        }
                        html.element("td") { html in
                            if let id = example?["id"].string, document.failures.prefix(Self.connectionsDetailed).contains(where: { $0["id"].string == id }) {
                                html.element("a", [("href", "#" + id)], text: Self.clip(id))
                            } else if let id = example?["id"].string {
                                html.text(Self.clip(id))
                            }
                        }
                    }
                }
            }
        }
    }

    static func clientErrors(_ json: JSONValue, _ html: inout HTMLWriter) {
        let errors = json["client_errors"]
        let items = errors.items
        guard !items.isEmpty else { return }
        let unexplained = items.filter { $0["upstream_connection"].isNull && $0["cause"].isNull }.count
        html.element("section", [("id", "client-errors")]) { html in
            html.element("h2", text: "Client-visible errors")
            html.element("p", text: "\(items.count) failure(s) the gateway's clients saw (error statuses, empty replies, resets, cut bodies): \(items.count - unexplained) explained by an upstream connection, \(unexplained) unexplained.")
            html.element("table") { html in
                html.element("tr") { html in
                    for header in ["time", "client", "client saw", "request", "made by", "upstream connection", "cause"] {
                        html.element("th", text: header)
                    }
                }
                for item in items.prefix(Self.connectionsDetailed) {
                    let disabledBy = item["disabled_by"].items.compactMap(\.string)
                    html.element("tr", [("class", item["upstream_connection"].isNull && item["cause"].isNull ? "unexplained" : nil)]) { html in
                        html.element("td", text: Self.clip(item["time"].text ?? ""))
                        html.element("td") { $0.element("code", text: Self.clip(item["client"].text ?? "")) }
                        html.element("td", text: ClientErrorsReport.seen(item))
                        html.element("td") { $0.element("code", text: Self.clip(item["request"].text ?? "")) }
                        html.element("td", text: Self.clip(item["generated_by"].text ?? ""))
                        html.element("td") { html in
                            let source = item["source"].string
                            if let id = item["upstream_connection"].string {
                                html.element("a", [("href", "#" + Self.anchor(id, source: source))], text: Self.clip(id))
                            } else if let frame = item["dns_frame"].int {
                                html.text("none: ")
                                html.element("code", text: Self.clip(item["dns_name"].text ?? "?"))
                                html.text(" did not resolve (DNS frame \(Self.clip(ReportDocument.frameText(frame, file: item["dns_file"], label: source, in: json))))")
                            } else if !disabledBy.isEmpty {
                                html.text("none tried; members down after ")
                                for (index, id) in disabledBy.enumerated() {
                                    if index > 0 { html.text(", ") }
                                    html.element("a", [("href", "#" + Self.anchor(id, source: source))], text: Self.clip(id))
                                }
                            } else {
                                html.element("b", text: "unexplained")
                            }
                            // A merged report: the source whose ids these are.
                            if let source { html.text(" (" + Self.clip(source) + ")") }
                        }
                        html.element("td") { $0.element("code", text: Self.clip(item["cause"].text ?? "")) }
                    }
                }
            }
            if items.count > Self.connectionsDetailed {
                html.element("p", [("class", "muted")], text: "\(items.count - Self.connectionsDetailed) more are in report.json.")
            }
        }
    }

    // MARK: Text

    /// At most `textLimit` characters, cut with `…`.
    static func clip(_ text: String) -> String {
        // No more bytes than the limit is no more characters: most texts are not counted.
        guard text.utf8.count > Self.textLimit, text.count > Self.textLimit else { return text }
        return String(text.prefix(Self.textLimit)) + "…"
    }

    /// A class as a CSS class-name token: `502`, `truncated`; anything unexpected is `other`.
    static func classToken(_ verdictClass: String) -> String {
        VerdictClass(rawValue: verdictClass) == nil ? "other" : verdictClass
    }

    static func classMeaning(_ verdictClass: String) -> String {
        switch VerdictClass(rawValue: verdictClass) {
        case .badGateway: return "the gateway answered 502 Bad Gateway"
        case .serviceUnavailable: return "the gateway answered 503 Service Unavailable"
        case .gatewayTimeout: return "the gateway answered 504 Gateway Timeout"
        case .internalError: return "the gateway answered 500 Internal Server Error for the upstream's failure"
        case .truncated: return "the failure came after the response head was forwarded: the client got a cut response"
        case .relayed: return "the upstream itself answered 5xx and the gateway relayed it"
        case .ok: return "healthy"
        case .unknown: return "the capture lacks the bytes the verdict depends on"
        case nil: return ""
        }
    }
}
