import CaptureModel
import DNS
import Diagnosis

extension DNSTracker {
    /// Adds `dns.drift` beside the verdict of each failed connection whose address had just
    /// entered a name's answers, as connections are judged (before they stream to a report).
    mutating func markDrift(in reports: inout [ConnectionReport]) {
        for position in reports.indices {
            let report = reports[position]
            guard let appearance = self.noteConnection(
                id: report.id, server: report.server.address, start: report.facts.first.time,
                failed: AnalysisResult.isFailure(report.verdict.verdictClass))
            else { continue }
            // The evidence is the DNS answer's frame: no byte of this connection's streams.
            let evidence = Evidence(direction: .server, streamOffset: 0, frame: appearance.frame, frameOffset: nil, length: 0, note: appearance.sentence)
            reports[position].findings.append(Finding(
                code: .dnsDrift, severity: RootCause.dnsDrift.entry.severity, evidence: [evidence], value: appearance.address.text))
        }
    }
}

extension AnalysisResult {
    /// Adds the DNS section and ties it to the failures: a client error the gateway answered
    /// without any upstream connection gets the DNS failure of its time as its cause; the
    /// section's `dns.drift` findings count the connections to each address that entered a
    /// name's answers (each failed one got the finding when it was judged, `markDrift`).
    mutating func attachDNS(_ tracker: DNSTracker) {
        let summary = tracker.finish()
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
