import CaptureModel

/// Connections over time, per upstream, as the HTML report draws them: the capture window cut
/// into `bins` columns; for each upstream that matters most (gateway failures, then traffic)
/// how many connections started in each column and how many of those the gateway failed; the
/// other upstreams summed in one last row. report.json carries it (`timeline`), so a report
/// that lists only failing connections still renders the healthy traffic.
public struct Timeline: Sendable {
    /// One drawn row.
    public struct Row: Sendable {
        /// The upstream, or `N other upstream(s)`.
        public var label: String
        /// Connections that started in each column.
        public var started: [Int]
        /// Of those, the ones the gateway failed.
        public var failed: [Int]
    }

    /// Columns across the capture window.
    public static let bins = 60
    /// Upstream rows drawn; the rest are summed in one more.
    public static let rowsShown = 12

    /// The capture window.
    public var first: Timestamp
    public var last: Timestamp
    /// The rows, in the document's upstream order, then the summed rest.
    public var rows: [Row]

    /// The column of `time` within `window`.
    public static func bin(_ time: Timestamp, window: (first: Timestamp, last: Timestamp)) -> Int {
        let span = window.last.nanoseconds(since: window.first)
        guard span > 0 else { return 0 }
        let fraction = Double(time.nanoseconds(since: window.first)) / Double(span)
        return min(Self.bins - 1, max(0, Int(fraction * Double(Self.bins))))
    }

    /// Chooses the rows from every server's columns: `order` first (report.json's upstreams),
    /// then any other server in the order given.
    public init(window: (first: Timestamp, last: Timestamp), servers: [(server: String, started: [Int], failed: [Int])], order: [String]) {
        self.first = window.first
        self.last = window.last
        var names: [String] = []
        var position: [String: Int] = [:]
        var started: [[Int]] = []
        var failed: [[Int]] = []
        func row(_ server: String) -> Int {
            if let at = position[server] { return at }
            position[server] = names.count
            names.append(server)
            started.append([Int](repeating: 0, count: Self.bins))
            failed.append([Int](repeating: 0, count: Self.bins))
            return names.count - 1
        }
        for server in order { _ = row(server) }
        for item in servers {
            let at = row(item.server)
            for b in 0..<min(Self.bins, item.started.count) { started[at][b] += item.started[b] }
            for b in 0..<min(Self.bins, item.failed.count) { failed[at][b] += item.failed[b] }
        }
        let chosen = Set(names.indices.sorted { a, b in
            let x = failed[a].reduce(0, +)
            let y = failed[b].reduce(0, +)
            if x != y { return x > y }
            let p = started[a].reduce(0, +)
            let q = started[b].reduce(0, +)
            return p != q ? p > q : a < b
        }.prefix(Self.rowsShown))
        self.rows = names.indices.filter { chosen.contains($0) }.map { Row(label: names[$0], started: started[$0], failed: failed[$0]) }
        let rest = names.indices.filter { !chosen.contains($0) }
        if !rest.isEmpty {
            var otherStarted = [Int](repeating: 0, count: Self.bins)
            var otherFailed = [Int](repeating: 0, count: Self.bins)
            for index in rest {
                for b in 0..<Self.bins {
                    otherStarted[b] += started[index][b]
                    otherFailed[b] += failed[index][b]
                }
            }
            self.rows.append(Row(label: "\(rest.count) other upstream(s)", started: otherStarted, failed: otherFailed))
        }
    }

    /// From the connections a report lists (a report.json written before `timeline` existed).
    init(window: (first: Timestamp, last: Timestamp), entries: [ReportDocument.TimelineEntry], order: [String]) {
        var servers: [String: (started: [Int], failed: [Int])] = [:]
        var seen: [String] = []
        for entry in entries {
            guard let time = entry.start else { continue }
            if servers[entry.server] == nil {
                servers[entry.server] = ([Int](repeating: 0, count: Self.bins), [Int](repeating: 0, count: Self.bins))
                seen.append(entry.server)
            }
            let bin = Self.bin(time, window: window)
            servers[entry.server]!.started[bin] += 1
            if entry.failed { servers[entry.server]!.failed[bin] += 1 }
        }
        self.init(window: window, servers: seen.map { ($0, servers[$0]!.started, servers[$0]!.failed) }, order: order)
    }

    /// `{"bins", "first_time", "last_time", "rows": [{"upstream", "started": [..], "failed": [..]}]}`.
    public var json: JSONValue {
        .object([
            ("bins", .number(Self.bins)),
            ("first_time", .string(self.first.rfc3339)),
            ("last_time", .string(self.last.rfc3339)),
            ("rows", .array(self.rows.map { row in
                .object([
                    ("upstream", .string(row.label)),
                    ("started", .array(row.started.map { .number($0) })),
                    ("failed", .array(row.failed.map { .number($0) })),
                ])
            })),
        ])
    }

    /// Reads `timeline` of report.json; `nil` when absent or not as written.
    public init?(json: JSONValue) {
        guard json["bins"].int == Self.bins, let first = json["first_time"].string.flatMap(Timestamp.init(rfc3339:)),
              let last = json["last_time"].string.flatMap(Timestamp.init(rfc3339:))
        else { return nil }
        self.first = first
        self.last = last
        self.rows = json["rows"].items.map { row in
            func counts(_ value: JSONValue) -> [Int] {
                let items = value.items.map { max(0, $0.int ?? 0) }
                return Array((items + [Int](repeating: 0, count: Self.bins)).prefix(Self.bins))
            }
            return Row(label: row["upstream"].string ?? "?", started: counts(row["started"]), failed: counts(row["failed"]))
        }
    }
}
