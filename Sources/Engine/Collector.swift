import CaptureModel
import Diagnosis
import HTTP1
import TCPReassembly
import TLSRecords

/// Per-connection state the engine keeps beside the flow table, and the reports of ended connections.

struct Collector: ConnectionSink {
    /// What the capture lacks of one direction.
    struct Losses {
        var firstGap: Evidence?
        var firstTruncation: Evidence?

        /// These losses, leaving none: moved out of a pool entry about to be let go, not copied.
        mutating func take() -> Losses {
            var taken = Losses()
            swap(&taken, &self)
            return taken
        }
    }

    /// What a connection needs while bytes can still come: its analysis (the protocol probe and
    /// the analyzer it picked), what the capture lacks of each direction, where the response
    /// stood at the first FIN or RST. Kept in a pool
    /// beside the slots (`live`), an entry per connection whose streams are open, reused by
    /// later connections: a flow table's slots are mostly connections that closed and linger,
    /// and those keep only their `Settled` outcome.
    struct LiveState {
        var client = Losses()
        var server = Losses()
        var analysis = ConnectionAnalysis(canStartTLS: true)
        /// Where the response stood at the first FIN or RST of either side: what a later packet
        /// (the upstream's FIN after the gateway gave up) must not change.
        var endSnapshot: ResponseEnd?
        /// Stream offsets of requests handed on when the first FIN or RST sealed them.
        var sealedRequests: [UInt64] = []
    }

    /// What a connection keeps once both streams delivered their FIN: no stream event can come
    /// after that (bytes past a FIN are not stream bytes, and everything before it was delivered
    /// or reported as a gap), so its HTTP is over and judged as far as HTTP goes. The rest of the
    /// verdict waits for the linger, as late packets still change the TCP facts.
    final class Settled {
        let outcome: HTTPOutcome
        let client: Losses
        let server: Losses
        let sealedRequests: [UInt64]

        /// Taking its arguments: what `settle` moves in (`consume`) is not copied.
        init(outcome: consuming HTTPOutcome, client: consuming Losses, server: consuming Losses, sealedRequests: consuming [UInt64]) {
            self.outcome = outcome
            self.client = client
            self.server = server
            self.sealedRequests = sealedRequests
        }
    }

    /// The analysis's part of the verdict and the report, taken when it has seen everything.
    typealias HTTPOutcome = ConnectionAnalysis.Outcome

    struct SlotState {
        /// Index in `live` while the connection's streams are open; -1 once settled or ended.
        var live = -1
        /// Set once both streams delivered their FIN (not for TLS, whose state stays live).
        var settled: Settled?
        /// Directions whose FIN was delivered: bit 0 the client's, bit 1 the server's.
        var finsDelivered: UInt8 = 0
        /// Set when the probe found a TLS handshake at the gateway's first byte: the connection's
        /// bytes go here from then on, not to `LiveState.analysis`.
        @Indirect var tls: TLSAnalyzer? = nil
        /// The connection's id and endpoints, for the transactions handed on.
        var id: UInt32 = 0
        var clientEndpoint = Endpoint(address: .v4(0), port: 0)
        var serverEndpoint = Endpoint(address: .v4(0), port: 0)
    }

    let gateway: GatewayProfile
    /// Whether evidence masks credential values (`AnalysisOptions.redactsSecrets`).
    var redactsSecrets = true
    /// The most header fields a response head may have before `http.header.too_many`: the lowest
    /// limit of the gateway models a verdict shows (`Gateways.shown(for:)`), so every model that
    /// refuses the head has a finding to judge.
    var fieldLimit = HTTP1Connection.defaultFieldLimit
    let verifier: (any ChainVerifying)?
    /// Replaced as a live capture's key log grows (`updateKeyLog(_:)`).
    var decryption: TLSConnection.Decryption?
    /// TLS sessions seen, and those the key log had secrets for.
    var tlsSessions = 0
    var tlsSessionsWithKeys = 0
    /// Host names the gateway expects, by upstream (`--upstream NAME=ADDR:PORT`).
    let expectedNames: [UpstreamSpec]
    var captureEnd: Timestamp = .zero
    var slots: [SlotState] = []
    /// The pool of open connections' state (`SlotState.live` indexes it), and its free entries.
    var live: [LiveState] = []
    var freeLive: [Int] = []
    var reports: [ConnectionReport] = []
    /// Transactions finished since the engine last took them, every connection's (client-hop correlation).
    var finished: [FinishedTransaction] = []
    /// Which healthy response heads are copied for comparisons (a few per upstream and target).
    var heads = HeadSampler()

    init(gateway: GatewayProfile, verifier: (any ChainVerifying)?, decryption: TLSConnection.Decryption?, expectedNames: [UpstreamSpec]) {
        self.gateway = gateway
        self.verifier = verifier
        self.decryption = decryption
        self.expectedNames = expectedNames.filter { $0.name != nil }
    }

    mutating func connectionStarted(_ connection: Connection, slot: Int) {
        if slot >= self.slots.count {
            self.slots.append(contentsOf: repeatElement(SlotState(), count: slot + 1 - self.slots.count))
        }
        let index: Int
        if let free = self.freeLive.popLast() {
            index = free  // emptied when it was given back
        } else {
            index = self.live.count
            self.live.append(LiveState())
        }
        if !self.redactsSecrets || self.fieldLimit != HTTP1Connection.defaultFieldLimit {
            self.live[index].analysis = ConnectionAnalysis(canStartTLS: true, redactsSecrets: self.redactsSecrets, fieldLimit: self.fieldLimit)
        }
        self.slots[slot] = SlotState(live: index, id: connection.id, clientEndpoint: connection.client, serverEndpoint: connection.server)
    }

    /// Number of open connections' states held in the pool (in use or free for reuse).
    var livePoolSize: Int { self.live.count }

    mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int) {
        let index = self.slots[slot].live
        // A settled slot gets no stream events (see `Settled`); an ended one none at all.
        guard index >= 0 else { return }
        switch event {
        case .data(let data):
            // `$tls`, not `tls != nil`: asked per packet, and reading the optional copies it out.
            if self.slots[slot].$tls {
                self.slots[slot].tls!.feed(
                    data.bytes, direction: direction, at: data.offset, frame: data.frame, frameOffset: data.frameOffset, time: data.time)
                if self.decryption != nil, self.slots[slot].tls!.hasFinishedTransactions { self.handOnTransactions(slot: slot) }
                return
            }
            let startsTLS = self.live[index].analysis.feed(
                data.bytes, direction: direction, at: data.offset, frame: data.frame, frameOffset: data.frameOffset, time: data.time)
            if startsTLS {
                self.slots[slot].tls = TLSAnalyzer(decryption: self.decryption, redactsSecrets: self.redactsSecrets, fieldLimit: self.fieldLimit)
                if let afterProxyHeader = self.live[index].analysis.takeTLSStart() {
                    for chunk in afterProxyHeader {
                        chunk.bytes.withUnsafeBytes {
                            self.slots[slot].tls!.feed($0, direction: direction, at: chunk.offset, frame: chunk.frame, frameOffset: chunk.frameOffset, time: chunk.time)
                        }
                    }
                } else {
                    self.slots[slot].tls!.feed(
                        data.bytes, direction: direction, at: data.offset, frame: data.frame, frameOffset: data.frameOffset, time: data.time)
                }
                if self.decryption != nil, self.slots[slot].tls!.hasFinishedTransactions { self.handOnTransactions(slot: slot) }
                return
            }
            if self.live[index].analysis.checkFinishedTransactions() { self.handOnTransactions(slot: slot) }
        case .fin(_, _, let time):
            if self.live[index].endSnapshot == nil {
                self.live[index].endSnapshot = self.live[index].analysis.close(.fin(direction))
                // `$tls` first: a mutation through an absent `Indirect` would box nothing.
                if self.slots[slot].$tls { self.slots[slot].tls!.close(.fin(direction)) }
                self.handOnSealed(slot: slot, at: time, close: .fin(direction), by: direction)
            }
            self.slots[slot].finsDelivered |= direction == .client ? 1 : 2
            if self.slots[slot].finsDelivered == 3, !self.slots[slot].$tls {
                self.settle(slot: slot)
            }
        case .gap(let range, let reason, _):
            if self.slots[slot].$tls {
                self.slots[slot].tls!.gap(range, direction: direction, reason: reason)
            } else {
                self.live[index].analysis.gap(range, direction: direction, reason: reason)
            }
            let length = range.upperBound - range.lowerBound
            switch reason {
            case .notCaptured, .bufferLimit:
                let evidence = Evidence(
                    direction: direction, streamOffset: range.lowerBound, frame: nil, frameOffset: nil, length: length,
                    note: reason == .bufferLimit
                        ? "\(length) bytes skipped when the out-of-order buffer was full"
                        : "\(length) bytes sent but not in the capture")
                self.update(live: index, direction: direction) { losses in
                    if losses.firstGap == nil { losses.firstGap = evidence }
                }
            case .snapLength(let frame):
                let evidence = Evidence(
                    direction: direction, streamOffset: range.lowerBound, frame: frame, frameOffset: nil, length: length,
                    note: "\(length) bytes cut from frame \(frame) by the snap length")
                self.update(live: index, direction: direction) { losses in
                    if losses.firstTruncation == nil { losses.firstTruncation = evidence }
                }
            }
        }
    }

    mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int) {
        let index = self.slots[slot].live
        // Settled: both FINs came first, and the first of them sealed the response.
        guard index >= 0 else { return }
        if self.live[index].endSnapshot == nil {
            self.live[index].endSnapshot = self.live[index].analysis.close(.reset)
            if self.slots[slot].$tls { self.slots[slot].tls!.close(.reset) }
            self.handOnSealed(slot: slot, at: mark.time, close: .reset, by: direction)
        }
    }

    /// Both streams delivered their FIN: the HTTP outcome is taken now and the slot's pool
    /// entry is freed for the next connection, so a closed connection lingers with its outcome
    /// only.
    private mutating func settle(slot: Int) {
        let index = self.slots[slot].live
        // Taken, not copied: the entry is let go right after.
        let end = self.live[index].endSnapshot.take()
        let outcome = self.live[index].analysis.finish(endedAt: end)
        self.slots[slot].settled = Settled(
            outcome: consume outcome, client: self.live[index].client.take(), server: self.live[index].server.take(),
            sealedRequests: self.live[index].sealedRequests)
        self.releaseLive(slot: slot)
    }

    /// Gives the slot's pool entry back (its contents are replaced when it is next taken).
    private mutating func releaseLive(slot: Int) {
        let index = self.slots[slot].live
        guard index >= 0 else { return }
        self.slots[slot].live = -1
        self.releaseLive(index: index)
    }

    /// Gives pool entry `index` back, its slot already let go of it.
    private mutating func releaseLive(index: Int) {
        // What the entry holds is let go now, so a freed entry keeps no connection's buffers.
        self.live[index] = LiveState()
        self.freeLive.append(index)
    }

    mutating func connectionEnded(_ connection: inout Connection, slot: Int) {
        // Taken out of the slot, not copied (a copy retained every buffer it holds); the slot
        // is left empty, so the connection's buffers go with `state`.
        var state = SlotState()
        swap(&state, &self.slots[slot])
        // What finish() recorded: requests never answered and a cut response (those the first
        // FIN or RST sealed were handed on then), sealed at the first close or the last packet.
        // The earliest close (without an array per connection), else the last packet.
        var firstClose: Timestamp?
        func consider(_ mark: PacketMark?) {
            if let time = mark?.time { firstClose = min(firstClose ?? time, time) }
        }
        consider(connection.facts.client.fin)
        consider(connection.facts.server.fin)
        consider(connection.facts.client.rst)
        consider(connection.facts.server.rst)
        let ended = firstClose ?? connection.facts.last.time
        if let settled = state.settled {
            state.settled = nil
            self.judgeEnded(&connection, state: state, outcome: settled.outcome, losses: (settled.client, settled.server),
                            sealed: settled.sealedRequests, ended: ended)
        } else {
            let index = state.live
            let end = self.live[index].endSnapshot.take()
            let outcome = self.live[index].analysis.finish(endedAt: end)
            let losses = (self.live[index].client.take(), self.live[index].server.take())
            let sealed = self.live[index].sealedRequests
            self.releaseLive(index: index)
            self.judgeEnded(&connection, state: state, outcome: outcome, losses: losses, sealed: sealed, ended: ended)
        }
    }

    /// Judges a connection that ended, with what its HTTP analysis came to. The report takes
    /// the connection's facts.
    private mutating func judgeEnded(
        _ connection: inout Connection, state: SlotState, outcome: HTTPOutcome, losses: (client: Losses, server: Losses),
        sealed: [UInt64], ended: Timestamp
    ) {
        let firstClosed = self.finished.count
        self.handOn(outcome.closedAtFinish, of: state, sealed: sealed, ended: ended)
        self.markBehindProxyHeader(from: firstClosed, outcome.proxyHeader)
        var reportTransactions = outcome.transactions
        var reportTransactionsDropped = outcome.transactionsDropped
        var context = TCPContext(
            captureEnd: self.captureEnd, unreachable: connection.unreachable, gateway: self.gateway,
            serverGap: losses.server.firstGap)
        context.unreachableCode = connection.unreachableCode
        context.unreachableIsIPv6 = connection.unreachableIsIPv6
        var diagnosis: Diagnosis
        var tlsSummary: TLSSummary?
        if let analyzer = state.tls {
            let tls = analyzer.connection
            var check: ChainCheck?
            if !tls.certificates.isEmpty, let verifier = self.verifier {
                // Judged at the capture's time (the Certificate message's), not today.
                let time = tls.certificateLocation?.time ?? connection.facts.first.time
                check = verifier.verify(chain: tls.certificates, host: self.expectedName(connection.server, tls), at: time)
            }
            (diagnosis, tlsSummary) = TLSDiagnosis.diagnose(connection, tls: tls, chain: check, context: context)
            if tls.clientHello != nil { self.tlsSessions += 1 }
            if tls.keysFound { self.tlsSessionsWithKeys += 1 }
            if var inner = analyzer.inner, tls.decryptedRecords > 0, !diagnosis.verdict.code.description.hasPrefix("tls.") {
                // The handshake was fine and the key log opened the records: judge what was inside.
                let innerOutcome = inner.finish(endedAt: nil)
                self.handOn(innerOutcome.closedAtFinish, of: state, sealed: sealed, ended: ended)
                let innerView = innerOutcome.view
                let tlsFindings = diagnosis.findings.filter { $0.code.description.hasPrefix("tls.") }
                diagnosis = ConnectionDiagnosis.diagnose(connection, http: innerView, context: context)
                diagnosis.findings += tlsFindings
                diagnosis = TLSDiagnosis.withALPNCause(diagnosis, server: connection.server, context: context)
                reportTransactions = innerOutcome.transactions
                reportTransactionsDropped = innerOutcome.transactionsDropped
                tlsSummary?.decrypted = true
            }
        } else {
            diagnosis = ConnectionDiagnosis.diagnose(connection, http: outcome.view, context: context)
        }
        Self.addLosses(losses.client, to: &diagnosis)
        // A path-MTU black hole's hole holds bytes the gateway never had, not bytes the capture lost.
        if diagnosis.verdict.code != .tcpMTUBlackhole { Self.addLosses(losses.server, to: &diagnosis) }
        if let pathMTU = TCPDiagnosis.pathMTUFinding(connection) { diagnosis.findings.append(pathMTU) }
        // Taken, not copied: the flow table lets the connection go after this.
        var reportFacts = ConnectionFacts(first: connection.facts.first)
        swap(&reportFacts, &connection.facts)
        // Only a failure's report draws the ladder: a healthy connection's is let go here.
        if diagnosis.verdict.verdictClass == .ok { reportFacts.ladder = PacketLadder() }
        self.reports.append(ConnectionReport(
            id: connection.id, client: connection.client, server: connection.server, facts: reportFacts,
            clientStreamBytes: connection.clientStream.nextOffset, serverStreamBytes: connection.serverStream.nextOffset,
            clientGapBytes: connection.clientStream.gapBytes, serverGapBytes: connection.serverStream.gapBytes,
            retransmissions: (connection.clientStream.retransmittedSegments, connection.serverStream.retransmittedSegments),
            outOfOrder: (connection.clientStream.outOfOrderSegments, connection.serverStream.outOfOrderSegments),
            end: connection.end ?? .captureEnded, verdict: diagnosis.verdict, findings: diagnosis.findings,
            transactions: reportTransactions, transactionsDropped: reportTransactionsDropped, tls: tlsSummary,
            proxyHeader: outcome.proxyHeader))
        if diagnosis.verdict.verdictClass != .ok, !state.$tls {
            // Plain HTTP/1 only, for now: decrypted TLS connections are not compared yet.
            self.reports[self.reports.count - 1].responseHead = outcome.failingHead
        }
    }

    /// What the capture lacks of one direction, as findings, unless the diagnosis has them.
    private static func addLosses(_ losses: Losses, to diagnosis: inout Diagnosis) {
        if let first = losses.firstGap, !diagnosis.findings.contains(where: { $0.code == .captureGap && $0.evidence.first?.direction == first.direction }) {
            diagnosis.findings.append(Finding(code: .captureGap, severity: .warning, evidence: [first]))
        }
        if let first = losses.firstTruncation, !diagnosis.findings.contains(where: { $0.code == .captureTruncated && $0.evidence.first?.direction == first.direction }) {
            diagnosis.findings.append(Finding(code: .captureTruncated, severity: .warning, evidence: [first]))
        }
    }

    /// Hands the slot's finished transactions on to the engine (the connection's, then those
    /// decrypted from its TLS).
    mutating func handOnTransactions(slot: Int) {
        let (id, client, server) = (self.slots[slot].id, self.slots[slot].clientEndpoint, self.slots[slot].serverEndpoint)
        let index = self.slots[slot].live
        guard index >= 0 else { return }
        if self.live[index].analysis.checkFinishedTransactions() {
            let first = self.finished.count
            let transactions = self.live[index].analysis.takeFinishedTransactions()
            self.handOn(transactions, connection: id, client: client, server: server,
                        sealed: self.live[index].sealedRequests, ended: nil)
            if self.live[index].analysis.checkProxyHeader() {
                self.markBehindProxyHeader(from: first, self.live[index].analysis.proxyHeader)
            }
            if let offset = self.live[index].analysis.checkParkedHealthyHead(), first < self.finished.count {
                self.offerHead(at: offset, live: index)
            }
        }
        if self.slots[slot].$tls, self.slots[slot].tls!.hasFinishedTransactions {
            self.handOn(self.slots[slot].tls!.inner!.finishedTransactions, connection: id, client: client, server: server,
                        sealed: self.live[index].sealedRequests, ended: nil)
            self.slots[slot].tls!.clearFinishedTransactions()
        }
    }

    /// The last transaction handed on answered with the healthy head still at hand at `offset`:
    /// copied onto it when the sampler wants one for its upstream and target now.
    private mutating func offerHead(at offset: UInt64, live index: Int) {
        let last = self.finished.count - 1
        guard let response = self.finished[last].response, response.offset == offset, response.complete else { return }
        // Asked with the transaction's parts: lent whole to the sampler, it was copied.
        let request = self.finished[last].request
        guard self.heads.wants(server: self.finished[last].server, method: request.method, target: request.target, answeredAt: response.time)
        else { return }
        self.finished[last].head = self.live[index].analysis.copyParkedHead()
    }

    /// At the first FIN or RST, a request in flight has had its answer, or will never have one:
    /// hand it on now rather than when the connection is judged, after it lingered. A gateway
    /// answers its client right after, and the client's error is matched with what is handed
    /// on before it.
    /// Marks the transactions handed on from `first` as sent behind `header`: the PROXY header's
    /// source names their client connection on the client hop (`HopCorrelator`).
    private mutating func markBehindProxyHeader(from first: Int, _ header: ProxyHeader?) {
        guard let header else { return }
        for item in first..<self.finished.count {
            self.finished[item].afterProxyHeader = true
            self.finished[item].proxySource = header.source
        }
    }

    private mutating func handOnSealed(slot: Int, at time: Timestamp, close: StreamClose, by closer: Direction) {
        let index = self.slots[slot].live
        if self.live[index].analysis.checkFinishedTransactions() { self.handOnTransactions(slot: slot) }
        guard let end = self.live[index].endSnapshot else { return }
        let first = self.finished.count
        defer {
            if self.live[index].analysis.checkProxyHeader() { self.markBehindProxyHeader(from: first, self.live[index].analysis.proxyHeader) }
        }
        let (id, client, server) = (self.slots[slot].id, self.slots[slot].clientEndpoint, self.slots[slot].serverEndpoint)
        if let request = end.inProgressRequest {
            let response = end.inProgress
            self.finished.append(FinishedTransaction(
                connection: id, client: client, server: server, request: request, response: response, ended: time,
                failure: Self.clientFailure(close, by: closer, responseStarted: response != nil, complete: response?.complete == true),
                streamID: end.streamID))
            self.live[index].sealedRequests.append(request.offset)
        }
        if let request = end.outstanding, request.offset != end.inProgressRequest?.offset {
            self.finished.append(FinishedTransaction(
                connection: id, client: client, server: server, request: request, response: nil, ended: time,
                failure: Self.clientFailure(close, by: closer, responseStarted: false, complete: false), streamID: end.streamID))
            self.live[index].sealedRequests.append(request.offset)
        }
    }

    /// What the client of a request in flight saw when `closer`'s FIN or RST sealed it: nothing
    /// when the response was complete or the client itself ended the connection; else an empty
    /// reply (the server's FIN before any response byte), a reset, or a cut body (the server's
    /// FIN inside the response).
    static func clientFailure(_ close: StreamClose, by closer: Direction, responseStarted: Bool, complete: Bool) -> ClientFailure? {
        guard closer == .server, !complete else { return nil }
        switch close {
        case .reset: return .reset
        case .fin: return responseStarted ? .cutBody : .emptyReply
        }
    }

    private mutating func handOn(_ transactions: [Transaction], of state: SlotState, sealed: [UInt64], ended: Timestamp?) {
        guard !transactions.isEmpty else { return }
        self.handOn(transactions, connection: state.id, client: state.clientEndpoint, server: state.serverEndpoint,
                    sealed: sealed, ended: ended)
    }

    /// Hands on `transactions` of one connection, but for requests the first FIN or RST sealed
    /// (handed on then). Takes the slot's fields, not the slot: copying a slot costs a retain of
    /// every buffer it holds.
    private mutating func handOn(
        _ transactions: [Transaction], connection: UInt32, client: Endpoint, server: Endpoint, sealed: [UInt64], ended: Timestamp?
    ) {
        // Each transaction's parts are read in place: iterating the array copied each whole.
        for index in transactions.indices {
            guard let request = transactions[index].request, !sealed.contains(request.offset) else { continue }
            var finished = FinishedTransaction(
                connection: connection, client: client, server: server, request: request, response: transactions[index].response,
                ended: transactions[index].ended ?? ended)
            if let stream = transactions[index].streamID {
                finished.streamID = stream
                finished.resetCode = transactions[index].resetCode
                finished.failure = Self.streamFailure(transactions[index])
            }
            self.finished.append(consume finished)  // moved: without `consume` it was copied
        }
    }

    /// What the client of an HTTP/2 stream saw go wrong (on a client-hop connection): the server's
    /// RST_STREAM before the response was complete, a body END_STREAM cut short of its
    /// content-length, or a gRPC status other than OK; nil for a complete answer.
    static func streamFailure(_ transaction: Transaction) -> ClientFailure? {
        if transaction.resetCode != nil { return .reset }
        if let response = transaction.response, response.status != nil, !response.complete, transaction.ended != nil { return .cutBody }
        if transaction.grpcStatus != nil { return .grpcStatus }
        return nil
    }

    /// The name the gateway expects in the upstream's certificate: `--upstream NAME=` first, then SNI.
    private func expectedName(_ server: Endpoint, _ tls: TLSConnection) -> String? {
        let named = self.expectedNames.first { $0.address == server.address && ($0.port ?? server.port) == server.port }
        return named?.name ?? tls.clientHello?.serverName
    }

    private mutating func update(live index: Int, direction: Direction, _ body: (inout Losses) -> Void) {
        switch direction {
        case .client: body(&self.live[index].client)
        case .server: body(&self.live[index].server)
        }
    }
}

