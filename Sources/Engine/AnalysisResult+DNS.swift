import CaptureModel
import DNS
import Diagnosis

extension AnalysisResult {
    /// Adds the DNS section and ties it to the failures: a client error the gateway answered
    /// without any upstream connection gets the DNS failure of its time as its cause, and each
    /// failed connection to an address that had just entered a name's answers gets `dns.drift`
    /// beside its verdict.
    mutating func attachDNS(_ tracker: DNSTracker) {
        let outcomes = self.connections.map {
            DNSTracker.ConnectionOutcome(
                id: $0.id, server: $0.server.address, start: $0.facts.first.time, failed: Self.isFailure($0.verdict.verdictClass))
        }
        let summary = tracker.finish(connections: outcomes)
        var index: [UInt32: Int] = [:]
        for (position, report) in self.connections.enumerated() { index[report.id] = position }
        for finding in summary.findings where finding.code == .dnsDrift {
            for id in finding.failedConnections {
                guard let position = index[id] else { continue }
                // The evidence is the DNS answer's frame: no byte of this connection's streams.
                let evidence = Evidence(
                    direction: .server, streamOffset: 0, frame: finding.frames.first, frameOffset: nil, length: 0, note: finding.summary)
                self.connections[position].findings.append(Finding(
                    code: .dnsDrift, severity: RootCause.dnsDrift.entry.severity, evidence: [evidence], value: finding.address?.text))
            }
        }
        if var hop = self.clientHop {
            for position in hop.errors.indices {
                let error = hop.errors[position]
                guard error.upstreamConnection == nil, error.cause == nil, error.generatedBy == .gateway, error.status != nil,
                      let explanation = tracker.explanation(at: error.time)
                else { continue }
                hop.errors[position].cause = explanation.code
                hop.errors[position].dnsFrame = explanation.frame
                hop.errors[position].dnsName = explanation.name
                hop.errors[position].matchedBy = ["timing"]
                hop.explained += 1
            }
            self.clientHop = hop
        }
        self.dns = summary
    }

    /// Whether a verdict's class is a failure the client saw.
    static func isFailure(_ verdictClass: VerdictClass) -> Bool {
        switch verdictClass {
        case .badGateway, .serviceUnavailable, .gatewayTimeout, .internalError, .truncated: return true
        case .relayed, .ok, .unknown: return false
        }
    }
}
