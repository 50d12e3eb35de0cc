import CaptureModel

/// An upstream connection, as the joiner sees it.
public struct JoinableConnection: Sendable {
    public var id: UInt32
    /// The gateway's side.
    public var gatewaySide: Endpoint
    /// The upstream's side.
    public var upstream: Endpoint
    public var start: Timestamp
    public var end: Timestamp
    /// Its requests: method, target, request id.
    public var requests: [(method: String, target: String, requestID: String?)]
    public var code: FindingCode
    public var verdictClass: VerdictClass
    public var summary: String

    public init(
        id: UInt32, gatewaySide: Endpoint, upstream: Endpoint, start: Timestamp, end: Timestamp,
        requests: [(method: String, target: String, requestID: String?)], code: FindingCode, verdictClass: VerdictClass, summary: String
    ) {
        self.id = id
        self.gatewaySide = gatewaySide
        self.upstream = upstream
        self.start = start
        self.end = end
        self.requests = requests
        self.code = code
        self.verdictClass = verdictClass
        self.summary = summary
    }
}

/// A failure a client saw, as the joiner sees it.
public struct JoinableClientError: Sendable {
    /// What the client saw, in the words of `ClientFailure`.
    public enum Failure: Sendable { case errorStatus, emptyReply, reset, cutBody }

    public var client: Endpoint
    /// When the response's first byte (or the close) was captured.
    public var time: Timestamp
    public var method: String
    public var target: String
    public var requestID: String?
    public var status: Int?
    public var failure: Failure
    public var upstreamServer: Endpoint?

    public init(
        client: Endpoint, time: Timestamp, method: String, target: String, requestID: String?, status: Int?, failure: Failure,
        upstreamServer: Endpoint?
    ) {
        self.client = client
        self.time = time
        self.method = method
        self.target = target
        self.requestID = requestID
        self.status = status
        self.failure = failure
        self.upstreamServer = upstreamServer
    }
}

/// Joins gateway log records to the connections and client errors they are about. A record
/// joins a connection when nothing it names contradicts it (the upstream, the gateway's own
/// port, the request, the request id) and its time falls in the connection's, within
/// `slack`; one naming several upstreams (a request tried on several) joins one connection
/// per upstream, any other one connection. Separately, it joins at most one client error.
/// Connections are joined as they come (a streamed report), so the first that fits takes it,
/// except that a failing connection may take a line of its request a healthy one took first.
public struct GatewayLogJoiner {
    public private(set) var records: [GatewayLogRecord] = []
    private var connectionJoins: [Int] = []
    /// How many of `connectionJoins` are healthy connections'.
    private var healthyJoins: [Int] = []
    private var errorJoined: [Bool] = []
    // Each key's records by time: a join only looks at those whose time can fall in its
    // window. An access log names the same few upstreams and targets on most of its lines,
    // and every connection would otherwise be checked against all of them.
    /// Every record naming the upstream, for a connection that carried no request.
    private var byUpstream: [Endpoint: TimeIndex] = [:]
    /// Records naming the upstream but no request.
    private var byUpstreamWithoutRequest: [Endpoint: TimeIndex] = [:]
    /// Records naming the upstream and a request, by both: a connection that carried requests
    /// can only take one naming its upstream and one of its targets.
    private var byUpstreamAndTarget: [UpstreamTarget: TimeIndex] = [:]
    /// Records naming a request and no upstream, by target.
    private var byTargetWithoutUpstream: [String: TimeIndex] = [:]
    private var byClientPort: [UInt16: TimeIndex] = [:]
    private var byRequestID: [String: TimeIndex] = [:]
    /// Records with a request but no upstream (HAProxy's, Apache's access logs), the ones a
    /// connection that carried no request may be joined to by time.
    private var requestsNamingNoUpstream = TimeIndex()
    /// Records that name neither an upstream nor a request (Apache's `[client ...]` lines,
    /// lighttpd's error.log), by time: only their time can tie them.
    private var byTimeOnly: [(time: Int64, index: Int)] = []
    private var byTimeOnlySorted = true
    /// The records each connection took, to give them back (`release`).
    private var taken: [UInt32: Taken] = [:]

    /// The records one connection took: most take one, kept without a list.
    private struct Taken {
        var first: Int
        var more: [Int] = []
        var healthy: Bool
    }

    /// Records let go because nothing they could join was left (`dropUnjoinable`).
    public private(set) var droppedCount = 0
    /// The first of those (as many as the last call was told to list), in the order added.
    private var droppedFirst: [(sequence: Int, record: GatewayLogRecord)] = []
    /// Each held record's place among every record added (the files' order).
    private var sequences: [Int] = []
    private var addedCount = 0
    /// Records added from each file (`GatewayLogRecord.file`), held or let go.
    public private(set) var countsByFile: [String: Int] = [:]
    /// The time of the first record added, when it has one.
    public private(set) var firstRecordTime: Timestamp?

    /// How far outside a connection's first and last packet a record's time may be: logs are
    /// written after the fact, and clocks differ.
    public static let slack: Int64 = 2_000_000_000
    /// Records listed per connection; the rest are counted.
    public static let notesKept = 50

    public init() {}

    /// Takes records (all of a file at once for `analyze`, as they come for `capture`).
    public mutating func add(_ records: [GatewayLogRecord]) {
        if self.addedCount == 0, let first = records.first { self.firstRecordTime = first.time }
        // Counted by runs of the same file (a refresh's records are one file's): a hash a run.
        var start = 0
        while start < records.count {
            let file = records[start].file
            var end = start + 1
            while end < records.count, records[end].file == file { end += 1 }
            self.countsByFile[file, default: 0] += end - start
            start = end
        }
        // A whole file's records (`analyze`) become the list as they are, not copied into it.
        let first = self.records.count
        if self.records.isEmpty { self.records = records } else { self.records += records }
        self.connectionJoins += repeatElement(0, count: records.count)
        self.healthyJoins += repeatElement(0, count: records.count)
        self.errorJoined += repeatElement(false, count: records.count)
        self.sequences += self.addedCount..<(self.addedCount + records.count)
        self.addedCount += records.count
        self.index(from: first)
    }

    /// Adds the records from `first` on to the keys' time indexes.
    private mutating func index(from first: Int) {
        for index in first..<self.records.count {
            let record = self.records[index]
            guard let time = record.time?.nanoseconds else { continue }
            let span = record.span
            for upstream in Set(record.upstreams) {
                self.byUpstream[upstream, default: TimeIndex()].append(time: time, span: span, index: index)
                if let target = record.target {
                    self.byUpstreamAndTarget[UpstreamTarget(upstream: upstream, target: target), default: TimeIndex()]
                        .append(time: time, span: span, index: index)
                } else {
                    self.byUpstreamWithoutRequest[upstream, default: TimeIndex()].append(time: time, span: span, index: index)
                }
            }
            if let target = record.target {
                if record.upstreams.isEmpty {
                    self.byTargetWithoutUpstream[target, default: TimeIndex()].append(time: time, span: span, index: index)
                    if !target.isEmpty { self.requestsNamingNoUpstream.append(time: time, span: span, index: index) }
                }
            }
            if record.upstreams.isEmpty, record.target == nil, record.gatewayPort == nil, record.tellsOfAFailure {
                if let last = self.byTimeOnly.last, last.time > time { self.byTimeOnlySorted = false }
                self.byTimeOnly.append((time, index))
            }
            if let port = record.clientPort { self.byClientPort[port, default: TimeIndex()].append(time: time, span: span, index: index) }
            for id in Set(record.requestIDs) { self.byRequestID[id, default: TimeIndex()].append(time: time, span: span, index: index) }
        }
    }

    /// Records that joined neither a connection nor a client error, in file order: every one
    /// held, and the first of those let go (`dropUnjoinable`), so its first `listing` are
    /// exactly the first that many.
    public var unmatched: [GatewayLogRecord] {
        let held = self.records.indices.filter { self.connectionJoins[$0] == 0 && !self.errorJoined[$0] }
        guard !self.droppedFirst.isEmpty else { return held.map { self.records[$0] } }
        return (self.droppedFirst + held.map { (self.sequences[$0], self.records[$0]) }).sorted { $0.sequence < $1.sequence }.map(\.record)
    }

    /// How many records joined neither a connection nor a client error, let go ones included.
    public var unmatchedCount: Int {
        self.droppedCount + self.records.indices.count { self.connectionJoins[$0] == 0 && !self.errorJoined[$0] }
    }

    /// Lets go of the records that joined nothing and can join nothing still to be joined:
    /// connections that begin at `laterConnectionsFrom` or later, the `connections` given (first
    /// and last packet), client errors at `laterClientErrorsFrom` or later (`nil`: none), and
    /// the `clientErrors` given. A record must overlap one of those, within `slack` (and, for a
    /// client error, `longestClientWait` before it), to join it. Keeps the first `listing` of
    /// those let go for `unmatched`.
    public mutating func dropUnjoinable(
        laterConnectionsFrom: Timestamp, connections: [(start: Timestamp, end: Timestamp)], laterClientErrorsFrom: Timestamp?,
        clientErrors: [Timestamp], listing: Int
    ) {
        func mayJoin(_ record: GatewayLogRecord) -> Bool {
            // A record without a time overlaps nothing.
            guard let time = record.time?.nanoseconds else { return false }
            // (Saturated: a time near 2242 and a duration of decades would overflow.)
            let (sum, overflow) = time.addingReportingOverflow(record.span)
            let reach = overflow ? Int64.max : sum
            if reach >= laterConnectionsFrom.nanoseconds - Self.slack { return true }
            if let from = laterClientErrorsFrom, reach >= from.nanoseconds - Self.longestClientWait - Self.slack { return true }
            if connections.contains(where: { Self.overlaps(record, from: $0.start, to: $0.end) }) { return true }
            return clientErrors.contains { Self.overlaps(record, from: Timestamp(nanoseconds: $0.nanoseconds - Self.longestClientWait), to: $0) }
        }
        var kept: [Int] = []
        var dropped: [(sequence: Int, record: GatewayLogRecord)] = []
        for index in self.records.indices {
            if self.connectionJoins[index] > 0 || self.errorJoined[index] || mayJoin(self.records[index]) {
                kept.append(index)
            } else {
                self.droppedCount += 1
                if dropped.count < listing { dropped.append((self.sequences[index], self.records[index])) }
            }
        }
        guard kept.count < self.records.count else { return }
        self.droppedFirst = Array((self.droppedFirst + dropped).sorted { $0.sequence < $1.sequence }.prefix(listing))
        var newIndex: [Int: Int] = [:]
        for (position, index) in kept.enumerated() where self.connectionJoins[index] > 0 { newIndex[index] = position }
        self.records = kept.map { self.records[$0] }
        self.connectionJoins = kept.map { self.connectionJoins[$0] }
        self.healthyJoins = kept.map { self.healthyJoins[$0] }
        self.errorJoined = kept.map { self.errorJoined[$0] }
        self.sequences = kept.map { self.sequences[$0] }
        // A connection's records were joined: all kept, each at its new place.
        func moved(_ index: Int) -> Int {
            guard let position = newIndex[index] else { preconditionFailure("a record a connection took was let go") }
            return position
        }
        for (id, taken) in self.taken {
            self.taken[id] = Taken(first: moved(taken.first), more: taken.more.map(moved), healthy: taken.healthy)
        }
        self.byUpstream = [:]
        self.byUpstreamWithoutRequest = [:]
        self.byUpstreamAndTarget = [:]
        self.byTargetWithoutUpstream = [:]
        self.byClientPort = [:]
        self.byRequestID = [:]
        self.requestsNamingNoUpstream = TimeIndex()
        self.byTimeOnly = []
        self.byTimeOnlySorted = true
        self.index(from: 0)
    }

    /// Records joined to some connection or client error.
    public var matchedCount: Int {
        self.records.indices.count { self.connectionJoins[$0] > 0 || self.errorJoined[$0] }
    }

    /// The records about `connection` (taking them), with any disagreement with its verdict.
    public mutating func join(_ connection: JoinableConnection) -> [GatewayLogNote] {
        // `matches` takes only a record whose time overlaps the connection's, within `slack`.
        let from = connection.start.nanoseconds - Self.slack
        let to = connection.end.nanoseconds + Self.slack
        var candidates: [Int] = []
        if connection.requests.isEmpty {
            self.byUpstream[connection.upstream]?.window(from: from, to: to, into: &candidates)
            // (Only records that name no upstream: `matches` refuses the others.)
            // A connection that never carried a request (refused, TLS failed): a log naming no
            // upstream (HAProxy's, Apache's access log) can still be about it, by its time.
            self.requestsNamingNoUpstream.window(from: from, to: to, into: &candidates)
        } else {
            // A record naming a request matches only one of the connection's.
            self.byUpstreamWithoutRequest[connection.upstream]?.window(from: from, to: to, into: &candidates)
            // Each target once (a short connection has one request: no set made for it).
            let targets = connection.requests.count == 1 ? [connection.requests[0].target] : Array(Set(connection.requests.map(\.target)))
            for target in targets {
                self.byUpstreamAndTarget[UpstreamTarget(upstream: connection.upstream, target: target)]?.window(from: from, to: to, into: &candidates)
                self.byTargetWithoutUpstream[target]?.window(from: from, to: to, into: &candidates)
            }
        }
        if connection.verdictClass != .ok, !self.byTimeOnly.isEmpty {
            if !self.byTimeOnlySorted {
                self.byTimeOnly.sort { $0.time < $1.time }
                self.byTimeOnlySorted = true
            }
            // Records span at most a second or so before the connection; binary search for the first.
            let earliest = connection.start.nanoseconds - Self.slack - 2_000_000_000
            var low = 0
            var high = self.byTimeOnly.count
            while low < high {
                let middle = (low + high) / 2
                if self.byTimeOnly[middle].time < earliest { low = middle + 1 } else { high = middle }
            }
            while low < self.byTimeOnly.count, self.byTimeOnly[low].time <= connection.end.nanoseconds + Self.slack {
                candidates.append(self.byTimeOnly[low].index)
                low += 1
            }
        }
        // A keep-alive connection carries thousands of requests: looked up by target, not
        // scanned. A few are scanned (a short connection's one), with no table made.
        let sent = SentRequests(connection.requests)
        // Healthy here: the connection carried its responses whole (an upstream's own 5xx included).
        let healthy = connection.verdictClass == .ok || connection.verdictClass == .relayed
        var notes: [GatewayLogNote] = []
        for index in Self.inFileOrder(candidates) {
            let record = self.records[index]
            // A connection that failed may take a line of a request it sent that a healthy one
            // took: connections are joined as they are judged, and at a busy gateway a healthy
            // connection to the same upstream with the same request, judged first, fits a
            // failure's line as well.
            let room = max(1, record.upstreams.count)
            guard self.connectionJoins[index] < room
                || (!healthy && record.target != nil && self.connectionJoins[index] - self.healthyJoins[index] < room),
                let matchedBy = Self.matches(record, connection, sent: sent)
            else { continue }
            self.connectionJoins[index] += 1
            if healthy { self.healthyJoins[index] += 1 }
            if self.taken[connection.id] == nil {
                self.taken[connection.id] = Taken(first: index, healthy: healthy)
            } else {
                self.taken[connection.id]!.more.append(index)
            }
            notes.append(GatewayLogNote(record: record, matchedBy: matchedBy, disagreement: Disagreement.about(record, connection)))
        }
        return notes
    }

    /// Gives back the records connection `id` took: it was not an upstream connection after
    /// all (a client's connection to the gateway, judged before the gateway's listener was known).
    public mutating func release(_ id: UInt32) {
        guard let taken = self.taken.removeValue(forKey: id) else { return }
        for index in CollectionOfOne(taken.first) + taken.more {
            self.connectionJoins[index] -= 1
            if taken.healthy { self.healthyJoins[index] -= 1 }
        }
    }

    /// The records about `error` (taking them), with any disagreement with what the client got.
    public mutating func join(_ error: JoinableClientError) -> [GatewayLogNote] {
        // `matches` takes a record from as long as `longestClientWait` before the error when
        // the client's own key (its port, the request id) ties them, else only at its moment.
        let to = error.time.nanoseconds + Self.slack
        let longest = error.time.nanoseconds - Self.longestClientWait - Self.slack
        var candidates: [Int] = []
        self.byClientPort[error.client.port]?.window(from: longest, to: to, into: &candidates)
        if let id = error.requestID { self.byRequestID[id]?.window(from: longest, to: to, into: &candidates) }
        // By the request line: a record naming no upstream, or the error's upstream (any when
        // the error names none).
        let moment = error.time.nanoseconds - Self.slack
        self.byTargetWithoutUpstream[error.target]?.window(from: moment, to: to, into: &candidates)
        for upstream in error.upstreamServer.map({ [$0] }) ?? Array(self.byUpstream.keys) {
            self.byUpstreamAndTarget[UpstreamTarget(upstream: upstream, target: error.target)]?.window(from: moment, to: to, into: &candidates)
        }
        var notes: [GatewayLogNote] = []
        for index in Self.inFileOrder(candidates) where !self.errorJoined[index] {
            let record = self.records[index]
            guard let matchedBy = Self.matches(record, error) else { continue }
            self.errorJoined[index] = true
            notes.append(GatewayLogNote(record: record, matchedBy: matchedBy, disagreement: Disagreement.about(record, error)))
        }
        return notes
    }

    /// `candidates` once each, in file order: the first record that fits takes the join.
    static func inFileOrder(_ candidates: [Int]) -> [Int] {
        guard candidates.count > 1 else { return candidates }
        var sorted = candidates
        sorted.sort()
        var kept = 1
        for index in 1..<sorted.count where sorted[index] != sorted[kept - 1] {
            sorted[kept] = sorted[index]
            kept += 1
        }
        sorted.removeLast(sorted.count - kept)
        return sorted
    }

    /// How long before a client error a record tied to it by the client's own key (its port,
    /// the request id) may begin: a long request.
    static let longestClientWait: Int64 = 300_000_000_000

    /// How far apart a record's time and a connection's may be when the time is all that ties them.
    public static let closeSlack: Int64 = 50_000_000

    static func overlaps(_ record: GatewayLogRecord, from start: Timestamp, to end: Timestamp, slack: Int64 = Self.slack) -> Bool {
        guard let time = record.time else { return false }
        return time.nanoseconds <= end.nanoseconds + slack && time.nanoseconds + record.span >= start.nanoseconds - slack
    }

    /// What ties `record` to `connection`, or `nil` when something contradicts it.
    static func matches(_ record: GatewayLogRecord, _ connection: JoinableConnection, sent requests: SentRequests) -> [String]? {
        guard self.overlaps(record, from: connection.start, to: connection.end) else { return nil }
        var keys: [String] = []
        keys.reserveCapacity(5)
        if let port = record.gatewayPort {
            guard port == connection.gatewaySide.port else { return nil }
            keys.append("gateway_port")
        }
        if !record.upstreams.isEmpty {
            guard record.upstreams.contains(connection.upstream) else { return nil }
            keys.append("upstream")
        } else if let address = record.upstreamAddress {
            guard address == connection.upstream.address else { return nil }
            keys.append("upstream_address")
        }
        if let target = record.target {
            if connection.requests.isEmpty {
                // Nothing to compare (no request sent, or sent encrypted). The upstream named
                // does; else only a log that names no upstream at all (HAProxy's, Apache's),
                // a failed connection, and a record of a failure.
                if record.upstreams.isEmpty {
                    // The times closely.
                    guard !record.namesAnUpstream, self.overlaps(record, from: connection.start, to: connection.end, slack: Self.closeSlack)
                    else { return nil }
                }
            } else {
                let sent = requests.sent(target: target, method: record.method)
                guard !sent.isEmpty else { return nil }
                keys.append("request")
                if !record.requestIDs.isEmpty {
                    let ids = Set(sent.compactMap(\.requestID))
                    if !ids.isEmpty {
                        guard !ids.isDisjoint(with: record.requestIDs) else { return nil }
                        keys.append("request_id")
                    }
                }
            }
        }
        if keys.isEmpty, record.target == nil {
            // Only its time: a failure logged by a gateway while this connection failed, closely.
            guard connection.verdictClass != .ok, record.tellsOfAFailure,
                  self.overlaps(record, from: connection.start, to: connection.end, slack: Self.closeSlack)
            else { return nil }
        }
        keys.append("time")
        return keys
    }

    /// What ties `record` to `error`, or `nil` when something contradicts it.
    static func matches(_ record: GatewayLogRecord, _ error: JoinableClientError) -> [String]? {
        var keys: [String] = []
        if let port = record.clientPort {
            guard port == error.client.port, record.clientAddress.map({ $0 == error.client.address }) ?? true else { return nil }
            keys.append("client_port")
        }
        if let target = record.target {
            guard target == error.target, record.method.map({ $0 == error.method }) ?? true else { return nil }
            keys.append("request")
        }
        if let id = error.requestID, !record.requestIDs.isEmpty {
            guard record.requestIDs.contains(id) else { return nil }
            keys.append("request_id")
        }
        if let server = error.upstreamServer, !record.upstreams.isEmpty {
            guard record.upstreams.contains(server) else { return nil }
            keys.append("upstream")
        }
        guard keys.contains("client_port") || keys.contains("request") || keys.contains("request_id") else { return nil }
        // A key of the client's own (its port, the request id) allows a long request; the
        // request line alone, only a record of the error's moment.
        let strong = keys.contains("client_port") || keys.contains("request_id")
        let before: Int64 = strong ? Self.longestClientWait : 0
        guard self.overlaps(record, from: Timestamp(nanoseconds: error.time.nanoseconds - before), to: error.time) else { return nil }
        keys.append("time")
        return keys
    }
}

/// A connection's requests, asked for those with a target (and a method): a table by target
/// for a connection with many, a scan for one with a few.
struct SentRequests {
    typealias Request = (method: String, target: String, requestID: String?)
    private let requests: [Request]
    private let byTarget: [String: [Request]]?
    /// The most requests scanned rather than looked up.
    static let scanned = 8

    init(_ requests: [Request]) {
        self.requests = requests
        if requests.count > Self.scanned {
            var table: [String: [Request]] = [:]
            for request in requests { table[request.target, default: []].append(request) }
            self.byTarget = table
        } else {
            self.byTarget = nil
        }
    }

    /// The requests for `target`, in the order sent, with `method` when one is given.
    func sent(target: String, method: String?) -> [Request] {
        let candidates = self.byTarget.map { $0[target] ?? [] } ?? self.requests.filter { $0.target == target }
        return candidates.filter { method == nil || $0.method == method }
    }
}

/// An upstream and a request target: the join's key for a record naming both.
struct UpstreamTarget: Hashable {
    var upstream: Endpoint
    var target: String
}

/// Record indexes by their time, for one key of the join: a join asks for the records whose
/// time may overlap a window, and gets them by binary search instead of the whole list.
struct TimeIndex {
    /// The entry while there is only one (most keys, a target with an id in it, have one): no
    /// list allocated for it. `index` -1: none.
    private var only: (time: Int64, index: Int) = (0, -1)
    /// Every entry once there are two or more.
    private var entries: [(time: Int64, index: Int)] = []
    private var sorted = true
    /// The longest span of a record in it: how long before a window a record may begin and
    /// still reach into it.
    private var longestSpan: Int64 = 0

    mutating func append(time: Int64, span: Int64, index: Int) {
        self.longestSpan = max(self.longestSpan, span)
        if self.entries.isEmpty {
            if self.only.index < 0 {
                self.only = (time, index)
                return
            }
            self.entries = [self.only]
            self.only = (0, -1)
        }
        if let last = self.entries.last, last.time > time { self.sorted = false }
        self.entries.append((time, index))
    }

    /// Appends to `out` the index of every record whose time is at most `to` and whose time
    /// plus the longest span is at least `from`: every record that may overlap `from...to`,
    /// and few others.
    mutating func window(from: Int64, to: Int64, into out: inout [Int]) {
        let earliest = from - self.longestSpan
        if self.entries.isEmpty {
            if self.only.index >= 0, self.only.time >= earliest, self.only.time <= to { out.append(self.only.index) }
            return
        }
        if !self.sorted {
            self.entries.sort { $0.time < $1.time }
            self.sorted = true
        }
        var low = 0
        var high = self.entries.count
        while low < high {
            let middle = (low + high) / 2
            if self.entries[middle].time < earliest { low = middle + 1 } else { high = middle }
        }
        while low < self.entries.count, self.entries[low].time <= to {
            out.append(self.entries[low].index)
            low += 1
        }
    }
}
