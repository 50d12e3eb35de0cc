import CaptureModel
import HTTP1
import TCPReassembly
import TLSRecords

/// What a report says about a connection's TLS.
public struct TLSSummary: Sendable {
    public var version: String?
    public var sni: String?
    public var alpn: String?
    public var cipher: String?
    /// `level description by side`, e.g. `fatal handshake_failure from server`.
    public var alerts: [String]
    /// Whether application data was decrypted (key log).
    public var decrypted: Bool
    /// The chain as sent, when visible.
    public var chain: [CertificateSummary]
    /// `ok`, `failed` or `not_visible`.
    public var verification: String
    public var opensslCode: Int32?
    public var opensslText: String?
    public var depth: Int32?
}

/// Verdicts for connections where the gateway speaks TLS (taxonomy 2.G).
public enum TLSDiagnosis {
    /// Judges a TLS connection from its record shapes, its alerts and (TLS 1.2) its chain.
    /// Every alert either side sent (but close_notify, the ordinary end) is among the findings,
    /// whatever the verdict: an alert is a fact, a verdict may be an inference from it.
    public static func diagnose(
        _ connection: Connection, tls: TLSConnection, chain: ChainCheck?, context: TCPContext
    ) -> (Diagnosis, TLSSummary) {
        var (diagnosis, summary) = self.judge(connection, tls: tls, chain: chain, context: context)
        var seen = Set(diagnosis.findings.map(\.code))
        for alert in tls.alerts where alert.description != 0 {
            let code = FindingCode.tlsAlert(alert.description)
            guard seen.insert(code).inserted else { continue }
            let sender = alert.direction == .server ? "upstream" : "gateway"
            diagnosis.findings.append(Finding(code: code, severity: .warning, evidence: [Evidence(
                direction: alert.direction, streamOffset: alert.location.offset, frame: alert.location.frame,
                frameOffset: alert.location.frameOffset, length: UInt64(alert.bytes.count), bytes: alert.bytes, context: alert.bytes,
                note: "\(alert.level == 2 ? "fatal" : "warning") alert \(alert.description) \(TLSNames.alert(alert.description)) from the \(sender)"
                    + (alert.decrypted ? ", in this protected record (decrypted with the key log)" : ""))]))
        }
        // RFC 7301 §3.2, RFC 9113 §3.2: a gateway that offered only h2 (nginx grpcs://, HAProxy
        // alpn h2) and an upstream that chose no h2. An offer with http/1.1 too is a choice
        // left to the upstream, and its fallback no finding.
        // TLS 1.3 carries the choice in EncryptedExtensions: known only with the key log.
        let selected: (location: TLSLocation, alpn: String?, message: String)? = tls.serverHello.flatMap { hello in
            if hello.version == 0x0304 {
                return tls.encryptedExtensions.map { ($0.location, $0.alpn, "an EncryptedExtensions (decrypted with the key log)") }
            }
            return (hello.location, hello.alpn, "a ServerHello")
        }
        if let hello = tls.clientHello, let selected, hello.alpn.contains("h2"),
           !hello.alpn.contains(where: { $0.hasPrefix("http/1") }), selected.alpn != "h2" {
            diagnosis.findings.append(Finding(code: .tlsALPNNoH2, severity: .warning, evidence: [Evidence(
                direction: .server, streamOffset: selected.location.offset, frame: selected.location.frame,
                frameOffset: selected.location.frameOffset, length: 0,
                note: "\(selected.message) that selects \(selected.alpn.map { "ALPN \($0)" } ?? "no ALPN protocol") where the gateway offered only h2")]))
        }
        let early = tls.earlyData
        if early.records > early.decryptedRecords, let first = early.first {
            let keys = !tls.keysFound ? "there is no key log for this session"
                : "the key log has no CLIENT_EARLY_TRAFFIC_SECRET for this session"
            diagnosis.findings.append(Finding(code: .tlsEarlyDataUnreadable, severity: .warning, evidence: [Evidence(
                direction: .client, streamOffset: first.offset, frame: first.frame, frameOffset: first.frameOffset,
                length: UInt64(early.firstRecordLength),
                note: "\(Summaries.count(early.records, "record")), \(early.bytes) bytes of TLS 1.3 early data (0-RTT) that cannot be read: \(keys)")]))
        }
        return (diagnosis, summary)
    }

    /// The verdict and its findings, before the alerts are added.
    static func judge(
        _ connection: Connection, tls: TLSConnection, chain: ChainCheck?, context: TCPContext
    ) -> (Diagnosis, TLSSummary) {
        let summary = self.summary(tls, chain: chain, gateway: context.gateway.model)
        let facts = connection.facts
        let other = connection.allFindings
        func make(_ code: FindingCode, _ evidence: Evidence, summary text: String, extra: [Finding] = [], phase: Phase = .tls) -> Diagnosis {
            let verdict = Gateways.verdict(code, context: RuleContext(phase: phase), profile: context.gateway, summary: text)
            return Diagnosis(verdict: verdict, findings: [Finding(code: code, severity: .fatal, evidence: [evidence])] + extra + other)
        }
        func evidence(_ direction: Direction, _ location: TLSLocation, length: UInt64 = 0, bytes: [UInt8] = [], note: String) -> Evidence {
            Evidence(direction: direction, streamOffset: location.offset, frame: location.frame, frameOffset: location.frameOffset,
                     length: length, bytes: bytes, context: bytes, note: note)
        }
        let server = connection.server
        // The ClientHello message that lacks the extension: its header and body.
        let sniFinding: [Finding] = tls.clientHello.map { hello in
            guard hello.serverName == nil else { return [] }
            let span = tls.clientHelloWithoutSNI
            return [Finding(code: .tlsSNIMissing, severity: .warning, evidence: [
                evidence(.client, span?.location ?? hello.location, length: span?.length ?? 0, bytes: span?.firstBytes ?? [],
                         note: "the ClientHello has no server_name extension")])]
        } ?? []
        // Every problem of the chain, the one this gateway reports first, then the others in
        // OpenSSL's order; the evidence is the Certificate message.
        var chainFinding: [Finding] = []
        let reported = chain?.reportedProblem(by: context.gateway.model)
        if let chain, !chain.ok, let location = tls.certificateLocation {
            let span = tls.certificateMessage
            let problems = (reported.map { [$0] } ?? []) + chain.errors.filter { $0 != reported }
            for problem in problems {
                guard let code = problem.code, !chainFinding.contains(where: { $0.code == code }) else { continue }
                let note = "OpenSSL: \(problem.opensslCode) \(problem.opensslText) at depth \(problem.depth)"
                    + (span?.encrypted == true ? ", in the Certificate message this record carries (decrypted with the key log)" : "")
                chainFinding.append(Finding(code: code, severity: .warning, evidence: [Evidence(
                    direction: .server, streamOffset: span?.location.offset ?? location.offset, frame: span?.location.frame ?? location.frame,
                    frameOffset: span?.location.frameOffset ?? location.frameOffset, length: span?.length ?? 0,
                    bytes: span?.firstBytes ?? [], context: span?.firstBytes ?? [], note: note)]))
            }
        }
        let chainText = reported?.opensslText ?? chain?.opensslText ?? ""

        // The upstream does not speak TLS at all.
        if let notTLS = tls.serverNotTLS {
            let isHTTP = notTLS.bytes.starts(with: Array("HTTP/".utf8))
            let code: FindingCode = isHTTP ? .protoTLSToPlainPort : .protoNonHTTPResponse
            return (make(code, evidence(.server, notTLS.location, length: UInt64(notTLS.bytes.count), bytes: notTLS.bytes,
                note: isHTTP ? "plain HTTP in answer to the gateway's ClientHello" : "an answer that is not a TLS record"),
                summary: "The gateway spoke TLS to \(server), which answered in plain text: the upstream port does not speak TLS."), summary)
        }

        // An alert in the clear before the handshake finished.
        // A fatal alert during the handshake; or, in TLS 1.3, from the upstream after the
        // gateway's Finished but before any answer (certificate_required comes then).
        if let alert = tls.alerts.first(where: { $0.level == 2 }),
           tls.handshakeDone == nil || alert.location.frame < tls.handshakeDone!.frame
               || (alert.direction == .server && (alert.description == 116 || tls.serverApplicationRecords == 0)) {
            let name = TLSNames.alert(alert.description)
            let record = evidence(alert.direction, alert.location, length: UInt64(alert.bytes.count), bytes: alert.bytes,
                note: "fatal alert \(alert.description) \(name) from the \(alert.direction == .server ? "upstream" : "gateway")"
                    + (alert.decrypted ? ", in this protected record (decrypted with the key log)" : ""))
            if alert.direction == .server {
                var code = FindingCode.tlsAlert(alert.description)
                var text = "The upstream \(server) refused the TLS handshake with a fatal \(name) alert."
                switch alert.description {
                case 70:
                    code = .tlsVersionMismatch
                    let offered = tls.clientHello.map { TLSNames.version($0.highestVersion) } ?? "?"
                    text = "The upstream \(server) shares no TLS version with the gateway (the gateway offered up to \(offered)): protocol_version alert."
                case 116:
                    code = .tlsClientCertRequired
                    text = "The upstream \(server) requires a client certificate the gateway did not send (certificate_required alert)."
                case _ where tls.certificateRequest != nil && (alert.description == 40 || alert.description == 42):
                    code = .tlsClientCertRequired
                    text = "The upstream \(server) asked for a client certificate and the gateway sent none: \(name) alert."
                case _ where tls.serverHello == nil && (alert.description == 40 || alert.description == 71):
                    code = .tlsCipherMismatch
                    text = "The upstream \(server) shares no cipher suite or group with the gateway: \(name) alert in answer to the ClientHello."
                case 112:
                    text = "The upstream \(server) does not know the requested host name\(tls.clientHello?.serverName == nil ? " (the gateway sent no SNI)" : ""): unrecognized_name alert."
                default:
                    break
                }
                // After the handshake (TLS 1.3's certificate_required) the gateway is already
                // reading its response.
                let afterHandshake = tls.handshakeDone.map { alert.location.frame > $0.frame } ?? false
                return (make(code, record, summary: text, extra: sniFinding, phase: afterHandshake ? .responseHead : .tls), summary)
            }
            // The gateway refused the upstream (verification inside the handshake, as HAProxy does).
            if let chainCode = chainFinding.first?.code {
                return (make(chainCode, chainFinding[0].evidence[0],
                    summary: "The gateway rejected \(server)'s certificate (\(chainText)) and ended the handshake with \(Summaries.article(for: name)) \(name) alert.",
                    extra: [Finding(code: .tlsAlert(alert.description), severity: .warning, evidence: [record])] + chainFinding.dropFirst()), summary)
            }
            return (make(.tlsAlert(alert.description), record,
                summary: "The gateway ended the TLS handshake with \(server) with a fatal \(name) alert."), summary)
        }

        let serverClose = [facts.server.fin, facts.server.rst].compactMap { $0 }.min { $0.frame < $1.frame }
        let clientClose = [facts.client.fin, facts.client.rst].compactMap { $0 }.min { $0.frame < $1.frame }

        if let done = tls.handshakeDone {
            // The handshake finished and the gateway closed without sending a request: nginx's
            // fingerprint for a certificate it verified after the handshake and refused.
            // Who ended the session first: an encrypted alert (close_notify) or a FIN/RST.
            let gatewayEnd = [clientClose?.frame, tls.firstAlertAfterHandshake.client?.frame].compactMap { $0 }.min()
            let upstreamEnd = [serverClose?.frame, tls.firstAlertAfterHandshake.server?.frame].compactMap { $0 }.min()
            if tls.clientApplicationRecords == 0, let clientClose, let gatewayEnd, upstreamEnd.map({ gatewayEnd <= $0 }) ?? true {
                if let finding = chainFinding.first {
                    return (make(finding.code, finding.evidence[0],
                        summary: "The upstream \(server)'s certificate fails verification (\(chainText)); the gateway completed the handshake and closed without a request, as nginx does when it refuses a certificate.",
                        extra: Array(chainFinding.dropFirst())),
                        summary)
                }
                let alertShaped = tls.firstClientEncrypted.map { $0.length == 19 } ?? false
                let close = Evidence(direction: .client, streamOffset: connection.clientStream.nextOffset, frame: clientClose.frame,
                    frameOffset: nil, length: 0, note: "the gateway closes \(TCPDiagnosis.seconds(clientClose.time.nanoseconds(since: done.time))) after the handshake, with no application data")
                return (make(.tlsClosedAfterHandshake, close,
                    summary: "The TLS handshake with \(server) finished and the gateway closed at once without a request"
                        + (alertShaped ? " (its only encrypted record is alert-sized)" : "")
                        + ": the gateway refused the upstream's certificate. The chain is encrypted (TLS 1.3); run with --keylog, or `edgescope probe`, to see why."),
                    summary)
            }
            // Data flowed: a chain problem is a latent risk, not this connection's failure.
            var diagnosis = TCPDiagnosis.diagnose(connection, context: context)
            diagnosis.findings += chainFinding + sniFinding
            return (diagnosis, summary)
        }

        // The handshake never finished.
        if let serverClose, clientClose.map({ serverClose.frame < $0.frame }) ?? true, tls.clientHello != nil {
            let byRST = facts.server.rst?.frame == serverClose.frame
            let close = Evidence(direction: .server, streamOffset: connection.serverStream.nextOffset, frame: serverClose.frame,
                frameOffset: nil, length: 0, note: "\(byRST ? "RST" : "FIN") from the upstream during the TLS handshake, no alert")
            return (make(.tlsPeerClosedInHandshake, close,
                summary: "The upstream \(server) \(byRST ? "reset" : "closed") the connection in the middle of the TLS handshake, without an alert.",
                extra: sniFinding), summary)
        }
        if let clientClose, let hello = tls.clientHello {
            let waited = clientClose.time.nanoseconds(since: hello.location.time)
            if waited >= TCPDiagnosis.readTimeoutThreshold {
                let close = Evidence(direction: .client, streamOffset: connection.clientStream.nextOffset, frame: clientClose.frame,
                    frameOffset: nil, length: 0, note: "the gateway gives up \(TCPDiagnosis.seconds(waited)) after its ClientHello; the handshake never finished")
                return (make(.tlsHandshakeTimeout, close,
                    summary: "The TLS handshake with \(server) stalled for \(TCPDiagnosis.seconds(waited)) until the gateway gave up."), summary)
            }
        }
        var diagnosis = TCPDiagnosis.diagnose(connection, context: context)
        diagnosis.findings += chainFinding + sniFinding
        return (diagnosis, summary)
    }

    /// The verdict of a TLS connection whose decrypted bytes were judged (`inner`), when the
    /// gateway offered only h2 and the upstream selected none (`tls.alpn.no_h2`): that is the
    /// cause when the upstream then answered the preface with HTTP/1 (nginx grpcs://: 502), or
    /// when the gateway fell back and all went well (HAProxy: `ok`). Other verdicts stand.
    public static func withALPNCause(_ inner: Diagnosis, server: Endpoint, context: TCPContext) -> Diagnosis {
        guard var alpn = inner.findings.first(where: { $0.code == .tlsALPNNoH2 }) else { return inner }
        let rest = inner.findings.filter { $0 != alpn }
        let offered = "The gateway offered only h2 in its TLS handshake and the upstream \(server) selected no ALPN protocol"
        let summary: String
        let ruleContext: RuleContext
        switch inner.verdict.code {
        case .protoH1ResponseToH2:
            alpn.value = "HTTP/1"
            ruleContext = RuleContext(phase: .responseHead, value: alpn.value)
            summary = offered + "; the gateway sent the HTTP/2 preface anyway and the upstream answered with HTTP/1."
        case .none:
            ruleContext = RuleContext(phase: .tls)
            summary = offered + "; the exchanges inside went through."
        default:
            return inner
        }
        alpn.severity = inner.verdict.code == .none ? .warning : .fatal
        let verdict = Gateways.verdict(.tlsALPNNoH2, context: ruleContext, profile: context.gateway, summary: summary)
        return Diagnosis(verdict: verdict, findings: [alpn] + rest)
    }

    /// The session's summary. The verification's OpenSSL code, text and depth are those of the
    /// problem `gateway` reports when the chain has several (`ChainCheck.reportedProblem`), so
    /// they agree with the verdict and the gateway's own log line.
    static func summary(_ tls: TLSConnection, chain: ChainCheck?, gateway: any GatewayModel) -> TLSSummary {
        let visible = !tls.certificates.isEmpty
        let reported = chain.flatMap { $0.ok ? nil : $0.reportedProblem(by: gateway) }
        return TLSSummary(
            version: tls.version.map(TLSNames.version) ?? tls.clientHello.map { TLSNames.version($0.highestVersion) + " offered" },
            sni: tls.clientHello?.serverName,
            alpn: tls.serverHello?.alpn,
            cipher: tls.serverHello.map { TLSNames.cipherSuite($0.cipherSuite) },
            alerts: tls.alerts.map { "\($0.level == 2 ? "fatal" : "warning") \(TLSNames.alert($0.description)) from \($0.direction == .server ? "server" : "client")" },
            decrypted: tls.decryptedRecords > 0,
            chain: chain?.certificates ?? [],
            verification: !visible || chain == nil ? "not_visible" : (chain!.ok ? "ok" : "failed"),
            opensslCode: visible ? reported?.opensslCode ?? chain?.opensslCode : nil,
            opensslText: visible ? reported?.opensslText ?? chain?.opensslText : nil,
            depth: visible && chain?.ok == false ? reported?.depth ?? chain?.depth : nil)
    }
}
