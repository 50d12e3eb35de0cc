import CaptureModel
import HTTP1
import TCPReassembly

/// Judges one connection from everything seen on it: TCP facts, HTTP/1 findings and where the
/// response stood when the stream ended. The primary root cause is the first event, in the
/// upstream's stream order, that the chosen gateway profile fails the exchange on.
public enum ConnectionDiagnosis {
    /// What the diagnosis needs to know about the connection's HTTP.
    public struct HTTPView: Sendable {
        /// Every HTTP finding, in the order found.
        public var findings: [Finding]
        /// Upstream bytes the capture lacks where a check needed them.
        public var uncheckedGaps: [Evidence]
        /// Where the response stood when the upstream's stream ended.
        public var end: ResponseEnd
        /// The first well-formed 5xx the upstream sent.
        public var upstream5xx: (status: Int, evidence: Evidence)?
        /// Whether the gateway spoke HTTP/1 at all.
        public var gatewaySpeaksHTTP1: Bool
        /// Indexes into `findings` of body findings that came in the frame ending their head.
        public var arrivedWithHead: Set<Int>
        /// Whether the hop is FastCGI (the requests from FCGI_PARAMS, the head from FCGI_STDOUT).
        public var isFastCGI: Bool {
            get { self.fastCGI != nil }
            set { self.fastCGI = newValue ? FastCGIFacts(stderr: self.applicationStderr) : nil }
        }
        /// What the application wrote to FCGI_STDERR (bounded, credentials masked), shown with the
        /// verdict. Setting it (even to nil) marks the view FastCGI.
        public var applicationStderr: String? {
            get { self.fastCGI?.stderr }
            set { self.fastCGI = FastCGIFacts(stderr: newValue) }
        }
        /// Out of line: one word in every view (a closed connection lingers with its view).
        private var fastCGI: FastCGIFacts?

        private final class FastCGIFacts: Sendable {
            let stderr: String?
            init(stderr: String?) { self.stderr = stderr }
        }

        /// A view from its parts.
        public init(findings: [Finding], uncheckedGaps: [Evidence], end: ResponseEnd,
                    upstream5xx: (status: Int, evidence: Evidence)?, gatewaySpeaksHTTP1: Bool, arrivedWithHead: Set<Int> = []) {
            self.arrivedWithHead = arrivedWithHead
            self.findings = findings
            self.uncheckedGaps = uncheckedGaps
            self.end = end
            self.upstream5xx = upstream5xx
            self.gatewaySpeaksHTTP1 = gatewaySpeaksHTTP1
        }
    }

    /// Codes that change how a gateway that accepts them frames the body.
    static let framingCodes: Set<FindingCode> = [
        .contentLengthInvalid, .contentLengthDuplicate, .transferEncodingWithContentLength, .transferEncodingNotChunked,
        .transferEncodingDuplicateOrEmpty,
    ]

    /// Judges `connection`; on a FastCGI hop the verdict carries the application's stderr.
    public static func diagnose(_ connection: Connection, http: HTTPView?, context: TCPContext) -> Diagnosis {
        var diagnosis = self.judge(connection, http: http, context: context)
        if let stderr = http?.applicationStderr { diagnosis.verdict.stderr = stderr }
        return diagnosis
    }

    private static func judge(_ connection: Connection, http: HTTPView?, context: TCPContext) -> Diagnosis {
        let facts = connection.facts
        let tcpFindings = connection.allFindings
        // Connect phase: no HTTP yet.
        if facts.opener == .client, facts.synAck == nil, facts.syn != nil {
            return TCPDiagnosis.diagnose(connection, context: context)
        }
        if let blackhole = TCPDiagnosis.mtuBlackhole(
            connection, context: context, method: http?.end.outstanding?.method ?? http?.end.inProgressRequest?.method)
        {
            return blackhole
        }
        guard let http, http.gatewaySpeaksHTTP1 || !http.findings.isEmpty || facts.client.payloadBytesOnWire == 0 else {
            // TLS or another protocol: only TCP can be judged here.
            return TCPDiagnosis.diagnose(connection, context: context)
        }

        let method = http.end.outstanding?.method ?? http.end.inProgressRequest?.method
        let reused = http.end.responsesCompleted > 0
        // What each finding's rules need beyond its code: the token, and whether a body error
        // came in the head's own frame.
        var withHead = Set<Finding>()
        for index in http.arrivedWithHead where index < http.findings.count { withHead.insert(http.findings[index]) }
        func ruleContext(_ code: FindingCode, phase: Phase, finding: Finding?) -> RuleContext {
            var context = RuleContext(
                phase: phase, method: method, reusedConnection: reused, upstreamStatus: http.upstream5xx?.status,
                value: finding?.value, arrivedWithHead: finding.map { withHead.contains($0) } ?? false)
            context.isFastCGI = http.isFastCGI
            return context
        }
        func reaction(_ code: FindingCode, phase: Phase, model: (any GatewayModel)? = nil, finding: Finding? = nil) -> GatewayReaction {
            let profile = model.map { $0.name == context.gateway.name ? context.gateway : GatewayProfile(model: $0) } ?? context.gateway
            return Gateways.reaction(to: code, context: ruleContext(code, phase: phase, finding: finding), profile: profile)
        }
        func phase(of code: FindingCode) -> Phase {
            code.cause.isBodyPhase ? .responseBody : .responseHead
        }
        // The summary sentence for `finding` as the root cause, naming the gateways that refuse
        // bytes the chosen one lets through.
        func summary(_ finding: Finding) -> String {
            let p = phase(of: finding.code)
            let refusedBy = Gateways.reported.filter {
                $0.name != context.gateway.name && reaction(finding.code, phase: p, model: $0, finding: finding).kind != .accepts
            }
            return Summaries.finding(
                finding, server: connection.server, reaction: reaction(finding.code, phase: p, finding: finding),
                profile: context.gateway, refusedBy: refusedBy)
        }
        func rejectedByAny(_ finding: Finding, phase: Phase) -> Bool {
            Gateways.reported.contains { reaction(finding.code, phase: phase, model: $0, finding: finding).kind != .accepts }
                || reaction(finding.code, phase: phase, finding: finding).kind != .accepts
        }

        // Re-grade every HTTP finding for the chosen profile: fatal when it fails the exchange,
        // warning when another gateway would, lint when all accept it.
        var graded: [Finding] = []
        for var finding in http.findings {
            let p = phase(of: finding.code)
            let chosen = reaction(finding.code, phase: p, finding: finding).kind
            if chosen == .rejects || chosen == .passesAsHTTP09 {
                finding.severity = .fatal
            } else if rejectedByAny(finding, phase: p) || finding.severity != .lint {
                // Refused by another gateway, or a hazard whatever the gateways do (bytes that
                // answer no request can become the next request's response).
                finding.severity = .warning
            } else {
                finding.severity = .lint
            }
            if withHead.contains(http.findings[graded.count]) { withHead.insert(finding) }
            graded.append(finding)
        }
        let ordered = graded.enumerated().sorted { a, b in
            let x = a.element.evidence.first?.streamOffset ?? .max
            let y = b.element.evidence.first?.streamOffset ?? .max
            return x != y ? x < y : a.offset < b.offset
        }.map(\.element)

        let firstGap = http.uncheckedGaps.first
        func verdict(_ code: FindingCode, phase: Phase, summary: String, primary: Finding) -> Diagnosis {
            let judged = Gateways.verdict(
                code, context: ruleContext(code, phase: phase, finding: primary), profile: context.gateway, summary: summary)
            let rest = ordered.filter { $0 != primary } + tcpFindings
            return Diagnosis(verdict: judged, findings: [primary] + rest)
        }

        // 1. The first finding the chosen gateway fails the exchange on, unless a gap hid bytes before it.
        if let fatal = ordered.first(where: { $0.severity == .fatal }) {
            let offset = fatal.evidence.first?.streamOffset ?? 0
            if let gap = firstGap, gap.streamOffset < offset {
                return self.unknownGap(gap, findings: ordered + tcpFindings)
            }
            let p = phase(of: fatal.code)
            return verdict(fatal.code, phase: p, summary: summary(fatal), primary: fatal)
        }
        if let gap = firstGap {
            return self.unknownGap(gap, findings: ordered + tcpFindings)
        }
        // 1b. The upstream refused the gateway's PROXY header with its 400, which gateways relay.
        if let proxy = ordered.first(where: { $0.code == .protoProxyHeaderUnexpected }) {
            let answer = proxy.evidence.dropFirst().first?.frame.map { " (frame \($0))" } ?? ""
            let text = "The gateway sent a \(proxy.value ?? "PROXY") header to \(connection.server), which does not expect the PROXY "
                + "protocol: it read the header as a request line and answered 400\(answer); \(context.gateway.model.spokenName) "
                + "relays that 400 to the client."
            return verdict(proxy.code, phase: .responseHead, summary: text, primary: proxy)
        }

        // 2. How the upstream's stream ended, against what was outstanding. When the gateway let
        // through bytes that change framing (nginx before 1.23 reads a body with an invalid
        // Content-Length until close), the end is judged as the gateway framed it: a gateway
        // that closed after a silence waited for bytes that never came.
        let framingCause = ordered.first(where: { $0.severity == .warning && self.framingCodes.contains($0.code) })
        let clientEnd = [facts.client.fin, facts.client.rst].compactMap { $0 }.min { $0.frame < $1.frame }
        let serverClosedFirst = facts.server.fin.map { fin in clientEnd.map { fin.frame < $0.frame } ?? true } ?? false
        let ending = self.endOfStream(connection, http: http, context: context)
            ?? (framingCause == nil || clientEnd == nil || serverClosedFirst
                ? nil : self.clientGaveUp(connection, clientEnd: clientEnd, phase: .responseBody, context: context))
        if let ending {
            let primary = Finding(code: ending.code, severity: .fatal, evidence: [ending.evidence], value: ending.value)
            if ending.verdictClass == .unknown {
                return Diagnosis(
                    verdict: Verdict(code: ending.code, verdictClass: .unknown, phase: ending.phase, summary: ending.summary),
                    findings: [primary] + ordered + tcpFindings)
            }
            let failed = verdict(ending.code, phase: ending.phase, summary: ending.summary, primary: primary)
            // Bytes the gateway let through that changed the framing (an invalid Content-Length
            // read as "until close") are the cause; how the connection then ended is the effect.
            if failed.verdict.verdictClass != .ok,
               let cause = ordered.first(where: { $0.severity == .warning && self.framingCodes.contains($0.code) }) {
                var diagnosis = failed
                diagnosis.verdict.code = cause.code
                diagnosis.verdict.summary = Summaries.then(summary(cause), ending.summary)
                diagnosis.findings = [cause] + diagnosis.findings.filter { $0 != cause }
                return diagnosis
            }
            return failed
        }

        // 3. The upstream itself said 5xx: relayed, not made by the gateway.
        if let upstream = http.upstream5xx {
            let primary = Finding(code: .upstream5xx, severity: .warning, evidence: [upstream.evidence])
            return verdict(.upstream5xx, phase: .responseHead,
                           summary: "The upstream \(connection.server) itself answered \(upstream.status); the gateway relayed it.",
                           primary: primary)
        }

        // 4. Bytes some gateway would refuse, though the chosen one accepts them.
        if let warning = ordered.first(where: { $0.severity == .warning }) {
            let p = phase(of: warning.code)
            return verdict(warning.code, phase: p, summary: summary(warning), primary: warning)
        }
        return Diagnosis(verdict: .healthy, findings: ordered + tcpFindings)
    }

    private static func unknownGap(_ gap: Evidence, findings: [Finding]) -> Diagnosis {
        let code: FindingCode = gap.note.contains("snap length") ? .captureTruncated : .captureGap
        return Diagnosis(
            verdict: Verdict(code: code, verdictClass: .unknown, phase: gap.streamOffset == 0 ? .responseHead : .responseBody,
                summary: "The capture lacks \(Summaries.count(gap.length, "byte")) of the upstream's response at stream offset \(gap.streamOffset), so what \(gap.length == 1 ? "it" : "they") held cannot be checked."),
            findings: [Finding(code: code, severity: .warning, evidence: [gap])] + findings)
    }

    struct Ending {
        var code: FindingCode
        var phase: Phase
        var verdictClass: VerdictClass?
        var summary: String
        var evidence: Evidence
        /// For a close inside a body, its framing (`chunked`, `content-length`): what some
        /// gateways log depends on it (`RuleContext.value`).
        var value: String? = nil
    }

    /// The TCP codes made exact by knowing where the response stood.
    static func endOfStream(_ connection: Connection, http: HTTPView, context: TCPContext) -> Ending? {
        let facts = connection.facts
        let server = connection.server
        let serverEnd = self.earliest(facts.server.rst, facts.server.fin)
        let clientEnd = self.earliest(facts.client.rst, facts.client.fin)
        let serverFirst = serverEnd != nil && (clientEnd == nil || serverEnd!.frame < clientEnd!.frame)
        let byRST = serverEnd.map { facts.server.rst?.frame == $0.frame } ?? false
        let streamEnd = connection.serverStream.nextOffset
        func packet(_ direction: Direction, _ mark: PacketMark, _ offset: UInt64, _ note: String) -> Evidence {
            Evidence(direction: direction, streamOffset: offset, frame: mark.frame, frameOffset: nil, length: 0, note: note)
        }

        switch http.end.state {
        case .idle:
            guard let request = http.end.outstanding else { return nil }
            let what = "\(request.method) \(request.target)"
            if serverFirst, let serverEnd {
                let kind = byRST ? "RST" : "FIN"
                if http.end.responsesCompleted > 0 {
                    switch self.reuse(of: connection, request: request, serverEnd: serverEnd, byRST: byRST) {
                    case .race(let why):
                        // RFC 9112 §9.5: the upstream closed an idle keep-alive connection as the gateway reused it.
                        return Ending(code: .tcpKeepaliveRace, phase: .request, verdictClass: nil,
                            summary: "The upstream \(server) closed its idle keep-alive connection just as the gateway reused it for \(what): \(why).",
                            evidence: packet(.server, serverEnd, streamEnd, "\(kind) from the upstream crossing request frame \(request.frame)"))
                    case .abort(let why):
                        return Ending(code: byRST ? .tcpRSTBeforeResponse : .tcpFINBeforeResponse, phase: .responseHead, verdictClass: nil,
                            summary: "The upstream \(server) \(byRST ? "reset" : "closed") the reused connection after the gateway's \(what), without sending a response byte: \(why).",
                            evidence: packet(.server, serverEnd, streamEnd, "\(kind) from the upstream, no response to request frame \(request.frame)"))
                    }
                }
                return Ending(code: byRST ? .tcpRSTBeforeResponse : .tcpFINBeforeResponse, phase: .responseHead, verdictClass: nil,
                    summary: "The upstream \(server) \(byRST ? "reset" : "closed") the connection after the gateway's \(what), without sending a response byte.",
                    evidence: packet(.server, serverEnd, streamEnd, "\(kind) from the upstream, no response to request frame \(request.frame)"))
            }
            if let clientEnd {
                let waited = clientEnd.time.nanoseconds(since: request.time)
                if waited >= TCPDiagnosis.readTimeoutThreshold, http.isFastCGI, let late = facts.server.lastPayload,
                   late.frame > clientEnd.frame {
                    // The application answered after the gateway gave up: the request had waited
                    // in the listen queue for a worker (php-fpm's pm.max_children reached).
                    return Ending(code: .fcgiPoolExhausted, phase: .responseHead, verdictClass: nil,
                        summary: "The application \(server) sent nothing for \(TCPDiagnosis.seconds(waited)) after \(what); the gateway gave up and closed, and the answer came after it had closed (frame \(late.frame)): the request waited for a free worker (pm.max_children).",
                        evidence: packet(.client, clientEnd, connection.clientStream.nextOffset, "the gateway closes \(TCPDiagnosis.seconds(waited)) after request frame \(request.frame); the application's answer follows in frame \(late.frame)"))
                }
                if waited >= TCPDiagnosis.readTimeoutThreshold {
                    return Ending(code: .tcpReadTimeout, phase: .responseHead, verdictClass: nil,
                        summary: "The upstream \(server) sent nothing for \(TCPDiagnosis.seconds(waited)) after \(what); the gateway gave up and closed.",
                        evidence: packet(.client, clientEnd, connection.clientStream.nextOffset, "the gateway closes \(TCPDiagnosis.seconds(waited)) after request frame \(request.frame); no response byte came"))
                }
                return nil
            }
            return Ending(code: .captureTruncated, phase: .responseHead, verdictClass: .unknown,
                summary: "The capture ended \(TCPDiagnosis.seconds(context.captureEnd.nanoseconds(since: request.time))) after \(what), with no response byte yet.",
                evidence: Evidence(direction: .server, streamOffset: streamEnd, frame: nil, frameOffset: nil, length: 0, note: "capture ended"))
        case .midHead(let bytes):
            if serverFirst, let serverEnd {
                return Ending(code: byRST ? .tcpRSTBeforeResponse : .tcpFINMidHeaders, phase: .responseHead, verdictClass: nil,
                    summary: "The upstream \(server) \(byRST ? "reset" : "closed") the connection after \(Summaries.count(bytes, "byte")) of a response head, before its end.",
                    evidence: packet(.server, serverEnd, streamEnd, "\(byRST ? "RST" : "FIN") inside the response head; its empty line never came"))
            }
            return self.clientGaveUp(connection, clientEnd: clientEnd, phase: .responseHead, context: context)
        case .midBody(let framing, let received, let expected):
            if serverFirst, let serverEnd {
                if framing == .close && !byRST { return nil }
                let of = expected.map { " of \($0)" } ?? ""
                return Ending(code: byRST ? .tcpRSTMidBody : .tcpFINMidBody, phase: .responseBody, verdictClass: nil,
                    summary: "The upstream \(server) \(byRST ? "reset" : "closed") the connection \(received)\(of) \(received == 1 && expected == nil ? "byte" : "bytes") into \(Summaries.article(for: framing.rawValue)) \(framing.rawValue) body: the client got a cut response.",
                    evidence: packet(.server, serverEnd, streamEnd, "\(byRST ? "RST" : "FIN") with the body incomplete (\(received)\(of) bytes)"),
                    value: framing.rawValue)
            }
            return self.clientGaveUp(connection, clientEnd: clientEnd, phase: .responseBody, context: context)
        case .opaque, .desynced:
            return nil
        }
    }

    /// A connection idle for less than this before the gateway reused it was far from any
    /// keep-alive timeout: the shortest common defaults are 2 s (gunicorn) and 5 s (Node.js,
    /// Apache httpd, uvicorn), and nginx's is 75 s.
    static let shortestKeepAliveIdle: Int64 = 250_000_000

    /// How an upstream's close of a reused connection came about.
    enum Reuse {
        /// It decided to close before the request reached it (the keep-alive race).
        case race(String)
        /// It had the request, or had had no reason to time the connection out, and aborted.
        case abort(String)
    }

    /// Tells a keep-alive race from an upstream that read the request and aborted. A race means the
    /// upstream closed before the request reached it: its FIN or RST does not acknowledge the
    /// request's bytes, and the connection had been idle about as long as a keep-alive timeout.
    static func reuse(of connection: Connection, request: RequestInfo, serverEnd: PacketMark, byRST: Bool) -> Reuse {
        let facts = connection.facts
        let kind = byRST ? "RST" : "FIN"
        let acknowledged = byRST ? facts.server.rstAcknowledged : facts.server.finAcknowledged
        let idle = facts.server.lastPayload.map { request.time.nanoseconds(since: $0.time) }
        let idleFor = idle.map { TCPDiagnosis.seconds($0) }
        let idleText = idleFor.map { "the connection had been idle \($0)" }
        if let acknowledged, acknowledged > Int64(request.offset) {
            let covered = min(UInt64(acknowledged) - request.offset, connection.clientStream.nextOffset - request.offset)
            return .abort("its \(kind) acknowledged \(Summaries.count(covered, "byte")) of the request, so it had received the request"
                + (idleText.map { " (\($0))" } ?? ""))
        }
        if let idle, idle < self.shortestKeepAliveIdle {
            return .abort("\(idleText!), far less than any keep-alive timeout")
        }
        let allowance = max(facts.handshakeRTT ?? 0, 1_000_000)
        let gap = serverEnd.time.nanoseconds(since: request.time)
        guard serverEnd.time.nanoseconds <= request.time.nanoseconds &+ allowance else {
            return .abort("its \(kind) came \(TCPDiagnosis.seconds(gap)) after the request")
        }
        let crossing = acknowledged == nil
            ? "its \(kind) came \(TCPDiagnosis.seconds(gap)) after the request"
            : "its \(kind) did not acknowledge the request's bytes, so it left before they arrived"
        return .race(crossing + (idleFor.map { "; the connection had been idle \($0) before it" } ?? ""))
    }

    private static func clientGaveUp(_ connection: Connection, clientEnd: PacketMark?, phase: Phase, context: TCPContext) -> Ending? {
        let facts = connection.facts
        guard let last = facts.server.lastPayload else { return nil }
        guard let clientEnd else {
            return Ending(code: .captureTruncated, phase: phase, verdictClass: .unknown,
                summary: "The capture ended while the upstream \(connection.server) was still sending its response.",
                evidence: Evidence(direction: .server, streamOffset: connection.serverStream.nextOffset, frame: nil, frameOffset: nil, length: 0, note: "capture ended"))
        }
        let waited = clientEnd.time.nanoseconds(since: last.time)
        guard waited >= TCPDiagnosis.readTimeoutThreshold else { return nil }
        return Ending(code: .tcpReadTimeout, phase: phase, verdictClass: nil,
            summary: "The upstream \(connection.server) stalled for \(TCPDiagnosis.seconds(waited)) in the middle of its response; the gateway gave up and closed.",
            evidence: Evidence(direction: .client, streamOffset: connection.clientStream.nextOffset, frame: clientEnd.frame, frameOffset: nil, length: 0,
                note: "the gateway closes \(TCPDiagnosis.seconds(waited)) after the upstream's last byte (frame \(last.frame)); the rest of the response never came"))
    }

    private static func earliest(_ a: PacketMark?, _ b: PacketMark?) -> PacketMark? {
        switch (a, b) {
        case (nil, nil): return nil
        case (.some(let x), nil): return x
        case (nil, .some(let y)): return y
        case (.some(let x), .some(let y)): return x.frame <= y.frame ? x : y
        }
    }
}

/// One-sentence summaries a person on call understands.
///
/// A finding's evidence note is the object of "sent": a noun phrase ("a chunk size that does not
/// start with a hex digit (RFC 9112 §7.1)"), never a sentence of its own.
enum Summaries {
    /// "The upstream ADDR sent NOTE at byte N of its stream (frame F); OUTCOME." `refusedBy`: the
    /// other gateway models that do not let the bytes through.
    static func finding(
        _ finding: Finding, server: Endpoint, reaction: GatewayReaction, profile: GatewayProfile, refusedBy: [any GatewayModel]
    ) -> String {
        let evidence = finding.evidence.first
        let at = evidence.map { e in " at byte \(e.streamOffset) of its stream (frame \(e.frame.map(String.init) ?? "?"))" } ?? ""
        let gateway = profile.model.spokenName
        let outcome: String
        switch reaction.kind {
        case .rejects:
            outcome = reaction.status.map { "\(gateway) answers \($0)" } ?? "\(gateway) cuts the response it already started"
        case .accepts:
            let others = refusedBy.map(\.spokenName)
            switch others.count {
            case 0: outcome = "\(gateway) lets it through, as the other gateways do"
            case 1: outcome = "\(gateway) lets it through, but \(others[0]) does not"
            default: outcome = "\(gateway) lets it through, but \(others.dropLast().joined(separator: ", ")) and \(others.last!) do not"
            }
        case .passesAsHTTP09:
            outcome = "\(gateway) relays the bytes as an HTTP/0.9 body with status 200"
        case .retries:
            outcome = "\(gateway) retries on another connection"
        case .closesSilently:
            // On HTTP/2 the gateway ends the client's stream (HAProxy: RST_STREAM REFUSED_STREAM).
            outcome = evidence?.streamID == nil
                ? "\(gateway) closes the client connection without a status" : "\(gateway) resets the client's stream without a status"
        }
        let note = evidence?.note ?? "bytes that break rule \(finding.code.description)"
        return "The upstream \(server) sent \(note)\(at); \(outcome)."
    }

    /// A verdict that a framing cause led to: `cause`, then how the connection ended, as two sentences.
    static func then(_ cause: String, _ ending: String) -> String {
        guard ending.hasPrefix("The ") else { return cause + " Then: " + ending }
        return cause + " Then the " + ending.dropFirst(4)
    }

    /// "a" or "an" by the sound of `word` as read aloud: `an unknown_ca`, `a user_canceled`,
    /// `an 8548-byte`, `an 11-byte`, `a 100-byte`.
    static func article(for word: String) -> String {
        let lower = word.lowercased()
        guard let first = lower.first else { return "a" }
        if first.isNumber {
            let digits = lower.prefix { $0.isNumber }
            if first == "8" { return "an" }
            // eleven, eighteen; eleven thousand, eighteen thousand...
            if digits.hasPrefix("11") || digits.hasPrefix("18"), digits.count % 3 == 2 { return "an" }
            return "a"
        }
        if "aeio".contains(first) { return "an" }
        if first == "u" {
            // A "you" sound: user, usual, unique, union, utility.
            for prefix in ["use", "usu", "uni", "uti", "ubi", "ura", "uri"] where lower.hasPrefix(prefix) { return "a" }
            return "an"
        }
        return "a"
    }

    /// `1 byte`, `7 bytes`.
    static func count(_ number: some BinaryInteger, _ singular: String, _ plural: String? = nil) -> String {
        "\(number) \(number == 1 ? singular : plural ?? singular + "s")"
    }
}
