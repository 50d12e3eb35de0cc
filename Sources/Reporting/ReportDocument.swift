import CaptureModel
import Diagnosis

/// Why a file cannot be rendered as a report.
public struct ReportDocumentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// One line a person understands.
    public var reason: String

    public var description: String { self.reason }
}

/// An `edgescope.report/1` document as the HTML and Markdown reports read it. Both render from
/// the JSON alone, so `edgescope report DIR/report.json` gives the same files as the run that
/// wrote it; what they need beyond the JSON is computed here, the same way for both.
public struct ReportDocument: Sendable {
    /// What the timeline needs of every listed connection.
    public struct TimelineEntry: Sendable {
        public var server: String
        public var start: Timestamp?
        public var failed: Bool
    }

    /// Gathers a document's connections one at a time, keeping what the renderers read: every
    /// connection's timeline entry, the worst `failuresKept` failing ones whole, and the first
    /// failing one of each cause. A report streamed to disk builds its HTML and Markdown from
    /// this as connections are judged, and `edgescope report` from the saved file, with the
    /// same result, in memory bounded by the caps rather than by the connections.
    public struct Builder {
        /// Failing connections kept whole: more than any renderer shows.
        public static let failuresKept = 600

        var timeline: [TimelineEntry] = []
        /// Kept failures by rank (gateway errors, cut, unknown, relayed), each in id order.
        var byRank: [[(id: UInt64, connection: JSONValue)]] = Array(repeating: [], count: 5)
        var examples: [String: (rank: Int, id: UInt64, connection: JSONValue)] = [:]
        var failingSeen = 0
        /// Once `failuresKept` are kept, the last of them by (rank, id): a failure past it
        /// can never be kept, so its entry need not be made.
        var worstKept: (rank: Int, id: UInt64)?

        /// What the builder reads of a connection besides its entry: the timeline's fields,
        /// and the verdict and id that rank it.
        public struct Connection {
            /// `server`.
            public var server: String
            /// `start`, read as a time.
            public var start: Timestamp?
            /// `verdict.class`.
            public var verdictClass: String
            /// `verdict.code`.
            public var code: String?
            /// `id` as a number (`c17` is 17); `UInt64.max` for a foreign id.
            public var id: UInt64

            /// The fields, as `add(_:)` reads them from an entry.
            public init(server: String, start: Timestamp?, verdictClass: String, code: String?, id: UInt64) {
                self.server = server
                self.start = start
                self.verdictClass = verdictClass
                self.code = code
                self.id = id
            }
        }

        /// An empty builder.
        public init() {}

        /// Adds one connection's entry (`connections[i]` of the document).
        public mutating func add(_ connection: JSONValue) {
            let summary = Connection(
                server: connection["server"].string ?? "?", start: connection["start"].string.flatMap(Timestamp.init(rfc3339:)),
                verdictClass: connection["verdict"]["class"].string ?? "unknown", code: connection["verdict"]["code"].string,
                // Ids order connections as the document does (`c17`); a foreign id sorts last.
                id: connection["id"].string.flatMap { UInt64($0.dropFirst()) } ?? UInt64.max)
            self.add(summary) { listed in listed == nil ? connection : Self.trimmed(connection) }
        }

        /// Adds one connection by `summary`; `entry` makes its entry (`connections[i]`) when
        /// the builder keeps it: whole (`nil`), or with at most `transactionsShown`
        /// transactions listed, the rest counted in `transactions_not_listed`. A streamed
        /// report makes entries only for the failures kept, not for every connection.
        public mutating func add(_ summary: Connection, entry: (_ listed: Int?) -> JSONValue) {
            let failed = summary.verdictClass != "ok"
            // The timeline marks what the gateway failed; an upstream's own 5xx, relayed, is not.
            self.timeline.append(TimelineEntry(server: summary.server, start: summary.start, failed: failed && summary.verdictClass != "relayed"))
            guard failed else { return }
            let rank = ReportDocument.rank(ofClass: summary.verdictClass)
            let id = summary.id
            if let code = summary.code {
                if let known = self.examples[code], (known.rank, known.id) <= (rank, id) {} else {
                    self.examples[code] = (rank, id, entry(nil))
                }
            }
            // Worse ranks first: past the cap, a connection only enters if it beats the last kept.
            if let worstKept = self.worstKept, (worstKept.rank, worstKept.id) < (rank, id) { return }
            self.failingSeen += 1
            self.byRank[rank].append((id, entry(HTMLReport.transactionsShown)))
            if self.failingSeen > Self.failuresKept * 2 { self.trim() }
        }

        /// The connection with no more transactions than a report shows: the rest are counted
        /// in `transactions_not_listed`, which is how the reports count them anyway.
        static func trimmed(_ connection: JSONValue) -> JSONValue {
            guard case .object(var members) = connection,
                  let at = members.firstIndex(where: { $0.0 == "transactions" }),
                  case .array(let transactions) = members[at].1, transactions.count > HTMLReport.transactionsShown
            else { return connection }
            members[at].1 = .array(Array(transactions.prefix(HTMLReport.transactionsShown)))
            let dropped = transactions.count - HTMLReport.transactionsShown
            if let notListed = members.firstIndex(where: { $0.0 == "transactions_not_listed" }) {
                members[notListed].1 = .number((members[notListed].1.int ?? 0) + dropped)
            } else {
                members.append(("transactions_not_listed", .number(dropped)))
            }
            return .object(members)
        }

        /// Keeps the worst `failuresKept` by (rank, id).
        mutating func trim() {
            var budget = Self.failuresKept
            for rank in self.byRank.indices {
                if self.byRank[rank].count > budget {
                    self.byRank[rank].sort { $0.id < $1.id }
                    self.byRank[rank].removeLast(self.byRank[rank].count - budget)
                }
                budget -= self.byRank[rank].count
            }
            self.failingSeen = self.byRank.reduce(0) { $0 + $1.count }
            if self.failingSeen == Self.failuresKept, let rank = self.byRank.lastIndex(where: { !$0.isEmpty }) {
                self.worstKept = (rank, self.byRank[rank].map(\.id).max()!)
            }
        }

        /// The failures kept, worst first, then by id.
        mutating func failures() -> [JSONValue] {
            self.trim()
            return self.byRank.flatMap { $0.sorted { $0.id < $1.id }.map(\.connection) }
        }
    }

    /// The document, without its connections (they are in `timeline`, `failures` and `examples`).
    public let json: JSONValue
    /// Every listed connection's timeline entry, in the order added.
    public let timeline: [TimelineEntry]
    /// The timeline the HTML report draws: report.json's `timeline`, or for a report written
    /// before it existed, the listed connections'; `nil` without a capture window.
    public let timelineRows: Timeline?
    /// The worst listed connections that are not healthy (at most `Builder.failuresKept`),
    /// worst first (see `rank(ofClass:)`), then by id.
    public let failures: [JSONValue]
    private let examples: [String: JSONValue]

    /// Reads `json`, which must be an object whose `schema` is `edgescope.report/1`.
    public init(_ json: JSONValue) throws(ReportDocumentError) {
        var builder = Builder()
        for connection in json["connections"].items {
            builder.add(connection)
        }
        try self.init(head: json, builder: builder)
    }

    /// A document from its head (every member; `connections`, if there, is not read) and the
    /// connections gathered by `builder`.
    public init(head json: JSONValue, builder: Builder) throws(ReportDocumentError) {
        guard case .object(let members) = json else { throw ReportDocumentError(reason: "not a JSON object") }
        guard let schema = json["schema"].string else {
            throw ReportDocumentError(reason: "no \"schema\" member: not an edgescope report")
        }
        guard schema == JSONReport.schema else {
            throw ReportDocumentError(reason: "schema is \"\(Terminal.safe(schema))\", not \"\(JSONReport.schema)\"")
        }
        self.json = .object(members.filter { $0.0 != "connections" })
        var builder = builder
        self.timeline = builder.timeline
        let recorded = json["timeline"]
        if !recorded.isNull {
            self.timelineRows = Timeline(json: recorded)
        } else if let first = json["source"]["first_time"].string.flatMap(Timestamp.init(rfc3339:)),
                  let last = json["source"]["last_time"].string.flatMap(Timestamp.init(rfc3339:)) {
            self.timelineRows = Timeline(
                window: (first, max(first, last)), entries: builder.timeline, order: json["upstreams"].items.map { $0["server"].string ?? "?" })
        } else {
            self.timelineRows = nil
        }
        self.failures = builder.failures()
        self.examples = builder.examples.mapValues(\.connection)
    }

    /// Parses `text` (a saved report.json) and reads it.
    public init(text: String) throws(ReportDocumentError) {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw ReportDocumentError(reason: "not valid JSON (\(error.description))")
        }
        try self.init(json)
    }

    /// Gateway errors (502, 503, 504, 500) first, then cut responses, unknowns, relayed 5xx, healthy.
    public static func rank(ofClass verdictClass: String?) -> Int {
        switch verdictClass.flatMap(VerdictClass.init(rawValue:)) {
        case .badGateway, .serviceUnavailable, .gatewayTimeout, .internalError: return 0
        case .truncated: return 1
        case .unknown, nil: return 2
        case .relayed: return 3
        case .ok: return 4
        }
    }

    /// Failure counts by root cause, most frequent first: `totals.causes`, or for a report
    /// written before it existed, the sum over `upstreams`.
    public var causes: [(code: String, count: Int)] {
        var counts: [(code: String, count: Int)] = []
        var index: [String: Int] = [:]
        let source = self.json["totals"]["causes"].isNull
            ? self.json["upstreams"].items.flatMap { $0["causes"].members }
            : self.json["totals"]["causes"].members
        for (code, count) in source {
            if let at = index[code] {
                counts[at].count += count.int ?? 0
            } else {
                index[code] = counts.count
                counts.append((code, count.int ?? 0))
            }
        }
        return counts.enumerated().sorted { a, b in
            a.element.count != b.element.count ? a.element.count > b.element.count
                : (a.element.code != b.element.code ? a.element.code < b.element.code : a.offset < b.offset)
        }.map(\.element)
    }

    /// Connections judged (listed or not).
    public var connectionCount: Int { self.json["totals"]["connections"].int ?? self.timeline.count }

    /// Connections judged whose class is not `ok`.
    public var failedCount: Int { self.json["totals"]["failed"].int ?? self.timeline.filter(\.failed).count }

    /// Counts by class in the order `edgescope.report/1` lists them.
    public var classes: [(name: String, count: Int)] {
        self.json["totals"]["classes"].members.map { ($0.0, $0.1.int ?? 0) }
    }

    /// The first listed connection with root cause `code`, worst first.
    public func example(of code: String) -> JSONValue? {
        self.examples[code]
    }

    /// The capture window, when the source has both times.
    public var window: (first: Timestamp, last: Timestamp)? {
        guard let first = self.json["source"]["first_time"].string.flatMap(Timestamp.init(rfc3339:)),
              let last = self.json["source"]["last_time"].string.flatMap(Timestamp.init(rfc3339:))
        else { return nil }
        return (first, max(first, last))
    }

    /// A merged report's sources (`edgescope report A B`), in the order given: each one's
    /// label, report, capture, gateway profile, window and counts. Empty for one report.
    public var sources: [(label: String, report: String, capture: String, profile: String?, window: String?, connections: Int, failed: Int)] {
        self.json["sources"].items.map { source in
            let first = source["source"]["first_time"].string
            let last = source["source"]["last_time"].string
            return (
                source["label"].string ?? "?", source["report"].string ?? "?", source["source"]["path"].string ?? "?",
                source["generator"]["gateway_profile"].string, first.map { "\($0) to \(last ?? "?")" },
                source["totals"]["connections"].int ?? 0, source["totals"]["failed"].int ?? 0)
        }
    }

    /// An upstream row's counts for source `label` of a merged report: `failed/connections`,
    /// or `–` when that source saw no connection to it.
    public static func sourceCell(_ row: JSONValue, label: String) -> String {
        let counts = row["by_source"][label]
        guard let connections = counts["connections"].int else { return "–" }
        return "\(counts["failed"].int ?? 0)/\(connections)"
    }

    /// Where a listed connection came from: in a merged report (`edgescope report A B`) its
    /// source's label, and the capture file too when that source read several; with several
    /// capture files read as one, the file holding it; `nil` for one capture.
    public func origin(of connection: JSONValue) -> String? {
        let label = connection["source"].string
        let file = connection["file"].int.flatMap { self.filePath($0, label: label) }
        switch (label, file) {
        case (let label?, let file?): return "\(label), \(file)"
        case (let label?, nil): return label
        case (nil, let file?): return file
        case (nil, nil): return nil
        }
    }

    /// The capture file an evidence item of `connection` names by its `file` (several capture
    /// files read as one); `nil` without one.
    public func fileName(of evidence: JSONValue, in connection: JSONValue) -> String? {
        evidence["file"].int.flatMap { self.filePath($0, label: connection["source"].string) }
    }

    /// `source.files[index].path`, of the merged source `label` when given.
    private func filePath(_ index: Int, label: String?) -> String? {
        Self.filePath(index, label: label, in: self.json)
    }

    /// `source.files[index].path` of the document `json`, of the merged source `label` when given.
    static func filePath(_ index: Int, label: String?, in json: JSONValue) -> String? {
        let source = label.flatMap { label in json["sources"].items.first { $0["label"].string == label }?["source"] } ?? json["source"]
        let files = source["files"].items
        return files.indices.contains(index) ? files[index]["path"].string : nil
    }

    /// A frame number as the pages show it: `33`, or `8 of FILE` when the document's capture is
    /// several files and `file` (the member beside the number) names one of them.
    static func frameText(_ frame: Int, file: JSONValue, label: String? = nil, in json: JSONValue) -> String {
        guard let index = file.int, let path = self.filePath(index, label: label, in: json) else { return String(frame) }
        return "\(frame) of \(path)"
    }

    /// `slices/c17.pcap` when the connection's slice is a plain relative path under `slices/`;
    /// anything else (a hand-edited file) is not offered as a link.
    public static func slicePath(_ connection: JSONValue) -> String? {
        guard let slice = connection["slice"].string, slice.hasPrefix("slices/"), slice.hasSuffix(".pcap") else { return nil }
        let name = slice.dropFirst("slices/".count)
        let allowed = name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: ".")
        }
        return allowed && !name.hasPrefix(".") ? slice : nil
    }

    /// What a gateway's detail member is called in `verdict.gateways` (docs/json-report.md).
    public static let gatewayDetailKeys: [(gateway: String, key: String, label: String)] = Gateways.all.map {
        ($0.name, $0.detail.key.description, $0.detail.label)
    }

    /// `gatewayDetailKeys` with the model that decided the classes (`generator.gateway_profile`,
    /// `nginx:1.22`) first, the others after it in the registry's order.
    public var gatewayDetailKeys: [(gateway: String, key: String, label: String)] {
        let chosen = self.json["generator"]["gateway_profile"].string.map { String($0.prefix { $0 != ":" }) }
        let all = Self.gatewayDetailKeys
        return all.filter { $0.gateway == chosen } + all.filter { $0.gateway != chosen }
    }

    /// An evidence entry's context dump with the offending bytes marked.
    public static func hexdump(_ evidence: JSONValue) -> [Hexdump.Row] {
        guard let context = evidence["context_hex"].string.flatMap(bytes(fromHex:)), !context.isEmpty,
              let streamOffset = evidence["stream_offset"].int
        else { return [] }
        let captured = evidence["hex"].string.flatMap(bytes(fromHex:))?.count ?? 0
        let contextOffset = evidence["context_offset"].int ?? streamOffset
        return Hexdump.rows(
            context: context, contextOffset: UInt64(max(0, contextOffset)),
            highlight: Hexdump.highlight(
                streamOffset: UInt64(max(0, streamOffset)), length: UInt64(max(0, evidence["length"].int ?? 0)), captured: captured))
    }
}

extension Timestamp {
    /// Reads the RFC 3339 UTC form reports write (`2026-04-13T10:17:42.123456789Z`, 0 to 9
    /// fraction digits); `nil` for anything else.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes.last == UInt8(ascii: "Z"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction: Int64 = 0
        if bytes.count > 20 {
            let digits = bytes.count - 21
            guard bytes[19] == UInt8(ascii: "."), (1...9).contains(digits), let value = number(20..<(bytes.count - 1)) else { return nil }
            fraction = value
            for _ in digits..<9 { fraction *= 10 }
        }
        // Howard Hinnant's days-from-civil, the inverse of the one `rfc3339` uses.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        self.init(seconds: days * 86_400 + hour * 3600 + minute * 60 + second, nanoseconds: fraction)
    }
}

extension JSONReport {
    /// The Markdown and HTML reports of a document `document(_:source:slices:)` built: what
    /// `analyze --out` and `capture --out` write beside report.json.
    public static func renderings(of document: JSONValue) -> (markdown: String, html: String) {
        guard let read = try? ReportDocument(document) else {
            preconditionFailure("a document JSONReport built has the edgescope.report/1 schema")
        }
        return (MarkdownReport.render(read), HTMLReport.render(read))
    }
}
