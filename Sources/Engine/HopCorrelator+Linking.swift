import CaptureModel

/// A 500, 502, 503 or 504 response (or one that never came whole), and the upstream requests that were the same request in its
/// time, found when it arrived (they arrive before it: the gateway hears from upstream before it
/// answers, and a request in flight is handed on at its connection's first FIN or RST).
struct PendingError {
    var error: HopRequest
    /// Sequence numbers and copies (the ring may let them go before the error settles).
    var attempts: [(seq: Int, request: HopRequest)]
}

/// Each 500, 502, 503 and 504 a client got, and each response a client never got whole (an empty
/// reply, a reset, a cut body), linked to the upstream connection behind it.
///
/// The upstream attempts of a client request are the requests sent upstream after it and
/// settled before the gateway answered that are the same request (request id, else method and
/// target), and the connections that failed in that time without carrying any request (refused,
/// timed out, TLS). Those that explain the error are those whose upstream answered the same
/// status (relayed: `generated_by` upstream) or whose connection failed. The last one is the
/// cause; earlier ones are the gateway's retries (nginx `proxy_next_upstream`).
extension HopCorrelator {
    /// One upstream attempt behind a client error.
    enum Attempt {
        /// A request sent upstream (its sequence number in the ring, and a copy).
        case request(seq: Int, HopRequest)
        /// A failed connection without a request, by index into `failures`.
        case failure(Int)
    }

    /// Keeps a 5xx response until the role of its connection and the upstream connections behind
    /// it are known, with the upstream requests that match it now.
    mutating func hold(_ record: HopRequest) {
        // With the listeners given, any other server's 5xx is an upstream's own.
        guard self.given.isEmpty || self.isGateway(record.server) else { return }
        if self.pending.count >= self.limits.pendingErrors {
            // Full: let go of the responses no listener sent (most likely upstreams' own 5xx)
            // among the oldest quarter, in one pass; failing that, settle the oldest as it stands.
            let oldest = max(1, self.pending.count / 4)
            let before = self.pending.count
            var kept: [PendingError] = []
            kept.reserveCapacity(before)
            for (index, item) in self.pending.enumerated() where index >= oldest || self.isGateway(item.error.server) {
                kept.append(item)
            }
            self.pending = kept
            self.pendingDropped += before - self.pending.count
            if self.pending.count == before {
                let first = self.pending.removeFirst()
                self.conclude(first.error, self.explanation(of: first))
            }
        }
        self.pending.append(PendingError(error: record, attempts: self.sameRequests(as: record)))
    }

    /// Settles the client errors whose upstream connections have had time to be judged. Cheap
    /// when called often: it looks at the pending errors once a capture-second.
    mutating func settle(now: Timestamp) {
        guard !self.pending.isEmpty, now >= self.nextSettle else { return }
        self.nextSettle = Timestamp(nanoseconds: now.nanoseconds &+ 1_000_000_000)
        var kept: [PendingError] = []
        for item in self.pending where self.given.isEmpty && !self.isGateway(item.error.server)
            && now.nanoseconds(since: item.error.outcome) >= self.limits.settleDelay {
            self.inferFromFailures(item.error)
        }
        // An upstream's own 5xx waits while its server may yet turn out to be a listener. Of
        // those whose server's host has neither passed a request on nor failed to reach another
        // server, only the newest `unlikelyKept` wait: on a capture of the upstream hop alone
        // every 5xx would wait until `pendingErrors` was full, memory growing with its length.
        func unlikely(_ item: PendingError) -> Bool {
            !self.isGateway(item.error.server) && now.nanoseconds(since: item.error.outcome) >= self.limits.settleDelay
                && !self.mayBecomeListener(item.error.server)
        }
        var unlikelyDropped = max(0, self.pending.count(where: unlikely) - Self.unlikelyKept)
        for item in self.pending {
            let age = now.nanoseconds(since: item.error.outcome)
            guard self.isGateway(item.error.server), age >= self.limits.settleDelay else {
                if unlikelyDropped > 0, unlikely(item) {
                    unlikelyDropped -= 1
                } else {
                    kept.append(item)
                }
                continue
            }
            let explanation = self.explanation(of: item)
            // Unexplained for now: a failure judged late (an unanswered SYN idles out) may explain it yet.
            if explanation.isEmpty, age < self.lateDelay {
                kept.append(item)
                continue
            }
            self.conclude(item.error, explanation)
        }
        self.pending = kept
    }

    /// Settled 5xx responses of servers unlikely to be listeners (`mayBecomeListener`) that wait
    /// all the same, the newest.
    static let unlikelyKept = 256

    /// Whether `server` is likely to be found a gateway's listener: that takes a request from its
    /// host passed on to another server, or failed attempts from its host (`inferFromFailures`),
    /// and a server whose host has done neither so far is most likely an upstream answering
    /// for itself.
    func mayBecomeListener(_ server: Endpoint) -> Bool {
        self.addressesOverflowed || self.clientAddresses.contains(server.address)
            || self.failureClientAddresses.contains(server.address)
    }

    /// The end of the capture: every listener decided, every pending error settled.
    mutating func finish() {
        self.decideAtEnd()
        if self.given.isEmpty {
            for item in self.pending where !self.isGateway(item.error.server) { self.inferFromFailures(item.error) }
        }
        for item in self.pending where self.isGateway(item.error.server) {
            self.conclude(item.error, self.explanation(of: item))
        }
        self.pending.removeAll()
    }

    /// The client-hop summary, or `nil` when the capture holds no client hop.
    func summary() -> ClientHopSummary? {
        guard !self.listenerOrder.isEmpty || self.errorCount > 0 else { return nil }
        let listeners = self.listenerOrder.map { endpoint in
            ClientHopSummary.Listener(
                endpoint: endpoint, given: self.given.contains { $0.matches(endpoint) },
                connections: self.listenerConnections[endpoint] ?? 0, requests: self.evidence[endpoint]?.requests ?? 0)
        }
        return ClientHopSummary(
            listeners: listeners, connections: listeners.reduce(0) { $0 + $1.connections },
            requests: listeners.reduce(0) { $0 + $1.requests },
            errors: self.errors.sorted { ($0.time, $0.clientConnection) < ($1.time, $1.clientConnection) },
            errorCount: self.errorCount, explained: self.explainedCount, errorsNotListed: self.errorsNotListed)
    }

    // MARK: Linking

    /// Upstream attempts kept per client error: a gateway's retries are few, and past these a
    /// busy URL without request ids only adds look-alikes.
    static let maximumAttempts = 32

    /// Recent requests that are `error`'s request sent on upstream in its time, newest first:
    /// those with its request id, then those with its method and target.
    func sameRequests(as error: HopRequest) -> [(seq: Int, request: HopRequest)] {
        var found: [(seq: Int, request: HopRequest)] = []
        func visit(_ head: Int?, next: (HopRequest) -> Int) {
            var seq = head ?? -1
            while found.count < Self.maximumAttempts, let other = self.record(seq) {
                // Records arrive as their transactions finish or are sealed, after their
                // outcome: one that arrived before the client's request was not sent after it.
                if other.arrived.nanoseconds &+ self.limits.tolerance <= error.time.nanoseconds { break }
                if other.connection != error.connection, self.within(outer: error, inner: other, tolerance: self.limits.tolerance),
                   Self.sameness(error, other) != nil, !found.contains(where: { $0.seq == seq }) {
                    found.append((seq, other))
                }
                seq = next(other)
            }
        }
        // The gateway's PROXY header names the client connection an upstream request came from
        // (HAProxy `send-proxy`): the requests whose header named this error's client are its
        // own, whatever their method and target; those naming another client are not.
        var seq = self.sourceHeads.isEmpty ? -1 : self.sourceHeads[error.client] ?? -1
        while found.count < Self.maximumAttempts, let other = self.record(seq) {
            if other.arrived.nanoseconds &+ self.limits.tolerance <= error.time.nanoseconds { break }
            if other.connection != error.connection, self.within(outer: error, inner: other, tolerance: self.limits.tolerance) {
                found.append((seq, other))
            }
            seq = other.previousSameSource
        }
        if let id = error.idHash {
            visit(self.idHeads[id]) { $0.previousSameID }
        }
        visit(self.requestHeads[error.key]) { $0.previousSameRequest }
        if !self.sourceHeads.isEmpty {
            found.removeAll { $0.request.proxySource.map { $0 != error.client } ?? false }
        }
        return found
    }

    /// The failed upstream attempts of a pending error's request, oldest first: the requests found
    /// when it arrived or since, and the failed connections without a request in its time.
    func explanation(of item: PendingError) -> [(attempt: Attempt, start: Timestamp)] {
        let error = item.error
        var found: [(attempt: Attempt, start: Timestamp)] = []
        var seen: Set<Int> = []
        for (seq, request) in item.attempts + self.sameRequests(as: error) where seen.insert(seq).inserted {
            // A response that never came whole is explained by a failed upstream connection only:
            // the same status from a healthy one (the 200 it cut) is no cause.
            guard !self.isGateway(request.server), self.record(seq)?.used != true,
                  (error.failure == nil && request.status == error.status) || self.verdicts[request.connection] != nil
            else { continue }
            found.append((.request(seq: seq, request), request.time))
        }
        let tolerance = self.limits.tolerance
        for index in self.failureHead..<self.failures.count {
            let failure = self.failures[index]
            guard !failure.used, !self.isGateway(failure.server),
                  failure.start.nanoseconds &+ tolerance > error.time.nanoseconds,
                  failure.outcome.nanoseconds <= error.outcome.nanoseconds &+ tolerance,
                  !self.isCheck(index)
            else { continue }
            found.append((.failure(index), failure.start))
        }
        found.sort { $0.start < $1.start }
        return found
    }

    /// How far back a member's failure can have marked it down: nginx's `fail_timeout` is 10 s by
    /// default, HAProxy's health checks take `fall` (3) times `inter` (2 s).
    static let memberDownHorizon: Int64 = 30_000_000_000

    /// A server that answered a client 502, 503 or 504 while connections from its own host to other
    /// servers failed in that very time did not relay those failures: it made the error itself,
    /// so it is a gateway's listener (this finds one that never passed a request on, such as a
    /// gateway whose every upstream refused). A server that received requests passed on by a
    /// listener is an upstream and never counts.
    mutating func inferFromFailures(_ error: HopRequest) {
        let server = error.server
        // Only an error status says the server made an answer of its own; a cut or empty response
        // is as often an upstream's.
        guard !self.isGateway(server), let status = error.status, (502...504).contains(status) else { return }
        for listener in self.inferred where self.evidence[listener]?.downstream[server] != nil { return }
        let tolerance = self.limits.tolerance
        for index in self.failureHead..<self.failures.count {
            let failure = self.failures[index]
            if failure.client.address == server.address, failure.server != server, failure.client != error.client,
               failure.start.nanoseconds &+ tolerance > error.time.nanoseconds,
               failure.outcome.nanoseconds <= error.outcome.nanoseconds &+ tolerance {
                self.infer(server)
                return
            }
        }
        // A 502 or 503 made on the spot while every server its host had tried lately was down
        // (HAProxy's health checks failing, "no server available"): the members were marked down
        // before the capture began.
        if status != 504, !self.downServers(from: server, before: error).isEmpty { self.infer(server) }
    }

    /// Whether the failed connection at `index` of `failures` is one of the gateway's health
    /// checks of a server it had marked down rather than an attempt for a request: its host
    /// failed to reach that server at least `minimumChecksFailed` times before, within
    /// `memberDownHorizon`, and one of those failures was tied to no client error (HAProxy's
    /// `check` goes on every `inter` whether requests come or not; a gateway without checks fails
    /// only when a request makes it try).
    func isCheck(_ index: Int) -> Bool {
        let failure = self.failures[index]
        var earlier = 0
        var unlinked = false
        for other in self.failures[self.failureHead..<index] where other.server == failure.server
            && other.client.address == failure.client.address && other.start < failure.start
            && failure.start.nanoseconds(since: other.start) <= Self.memberDownHorizon {
            earlier += 1
            if !other.used { unlinked = true }
        }
        return earlier >= Self.minimumChecksFailed && unlinked
    }

    /// Connection attempts counted as a member's checks: one failure may be a blip, and nginx
    /// (no checks) leaves a single refused connect per member, which the route's failures cover.
    static let minimumChecksFailed = 2

    /// The servers `listener`'s host could not reach in the `memberDownHorizon` before `error`
    /// (connections without a request that were refused or timed out, at least
    /// `minimumChecksFailed` to each, none succeeding since), the last failed connection to each,
    /// oldest first; empty when any server its host reached lately did answer, or none failed.
    func downServers(from listener: Endpoint, before error: HopRequest) -> [UInt32] {
        let tolerance = self.limits.tolerance
        var last: [Endpoint: (connection: UInt32, start: Timestamp, count: Int)] = [:]
        for index in self.failureHead..<self.failures.count {
            let failure = self.failures[index]
            guard failure.client.address == listener.address, failure.server != listener,
                  failure.start.nanoseconds <= error.time.nanoseconds &+ tolerance,
                  error.time.nanoseconds(since: failure.start) <= Self.memberDownHorizon,
                  failure.code == .tcpConnectRefused || failure.code == .tcpConnectTimeout
            else { continue }
            let count = (last[failure.server]?.count ?? 0) + 1
            if let known = last[failure.server], known.start > failure.start {
                last[failure.server]!.count = count
            } else {
                last[failure.server] = (failure.connection, failure.start, count)
            }
        }
        for (server, failure) in last {
            if failure.count < Self.minimumChecksFailed { return [] }
            if let success = self.lastSuccess[server], success > failure.start, success <= error.time { return [] }
        }
        return last.values.sorted { $0.start < $1.start }.map(\.connection)
    }

    /// The route a gateway maps a request to a pool by, as far as the request shows: its first
    /// path segment (`/down/` of `/down/7?q`).
    static func route(of target: String) -> Substring {
        let path = target.prefix { $0 != "?" }
        guard path.first == "/", let second = path.dropFirst().firstIndex(of: "/") else { return path }
        return path[...second]
    }

    /// The failures that had the members of `error`'s route marked down when the gateway answered
    /// it without trying one: over the gateway's earlier errors on the same listener, Host and route
    /// within `memberDownHorizon`, the last failed connection to each upstream, oldest first; empty
    /// when there is none (then the error stays unexplained: a `return 502` is not a dead pool).
    func membersDown(before error: HopRequest) -> [UInt32] {
        let route = Self.route(of: error.target)
        var lastByServer: [Endpoint: (connection: UInt32, start: Timestamp)] = [:]
        for failure in self.routeFailures.reversed() {
            guard error.time.nanoseconds(since: failure.time) <= Self.memberDownHorizon else { break }
            guard failure.time <= error.time, failure.listener == error.server, failure.host == error.host,
                  failure.route == route else { continue }
            for attempt in failure.attempts {
                if let known = lastByServer[attempt.server], known.start > attempt.start { continue }
                lastByServer[attempt.server] = (attempt.connection, attempt.start)
            }
        }
        return lastByServer.values.sorted { $0.start < $1.start }.map(\.connection)
    }

    /// Remembers the failed upstream attempts behind a client error the gateway made.
    private mutating func rememberRouteFailure(_ error: HopRequest, _ attempts: [(server: Endpoint, connection: UInt32, start: Timestamp)]) {
        guard !attempts.isEmpty else { return }
        if self.routeFailures.count >= max(1, self.limits.recentFailures) {
            self.routeFailures.removeFirst(max(1, self.routeFailures.count / 4))
        }
        self.routeFailures.append(RouteFailure(
            listener: error.server, host: error.host, route: Self.route(of: error.target),
            time: error.responseTime ?? error.outcome, attempts: attempts))
    }

    /// Counts and lists one client error, and marks its upstream attempts used.
    mutating func conclude(_ error: HopRequest, _ attempts: [(attempt: Attempt, start: Timestamp)]) {
        var upstreamConnection: UInt32?
        var upstreamServer: Endpoint?
        var upstreamStream: UInt32?
        var cause: FindingCode?
        var generatedBy = ClientError.Origin.gateway
        var matchedBy: [String] = []
        var connections: [UInt32] = []
        var failed: [(server: Endpoint, connection: UInt32, start: Timestamp)] = []
        for item in attempts {
            switch item.attempt {
            case .request(let seq, let request):
                if self.record(seq) != nil { self.ring[seq % self.ring.count]!.used = true }
                connections.append(request.connection)
                upstreamStream = request.streamID
                let relayed = request.status == error.status
                if !relayed || error.failure != nil { failed.append((request.server, request.connection, request.time)) }
                upstreamServer = request.server
                if error.failure != nil {
                    // The response never came whole: its status (when one came) is the
                    // upstream's, the failure the upstream connection's.
                    generatedBy = relayed && error.status != nil ? .upstream : .gateway
                    cause = self.verdicts[request.connection]
                } else if relayed {
                    generatedBy = .upstream
                    // The application's own answer; a FastCGI application's fatal error is the cause.
                    cause = self.verdicts[request.connection] == .fcgiStderrFatal ? .fcgiStderrFatal : .upstream5xx
                } else {
                    generatedBy = .gateway
                    cause = self.verdicts[request.connection]
                }
                matchedBy = Self.matchedBy(error, request)
            case .failure(let index):
                self.failures[index].used = true
                let failure = self.failures[index]
                connections.append(failure.connection)
                upstreamStream = nil
                failed.append((failure.server, failure.connection, failure.start))
                upstreamServer = failure.server
                generatedBy = .gateway
                cause = failure.code
                matchedBy = ["timing"]
            }
        }
        upstreamConnection = connections.last
        // The gateway made the error without asking any upstream: when its host's connections to
        // the upstreams had been failing just before, every member was marked down.
        if generatedBy == .gateway { self.rememberRouteFailure(error, failed) }
        var disabledBy: [UInt32] = []
        if attempts.isEmpty, error.failure == nil, error.status == 502 || error.status == 503 {
            disabledBy = self.membersDown(before: error)
            if disabledBy.isEmpty { disabledBy = self.downServers(from: error.server, before: error) }
            if !disabledBy.isEmpty {
                cause = .gatewayNoLiveUpstreams
                matchedBy = ["timing"]
            }
        }
        var earlier: [UInt32] = []
        for connection in connections.dropLast() where connection != upstreamConnection && !earlier.contains(connection) {
            earlier.append(connection)
        }
        self.errorCount += 1
        if upstreamConnection != nil || !disabledBy.isEmpty { self.explainedCount += 1 }
        guard self.errors.count < self.limits.listedErrors else {
            self.errorsNotListed += 1
            return
        }
        var listed = ClientError(
            client: error.client, gateway: error.server, clientConnection: error.connection, status: error.status,
            failure: error.failure ?? .errorStatus,
            time: error.responseTime ?? error.outcome, frame: error.responseFrame, requestFrame: error.frame, method: error.method,
            target: error.target, host: error.host, requestID: error.primaryID, generatedBy: generatedBy,
            upstreamConnection: upstreamConnection, upstreamServer: upstreamServer, cause: cause,
            earlierUpstreamConnections: earlier, matchedBy: matchedBy, disabledBy: disabledBy)
        listed.streamID = error.streamID
        listed.resetCode = error.resetCode
        listed.upstreamStreamID = upstreamConnection == nil ? nil : upstreamStream
        self.errors.append(listed)
    }

    /// What the client's request and the upstream's have in common.
    static func matchedBy(_ error: HopRequest, _ attempt: HopRequest) -> [String] {
        var out: [String] = []
        if let source = attempt.proxySource, source == error.client { out.append("proxy_header") }
        if let id = error.requestID, id == attempt.requestID { out.append("request_id") }
        if let id = error.correlationID, id == attempt.correlationID { out.append("correlation_id") }
        if let id = error.traceID, id == attempt.traceID { out.append("trace_id") }
        if error.method == attempt.method { out.append("method") }
        if error.target == attempt.target { out.append("target") }
        if let host = error.host, host == attempt.host { out.append("host") }
        out.append("timing")
        return out
    }
}
