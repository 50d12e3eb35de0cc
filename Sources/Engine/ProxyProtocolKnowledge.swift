import CaptureModel
import Diagnosis

/// What the capture shows of which upstreams expect the PROXY protocol, across connections: an
/// upstream that answered the request behind a gateway's PROXY header expects one (its listener
/// has `proxy_protocol`, `accept-proxy`...). A connection to such an upstream that carried no
/// header and was closed before any response byte is `proto.proxy_header_missing`: the upstream
/// read the gateway's request as a broken header and closed (nginx logs `broken header: "GET
/// ..." while reading PROXY protocol`; the gateway "upstream prematurely closed connection").
///
/// Kept by the `Merger`, which sees every judged connection in the order one flow table judges
/// them (whatever `--threads`), so a connection is judged on what the connections judged before
/// it showed; one judged before any header was answered stays `tcp.fin.before_response`.
struct ProxyProtocolKnowledge {
    /// Upstreams known to take a PROXY header, with the first connection that showed it.
    private(set) var accepting: [Endpoint: UInt32] = [:]
    static let maximumServers = 4096

    /// Learns from a transaction finished on a connection that began with a PROXY header: an
    /// answer other than 400 says its upstream takes the protocol.
    mutating func learn(_ transaction: FinishedTransaction) {
        self.note(transaction.server, answered: transaction.response?.status, on: transaction.connection)
    }

    /// `server` answered `status` to the request behind a PROXY header on `connection`.
    private mutating func note(_ server: Endpoint, answered status: Int?, on connection: UInt32) {
        guard let status, status != 400, self.accepting[server] == nil, self.accepting.count < Self.maximumServers else { return }
        self.accepting[server] = connection
    }

    /// Learns from `report`, or rewrites its verdict when it is a missing header.
    mutating func review(_ report: inout ConnectionReport, gateway: GatewayProfile) {
        if let header = report.proxyHeader {
            self.note(report.server, answered: header.answeredWith, on: report.id)
            if report.verdict.code == .protoTLSToPlainPort { Self.unexpectedBeforeTLS(header, in: &report, gateway: gateway) }
            return
        }
        guard !self.accepting.isEmpty, let witness = self.accepting[report.server],
              report.verdict.code == .tcpFINBeforeResponse || report.verdict.code == .tcpRSTBeforeResponse,
              report.clientStreamBytes > 0, let request = report.transactions.first?.request
        else { return }
        let requestEvidence = Evidence(
            direction: .client, streamOffset: request.offset, frame: request.frame, frameOffset: nil,
            length: UInt64(request.method.utf8.count + 1 + request.target.utf8.count),
            note: "the gateway's request where the upstream expected a PROXY header")
        let closed = report.findings.first?.evidence ?? []
        let finding = Finding(
            code: .protoProxyHeaderMissing, severity: .fatal, evidence: [requestEvidence] + closed,
            value: "\(request.method) \(request.target)")
        let summary = "The gateway sent \(request.method) \(request.target) to \(report.server) without a PROXY protocol header; "
            + "\(report.server) expects one (it answered the request behind a PROXY header on c\(witness)) and closed the "
            + "connection without a response, as a listener with the PROXY protocol does when the header is missing."
        report.verdict = Gateways.verdict(
            .protoProxyHeaderMissing, context: RuleContext(phase: .responseHead, method: request.method), profile: gateway,
            summary: summary)
        report.findings = [finding] + report.findings
    }

    /// `proto.proxy_header_unexpected` before TLS (HAProxy's `ssl send-proxy-v2`): the upstream's
    /// TLS listener read the header as its first record and answered in plain text (nginx with
    /// `ssl` and no `proxy_protocol` answers 400 and logs "client sent invalid method"), so the
    /// gateway's handshake failed. The header is the cause; the plain answer its evidence.
    static func unexpectedBeforeTLS(_ header: ProxyHeader, in report: inout ConnectionReport, gateway: GatewayProfile) {
        let headerEvidence = Evidence(
            direction: .client, streamOffset: 0, frame: header.frame, frameOffset: header.frameOffset, length: UInt64(header.length),
            bytes: Array(header.bytes.prefix(header.length)), context: header.bytes, contextOffset: 0,
            note: "a \(header.description) header before the gateway's TLS ClientHello, where the upstream expected the handshake")
        let answer = report.findings.first { $0.code == .protoTLSToPlainPort }?.evidence ?? []
        let finding = Finding(code: .protoProxyHeaderUnexpected, severity: .fatal, evidence: [headerEvidence] + answer, value: header.description)
        let answered = answer.first?.frame.map { " (frame \($0))" } ?? ""
        let summary = "The gateway sent a \(header.description) header before its TLS ClientHello to \(report.server), which does not expect "
            + "the PROXY protocol: its TLS listener read the header as a record and answered in plain text\(answered), so the handshake failed."
        report.verdict = Gateways.verdict(
            .protoProxyHeaderUnexpected, context: RuleContext(phase: .tls), profile: gateway, summary: summary)
        report.findings = [finding] + report.findings.map { finding in
            var demoted = finding
            if demoted.code == .protoTLSToPlainPort { demoted.severity = .warning }
            return demoted
        }
    }
}
