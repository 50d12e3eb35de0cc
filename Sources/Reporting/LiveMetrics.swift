import CaptureModel
import Engine

/// What a live capture has counted so far, as Prometheus metrics (`edgescope_*`) for
/// node_exporter's textfile collector. The capture loop updates it; `exposition()` gives the
/// text to write. No I/O here.
public struct LiveMetrics: Sendable {
    /// A failing connection's labels: `upstream`, `code`, `class`.
    public struct Failure: Hashable, Sendable {
        /// The upstream server, `10.0.3.24:8080` or `[2001:db8::24]:8080`.
        public var upstream: String
        /// The root cause (`tcp.rst.before_response`).
        public var code: FindingCode
        /// What the gateway's client saw (`502`, `truncated`).
        public var verdictClass: VerdictClass

        /// Labels from their parts.
        public init(upstream: String, code: FindingCode, verdictClass: VerdictClass) {
            self.upstream = upstream
            self.code = code
            self.verdictClass = verdictClass
        }
    }

    /// The interface captured on (`edgescope_capture_info{interface=...}`).
    public var interface: String
    /// The BPF filter in effect (`edgescope_capture_info{filter=...}`).
    public var filter: String
    /// edgescope's version (`edgescope_capture_info{version=...}`).
    public var version: String
    /// When the capture started (`edgescope_start_time_seconds`).
    public var startTime: Timestamp
    /// When these numbers were last brought up to date (`edgescope_last_update_time_seconds`).
    public var lastUpdate: Timestamp
    /// Packets libpcap handed to edgescope, after the filter (`edgescope_packets_received_total`).
    public var packetsReceived: UInt64 = 0
    /// Connections in the flow table, not judged yet (`edgescope_live_connections`).
    public var liveConnections: Int = 0
    /// Packets the kernel dropped for lack of buffer space, as pcap_stats counts them
    /// (`edgescope_kernel_drops_total`).
    public var kernelDrops: UInt64 = 0
    /// Packets the interface or its driver dropped, as pcap_stats counts them
    /// (`edgescope_interface_drops_total`).
    public var interfaceDrops: UInt64 = 0
    /// Connections judged (`edgescope_connections_judged_total`).
    public private(set) var connectionsJudged: UInt64 = 0
    /// Connections judged, by upstream server (`edgescope_connections_total`).
    public private(set) var connectionsByUpstream: [String: UInt64] = [:]
    /// Failing connections by upstream, root cause and class (`edgescope_failures_total`).
    public private(set) var failures: [Failure: UInt64] = [:]
    /// Limits reached, by limit code (`limit.flow_table`; `edgescope_limit_hits_total`).
    public private(set) var limitHits: [FindingCode: UInt64] = [:]

    /// Nothing counted yet, for a capture on `interface` with `filter` that started at `startTime`.
    public init(interface: String, filter: String, version: String, startTime: Timestamp) {
        self.interface = interface
        self.filter = filter
        self.version = version
        self.startTime = startTime
        self.lastUpdate = startTime
    }

    /// Counts a judged connection: by its upstream, as a failure when its class is not `ok`
    /// (as `Summary.isFailure` decides), and each `limit.*` finding it carries as a limit hit.
    public mutating func record(_ report: ConnectionReport) {
        self.recordConnection(upstream: report.server.description, verdict: report.verdict)
        for finding in report.findings where finding.code.description.hasPrefix("limit.") {
            self.recordLimitHit(finding.code)
        }
    }

    /// Counts a connection to `upstream` (`10.0.3.24:8080`) judged `verdict`.
    public mutating func recordConnection(upstream: String, verdict: Verdict) {
        self.connectionsJudged += 1
        self.connectionsByUpstream[upstream, default: 0] += 1
        if verdict.verdictClass != .ok {
            self.failures[Failure(upstream: upstream, code: verdict.code, verdictClass: verdict.verdictClass), default: 0] += 1
        }
    }

    /// Counts `count` hits of the limit `code` (`limit.flow_table`).
    public mutating func recordLimitHit(_ code: FindingCode, count: UInt64 = 1) {
        self.limitHits[code, default: 0] += count
    }

    /// The metrics as families, for `PrometheusText.encode(_:)`.
    public func families() -> [MetricFamily] {
        typealias Label = MetricFamily.Label
        typealias Sample = MetricFamily.Sample
        return [
            MetricFamily(
                name: "edgescope_capture_info", help: "The live capture: interface, BPF filter and edgescope version; always 1.",
                kind: .gauge,
                samples: [Sample(labels: [Label("interface", self.interface), Label("filter", self.filter), Label("version", self.version)], value: 1)]),
            MetricFamily(
                name: "edgescope_start_time_seconds", help: "When the capture started, in seconds since the Unix epoch.",
                kind: .gauge, samples: [Sample(value: Self.seconds(self.startTime))]),
            MetricFamily(
                name: "edgescope_last_update_time_seconds", help: "When these metrics were last updated, in seconds since the Unix epoch.",
                kind: .gauge, samples: [Sample(value: Self.seconds(self.lastUpdate))]),
            MetricFamily(
                name: "edgescope_packets_received_total", help: "Packets received from the capture, after the BPF filter.",
                kind: .counter, samples: [Sample(value: Double(self.packetsReceived))]),
            MetricFamily(
                name: "edgescope_live_connections", help: "Connections being followed, not judged yet.",
                kind: .gauge, samples: [Sample(value: Double(self.liveConnections))]),
            MetricFamily(
                name: "edgescope_kernel_drops_total", help: "Packets the kernel dropped for lack of capture buffer space (pcap_stats ps_drop).",
                kind: .counter, samples: [Sample(value: Double(self.kernelDrops))]),
            MetricFamily(
                name: "edgescope_interface_drops_total", help: "Packets the interface or its driver dropped (pcap_stats ps_ifdrop).",
                kind: .counter, samples: [Sample(value: Double(self.interfaceDrops))]),
            // Unlabelled, so a series exists (at 0) before the first connection is judged.
            MetricFamily(
                name: "edgescope_connections_judged_total", help: "Upstream connections judged.",
                kind: .counter, samples: [Sample(value: Double(self.connectionsJudged))]),
            MetricFamily(
                name: "edgescope_connections_total", help: "Upstream connections judged, by upstream server.",
                kind: .counter,
                samples: self.connectionsByUpstream.map { Sample(labels: [Label("upstream", $0.key)], value: Double($0.value)) }),
            MetricFamily(
                name: "edgescope_failures_total", help: "Failing upstream connections (incidents), by upstream server, root-cause code and class.",
                kind: .counter,
                samples: self.failures.map { failure, count in
                    Sample(
                        labels: [
                            Label("upstream", failure.upstream), Label("code", failure.code.description),
                            Label("class", failure.verdictClass.rawValue),
                        ],
                        value: Double(count))
                }),
            MetricFamily(
                name: "edgescope_limit_hits_total", help: "Times a limit was reached, by limit code: a connection judged early, or with a gap the wire did not have.",
                kind: .counter,
                samples: self.limitHits.map { Sample(labels: [Label("code", $0.key.description)], value: Double($0.value)) }),
        ]
    }

    /// The metrics in the Prometheus text format, ready for a `.prom` file.
    public func exposition() -> String {
        PrometheusText.encode(self.families())
    }

    private static func seconds(_ time: Timestamp) -> Double {
        var seconds = time.nanoseconds / 1_000_000_000
        var fraction = time.nanoseconds % 1_000_000_000
        if fraction < 0 {
            fraction += 1_000_000_000
            seconds -= 1
        }
        return Double(seconds) + Double(fraction) / 1_000_000_000
    }
}
