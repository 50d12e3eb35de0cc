import CaptureModel
import Diagnosis
import PacketDecoding
import TCPReassembly

/// What the engine does with judged connections and finished transactions once a flow table has
/// let them go: the tally, the listed reports, the queue of ended connections, client-hop
/// correlation. `Engine` feeds it from its one flow table; `ShardedEngine` from several, in the
/// order one table would have judged them, so the analysis is the same.
struct Merger {
    let options: AnalysisOptions
    /// Counts over every judged connection in scope.
    var tally = ConnectionTally()
    /// Judged connections the result lists (`.all`), or the failing ones listed (`.bounded`).
    var listed: [ConnectionReport] = []
    /// `.bounded` only: healthy connections listed, the oldest from `healthyStart` on.
    var listedHealthy: [ConnectionReport] = []
    var healthyStart = 0
    /// Judged connections counted but not listed.
    var unlisted = 0
    /// `.bounded` only: failures listed, by `severityRank`.
    var listedRanks = [Int](repeating: 0, count: 5)
    /// Judged connections outside `--upstream`.
    var otherConnections = 0
    /// Judged since the last `takeEnded()`, when `options.queueEnded`.
    var ended: [ConnectionReport] = []
    /// The client-to-gateway hop, when the capture holds it too.
    var hops: HopCorrelator
    /// Connections outside `--upstream` by server, so a server found to be the gateway's
    /// listener later can take its own back out of `otherConnections`.
    var outOfScope: [Endpoint: Int] = [:]
    /// Which upstreams take a PROXY protocol header (`proto.proxy_header_missing`).
    var proxyProtocol = ProxyProtocolKnowledge()
    /// Healthy response heads kept to compare failing ones with.
    var heads = HeadStore()

    init(options: AnalysisOptions) {
        self.options = options
        var hopLimits = options.clientHop
        // A failed upstream connection is judged once it has lingered closed and the next sweep came.
        hopLimits.settleDelay = max(hopLimits.settleDelay, options.limits.closedLinger &+ 2_000_000_000)
        self.hops = HopCorrelator(
            limits: hopLimits, given: options.gatewayAddresses, lateDelay: options.limits.idleTimeout &+ 2_000_000_000)
    }

    /// Whether `report`'s server is one of `--upstream` (every server when none was given).
    func inScope(_ report: ConnectionReport) -> Bool {
        self.options.upstreams.isEmpty
            || self.options.upstreams.contains { $0.address == report.server.address && ($0.port ?? report.server.port) == report.server.port }
    }

    /// Moves what a flow table judged (emptying both arrays) into the tally, the listed reports
    /// and the queue, and finished transactions to client-hop correlation; `now` is the latest
    /// capture time seen. A connection to the gateway's listener is on the client hop: counted
    /// there, not as an upstream's.
    mutating func absorb(finished: inout [FinishedTransaction], reports: inout [ConnectionReport], now: Timestamp) {
        if !finished.isEmpty {
            // Taken one by one, oldest first, not copied out (iterating the array copied each);
            // the array keeps its capacity for the collector.
            finished.reverse()
            while let transaction = finished.popLast() {
                // An upstream that answered the request behind a PROXY header takes the protocol,
                // known as soon as it answered (a headerless connection may close before this one).
                if transaction.afterProxyHeader { self.proxyProtocol.learn(transaction) }
                if transaction.head != nil { self.heads.add(transaction) }
                self.hops.add(transaction, now: now)
            }
        }
        if !reports.isEmpty {
            // Swapped out, not copied: a copy shared the buffer, so emptying `reports` while
            // keeping its capacity allocated a second one as large (the whole table's reports at
            // the end of a capture).
            var judged: [ConnectionReport] = []
            swap(&judged, &reports)
            for index in judged.indices where judged[index].proxyHeader != nil || !self.proxyProtocol.accepting.isEmpty {
                self.proxyProtocol.review(&judged[index], gateway: self.options.gateway)
            }
            for index in judged.indices where judged[index].responseHead != nil { self.compareHead(&judged[index]) }
            // When every report goes to an empty queue (the usual case), the array itself becomes
            // the queue: no copy of each report, and not two arrays of them at once (a whole flow
            // table's at the end of a capture).
            var wholeToQueue = self.options.queueEnded && self.ended.isEmpty
            // Each report is lent in place (`inout`): iterating the array copied every one out,
            // and so did lending one read through a buffer pointer to a method that changes `self`.
            for index in judged.indices {
                let counted = self.count(&judged[index])
                if wholeToQueue, !counted {
                    wholeToQueue = false
                    self.ended.append(contentsOf: judged[..<index])
                } else if counted, self.options.queueEnded, !wholeToQueue {
                    self.ended.append(judged[index])
                }
            }
            if wholeToQueue {
                swap(&self.ended, &judged)
            } else {
                judged.removeAll(keepingCapacity: true)
                swap(&judged, &reports)
            }
        }
        let listeners = self.hops.takeNewGateways()
        if !listeners.isEmpty { self.moveToClientHop(listeners) }
        self.hops.settle(now: now)
    }

    /// Counts and lists one judged connection; false when it is not an upstream's in scope (a
    /// client-hop connection, or a server outside `--upstream`). `inout` only so that the report
    /// is read where it is, not copied: it is not changed.
    private mutating func count(_ report: inout ConnectionReport) -> Bool {
        if self.hops.judged(report) { return false }
        guard self.inScope(report) else {
            self.otherConnections += 1
            if self.outOfScope[report.server] != nil || self.outOfScope.count < HopCorrelator.maximumServersTracked {
                self.outOfScope[report.server, default: 0] += 1
            }
            return false
        }
        self.tally.add(report)
        self.list(report)
        return true
    }

    /// Connections judged since the last call, in the order they ended.
    mutating func takeEnded() -> [ConnectionReport] {
        guard !self.ended.isEmpty else { return [] }
        // Handed over, not copied: emptying a shared buffer while keeping its capacity would
        // allocate a second one as large.
        var taken: [ConnectionReport] = []
        swap(&taken, &self.ended)
        return taken
    }

    /// Takes the connections already judged to servers now known to be the gateway's listeners
    /// out of the tally, the listed reports and the queue (a live capture's incidents already
    /// written stay written).
    private mutating func moveToClientHop(_ listeners: [Endpoint]) {
        let set = Set(listeners)
        var tallied = 0
        for listener in listeners {
            let counted = self.tally.removeServer(listener)?.connections ?? 0
            let outside = self.outOfScope.removeValue(forKey: listener) ?? 0
            tallied += counted
            self.otherConnections -= outside
            self.hops.countListenerConnection(listener, count: counted + outside)
        }
        guard tallied > 0 else { return }
        let listedBefore = self.listed.count + self.listedHealthy.count - self.healthyStart
        self.listed.removeAll { set.contains($0.server) }
        self.listedRanks = [Int](repeating: 0, count: 5)
        for report in self.listed { self.listedRanks[Engine.severityRank(report.verdict.verdictClass)] += 1 }
        if self.listedHealthy[self.healthyStart...].contains(where: { set.contains($0.server) }) {
            self.listedHealthy = self.listedHealthy[self.healthyStart...].filter { !set.contains($0.server) }
            self.healthyStart = 0
        }
        let listedAfter = self.listed.count + self.listedHealthy.count - self.healthyStart
        self.unlisted -= tallied - (listedBefore - listedAfter)
        self.ended.removeAll { set.contains($0.server) }
    }

    /// The ids of the connections listed now. A connection not listed once it was absorbed
    /// never is later (a place given up is not taken back).
    func listedIDs() -> Set<UInt32> {
        var ids = Set(self.listed.map(\.id))
        for report in self.listedHealthy[self.healthyStart...] { ids.insert(report.id) }
        return ids
    }

    /// Each listed connection's first and last packet times.
    func listedSpans() -> [(start: Timestamp, end: Timestamp)] {
        func span(_ report: ConnectionReport) -> (start: Timestamp, end: Timestamp) {
            (report.facts.first.time, max(report.facts.first.time, report.facts.last.time))
        }
        return self.listed.map(span) + self.listedHealthy[self.healthyStart...].map(span)
    }

    private mutating func list(_ report: ConnectionReport) {
        guard case .bounded(let maximum) = self.options.retention else {
            self.listed.append(report)
            return
        }
        let healthyListed = self.listedHealthy.count - self.healthyStart
        if self.listed.count + healthyListed < maximum {
            if report.verdict.verdictClass == .ok {
                self.listedHealthy.append(report)
            } else {
                self.listed.append(report)
                self.listedRanks[Engine.severityRank(report.verdict.verdictClass)] += 1
            }
            return
        }
        self.unlisted += 1
        // Full: a failure takes the oldest healthy connection's place, or else the place of the
        // newest listed failure of a less severe class (a 502 outranks a relayed 5xx); anything
        // else is only counted. Each such swap lowers the listed classes' total rank, so there
        // are at most four per place: the scans stay cheap.
        guard report.verdict.verdictClass != .ok else { return }
        let rank = Engine.severityRank(report.verdict.verdictClass)
        guard healthyListed > 0 else {
            guard self.listedRanks[(rank + 1)...].contains(where: { $0 > 0 }) else { return }
            let worst = self.listedRanks.lastIndex { $0 > 0 }!
            let index = self.listed.lastIndex { Engine.severityRank($0.verdict.verdictClass) == worst }!
            self.listed.remove(at: index)
            self.listedRanks[worst] -= 1
            self.listed.append(report)
            self.listedRanks[rank] += 1
            return
        }
        self.healthyStart += 1
        self.listed.append(report)
        self.listedRanks[rank] += 1
        if self.healthyStart >= 1024, self.healthyStart * 2 >= self.listedHealthy.count {
            self.listedHealthy.removeFirst(self.healthyStart)
            self.healthyStart = 0
        }
    }

    /// The analysis, once every connection has been judged and absorbed. `tlsSessions` and
    /// `tlsSessionsWithKeys` are summed over the flow tables' collectors.
    mutating func finish(
        linkType: LinkType, statistics: CaptureStatistics, warnings: [String], tlsSessions: Int, tlsSessionsWithKeys: Int
    ) -> AnalysisResult {
        self.hops.finish()
        let listeners = self.hops.takeNewGateways()
        if !listeners.isEmpty { self.moveToClientHop(listeners) }
        let clientHop = self.hops.summary()
        var warnings = warnings
        if statistics.truncatedFrames > 0 {
            warnings.append("\(statistics.truncatedFrames) frame(s) were cut by the snap length inside their headers (first: frame \(statistics.firstTruncatedFrame!)); their connections may lack packets.")
        }
        if statistics.malformedFrames > 0 {
            warnings.append("\(statistics.malformedFrames) frame(s) had impossible IP or TCP headers and were skipped (first: frame \(statistics.firstMalformedFrame!)).")
        }
        let incomplete = statistics.fragments.ipv4DatagramsEvicted &+ statistics.fragments.ipv4DatagramsDiscarded
        if incomplete > 0 {
            warnings.append("\(incomplete) fragmented IPv4 datagram(s) could not be reassembled (fragments missing or inconsistent); their bytes are gaps in their connections.")
        }
        if statistics.fragments.ipv6FragmentsNotReassembled > 0 {
            warnings.append("\(statistics.fragments.ipv6FragmentsNotReassembled) IPv6 fragment(s) were not reassembled; their bytes are gaps in their connections.")
        }
        if self.options.decryption != nil, tlsSessions > 0, tlsSessionsWithKeys == 0 {
            warnings.append("The key log holds no secrets for any of the \(tlsSessions) TLS session(s) in this capture; nothing was decrypted.")
        }
        if statistics.capturedBeyondWire > 0 {
            warnings.append("\(statistics.capturedBeyondWire) record(s) claim more captured bytes than their length on the wire; the file was written by a broken tool or damaged, and only the captured bytes were read.")
        }
        if statistics.timeWentBackwards > 0 {
            warnings.append("\(statistics.timeWentBackwards) record(s) have a time earlier than the record before them.")
        }
        if statistics.flowTableEvictions > 0 {
            warnings.append("The flow table was full \(statistics.flowTableEvictions) time(s); the quietest connections were judged early (limit.flow_table).")
        }
        if clientHop != nil, self.hops.pendingDropped > 0 {
            warnings.append("\(self.hops.pendingDropped) 5xx response(s) were let go before their connection was known to be on the client hop or not (at most \(self.options.clientHop.pendingErrors) wait).")
        }
        if let clientHop, clientHop.errorsNotListed > 0 {
            warnings.append("\(clientHop.errorsNotListed) of \(clientHop.errorCount) client error(s) are counted but not listed (at most \(self.options.clientHop.listedErrors)).")
        }
        if self.unlisted > 0 {
            warnings.append("\(self.unlisted) of \(self.tally.connections) connection(s) are counted but not listed (at most \(self.listed.count + self.listedHealthy.count - self.healthyStart) are kept, the worst failures first).")
        }
        var connections = self.listed
        connections += self.listedHealthy[self.healthyStart...]
        connections.sort { $0.id < $1.id }
        return AnalysisResult(
            linkType: linkType, statistics: statistics, connections: connections, warnings: warnings,
            gateway: self.options.gateway, upstreams: self.options.upstreams, otherConnections: self.otherConnections,
            tally: self.tally, unlistedConnections: self.unlisted, redactsSecrets: self.options.redactsSecrets, clientHop: clientHop)
    }
}

extension CaptureStatistics {
    /// Counts one record before it is decoded.
    mutating func count(_ frame: RawFrame) {
        self.frames += 1
        self.wireBytes &+= UInt64(frame.wireLength)
        self.capturedBytes &+= UInt64(frame.bytes.count)
        if frame.bytes.count > frame.wireLength {
            self.capturedBeyondWire += 1
        }
        if self.firstTime == nil { self.firstTime = frame.timestamp }
        if let last = self.lastTime, frame.timestamp < last {
            self.timeWentBackwards += 1
        }
        self.lastTime = max(self.lastTime ?? frame.timestamp, frame.timestamp)
    }

    /// Counts what a record decoded to, other than a TCP segment or an ICMP error.
    mutating func count(_ decoded: DecodedFrame, frame: FrameNumber) {
        switch decoded {
        case .tcp:
            self.tcpSegments += 1
        case .icmpUnreachable:
            self.icmpUnreachable += 1
        case .fragmentHeld:
            self.fragmentsHeld += 1
        case .notTCP, .udp:
            // A DNS datagram is not TCP either: the counts read as before; the DNS section
            // counts its messages.
            self.notTCP += 1
        case .truncated:
            self.truncatedFrames += 1
            if self.firstTruncatedFrame == nil { self.firstTruncatedFrame = frame }
        case .malformed:
            self.malformedFrames += 1
            if self.firstMalformedFrame == nil { self.firstMalformedFrame = frame }
        }
    }
}
