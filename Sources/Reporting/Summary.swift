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
        /// Connections the gateway failed (`isGatewayFailure`).
        public var failed: Int
        /// Connections on which the upstream answered its own 5xx and the gateway relayed it.
        public var relayed: Int
        /// Root causes of every connection not healthy (failed and relayed), most frequent first.
        public var causes: [(code: FindingCode, count: Int)]
        /// Root causes of the connections the gateway failed, most frequent first.
        public var failedCauses: [(code: FindingCode, count: Int)]

        /// What the headline weighs of it.
        public func member(name: String?) -> Headline.Member {
            Headline.Member(
                server: self.server, name: name, connections: self.connections, failed: self.failed, relayed: self.relayed,
                failedCauses: self.failedCauses.map { ($0.code.description, $0.count) },
                relayedProxyHeaders: self.causes.first { $0.code == .protoProxyHeaderUnexpected }?.count ?? 0)
        }
    }

    /// Whether a connection counts as failed (anything but a healthy verdict).
    public static func isFailure(_ report: ConnectionReport) -> Bool {
        report.verdict.verdictClass != .ok
    }

    /// Whether the gateway failed a connection of this class: it made the error (502, 503,
    /// 504, 500), cut the response, or the capture cannot tell. An upstream's own 5xx, relayed as
    /// sent, is the application's answer, not a failing pool member.
    public static func isGatewayFailure(_ verdictClass: VerdictClass) -> Bool {
        switch verdictClass {
        case .badGateway, .serviceUnavailable, .gatewayTimeout, .internalError, .truncated, .unknown: return true
        case .relayed, .ok: return false
        }
    }

    /// Whether upstream `a` sorts before `b` by address: IPv4 numerically, then IPv6 and
    /// anything else as text, then by port.
    public static func addressPrecedes(_ a: String, _ b: String) -> Bool {
        func key(_ server: String) -> (family: Int, numbers: [Int], text: String) {
            let parts = server.split(separator: ":")
            if parts.count == 2, let port = Int(parts[1]) {
                let octets = parts[0].split(separator: ".").compactMap { Int($0) }
                if octets.count == 4 { return (0, octets + [port], "") }
            }
            if let close = server.lastIndex(of: "]"), let port = Int(server[server.index(after: close)...].dropFirst()) {
                return (1, [port], String(server[...close]))
            }
            return (2, [], server)
        }
        let x = key(a)
        let y = key(b)
        if x.family != y.family { return x.family < y.family }
        if x.text != y.text { return x.text < y.text }
        return x.numbers.lexicographicallyPrecedes(y.numbers)
    }

    /// Rows ordered for a person on call: most gateway failures first, then by address.
    public static func worstFirst<Row>(_ rows: [Row], failed: (Row) -> Int, server: (Row) -> String) -> [Row] {
        rows.sorted { a, b in
            let x = failed(a)
            let y = failed(b)
            return x != y ? x > y : self.addressPrecedes(server(a), server(b))
        }
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

    /// One row per upstream, most gateway failures first, then by address; counts every
    /// connection judged, listed in the report or not.
    public static func upstreams(_ result: AnalysisResult) -> [UpstreamRow] {
        let rows = result.tally.servers.map { server, row in
            UpstreamRow(
                endpoint: server, server: server.description, connections: row.connections,
                failed: row.classes.reduce(0) { $0 + (self.isGatewayFailure($1.key) ? $1.value : 0) },
                relayed: row.classes[.relayed] ?? 0, causes: self.sorted(row.causes), failedCauses: self.sorted(row.gatewayCauses))
        }
        return self.worstFirst(rows, failed: \.failed, server: \.server)
    }

    /// Failure counts by root cause over the whole capture, most frequent first.
    public static func causes(_ result: AnalysisResult) -> [(code: FindingCode, count: Int)] {
        self.sorted(result.tally.causes)
    }

    private static func sorted(_ counts: [FindingCode: Int]) -> [(code: FindingCode, count: Int)] {
        counts.map { (code: $0.key, count: $0.value) }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.code < $1.code }
    }

    /// A Wireshark/tshark display filter that selects the connection's packets in the original capture.
    /// With `origins` (several capture files), the frames are numbered in the connection's file.
    public static func displayFilter(_ report: ConnectionReport, origins: FrameOrigins? = nil) -> String {
        let naming = FrameNaming(origins)
        func host(_ endpoint: Endpoint) -> String {
            switch endpoint.address {
            case .v4: return "ip.addr==\(endpoint.address.text)"
            case .v6: return "ipv6.addr==\(endpoint.address.text)"
            }
        }
        return "\(host(report.client)) && \(host(report.server)) && tcp.port==\(report.client.port) && tcp.port==\(report.server.port)"
            + " && frame.number>=\(naming.number(report.frames.lowerBound)) && frame.number<=\(naming.number(report.frames.upperBound))"
    }
}
