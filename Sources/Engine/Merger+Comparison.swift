import CaptureModel
import HTTP1

/// The healthy heads kept to compare failing ones with (`HeadSampler` decides which are
/// copied): per upstream and request the first of each of the latest seconds that had one, the
/// same per upstream, and per upstream the failing lines it sent and since when. Bounded by the
/// caps whatever the traffic: at most 1024 × 2 + 256 × 4 heads of at most 8 KiB (24 MiB; a
/// head is a few hundred bytes, so about 1 MiB in practice).
struct HeadStore {
    struct Entry {
        var head: ResponseHead
        var connection: UInt32
        var server: Endpoint
        var request: RequestInfo
        var second: Int64
    }

    /// The heads kept per request and per upstream, oldest first: the first of each of the
    /// latest seconds that had one (`keptPerKey`, `keptPerServer`).
    var byKey: [HeadSampler.Key: [Entry]] = [:]
    var byServer: [Endpoint: [Entry]] = [:]
    /// Per upstream, each failing line it sent (as shown) and the first time it did.
    var failingLines: [Endpoint: [String: Timestamp]] = [:]
    /// Failing lines remembered per upstream at most.
    static let failingLinesTracked = 16
    /// Seconds' heads kept per request, and per upstream: a failing connection is judged a
    /// little after it closed, so the heads of the seconds before it are still there.
    static let keptPerKey = 2
    static let keptPerServer = 4

    /// Keeps `transaction`'s head where it is the first of a later second than the ones kept.
    mutating func add(_ transaction: FinishedTransaction) {
        guard let head = transaction.head else { return }
        let entry = Entry(
            head: head, connection: transaction.connection, server: transaction.server, request: transaction.request,
            second: HeadSampler.second(head.time))
        let key = HeadSampler.Key(server: transaction.server, method: transaction.request.method, target: transaction.request.target)
        Self.keep(entry, in: &self.byKey, key, limit: HeadSampler.keysTracked, depth: Self.keptPerKey)
        Self.keep(entry, in: &self.byServer, transaction.server, limit: HeadSampler.serversTracked, depth: Self.keptPerServer)
    }

    private static func keep<K: Hashable>(_ entry: Entry, in table: inout [K: [Entry]], _ key: K, limit: Int, depth: Int) {
        if let kept = table[key]?.last {
            guard kept.second < entry.second else { return }
        } else if table.count >= limit {
            return
        }
        table[key, default: []].append(entry)
        if table[key]!.count > depth { table[key]!.removeFirst() }
    }

    /// Of `entries`, the one closest in time to `time` (the earlier on a tie).
    static func nearest(_ entries: [Entry], to time: Timestamp) -> Entry? {
        entries.min { a, b in
            let da = abs(a.head.time.nanoseconds(since: time))
            let db = abs(b.head.time.nanoseconds(since: time))
            return da != db ? da < db : (a.head.time, a.connection) < (b.head.time, b.connection)
        }
    }

    /// Remembers that `server` sent `line` in a failing head at `time`.
    mutating func noteFailing(_ line: String, server: Endpoint, at time: Timestamp) {
        if self.failingLines[server] == nil, self.failingLines.count >= HeadSampler.serversTracked { return }
        if let since = self.failingLines[server]?[line] {
            if time < since { self.failingLines[server]![line] = time }
        } else if (self.failingLines[server]?.count ?? 0) < Self.failingLinesTracked {
            self.failingLines[server, default: [:]][line] = time
        }
    }
}

extension Merger {
    /// Puts a failing connection's response head beside the nearest healthy one kept: the same
    /// upstream, method and target; else the same upstream; else the pool member (same port,
    /// another address) whose kept head is closest in time. The head itself is let go.
    mutating func compareHead(_ report: inout ConnectionReport) {
        guard let head = report.responseHead else { return }
        report.responseHead = nil
        let index = report.transactions.firstIndex { $0.response?.offset == head.offset }
        let request = index.flatMap { report.transactions[$0].request }
        let evidence = report.findings.first?.evidence.first { $0.direction == .server }?.streamOffset
        let offendingLine = Self.offendingLine(head, evidence: evidence)
        if let offendingLine { self.heads.noteFailing(offendingLine, server: report.server, at: head.time) }

        let chosen: (entry: HeadStore.Entry, match: HeadComparison.Match)
        if let request, let entry = self.heads.byKey[HeadSampler.Key(server: report.server, method: request.method, target: request.target)]
            .flatMap({ HeadStore.nearest($0, to: head.time) }) {
            chosen = (entry, .sameTarget)
        } else if let entry = self.heads.byServer[report.server].flatMap({ HeadStore.nearest($0, to: head.time) }) {
            chosen = (entry, .sameUpstream)
        } else if let entry = HeadStore.nearest(self.poolMembers(of: report.server).flatMap { self.heads.byServer[$0] ?? [] }, to: head.time) {
            chosen = (entry, .poolMember)
        } else {
            return
        }
        let failing = HeadComparison.Side(
            connection: report.id, transaction: index.map { $0 + 1 } ?? head.transaction, server: report.server,
            request: request.map { "\($0.method) \($0.target)" }, status: head.status, time: head.time, frame: head.frame,
            streamOffset: head.offset, lines: [])
        let healthy = HeadComparison.Side(
            connection: chosen.entry.connection, transaction: chosen.entry.head.transaction, server: chosen.entry.server,
            request: "\(chosen.entry.request.method) \(chosen.entry.request.target)", status: chosen.entry.head.status,
            time: chosen.entry.head.time, frame: chosen.entry.head.frame, streamOffset: chosen.entry.head.offset, lines: [])
        var comparison = HeadComparison(
            failing: failing, failingBytes: head.bytes, healthy: healthy, healthyBytes: chosen.entry.head.bytes,
            matchedBy: chosen.match, evidenceOffset: evidence)
        comparison.members = self.members(comparison, server: report.server)
        report.comparison = comparison
    }

    /// The other upstreams on `server`'s port at another address that have a head kept or a
    /// failing line noted, in address order.
    func poolMembers(of server: Endpoint) -> [Endpoint] {
        var members = Set<Endpoint>()
        for other in self.heads.byServer.keys where other.port == server.port && other.address != server.address { members.insert(other) }
        for other in self.heads.failingLines.keys where other.port == server.port && other.address != server.address { members.insert(other) }
        return members.sorted { $0.description < $1.description }
    }

    /// What each member of the failing upstream's pool sends on the line in question (the
    /// offending line, else the first that differs): the failing line since when, or the line
    /// of the same field name in its kept healthy head. Empty unless the pool has two members.
    func members(_ comparison: HeadComparison, server: Endpoint) -> [HeadComparison.Member] {
        let others = self.poolMembers(of: server)
        guard !others.isEmpty else { return [] }
        let row: HeadComparison.Row?
        if let offending = comparison.offending {
            row = comparison.rows.first { $0.failing == offending.line - 1 }
        } else {
            row = comparison.rows.first { row in
                row.failing != nil && comparison.differences.contains { $0.line == row.failing! + 1 && ($0.kind == .changed || $0.kind == .onlyFailing) }
            }
        }
        guard let row, let failingIndex = row.failing else { return [] }
        let failingLine = comparison.failing.lines[failingIndex]
        // The field the healthy heads are searched for: the healthy line's name, else the failing one's.
        let name = (row.healthy.map { comparison.healthy.lines[$0] } ?? failingLine).split(separator: ":", maxSplits: 1).first.map(String.init)
        var members: [HeadComparison.Member] = []
        for member in ([server] + others).sorted(by: { $0.description < $1.description }) {
            if let since = self.heads.failingLines[member]?[failingLine] {
                members.append(HeadComparison.Member(server: member, sends: failingLine, failing: true, since: since))
            } else if let name, let entry = self.heads.byServer[member]?.last {
                let lines = HeadComparison.lines(entry.head.bytes).map { HeadComparison.shown(entry.head.bytes[$0.range]) }
                let wanted = HeadComparison.normalized(Array(name.utf8))
                if let line = lines.dropFirst().first(where: { line in
                    line.contains(":") && HeadComparison.normalized(Array(line.split(separator: ":", maxSplits: 1)[0].utf8)) == wanted
                }) {
                    members.append(HeadComparison.Member(server: member, sends: line, failing: false, since: nil))
                }
            }
        }
        return members.count >= 2 ? members : []
    }

    /// The failing head's line (as shown) that holds the byte at `evidence`, if it does.
    static func offendingLine(_ head: ResponseHead, evidence: UInt64?) -> String? {
        guard let evidence, evidence >= head.offset else { return nil }
        let at = Int(evidence - head.offset)
        guard let line = HeadComparison.lines(head.bytes).first(where: { $0.start <= at && at <= $0.end }) else { return nil }
        return HeadComparison.shown(head.bytes[line.range])
    }
}
