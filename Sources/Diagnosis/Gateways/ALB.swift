import CaptureModel

/// AWS Application Load Balancer in front of HTTP/1 targets (a documented model: no ALB runs here).
///
/// Every rule cites the Elastic Load Balancing documentation, "Troubleshoot your Application Load
/// Balancers" (HTTP 502, 503 and 504 sections) and "Target groups for your Application Load
/// Balancers" (health checks, idle timeout). The detail is the documented reason. The ALB does not
/// verify target certificates, so no certificate code fails it.
public struct ALBModel: GatewayModel {
    public init() {}

    public var key: StaticString { "alb" }
    public var spokenName: String { "the ALB" }
    public var title: String { "AWS Application Load Balancer (HTTP/1 targets, documented)" }
    public var releases: [String] { [] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 32 * 1024, readTimeout: 60, connectTimeout: 10,
        source: "AWS documentation: response headers up to 32 KB, idle timeout 60 s, target connection timeout 10 s")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "reason", label: "documented reason") }

    private static let malformed = GatewayReaction.rejects(502, "The target response is malformed or contains HTTP headers that are not valid")

    private static let closed = GatewayReaction.rejects(502, "The target closed the connection with a TCP RST or a TCP FIN while the load balancer had an outstanding request to the target",
        note: "usually a target keep-alive timeout shorter than the ALB's idle timeout (60 s by default)")

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI: An ALB has no FastCGI client, so no FastCGI hop is behind it.
        case .fcgiStderrFatal, .fcgiStderrWarning, .fcgiStatusInvalid, .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn,
             .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .fcgiPoolExhausted, .protoHTTPResponseToFCGI,
             .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return GatewayRuleKit.noFastCGI
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return .rejects(502, "The load balancer received a TCP RST from the target when attempting to establish a connection")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(502, "The load balancer received an ICMP unreachable from the path to the target when attempting to establish a connection")
        case .tcpConnectProhibited:
            return .rejects(502, "The target's firewall rejected the load balancer's connection attempt (an ICMP error, not a TCP RST)")
        case .tcpConnectTimeout:
            return .rejects(504, "The load balancer failed to establish a connection to the target before the connection timeout expired (10 seconds)")
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders, .tcpKeepaliveRace:
            return Self.closed
        case .tcpFINMidBody, .tcpRSTMidBody:
            return .rejects(nil, "The target returns a content-length header value that is larger than the entity body",
                note: "documented as 504 when the load balancer times out waiting for the missing bytes; once the head went out the client gets a cut body")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "The load balancer established a connection to the target but the target did not respond before the idle timeout period elapsed",
                    note: "inferred: the response had started, so the body is cut")
            }
            return .rejects(504, "The load balancer established a connection to the target but the target did not respond before the idle timeout period elapsed",
                note: "the idle timeout, 60 s by default")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(504, "The load balancer established a connection to the target but the target did not respond before the idle timeout period elapsed")

        case .protoTLSToPlainPort:
            return .rejects(502, "The load balancer encountered an SSL handshake error or SSL handshake timeout (10 seconds) when connecting to a target")
        case .protoPlainToTLSPort, .protoNonHTTPResponse, .protoServerSpeaksFirst, .protoH2ResponseToH1, .protoH2PrefaceToH1:
            return Self.malformed

        case .statusLineBadVersion, .statusLineBadCode, .lineBareCR, .headerNameCTLOrSpace, .headerNameNonToken, .headerEmptyName,
            .headerMissingColon, .headerValueNUL, .headerValueBareCR, .contentLengthInvalid, .contentLengthDuplicate,
            .transferEncodingWithContentLength, .transferEncodingNotChunked, .transferEncodingDuplicateOrEmpty:
            var reaction = Self.malformed
            reaction.note = "not verified: which deviations the ALB tolerates is not documented; this one breaks RFC 9112's grammar"
            return reaction
        case .headerObsFold, .headerValueCTL, .statusLineNoReasonSP, .lineBareLF, .headerDuplicateSingleValue,
            .chunkedWhitespaceAfterSize, .bodyExtraAfterMessage, .bodyOnBodyless:
            return .accepts(note: "not documented; assumed tolerated")
        case .headerTooLarge:
            let size = GatewayRuleKit.headSize(context.value)
            if let size, size <= Self.defaultLimits.headBytes! {
                return .accepts(note: "a \(size)-byte head is within the documented 32 KB")
            }
            return .rejects(502, "The target response header exceeded 32 KB for the entire response header")
        case .headerTooMany:
            return .accepts(note: "no field-count limit is documented; the 32 KB head limit applies")
        case .chunkedBadSize, .chunkedSizeOverflow, .chunkedBadExtension, .chunkedBareLF, .chunkedDataLengthMismatch, .chunkedBadTrailer:
            return .rejects(nil, "", note: "not documented: the response was started, so the client can only get a cut body")
        // The PROXY protocol (issue 20): the upstream's 400 to a header it took for a request line
        // reaches the client as any response does; an upstream that expected a header and got a
        // request closes as if it had crashed before answering.
        case .protoProxyHeaderUnexpected where context.phase == .tls:
            // The header before the gateway's ClientHello (`ssl send-proxy-v2`): the upstream's TLS
            // stack reads it as a record and the handshake fails, as for plain HTTP on a TLS port.
            return self.reaction(to: .protoTLSToPlainPort, context: context)
        case .protoProxyHeaderUnexpected:
            return GatewayRuleKit.proxyHeaderRelayed("")
        case .protoProxyHeaderMissing:
            return self.reaction(to: .tcpFINBeforeResponse, context: context)

        case .upstream5xx:
            return GatewayRuleKit.relayed(context, "")

        case .gatewayNoLiveUpstreams:
            return .rejects(503, "The target groups for the load balancer have no registered targets, or no healthy targets")

        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout, .dnsDrift:
            return GatewayRuleKit.noNameResolution

        case .tlsHandshakeTimeout, .tlsAlert, .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake,
            .tlsClientCertRequired, .tlsMalformed:
            return .rejects(502, "The load balancer encountered an SSL handshake error or SSL handshake timeout (10 seconds) when connecting to a target")
        case .tlsCertExpired, .tlsCertNotYetValid, .tlsCertUnknownCA, .tlsCertMissingIntermediate, .tlsCertSelfSigned,
            .tlsCertNameMismatch, .tlsCertRevoked, .tlsCertBadPurpose, .tlsCertInvalid, .tlsClosedAfterHandshake:
            return .accepts(note: "the ALB does not validate the target's certificate, so any certificate passes")
        case .tlsEarlyDataUnreadable:
            return .accepts(note: "a capture fact: the key log lacks the early-data secret")

        // HTTP/2 and gRPC: target groups with protocol version HTTP2 or gRPC (documented, not run).
        case .protoH1ResponseToH2, .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError, .h2SettingsBadStream, .h2StreamClosed, .h2PrefaceBad, .h2FrameSizeError, .h2PushPromiseUnexpected,
            .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase,
            .h2HeaderConnectionSpecific:
            return Self.malformed
        case .h2RSTStreamBeforeResponse, .h2Goaway:
            return .rejects(502, "The target sent a RST_STREAM or GOAWAY before the response", note: "not verified: the documentation's 502 for an HTTP/2 target that reset the stream")
        case .h2ContentLengthMismatch, .h2TrailersNoEndStream, .h2FlowControl:
            return .rejects(nil, "", note: "not documented: the response already started, so it is cut")
        case .tlsALPNNoH2:
            return .accepts(note: "HTTP2 and gRPC target groups negotiate h2 with ALPN; without it the target fails its health check (documented)")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }
}

extension GatewayModel where Self == ALBModel {
    /// AWS Application Load Balancer (`--gateway alb`).
    public static var alb: ALBModel { ALBModel() }
}
