import CaptureModel

/// Envoy's router in front of HTTP/1.x clusters (taxonomy: E-RT, E-SI, E-HU, E-BP), without a
/// retry policy. The detail is the response flag (`UPE`, `UC`, `UF`, `UT`, `UH`); the note names
/// the response code details Envoy logs (`%RESPONSE_CODE_DETAILS%`). With a retry policy that
/// retries the failure, `URX` joins the flag when the retries run out.
public struct EnvoyModel: GatewayModel {
    public init() {}

    public var key: StaticString { "envoy" }
    public var spokenName: String { "envoy" }
    public var title: String { "Envoy (router, HTTP/1 cluster)" }
    /// Envoy 1.16 (2020) to 1.36; the rules read are the router as indexed (recent releases).
    public var releases: [String] { (16...36).map { "1.\($0)" } }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 60 * 1024, fieldCount: 100, readTimeout: 15, connectTimeout: 5,
        source: "Envoy documentation: max_response_headers_kb 60, max_headers_count 100, the route timeout 15 s, the cluster connect_timeout 5 s")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var changes: [GatewayRuleChange] { Self.releaseChanges }
    public var detail: GatewayDetail { GatewayDetail(key: "flag", label: "response flag") }
    public var isAlwaysReported: Bool { true }

    /// Envoy 1.18.0 made an upstream protocol error a 502 with flag UPE; before, the client got
    /// 503 and the flag UC. Every code the newest rules answer with 502 UPE changed then.
    static let releaseChanges: [GatewayRuleChange] = RootCause.allCases.compactMap { cause in
        guard cause.familyPrefix == nil else { return nil }
        let code = FindingCode(cause)
        let newest = EnvoyModel().reaction(to: code, context: RuleContext(phase: cause.defaultPhase))
        guard newest.kind == .rejects, newest.status == 502, newest.detail == "UPE" else { return nil }
        return GatewayRuleChange(
            family: "envoy", code: code, since: "1.18.0",
            before: .rejects(503, "UC", note: "before 1.18.0 an upstream protocol error was a 503 with flag UC (changed in 1.18.0)"),
            source: "Envoy 1.18.0 release notes (April 2021), incompatible behaviour changes: \"when a protocol error is detected in response from upstream, Envoy sends 502 BadGateway downstream and access log entry contains UPE flag\", revertible with envoy.reloadable_features.return_502_for_upstream_protocol_errors until that flag was removed (1.20 release notes)",
            verified: true)
    }

    private static let protocolError = GatewayReaction(
        kind: .rejects, status: 502, detail: "UPE", note: "upstream_reset_before_response_started{protocol_error}: the HTTP/1 codec's protocol error")
    private static let lateProtocolError = GatewayReaction(
        kind: .rejects, status: nil, detail: "UPE", note: "upstream_reset_after_response_started{protocol_error}")

    private static func unverified(_ reaction: GatewayReaction, _ what: String = "not verified") -> GatewayReaction {
        var reaction = reaction
        reaction.note = what
        return reaction
    }

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI: Envoy has no FastCGI client, so no FastCGI hop is behind it.
        case .fcgiStderrFatal, .fcgiStderrWarning, .fcgiStatusInvalid, .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn,
             .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .fcgiPoolExhausted, .protoHTTPResponseToFCGI,
             .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return GatewayRuleKit.noFastCGI
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return .rejects(503, "UF", note: "upstream_reset_before_response_started{remote_connection_failure} (older builds: connection_failure); UF,URX when retries run out")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(503, "UF", note: "upstream_reset_before_response_started{remote_connection_failure}: the connect failed with EHOSTUNREACH")
        case .tcpConnectProhibited:
            return .rejects(503, "UF", note: "upstream_reset_before_response_started{remote_connection_failure}: ECONNREFUSED or EHOSTUNREACH from the firewall's ICMP")
        case .tcpConnectTimeout:
            return .rejects(503, "UF", note: "upstream_reset_before_response_started{connection_timeout}")
        case .tcpRSTBeforeResponse, .tcpFINMidHeaders:
            return .rejects(503, "UC", note: "upstream_reset_before_response_started{connection_termination}")
        case .tcpFINBeforeResponse:
            return .rejects(503, "UC", note: "upstream_reset_before_response_started{connection_termination} (a premature half-close detected as such maps to LR)")
        case .tcpFINMidBody, .tcpRSTMidBody:
            return .rejects(nil, "UC", note: "upstream_reset_after_response_started{connection_termination}")
        case .tcpKeepaliveRace:
            return .rejects(503, "UC", note: "unless the retry policy retries resets or connect failures")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "UT", note: "inferred: the route timeout resets a started response")
            }
            return .rejects(504, "UT", note: "upstream_response_timeout (route timeout, 15 s by default) or upstream_per_try_timeout")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(504, "UT")

        case .protoTLSToPlainPort:
            return .rejects(503, "UF", note: "transport failure reason TLS_error:…WRONG_VERSION_NUMBER")
        case .protoPlainToTLSPort, .protoH2ResponseToH1, .protoNonHTTPResponse:
            return Self.protocolError
        case .protoH2PrefaceToH1:
            return Self.unverified(Self.protocolError, "not verified: an HTTP/2 codec error, UPE or UC")
        case .protoServerSpeaksFirst:
            return .rejects(503, "UF", note: "not verified: the early bytes break the TLS handshake")

        case .statusLineBadVersion, .statusLineBadCode, .lineBareCR:
            return Self.protocolError
        case .statusLineNoReasonSP:
            return .accepts()
        case .lineBareLF:
            return .accepts(note: "not verified (Balsa)")

        case .headerNameCTLOrSpace:
            return Self.unverified(Self.protocolError, "http1.invalid_characters")
        case .headerNameNonToken, .headerObsFold:
            return Self.unverified(Self.protocolError)
        case .headerEmptyName, .headerMissingColon, .headerValueNUL, .headerValueBareCR:
            return Self.protocolError
        case .headerValueCTL:
            return Self.unverified(Self.protocolError, "Balsa: header value contains invalid chars (the exact byte set was not read)")
        case .headerTooLarge:
            // Envoy's max_request_headers_kb default is 60 KiB (documented; not read in source here).
            if let size = GatewayRuleKit.headSize(context.value), size <= Self.defaultLimits.headBytes! {
                return .accepts(note: "a \(size)-byte head fits Envoy's default 60 KiB header limit (not verified)")
            }
            return Self.unverified(Self.protocolError, "http1.headers_too_large")
        case .headerTooMany:
            if let count = context.value.flatMap({ Int($0) }), count <= Self.defaultLimits.fieldCount! {
                return .accepts(note: "\(count) fields are within max_headers_count (100)")
            }
            return Self.unverified(Self.protocolError, "http1.too_many_headers")
        case .headerDuplicateSingleValue:
            return .accepts()

        case .contentLengthInvalid:
            return Self.protocolError
        case .contentLengthDuplicate, .transferEncodingNotChunked, .transferEncodingDuplicateOrEmpty:
            return Self.unverified(Self.protocolError)
        case .transferEncodingWithContentLength:
            return Self.unverified(Self.protocolError, "not verified: http1.content_length_and_chunked_not_allowed is documented for requests")
        case .chunkedBadSize, .chunkedSizeOverflow, .chunkedDataLengthMismatch:
            return Self.lateProtocolError
        case .chunkedBadExtension, .chunkedBareLF, .chunkedBadTrailer:
            return Self.unverified(Self.lateProtocolError, "not verified: upstream_reset_after_response_started{protocol_error} assumed")
        case .chunkedWhitespaceAfterSize, .bodyExtraAfterMessage, .bodyOnBodyless:
            return .accepts(note: "not verified")
        // The PROXY protocol (issue 20): the upstream's 400 to a header it took for a request line
        // reaches the client as any response does; an upstream that expected a header and got a
        // request closes as if it had crashed before answering.
        case .protoProxyHeaderUnexpected where context.phase == .tls:
            // The header before the gateway's ClientHello (`ssl send-proxy-v2`): the upstream's TLS
            // stack reads it as a record and the handshake fails, as for plain HTTP on a TLS port.
            return self.reaction(to: .protoTLSToPlainPort, context: context)
        case .protoProxyHeaderUnexpected:
            return GatewayRuleKit.proxyHeaderRelayed("via_upstream")
        case .protoProxyHeaderMissing:
            return self.reaction(to: .tcpFINBeforeResponse, context: context)

        case .upstream5xx:
            return GatewayRuleKit.relayed(context, "via_upstream")

        // TLS (taxonomy 2.F)
        case .tlsHandshakeTimeout:
            return .rejects(503, "UF", note: "reset reason connection timeout")
        case .tlsCertExpired, .tlsCertNotYetValid, .tlsCertUnknownCA, .tlsCertMissingIntermediate, .tlsCertSelfSigned, .tlsCertNameMismatch, .tlsCertRevoked, .tlsCertBadPurpose, .tlsCertInvalid, .tlsClosedAfterHandshake:
            return .rejects(503, "UF", note: "transport failure reason TLS_error:…CERTIFICATE_VERIFY_FAILED (with the OpenSSL reason since 1.37)")
        case .tlsAlert, .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake, .tlsClientCertRequired,
            .tlsEarlyDataUnreadable, .tlsMalformed:
            return .rejects(503, "UF", note: "transport failure reason TLS_error:…")

        case .gatewayNoLiveUpstreams:
            return .rejects(503, "UH", note: "no_healthy_upstream: outlier detection or health checks ejected every host")

        // DNS: the dynamic forward proxy resolves per request; a STRICT_DNS or LOGICAL_DNS
        // cluster keeps its last hosts while resolution fails.
        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout:
            return Self.unverified(.rejects(503, "DF", note: "dns_resolution_failure (dynamic forward proxy); a STRICT_DNS cluster whose name never resolved has no hosts: 503 UH"))
        case .dnsDrift:
            return Self.unverified(.rejects(503, "UF", note: "a STRICT_DNS cluster replaces its hosts with the new answer and the connections to the new address fail"))

        // HTTP/2 and gRPC: an HTTP/2 cluster (http2_protocol_options), oghttp2/nghttp2 codec.
        case .protoH1ResponseToH2:
            return Self.unverified(Self.protocolError, "not verified: the HTTP/2 codec's frame-size error (http2.codec_error)")
        case .tlsALPNNoH2:
            return .accepts(note: "a cluster with explicit http2_protocol_options speaks HTTP/2 whatever the ALPN (not verified)")
        case .h2RSTStreamBeforeResponse:
            return .rejects(503, "UR", note: "upstream_reset_before_response_started{remote_reset} (REFUSED_STREAM: remote_refused_stream_reset, which retry_on refused-stream retries)")
        case .h2Goaway:
            return .rejects(503, "UC", note: "upstream_reset_before_response_started{connection_termination}; not verified")
        case .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError, .h2SettingsBadStream, .h2StreamClosed, .h2PrefaceBad, .h2FrameSizeError,
            .h2PushPromiseUnexpected:
            return Self.unverified(Self.protocolError, "upstream_reset_before_response_started{protocol_error}: the codec's connection error (http2.codec_error)")
        case .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo:
            return Self.unverified(Self.protocolError, "http2.violation.of.messaging.rule")
        case .h2HeaderUppercase, .h2HeaderConnectionSpecific:
            return Self.unverified(Self.protocolError, "http2.invalid.header.field")
        case .h2ContentLengthMismatch, .h2TrailersNoEndStream, .h2FlowControl:
            return Self.unverified(Self.lateProtocolError, "upstream_reset_after_response_started{protocol_error}")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "via_upstream")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }
}

extension GatewayModel where Self == EnvoyModel {
    /// Envoy (`--gateway envoy`).
    public static var envoy: EnvoyModel { EnvoyModel() }
}
