import CaptureModel

extension HTMLReport {
    /// The failing connections, worst first, each in an `article` the filter can hide: at most
    /// `connectionsDetailed`, and no more than keep the page under `sizeLimit`.
    static func connections(_ document: ReportDocument, _ html: inout HTMLWriter) {
        // Sections are written aside first: the filter lists only what made it onto the page.
        var sections = HTMLWriter()
        var shown: [JSONValue] = []
        let budget = Self.sizeLimit - Self.sectionReserve - html.count
        for connection in document.failures.prefix(Self.connectionsDetailed) {
            guard sections.count < budget else { break }
            Self.connection(connection, gateways: document.gatewayDetailKeys, document: document, &sections)
            sections.newline()
            shown.append(connection)
        }
        html.element("section", [("id", "connections")]) { html in
            html.element("h2", text: "Failing connections")
            guard !shown.isEmpty else {
                html.element("p", text: document.failedCount > 0 ? "\(document.failedCount) failing connection(s), none listed in report.json." : "None: no connection failed.")
                return
            }
            html.element("p", [("class", "muted")], text: "Worst first: gateway errors (502, 503, 504), then cut responses, unknowns, relayed 5xx.")
            // Shown by the script; without it every section is simply there.
            html.element("form", [("id", "filters"), ("hidden", "")]) { html in
                html.element("label") { html in
                    html.text("Upstream ")
                    html.element("select", [("id", "filter-upstream")]) { html in
                        html.element("option", [("value", "")], text: "all upstreams")
                        for server in Self.distinct(shown.map { $0["server"].string ?? "?" }) {
                            html.element("option", [("value", server)], text: Self.clip(server))
                        }
                    }
                }
                html.text(" ")
                html.element("label") { html in
                    html.text("Cause ")
                    html.element("select", [("id", "filter-cause")]) { html in
                        html.element("option", [("value", "")], text: "all causes")
                        for code in Self.distinct(shown.map { $0["verdict"]["code"].string ?? "?" }) {
                            html.element("option", [("value", code)], text: Self.clip(code))
                        }
                    }
                }
                html.text(" ")
                html.element("output", [("id", "filter-count")], text: "")
            }
            html.newline()
            html.append(sections)
            let more = document.failures.count - shown.count + max(0, document.failedCount - document.failures.count)
            if more > 0 {
                html.element("p", [("class", "more")], text: "\(more) more failing connection(s) are counted in the summary but have no section here, to keep this page under \(Self.sizeLimit / 1_000_000) MB; report.json lists every connection the run kept.")
            }
        }
    }

    /// A connection's anchor: its id, and in a merged report its source's label before it.
    static func anchor(_ id: String, source: String?) -> String {
        source.map { String($0.map { $0.isWhitespace ? "-" : $0 }) + "-" + id } ?? id
    }

    static func connection(
        _ connection: JSONValue, gateways order: [(gateway: String, key: String, label: String)] = ReportDocument.gatewayDetailKeys,
        document: ReportDocument? = nil, _ html: inout HTMLWriter
    ) {
        let id = connection["id"].string ?? "?"
        // A merged report lists each source's ids: the anchor names the source too.
        let anchor = Self.anchor(id, source: connection["source"].string)
        let verdict = connection["verdict"]
        let verdictClass = verdict["class"].string ?? "unknown"
        let code = verdict["code"].string ?? "?"
        let attributes: [HTMLWriter.Attribute] = [
            ("class", "conn c-" + Self.classToken(verdictClass)), ("id", anchor),
            ("data-upstream", connection["server"].string ?? "?"), ("data-cause", code), ("data-class", verdictClass),
        ]
        html.element("article", attributes) { html in
            html.element("h3") { html in
                html.element("a", [("href", "#" + anchor)], text: Self.clip(id))
                html.text(" ")
                html.element("span", [("class", "cls cls-" + Self.classToken(verdictClass))], text: Self.clip(verdictClass))
                html.text(" ")
                html.element("code", text: Self.clip(code))
            }
            html.element("p", [("class", "peers")]) { html in
                html.text("gateway ")
                html.element("code", text: Self.clip(connection["client"].string ?? "?"))
                html.text(" → upstream ")
                html.element("code", text: Self.clip(connection["server"].string ?? "?"))
                let frames = connection["frames"].items.compactMap(\.int)
                if frames.count == 2 { html.text(" · frames \(frames[0])–\(frames[1])") }
                // A merged report's source, or the file of several that holds the connection.
                if let origin = document?.origin(of: connection) { html.text(" · " + Self.clip(origin)) }
                if let start = connection["start"].string { html.text(" · " + Self.clip(start)) }
                html.text(" · phase " + Self.clip(verdict["phase"].string ?? "?"))
            }
            html.element("p", [("class", "verdict")], text: Self.clip(verdict["summary"].string ?? ""))
            if let stderr = verdict["stderr"].string {
                html.element("p", [("class", "muted")], text: "The application wrote to stderr (FCGI_STDERR):")
                html.element("pre", [("class", "stderr")], text: Self.clip(stderr))
            }
            GatewayLogReport.html(connection: connection, &html)
            if connection["compact"].bool == true {
                // A relayed 5xx report.json lists in short: its TCP, HTTP and evidence are not there.
                html.element("p", [("class", "muted")], text: "Listed in short in report.json (an upstream's own 5xx): analyze --list all lists it in full.")
                return
            }
            Self.gateways(verdict["gateways"], order: order, &html)
            Self.tcp(connection, &html)
            if !connection["tls"].isNull { Self.tls(connection["tls"], &html) }
            Self.transactions(connection, &html)
            Self.evidence(connection, document: document, &html)
            if !connection["comparison"].isNull { HeadComparisonReport.html(connection["comparison"], &html) }
            html.element("p", [("class", "tools")]) { html in
                html.text("Wireshark/tshark display filter: ")
                html.element("code", [("class", "filter")], text: connection["display_filter"].string ?? "")
                if let slice = ReportDocument.slicePath(connection) {
                    html.text(" · packets: ")
                    html.element("a", [("href", slice), ("class", "slice")], text: slice)
                }
            }
        }
    }

    /// What each gateway model does, the one that decided the class first (`order`).
    static func gateways(
        _ gateways: JSONValue, order: [(gateway: String, key: String, label: String)] = ReportDocument.gatewayDetailKeys,
        _ html: inout HTMLWriter
    ) {
        let present = order.filter { !gateways[$0.gateway].isNull }
        guard !present.isEmpty else { return }
        html.element("table", [("class", "gateways")]) { html in
            html.element("tr") { html in
                html.element("th", text: "gateway")
                html.element("th", text: "client sees")
                html.element("th", text: "it writes")
            }
            for item in present {
                let outcome = gateways[item.gateway]
                html.element("tr") { html in
                    html.element("td", text: item.gateway)
                    html.element("td", text: outcome["status"].int.map(String.init) ?? "no status")
                    html.element("td") { html in
                        html.text(item.label + ": ")
                        html.element("code", text: Self.clip(outcome[item.key].string ?? ""))
                    }
                }
            }
        }
    }

    static func tcp(_ connection: JSONValue, _ html: inout HTMLWriter) {
        let tcp = connection["tcp"]
        html.element("h4", text: "TCP")
        html.element("p", [("class", "facts")]) { html in
            html.text("history ")
            html.element("code", text: Self.clip(tcp["history"].string ?? ""))
            html.text(" · opened by " + Self.clip(tcp["opened_by"].text ?? "?"))
            html.text(" · closed by " + Self.clip(tcp["closed_by"].text ?? "?"))
            html.text(" · reset by " + Self.clip(tcp["reset_by"].text ?? "?"))
            if let rtt = tcp["handshake_rtt_us"].double {
                html.text(" · handshake " + Self.elapsed(microseconds: rtt))
            }
            html.text(" · \(tcp["client"]["bytes"].int ?? 0) bytes sent, \(tcp["server"]["bytes"].int ?? 0) received")
        }
        if !tcp["ladder"].isNull {
            Self.ladder(tcp["ladder"], client: connection["client"].string ?? "?", server: connection["server"].string ?? "?", &html)
        }
    }

    static func tls(_ tls: JSONValue, _ html: inout HTMLWriter) {
        html.element("h4", text: "TLS")
        html.element("p", [("class", "facts")]) { html in
            let parts: [(String, String?)] = [
                ("version", tls["version"].string), ("SNI", tls["sni"].string), ("ALPN", tls["alpn"].string), ("cipher", tls["cipher"].string),
            ]
            var first = true
            for (label, value) in parts {
                if !first { html.text(" · ") }
                first = false
                html.text(label + " ")
                html.element("code", text: Self.clip(value ?? "none"))
            }
            if tls["decrypted"].bool == true { html.text(" · decrypted with the key log") }
        }
        let alerts = tls["alerts"].items.compactMap(\.string)
        if !alerts.isEmpty {
            html.element("p") { html in
                html.text("Alerts: ")
                for (index, alert) in alerts.prefix(6).enumerated() {
                    if index > 0 { html.text(", ") }
                    html.element("code", text: Self.clip(alert))
                }
            }
        }
        let verification = tls["verification"]
        let result = verification["result"].string ?? "not_visible"
        html.element("p", [("class", "openssl openssl-" + (["ok", "failed"].contains(result) ? result : "other"))]) { html in
            html.text("OpenSSL verification: ")
            html.element("b", text: Self.clip(result))
            if let code = verification["openssl_code"].int {
                html.text(" · code \(code)")
            }
            if let text = verification["openssl_text"].string {
                html.text(" (")
                html.text(Self.clip(text))
                html.text(")")
            }
            if let depth = verification["depth"].int { html.text(" at depth \(depth)") }
            if result == "not_visible" {
                html.text(" · the certificate was encrypted (TLS 1.3): rerun with --keylog, or check the upstream with edgescope probe")
            }
        }
        let chain = tls["chain"].items
        guard !chain.isEmpty else { return }
        html.element("table", [("class", "chain")]) { html in
            html.element("tr") { html in
                for header in ["depth", "subject", "issuer", "valid from", "valid until", "SHA-256"] {
                    html.element("th", text: header)
                }
            }
            for (depth, certificate) in chain.prefix(Self.chainShown).enumerated() {
                html.element("tr") { html in
                    html.element("td", text: "\(depth)")
                    html.element("td", text: Self.clip(certificate["subject"].string ?? ""))
                    html.element("td", text: Self.clip(certificate["issuer"].string ?? ""))
                    html.element("td", text: Self.clip(certificate["not_before"].string ?? ""))
                    html.element("td", text: Self.clip(certificate["not_after"].string ?? ""))
                    html.element("td") { html in
                        let digest = certificate["sha256"].string ?? ""
                        html.element("code", [("title", Self.clip(digest))], text: String(digest.prefix(16)) + (digest.count > 16 ? "…" : ""))
                    }
                }
            }
        }
        if chain.count > Self.chainShown {
            html.element("p", [("class", "muted")], text: "\(chain.count - Self.chainShown) more certificate(s) in report.json.")
        }
    }

    static func transactions(_ connection: JSONValue, _ html: inout HTMLWriter) {
        let transactions = connection["transactions"].items
        guard !transactions.isEmpty else { return }
        html.element("h4", text: "HTTP")
        // HTTP/2: each stream is a transaction, and the table names it.
        let http2 = transactions.contains { !$0["stream_id"].isNull }
        html.element("table", [("class", "transactions")]) { html in
            html.element("tr") { html in
                let headers = ["#"] + (http2 ? ["stream"] : []) + ["request", "host", "request frame", "upstream sent", "client got", "framing", "complete", "response frame"]
                for header in headers {
                    html.element("th", text: header)
                }
            }
            // The gateway made its own error instead of the last response (502, 503, 504) or cut
            // that response's body (truncated); every earlier response reached the client as sent.
            let verdictClass = connection["verdict"]["class"].string ?? ""
            let gatewayStatus = ["502", "503", "504", "500"].contains(verdictClass) ? verdictClass : nil
            let lastIndex = transactions.count - 1 + (connection["transactions_not_listed"].int ?? 0)
            for (index, transaction) in transactions.prefix(Self.transactionsShown).enumerated() {
                let request = transaction["request"]
                let response = transaction["response"]
                let isLast = index == lastIndex
                func clientGot(_ sent: String?) -> String {
                    if isLast, let gatewayStatus { return gatewayStatus + " (made by the gateway)" }
                    if isLast, verdictClass == "truncated" { return (sent ?? "?") + ", body cut" }
                    return sent ?? "nothing"
                }
                html.element("tr") { html in
                    html.element("td", text: "\(index + 1)")
                    if http2 { html.element("td", text: transaction["stream_id"].text ?? "") }
                    html.element("td") { html in
                        if request.isNull {
                            html.text("none seen")
                        } else {
                            html.element("code", text: Self.clip((request["method"].string ?? "") + " " + (request["target"].string ?? "")))
                        }
                    }
                    html.element("td", text: Self.clip(request["host"].string ?? ""))
                    html.element("td", text: request["frame"].text ?? "")
                    if response.isNull {
                        html.element("td", text: "no response")
                        html.element("td", text: clientGot(nil))
                        html.element("td", [("colspan", "3")], text: "")
                    } else {
                        var status = response["status"].text ?? "none"
                        let interim = response["interim"].items.compactMap(\.text)
                        if !interim.isEmpty { status = interim.prefix(4).joined(separator: ", ") + ", " + status }
                        html.element("td", text: status)
                        html.element("td", [("class", isLast && gatewayStatus != nil ? "bad" : nil)], text: clientGot(response["status"].text))
                        html.element("td", text: Self.clip(response["framing"].string ?? ""))
                        html.element("td", text: response["complete"].bool == true ? "yes" : "no")
                        html.element("td", text: response["frame"].text ?? "")
                    }
                }
            }
        }
        let more = transactions.count - min(transactions.count, Self.transactionsShown) + (connection["transactions_not_listed"].int ?? 0)
        if more > 0 {
            html.element("p", [("class", "muted")], text: "\(more) more transaction(s) on this connection; report.json lists those the run kept.")
        }
    }

    /// Each finding with its evidence: where the bytes are, and a hexdump with them marked.
    static func evidence(_ connection: JSONValue, document: ReportDocument? = nil, _ html: inout HTMLWriter) {
        let findings = connection["findings"].items
        let evidence = connection["evidence"].items
        guard !findings.isEmpty else { return }
        html.element("h4", text: "Evidence")
        var dumps = 0
        for finding in findings.prefix(Self.findingsShown) {
            let severity = finding["severity"].string ?? "?"
            html.element("div", [("class", "finding")]) { html in
                html.element("p") { html in
                    html.element("code", text: Self.clip(finding["code"].string ?? "?"))
                    html.text(" ")
                    html.element("span", [("class", "sev sev-" + (["fatal", "warning", "lint"].contains(severity) ? severity : "other"))], text: Self.clip(severity))
                }
                for index in finding["evidence"].items.prefix(Self.evidencePerFinding).compactMap(\.int) where evidence.indices.contains(index) {
                    Self.evidenceItem(
                        evidence[index], file: document?.fileName(of: evidence[index], in: connection), hexdump: dumps < Self.hexdumpsShown, &html)
                    if !evidence[index]["context_hex"].isNull { dumps += 1 }
                }
            }
        }
        if findings.count > Self.findingsShown {
            html.element("p", [("class", "muted")], text: "\(findings.count - Self.findingsShown) more finding(s) in report.json.")
        }
    }

    static func evidenceItem(_ item: JSONValue, file: String? = nil, hexdump: Bool, _ html: inout HTMLWriter) {
        let frame = item["frame"].int
        html.element("p", [("class", "where")]) { html in
            html.text(Self.clip(item["direction"].string ?? "?") + " ")
            if let frame {
                html.element("span", [("class", "frame")], text: "frame \(frame)")
                if let offset = item["frame_offset"].int { html.text(" (byte \(offset) of the frame)") }
                if let file { html.text(" of " + Self.clip(file)) }
            } else {
                html.text("(no frame: the bytes are not in the capture)")
            }
            if let stream = item["stream_id"].int { html.text(" · HTTP/2 stream \(stream)") }
            html.text(" · stream offset \(item["stream_offset"].int ?? 0) · \(item["length"].int ?? 0) byte(s): ")
            html.text(Self.clip(item["note"].string ?? ""))
        }
        let rows = hexdump ? ReportDocument.hexdump(item) : []
        guard !rows.isEmpty else { return }
        // Keep the marked rows in view when the context is long.
        let firstMarked = rows.firstIndex { $0.bytes.contains { $0.marked } } ?? 0
        let start = max(0, min(firstMarked - 2, rows.count - Self.hexdumpRows))
        html.element("pre", [("class", "hexdump")]) { html in
            for row in rows[start..<min(rows.count, start + Self.hexdumpRows)] {
                html.element("span", [("class", "off")], text: row.offsetText)
                html.text("  ")
                Self.markedRuns(row, frame: frame, separator: " ", &html) { byte, out in
                    let digits: StaticString = "0123456789abcdef"
                    out.append(digits.utf8Start[Int(byte >> 4)])
                    out.append(digits.utf8Start[Int(byte & 0x0f)])
                }
                html.formatted { $0.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 + (16 - row.bytes.count) * 3)) }
                Self.markedRuns(row, frame: frame, separator: "", &html) { byte, out in
                    // `Hexdump.printable`: the byte itself when it is printable ASCII.
                    out.append(byte >= 0x20 && byte < 0x7f ? byte : UInt8(ascii: "."))
                }
                html.newline()
            }
        }
    }

    /// Writes a row's bytes through `format` (which appends a byte's UTF-8 text), `separator`
    /// between them, each run of marked bytes inside one `<mark class="evidence-byte">` that
    /// carries the frame number.
    private static func markedRuns(
        _ row: Hexdump.Row, frame: Int?, separator: StaticString, _ html: inout HTMLWriter, _ format: (UInt8, inout [UInt8]) -> Void
    ) {
        var run: [UInt8] = []
        run.reserveCapacity(48)
        var index = 0
        while index < row.bytes.count {
            if index > 0 { html.trusted(separator) }
            let marked = row.bytes[index].marked
            run.removeAll(keepingCapacity: true)
            var first = true
            while index < row.bytes.count, row.bytes[index].marked == marked {
                if !first { separator.withUTF8Buffer { run.append(contentsOf: $0) } }
                first = false
                format(row.bytes[index].byte, &run)
                index += 1
            }
            if marked {
                html.element("mark", [("class", "evidence-byte"), ("title", frame.map { "frame \($0)" })]) { $0.text(utf8: run) }
            } else {
                html.text(utf8: run)
            }
        }
    }

    /// The distinct values, in order of first appearance.
    static func distinct(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// `+12.345 ms`, `+1.500 s`.
    static func elapsed(microseconds: Double) -> String {
        let nanoseconds = Int64((microseconds * 1000).rounded())
        return MarkdownReport.duration(max(0, nanoseconds))
    }
}
