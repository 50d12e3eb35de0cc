import CaptureModel
import Engine

/// Aggregates shared by every report format.
public enum Summary {
    /// One upstream's row: connections, failures and their causes.
    public struct UpstreamRow: Sendable {
        /// The upstream.
        public var endpoint: Endpoint
        /// `10.0.3.24:8080`.
        public var server: String
        /// Connections to it.
        public var connections: Int
        /// Connections whose class is not `ok`.
        public var failed: Int
        /// Root causes of the failed ones, most frequent first.
        public var causes: [(code: FindingCode, count: Int)]
    }

    /// Whether a connection counts as failed (anything but a healthy verdict).
    public static func isFailure(_ report: ConnectionReport) -> Bool {
        report.verdict.verdictClass != .ok
    }

    /// Failures ordered for a person on call: gateway errors (502, 503, 504) first, then cut
    /// responses, then unknowns, then 5xx the upstream itself sent; by connection id within each.
    public static func worstFirst(_ connections: [ConnectionReport]) -> [ConnectionReport] {
        connections.sorted { a, b in
            let x = Engine.severityRank(a.verdict.verdictClass)
            let y = Engine.severityRank(b.verdict.verdictClass)
            return x != y ? x < y : a.id < b.id
        }
    }

    /// One row per upstream, in order of first appearance; counts every connection judged,
    /// listed in the report or not.
    public static func upstreams(_ result: AnalysisResult) -> [UpstreamRow] {
        result.tally.servers.sorted { $0.value.firstID < $1.value.firstID }.map { server, row in
            UpstreamRow(
                endpoint: server, server: server.description, connections: row.connections, failed: row.failed,
                causes: self.sorted(row.causes))
        }
    }

    /// Failure counts by root cause over the whole capture, most frequent first.
    public static func causes(_ result: AnalysisResult) -> [(code: FindingCode, count: Int)] {
        self.sorted(result.tally.causes)
    }

    private static func sorted(_ counts: [FindingCode: Int]) -> [(code: FindingCode, count: Int)] {
        counts.map { (code: $0.key, count: $0.value) }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.code < $1.code }
    }

    /// A Wireshark/tshark display filter that selects the connection's packets in the original capture.
    public static func displayFilter(_ report: ConnectionReport) -> String {
        func host(_ endpoint: Endpoint) -> String {
            switch endpoint.address {
            case .v4: return "ip.addr==\(endpoint.address.text)"
            case .v6: return "ipv6.addr==\(endpoint.address.text)"
            }
        }
        return "\(host(report.client)) && \(host(report.server)) && tcp.port==\(report.client.port) && tcp.port==\(report.server.port)"
            + " && frame.number>=\(report.frames.lowerBound) && frame.number<=\(report.frames.upperBound)"
    }
}
