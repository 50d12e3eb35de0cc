import CaptureModel

/// lighttpd 1.4's mod_proxy in front of HTTP/1.x upstreams.
///
/// Defaults assumed: the configuration in captures/lighttpd/README.md, that is `proxy.server` with
/// one backend, `connect-timeout` 2 and `read-timeout` 5, the default error-log verbosity.
/// mod_proxy sends each request with `Connection: close` on a connection of its own (no backend
/// keep-alive) and speaks no TLS to backends. The detail is the error.log line from the source
/// position on (`(gw_backend.c.274) …`, `…` for what varies: addresses, descriptors, paths), empty
/// when lighttpd logs nothing. Debian 12's 1.4.69 was run against the scenarios in
/// captures/lighttpd/: a cell citing a capture was seen there, one citing lighttpd's sources
/// (lighttpd-1.4.69 tag) was read, not run.
public struct LighttpdModel: GatewayModel {
    public init() {}

    public var key: StaticString { "lighttpd" }
    public var spokenName: String { "lighttpd" }
    public var title: String { "lighttpd (mod_proxy)" }
    public var releases: [String] { ["1.4"] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 65535,
        source: "lighttpd 1.4: MAX_HTTP_RESPONSE_FIELD_SIZE 65535 (http-header-glue.c); the timeouts of captures/lighttpd/README.md are set there, lighttpd's defaults are not modelled")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "log", label: "error.log") }


    private static func seen(_ capture: String) -> String {
        "seen with 1.4.69 (captures/lighttpd/\(capture).pcap)"
    }

    private static let resetRead = "(http-header-glue.c.1341) read() … …: Connection reset by peer"
    private static let readTimeout = "(gw_backend.c.2708) read timeout on socket: tcp:…:… (fd: …)"
    private static let alreadySent =
        "(gw_backend.c.2396) response already sent out, but backend returned error on socket: tcp:…:… for …?, terminating connection"
    private static let badStatusLine = "(http-header-glue.c.874) invalid HTTP status line: …"

    /// lighttpd answers 502 with no log line when the first line is no status line.
    private static func noStatusLine(_ source: String) -> GatewayReaction {
        .rejects(502, "", note: "mod_proxy wants an HTTP/1.x status line and logs nothing when the first line is none (http-header-glue.c); " + source)
    }

    /// lighttpd 1.4's mod_proxy has no TLS client: a handshake on its upstream hop is not lighttpd's.
    private static let noTLS = GatewayReaction(kind: .accepts, status: nil, detail: "",
        note: "lighttpd 1.4's mod_proxy speaks no TLS to backends (proxy.server has no TLS option), so no handshake of its own can fail; a TLS upstream it talks to in plain text is proto.plain_to_tls_port")

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI (mod_fastcgi). Not verified against a release.
        case .fcgiStderrFatal:
            return .rejects(500, "FastCGI-stderr: PHP message: PHP Fatal error:  …", note: "the stderr text is logged; the application's Status: 500 is relayed (not verified)")
        case .fcgiStderrWarning:
            return .accepts("FastCGI-stderr: …", note: "logged; the response passes (not verified)")
        case .fcgiStatusInvalid, .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .protoHTTPResponseToFCGI,
             .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return .rejects(502, "", note: "a malformed FastCGI record or CGI head is a backend error (not verified)")
        case .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn:
            return .rejects(503, "", note: "not verified")
        case .fcgiPoolExhausted:
            return .rejects(504, "", note: "server.max-read-idle; not verified")
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        // TCP
        case .tcpConnectRefused:
            return .rejects(503, "(gw_backend.c.274) establishing connection failed: socket: tcp:…:…: Connection refused",
                note: "then (gw_backend.c.960) all handlers for …? on  are down.; " + Self.seen("refused"))
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(503, "(gw_backend.c.274) establishing connection failed: socket: tcp:…:…: No route to host", note: "then (gw_backend.c.960) all handlers for …? on  are down.")
        case .tcpConnectProhibited:
            return .rejects(503, "(gw_backend.c.274) establishing connection failed: socket: tcp:…:…: " + ((context.value ?? "113: No route to host").split(separator: ":").last.map { String($0.dropFirst()) } ?? "No route to host"), note: "then (gw_backend.c.960) all handlers for …? on  are down.")
        case .tcpConnectTimeout:
            return .rejects(503, "(gw_backend.c.274) establishing connection failed: socket: tcp:…:…: Connection timed out",
                note: "then (gw_backend.c.960) all handlers for …? on  are down.; connect-timeout is 8 s by default; lighttpd connects a second time after the first times out, so the capture's connect-timeout 2 took 4 s; " + Self.seen("tcp-connect-timeout"))
        case .tcpRSTBeforeResponse:
            return .rejects(500, Self.resetRead,
                note: "then (gw_backend.c.2389) response not received, request sent: … on socket: tcp:…:… for …?, closing connection; "
                    + Self.seen("tcp-rst-before-response") + " and captures/lighttpd/proto-plain-to-tls-port.pcap")
        case .tcpFINBeforeResponse:
            return .rejects(500, "", note: "no error-log line (http_response_backend_done answers 500 when nothing was sent); " + Self.seen("fin-before-response"))
        case .tcpFINMidHeaders:
            return .rejects(500, "", note: "no error-log line; " + Self.seen("tcp-fin-mid-headers"))
        case .tcpFINMidBody:
            return .rejects(nil, "",
                note: "no error-log line; a Content-Length body reaches the client cut (" + Self.seen("tcp-fin-mid-body-cl")
                    + "); a chunked body is ended with lighttpd's own last chunk, a hidden cut: the client gets a clean 200 with a short body (" + Self.seen("tcp-fin-mid-body-chunked") + ")")
        case .tcpRSTMidBody:
            return .rejects(nil, Self.resetRead, note: "then " + Self.alreadySent + "; " + Self.seen("tcp-rst-mid-body"))
        case .tcpKeepaliveRace:
            return .rejects(500, Self.resetRead,
                note: "lighttpd 1.4's mod_proxy sends each request on a connection of its own, so it never races a keep-alive close; a reset before the response is a 500 as tcp.rst.before_response")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, Self.readTimeout, note: "the response was started, so the body is cut (gw_backend.c; not verified)")
            }
            return .rejects(504, Self.readTimeout,
                note: "read-timeout is unset (no limit) by default; the capture's read-timeout 2 took 4 s; " + Self.seen("tcp-read-timeout"))
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(504, "(gw_backend.c.2708) write timeout on socket: tcp:…:… (fd: …)",
                note: "gw_handle_trigger_hctx_timeout turns the write error's 503 into 504 (gw_backend.c; not verified)")

        // Protocol mismatch
        case .protoTLSToPlainPort:
            return Self.noTLS
        case .protoPlainToTLSPort:
            return .rejects(500, "",
                note: "a TLS server that answers with an alert and closes leaves an incomplete head, as tcp.fin.mid_headers (not verified); OpenSSL's reset instead is tcp.rst.before_response, a 500 too, "
                    + Self.seen("proto-plain-to-tls-port"))
        case .protoNonHTTPResponse:
            return Self.noStatusLine(Self.seen("proto-non-http-response"))
        case .protoServerSpeaksFirst:
            if let value = context.value, value.hasPrefix("HTTP/") {
                return .accepts(note: "the early bytes are read as the response to the request (not verified)")
            }
            return Self.noStatusLine(Self.seen("proto-server-speaks-first") + " with an SSH banner")
        case .protoH2PrefaceToH1, .protoH2ResponseToH1:
            return Self.noStatusLine("not verified")

        // Status line
        case .statusLineBadVersion:
            if let value = context.value, value == "HTTP/1.0" || value == "HTTP/1.1" {
                return .accepts()
            }
            return .rejects(502, Self.badStatusLine,
                note: "mod_proxy takes HTTP/1.0 and HTTP/1.1 only; the log line holds the whole head, CR and LF written as \\r\\n; " + Self.seen("http-status-line-bad-version") + " with HTTP/2 200 OK")
        case .statusLineBadCode:
            // http_header_str_to_code: exactly three digits followed by SP, HTAB or the line end,
            // and at least 100.
            if let value = context.value, value.utf8.count == 3, let status = Int(value), status >= 100 {
                return .accepts(note: "any three digits from 100 to 999 pass (http_header.c)")
            }
            return .rejects(502, Self.badStatusLine,
                note: "the code must be exactly three digits, 100 to 999, after one SP (http_header.c http_header_str_to_code); " + Self.seen("http-status-line-bad-code") + " with HTTP/1.1 2000 OK")
        case .statusLineNoReasonSP:
            return .accepts(note: "a status line of 12 bytes is read (http-header-glue.c; not verified)")
        case .lineBareLF:
            return .accepts(note: "lines may end in LF or CR LF (http-header-glue.c; not verified)")
        case .lineBareCR:
            return .rejects(502, Self.badStatusLine, note: "not verified: a bare CR in the status line breaks the three-digit code or the version")

        // Header section
        case .headerNameCTLOrSpace:
            // The client gets 404, lighttpd's own status after its read timeout: the truth's class
            // `unknown` (a status of the gateway's own that is no 5xx, so none of 500/502/503/504,
            // and not the upstream's answer either). errorClass(forStatus:) maps it so.
            return .rejects(404, Self.readTimeout,
                note: "lighttpd drops a field with whitespace before the colon (http-header-glue.c); with Content-Length : 5 the response has no length, "
                    + "so lighttpd reads it until close; the upstream kept the connection open, so after read-timeout lighttpd logs the timeout and the request falls to the "
                    + "static-file handler, which answers 404 Not Found; " + Self.seen("http-header-name-ctl-or-space")
                    + "; a field not needed for framing is dropped and the response passes (not verified)")
        case .headerNameNonToken, .headerEmptyName:
            return .accepts(note: "the line is relayed or, with an empty name, dropped (http-header-glue.c; not verified)")
        case .headerMissingColon:
            return .accepts(note: "the line is skipped; " + Self.seen("http-header-missing-colon"))
        case .headerValueNUL:
            return .accepts(note: "relayed to the client as is (curl: Nul byte in header); " + Self.seen("http-header-value-nul"))
        case .headerValueCTL, .headerValueBareCR:
            return .accepts(note: "relayed as is (http-header-glue.c; not verified)")
        case .headerObsFold:
            return .accepts(note: Self.seen("http-header-obs-fold"))
        case .headerTooLarge:
            if let size = GatewayRuleKit.headSize(context.value), size <= Self.defaultLimits.headBytes! {
                return .accepts(note: "a \(size)-byte head is within MAX_HTTP_RESPONSE_FIELD_SIZE (65535); a 20 KiB head and a 12 KiB line passed, "
                    + Self.seen("http-header-head-20k") + " and captures/lighttpd/http-header-line-12k.pcap")
            }
            return .rejects(502, "(http-header-glue.c.1129) response headers too large for …",
                note: "the head must fit MAX_HTTP_RESPONSE_FIELD_SIZE, 65535 bytes (http-header-glue.c; not verified); a 20 KiB head and a 12 KiB line passed, "
                    + Self.seen("http-header-head-20k") + " and captures/lighttpd/http-header-line-12k.pcap")
        case .headerTooMany:
            return .accepts(note: "up to 8189 lines fit the line table (http-header-glue.c); " + Self.seen("http-header-too-many") + " with 150 lines")
        case .headerDuplicateSingleValue:
            return .accepts(note: "relayed (not verified)")

        // Body framing
        case .contentLengthInvalid:
            return .accepts(note: "an unparsable length is read as unknown: the body is read until the upstream closes (http-header-glue.c; not verified)")
        case .contentLengthDuplicate:
            return .accepts(note: "the first Content-Length is used and the others are dropped: Content-Length 5 and 7 gave the client 5 bytes, " + Self.seen("http-cl-duplicate-differ"))
        case .transferEncodingWithContentLength:
            return .accepts(note: "Content-Length is dropped and the body read chunked; " + Self.seen("http-te-cl-both"))
        case .transferEncodingNotChunked:
            return .rejects(nil, Self.alreadySent,
                note: "not verified: lighttpd takes any Transfer-Encoding for chunked without checking (http-header-glue.c), so a body that is not chunked fails the chunk parser")
        case .transferEncodingDuplicateOrEmpty:
            return .accepts(note: "read as chunked (http-header-glue.c; not verified)")
        case .chunkedBadSize, .chunkedSizeOverflow, .chunkedBareLF, .chunkedDataLengthMismatch, .chunkedBadExtension, .chunkedBadTrailer:
            return .rejects(nil, Self.alreadySent,
                note: "lighttpd ends its own chunked response cleanly, a hidden cut: the client gets a 200 with a short body and no error; "
                    + Self.seen("http-chunked-bad-size") + " for a bad size; the other chunk errors are the same decoder's (not verified)")
        case .chunkedWhitespaceAfterSize:
            return .accepts(note: "not verified")
        case .bodyExtraAfterMessage:
            return .accepts(note: "the extra bytes are dropped; the connection is not reused anyway (not verified)")
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
            return .rejects(503, "(gw_backend.c.960) all handlers for …? on  are down.",
                note: "after a connect failure the backend is disabled for disable-time (1 s by default) (gw_backend.c; not verified)")

        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout, .dnsDrift:
            return .accepts(note: "lighttpd resolves a backend's \"host\" once, when it reads its configuration (a name that does not resolve stops it starting); it makes no DNS query per request")

        // TLS: none of lighttpd's own.
        case .tlsAlert, .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake, .tlsHandshakeTimeout,
            .tlsClientCertRequired, .tlsEarlyDataUnreadable, .tlsClosedAfterHandshake, .tlsCertExpired, .tlsCertNotYetValid,
            .tlsCertUnknownCA, .tlsCertMissingIntermediate, .tlsCertSelfSigned, .tlsCertNameMismatch, .tlsCertRevoked,
            .tlsCertBadPurpose, .tlsCertInvalid, .tlsMalformed:
            return Self.noTLS

        // HTTP/2 and gRPC: lighttpd's mod_proxy speaks only HTTP/1 to its upstreams.
        case .protoH1ResponseToH2, .tlsALPNNoH2, .h2RSTStreamBeforeResponse, .h2Goaway, .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError,
            .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase,
            .h2HeaderConnectionSpecific, .h2ContentLengthMismatch, .h2StreamClosed, .h2TrailersNoEndStream, .h2SettingsBadStream,
            .h2FlowControl, .h2PrefaceBad, .h2FrameSizeError, .h2PushPromiseUnexpected, .grpcStatus:
            return GatewayRuleKit.http1Only("lighttpd's mod_proxy")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }

    /// lighttpd's own 5xx are their classes; a status of its own that is no 5xx (the 404 after a
    /// read timeout of a head without a length) is `unknown`: neither a gateway error class nor
    /// the upstream's answer.
    public func errorClass(forStatus status: Int) -> VerdictClass {
        switch status {
        case 500: return .internalError
        case 503: return .serviceUnavailable
        case 504: return .gatewayTimeout
        case 500...599: return .badGateway
        default: return .unknown
        }
    }
}

extension GatewayModel where Self == LighttpdModel {
    /// lighttpd (`--gateway lighttpd`).
    public static var lighttpd: LighttpdModel { LighttpdModel() }
}
