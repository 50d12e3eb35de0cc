import CaptureModel
import Engine

/// What every judged connection carried, counted per upstream, so report.json can list only
/// the failing connections and still say what the healthy ones did: requests, bytes, response
/// times, and when each connection started (the HTML timeline). A few bytes per connection,
/// never its report.
public struct UpstreamTraffic: Sendable {
    /// One upstream's counts.
    public struct Server: Sendable {
        /// Connections judged healthy (class `ok`).
        public var healthy = 0
        /// Requests the gateway sent (listed or not).
        public var requests = 0
        /// Stream bytes the gateway sent.
        public var bytesToUpstream: UInt64 = 0
        /// Stream bytes the upstream sent.
        public var bytesFromUpstream: UInt64 = 0
        /// For each request answered: from its first byte to the response's first byte, in
        /// microseconds (exact percentiles up to 65,536 responses, within 1/128 past that).
        var responseTimes = ResponseTimes()

        /// The members `upstreams[]` adds: `healthy`, `requests`, `bytes_to_upstream`,
        /// `bytes_from_upstream`, and `response_time_ms` (`responses`, `median`, `p99`, `max`:
        /// nearest-rank percentiles; `null` when no response was timed).
        var members: [(String, JSONValue)] {
            var times: JSONValue = .null
            if !self.responseTimes.isEmpty {
                // Nearest rank: the smallest value with at least `percent`% of the values at or below it.
                func rank(_ percent: Int) -> JSONValue { .double(Double(self.responseTimes.percentile(percent)) / 1000) }
                times = .object([
                    ("responses", .number(self.responseTimes.count)), ("median", rank(50)), ("p99", rank(99)),
                    ("max", .double(Double(self.responseTimes.maximum) / 1000)),
                ])
            }
            return [
                ("healthy", .number(self.healthy)),
                ("requests", .number(self.requests)),
                ("bytes_to_upstream", .uint(self.bytesToUpstream)),
                ("bytes_from_upstream", .uint(self.bytesFromUpstream)),
                ("response_time_ms", times),
            ]
        }
    }

    /// The counts of one upstream, if any connection to it was counted.
    public func counts(of server: Endpoint) -> Server? {
        self.index[server].flatMap { self.counts[Int($0)] }
    }

    /// Each connection's start, for the timeline: its upstream (an index into `order`), the
    /// time in nanoseconds, and whether the gateway failed it.
    private var starts = ConnectionStarts()
    /// Upstreams in the order first seen, each one's counts at the same index (`nil` once
    /// removed, until a connection to it comes again), and each one's index.
    private var order: [Endpoint] = []
    private var counts: [Server?] = []
    private var index: [Endpoint: Int32] = [:]
    /// The upstream counted last, and its index: the next connection is mostly to one of a few.
    private var last: (server: Endpoint, at: Int32)?

    /// Nothing counted.
    public init() {}

    /// The traffic of a list of connections.
    public init(_ reports: some Sequence<ConnectionReport>) {
        for report in reports { self.add(report) }
    }

    /// Counts one judged connection.
    public mutating func add(_ report: ConnectionReport) {
        let at: Int32
        if let last = self.last, last.server == report.server {
            at = last.at
        } else if let known = self.index[report.server] {
            at = known
        } else {
            at = Int32(self.order.count)
            self.index[report.server] = at
            self.order.append(report.server)
            self.counts.append(nil)
        }
        self.last = (report.server, at)
        // In place: a server taken out and written back shared its response times with the
        // array, so each append copied all of them (quadratic in the upstream's requests).
        if self.counts[Int(at)] == nil { self.counts[Int(at)] = Server() }
        Self.count(report, in: &self.counts[Int(at)]!)
        self.starts.add(server: at, start: report.facts.first.time.nanoseconds, failed: Summary.isGatewayFailure(report.verdict.verdictClass))
    }

    private static func count(_ report: ConnectionReport, in server: inout Server) {
        if report.verdict.verdictClass == .ok { server.healthy += 1 }
        server.requests += report.transactions.count + report.transactionsDropped
        server.bytesToUpstream += report.clientStreamBytes
        server.bytesFromUpstream += report.serverStreamBytes
        report.transactions.withUnsafeBufferPointer { transactions in
            for at in transactions.indices {
                // Read in place: a copy of each transaction would retain its strings.
                guard let sent = transactions[at].request?.time, let answered = transactions[at].response?.time else { continue }
                let micros = max(0, answered.nanoseconds(since: sent)) / 1000
                server.responseTimes.add(UInt32(clamping: micros))
            }
        }
    }

    /// Forgets every connection to `server` (it turned out to be the gateway's listener).
    public mutating func remove(server: Endpoint) {
        guard let at = self.index[server], self.counts[Int(at)] != nil else { return }
        self.counts[Int(at)] = nil
        self.starts.remove(server: at)
    }

    /// The timeline the HTML report draws (`timeline` in report.json), `upstreams` giving the
    /// rows' order; `nil` without a capture window.
    public func timeline(window: (first: Timestamp, last: Timestamp)?, upstreams: [String]) -> Timeline? {
        guard let window else { return nil }
        var started = [[Int]](repeating: [Int](repeating: 0, count: Timeline.bins), count: self.order.count)
        var failed = started
        self.starts.forEach { server, start, isFailure, count in
            let bin = Timeline.bin(Timestamp(nanoseconds: start), window: window)
            started[Int(server)][bin] += count
            if isFailure { failed[Int(server)][bin] += count }
        }
        let servers = self.order.indices.filter { self.counts[$0] != nil }.map { at in
            (server: self.order[at].description, started: started[at], failed: failed[at])
        }
        return Timeline(window: window, servers: servers, order: upstreams)
    }
}
