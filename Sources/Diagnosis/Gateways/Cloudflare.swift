import CaptureModel

/// Cloudflare's proxy in front of an origin (a documented model: no Cloudflare edge runs here).
///
/// Every rule cites Cloudflare's "Troubleshooting Cloudflare 5XX errors" documentation
/// (developers.cloudflare.com/support/troubleshooting/cloudflare-errors/troubleshooting-cloudflare-5xx-errors/):
/// Cloudflare answers its own 52x codes for origin failures. The detail is that status with its
/// documented name. How Cloudflare treats each HTTP/1 framing deviation is not documented beyond
/// "an empty, unknown or invalid response" (520), so those cells say so in their note.
public struct CloudflareModel: GatewayModel {
    public init() {}

    public var key: StaticString { "cloudflare" }
    public var spokenName: String { "Cloudflare" }
    public var title: String { "Cloudflare (proxied origin, documented)" }
    public var releases: [String] { [] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 128 * 1024, readTimeout: 120, connectTimeout: 19,
        source: "Cloudflare documentation: response headers up to 128 KB, proxy read timeout 120 s (520/524), no SYN-ACK within 19 s (522)")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "error", label: "Cloudflare error") }

    /// 522 and 524 are timeouts (the 504 class); 503 is Load Balancing's; every other 52x is a
    /// 502-class error.
    public func errorClass(forStatus status: Int) -> VerdictClass {
        switch status {
        case 522, 524: return .gatewayTimeout
        case 503: return .serviceUnavailable
        case 500: return .internalError
        default: return .badGateway
        }
    }

    /// 520: "Web server returns an unknown error".
    private static func unknownError(_ note: String) -> GatewayReaction {
        .rejects(520, "520 Web server returns an unknown error", note: note)
    }

    /// A deviation Cloudflare's documentation does not name: an invalid response is a 520.
    private static let undocumented = Self.unknownError(
        "not verified: the documentation gives 520 for an invalid response and does not say which deviations the edge tolerates")

    private static let handshakeFailed = GatewayReaction.rejects(525, "525 SSL handshake failed",
        note: "the origin and Cloudflare could not negotiate a TLS handshake (SSL mode Full or Full (strict))")

    private static let invalidCertificate = GatewayReaction.rejects(526, "526 Invalid SSL certificate",
        note: "SSL mode Full (strict) only: expired, untrusted, wrong name or revoked; in Full mode any certificate passes")

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI: Cloudflare has no FastCGI client, so no FastCGI hop is behind it.
        case .fcgiStderrFatal, .fcgiStderrWarning, .fcgiStatusInvalid, .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn,
             .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .fcgiPoolExhausted, .protoHTTPResponseToFCGI,
             .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return GatewayRuleKit.noFastCGI
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return .rejects(521, "521 Web server is down", note: "the origin refused the connection (a RST to the SYN)")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(523, "523 Origin is unreachable", note: "an ICMP host or network unreachable answered the connection attempt")
        case .tcpConnectProhibited:
            return .rejects(521, "521 Web server is down", note: "the origin's firewall rejected the connection (an ICMP error where a closed port sends a RST)")
        case .tcpConnectTimeout:
            return .rejects(522, "522 Connection timed out", note: "no SYN-ACK within 19 s (after retransmissions)")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(522, "522 Connection timed out", note: "the origin did not acknowledge the request within 90 s")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "524 A timeout occurred", note: "inferred: the proxy read timeout ends a started response")
            }
            return .rejects(524, "524 A timeout occurred", note: "no response within the proxy read timeout, 120 s by default (Enterprise can change it)")
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders, .tcpKeepaliveRace:
            return Self.unknownError("the origin reset or closed the connection before a complete response head (\"connection reset\", \"empty response\")")
        case .tcpFINMidBody, .tcpRSTMidBody:
            return .rejects(nil, "", note: "the response was started; the client gets a cut body (not documented)")

        case .protoTLSToPlainPort:
            return Self.handshakeFailed
        case .protoPlainToTLSPort, .protoNonHTTPResponse, .protoServerSpeaksFirst:
            return Self.unknownError("an unknown or invalid response (not HTTP)")
        case .protoH2ResponseToH1, .protoH2PrefaceToH1:
            return Self.unknownError("the origin negotiated HTTP/2 by ALPN but does not speak it, or answered HTTP/1 with HTTP/2")

        case .statusLineBadVersion, .statusLineBadCode, .lineBareCR:
            return Self.unknownError("an invalid status line")
        case .statusLineNoReasonSP, .lineBareLF, .headerValueCTL, .headerDuplicateSingleValue, .chunkedWhitespaceAfterSize,
            .bodyExtraAfterMessage, .bodyOnBodyless:
            return .accepts(note: "not documented; assumed tolerated, as most proxies do")
        case .headerNameCTLOrSpace, .headerNameNonToken, .headerEmptyName, .headerMissingColon, .headerValueNUL, .headerValueBareCR,
            .headerObsFold, .contentLengthInvalid, .contentLengthDuplicate, .transferEncodingWithContentLength,
            .transferEncodingNotChunked, .transferEncodingDuplicateOrEmpty:
            return Self.undocumented
        case .headerTooLarge:
            let size = GatewayRuleKit.headSize(context.value)
            if let size, size <= Self.defaultLimits.headBytes! {
                return .accepts(note: "a \(size)-byte head is within the documented 128 KB")
            }
            return Self.unknownError("response headers over 128 KB")
        case .headerTooMany:
            return .accepts(note: "no field-count limit is documented; the 128 KB head limit applies")
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
            return .rejects(503, "", note: "with Load Balancing, when every origin pool is unhealthy (not a 52x)")

        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout:
            return .rejects(530, "Error 1016: Origin DNS error", note: "the origin is a CNAME whose name Cloudflare cannot resolve (not verified)")
        case .dnsDrift:
            return .rejects(521, "521 Web server is down", note: "the origin's DNS record now points at an address that refuses the connection (522 when it does not answer) (not verified)")

        case .tlsHandshakeTimeout, .tlsAlert, .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake,
            .tlsClientCertRequired, .tlsMalformed:
            return Self.handshakeFailed
        case .tlsEarlyDataUnreadable:
            return .accepts(note: "a capture fact: the key log lacks the early-data secret")
        case .tlsCertExpired, .tlsCertNotYetValid, .tlsCertUnknownCA, .tlsCertMissingIntermediate, .tlsCertSelfSigned,
            .tlsCertNameMismatch, .tlsCertRevoked, .tlsCertBadPurpose, .tlsCertInvalid, .tlsClosedAfterHandshake:
            return Self.invalidCertificate

        // HTTP/2 and gRPC: Cloudflare's HTTP/2-to-origin and gRPC (documented, not run).
        case .protoH1ResponseToH2, .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError, .h2SettingsBadStream, .h2StreamClosed, .h2PrefaceBad, .h2FrameSizeError, .h2PushPromiseUnexpected,
            .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase,
            .h2HeaderConnectionSpecific, .h2RSTStreamBeforeResponse, .h2Goaway:
            return .rejects(502, "502 Bad Gateway", note: "not documented per HTTP/2 fault: an origin response Cloudflare cannot read is a 502")
        case .h2ContentLengthMismatch, .h2TrailersNoEndStream, .h2FlowControl:
            return .rejects(nil, "", note: "not documented: the response already started, so it is cut")
        case .tlsALPNNoH2:
            return .accepts(note: "Cloudflare falls back to HTTP/1.1 when the origin does not select h2 (documented for HTTP/2 to origin)")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }
}

extension GatewayModel where Self == CloudflareModel {
    /// Cloudflare (`--gateway cloudflare`).
    public static var cloudflare: CloudflareModel { CloudflareModel() }
}
