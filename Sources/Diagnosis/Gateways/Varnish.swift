import CaptureModel

/// Varnish Cache 7.1 fetching from one HTTP/1 backend (`varnishd` with a VCL `backend`, no
/// retries in VCL). The detail is the FetchError `varnishlog` shows for the backend transaction
/// (or the transaction's `Error` record when there is no FetchError).
///
/// Defaults assumed: the configuration of `captures/varnish/README.md`, Varnish's default
/// parameters otherwise (`first_byte_timeout` 60 s, `between_bytes_timeout` 60 s,
/// `connect_timeout` 3.5 s, `http_max_hdr` 64, `http_resp_hdr_len` 8 KiB, `http_resp_size` 32 KiB,
/// `backend_remote_error_holddown` 0.25 s). Every failure before the response head is the same
/// `503 Backend fetch failed`. Debian 12's 7.1.1 made `captures/varnish/`; rules no capture shows
/// are read from varnish-cache's bin/varnishd (cache_http1_proto.c, cache_backend.c) and marked
/// "not verified".
public struct VarnishModel: GatewayModel {
    public init() {}

    public var key: StaticString { "varnish" }
    public var spokenName: String { "varnish" }
    public var title: String { "Varnish Cache (backend fetch)" }
    public var releases: [String] { ["7.1"] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 32 * 1024, fieldCount: 59, lineBytes: 8 * 1024, readTimeout: 60, connectTimeout: 3.5,
        source: "varnishd parameters: http_resp_size 32 KiB, http_max_hdr 64 slots (the 60th field failed with 7.1.1), http_resp_hdr_len 8 KiB, first_byte_timeout 60 s, connect_timeout 3.5 s")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "fetch_error", label: "FetchError") }

    private static func fetchFailed(_ fetchError: String, _ note: String) -> GatewayReaction {
        .rejects(503, fetchError, note: "503 Backend fetch failed; " + note)
    }

    private static func badHead(_ record: String, seen: String?) -> GatewayReaction {
        Self.fetchFailed("http format error",
            note(record, seen: seen))
    }

    private static func note(_ record: String, seen: String?) -> String {
        record + (seen.map { " (seen with 7.1.1, captures/varnish/\($0).pcap)" } ?? " (not verified)")
    }

    /// Varnish retries a fetch once on a fresh connection when a recycled one failed before the
    /// response (cache_backend.c: "If we recycled a backend connection, there is a finite chance
    /// that the backend closed it before we got the bereq to it").
    private static let retriedOnce = GatewayReaction(kind: .retries, status: nil, detail: "",
        note: "a single automatic retry on a fresh connection when the request body allows it (cache_backend.c); not verified")

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI: Varnish has no FastCGI client, so no FastCGI hop is behind it.
        case .fcgiStderrFatal, .fcgiStderrWarning, .fcgiStatusInvalid, .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn,
             .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .fcgiPoolExhausted, .protoHTTPResponseToFCGI,
             .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return GatewayRuleKit.noFastCGI
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return Self.fetchFailed("backend …: fail errno 111 (Connection refused)",
                "the backend is then held down for backend_remote_error_holddown (0.25 s): requests in that time make no SYN and log fail errno 0 (Success) (seen with 7.1.1, captures/varnish/tcp-connect-refused-twice.pcap)")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return Self.fetchFailed("backend …: fail errno 113 (No route to host)", "the backend is then held down for backend_remote_error_holddown (0.25 s)")
        case .tcpConnectProhibited:
            return Self.fetchFailed("backend …: fail errno " + (context.value ?? "113: No route to host").replacing(": ", with: " (") + ")", "a firewall's REJECT; the backend is then held down for backend_remote_error_holddown (0.25 s)")
        case .tcpConnectTimeout:
            return Self.fetchFailed("backend …: fail errno 110 (Connection timed out)", "connect_timeout, 3.5 s by default (seen with 7.1.1)")
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders:
            if context.reusedConnection, code.cause != .tcpFINMidHeaders { return Self.retriedOnce }
            return Self.fetchFailed("HTC eof (-1)", "BackendClose: close Received bad req/resp (seen with 7.1.1 for RST, FIN and FIN mid head)")
        case .tcpKeepaliveRace:
            return Self.retriedOnce
        case .tcpFINMidBody:
            if context.value == "chunked" {
                return .rejects(nil, "chunked read err", note: "the client's body is cut, never hidden (seen with 7.1.1, captures/varnish/tcp-fin-mid-body-chunked.pcap)")
            }
            return .rejects(nil, "straight insufficient bytes", note: "the client's body is cut (seen with 7.1.1, captures/varnish/tcp-fin-mid-body-cl.pcap)")
        case .tcpRSTMidBody:
            return .rejects(nil, "Connection reset by peer; straight insufficient bytes", note: "seen with 7.1.1 (captures/varnish/tcp-rst-mid-body.pcap)")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "Resource temporarily unavailable; straight insufficient bytes", note: "between_bytes_timeout (seen with 7.1.1)")
            }
            return Self.fetchFailed("first byte timeout", "first_byte_timeout, 60 s by default (seen with 7.1.1, captures/varnish/tcp-read-timeout.pcap)")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return Self.fetchFailed("…", "not verified: send_timeout applies to clients; a stalled backend write ends at first_byte_timeout")

        case .protoTLSToPlainPort, .tlsAlert, .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake,
            .tlsHandshakeTimeout, .tlsClientCertRequired, .tlsMalformed, .tlsCertExpired, .tlsCertNotYetValid, .tlsCertUnknownCA,
            .tlsCertMissingIntermediate, .tlsCertSelfSigned, .tlsCertNameMismatch, .tlsCertRevoked, .tlsCertBadPurpose,
            .tlsCertInvalid, .tlsClosedAfterHandshake:
            return .accepts(note: "Varnish Cache speaks no TLS to backends, so no handshake of its own can fail; a TLS upstream it talks to in plain text is proto.plain_to_tls_port")
        case .tlsEarlyDataUnreadable:
            return .accepts(note: "a capture fact")

        case .protoPlainToTLSPort, .protoH2ResponseToH1:
            return Self.badHead("HttpGarbage: the first bytes are not a status line", seen: nil)
        case .protoH2PrefaceToH1:
            return Self.fetchFailed("…", "not verified: Varnish 7.1 fetches with HTTP/1.1 only")
        case .protoNonHTTPResponse, .protoServerSpeaksFirst:
            return Self.fetchFailed("HTC eof (-1)",
                "Varnish waits for the end of a head, and the upstream closed first (seen with 7.1.1 for -ERR and an SSH banner followed by FIN); bytes that do not end the head before the timeout: first byte timeout")

        case .statusLineBadVersion:
            return Self.badHead("HttpGarbage \"HTTP/2%00\"", seen: "http-status-line-bad-version")
        case .statusLineBadCode:
            if let value = context.value, value.count == 3, value.first != "0", value.allSatisfy({ $0.isASCII && $0.isNumber }) {
                return .accepts(note: "three digits, 100 to 999")
            }
            return Self.badHead("a status that is not three digits (seen with 7.1.1 for 2000, in the README's notes)", seen: nil)
        case .statusLineNoReasonSP:
            return .accepts(note: "not verified")
        case .lineBareLF:
            return .accepts(note: "seen with 7.1.1 (captures/varnish/http-line-bare-lf.pcap)")
        case .lineBareCR:
            return Self.badHead("a control byte in the status line", seen: nil)

        case .headerNameCTLOrSpace:
            return Self.badHead("BogoHeader: Illegal char 0x20 in header name", seen: "http-header-name-ctl-or-space")
        case .headerNameNonToken:
            return Self.badHead("BogoHeader: Illegal char in header name", seen: nil)
        case .headerEmptyName:
            return Self.badHead("BogoHeader: Illegal char 0x3a in header name", seen: nil)
        case .headerMissingColon:
            return Self.badHead("BogoHeader: Header without ':'", seen: nil)
        case .headerValueNUL:
            return Self.badHead("BogoHeader: Header has ctrl char 0x00", seen: "http-header-value-nul")
        case .headerValueCTL, .headerValueBareCR:
            return Self.badHead("BogoHeader: Header has ctrl char", seen: nil)
        case .headerObsFold:
            return .accepts(note: "seen with 7.1.1 (captures/varnish/http-header-obs-fold.pcap)")
        case .headerTooLarge:
            let size = GatewayRuleKit.headSize(context.value) ?? 0
            if let longest = GatewayRuleKit.longestFieldLine(context.value), longest > Self.defaultLimits.lineBytes! {
                return Self.fetchFailed("http format error", "a \(longest)-byte field line is past http_resp_hdr_len (8 KiB) (not verified)")
            }
            if size > Self.defaultLimits.headBytes! {
                return Self.fetchFailed("http format error", "http_resp_size (32 KiB) holds the whole head (not verified)")
            }
            return .accepts(note: "within http_resp_size (32 KiB); http_resp_hdr_len (8 KiB) limits one line (seen with 7.1.1: a 20 KiB head of 500-byte lines passes)")
        case .headerTooMany:
            if let count = context.value.flatMap({ Int($0) }), count <= Self.defaultLimits.fieldCount! {
                return .accepts(note: "\(count) fields fit http_max_hdr (64 slots with the start line's)")
            }
            return Self.badHead("BogoHeader: Too many headers (http_max_hdr, 64 slots with the start line's: the 60th field fails)",
                seen: "http-header-too-many")
        case .headerDuplicateSingleValue:
            return .accepts()

        case .contentLengthInvalid:
            return Self.fetchFailed("Body cannot be fetched", "no FetchError; the Error record says it and BackendClose: close Failure receiving req.body (seen with 7.1.1 for Content-Length: abc)")
        case .contentLengthDuplicate:
            if let value = context.value, GatewayRuleKit.isIdenticalLengthList(value) {
                return .accepts(note: "identical lines: one length")
            }
            return .rejects(nil, "",
                note: "forwarded as is: Varnish reads the first length and sends both lines, so a client that reads another waits for bytes that never come (seen with 7.1.1: 5 and 7, curl exit 18); nothing is logged")
        case .transferEncodingWithContentLength:
            return Self.fetchFailed("Body cannot be fetched", "seen with 7.1.1 (captures/varnish/http-te-cl-both.pcap)")
        case .transferEncodingNotChunked:
            return Self.fetchFailed("Body cannot be fetched", "seen with 7.1.1 for gzip")
        case .transferEncodingDuplicateOrEmpty:
            return Self.fetchFailed("Body cannot be fetched", "not verified")
        case .chunkedBadSize:
            return .rejects(nil, "chunked header non-hex", note: "the client's body is cut (seen with 7.1.1)")
        case .chunkedDataLengthMismatch:
            return .rejects(nil, "chunked tail no NL", note: "seen with 7.1.1 for a chunk longer than its size")
        case .chunkedSizeOverflow:
            return .rejects(nil, "chunked header too long", note: "not verified")
        case .chunkedWhitespaceAfterSize, .chunkedBadExtension, .chunkedBareLF:
            return .accepts(note: "not verified: the chunk-size reader skips what follows the hex digits up to LF")
        case .chunkedBadTrailer:
            return .rejects(nil, "…", note: "not verified")
        case .bodyExtraAfterMessage:
            return .accepts(note: "dropped (seen with 7.1.1)")
        case .bodyOnBodyless:
            return .accepts(note: "not verified")
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
            return Self.fetchFailed("backend …: unhealthy", "a probe marked the backend sick; during the hold-down after a refused connect: fail errno 0 (Success)")

        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout, .dnsDrift:
            return .accepts(note: "Varnish resolves a backend's .host once, when the VCL is compiled (a name that does not resolve fails vcl.load); it makes no DNS query per request (vmod dynamic does)")

        // HTTP/2 and gRPC: Varnish speaks only HTTP/1 to its upstreams.
        case .protoH1ResponseToH2, .tlsALPNNoH2, .h2RSTStreamBeforeResponse, .h2Goaway, .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError,
            .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase,
            .h2HeaderConnectionSpecific, .h2ContentLengthMismatch, .h2StreamClosed, .h2TrailersNoEndStream, .h2SettingsBadStream,
            .h2FlowControl, .h2PrefaceBad, .h2FrameSizeError, .h2PushPromiseUnexpected, .grpcStatus:
            return GatewayRuleKit.http1Only("Varnish")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }
}

extension GatewayModel where Self == VarnishModel {
    /// Varnish Cache (`--gateway varnish`).
    public static var varnish: VarnishModel { VarnishModel() }
}
