/// A stable, dotted name for something edgescope found (`http.chunked.bad_size`).
///
/// Codes are a contract with scripts and dashboards: they are added, never renamed.
/// The full list is `docs/root-causes.md`; byte-level rules are in `docs/gateway-taxonomy.md`.
public struct FindingCode: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The dotted code as it appears in reports.
    public let description: String

    /// A code from its dotted name. Prefer the static constants; this exists for codes built
    /// from wire values (`tls.alert.<description>`) and for reading saved reports.
    public init(_ name: String) {
        self.description = name
    }

    public static func < (lhs: FindingCode, rhs: FindingCode) -> Bool {
        lhs.description < rhs.description
    }

    /// A healthy connection.
    public static let none = FindingCode("none")

    // MARK: TCP and connection level (taxonomy 2.A)

    /// The gateway's SYN was answered by RST.
    public static let tcpConnectRefused = FindingCode("tcp.connect.refused")
    /// The gateway's SYN and its retransmissions went unanswered.
    public static let tcpConnectTimeout = FindingCode("tcp.connect.timeout")
    /// The upstream reset the connection before sending any response byte.
    public static let tcpRSTBeforeResponse = FindingCode("tcp.rst.before_response")
    /// The upstream closed (FIN) before sending any response byte.
    public static let tcpFINBeforeResponse = FindingCode("tcp.fin.before_response")
    /// The upstream closed after some response bytes but before the end of the header section.
    public static let tcpFINMidHeaders = FindingCode("tcp.fin.mid_headers")
    /// The upstream closed before the body was complete.
    public static let tcpFINMidBody = FindingCode("tcp.fin.mid_body")
    /// The upstream reset the connection before the body was complete.
    public static let tcpRSTMidBody = FindingCode("tcp.rst.mid_body")
    /// The upstream closed an idle keep-alive connection as the gateway reused it.
    public static let tcpKeepaliveRace = FindingCode("tcp.keepalive_race")
    /// No response byte before the gateway gave up.
    public static let tcpReadTimeout = FindingCode("tcp.read_timeout")
    /// The upstream stopped accepting the request (zero window, no ACKs).
    public static let tcpSendTimeout = FindingCode("tcp.send_timeout")

    // MARK: Reassembly facts (findings, not root causes)

    /// Bytes of one direction whose two copies in the capture differ (a retransmission that rewrote data).
    public static let tcpOverlapMismatch = FindingCode("tcp.overlap.mismatch")
    /// A connection evicted from the flow table after being idle for the configured time.
    public static let tcpIdleEvicted = FindingCode("tcp.idle_evicted")
    /// The out-of-order buffer of one direction hit its cap; the missing range became a gap.
    public static let limitReassemblyBuffer = FindingCode("limit.reassembly_buffer")
    /// The flow table hit its cap; the oldest idle connection was closed early.
    public static let limitFlowTable = FindingCode("limit.flow_table")
    /// An IPv4 datagram arrived in fragments (reassembled where possible).
    public static let ipFragmented = FindingCode("ip.fragmented")

    // MARK: Capture

    /// The capture lost bytes of a stream (a sequence range never seen).
    public static let captureGap = FindingCode("capture.gap")
    /// A frame was cut by the snap length, so some of its bytes are not in the capture.
    public static let captureTruncated = FindingCode("capture.truncated")
    /// The capture file ends in the middle of a record.
    public static let captureFileTruncated = FindingCode("capture.file_truncated")

    // MARK: The gateway's own answers

    /// The gateway answered without trying any upstream, because every member of the pool was
    /// marked down after failing (nginx `no live upstreams`, HAProxy `no server available`).
    public static let gatewayNoLiveUpstreams = FindingCode("gateway.no_live_upstreams")
}
