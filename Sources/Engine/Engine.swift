import CaptureModel
import DNS
import Diagnosis
import HTTP1
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
    /// The gateway's DNS traffic (UDP and TCP port 53), kept out of the flow table.
    var dns = DNSTracker()
    /// Whether the frame `process` took last was a late packet of a connection judged already
    /// (`AnalysisOptions.judgesAtGatewayClose`): no report will name it.
    public private(set) var lastFrameWasLate = false
    /// The tally, the listed reports, the queue and client-hop correlation.
    var merger: Merger
    /// The client-to-gateway hop, when the capture holds it too.
    var hops: HopCorrelator { self.merger.hops }

    /// An engine for a capture of `linkType`.
    public init(linkType: LinkType, options: AnalysisOptions = AnalysisOptions()) {
        self.options = options
        self.linkType = linkType
        self.decoder = PacketDecoder(linkType: linkType)
        self.flows = Self.flowTable(options: options, limits: options.limits)
        self.collector = Self.collector(options: options)
        self.merger = Merger(options: options)
    }

    /// A flow table that knows the servers `options` name.
    static func flowTable(options: AnalysisOptions, limits: ReassemblyLimits) -> FlowTable {
        var flows = FlowTable(limits: limits)
        if options.judgesAtGatewayClose {
            flows.judgment = .gatewayClose
        } else if options.judgesAfterLinger || options.decryption?.waitForKeys == true {
            // Keys from a growing key log may come after the close: the session waits for them
            // while its connection lingers.
            flows.judgment = .afterLinger
        } else {
            flows.judgment = .closedBothWays
        }
        for upstream in options.upstreams {
            if let port = upstream.port {
                flows.knownServers.insert(Endpoint(address: upstream.address, port: port))
            } else {
                flows.knownServerAddresses.insert(upstream.address)
            }
        }
        for listener in options.gatewayAddresses {
            // Fixes roles on client connections picked up mid-stream, as `--upstream` does.
            if let port = listener.port { flows.knownServers.insert(Endpoint(address: listener.address, port: port)) }
        }
        return flows
    }

    /// A collector that judges connections as `options` say.
    static func collector(options: AnalysisOptions) -> Collector {
        var collector = Collector(
            gateway: options.gateway, verifier: options.verifier, decryption: options.decryption, expectedNames: options.upstreams)
        collector.redactsSecrets = options.redactsSecrets
        collector.fieldLimit = min(
            HTTP1Connection.defaultFieldLimit, Gateways.shown(for: options.gateway).compactMap(\.limits.fieldCount).min() ?? HTTP1Connection.defaultFieldLimit)
        return collector
    }

    /// Connections in the flow table now.
    public var liveConnections: Int { self.flows.liveConnections }

    /// Feeds the next record of the capture; returns what it decoded to (its payload points into
    /// `frame`'s bytes, valid as long as they are).
    @discardableResult
    public mutating func process(_ frame: RawFrame) -> DecodedFrame {
        self.statistics.count(frame)
        self.collector.captureEnd = self.statistics.lastTime!

        let decoded = self.decoder.decode(frame)
        self.statistics.count(decoded, frame: frame.number)
        self.lastFrameWasLate = false
        switch decoded {
        case .tcp(let segment) where DNSTracker.isDNS(segment):
            self.dns.feed(segment, frame: frame.number, time: frame.timestamp)
        case .udp(let datagram):
            self.dns.feed(datagram, frame: frame.number, time: frame.timestamp)
        case .tcp(let segment):
            self.flows.process(segment, frame: frame.number, time: frame.timestamp, sink: &self.collector)
            self.lastFrameWasLate = self.flows.lastSegmentWasLate
            if !self.collector.reports.isEmpty || !self.collector.finished.isEmpty { self.absorbJudged() }
        case .icmpUnreachable(let icmp):
            self.flows.noteICMP(icmp, mark: PacketMark(frame: frame.number, time: frame.timestamp))
            if !self.collector.reports.isEmpty { self.absorbJudged() }
        case .fragmentHeld, .notTCP, .truncated, .malformed:
            break
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
        self.merger.takeEnded()
    }

    /// What a gateway log line must reach to be joined when a live capture ends: `capture
    /// --gateway-log` joins lines only to the final report's connections and client errors,
    /// and a line that can reach none of them can be let go as it comes.
    public func logJoinReach() -> LogJoinReach {
        let errors = self.merger.hops.clientErrorTimes()
        return LogJoinReach(
            earliestOpen: self.flows.earliestLiveStart, listed: self.merger.listedSpans(), clientErrors: errors.listed,
            laterClientErrorsFrom: errors.laterFrom)
    }

    /// The ids of the connections the result lists so far: one absorbed and not among them
    /// will not be listed.
    public func listedConnectionIDs() -> Set<UInt32> {
        self.merger.listedIDs()
    }

    /// Whether `report`'s server is one of `--upstream` (every server when none was given).
    public func inScope(_ report: ConnectionReport) -> Bool {
        self.merger.inScope(report)
    }

    /// Moves what the collector judged to the merger.
    private mutating func absorbJudged() {
        if !self.collector.reports.isEmpty, !self.dns.isEmpty { self.dns.markDrift(in: &self.collector.reports) }
        self.merger.absorb(finished: &self.collector.finished, reports: &self.collector.reports, now: self.collector.captureEnd)
    }

    /// How severe a class is for someone on call, most first (the reports' worst-first order):
    /// gateway errors, cut responses, unknowns, relayed 5xx, healthy.
    public static func severityRank(_ verdictClass: VerdictClass) -> Int {
        switch verdictClass {
        case .badGateway, .serviceUnavailable, .gatewayTimeout, .internalError: return 0
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

    /// Connections judged and handed over at a time when a capture ends.
    static let finishBatch = 1024

    /// Ends every open connection and returns the analysis.
    public mutating func finish() -> AnalysisResult {
        self.finish(handsOver: false) { _ in }
    }

    /// Ends every open connection and returns the analysis; with `handOver`, the connections
    /// judged now (when the options ask for `queueEnded`) are handed to it a batch at a time
    /// instead of waiting for `takeEnded()`: on a busy capture the connections lingering at the
    /// end are tens of thousands, and their reports need not all be held at once.
    public mutating func finish(handingOverEnded handOver: (consuming [ConnectionReport]) -> Void) -> AnalysisResult {
        self.finish(handsOver: true, handOver)
    }

    private mutating func finish(handsOver: Bool, _ handOver: (consuming [ConnectionReport]) -> Void) -> AnalysisResult {
        let end = self.statistics.lastTime ?? .zero
        let open = self.flows.openSlots()
        let batch = handsOver ? Self.finishBatch : max(open.count, 1)
        var start = 0
        repeat {
            let upTo = min(start + batch, open.count)
            // Room for the batch's reports in one allocation, not a doubling array whose last
            // growth holds one and a half times as many.
            self.collector.reports.reserveCapacity(self.collector.reports.count + upTo - start)
            self.flows.finish(slots: open[start..<upTo], at: end, sink: &self.collector)
            self.absorbJudged()
            if handsOver {
                let ended = self.merger.takeEnded()
                if !ended.isEmpty { handOver(ended) }
            }
            start = upTo
        } while start < open.count
        self.statistics.flowTableEvictions = self.flows.flowTableEvictions
        self.statistics.fragments = self.decoder.fragmentCounters
        var result = self.merger.finish(
            linkType: self.linkType, statistics: self.statistics, warnings: self.warnings,
            tlsSessions: self.collector.tlsSessions, tlsSessionsWithKeys: self.collector.tlsSessionsWithKeys)
        if !self.dns.isEmpty { result.attachDNS(self.dns) }
        return result
    }
}

/// What a gateway log line must reach to be joined when a live capture ends (`Engine.logJoinReach()`).
public struct LogJoinReach: Sendable {
    /// The first packet's time of the earliest connection not judged yet; connections to come
    /// start later still.
    public var earliestOpen: Timestamp?
    /// Each connection listed so far: its first and last packet times. A connection judged and
    /// not among them will not be listed.
    public var listed: [(start: Timestamp, end: Timestamp)]
    /// The time of each client error listed so far.
    public var clientErrors: [Timestamp]
    /// The earliest time a client error listed later may have: a pending one's, or the latest
    /// time there is when none is pending (only errors still to come, from the capture's
    /// present on); `nil` when none will be listed.
    public var laterClientErrorsFrom: Timestamp?
}
