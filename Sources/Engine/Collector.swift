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
    }

    struct SlotState {
        var client = Losses()
        var server = Losses()
        var http = HTTP1Connection()
        /// Where the response stood at the first FIN or RST of either side: what a later packet
        /// (the upstream's FIN after the gateway gave up) must not change.
        var endSnapshot: ResponseEnd?
        /// Set when the gateway's first byte is a TLS handshake record.
        @Indirect var tls: TLSConnection? = nil
        var clientSpoke = false
        /// HTTP inside TLS, fed with what the key log decrypted.
        @Indirect var innerHTTP: HTTP1Connection? = nil
        /// The connection's id and endpoints, for the transactions handed on.
        var id: UInt32 = 0
        var clientEndpoint = Endpoint(address: .v4(0), port: 0)
        var serverEndpoint = Endpoint(address: .v4(0), port: 0)
        /// Stream offsets of requests handed on when the first FIN or RST sealed them.
        var sealedRequests: [UInt64] = []
    }

    let gateway: GatewayProfile
    /// Whether evidence masks credential values (`AnalysisOptions.redactsSecrets`).
    var redactsSecrets = true
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
    var reports: [ConnectionReport] = []
    /// Transactions finished since the engine last took them, every connection's (client-hop correlation).
    var finished: [FinishedTransaction] = []

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
        self.slots[slot] = SlotState()
        if !self.redactsSecrets { self.slots[slot].http = HTTP1Connection(redactsSecrets: false) }
        self.slots[slot].id = connection.id
        self.slots[slot].clientEndpoint = connection.client
        self.slots[slot].serverEndpoint = connection.server
    }

    mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int) {
        switch event {
        case .data(let data):
            if direction == .client, !self.slots[slot].clientSpoke, let first = data.bytes.first {
                self.slots[slot].clientSpoke = true
                // RFC 8446 §5.1: a handshake record (type 22) opens every TLS connection.
                if first == 0x16, data.offset == 0 {
                    self.slots[slot].tls = TLSConnection(decryption: self.decryption)
                }
            }
            // `$tls`, not `tls != nil`: asked per packet, and reading the optional copies it out.
            if self.slots[slot].$tls {
                self.slots[slot].tls!.feed(
                    data.bytes, direction: direction, at: data.offset, frame: data.frame, frameOffset: data.frameOffset, time: data.time)
                if self.decryption != nil { self.deliverDecrypted(slot: slot) }
            }
            self.slots[slot].http.feed(
                data.bytes, direction: direction, at: data.offset, frame: data.frame, frameOffset: data.frameOffset, time: data.time)
            if !self.slots[slot].http.finishedTransactions.isEmpty { self.handOnTransactions(slot: slot) }
        case .fin(_, _, let time):
            if self.slots[slot].endSnapshot == nil {
                if direction == .server { self.slots[slot].http.serverFIN() }
                self.slots[slot].http.ended()
                self.slots[slot].endSnapshot = self.slots[slot].http.responseEnd
                self.handOnSealed(slot: slot, at: time)
            }
        case .gap(let range, let reason, _):
            if self.slots[slot].$tls { self.slots[slot].tls?.gap(length: range.upperBound - range.lowerBound, direction: direction) }
            switch reason {
            case .snapLength(let frame):
                self.slots[slot].http.gap(range, direction: direction, frame: frame, truncated: true)
            case .notCaptured, .bufferLimit:
                self.slots[slot].http.gap(range, direction: direction, frame: nil, truncated: false)
            }
            let length = range.upperBound - range.lowerBound
            switch reason {
            case .notCaptured, .bufferLimit:
                let evidence = Evidence(
                    direction: direction, streamOffset: range.lowerBound, frame: nil, frameOffset: nil, length: length,
                    note: reason == .bufferLimit
                        ? "\(length) bytes skipped when the out-of-order buffer was full"
                        : "\(length) bytes sent but not in the capture")
                self.update(slot: slot, direction: direction) { losses in
                    if losses.firstGap == nil { losses.firstGap = evidence }
                }
            case .snapLength(let frame):
                let evidence = Evidence(
                    direction: direction, streamOffset: range.lowerBound, frame: frame, frameOffset: nil, length: length,
                    note: "\(length) bytes cut from frame \(frame) by the snap length")
                self.update(slot: slot, direction: direction) { losses in
                    if losses.firstTruncation == nil { losses.firstTruncation = evidence }
                }
            }
        }
    }

    mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int) {
        if self.slots[slot].endSnapshot == nil {
            self.slots[slot].http.ended()
            self.slots[slot].endSnapshot = self.slots[slot].http.responseEnd
            self.handOnSealed(slot: slot, at: mark.time)
        }
    }

    mutating func connectionEnded(_ connection: Connection, slot: Int) {
        var state = self.slots[slot]
        self.slots[slot] = SlotState()  // release the connection's buffers now
        let end = state.endSnapshot ?? state.http.responseEnd
        state.http.finish()
        // What finish() recorded: requests never answered and a cut response (those the first
        // FIN or RST sealed were handed on then), sealed at the first close or the last packet.
        let facts = connection.facts
        let ended = [facts.client.fin, facts.server.fin, facts.client.rst, facts.server.rst].compactMap { $0?.time }.min() ?? facts.last.time
        self.handOn(state.http.finishedTransactions, of: state, ended: ended)
        let view = ConnectionDiagnosis.HTTPView(
            findings: state.http.findings, uncheckedGaps: state.http.uncheckedGaps, end: end,
            upstream5xx: state.http.upstream5xx, gatewaySpeaksHTTP1: state.http.gatewaySpeaksHTTP1,
            arrivedWithHead: state.http.findingsArrivedWithHead)
        let context = TCPContext(
            captureEnd: self.captureEnd, unreachable: connection.unreachable, gateway: self.gateway,
            serverGap: state.server.firstGap)
        var diagnosis: Diagnosis
        var tlsSummary: TLSSummary?
        if let tls = state.tls {
            var check: ChainCheck?
            if !tls.certificates.isEmpty, let verifier = self.verifier {
                // Judged at the capture's time (the Certificate message's), not today.
                let time = tls.certificateLocation?.time ?? connection.facts.first.time
                check = verifier.verify(chain: tls.certificates, host: self.expectedName(connection.server, tls), at: time)
            }
            (diagnosis, tlsSummary) = TLSDiagnosis.diagnose(connection, tls: tls, chain: check, context: context)
            if tls.clientHello != nil { self.tlsSessions += 1 }
            if tls.keysFound { self.tlsSessionsWithKeys += 1 }
            if var inner = state.innerHTTP, tls.decryptedRecords > 0, !diagnosis.verdict.code.description.hasPrefix("tls.") {
                // The handshake was fine and the key log opened the records: judge the HTTP inside.
                let innerEnd = inner.responseEnd
                inner.finish()
                self.handOn(inner.finishedTransactions, of: state, ended: ended)
                let innerView = ConnectionDiagnosis.HTTPView(
                    findings: inner.findings, uncheckedGaps: inner.uncheckedGaps, end: innerEnd, upstream5xx: inner.upstream5xx,
                    gatewaySpeaksHTTP1: inner.gatewaySpeaksHTTP1, arrivedWithHead: inner.findingsArrivedWithHead)
                let tlsFindings = diagnosis.findings.filter { $0.code.description.hasPrefix("tls.") }
                diagnosis = ConnectionDiagnosis.diagnose(connection, http: innerView, context: context)
                diagnosis.findings += tlsFindings
                state.http = inner
                tlsSummary?.decrypted = true
            }
        } else {
            diagnosis = ConnectionDiagnosis.diagnose(connection, http: view, context: context)
        }
        for losses in [state.client, state.server] {
            if let first = losses.firstGap, !diagnosis.findings.contains(where: { $0.code == .captureGap && $0.evidence.first?.direction == first.direction }) {
                diagnosis.findings.append(Finding(code: .captureGap, severity: .warning, evidence: [first]))
            }
            if let first = losses.firstTruncation, !diagnosis.findings.contains(where: { $0.code == .captureTruncated && $0.evidence.first?.direction == first.direction }) {
                diagnosis.findings.append(Finding(code: .captureTruncated, severity: .warning, evidence: [first]))
            }
        }
        var reportFacts = connection.facts
        // Only a failure's report draws the ladder: a healthy connection's is let go here.
        if diagnosis.verdict.verdictClass == .ok { reportFacts.ladder = PacketLadder() }
        self.reports.append(ConnectionReport(
            id: connection.id, client: connection.client, server: connection.server, facts: reportFacts,
            clientStreamBytes: connection.clientStream.nextOffset, serverStreamBytes: connection.serverStream.nextOffset,
            clientGapBytes: connection.clientStream.gapBytes, serverGapBytes: connection.serverStream.gapBytes,
            retransmissions: (connection.clientStream.retransmittedSegments, connection.serverStream.retransmittedSegments),
            outOfOrder: (connection.clientStream.outOfOrderSegments, connection.serverStream.outOfOrderSegments),
            end: connection.end ?? .captureEnded, verdict: diagnosis.verdict, findings: diagnosis.findings,
            transactions: state.http.transactions, transactionsDropped: state.http.transactionsDropped, tls: tlsSummary))
    }

    /// Hands the slot's finished transactions on to the engine (outer HTTP, then decrypted HTTP).
    mutating func handOnTransactions(slot: Int) {
        let (id, client, server) = (self.slots[slot].id, self.slots[slot].clientEndpoint, self.slots[slot].serverEndpoint)
        if !self.slots[slot].http.finishedTransactions.isEmpty {
            self.handOn(self.slots[slot].http.finishedTransactions, connection: id, client: client, server: server,
                        sealed: self.slots[slot].sealedRequests, ended: nil)
            self.slots[slot].http.clearFinishedTransactions()
        }
        if self.slots[slot].$innerHTTP, self.slots[slot].innerHTTP?.finishedTransactions.isEmpty == false {
            self.handOn(self.slots[slot].innerHTTP!.finishedTransactions, connection: id, client: client, server: server,
                        sealed: self.slots[slot].sealedRequests, ended: nil)
            self.slots[slot].innerHTTP!.clearFinishedTransactions()
        }
    }

    /// At the first FIN or RST, a request in flight has had its answer, or will never have one:
    /// hand it on now rather than when the connection is judged, after it lingered. A gateway
    /// answers its client right after, and the client's error is matched with what is handed
    /// on before it.
    private mutating func handOnSealed(slot: Int, at time: Timestamp) {
        if !self.slots[slot].http.finishedTransactions.isEmpty { self.handOnTransactions(slot: slot) }
        guard let end = self.slots[slot].endSnapshot else { return }
        let state = self.slots[slot]
        if let request = end.inProgressRequest {
            self.finished.append(FinishedTransaction(
                connection: state.id, client: state.clientEndpoint, server: state.serverEndpoint, request: request,
                response: end.inProgress, ended: time))
            self.slots[slot].sealedRequests.append(request.offset)
        }
        if let request = end.outstanding, request.offset != end.inProgressRequest?.offset {
            self.finished.append(FinishedTransaction(
                connection: state.id, client: state.clientEndpoint, server: state.serverEndpoint, request: request, response: nil,
                ended: time))
            self.slots[slot].sealedRequests.append(request.offset)
        }
    }

    private mutating func handOn(_ transactions: [Transaction], of state: SlotState, ended: Timestamp?) {
        self.handOn(transactions, connection: state.id, client: state.clientEndpoint, server: state.serverEndpoint,
                    sealed: state.sealedRequests, ended: ended)
    }

    /// Hands on `transactions` of one connection, but for requests the first FIN or RST sealed
    /// (handed on then). Takes the slot's fields, not the slot: copying a slot costs a retain of
    /// every buffer it holds.
    private mutating func handOn(
        _ transactions: [Transaction], connection: UInt32, client: Endpoint, server: Endpoint, sealed: [UInt64], ended: Timestamp?
    ) {
        for transaction in transactions {
            guard let request = transaction.request, !sealed.contains(request.offset) else { continue }
            self.finished.append(FinishedTransaction(
                connection: connection, client: client, server: server, request: request, response: transaction.response,
                ended: ended))
        }
    }

    /// The name the gateway expects in the upstream's certificate: `--upstream NAME=` first, then SNI.
    private func expectedName(_ server: Endpoint, _ tls: TLSConnection) -> String? {
        let named = self.expectedNames.first { $0.address == server.address && ($0.port ?? server.port) == server.port }
        return named?.name ?? tls.clientHello?.serverName
    }

    private mutating func update(slot: Int, direction: Direction, _ body: (inout Losses) -> Void) {
        switch direction {
        case .client: body(&self.slots[slot].client)
        case .server: body(&self.slots[slot].server)
        }
    }
}
