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
    var reportedCount = 0

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
        self.collector = Collector(
            gateway: options.gateway, verifier: options.verifier, decryption: options.decryption, expectedNames: options.upstreams)
    }

    /// Connections in the flow table now.
    public var liveConnections: Int { self.flows.liveConnections }

    /// Feeds the next record of the capture.
    public mutating func process(_ frame: RawFrame) {
        self.statistics.frames += 1
        self.statistics.wireBytes &+= UInt64(frame.wireLength)
        self.statistics.capturedBytes &+= UInt64(frame.bytes.count)
        if self.statistics.firstTime == nil { self.statistics.firstTime = frame.timestamp }
        if let last = self.statistics.lastTime, frame.timestamp < last {
            self.statistics.timeWentBackwards += 1
        }
        self.statistics.lastTime = max(self.statistics.lastTime ?? frame.timestamp, frame.timestamp)
        self.collector.captureEnd = self.statistics.lastTime!

        switch self.decoder.decode(frame) {
        case .tcp(let segment):
            self.statistics.tcpSegments += 1
            self.flows.process(segment, frame: frame.number, time: frame.timestamp, sink: &self.collector)
        case .icmpUnreachable(let icmp):
            self.statistics.icmpUnreachable += 1
            self.flows.noteUnreachable(
                quotedSource: icmp.quotedSource, quotedDestination: icmp.quotedDestination,
                mark: PacketMark(frame: frame.number, time: frame.timestamp))
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
    }

    /// Lets capture time pass without a packet (a live capture's timer): closed connections
    /// that lingered and idle ones are judged now, so their verdicts need not wait for traffic.
    public mutating func tick(now: Timestamp) {
        if now > (self.statistics.lastTime ?? .zero) {
            self.collector.captureEnd = now
        }
        self.flows.sweep(now: now, sink: &self.collector)
    }

    /// Connections judged since the last call, in the order they ended: what a live capture
    /// reports as incidents while it runs.
    public mutating func takeEnded() -> [ConnectionReport] {
        let new = Array(self.collector.reports[self.reportedCount...])
        self.reportedCount = self.collector.reports.count
        return new
    }

    /// Adds a sentence about the capture itself to the report (for the reader's errors).
    public mutating func addWarning(_ warning: String) {
        self.warnings.append(warning)
    }

    /// Ends every open connection and returns the analysis.
    public mutating func finish() -> AnalysisResult {
        let end = self.statistics.lastTime ?? .zero
        self.flows.finish(at: end, sink: &self.collector)
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
        if self.statistics.timeWentBackwards > 0 {
            warnings.append("\(self.statistics.timeWentBackwards) record(s) have a time earlier than the record before them.")
        }
        if self.statistics.flowTableEvictions > 0 {
            warnings.append("The flow table was full \(self.statistics.flowTableEvictions) time(s); the quietest connections were judged early (limit.flow_table).")
        }
        var connections = self.collector.reports.sorted { $0.id < $1.id }
        var others = 0
        if !self.options.upstreams.isEmpty {
            let all = connections.count
            connections.removeAll { report in
                !self.options.upstreams.contains { $0.address == report.server.address && ($0.port ?? report.server.port) == report.server.port }
            }
            others = all - connections.count
        }
        return AnalysisResult(
            linkType: self.linkType, statistics: self.statistics, connections: connections, warnings: warnings,
            gateway: self.options.gateway, upstreams: self.options.upstreams, otherConnections: others)
    }
}
