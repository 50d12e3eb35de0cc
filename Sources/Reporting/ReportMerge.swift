import CaptureModel

/// Several `edgescope.report/1` documents (one per gateway host, or per capture) merged into
/// one of the same schema: a fleet's postmortem. Counts are summed, upstreams are one table
/// with each source's counts beside the sums (`by_source`), the timelines are redrawn over one
/// window, and the listed connections and client errors of every source are listed, each
/// with its `source` label. `sources[]` says what each source was.
///
/// Only names are added (`sources`, `by_source`, `source` on a connection or client error);
/// every member keeps its meaning. Frame numbers, ids and `file` indexes stay those of the
/// source: a connection is found by its `source` and `id`.
public enum ReportMerge {
    /// One report to merge.
    public struct Input {
        /// What the merged report calls it (a host name, a directory name).
        public var label: String
        /// The report.json as named on the command line.
        public var path: String
        /// Its document, already checked to be `edgescope.report/1`.
        public var json: JSONValue

        /// An input from its parts.
        public init(label: String, path: String, json: JSONValue) {
            self.label = label
            self.path = path
            self.json = json
        }
    }

    /// The merged document.
    public static func merge(_ inputs: [Input]) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("schema", .string(JSONReport.schema)),
            ("generator", self.generator(inputs)),
            ("source", self.source(inputs)),
            ("warnings", .array(inputs.flatMap { input in
                input.json["warnings"].items.compactMap(\.string).map { JSONValue.string("\(input.label): \($0)") }
            })),
            ("totals", self.totals(inputs)),
        ]
        let upstreams = self.upstreams(inputs)
        members.append(("upstreams", .array(upstreams)))
        members.append(("timeline", self.timeline(inputs, order: upstreams.compactMap { $0["server"].string })?.json ?? .null))
        members.append(("connections", .array(inputs.flatMap { input in
            input.json["connections"].items.map { self.labelled($0, input: input, rewritingSlice: true) }
        })))
        if inputs.contains(where: { !$0.json["client_hop"].isNull }) {
            members.append(("client_hop", self.clientHop(inputs)))
            members.append(("client_errors", .array(inputs.flatMap { input in
                input.json["client_errors"].items.map { self.labelled($0, input: input, rewritingSlice: false) }
            })))
        }
        members.append(("sources", .array(inputs.map { input in
            var source: [(String, JSONValue)] = [
                ("label", .string(input.label)),
                ("report", .string(input.path)),
                ("source", input.json["source"]),
                ("generator", input.json["generator"]),
                ("totals", input.json["totals"]),
            ]
            if !input.json["capture"].isNull { source.append(("capture", input.json["capture"])) }
            return .object(source)
        })))
        return .object(members)
    }

    /// A label for each report: the given ones first, then the report's own host
    /// (`capture.host` or `source.host`, when a report carries one), else the name of the
    /// directory holding it; a label taken twice gets ` (2)`, ` (3)`...
    public static func labels(paths: [String], documents: [JSONValue], given: [String]) -> [String] {
        var labels: [String] = []
        var taken: Set<String> = []
        for (index, path) in paths.enumerated() {
            var label: String
            if index < given.count {
                label = given[index]
            } else if let host = documents[index]["capture"]["host"].string ?? documents[index]["source"]["host"].string, !host.isEmpty {
                label = host
            } else {
                label = self.directoryName(path)
            }
            if taken.contains(label) {
                var count = 2
                while taken.contains("\(label) (\(count))") { count += 1 }
                label = "\(label) (\(count))"
            }
            taken.insert(label)
            labels.append(label)
        }
        return labels
    }

    /// `gw-a` for `gw-a/report.json` and `/srv/gw-a/report.json`; the file's name for a file in
    /// the current or root directory.
    static func directoryName(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let file = parts.popLast() ?? path
        while let last = parts.last, last == "." { parts.removeLast() }
        guard let directory = parts.last, directory != ".." else { return file }
        return directory
    }

    // MARK: Parts

    private static func generator(_ inputs: [Input]) -> JSONValue {
        let profiles = self.distinct(inputs.compactMap { $0.json["generator"]["gateway_profile"].string })
        return .object([
            ("name", .string("edgescope")),
            ("gateway_profile", profiles.isEmpty ? .null : .string(profiles.joined(separator: ", "))),
            ("redacted", .bool(inputs.allSatisfy { $0.json["generator"]["redacted"].bool != false })),
            ("merged", .number(inputs.count)),
        ])
    }

    /// `source` over every input: counts summed, the widest window, paths and link types listed.
    private static func source(_ inputs: [Input]) -> JSONValue {
        let sources = inputs.map { $0.json["source"] }
        var members: [(String, JSONValue)] = []
        var keys: [String] = []
        for source in sources { for (key, _) in source.members where !keys.contains(key) && key != "files" { keys.append(key) } }
        for key in keys {
            let values = sources.map { $0[key] }.filter { !$0.isNull }
            let value: JSONValue
            switch key {
            case "first_time":
                value = .optional(values.compactMap { $0.string.flatMap(Timestamp.init(rfc3339:)) }.min()?.rfc3339)
            case "last_time":
                value = .optional(values.compactMap { $0.string.flatMap(Timestamp.init(rfc3339:)) }.max()?.rfc3339)
            case "snap_length":
                value = values.compactMap(\.int).max().map { .number($0) } ?? .null
            case "complete":
                value = .bool(sources.allSatisfy { $0["complete"].bool != false })
            case "read_error":
                let errors = zip(inputs, sources).compactMap { input, source in source["read_error"].string.map { "\(input.label): \($0)" } }
                value = errors.isEmpty ? .null : .string(errors.joined(separator: "; "))
            default:
                value = self.combined(values)
            }
            members.append((key, value))
        }
        return .object(members)
    }

    /// Numbers summed, texts listed once each (`, `), anything else the first given.
    private static func combined(_ values: [JSONValue]) -> JSONValue {
        guard let first = values.first else { return .null }
        switch first {
        case .int, .uint:
            var total: UInt64 = 0
            for value in values {
                switch value {
                case .int(let number): total &+= UInt64(clamping: number)
                case .uint(let number): total &+= number
                default: break
                }
            }
            return .number(total)
        case .string:
            return .string(self.distinct(values.compactMap(\.string)).joined(separator: ", "))
        case .null, .bool, .double, .array, .object:
            return first
        }
    }

    private static func totals(_ inputs: [Input]) -> JSONValue {
        let totals = inputs.map { $0.json["totals"] }
        var members: [(String, JSONValue)] = []
        var keys: [String] = []
        for item in totals { for (key, _) in item.members where !keys.contains(key) { keys.append(key) } }
        for key in keys {
            switch key {
            case "classes":
                let sums = self.summed(totals.map { $0["classes"] })
                // In the order `edgescope.report/1` lists them, then any other.
                let order = VerdictClass.allCases.map(\.rawValue)
                members.append((key, .object(order.compactMap { name in sums.first { $0.0 == name } }
                    + sums.filter { !order.contains($0.0) })))
            case "causes":
                members.append((key, .object(self.byCount(self.summed(totals.map { $0["causes"] })))))
            default:
                members.append((key, self.combined(totals.map { $0[key] }.filter { !$0.isNull })))
            }
        }
        return .object(members)
    }

    /// Per-key sums of objects of counts, keys in the order first met.
    private static func summed(_ objects: [JSONValue]) -> [(String, JSONValue)] {
        var keys: [String] = []
        var sums: [String: Int] = [:]
        for object in objects {
            for (key, value) in object.members {
                if sums[key] == nil { keys.append(key) }
                sums[key, default: 0] += value.int ?? 0
            }
        }
        return keys.map { ($0, .number(sums[$0]!)) }
    }

    /// Most first, then by name.
    private static func byCount(_ counts: [(String, JSONValue)]) -> [(String, JSONValue)] {
        counts.sorted { a, b in
            let x = a.1.int ?? 0
            let y = b.1.int ?? 0
            return x != y ? x > y : a.0 < b.0
        }
    }

    /// One row per upstream across every source, the counts summed and each source's beside
    /// them in `by_source`; the pool member failed most first, as in one report.
    private static func upstreams(_ inputs: [Input]) -> [JSONValue] {
        var order: [String] = []
        var rows: [String: [(label: String, row: JSONValue)]] = [:]
        for input in inputs {
            for row in input.json["upstreams"].items {
                let server = row["server"].string ?? "?"
                if rows[server] == nil { order.append(server) }
                rows[server, default: []].append((input.label, row))
            }
        }
        let merged = order.map { server -> JSONValue in
            let parts = rows[server]!
            var keys: [String] = []
            for part in parts { for (key, _) in part.row.members where !keys.contains(key) { keys.append(key) } }
            var members: [(String, JSONValue)] = []
            for key in keys {
                let values = parts.map { $0.row[key] }
                switch key {
                case "server":
                    members.append((key, .string(server)))
                case "name":
                    members.append((key, values.first { !$0.isNull } ?? .null))
                case "causes", "failed_causes":
                    members.append((key, .object(self.byCount(self.summed(values)))))
                case "response_time_ms":
                    // Medians and percentiles do not add up: only the counts and the maximum do.
                    guard values.allSatisfy({ !$0.isNull }) else { continue }
                    members.append((key, .object([
                        ("responses", .number(values.reduce(0) { $0 + ($1["responses"].int ?? 0) })),
                        ("median", .null), ("p99", .null),
                        ("max", values.compactMap { $0["max"].double }.max().map { .double($0) } ?? .null),
                    ])))
                default:
                    // A traffic member some source lacks (it did not see every connection) is left out.
                    guard values.allSatisfy({ !$0.isNull }) else { continue }
                    members.append((key, self.combined(values)))
                }
            }
            members.append(("by_source", .object(parts.map { part in
                (part.label, .object(["connections", "failed", "relayed", "healthy"].compactMap { key in
                    part.row[key].isNull ? nil : (key, part.row[key])
                }))
            })))
            return .object(members)
        }
        return Summary.worstFirst(merged, failed: { $0["failed"].int ?? 0 }, server: { $0["server"].string ?? "?" })
    }

    /// One timeline over the widest window: each source's columns moved to the column their
    /// middle falls in.
    private static func timeline(_ inputs: [Input], order: [String]) -> Timeline? {
        let timelines = inputs.compactMap { Timeline(json: $0.json["timeline"]) }
        guard let first = timelines.map(\.first).min(), let last = timelines.map(\.last).max() else { return nil }
        let window = (first: first, last: max(first, last))
        var servers: [(server: String, started: [Int], failed: [Int])] = []
        for timeline in timelines {
            let span = timeline.last.nanoseconds(since: timeline.first)
            for row in timeline.rows {
                var started = [Int](repeating: 0, count: Timeline.bins)
                var failed = [Int](repeating: 0, count: Timeline.bins)
                for bin in 0..<Timeline.bins {
                    let middle = timeline.first.nanoseconds + Int64((Double(span) * (Double(bin) + 0.5) / Double(Timeline.bins)).rounded(.down))
                    let at = Timeline.bin(Timestamp(nanoseconds: middle), window: window)
                    started[at] += row.started[bin]
                    failed[at] += row.failed[bin]
                }
                servers.append((row.label, started, failed))
            }
        }
        return Timeline(window: window, servers: servers, order: order)
    }

    /// `item` with `source` after its first member (`id`, or `client`); a connection's slice
    /// path made to name the file from where the reports were named, as the command line did.
    private static func labelled(_ item: JSONValue, input: Input, rewritingSlice: Bool) -> JSONValue {
        guard case .object(var members) = item else { return item }
        members.removeAll { $0.0 == "source" }
        members.insert(("source", .string(input.label)), at: min(1, members.count))
        if rewritingSlice, let at = members.firstIndex(where: { $0.0 == "slice" }), let slice = members[at].1.string {
            let directory = input.path.lastIndex(of: "/").map { String(input.path[...$0]) } ?? ""
            members[at].1 = .string(directory + slice)
        }
        return .object(members)
    }

    private static func clientHop(_ inputs: [Input]) -> JSONValue {
        let hops = inputs.filter { !$0.json["client_hop"].isNull }
        var members: [(String, JSONValue)] = [
            ("gateways", .array(hops.flatMap { input in
                input.json["client_hop"]["gateways"].items.map { self.labelled($0, input: input, rewritingSlice: false) }
            })),
        ]
        var keys: [String] = []
        for input in hops { for (key, _) in input.json["client_hop"].members where key != "gateways" && !keys.contains(key) { keys.append(key) } }
        for key in keys {
            members.append((key, self.combined(hops.map { $0.json["client_hop"][key] }.filter { !$0.isNull })))
        }
        return .object(members)
    }

    private static func distinct(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        return values.filter { seen.insert($0).inserted }
    }
}
