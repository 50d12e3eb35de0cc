import CaptureModel
import HTTP1

/// A transaction finished on some connection, as the collector hands it over: answered, or
/// sealed unanswered (or cut) by the connection's first FIN or RST.
struct FinishedTransaction {
    var connection: UInt32
    var client: Endpoint
    var server: Endpoint
    var request: RequestInfo
    var response: ResponseInfo?
    /// For a request sealed by the end of its connection: the first FIN or RST, else the last
    /// packet.
    var ended: Timestamp?
    /// What the client saw when the server's FIN or RST sealed the request without a complete
    /// response (on a client-hop connection; on others the same facts go unused).
    var failure: ClientFailure? = nil
    /// Whether the gateway sent a PROXY protocol header on the connection before the request.
    var afterProxyHeader = false
    /// The original client that header named (`PROXY TCP4 <source> ...`), when it named one.
    var proxySource: Endpoint? = nil
    /// HTTP/2: the stream that carried it, and the error code of the server's RST_STREAM on it.
    var streamID: UInt32? = nil
    var resetCode: UInt32? = nil
    /// The response's head, when it was healthy and the head sampler wanted it (`HeadSampler`).
    var head: ResponseHead? = nil
}

/// One request of either hop, as correlation needs it.
struct HopRequest {
    var connection: UInt32
    var client: Endpoint
    var server: Endpoint
    /// The request's text (shared with the transaction it came from).
    var text: RequestInfo
    var method: String { self.text.method }
    var target: String { self.text.target }
    var host: String? { self.text.host }
    var requestID: String? { self.text.requestID }
    var correlationID: String? { self.text.correlationID }
    var traceID: String? { self.text.traceID }
    /// The request's first byte.
    var time: Timestamp
    var frame: FrameNumber
    var status: Int?
    /// A response that never came whole (`FinishedTransaction.failure`).
    var failure: ClientFailure?
    /// HTTP/2: the stream, and the error code of the server's RST_STREAM on it.
    var streamID: UInt32? = nil
    var resetCode: UInt32? = nil
    var responseTime: Timestamp?
    var responseFrame: FrameNumber?
    /// When the request's fate was known: the response's first byte, else the end of its connection.
    var outcome: Timestamp
    /// When the record was made (its transaction finished): capture time, never before `outcome`.
    var arrived: Timestamp
    /// The previous record (by sequence number) with the same method and target, and with the
    /// same request id: the ring's two indexes are chains through it.
    var previousSameRequest = -1
    var previousSameID = -1
    /// `HopCorrelator.requestKey` and the primary id's hash, computed once when the record is made.
    var key = 0
    var idHash: Int?
    /// As a request to a possible gateway: the same request went on upstream.
    var forwarded = false
    /// Linked to a client error already (an upstream attempt explains one error at most).
    var used = false
    /// The client connection the gateway's PROXY header named for this request's connection: on
    /// the client hop, the connection whose request this one passes on.
    var proxySource: Endpoint? = nil
    /// The previous record (by sequence number) with the same `proxySource`: the ring's third index.
    var previousSameSource = -1

    /// The id used to look the request up: `X-Request-Id`, else `X-Correlation-Id`, else the trace-id.
    var primaryID: String? { self.requestID ?? self.correlationID ?? self.traceID }
}

/// A failed upstream connection that carried no request (refused, timed out, failed in TLS):
/// it can explain a client error by timing alone.
struct HopFailure {
    var connection: UInt32
    /// The side that opened it (the gateway's host, on the upstream hop).
    var client: Endpoint
    var server: Endpoint
    var start: Timestamp
    var outcome: Timestamp
    var code: FindingCode
    var used = false
}

/// A client error the gateway made after upstream attempts that failed, kept by route: a later
/// error on the same route that tried no upstream may be the pool's members marked down.
struct RouteFailure {
    var listener: Endpoint
    var host: String?
    /// The target's first path segment (`/down/` of `/down/7`): gateways map routes to pools by it.
    var route: Substring
    var time: Timestamp
    /// The failed upstream connections, with their servers and start times.
    var attempts: [(server: Endpoint, connection: UInt32, start: Timestamp)]
}

/// Tells the client-to-gateway hop from the gateway-to-upstream hop in a capture that holds both,
/// and links each 500, 502, 503 and 504 a client got to the upstream connection behind it.
///
/// It sees every finished transaction as it finishes (`add(_:now:)`) and every judged connection
/// (`judged(_:)`), and keeps only recent requests, failed connections and 5xx responses, each
/// bounded by `ClientHopLimits`. A server is a gateway's listener when `--gateway-address` names
/// it or, without that option, when requests sent to it go on, within their response time,
/// from its host to another server (`HopCorrelator+Inference.swift`). Client errors are linked
/// once the upstream connections behind them have had time to be judged
/// (`HopCorrelator+Linking.swift`).
struct HopCorrelator {
    /// What an inferred listener rests on.
    struct ServerEvidence {
        /// Requests sent to it.
        var requests = 0
        /// Those that went on upstream, and those matched by a request id.
        var forwarded = 0
        var forwardedByID = 0
        /// Where they went on to, and how often (at most `maximumDownstream` servers).
        var downstream: [Endpoint: Int] = [:]
    }

    static let maximumDownstream = 16
    static let maximumServersTracked = 65_536
    /// Candidates looked at per index when a request arrives: the recent requests to match it
    /// with are at the heads of the chains.
    static let maximumChainSteps = 64

    let limits: ClientHopLimits
    let given: [GatewayAddress]
    /// Capture-time nanoseconds an unexplained client error waits for a late-judged failure
    /// (an upstream SYN that was never answered is judged when the connection idles out).
    let lateDelay: Int64

    /// Listeners inferred so far. Never withdrawn: connections already routed by them stay so.
    private(set) var inferred: Set<Endpoint> = []
    /// Listeners decided since the last `takeNewGateways()`.
    private var newGateways: [Endpoint] = []

    var ring: [HopRequest?]
    /// Each ring slot's `key`, `idHash` and `proxySource`, beside the ring: read when the slot is
    /// reused, without copying the record out.
    var ringKeys: [(key: Int, idHash: Int?, source: Endpoint?)]
    var nextSeq = 0
    var requestHeads = HeadIndex()
    var idHeads = HeadIndex()
    /// The newest record for each PROXY header source (`HopRequest.proxySource`).
    var sourceHeads: [Endpoint: Int] = [:]
    var evidence: [Endpoint: ServerEvidence] = [:]
    /// Addresses seen as clients and as servers of requests (up to `maximumServersTracked`
    /// each; past that `addressesOverflowed` and every request is paired). A request passed on
    /// leaves the gateway's host from the address it was sent to, so a request can pair only
    /// when its server's address was some request's client, or its client's some server.
    var clientAddresses: Set<IPAddress> = []
    var serverAddresses: Set<IPAddress> = []
    var addressesOverflowed = false
    /// Address pairs (client, server) of recent requests, both already in the sets above, with
    /// what `mayPair` answered for them: a gateway talks to a few upstreams, and a pair found
    /// here costs no hashing. Emptied whenever an address is noted for the first time (an answer
    /// may change then); at most `knownPairsKept`.
    var knownPairs: [(client: IPAddress, server: IPAddress, mayPair: Bool)] = []
    static let knownPairsKept = 8
    /// Addresses failed connections without a request came from (up to `maximumServersTracked`;
    /// past that `addressesOverflowed`): a gateway whose every attempt failed is known by them.
    var failureClientAddresses: Set<IPAddress> = []
    /// Root causes of the failed connections judged recently (`verdictOrder` evicts the oldest).
    var verdicts: [UInt32: FindingCode] = [:]
    var verdictOrder: [UInt32] = []
    var verdictHead = 0
    var failures: [HopFailure] = []
    var failureHead = 0
    /// Servers some connection without a request failed to (`failures`), and when a connection
    /// to each last succeeded after that: a member a gateway checks and finds down fails every
    /// time, one that came back does not (at most `maximumServersTracked`).
    var failedServers: Set<Endpoint> = []
    var lastSuccess: [Endpoint: Timestamp] = [:]
    /// Client errors the gateway made after failed upstream attempts, by route, newest last (at
    /// most `limits.recentFailures`): what may have had a pool's members marked down.
    var routeFailures: [RouteFailure] = []
    /// 500, 502, 503 and 504 responses whose errors are not settled yet.
    var pending: [PendingError] = []
    var nextSettle: Timestamp = .zero

    /// Client connections per listener, and the order listeners were first seen in.
    var listenerConnections: [Endpoint: Int] = [:]
    var listenerOrder: [Endpoint] = []
    var errors: [ClientError] = []
    var errorCount = 0
    var explainedCount = 0
    var errorsNotListed = 0
    /// 5xx responses let go unsettled when `pendingErrors` was full.
    var pendingDropped = 0

    init(limits: ClientHopLimits, given: [GatewayAddress], lateDelay: Int64) {
        self.limits = limits
        self.given = given
        self.lateDelay = max(lateDelay, limits.settleDelay)
        self.ring = Array(repeating: nil, count: max(1, limits.recentRequests))
        self.ringKeys = Array(repeating: (0, nil, nil), count: max(1, limits.recentRequests))
    }

    /// Whether `server` is a listener of the gateway, as far as is known now.
    func isGateway(_ server: Endpoint) -> Bool {
        self.given.contains { $0.matches(server) } || self.inferred.contains(server)
    }

    /// The times of the client errors listed, and the earliest time a client error listed
    /// later may have: the earliest pending one's, or the latest time there is when none is
    /// pending (only errors still to come); `nil` when none will be listed (the list is full,
    /// or no client hop was seen).
    func clientErrorTimes() -> (listed: [Timestamp], laterFrom: Timestamp?) {
        let listed = self.errors.map(\.time)
        guard self.errors.count < self.limits.listedErrors, !self.given.isEmpty || !self.inferred.isEmpty || self.errorCount > 0 else {
            return (listed, nil)
        }
        let pending = self.pending.map { $0.error.responseTime ?? $0.error.outcome }.min()
        return (listed, pending ?? Timestamp(nanoseconds: .max))
    }

    /// Listeners inferred since the last call.
    mutating func takeNewGateways() -> [Endpoint] {
        defer { self.newGateways.removeAll() }
        return self.newGateways
    }

    mutating func infer(_ server: Endpoint) {
        guard !self.inferred.contains(server) else { return }
        self.inferred.insert(server)
        self.newGateways.append(server)
    }

    // MARK: Input

    /// A transaction finished on some connection, either hop, by capture time `now`.
    mutating func add(_ finished: FinishedTransaction, now: Timestamp) {
        let request = finished.request
        let response = finished.response
        let responseTime = response?.status == nil ? nil : response?.time
        var record = HopRequest(
            connection: finished.connection, client: finished.client, server: finished.server, text: request, time: request.time, frame: request.frame, status: response?.status,
            failure: finished.failure, responseTime: responseTime, responseFrame: response?.frame,
            outcome: responseTime ?? max(finished.ended ?? request.time, request.time), arrived: now)
        record.streamID = finished.streamID
        record.resetCode = finished.resetCode
        record.key = Self.requestKey(record)
        record.idHash = record.primaryID?.hashValue
        record.proxySource = finished.proxySource
        if let index = self.evidence.index(forKey: record.server) {
            self.evidence.values[index].requests += 1
        } else if self.evidence.count < Self.maximumServersTracked {
            self.evidence[record.server] = ServerEvidence(requests: 1)
        }
        let known = self.addressesOverflowed
            ? nil
            : self.knownPairs.firstIndex { $0.client == record.client.address && $0.server == record.server.address }
        if self.given.isEmpty, known.map({ self.knownPairs[$0].mayPair }) ?? self.mayPair(record) {
            self.pair(&record)
        }
        if known == nil { self.noteNewPair(record) }
        if record.failure != nil || record.status.map({ ClientError.statuses.contains($0) }) == true {
            self.hold(record)
        }
        // `consume`: moved into the ring; without it the record was copied, each string retained.
        self.store(consume record)
    }

    /// A connection was judged. Returns whether it belongs to the client hop.
    mutating func judged(_ report: ConnectionReport) -> Bool {
        if self.isGateway(report.server) {
            self.countListenerConnection(report.server, count: 1)
            return true
        }
        guard report.verdict.verdictClass != .ok else {
            // Asked only once some connection failed: a capture without failures pays nothing.
            if !self.failedServers.isEmpty, self.failedServers.contains(report.server) {
                self.lastSuccess[report.server] = max(self.lastSuccess[report.server] ?? .zero, report.facts.first.time)
            }
            return false
        }
        self.rememberVerdict(report.verdict.code, of: report.id)
        if report.transactions.isEmpty, report.transactionsDropped == 0 {
            let facts = report.facts
            let closes = [facts.client.fin, facts.server.fin, facts.client.rst, facts.server.rst].compactMap { $0?.time }
            self.rememberFailure(HopFailure(
                connection: report.id, client: report.client, server: report.server, start: facts.first.time, outcome: closes.min() ?? facts.last.time,
                code: report.verdict.code))
        }
        return false
    }

    /// Counts client connections that reached `listener`.
    mutating func countListenerConnection(_ listener: Endpoint, count: Int) {
        guard count > 0 else { return }
        if self.listenerConnections[listener] == nil { self.listenerOrder.append(listener) }
        self.listenerConnections[listener, default: 0] += count
    }

    /// Whether any request seen so far could pair with `record` (either way): without that,
    /// the walk along its chains would find nothing.
    func mayPair(_ record: HopRequest) -> Bool {
        self.addressesOverflowed || self.clientAddresses.contains(record.server.address)
            || self.serverAddresses.contains(record.client.address)
    }

    /// Notes the addresses of a request whose pair is not in `knownPairs`, and keeps the pair.
    private mutating func noteNewPair(_ record: HopRequest) {
        guard !self.addressesOverflowed else { return }
        if self.noteAddresses(record) { self.knownPairs.removeAll(keepingCapacity: true) }
        guard !self.addressesOverflowed else { return }
        if self.knownPairs.count == Self.knownPairsKept { self.knownPairs.removeFirst() }
        self.knownPairs.append((record.client.address, record.server.address, self.mayPair(record)))
    }

    /// Notes a request's client and server addresses; true when either was new.
    @discardableResult
    mutating func noteAddresses(_ record: HopRequest) -> Bool {
        guard !self.addressesOverflowed else { return false }
        let newClient = self.clientAddresses.insert(record.client.address).inserted
        let newServer = self.serverAddresses.insert(record.server.address).inserted
        if self.clientAddresses.count > Self.maximumServersTracked || self.serverAddresses.count > Self.maximumServersTracked {
            self.overflowAddresses()
        }
        return newClient || newServer
    }

    /// Past `maximumServersTracked` addresses: every request is paired from now on, and the
    /// address sets are let go.
    private mutating func overflowAddresses() {
        self.addressesOverflowed = true
        self.knownPairs = []
        self.clientAddresses = []
        self.serverAddresses = []
        self.failureClientAddresses = []
    }

    // MARK: Bounded stores

    /// Keeps `record` in the ring.
    private mutating func store(_ record: consuming HopRequest) {
        let seq = self.nextSeq
        self.nextSeq += 1
        let slot = seq % self.ring.count
        if seq >= self.ring.count {
            // The oldest request leaves; it ends its chains (older ones left before it).
            let old = self.ringKeys[slot]
            self.requestHeads.remove(old.key, ifValueIs: seq - self.ring.count)
            if let id = old.idHash { self.idHeads.remove(id, ifValueIs: seq - self.ring.count) }
            if let source = old.source, self.sourceHeads[source] == seq - self.ring.count { self.sourceHeads[source] = nil }
        }
        self.ringKeys[slot] = (record.key, record.idHash, record.proxySource)
        record.previousSameRequest = self.requestHeads.updateValue(seq, forKey: record.key) ?? -1
        if let id = record.idHash {
            record.previousSameID = self.idHeads.updateValue(seq, forKey: id) ?? -1
        }
        if let source = record.proxySource {
            record.previousSameSource = self.sourceHeads.updateValue(seq, forKey: source) ?? -1
        }
        self.ring[slot] = consume record  // moved, as in `add`
    }

    /// The record with sequence number `seq`, if still in the ring.
    func record(_ seq: Int) -> HopRequest? {
        guard seq >= 0, seq >= self.nextSeq - self.ring.count, seq < self.nextSeq else { return nil }
        return self.ring[seq % self.ring.count]
    }

    static func requestKey(_ record: HopRequest) -> Int {
        var hasher = Hasher()
        hasher.combine(record.method)
        hasher.combine(record.target)
        return hasher.finalize()
    }

    private mutating func rememberVerdict(_ code: FindingCode, of connection: UInt32) {
        if self.verdictOrder.count - self.verdictHead >= self.limits.recentRequests {
            self.verdicts[self.verdictOrder[self.verdictHead]] = nil
            self.verdictHead += 1
            if self.verdictHead >= 1024, self.verdictHead * 2 >= self.verdictOrder.count {
                self.verdictOrder.removeFirst(self.verdictHead)
                self.verdictHead = 0
            }
        }
        self.verdicts[connection] = code
        self.verdictOrder.append(connection)
    }

    private mutating func rememberFailure(_ failure: HopFailure) {
        if self.failedServers.count < Self.maximumServersTracked { self.failedServers.insert(failure.server) }
        if !self.addressesOverflowed {
            self.failureClientAddresses.insert(failure.client.address)
            if self.failureClientAddresses.count > Self.maximumServersTracked { self.overflowAddresses() }
        }
        if self.failures.count - self.failureHead >= self.limits.recentFailures {
            self.failureHead += 1
            if self.failureHead >= 1024, self.failureHead * 2 >= self.failures.count {
                self.failures.removeFirst(self.failureHead)
                self.failureHead = 0
            }
        }
        self.failures.append(failure)
    }
}
