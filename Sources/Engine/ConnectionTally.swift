import CaptureModel
import Diagnosis

/// Counts over every connection judged, listed in the report or not: what the summaries and the
/// table by upstream are built from, so a report that lists only some connections (a long live
/// capture) still counts all of them.
public struct ConnectionTally: Sendable {
    /// One upstream's counts.
    public struct Server: Sendable {
        /// The lowest connection id seen to it: orders the upstreams as they first appeared.
        public var firstID: UInt32
        /// Connections judged.
        public var connections = 0
        /// Connections whose class is not `ok`.
        public var failed = 0
        /// Root causes of the failed ones.
        public var causes: [FindingCode: Int] = [:]
        /// Root causes of the connections the gateway failed (every class but `ok` and
        /// `relayed`): what the pool member did wrong, not what its application answered.
        public var gatewayCauses: [FindingCode: Int] = [:]
        /// Connections by verdict class.
        public var classes: [VerdictClass: Int] = [:]
    }

    /// Connections judged.
    public private(set) var connections = 0
    /// Connections whose class is not `ok`.
    public private(set) var failed = 0
    /// Connections by verdict class.
    public private(set) var classes: [VerdictClass: Int] = [:]
    /// Root causes of the failed connections.
    public private(set) var causes: [FindingCode: Int] = [:]
    /// Counts by upstream.
    public private(set) var servers: [Endpoint: Server] = [:]

    /// Nothing counted.
    public init() {}

    /// Counts one judged connection.
    public mutating func add(_ report: ConnectionReport) {
        let verdict = report.verdict
        self.connections += 1
        self.classes[verdict.verdictClass, default: 0] += 1
        if verdict.verdictClass != .ok {
            self.failed += 1
            self.causes[verdict.code, default: 0] += 1
        }
        // In place: one hash of the endpoint, and the server's dictionaries are not copied (a
        // copy taken out and written back made each of them copy on write, per connection).
        // The id is read first: a default that names `report` copies the whole report into it.
        let id = report.id
        Self.count(verdict, id: id, in: &self.servers[report.server, default: Server(firstID: id)])
    }

    private static func count(_ verdict: Verdict, id: UInt32, in server: inout Server) {
        server.firstID = min(server.firstID, id)
        server.connections += 1
        server.classes[verdict.verdictClass, default: 0] += 1
        if verdict.verdictClass != .ok {
            server.failed += 1
            server.causes[verdict.code, default: 0] += 1
            if verdict.verdictClass != .relayed { server.gatewayCauses[verdict.code, default: 0] += 1 }
        }
    }

    /// Takes every connection to `server` out of the counts (it turned out to be the gateway's
    /// listener, not an upstream) and returns what was counted for it.
    @discardableResult
    public mutating func removeServer(_ server: Endpoint) -> Server? {
        guard let counted = self.servers.removeValue(forKey: server) else { return nil }
        self.connections -= counted.connections
        self.failed -= counted.failed
        for (verdictClass, count) in counted.classes {
            self.classes[verdictClass, default: 0] -= count
            if self.classes[verdictClass] == 0 { self.classes[verdictClass] = nil }
        }
        for (code, count) in counted.causes {
            self.causes[code, default: 0] -= count
            if self.causes[code] == 0 { self.causes[code] = nil }
        }
        return counted
    }

    /// The tally of a list of connections.
    public init(_ reports: some Sequence<ConnectionReport>) {
        for report in reports {
            self.add(report)
        }
    }
}

/// Which judged connections the result lists in full.
public enum ReportRetention: Sendable, Equatable {
    /// Every connection (offline analysis: the report lists them all).
    case all
    /// At most this many, failures first: once full, a failing connection takes the place of
    /// the oldest healthy one listed, and a connection with no place is only counted. Bounds the
    /// memory of a capture that runs for days.
    case bounded(Int)
}
