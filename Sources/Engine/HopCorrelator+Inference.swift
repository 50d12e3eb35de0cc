import CaptureModel

/// Which servers are a gateway's listeners, from the requests alone.
///
/// A request on connection A to server S, followed within its response time by the same request
/// on another connection from S's host to a different server: S passed it on, so S is a gateway
/// and A is on the client hop. "Same request" is the same request id (`X-Request-Id`,
/// `X-Correlation-Id` or the `traceparent` trace-id) when both carry one, else the same method
/// and target (the Host usually differs: nginx sends the upstream's name). Addresses alone cannot
/// tell the hops apart (on loopback every address is 127.0.0.1), endpoints and requests can.
///
/// Two upstreams of one pool that served the same URL at once also look like this, now and then,
/// in a capture taken on a host that runs them all: so a listener needs most of its requests
/// passed on (or a request id to prove one), and is not one if requests went the other way
/// between the two just as often.
extension HopCorrelator {
    /// How two requests are the same request.
    enum Sameness {
        case requestID
        case methodAndTarget
    }

    /// Whether `inner` is `outer` passed on by `outer`'s server, and how they match.
    func passedOn(outer: HopRequest, inner: HopRequest, tolerance: Int64) -> Sameness? {
        guard outer.connection != inner.connection, outer.server != inner.server, inner.server != outer.client,
              inner.client.address == outer.server.address
        else { return nil }
        guard self.within(outer: outer, inner: inner, tolerance: tolerance) else { return nil }
        return Self.sameness(outer, inner)
    }

    /// Whether `inner` was sent after `outer` and settled before `outer`'s response.
    func within(outer: HopRequest, inner: HopRequest, tolerance: Int64) -> Bool {
        inner.time.nanoseconds &+ tolerance > outer.time.nanoseconds
            && inner.time <= outer.outcome
            && inner.outcome.nanoseconds <= outer.outcome.nanoseconds &+ tolerance
    }

    /// Whether two requests are the same: the ids both carry agree, or (with none in common) the
    /// method and target do.
    static func sameness(_ a: HopRequest, _ b: HopRequest) -> Sameness? {
        var compared = false
        func agree(_ x: String?, _ y: String?) -> Bool {
            guard let x, let y else { return true }
            compared = true
            return x == y
        }
        guard agree(a.requestID, b.requestID), agree(a.correlationID, b.correlationID), agree(a.traceID, b.traceID) else {
            return nil
        }
        if compared { return .requestID }
        return a.method == b.method && a.target == b.target ? .methodAndTarget : nil
    }

    /// Looks for `record`'s partners among the recent requests, both ways, and records what that
    /// says about the servers involved. The candidates are the heads of its method-and-target
    /// chain and of its request-id chain, newest first, down to the first that arrived before
    /// `record` was sent (neither hop of a pair can have).
    mutating func pair(_ record: inout HopRequest) {
        var touched: [Endpoint] = []
        let key = record.key
        let earliest = record.time.nanoseconds &- self.limits.tolerance
        var seq = self.requestHeads[key] ?? -1
        var oldestVisited = Int.max
        var steps = 0
        while steps < Self.maximumChainSteps, let other = self.record(seq), other.arrived.nanoseconds >= earliest {
            self.pair(&record, with: seq, other, touched: &touched)
            oldestVisited = seq
            seq = other.previousSameRequest
            steps += 1
        }
        if let id = record.idHash {
            seq = self.idHeads[id] ?? -1
            steps = 0
            while steps < Self.maximumChainSteps, let other = self.record(seq), other.arrived.nanoseconds >= earliest {
                // Already seen on the method-and-target chain?
                if seq < oldestVisited || other.key != key {
                    self.pair(&record, with: seq, other, touched: &touched)
                }
                seq = other.previousSameID
                steps += 1
            }
        }
        for server in touched where !self.inferred.contains(server) && self.qualifies(server, minimumForwarded: 3) {
            self.infer(server)
        }
    }

    private mutating func pair(_ record: inout HopRequest, with seq: Int, _ other: HopRequest, touched: inout [Endpoint]) {
        var other = other
        if let how = self.passedOn(outer: other, inner: record, tolerance: self.limits.tolerance) {
            self.notePassedOn(outer: &other, to: record.server, how: how)
            self.ring[seq % self.ring.count] = other
            touched.append(other.server)
        }
        if let how = self.passedOn(outer: record, inner: other, tolerance: self.limits.tolerance) {
            self.notePassedOn(outer: &record, to: other.server, how: how)
            touched.append(record.server)
        }
    }

    private mutating func notePassedOn(outer: inout HopRequest, to downstream: Endpoint, how: Sameness) {
        guard self.evidence[outer.server] != nil || self.evidence.count < Self.maximumServersTracked else { return }
        var evidence = self.evidence[outer.server] ?? ServerEvidence()
        if !outer.forwarded {
            outer.forwarded = true
            evidence.forwarded += 1
            if how == .requestID { evidence.forwardedByID += 1 }
        }
        if evidence.downstream[downstream] != nil || evidence.downstream.count < Self.maximumDownstream {
            evidence.downstream[downstream, default: 0] += 1
        }
        self.evidence[outer.server] = evidence
    }

    /// Whether the evidence makes `server` a listener: at least `minimumForwarded` of its requests
    /// passed on and at least half of them (or one matched by request id), and no server it
    /// passed requests to passed as many as a quarter as often back to it.
    func qualifies(_ server: Endpoint, minimumForwarded: Int) -> Bool {
        guard let evidence = self.evidence[server], evidence.forwarded > 0 else { return false }
        guard evidence.forwardedByID > 0 || (evidence.forwarded >= minimumForwarded && evidence.forwarded * 2 >= evidence.requests) else {
            return false
        }
        for (downstream, count) in evidence.downstream {
            if let back = self.evidence[downstream]?.downstream[server], back * 4 >= count { return false }
        }
        return true
    }

    /// The last word at the end of the capture: one passed-on request is enough then, with the rest of the rules.
    mutating func decideAtEnd() {
        guard self.given.isEmpty else { return }
        let servers = self.evidence.filter { $0.value.forwarded > 0 }.keys.sorted { $0.description < $1.description }
        for server in servers where !self.inferred.contains(server) && self.qualifies(server, minimumForwarded: 1) {
            self.infer(server)
        }
    }
}
