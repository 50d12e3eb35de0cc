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
                let kind = Self.icmpKind(code: context.unreachableCode, isIPv6: context.unreachableIsIPv6)
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

    private static func earliest(_ a: PacketMark?, _ b: PacketMark?) -> PacketMark? {
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
