import CaptureModel

/// The one sentence every report opens with: which pool member the gateway failed most, and
/// what it did, in words (`127.0.0.3:8080 sent a malformed header on 13 of 40 connections`).
/// Text, Markdown and HTML say the same sentence; Markdown and HTML read it from report.json alone.
public enum Headline {
    /// One upstream as the headline weighs it.
    public struct Member: Sendable {
        /// `10.0.3.24:8080`.
        public var server: String
        /// Its `--upstream NAME=`, if given.
        public var name: String?
        /// Connections to it.
        public var connections: Int
        /// Connections the gateway failed.
        public var failed: Int
        /// The upstream's own 5xx, relayed.
        public var relayed: Int
        /// Root causes of the gateway failures, most frequent first.
        public var failedCauses: [(code: String, count: Int)]
        /// Relayed connections whose cause was the upstream's 400 to a PROXY protocol header.
        public var relayedProxyHeaders: Int

        /// A member from its parts.
        public init(
            server: String, name: String?, connections: Int, failed: Int, relayed: Int, failedCauses: [(code: String, count: Int)],
            relayedProxyHeaders: Int = 0
        ) {
            self.server = server
            self.name = name
            self.connections = connections
            self.failed = failed
            self.relayed = relayed
            self.failedCauses = failedCauses
            self.relayedProxyHeaders = relayedProxyHeaders
        }

        /// A member from an `upstreams[]` entry of report.json (`failed_causes`, or `causes` for a
        /// report written before it existed).
        public init(_ row: JSONValue) {
            let causes = row["failed_causes"].isNull ? row["causes"] : row["failed_causes"]
            self.init(
                server: row["server"].string ?? "?", name: row["name"].string, connections: row["connections"].int ?? 0,
                failed: row["failed"].int ?? 0, relayed: row["relayed"].int ?? 0,
                failedCauses: causes.members.map { ($0.0, $0.1.int ?? 0) }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.code < $1.code },
                relayedProxyHeaders: row["causes"][FindingCode.protoProxyHeaderUnexpected.description].int ?? 0)
        }
    }

    /// The worst member (most gateway failures, then the lower address), if any failed.
    public static func worst(_ members: [Member]) -> Member? {
        members.filter { $0.failed > 0 }.min { a, b in
            a.failed != b.failed ? a.failed > b.failed : Summary.addressPrecedes(a.server, b.server)
        }
    }

    /// The sentence, without a final period, or `nil` when no connection failed at all.
    /// `code` quotes the server and the code (a code span in Markdown, for example), `text`
    /// escapes the upstream's name.
    public static func sentence(
        _ members: [Member], code quote: (String) -> String = { $0 }, text escape: (String) -> String = { $0 }
    ) -> String? {
        if let worst = self.worst(members) {
            var out = quote(worst.server) + (worst.name.map { " (\(escape($0)))" } ?? "")
            if let top = worst.failedCauses.first {
                out += " \(self.phrase(top.code)) on \(top.count) of \(worst.connections) \(worst.connections == 1 ? "connection" : "connections") (\(quote(top.code)))"
                let others = worst.failed - top.count
                if others > 0 { out += "; \(others) more failed with other causes" }
            } else {
                out += " failed on \(worst.failed) of \(worst.connections) \(worst.connections == 1 ? "connection" : "connections")"
            }
            let others = members.filter { $0.failed > 0 }.count - 1
            if others > 0 { out += "; \(others) other \(others == 1 ? "upstream" : "upstreams") failed too" }
            return out
        }
        let relayed = members.reduce(0) { $0 + $1.relayed }
        let proxyHeaders = members.reduce(0) { $0 + $1.relayedProxyHeaders }
        if relayed > 0, proxyHeaders == relayed {
            return "No upstream failed at the gateway; upstreams answered its PROXY protocol header with 400 on \(proxyHeaders) connection(s) (\(quote(FindingCode.protoProxyHeaderUnexpected.description))), and the gateway relayed that 400"
        }
        if relayed > 0 {
            return "No upstream failed at the gateway; upstreams answered \(relayed) request(s) with a 5xx of their own, which the gateway relayed"
        }
        return nil
    }

    /// What an upstream did, in words a person on call reads at a glance: `sent a malformed
    /// header`. The code follows in the sentence for the details.
    public static func phrase(_ code: String) -> String {
        if let known = FindingCode(code: code) { return known.cause.entry.phrase }
        // A code this build does not know (a report from a newer edgescope): its family says enough.
        let families: [(prefix: String, phrase: String)] = [
            ("proto.", "spoke a protocol the gateway did not expect"),
            ("http.status_line.", "sent a malformed status line"),
            ("http.line.", "sent a malformed line ending"),
            ("http.header.", "sent a malformed header"),
            ("http.cl.", "sent a bad Content-Length"),
            ("http.te", "sent a bad Transfer-Encoding"),
            ("http.chunked.", "sent a malformed chunked body"),
            ("http.body.", "sent body bytes its message does not allow"),
            ("tls.cert.", "presented a certificate the gateway rejects"),
            ("tls.", "failed the TLS handshake"),
            ("h2.", "broke the HTTP/2 protocol"),
            ("grpc.", "answered with a gRPC error"),
            ("dns.", "could not be resolved"),
            ("fcgi.", "broke the FastCGI protocol"),
        ]
        for family in families where code.hasPrefix(family.prefix) { return family.phrase }
        return "failed"
    }
}
