import CaptureModel
import Diagnosis
import PacketDecoding
import TCPReassembly

/// The analysis pipeline for one capture: frames in, one report per connection out.
///
/// Feed every record with `process(_:)` in file order, then call `finish()`. The engine
/// performs no I/O: the caller reads the capture and writes the reports.
public struct Engine {
    /// The options it was made with.
    public let options: AnalysisOptions
    /// The capture's link type.
    public let linkType: LinkType

    var decoder: PacketDecoder
    var flows: FlowTable
    var collector: Collector
    var statistics = CaptureStatistics()
    var warnings: [String] = []
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

    /// An engine for a capture of `linkType`.
    public init(linkType: LinkType, options: AnalysisOptions = AnalysisOptions()) {
        self.options = options
        self.linkType = linkType
        self.decoder = PacketDecoder(linkType: linkType)
        self.flows = FlowTable(limits: options.limits)
        for upstream in options.upstreams {
            if let port = upstream.port {
                self.flows.knownServers.insert(Endpoint(address: upstream.address, port: port))
            } else {
                self.flows.knownServerAddresses.insert(upstream.address)
            }
        }
        for listener in options.gatewayAddresses {
            // Fixes roles on client connections picked up mid-stream, as `--upstream` does.
            if let port = listener.port { self.flows.knownServers.insert(Endpoint(address: listener.address, port: port)) }
        }
        self.collector = Collector(
            gateway: options.gateway, verifier: options.verifier, decryption: options.decryption, expectedNames: options.upstreams)
        self.collector.redactsSecrets = options.redactsSecrets
        var hopLimits = options.clientHop
        // A failed upstream connection is judged once it has lingered closed and the next sweep came.
        hopLimits.settleDelay = max(hopLimits.settleDelay, options.limits.closedLinger &+ 2_000_000_000)
        self.hops = HopCorrelator(
            limits: hopLimits, given: options.gatewayAddresses, lateDelay: options.limits.idleTimeout &+ 2_000_000_000)
    }

    /// Connections in the flow table now.
    public var liveConnections: Int { self.flows.liveConnections }

    /// Feeds the next record of the capture; returns what it decoded to (its payload points into
    /// `frame`'s bytes, valid as long as they are).
    @discardableResult
    public mutating func process(_ frame: RawFrame) -> DecodedFrame {
        self.statistics.frames += 1
        self.statistics.wireBytes &+= UInt64(frame.wireLength)
        self.statistics.capturedBytes &+= UInt64(frame.bytes.count)
        if frame.bytes.count > frame.wireLength {
            self.statistics.capturedBeyondWire += 1
        }
        if self.statistics.firstTime == nil { self.statistics.firstTime = frame.timestamp }
        if let last = self.statistics.lastTime, frame.timestamp < last {
            self.statistics.timeWentBackwards += 1
        }
        self.statistics.lastTime = max(self.statistics.lastTime ?? frame.timestamp, frame.timestamp)
        self.collector.captureEnd = self.statistics.lastTime!

        let decoded = self.decoder.decode(frame)
        switch decoded {
        case .tcp(let segment):
            self.statistics.tcpSegments += 1
            self.flows.process(segment, frame: frame.number, time: frame.timestamp, sink: &self.collector)
            if !self.collector.reports.isEmpty || !self.collector.finished.isEmpty { self.absorbJudged() }
        case .icmpUnreachable(let icmp):
            self.statistics.icmpUnreachable += 1
            self.flows.noteUnreachable(
                quotedSource: icmp.quotedSource, quotedDestination: icmp.quotedDestination,
                mark: PacketMark(frame: frame.number, time: frame.timestamp))
            if !self.collector.reports.isEmpty { self.absorbJudged() }
        case .fragmentHeld:
            self.statistics.fragmentsHeld += 1
        case .notTCP:
            self.statistics.notTCP += 1
        case .truncated:
            self.statistics.truncatedFrames += 1
            if self.statistics.firstTruncatedFrame == nil { self.statistics.firstTruncatedFrame = frame.number }
        case .malformed:
            self.statistics.malformedFrames += 1
            if self.statistics.firstMalformedFrame == nil { self.statistics.firstMalformedFrame = frame.number }
        }
        return decoded
    }

    /// Lets capture time pass without a packet (a live capture's timer): closed connections
    /// that lingered and idle ones are judged now, so their verdicts need not wait for traffic.
    public mutating func tick(now: Timestamp) {
        if now > (self.statistics.lastTime ?? .zero) {
            self.collector.captureEnd = now
        }
        self.flows.sweep(now: now, sink: &self.collector)
        self.absorbJudged()
    }

    /// Connections judged since the last call (in scope of `--upstream`), in the order they
    /// ended: what a live capture reports as incidents while it runs. Empty unless the options
    /// ask for `queueEnded`.
    public mutating func takeEnded() -> [ConnectionReport] {
        guard !self.ended.isEmpty else { return [] }
        defer { self.ended.removeAll(keepingCapacity: true) }
        return self.ended
    }

    /// Whether `report`'s server is one of `--upstream` (every server when none was given).
    public func inScope(_ report: ConnectionReport) -> Bool {
        self.options.upstreams.isEmpty
            || self.options.upstreams.contains { $0.address == report.server.address && ($0.port ?? report.server.port) == report.server.port }
    }

    /// Moves what the collector judged into the tally, the listed reports and the queue, and
    /// finished transactions to client-hop correlation. A connection to the gateway's listener is
    /// on the client hop: counted there, not as an upstream's.
    private mutating func absorbJudged() {
        let now = self.collector.captureEnd
        if !self.collector.finished.isEmpty {
            for transaction in self.collector.finished {
                self.hops.add(transaction, now: now)
            }
            self.collector.finished.removeAll(keepingCapacity: true)
        }
        if !self.collector.reports.isEmpty {
            let judged = self.collector.reports
            self.collector.reports.removeAll(keepingCapacity: true)
            for report in judged {
                if self.hops.judged(report) { continue }
                guard self.inScope(report) else {
                    self.otherConnections += 1
                    if self.outOfScope[report.server] != nil || self.outOfScope.count < HopCorrelator.maximumServersTracked {
                        self.outOfScope[report.server, default: 0] += 1
                    }
                    continue
                }
                self.tally.add(report)
                if self.options.queueEnded { self.ended.append(report) }
                self.list(report)
            }
        }
        let listeners = self.hops.takeNewGateways()
        if !listeners.isEmpty { self.moveToClientHop(listeners) }
        self.hops.settle(now: now)
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
        for report in self.listed { self.listedRanks[Self.severityRank(report.verdict.verdictClass)] += 1 }
        if self.listedHealthy[self.healthyStart...].contains(where: { set.contains($0.server) }) {
            self.listedHealthy = self.listedHealthy[self.healthyStart...].filter { !set.contains($0.server) }
            self.healthyStart = 0
        }
        let listedAfter = self.listed.count + self.listedHealthy.count - self.healthyStart
        self.unlisted -= tallied - (listedBefore - listedAfter)
        self.ended.removeAll { set.contains($0.server) }
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
                self.listedRanks[Self.severityRank(report.verdict.verdictClass)] += 1
            }
            return
        }
        self.unlisted += 1
        // Full: a failure takes the oldest healthy connection's place, or else the place of the
        // newest listed failure of a less severe class (a 502 outranks a relayed 5xx); anything
        // else is only counted. Each such swap lowers the listed classes' total rank, so there
        // are at most four per place: the scans stay cheap.
        guard report.verdict.verdictClass != .ok else { return }
        let rank = Self.severityRank(report.verdict.verdictClass)
        guard healthyListed > 0 else {
            guard self.listedRanks[(rank + 1)...].contains(where: { $0 > 0 }) else { return }
            let worst = self.listedRanks.lastIndex { $0 > 0 }!
            let index = self.listed.lastIndex { Self.severityRank($0.verdict.verdictClass) == worst }!
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

    /// How severe a class is for someone on call, most first (the reports' worst-first order):
    /// gateway errors, cut responses, unknowns, relayed 5xx, healthy.
    public static func severityRank(_ verdictClass: VerdictClass) -> Int {
        switch verdictClass {
        case .badGateway, .serviceUnavailable, .gatewayTimeout: return 0
        case .truncated: return 1
        case .unknown: return 2
        case .relayed: return 3
        case .ok: return 4
        }
    }

    /// Adds a sentence about the capture itself to the report (for the reader's errors).
    public mutating func addWarning(_ warning: String) {
        self.warnings.append(warning)
    }

    /// Ends every open connection and returns the analysis.
    public mutating func finish() -> AnalysisResult {
        let end = self.statistics.lastTime ?? .zero
        self.flows.finish(at: end, sink: &self.collector)
        self.absorbJudged()
        self.hops.finish()
        let listeners = self.hops.takeNewGateways()
        if !listeners.isEmpty { self.moveToClientHop(listeners) }
        let clientHop = self.hops.summary()
        self.statistics.flowTableEvictions = self.flows.flowTableEvictions
        self.statistics.fragments = self.decoder.fragmentCounters
        var warnings = self.warnings
        if self.statistics.truncatedFrames > 0 {
            warnings.append("\(self.statistics.truncatedFrames) frame(s) were cut by the snap length inside their headers (first: frame \(self.statistics.firstTruncatedFrame!)); their connections may lack packets.")
        }
        if self.statistics.malformedFrames > 0 {
            warnings.append("\(self.statistics.malformedFrames) frame(s) had impossible IP or TCP headers and were skipped (first: frame \(self.statistics.firstMalformedFrame!)).")
        }
        let incomplete = self.statistics.fragments.ipv4DatagramsEvicted &+ self.statistics.fragments.ipv4DatagramsDiscarded
        if incomplete > 0 {
            warnings.append("\(incomplete) fragmented IPv4 datagram(s) could not be reassembled (fragments missing or inconsistent); their bytes are gaps in their connections.")
        }
        if self.statistics.fragments.ipv6FragmentsNotReassembled > 0 {
            warnings.append("\(self.statistics.fragments.ipv6FragmentsNotReassembled) IPv6 fragment(s) were not reassembled; their bytes are gaps in their connections.")
        }
        if self.options.decryption != nil, self.collector.tlsSessions > 0, self.collector.tlsSessionsWithKeys == 0 {
            warnings.append("The key log holds no secrets for any of the \(self.collector.tlsSessions) TLS session(s) in this capture; nothing was decrypted.")
        }
        if self.statistics.capturedBeyondWire > 0 {
            warnings.append("\(self.statistics.capturedBeyondWire) record(s) claim more captured bytes than their length on the wire; the file was written by a broken tool or damaged, and only the captured bytes were read.")
        }
        if self.statistics.timeWentBackwards > 0 {
            warnings.append("\(self.statistics.timeWentBackwards) record(s) have a time earlier than the record before them.")
        }
        if self.statistics.flowTableEvictions > 0 {
            warnings.append("The flow table was full \(self.statistics.flowTableEvictions) time(s); the quietest connections were judged early (limit.flow_table).")
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
            linkType: self.linkType, statistics: self.statistics, connections: connections, warnings: warnings,
            gateway: self.options.gateway, upstreams: self.options.upstreams, otherConnections: self.otherConnections,
            tally: self.tally, unlistedConnections: self.unlisted, redactsSecrets: self.options.redactsSecrets, clientHop: clientHop)
    }
}
