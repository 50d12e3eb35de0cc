import CaptureModel
import DNS
import Diagnosis
import GatewayLog
import HTTP1
import PacketDecoding
import TCPReassembly

/// What is known about one connection once it has ended, ready for a report.
public struct ConnectionReport: Sendable {
    /// 1-based, in order of first packet.
    public var id: UInt32
    /// The gateway's side.
    public var client: Endpoint
    /// The upstream's side.
    public var server: Endpoint
    /// Packet-level facts.
    public var facts: ConnectionFacts
    /// Stream bytes each way (delivered plus gaps): the distance from offset 0 to the end.
    public var clientStreamBytes: UInt64
    /// Stream bytes each way.
    public var serverStreamBytes: UInt64
    /// Bytes the capture lacks, each way.
    public var clientGapBytes: UInt64
    /// Bytes the capture lacks, each way.
    public var serverGapBytes: UInt64
    /// Retransmitted segments, each way.
    public var retransmissions: (client: Int, server: Int)
    /// Out-of-order segments, each way.
    public var outOfOrder: (client: Int, server: Int)
    /// Why the connection left the flow table.
    public var end: ConnectionEnd
    /// The root cause.
    public var verdict: Verdict
    /// Findings, root cause first.
    public var findings: [Finding]
    /// Requests and responses, in order (at most 1000 kept).
    public var transactions: [Transaction]
    /// Transactions counted but not kept.
    public var transactionsDropped: Int
    /// What was seen of TLS, when the gateway spoke it.
    public var tls: TLSSummary?
    /// The PROXY protocol header the gateway sent before its first request, if any.
    public var proxyHeader: ProxyHeader? = nil
    /// The gateway's log lines about it (`--gateway-log`); `nil` when no log was given.
    public var gatewayLog: [GatewayLogNote]? = nil
    /// Lines about it beyond those listed in `gatewayLog`.
    public var gatewayLogNotListed = 0
    /// The failing response's head (HTTP/1), kept for `comparison`; `nil` on a healthy connection.
    public var responseHead: ResponseHead? = nil
    /// The failing response's head beside the nearest healthy one's, when one was seen.
    public var comparison: HeadComparison? {
        get { self.comparisonBox?.value }
        set { self.comparisonBox = newValue.map(ComparisonBox.init) }
    }
    /// `comparison`, out of line: every report would otherwise carry its size.
    var comparisonBox: ComparisonBox? = nil

    /// `c17`.
    public var name: String { "c\(self.id)" }
    /// The first and last frame numbers of the connection.
    public var frames: ClosedRange<FrameNumber> { self.facts.first.frame...max(self.facts.first.frame, self.facts.last.frame) }
}

/// Counts over the whole capture.
public struct CaptureStatistics: Sendable {
    /// Records read.
    public var frames: Int = 0
    /// Bytes on the wire, summed over records (`len`).
    public var wireBytes: UInt64 = 0
    /// Bytes captured, summed over records (`caplen`).
    public var capturedBytes: UInt64 = 0
    /// The first record's time.
    public var firstTime: Timestamp?
    /// The last record's time.
    public var lastTime: Timestamp?
    /// Records whose time is earlier than the record before.
    public var timeWentBackwards = 0
    /// Records whose captured length exceeds their length on the wire (impossible, so damaged).
    public var capturedBeyondWire = 0
    /// TCP segments decoded.
    public var tcpSegments = 0
    /// Records that were not TCP.
    public var notTCP = 0
    /// Records cut inside their headers by the snap length, and the first of them.
    public var truncatedFrames = 0
    /// The first record cut inside its headers.
    public var firstTruncatedFrame: FrameNumber?
    /// Records whose headers cannot be right, and the first of them.
    public var malformedFrames = 0
    /// The first malformed record.
    public var firstMalformedFrame: FrameNumber?
    /// Frames held as IP fragments (not yet, or never, a whole datagram).
    public var fragmentsHeld = 0
    /// The decoder's fragment counters.
    public var fragments = PacketDecoder.FragmentCounters()
    /// ICMP unreachables about TCP.
    public var icmpUnreachable = 0
    /// Connections ended early because the flow table was full.
    public var flowTableEvictions = 0

    /// Nothing counted yet.
    public init() {}
}

/// The result of analysing a capture.
public struct AnalysisResult: Sendable {
    /// The capture's link type.
    public var linkType: LinkType
    /// Counts.
    public var statistics: CaptureStatistics
    /// The connections listed (every one, unless the retention was bounded), in order of first packet.
    public var connections: [ConnectionReport]
    /// Problems with the capture itself, one sentence each (a file cut mid-record, frames cut in headers).
    public var warnings: [String]
    /// The gateway profile that decided the classes.
    public var gateway: GatewayProfile
    /// The upstreams given on the command line.
    public var upstreams: [UpstreamSpec]
    /// Connections left out because their server is not one of `upstreams`.
    public var otherConnections: Int
    /// Counts over every connection judged in scope, listed or not.
    public var tally: ConnectionTally
    /// Connections counted in `tally` but not in `connections` (a bounded live report).
    public var unlistedConnections: Int
    /// Whether evidence masks credential values (false only with `--no-redact`).
    public var redactsSecrets = true
    /// The client-to-gateway hop and the errors its clients saw, when the capture holds that hop
    /// too; its connections are in neither `connections` nor `tally`.
    public var clientHop: ClientHopSummary? = nil
    /// The gateway's DNS traffic, when the capture holds any (UDP or TCP port 53).
    public var dns: DNSSummary? = nil
    /// The gateway logs given (`--gateway-log`), when any were.
    public var gatewayLog: GatewayLogSummary? = nil
}

/// A report's comparison, out of line.
final class ComparisonBox: Sendable {
    let value: HeadComparison

    init(_ value: HeadComparison) {
        self.value = value
    }
}
