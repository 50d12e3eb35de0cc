import CaptureModel
import TCPReassembly

/// The outcome of judging one connection: its root cause and the findings behind it.
public struct Diagnosis: Sendable {
    /// The root cause.
    public var verdict: Verdict
    /// Findings, the root cause's first, then the rest in the order they happened.
    public var findings: [Finding]

    /// A diagnosis from its parts.
    public init(verdict: Verdict, findings: [Finding]) {
        self.verdict = verdict
        self.findings = findings
    }
}

/// Packet-level evidence the TCP verdicts need beyond the connection's own packets.
public struct TCPContext: Sendable {
    /// When the capture ended (its last frame).
    public var captureEnd: Timestamp
    /// An ICMP destination-unreachable that quoted this connection's SYN, if one was seen.
    public var unreachable: PacketMark?
    /// Its ICMP code, and whether it was ICMPv6.
    public var unreachableCode: UInt8 = 0
    public var unreachableIsIPv6 = false
    /// Which gateway decides the class.
    public var gateway: GatewayProfile
    /// The first range of the upstream's bytes that the capture lacks, if any.
    public var serverGap: Evidence?

    /// A context from its parts.
    public init(captureEnd: Timestamp, unreachable: PacketMark? = nil, gateway: GatewayProfile = .default, serverGap: Evidence? = nil) {
        self.captureEnd = captureEnd
        self.unreachable = unreachable
        self.gateway = gateway
        self.serverGap = serverGap
    }
}

/// Verdicts that need only TCP: the connection was refused, timed out, or the upstream closed or
/// reset it before sending a byte (taxonomy 2.A).
public enum TCPDiagnosis {
    /// The kernel's initial retransmission timeout for a SYN (RFC 6298 §2.1, Linux's
    /// TCP_TIMEOUT_INIT): the first retransmission leaves 1 s after the SYN, and each later one
    /// after twice the previous wait (1 s, 3 s, 7 s, 15 s... after the first SYN).
    public static let initialSYNTimeout: Int64 = 1_000_000_000
    /// Slack on the expected retransmission time (timer granularity, a busy host).
    static let retransmissionSlack: Int64 = 500_000_000
    /// A gateway that closes after waiting at least this long for a first response byte is
    /// taken to have hit its read timeout.
    public static let readTimeoutThreshold: Int64 = 1_000_000_000

    /// Whether packets after the SYN prove the handshake completed though the capture lacks the
    /// SYN-ACK: the upstream sent data or a FIN (a port that is not listening answers only with a
    /// reset, RFC 9293 §3.5.2), or the gateway sent data after its SYN (it sends none before the
    /// SYN-ACK, except on the SYN itself with Fast Open).
    static func handshakeCompleted(_ facts: ConnectionFacts, syn: PacketMark) -> Bool {
        if facts.server.payloadBytesOnWire > 0 || facts.server.fin != nil { return true }
        guard let data = facts.client.lastPayload else { return false }
        return data.frame != syn.frame
    }

    /// What an ICMP destination unreachable answering a SYN means, and the errno Linux gives the
    /// gateway for it (net/ipv4/icmp.c icmp_err_convert, net/ipv6/icmp.c tab_unreach): a host or
    /// network unreachable is `tcp.connect.unreachable`; administratively prohibited, and port
    /// unreachable (a TCP port that is closed answers with a RST, so an ICMP one is a firewall's
    /// REJECT), are `tcp.connect.prohibited`.
    static func icmpKind(code: UInt8, isIPv6: Bool) -> (code: FindingCode, name: String, errno: String) {
        let unreachable = FindingCode.tcpConnectUnreachable
        let prohibited = FindingCode.tcpConnectProhibited
        if isIPv6 {
            switch code {
            case 0: return (unreachable, "no route to destination", "101: Network is unreachable")
            case 1: return (prohibited, "communication administratively prohibited", "13: Permission denied")
            case 3: return (unreachable, "address unreachable", "113: No route to host")
            case 4: return (prohibited, "port unreachable", "111: Connection refused")
            case 5, 6: return (prohibited, code == 5 ? "source address failed ingress/egress policy" : "reject route to destination", "13: Permission denied")
            default: return (unreachable, "destination unreachable (code \(code))", "113: No route to host")
            }
        }
        switch code {
        case 0, 6, 11: return (unreachable, "network unreachable", "101: Network is unreachable")
        case 1, 7, 12: return (unreachable, "host unreachable", "113: No route to host")
        case 3: return (prohibited, "port unreachable", "111: Connection refused")
        case 9, 10, 13: return (prohibited, "communication administratively prohibited", "113: No route to host")
        default: return (unreachable, "destination unreachable (code \(code))", "113: No route to host")
        }
    }

    /// What an ICMP time exceeded answering a SYN means: Linux ends the connect with
    /// EHOSTUNREACH (net/ipv4/icmp.c icmp_err_convert; tcp_v4_err fails a SYN_SENT socket on
    /// any ICMP error), so the gateway logs `(113: No route to host)`; a routing loop or a TTL
    /// too small for the path.
    static func timeExceededKind(isIPv6: Bool) -> (code: FindingCode, name: String, errno: String) {
        (.tcpConnectUnreachable, isIPv6 ? "time exceeded (hop limit)" : "time exceeded (TTL expired in transit)", "113: No route to host")
    }

    /// The finding that ties the ICMP fragmentation needed / packet too big messages to the
    /// connection whose segments they quoted.
    public static func pathMTUFinding(_ connection: Connection) -> Finding? {
        guard let messages = connection.pathMTU else { return nil }
        let whose = messages.direction == .client ? "the gateway's" : "the upstream's"
        let mtu = messages.nextHopMTU > 0 ? " (next-hop MTU \(messages.nextHopMTU))" : ""
        return Finding(
            code: .tcpICMPFragNeeded, severity: .warning,
            evidence: [self.packetEvidence(messages.direction, frame: messages.first.frame, offset: 0,
                note: "ICMP\(messages.isIPv6 ? "v6 packet too big" : " fragmentation needed")\(mtu) quoting \(whose) segment"
                    + (messages.count > 1 ? "; \(messages.count) such messages" : ""))],
            value: messages.nextHopMTU > 0 ? String(messages.nextHopMTU) : nil)
    }

    /// Whether `length` is a segment as long as a sender whose peer announced `mss` sends:
    /// the MSS, less the 12 bytes of the timestamp option (RFC 7323 §3) when it is on; a length
    /// of 1200 or more when the MSS is not known (the SYN was not captured).
    static func isFullSize(_ length: Int, mss: UInt16?) -> Bool {
        guard let mss, mss > 0 else { return length >= 1200 }
        return length + 12 >= Int(mss) && length <= Int(mss)
    }

    /// `tcp.mtu_blackhole` (RFC 2923 §2.1): a link on the path has a smaller MTU than the
    /// endpoints think, and the ICMP that would tell them (fragmentation needed, packet too big)
    /// is dropped or ignored, so every full-size segment is lost while small ones get through.
    /// - Request path (the gateway's segments): full-size segments sent again and again and
    ///   never acknowledged, while the upstream keeps acknowledging what did get through (the
    ///   small tail, out of order) or an ICMP fragmentation needed quoted them.
    /// - Response path (the upstream's segments): the gateway's capture holds only a small tail
    ///   after a hole of whole segments, and the gateway never acknowledged the hole (so the
    ///   capture did not merely miss those bytes: they never arrived).
    /// `nil` when neither shape is there.
    public static func mtuBlackhole(_ connection: Connection, context: TCPContext, method: String? = nil) -> Diagnosis? {
        let facts = connection.facts
        guard facts.synAck != nil || facts.opener == nil else { return nil }
        let server = connection.server
        let icmp = connection.pathMTU
        let client = connection.clientStream
        if client.fullSizeRetransmissions >= 2, let first = client.firstFullSizeRetransmission,
           self.isFullSize(Int(client.largestSegment), mss: facts.server.maximumSegmentSize),
           client.highestAcknowledged <= Int64(first.offset),
           client.duplicateAcknowledgments > 0 || icmp?.direction == .client
        {
            let acked = max(client.highestAcknowledged, 0)
            var evidence = [Evidence(
                direction: .client, streamOffset: first.offset, frame: first.frame, frameOffset: nil, length: UInt64(client.largestSegment),
                note: "a full-size segment (\(client.largestSegment) bytes) sent again; \(client.fullSizeRetransmissions) full-size retransmissions, none acknowledged (the upstream acknowledged up to offset \(acked))")]
            var through = "the upstream kept acknowledging only what got through (\(Summaries.count(client.duplicateAcknowledgments, "duplicate ACK")))"
            if let icmp, icmp.direction == .client {
                evidence.append(self.pathMTUFinding(connection)!.evidence[0])
                let mtu = icmp.nextHopMTU > 0 ? " naming a next-hop MTU of \(icmp.nextHopMTU)" : ""
                through = "an ICMP \(icmp.isIPv6 ? "packet too big" : "fragmentation needed")\(mtu) (frame \(icmp.first.frame)) quoted them, "
                    + "yet the gateway's kernel kept sending full-size segments (the ICMP was dropped before it reached the gateway's socket)"
            }
            if let end = self.earliest(facts.client.fin, facts.client.rst) {
                evidence.append(self.packetEvidence(.client, frame: end.frame, offset: client.nextOffset,
                    note: "the gateway gives up \(self.seconds(end.time.nanoseconds(since: facts.client.firstPayload?.time ?? end.time))) after its first request byte"))
            }
            let summary = "The gateway's full-size segments to \(server) never arrived: \(client.fullSizeRetransmissions) retransmissions of "
                + "\(client.largestSegment)-byte segments went unacknowledged while \(through): a path-MTU black hole on the way to the "
                + "upstream (a link with a smaller MTU, and path-MTU discovery not working). The upstream never had the whole request, so the gateway timed out."
            return self.blackhole(phase: .responseHead, method: method, context: context, summary: summary, evidence: evidence, connection: connection)
        }
        if let gap = context.serverGap, gap.frame == nil, gap.length > 0 {
            let stream = connection.serverStream
            let gapEnd = gap.streamOffset + gap.length
            let tail = stream.nextOffset > gapEnd ? Int(stream.nextOffset - gapEnd) : 0
            let mss = facts.client.maximumSegmentSize
            let segment = [0, 12].map { Int(mss ?? 0) - $0 }.first { $0 > 0 && gap.length % UInt64($0) == 0 }
            let whole = mss == nil ? gap.length >= 1200 && gap.length >= 2 * UInt64(tail) : segment != nil
            if stream.highestAcknowledged <= Int64(gap.streamOffset), tail > 0, whole, tail < (segment ?? Int(gap.length)) {
                let count = segment.map { " (\(Summaries.count(Int(gap.length) / $0, "segment")) of \($0))" } ?? ""
                var evidence: [Evidence] = []
                if let last = facts.server.lastPayload {
                    evidence.append(Evidence(
                        direction: .server, streamOffset: gapEnd, frame: last.frame, frameOffset: nil, length: UInt64(tail),
                        note: "the small tail (\(Summaries.count(tail, "byte"))) arrived after the hole: the gateway acknowledged it out of order"))
                }
                evidence.append(Evidence(
                    direction: .server, streamOffset: gap.streamOffset, frame: nil, frameOffset: nil, length: gap.length,
                    note: "\(Summaries.count(gap.length, "byte"))\(count) of the upstream's never arrived; the gateway acknowledged only up to offset \(max(stream.highestAcknowledged, 0))"))
                if let icmp, icmp.direction == .server, let finding = self.pathMTUFinding(connection) { evidence.append(finding.evidence[0]) }
                let summary = "Only the last \(Summaries.count(tail, "byte")) of the upstream's answer reached the gateway: the \(Summaries.count(gap.length, "byte")) before them\(count) "
                    + "never arrived and the gateway never acknowledged them, though it acknowledged the small tail out of order. "
                    + "Full-size segments from \(server) are lost on the way while small ones get through: a path-MTU black hole on the response path "
                    + "(a link with a smaller MTU, and the upstream not told: its ICMP fragmentation needed is dropped). The gateway timed out."
                return self.blackhole(phase: gap.streamOffset == 0 ? .responseHead : .responseBody, method: method, context: context,
                    summary: summary, evidence: evidence, connection: connection)
            }
        }
        return nil
    }

    private static func blackhole(
        phase: Phase, method: String?, context: TCPContext, summary: String, evidence: [Evidence], connection: Connection
    ) -> Diagnosis {
        let verdict = Gateways.verdict(.tcpMTUBlackhole, context: RuleContext(phase: phase, method: method), profile: context.gateway, summary: summary)
        return Diagnosis(verdict: verdict, findings: [Finding(code: .tcpMTUBlackhole, severity: .fatal, evidence: evidence)] + connection.allFindings)
    }

    /// Judges `connection` from its TCP facts alone.
    public static func diagnose(_ connection: Connection, context: TCPContext) -> Diagnosis {
        let facts = connection.facts
        let other = connection.allFindings
        let serverSent = facts.server.payloadBytesOnWire > 0 || connection.serverStream.nextOffset > 0
        let clientSent = facts.client.payloadBytesOnWire > 0

        // Connect phase: the client's SYN was never answered with a SYN-ACK, and nothing after
        // it says the handshake completed anyway (a capture can lose the SYN-ACK).
        if facts.opener == .client, facts.synAck == nil, let syn = facts.syn, !self.handshakeCompleted(facts, syn: syn) {
            if let rst = facts.server.rst {
                return self.make(.tcpConnectRefused, phase: .connect, context: context,
                    summary: "The upstream \(connection.server) refused the connection: its reset answered the gateway's SYN.",
                    evidence: [self.packetEvidence(.server, frame: rst.frame, offset: 0,
                        note: "RST answering the SYN of frame \(syn.frame)")], other: other)
            }
            if let icmp = context.unreachable {
                let kind = connection.unreachableKind == .timeExceeded
                    ? Self.timeExceededKind(isIPv6: context.unreachableIsIPv6)
                    : Self.icmpKind(code: context.unreachableCode, isIPv6: context.unreachableIsIPv6)
                let summary = kind.code == .tcpConnectProhibited
                    ? "A firewall rejected the gateway's SYN to \(connection.server) with an ICMP \(kind.name) (frame \(icmp.frame)): "
                        + "the gateway reads it as (\(kind.errno)), but a closed port answers with a TCP RST: a firewall rule (nftables or iptables, REJECT) on the way or on the upstream's host refused it."
                    : "The upstream \(connection.server) could not be reached: an ICMP \(kind.name) (frame \(icmp.frame)) answered the gateway's SYN; the gateway reads it as (\(kind.errno))."
                return self.make(kind.code, phase: .connect, context: context, summary: summary,
                    evidence: [self.packetEvidence(.server, frame: icmp.frame, offset: 0,
                        note: "ICMP\(context.unreachableIsIPv6 ? "v6" : "") \(kind.name) quoting the SYN of frame \(syn.frame)")], other: other,
                    value: kind.errno)
            }
            let waited = context.captureEnd.nanoseconds(since: syn.time)
            // When the next retransmission was due: the gateway's kernel would have sent it had
            // the gateway still been waiting. The capture going on past that in silence means the
            // gateway gave up first (its connect timeout was shorter).
            let lastSYN = facts.last.time
            let retransmissionDue = self.initialSYNTimeout << Int64(min(max(facts.synCount - 1, 0), 6))
            let silence = context.captureEnd.nanoseconds(since: lastSYN)
            let abandoned = silence >= retransmissionDue + self.retransmissionSlack
            if facts.synCount > 1 || abandoned {
                let sent = facts.synCount == 1
                    ? "the gateway's SYN"
                    : "the gateway's SYN (\(facts.synCount) sent over \(self.seconds(lastSYN.nanoseconds(since: syn.time))))"
                let after = abandoned
                    ? "; no retransmission followed in the \(self.seconds(silence)) the capture goes on, though the kernel would have sent one after \(self.seconds(retransmissionDue)), so the gateway's connect timeout ended the attempt first"
                    : ""
                return self.make(.tcpConnectTimeout, phase: .connect, context: context,
                    summary: "The upstream \(connection.server) never answered \(sent)\(after).",
                    evidence: [self.packetEvidence(.client, frame: syn.frame, offset: 0,
                        note: (facts.synCount == 1 ? "unanswered SYN" : "first of \(facts.synCount) unanswered SYNs")
                            + (abandoned ? "; then \(self.seconds(silence)) without a retransmission" : ""))], other: other)
            }
            return Diagnosis(
                verdict: Verdict(code: .captureTruncated, verdictClass: .unknown, phase: .connect,
                    summary: "The capture ended \(self.seconds(waited)) after the gateway's SYN, before the connection attempt could succeed or time out."),
                findings: other)
        }

        if let blackhole = self.mtuBlackhole(connection, context: context) { return blackhole }

        // Bytes of the upstream that the capture lacks: whatever they held cannot be judged, and
        // a verdict that depends on them would be invented.
        if let gap = context.serverGap {
            return Diagnosis(
                verdict: Verdict(code: .captureGap, verdictClass: .unknown, phase: serverSent && gap.streamOffset > 0 ? .responseBody : .responseHead,
                    summary: "The capture lacks \(Summaries.count(gap.length, "byte")) the upstream sent at stream offset \(gap.streamOffset), so its response cannot be checked."),
                findings: [Finding(code: .captureGap, severity: .warning, evidence: [gap])] + other)
        }

        // After the handshake: the upstream closed or reset before its first response byte.
        if !serverSent {
            let serverEnd = self.earliest(facts.server.rst, facts.server.fin)
            let clientEnd = self.earliest(facts.client.rst, facts.client.fin)
            if let serverEnd, clientEnd == nil || serverEnd.frame < clientEnd!.frame {
                let byRST = facts.server.rst?.frame == serverEnd.frame
                let phase: Phase = clientSent ? .responseHead : .request
                let what = clientSent ? "after the gateway's request" : "before the gateway sent its request"
                if byRST {
                    return self.make(.tcpRSTBeforeResponse, phase: phase, context: context,
                        summary: "The upstream \(connection.server) reset the connection \(what), without sending a response byte.",
                        evidence: [self.packetEvidence(.server, frame: serverEnd.frame, offset: 0,
                            note: "RST from the upstream with no response byte sent")], other: other)
                }
                return self.make(.tcpFINBeforeResponse, phase: phase, context: context,
                    summary: "The upstream \(connection.server) closed the connection \(what), without sending a response byte.",
                    evidence: [self.packetEvidence(.server, frame: serverEnd.frame, offset: 0,
                        note: "FIN from the upstream with no response byte sent")], other: other)
            }
            if clientSent, let clientEnd, let request = facts.client.lastPayload {
                let waited = clientEnd.time.nanoseconds(since: request.time)
                if waited >= self.readTimeoutThreshold {
                    return self.make(.tcpReadTimeout, phase: .responseHead, context: context,
                        summary: "The upstream \(connection.server) sent nothing for \(self.seconds(waited)) after the request; the gateway gave up and closed.",
                        evidence: [self.packetEvidence(.client, frame: clientEnd.frame, offset: connection.clientStream.nextOffset,
                            note: "the gateway closes \(self.seconds(waited)) after its last request byte (frame \(request.frame)); no response byte came")],
                        other: other)
                }
            }
            if clientSent, clientEnd == nil, serverEnd == nil, let request = facts.client.lastPayload {
                let waited = context.captureEnd.nanoseconds(since: request.time)
                return Diagnosis(
                    verdict: Verdict(code: .captureTruncated, verdictClass: .unknown, phase: .responseHead,
                        summary: "The capture ended \(self.seconds(waited)) after the request, with no response byte yet."),
                    findings: other)
            }
        }
        return Diagnosis(verdict: .healthy, findings: other)
    }

    // MARK: Helpers

    private static func make(
        _ code: FindingCode, phase: Phase, context: TCPContext, summary: String, evidence: [Evidence], other: [Finding],
        value: String? = nil
    ) -> Diagnosis {
        let verdict = Gateways.verdict(code, context: RuleContext(phase: phase, value: value), profile: context.gateway, summary: summary)
        return Diagnosis(verdict: verdict, findings: [Finding(code: code, severity: .fatal, evidence: evidence, value: value)] + other)
    }

    private static func packetEvidence(_ direction: Direction, frame: FrameNumber, offset: UInt64, note: String) -> Evidence {
        Evidence(direction: direction, streamOffset: offset, frame: frame, frameOffset: nil, length: 0, note: note)
    }

    static func earliest(_ a: PacketMark?, _ b: PacketMark?) -> PacketMark? {
        switch (a, b) {
        case (nil, nil): return nil
        case (.some(let x), nil): return x
        case (nil, .some(let y)): return y
        case (.some(let x), .some(let y)): return x.frame <= y.frame ? x : y
        }
    }

    /// `1.25 s`, `340 ms`, `12 µs`.
    public static func seconds(_ nanoseconds: Int64) -> String {
        let value = Double(nanoseconds)
        if abs(value) >= 1e9 { return "\(self.rounded(value / 1e9)) s" }
        if abs(value) >= 1e6 { return "\(self.rounded(value / 1e6)) ms" }
        return "\(self.rounded(value / 1e3)) µs"
    }

    private static func rounded(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
    }
}
