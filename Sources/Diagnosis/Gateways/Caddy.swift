import CaptureModel

/// Caddy 2.6's `reverse_proxy` with the `http` transport (Go's `net/http` underneath), in front
/// of HTTP/1.1 upstreams; `tls` with `tls_trusted_ca_certs` for TLS upstreams.
///
/// Defaults assumed: the configuration of `captures/caddy/README.md` (no `lb_try_duration`, so
/// no retry on another upstream; no passive health checks; `response_header_timeout` set, no
/// `flush_interval`). The detail is the text Caddy logs in its `http.log.error` entry (`msg`),
/// or for a failure after the head the reverse proxy's `reading from backend` and `aborting with
/// incomplete response` entries. Debian 12's 2.6.2 (Go 1.19) made `captures/caddy/`; rules no
/// capture shows are read from Go's `net/http` and `crypto/tls` and marked "not verified".
public struct CaddyModel: GatewayModel {
    public init() {}

    public var key: StaticString { "caddy" }
    public var spokenName: String { "caddy" }
    public var title: String { "Caddy (reverse_proxy, http transport)" }
    public var releases: [String] { ["2.6"] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 10 << 20, connectTimeout: 3,
        source: "Go's net/http Transport: MaxResponseHeaderBytes 10 MiB when unset; Caddy's dial_timeout 3 s; no response_header_timeout by default")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "error", label: "error log") }

    /// Go's prefix for an error that broke the HTTP/1.x connection.
    private static let broken = "net/http: HTTP/1.x transport connection broken: "

    /// A chunked body that breaks: Caddy has sent the upstream's status and, for a chunked
    /// response, ends the client's chunked body cleanly, so the client sees a short 200.
    private static func hiddenCut(_ error: String, seen: String? = nil) -> GatewayReaction {
        .rejects(nil, "reading from backend: \(error); aborting with incomplete response: \(error)",
            note: "the client's chunked response ends cleanly: a 200 with a short body and no error (curl exit 0)"
                + (seen.map { "; seen with 2.6.2 (captures/caddy/\($0).pcap)" } ?? "; not verified"))
    }

    private static func certificate(_ error: String, seen: String?) -> GatewayReaction {
        .rejects(502, error, note: "Caddy verifies inside the handshake and ends it with a bad_certificate (42) alert for any fault (encrypted in TLS 1.3)"
            + (seen.map { "; seen with 2.6.2 (captures/caddy/\($0).pcap)" } ?? "; Go's crypto/x509 text, not verified"))
    }

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        if context.isFastCGI, let reaction = Self.fastCGI(code, context) { return reaction }
        switch code.cause {
        // FastCGI (php_fastcgi: modules/caddyhttp/reverseproxy/fastcgi)
        case .fcgiStderrFatal:
            return .rejects(500, "", note: "Caddy relays the application's Status: 500 and logs no stderr unless the transport sets capture_stderr (then an error-level \"stderr\" entry)")
        case .fcgiStderrWarning:
            return .accepts(note: "logged only with capture_stderr (a warn-level \"stderr\" entry)")
        case .fcgiStatusInvalid:
            let number = context.value.map { String($0.prefix { $0 != " " }) } ?? ""
            if !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }) {
                return .accepts(note: "the part before the first space is read with strconv.Atoi, so \(context.value ?? "…") passes")
            }
            return .rejects(502, "strconv.Atoi: parsing \"\(number)\": invalid syntax")
        case .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn, .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return .rejects(502, "EOF",
                note: "FCGI_END_REQUEST reads as the end of the stream (record.go: io.EOF), protocolStatus unread; with no CGI head that is an EOF (seen with 2.6.2, captures/fastcgi/caddy-overloaded.pcap)")
        case .fcgiRecordBadVersion:
            return .rejects(502, "fcgi: invalid header version")
        case .fcgiRecordTruncated:
            return .rejects(502, "EOF",
                note: "a record cut before the CGI head ended (seen with 2.6.2, captures/fastcgi/caddy-truncated.pcap); a stream that stops between records reads as its end")
        case .fcgiRecordUnexpected:
            return .accepts(note: "Caddy reads any record but FCGI_STDERR as output, checks no request id, and ends at FCGI_END_REQUEST: with no CGI head the client gets 200 with an empty body")
        case .fcgiPoolExhausted:
            return .rejects(504, "… i/o timeout", note: "the fastcgi transport's read_timeout (none by default: Caddy then waits until the client gives up); not verified")
        case .protoHTTPResponseToFCGI:
            return .rejects(502, "fcgi: invalid header version")
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return .rejects(502, "dial tcp …: connect: connection refused",
                note: "every request tries again: no hold-down without passive health checks (seen with 2.6.2, captures/caddy/tcp-connect-refused-twice.pcap)")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(502, "dial tcp …: connect: no route to host")
        case .tcpConnectProhibited:
            return .rejects(502, (context.value ?? "").hasPrefix("111") ? "dial tcp …: connect: connection refused" : "dial tcp …: connect: no route to host")
        case .tcpConnectTimeout:
            return .rejects(502, "dial tcp …: i/o timeout", note: "dial_timeout: a 502, not a 504 (seen with 2.6.2)")
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpKeepaliveRace:
            let failure: GatewayReaction = code.cause == .tcpRSTBeforeResponse
                ? .rejects(502, "read tcp …->…: read: connection reset by peer", note: "seen with 2.6.2 (captures/caddy/tcp-rst-before-response.pcap)")
                : .rejects(502, "EOF", note: "seen with 2.6.2 (captures/caddy/fin-before-response.pcap)")
            guard context.reusedConnection || code.cause == .tcpKeepaliveRace else { return failure }
            // Go's transport replays a request that failed on a reused connection before any
            // response byte when it can (net/http Transport: shouldRetryRequest, isReplayable).
            if let method = context.method, !["GET", "HEAD", "OPTIONS", "TRACE"].contains(method) {
                return GatewayReaction(kind: .rejects, status: 502, detail: failure.detail,
                    note: "\(method) is not replayable, so Go's transport does not retry it (not verified)")
            }
            return GatewayReaction(kind: .retries, status: nil, detail: "",
                note: "Go's transport retries an idempotent request whose reused connection closed before any response byte (net/http shouldRetryRequest; not verified)")
        case .tcpFINMidHeaders:
            return .rejects(502, Self.broken + "malformed MIME header: missing colon: \"…\"",
                note: "Go parses the cut line and reports it (seen with 2.6.2, captures/caddy/tcp-fin-mid-headers.pcap); a cut status line reads unexpected EOF")
        case .tcpFINMidBody:
            let chunked = context.value == "chunked"
            return .rejects(nil, "reading from backend: unexpected EOF; aborting with incomplete response: unexpected EOF",
                note: chunked
                    ? "Caddy ends the client's chunked body cleanly: a 200 with a short body and no error (seen with 2.6.2, captures/caddy/tcp-fin-mid-body-chunked.pcap)"
                    : "the client sees the cut (curl exit 18; seen with 2.6.2, captures/caddy/tcp-fin-mid-body-cl.pcap)")
        case .tcpRSTMidBody:
            return .rejects(nil, "reading from backend: read tcp …: read: connection reset by peer; aborting with incomplete response: …",
                note: "seen with 2.6.2 (captures/caddy/tcp-rst-mid-body.pcap)")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "aborting with incomplete response: context canceled",
                    note: "no body read timeout in the http transport: the client gives up first (seen with 2.6.2)")
            }
            return .rejects(504, "net/http: timeout awaiting response headers",
                note: "response_header_timeout (seen with 2.6.2, captures/caddy/tcp-read-timeout.pcap); without it Caddy waits for the client to give up")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(502, "context canceled", note: "not verified: Go's transport has no write timeout, so the request waits until the client gives up")

        case .protoTLSToPlainPort:
            return .rejects(502, "tls: first record does not look like a TLS handshake", note: "Go's crypto/tls text; not verified")
        case .protoPlainToTLSPort:
            return .rejects(502, "read tcp …->…: read: connection reset by peer",
                note: "an OpenSSL server resets a plain request (seen with 2.6.2, captures/caddy/proto-plain-to-tls-port.pcap); one that answers with an alert: malformed HTTP response")
        case .protoH2ResponseToH1, .protoH2PrefaceToH1:
            return .rejects(502, Self.broken + "malformed HTTP response \"…\"", note: "not verified")
        case .protoNonHTTPResponse:
            return .rejects(502, Self.broken + "malformed HTTP status code \"…\"",
                note: "Go splits the first line at its spaces (seen with 2.6.2: \"-ERR unknown command\" gives status code \"unknown\"); a line with no space gives malformed HTTP response")
        case .protoServerSpeaksFirst:
            return .rejects(502, Self.broken + "malformed HTTP status code \"…\"",
                note: "or readLoopPeekFailLocked when the banner comes before the request is written; both 502 (seen with 2.6.2)")

        case .statusLineBadVersion:
            return .rejects(502, Self.broken + "malformed HTTP version \"…\"", note: "only HTTP/d.d (seen with 2.6.2: HTTP/2)")
        case .statusLineBadCode:
            if let value = context.value, value.count == 3, value.allSatisfy({ $0.isASCII && $0.isNumber }) {
                return .accepts(note: "any three digits pass")
            }
            return .rejects(502, Self.broken + "malformed HTTP status code \"…\"", note: "exactly three digits after one space (Go's ReadResponse)")
        case .statusLineNoReasonSP, .lineBareLF:
            return .accepts(note: "seen with 2.6.2 for a bare LF on every head line")
        case .lineBareCR:
            return .accepts(note: "not verified: Go's textproto trims only the CR before LF")

        case .headerNameCTLOrSpace:
            return .rejects(nil, "aborting with incomplete response: context canceled",
                note: "Go 1.19 takes `Content-Length :` as a field named with the space, so the body has no framing and is read until the upstream closes; a keep-alive upstream never does and the client times out (seen with 2.6.2)")
        case .headerNameNonToken, .headerEmptyName, .headerValueCTL, .headerValueBareCR:
            return .accepts(note: "not verified: Go 1.19's textproto does not screen these bytes")
        case .headerMissingColon:
            return .rejects(502, Self.broken + "malformed MIME header: missing colon: \"…\"", note: "seen with 2.6.2 for a line cut by FIN")
        case .headerValueNUL:
            return .accepts(note: "relayed to the client with the NUL (seen with 2.6.2; curl then refuses it: Nul byte in header)")
        case .headerObsFold:
            return .accepts(note: "unfolded by Go's textproto (seen with 2.6.2)")
        case .headerTooLarge:
            if let size = GatewayRuleKit.headSize(context.value), size > Self.defaultLimits.headBytes! {
                return .rejects(502, "net/http: server response headers exceeded 10485760 bytes; aborted", note: "Go's default MaxResponseHeaderBytes (10 MiB)")
            }
            return .accepts(note: "Go's default MaxResponseHeaderBytes is 10 MiB (seen with 2.6.2: a 20 KiB head passes)")
        case .headerTooMany:
            return .accepts(note: "no field-count limit (seen with 2.6.2: 150 fields pass)")
        case .headerDuplicateSingleValue:
            return .accepts()

        case .contentLengthInvalid:
            return .rejects(502, Self.broken + "bad Content-Length \"…\"", note: "Go's text for anything but one decimal number, a list included; not verified")
        case .contentLengthDuplicate:
            if let value = context.value, GatewayRuleKit.isIdenticalLengthList(value) {
                return .accepts(note: "identical lines are one length (Go's net/http)")
            }
            return .rejects(502, Self.broken + "http: message cannot contain multiple Content-Length headers; got [\"…\" \"…\"]",
                note: "seen with 2.6.2 (captures/caddy/http-cl-duplicate-differ.pcap)")
        case .transferEncodingWithContentLength:
            return .accepts(note: "Go reads the chunked body and drops Content-Length (seen with 2.6.2)")
        case .transferEncodingNotChunked:
            return .rejects(502, Self.broken + "unsupported transfer encoding: \"…\"", note: "seen with 2.6.2 for gzip")
        case .transferEncodingDuplicateOrEmpty:
            return .rejects(502, Self.broken + "too many transfer encodings: [\"chunked\" \"chunked\"]",
                note: "an empty value: unsupported transfer encoding: \"\" (Go's net/http; not verified)")
        case .chunkedBadSize:
            return Self.hiddenCut("invalid byte in chunk length", seen: "http-chunked-bad-size")
        case .chunkedSizeOverflow:
            return Self.hiddenCut("http chunk length too large")
        case .chunkedDataLengthMismatch:
            return Self.hiddenCut("malformed chunked encoding")
        case .chunkedBadTrailer:
            return Self.hiddenCut("malformed MIME header line: …")
        case .chunkedWhitespaceAfterSize, .chunkedBareLF, .chunkedBadExtension:
            return .accepts(note: "not verified: Go's chunked reader trims trailing whitespace and skips extensions")
        case .bodyExtraAfterMessage:
            return .accepts(note: "the bytes after the body are dropped (seen with 2.6.2)")
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
            return .rejects(503, "no upstreams available", note: "every upstream marked unhealthy by active or passive health checks (reverseproxy.go)")

        // DNS: a dial address's name is resolved by Go's resolver at every dial.
        case .dnsNXDOMAIN:
            return .rejects(502, "dial tcp: lookup … on …: no such host", note: "not verified")
        case .dnsSERVFAIL:
            return .rejects(502, "dial tcp: lookup … on …: server misbehaving", note: "not verified")
        case .dnsREFUSED:
            return .rejects(502, "dial tcp: lookup … on …: server misbehaving", note: "Go reports REFUSED as a misbehaving server (not verified)")
        case .dnsTimeout:
            return .rejects(502, "dial tcp: lookup … on …: i/o timeout", note: "Go's resolver tries each server twice, 5 s each, by default (not verified)")
        case .dnsDrift:
            return .rejects(502, "dial tcp …: connect: connection refused", note: "the dial's own failure at the new address (not verified)")

        case .tlsCertExpired:
            return Self.certificate("x509: certificate has expired or is not yet valid: current time … is after …", seen: "tls-caddy-cert-expired")
        case .tlsCertNotYetValid:
            return Self.certificate("x509: certificate has expired or is not yet valid: current time … is before …", seen: nil)
        case .tlsCertUnknownCA, .tlsCertSelfSigned, .tlsCertMissingIntermediate:
            return Self.certificate("x509: certificate signed by unknown authority", seen: code.cause == .tlsCertUnknownCA ? "tls-caddy-unknown-ca" : nil)
        case .tlsCertNameMismatch:
            return Self.certificate("x509: certificate is valid for …, not …", seen: "tls-caddy-name-mismatch")
        case .tlsCertBadPurpose:
            return Self.certificate("x509: certificate specifies an incompatible key usage", seen: nil)
        case .tlsCertInvalid, .tlsClosedAfterHandshake:
            return Self.certificate("x509: …", seen: nil)
        case .tlsCertRevoked:
            return .accepts(note: "Go's verifier checks no CRL, so a revoked certificate passes")
        case .tlsAlert:
            let words = (code.qualifier ?? "").split(separator: "_").joined(separator: " ")
            return .rejects(502, "remote error: tls: \(words)", note: "Go's crypto/tls text for an alert it received; not verified")
        case .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsClientCertRequired, .tlsMalformed:
            return .rejects(502, "remote error: tls: …", note: "not verified: Go's crypto/tls names the alert or the fault")
        case .tlsPeerClosedInHandshake:
            return .rejects(502, "EOF", note: "not verified")
        case .tlsHandshakeTimeout:
            return .rejects(502, "net/http: TLS handshake timeout", note: "not verified")
        case .tlsEarlyDataUnreadable:
            return .accepts(note: "a capture fact: Go's client sends no early data")

        // HTTP/2 and gRPC: the http transport with versions h2c (or h2 over TLS), Go's x/net/http2.
        case .protoH1ResponseToH2:
            return .rejects(502, "http2: failed reading the frame payload…", note: "not verified: Go's framer reads HTTP/1.1 as a frame too large")
        case .tlsALPNNoH2:
            return .accepts(note: "with versions 2 only Go's transport fails the handshake: unexpected ALPN protocol (not verified)")
        case .h2RSTStreamBeforeResponse:
            return .rejects(502, "stream error: stream ID …; … received from peer",
                note: "not verified; Go's transport retries a REFUSED_STREAM request itself when the body can be replayed")
        case .h2Goaway:
            return .retries(note: "not verified: Go's transport retries a request the GOAWAY left unprocessed on a new connection")
        case .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError, .h2SettingsBadStream, .h2StreamClosed, .h2PrefaceBad, .h2FrameSizeError, .h2PushPromiseUnexpected, .h2StatusMissing,
            .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase, .h2HeaderConnectionSpecific:
            return .rejects(502, "http2: … (connection or stream error PROTOCOL_ERROR)", note: "not verified: x/net/http2 checks the frame and the response head")
        case .h2ContentLengthMismatch, .h2TrailersNoEndStream, .h2FlowControl:
            return .rejects(nil, "http2: …", note: "not verified: the response body ends with an error")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }
}

extension GatewayModel where Self == CaddyModel {
    /// Caddy (`--gateway caddy`).
    public static var caddy: CaddyModel { CaddyModel() }
}

extension CaddyModel {
    /// php_fastcgi's texts and statuses where they differ from the http transport's: the CGI head
    /// is read by Go's textproto.ReadMIMEHeader (no size limit, a space in a name passes), the
    /// records by its own reader (modules/caddyhttp/reverseproxy/fastcgi); nil where they do not.
    static func fastCGI(_ code: FindingCode, _ context: RuleContext) -> GatewayReaction? {
        switch code.cause {
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders, .tcpKeepaliveRace:
            return .rejects(502, "EOF", note: "seen with 2.6.2 (captures/fastcgi/caddy-killed-before-output.pcap)")
        case .tcpRSTMidBody:
            return .rejects(nil, "reading from backend: read tcp …: read: connection reset by peer",
                note: "seen with 2.6.2 (captures/fastcgi/caddy-killed-mid-body.pcap)")
        case .tcpFINMidBody:
            return .accepts(note: "a stream that stops between records reads as its end: the client gets a clean 200 with the body cut short")
        case .tcpReadTimeout:
            return .rejects(context.phase == .responseBody ? nil : 504, "read tcp …->…: i/o timeout",
                note: "the fastcgi transport's read_timeout (seen with 2.6.2, captures/fastcgi/caddy-read-timeout.pcap)")
        case .headerTooLarge, .headerTooMany:
            return .accepts(note: "textproto.ReadMIMEHeader has no size or count limit (seen with 2.6.2: 9 KB of head, captures/fastcgi/caddy-header-too-big.pcap)")
        case .headerNameCTLOrSpace:
            return .accepts(note: "textproto.ReadMIMEHeader takes a space in a name (seen with 2.6.2, captures/fastcgi/caddy-invalid-header.pcap)")
        default:
            return nil
        }
    }
}

