import CaptureModel

/// nginx's `proxy_pass` to HTTP/1.x upstreams (taxonomy: N-UP, N-PA, N-PX, N-SSL, N-EC).
///
/// Defaults assumed: `proxy_next_upstream error timeout`, `proxy_buffer_size` one page,
/// `proxy_ssl_verify on` for the certificate codes only (it is off by default). The newest
/// behaviour is 1.31.5's, the release the taxonomy read; Debian 12's 1.22.1 was run against
/// crafted upstream responses to check the rules for it.
public struct NginxModel: GatewayModel {
    public init() {}

    public var key: StaticString { "nginx" }
    public var spokenName: String { "nginx" }
    public var title: String { "nginx (proxy_pass)" }
    /// Debian 11 and Ubuntu 22.04 ship 1.18; the taxonomy read 1.31.5.
    public var releases: [String] { (18...31).map { "1.\($0)" } }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 4096, readTimeout: 60, connectTimeout: 60,
        source: "nginx documentation: proxy_buffer_size one memory page (4 KiB on x86-64), proxy_read_timeout 60s, proxy_connect_timeout 60s; no field-count limit")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var changes: [GatewayRuleChange] { Self.releaseChanges }
    public var detail: GatewayDetail { GatewayDetail(key: "log", label: "error.log") }
    public var isAlwaysReported: Bool { true }
    public var chainErrorPick: ChainErrorPick { .lastBeforeName }

    /// `c->log->action` texts nginx appends to error.log lines (taxonomy §2 legend).
    enum While {
        static let connecting = " while connecting to upstream"
        static let handshaking = " while SSL handshaking to upstream"
        static let sending = " while sending request to upstream"
        static let readingHead = " while reading response header from upstream"
        static let readingBody = " while reading upstream"
    }

    private static let verifyError = "upstream SSL certificate verify error: "

    private static let http09 = GatewayReaction(
        kind: .passesAsHTTP09, status: 200,
        detail: "upstream sent no valid HTTP/1.0 header" + While.readingHead,
        note: "ngx_http_proxy_process_status_line relays the raw bytes as an HTTP/0.9 body; $upstream_status is 200")

    /// Seen with 1.22.1: with proxy_buffering on, the head waits for the first body bytes.
    private static let unflushedHead =
        "when the first body bytes are bad, nginx (proxy_buffering on) has not written the head yet and the client gets no response at all"

    private static let verifyNote =
        "only with proxy_ssl_verify on (off by default, then any certificate passes); nginx completes the handshake, "
        + "then closes without an alert and tries the next peer (tls.closed_after_handshake)"

    /// nginx 1.22's line for an `h2.frame.size_error` whose value is `PING length 7` or `SETTINGS ACK
    /// length 6` (ngx_http_grpc_module.c: `upstream sent ping frame with invalid length: 7`).
    static func frameSizeLine(_ value: String?) -> String {
        let words = (value ?? "").split(separator: " ")
        guard let type = words.first, let length = words.last, words.count >= 3 else {
            return "upstream sent … frame with invalid length: …"
        }
        let frame = String(type.lowercased().map { $0 == "_" ? " " : $0 })
        if words.contains("ACK") { return "upstream sent settings frame with ack flag and non-zero length: \(length)" }
        return "upstream sent \(frame) frame with invalid length: \(length)"
    }

    /// A name `resolver` could not resolve: nginx answers 502 without connecting.
    private static func unresolved(_ error: String, _ capture: String) -> GatewayReaction {
        .rejects(502, "… could not be resolved (\(error))",
            note: "no upstream connection; seen with 1.22.1 (captures/dns/nginx-\(capture).pcap)")
    }

    private static func invalidHeader(_ quoted: String, note: String? = nil) -> GatewayReaction {
        .rejects(502, "upstream sent invalid header: \"\(quoted)...\"" + While.readingHead, note: note)
    }

    /// nginx's `sw_start`/`sw_*_digit` shape of a version: `HTTP/`, a major of 1-3 digits not
    /// starting with 0, `.`, a minor of 1-3 digits (`HTTP/1.10` passes).
    static func acceptsVersion(_ value: String) -> Bool {
        guard value.hasPrefix("HTTP/") else { return false }
        let parts = value.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = parts.first, let minor = parts.last else { return false }
        let digits: (Substring) -> Bool = { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        return digits(major) && digits(minor) && major.first != "0"
    }

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI (fastcgi_pass; ngx_http_fastcgi_module.c)
        case .fcgiStderrFatal:
            return .rejects(500, "FastCGI sent in stderr: \"PHP message: PHP Fatal error:  …\"" + While.readingHead,
                note: "the stderr text is logged at error level (the trailing CR, LF, dots and spaces cut); the client gets the application's Status: 500")
        case .fcgiStderrWarning:
            return .accepts("FastCGI sent in stderr: \"…\"" + While.readingHead, note: "logged at error level; the response passes")
        case .fcgiStatusInvalid:
            if let value = context.value, value.count >= 3, value.prefix(3).allSatisfy({ $0.isASCII && $0.isNumber }) {
                return .accepts(note: "nginx reads the first three bytes as the code (ngx_atoi(value, 3)), so \(value) passes")
            }
            return .rejects(502, "upstream sent invalid status \"\(context.value ?? "…")\"" + While.readingHead)
        case .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn:
            return .rejects(502, "upstream sent unexpected FastCGI record: 3" + While.readingHead,
                note: "nginx does not read protocolStatus: an FCGI_END_REQUEST before the CGI head is an unexpected record; after a head the response passes")
        case .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return .rejects(502, "upstream sent unexpected FastCGI record: 3" + While.readingHead,
                note: "seen with 1.22.1 (captures/fastcgi/nginx-end-before-stdout.pcap)")
        case .fcgiRecordBadVersion:
            return .rejects(502, "upstream sent unsupported FastCGI protocol version: \(context.value ?? "…")" + While.readingHead)
        case .fcgiRecordTruncated:
            return .rejects(502, "upstream prematurely closed connection" + While.readingHead,
                note: "a record cut before the CGI head ended; after it the body is cut: upstream prematurely closed FastCGI stdout" + While.readingBody)
        case .fcgiRecordUnexpected:
            switch context.value {
            case "3"?:
                return .rejects(502, "upstream sent unexpected FastCGI record: 3" + While.readingHead)
            case "6"?:
                return .rejects(502, "upstream prematurely closed FastCGI stdout" + While.readingHead)
            case let value? where value.hasPrefix("request id"):
                // nginx sends request id 1 and checks the id's high byte, then its low byte
                // (ngx_http_fastcgi_process_record), naming the first that differs.
                let id = Int(value.dropFirst("request id ".count)) ?? 1
                let text = id >> 8 != 0 ? "high byte: \(id >> 8)" : "low byte: \(id & 0xff)"
                return .rejects(502, "upstream sent unexpected FastCGI request id \(text)" + While.readingHead,
                    note: "nginx sends request id 1 and takes no other (seen: captures/fastcgi/nginx-wrong-request-id.pcap)")
            default:
                return .rejects(502, "upstream sent invalid FastCGI record type: \(context.value ?? "…")" + While.readingHead)
            }
        case .fcgiPoolExhausted:
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.readingHead,
                note: "fastcgi_read_timeout (60 s by default); nginx logs nothing about the pool, php-fpm logs WARNING: [pool …] server reached pm.max_children setting")
        case .protoHTTPResponseToFCGI:
            return .rejects(502, "upstream sent unsupported FastCGI protocol version: 72" + While.readingHead, note: "72 is \"H\", the first byte of HTTP/1.1")
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        // TCP (taxonomy 2.A)
        case .tcpConnectRefused:
            return .rejects(502, "connect() failed (111: Connection refused)" + While.connecting,
                note: "an ICMP error gives (113: No route to host) or (101: Network is unreachable); nginx first tries the next peer (proxy_next_upstream error)")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(502, "connect() failed (113: No route to host)" + While.connecting,
                note: "(101: Network is unreachable) for an ICMP network unreachable; nginx first tries the next peer (proxy_next_upstream error)")
        case .tcpConnectProhibited:
            return .rejects(502, "connect() failed (\(context.value ?? "113: No route to host"))" + While.connecting,
                note: "a firewall's REJECT: icmp-port-unreachable reads (111: Connection refused), as a closed port does; icmp-admin-prohibited (113: No route to host)")
        case .tcpConnectTimeout:
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.connecting)
        case .tcpRSTBeforeResponse:
            let failure = GatewayReaction.rejects(502, "recv() failed (104: Connection reset by peer)" + While.readingHead,
                note: "while the request was still going out: writev() failed (104 or 32: Broken pipe) while sending request to upstream")
            return context.reusedConnection ? Self.race(failure, context) : failure
        case .tcpFINBeforeResponse, .tcpFINMidHeaders:
            let failure = GatewayReaction.rejects(502, "upstream prematurely closed connection" + While.readingHead)
            return context.reusedConnection && code.cause == .tcpFINBeforeResponse ? Self.race(failure, context) : failure
        case .tcpRSTMidBody where context.value == "http2":
            // An HTTP/2 stream reset after its head (grpc_pass), or the connection reset inside DATA.
            return .rejects(nil, "upstream rejected request with error …" + While.readingBody,
                note: "… is the RST_STREAM's error code (seen with 1.22.1: 2, the client's stream reset after the head); a connection closed inside the body logs upstream prematurely closed connection")
        case .tcpFINMidBody:
            return .rejects(nil, "upstream prematurely closed connection" + While.readingBody)
        case .tcpRSTMidBody:
            if context.isFastCGI {
                // The FastCGI module reads the body through the event pipe's chains (seen with
                // 1.22.1, captures/fastcgi/nginx-killed-mid-body.pcap).
                return .rejects(nil, "readv() failed (104: Connection reset by peer)" + While.readingBody)
            }
            return .rejects(nil, "recv() failed (104: Connection reset by peer)" + While.readingBody)
        case .tcpKeepaliveRace:
            return Self.race(.rejects(502, "upstream prematurely closed connection" + While.readingHead,
                note: "or recv() failed (104: Connection reset by peer), or writev()/send() failed (32: Broken pipe) while sending request to upstream"), context)
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "upstream timed out (110: Connection timed out)" + While.readingBody)
            }
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.readingHead,
                note: "proxy_read_timeout, 60 s by default")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context), seen: "seen with 1.22.1: the request path (captures/nginx/tcp-mtu-blackhole-request.pcap) and the response path (tcp-mtu-blackhole-response.pcap) both end in proxy_read_timeout")
        case .tcpSendTimeout:
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.sending,
                note: "proxy_send_timeout, 60 s by default")

        // Protocol mismatch (taxonomy 2.B)
        case .protoTLSToPlainPort:
            return .rejects(502, "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)" + While.handshaking,
                note: "OpenSSL 1.1 spells it error:1408F10B:SSL routines:ssl3_get_record:wrong version number")
        case .protoPlainToTLSPort, .protoH2ResponseToH1, .protoNonHTTPResponse:
            return Self.http09
        case .protoH2PrefaceToH1:
            return .rejects(502, "", note: "not verified: nginx speaks HTTP/1.x to upstreams unless configured for HTTP/2, and no log text was read")
        case .protoServerSpeaksFirst:
            // On a plain-HTTP upstream nginx sends its request and reads the early bytes as the
            // response (seen with 1.22.1: an SMTP-like banner was relayed as HTTP/0.9). The 502
            // "prematurely sent response" applies only before a TLS handshake.
            if let value = context.value, value.hasPrefix("HTTP/") {
                return .accepts(note: "the early bytes are read as the response to the request")
            }
            return GatewayReaction(kind: .passesAsHTTP09, status: 200, detail: Self.http09.detail,
                note: "on a TLS upstream: upstream prematurely sent response" + While.readingHead)

        // Status line (taxonomy 2.C)
        case .statusLineBadVersion:
            if let value = context.value, Self.acceptsVersion(value) {
                return .accepts(note: "nginx reads a 1-3 digit major and minor, so \(value) passes")
            }
            return Self.http09
        case .statusLineBadCode:
            if GatewayRuleKit.isThreeDigitCode(context.value) {
                return .accepts(note: "nginx accepts any three digits (000-999) and several SP before the code")
            }
            return Self.http09
        case .statusLineNoReasonSP:
            return .accepts()
        case .lineBareLF:
            return .accepts(note: "in the status line and header lines only; chunk lines need CR LF (http.chunked.bare_lf)")
        case .lineBareCR:
            // The code is raised for the status line (a bare CR in a header is
            // http.header.value_bare_cr): ngx_http_parse_status_line fails, so HTTP/0.9 (seen with 1.22.1).
            return Self.http09

        // Header section (taxonomy 2.D)
        case .headerNameCTLOrSpace:
            return Self.invalidHeader("…\\x20")
        case .headerNameNonToken:
            return .accepts(note: "r->invalid_header is set, but the proxy module relays the line (nginx#899)")
        case .headerEmptyName:
            return Self.invalidHeader("\\x3a")
        case .headerMissingColon:
            return .accepts(note: "read as a header with an empty value when the line has no CTL or SP")
        case .headerValueNUL:
            return Self.invalidHeader("…\\x00")
        case .headerValueCTL:
            return .accepts()
        case .headerValueBareCR:
            return Self.invalidHeader("…\\x0d")
        case .headerObsFold:
            return Self.invalidHeader("\\x20", note: "\"\\x09...\" when the continuation line starts with HTAB")
        case .headerTooLarge:
            return .rejects(502, "upstream sent too big header" + While.readingHead,
                note: "the head must fit proxy_buffer_size, one page (4 KiB on x86-64) by default")
        case .headerTooMany:
            return .accepts(note: "nginx counts no headers; only proxy_buffer_size limits the head (http.header.too_large)")
        case .headerDuplicateSingleValue:
            return .accepts("upstream sent duplicate header line: \"…\", previous value: \"…\", ignored" + While.readingHead,
                note: "a warning; the second line is dropped")

        // Body framing (taxonomy 2.E)
        case .contentLengthInvalid:
            return .rejects(502, "upstream sent invalid \"Content-Length\" header: \"Content-Length: …\"" + While.readingHead,
                note: "anything but plain digits, including an identical list such as 5, 5 and a value after HTAB")
        case .contentLengthDuplicate:
            return .rejects(502, "upstream sent duplicate header line: \"Content-Length: …\", previous value: \"Content-Length: …\"" + While.readingHead,
                note: "even when the values are identical")
        case .transferEncodingWithContentLength:
            return .rejects(502, "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time" + While.readingHead)
        case .transferEncodingNotChunked:
            return .rejects(502, "upstream sent unknown \"Transfer-Encoding\": \"…\"" + While.readingHead,
                note: "only the exact value chunked is accepted")
        case .transferEncodingDuplicateOrEmpty:
            return .rejects(502, "upstream sent duplicate header line: \"Transfer-Encoding: …\", previous value: \"Transfer-Encoding: …\"" + While.readingHead,
                note: "an empty value or a list on one line (chunked, chunked) logs upstream sent unknown \"Transfer-Encoding\" instead")
        case .chunkedBadSize, .chunkedSizeOverflow, .chunkedBareLF, .chunkedDataLengthMismatch:
            return .rejects(nil, "upstream sent invalid chunked response" + While.readingBody, note: Self.unflushedHead)
        case .chunkedWhitespaceAfterSize:
            return .accepts(note: "SP and HTAB after the size enter the extension state")
        case .chunkedBadExtension:
            return .accepts(note: "nginx skips extension bytes up to CR; a bare LF there is an invalid chunked response (http.chunked.bare_lf)")
        case .chunkedBadTrailer:
            // With the default proxy_pass_trailers off, trailer lines are skipped to the empty
            // line unchecked (seen with 1.22.1: a trailer line without a colon passed, status 200).
            return .accepts(note: "with proxy_pass_trailers on: upstream sent invalid trailer: \"…\" or upstream sent too big trailers (a cut body)")
        case .bodyExtraAfterMessage:
            return .accepts("upstream sent more data than specified in \"Content-Length\" header" + While.readingBody,
                note: "a warning; the extra bytes are dropped and the connection is not kept alive; after a chunked body: upstream sent data after final chunk")
        case .bodyOnBodyless:
            return .accepts(note: "the body length is forced to 0; the keep-alive decision follows Connection: close")
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

        // TLS (taxonomy 2.F)
        case .tlsClosedAfterHandshake:
            return .rejects(502, Self.verifyError + "(…)" + While.handshaking,
                note: "the (N:text) is OpenSSL's verify error, e.g. (10:certificate has expired); or upstream SSL certificate does not match \"…\"")
        case .tlsCertExpired:
            return .rejects(502, Self.verifyError + "(10:certificate has expired)" + While.handshaking, note: Self.verifyNote)
        case .tlsCertNotYetValid:
            return .rejects(502, Self.verifyError + "(9:certificate is not yet valid)" + While.handshaking, note: Self.verifyNote)
        case .tlsCertUnknownCA, .tlsCertMissingIntermediate:
            return .rejects(502, Self.verifyError + "(20:unable to get local issuer certificate)" + While.handshaking,
                note: Self.verifyNote + "; also (21:unable to verify the first certificate) or (2:unable to get issuer certificate)")
        case .tlsCertSelfSigned:
            return .rejects(502, Self.verifyError + "(18:self-signed certificate)" + While.handshaking,
                note: Self.verifyNote + "; (19:self-signed certificate in certificate chain) for a chain; OpenSSL 1.1 spells it self signed")
        case .tlsCertNameMismatch:
            return .rejects(502, "upstream SSL certificate does not match \"…\"" + While.handshaking, note: Self.verifyNote)
        case .tlsCertRevoked:
            return .rejects(502, Self.verifyError + "(23:certificate revoked)" + While.handshaking,
                note: Self.verifyNote + ", and only with proxy_ssl_crl")
        case .tlsCertBadPurpose:
            return .rejects(502, Self.verifyError + "(26:unsuitable certificate purpose)" + While.handshaking,
                note: Self.verifyNote + "; the purpose check depends on the OpenSSL context (not traced)")
        case .tlsPeerClosedInHandshake:
            return .rejects(502, "peer closed connection in SSL handshake (104: Connection reset by peer)" + While.handshaking,
                note: "without the errno after a FIN")
        case .tlsHandshakeTimeout:
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.handshaking)
        case .tlsAlert where code.qualifier == "handshake_failure", .tlsCipherMismatch:
            return .rejects(502, "SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert handshake failure:SSL alert number 40)" + While.handshaking)
        case .tlsAlert where code.qualifier == "unrecognized_name":
            return .rejects(502, "SSL_do_handshake() failed (SSL: …:SSL routines::tlsv1 unrecognized name:SSL alert number 112)" + While.handshaking)
        case .tlsSNIMissing:
            return .rejects(502, "SSL_do_handshake() failed (…)" + While.handshaking,
                note: "usually alert 112 unrecognized_name or 40 handshake_failure; with a default certificate instead: upstream SSL certificate does not match \"…\" (proxy_ssl_server_name is off by default)")
        case .tlsVersionMismatch:
            return .rejects(502, "SSL_do_handshake() failed (…)" + While.handshaking,
                note: "the OpenSSL reason names the version failure (unsupported protocol, alert protocol version); exact text not verified")
        case .tlsClientCertRequired:
            return .rejects(502, "SSL_do_handshake() failed (SSL: …:SSL alert number 116)" + While.handshaking,
                note: "form per OpenSSL, not verified; a TLS 1.2 server may send alert 40 or 42 instead")
        case .tlsAlert:
            let number = code.qualifier.flatMap { GatewayRuleKit.alertNumbers[$0] }.map { ":SSL alert number \($0)" } ?? ""
            return .rejects(502, "SSL_do_handshake() failed (SSL: …\(number))" + While.handshaking)
        case .tlsCertInvalid, .tlsEarlyDataUnreadable, .tlsMalformed:
            return .rejects(502, "SSL_do_handshake() failed (…)" + While.handshaking)

        case .gatewayNoLiveUpstreams:
            return .rejects(502, "no live upstreams" + While.connecting,
                note: "every server of the upstream block is marked down for fail_timeout after max_fails failures (1 and 10 s by default)")

        // DNS: `proxy_pass` with a variable resolves the name at request time through `resolver`
        // (seen with 1.22.1, captures/dns/); a name in an upstream block is resolved once, at startup.
        case .dnsNXDOMAIN:
            return Self.unresolved("3: Host not found", "nxdomain")
        case .dnsSERVFAIL:
            return Self.unresolved("2: Server failure", "servfail")
        case .dnsREFUSED:
            return Self.unresolved("5: Operation refused", "refused")
        case .dnsTimeout:
            return .rejects(502, "… could not be resolved (110: Operation timed out)",
                note: "after resolver_timeout (30 s by default); no upstream connection; seen with 1.22.1 (captures/dns/nginx-timeout.pcap, resolver_timeout 2s)")
        case .dnsDrift:
            return .rejects(502, "connect() failed (…)" + While.connecting,
                note: "the connection's own failure, the new address in `upstream: \"http://…\"`; `resolver … valid=` overrides the TTL, and nginx re-resolves only after it expires, so requests go on reaching the old address for up to about twice that (seen with 1.22.1, captures/dns/nginx-drift.pcap)")

        // HTTP/2 and gRPC: grpc_pass (1.22; proxy_http_version 2 from 1.29.4 reads the same frames).
        case .protoH1ResponseToH2:
            return .rejects(502, "upstream sent too large http2 frame: 4740180" + While.readingHead,
                note: "4740180 is 0x485454, the bytes HTT of HTTP/1.1 read as a frame length (on h2c, and over TLS without ALPN h2)")
        case .tlsALPNNoH2 where context.value == "HTTP/1":
            return .rejects(502, "upstream sent too large http2 frame: 4740180" + While.readingHead,
                note: "grpcs:// does not check the ALPN the upstream selected and sends the preface anyway; an HTTP/1 upstream's HTTP/1.1 reads as a 4740180-byte frame")
        case .tlsALPNNoH2:
            return .accepts(note: "grpcs:// does not check the ALPN the upstream selected: an HTTP/2 upstream without ALPN works")
        case .h2RSTStreamBeforeResponse:
            return .rejects(502, "upstream rejected request with error \(GatewayRuleKit.http2ErrorNumber(context.value))" + While.readingHead,
                note: "the number is the RST_STREAM's HTTP/2 error code (7 = REFUSED_STREAM), not a gRPC status; when headers were already sent the client's stream is reset instead")
        case .h2Goaway:
            return .rejects(502, "upstream sent goaway with error \(GatewayRuleKit.http2ErrorNumber(context.value))" + While.readingHead,
                note: "only when the last-stream-id is below nginx's stream (ngx_http_grpc_module.c: the request is not retried)")
        case .h2FrameTooLarge:
            return .rejects(502, "upstream sent too large http2 frame: \(context.value ?? "…")" + While.readingHead,
                note: "nginx never raises SETTINGS_MAX_FRAME_SIZE above 16384")
        case .h2HPACKBadIndex:
            return .rejects(502, "upstream sent invalid http2 table index: \(context.value ?? "…")" + While.readingHead,
                note: "nginx advertises SETTINGS_HEADER_TABLE_SIZE 0, so any dynamic-table index is invalid")
        case .h2HPACKError where context.value == "InvalidState":
            // NIOHPACK's Huffman decoding error (RFC 7541 §5.2: padding longer than 7 bits).
            return .accepts(note: "nginx 1.22's Huffman decoder takes the padding and drops the field (seen with 1.22.1: 200)")
        case .h2HPACKError where context.value == "InvalidDynamicTableSize":
            return .rejects(502, "upstream sent invalid http2 dynamic table size update: …" + While.readingHead,
                note: "nginx advertises SETTINGS_HEADER_TABLE_SIZE 0: any larger size update is invalid (seen with 1.22.1)")
        case .h2HPACKError:
            return .rejects(502, "upstream sent invalid encoded header" + While.readingHead,
                note: "or upstream sent unexpected http2 frame: N for a frame between HEADERS and its CONTINUATION, or upstream sent invalid http2 dynamic table size update: N")
        case .h2StatusMissing:
            return .rejects(502, "upstream sent no :status header" + While.readingHead,
                note: "also when a field comes before :status; DATA before any head logs upstream sent unexpected http2 frame: 0")
        case .h2StatusDuplicate:
            return .rejects(502, "upstream sent duplicate :status header" + While.readingHead)
        case .h2StatusInvalid:
            return .rejects(502, "upstream sent invalid :status \"\(context.value ?? "…")\"" + While.readingHead)
        case .h2HeaderRequestPseudo:
            return .rejects(502, "upstream sent invalid header \"\(context.value ?? "…")\"" + While.readingHead,
                note: "in trailers: upstream sent invalid trailer \"…\" while reading upstream")
        case .h2HeaderUppercase:
            return .rejects(502, "upstream sent invalid header: \"\(context.value ?? "…")\"" + While.readingHead)
        case .h2HeaderConnectionSpecific:
            return .accepts(note: "nginx tolerates connection: and transfer-encoding: from an HTTP/2 upstream (seen with 1.22.1 grpc_pass)")
        case .h2ContentLengthMismatch:
            // The value is `content-length N, DATA M`: fewer bytes end the stream early.
            let numbers = (context.value ?? "").split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
            let shorter = numbers.count == 2 && numbers[1] < numbers[0]
            return .rejects(nil, (shorter ? "upstream prematurely closed stream" : "upstream sent response body larger than indicated content length") + While.readingHead,
                note: "while reading upstream instead when the DATA came after the read that held the head (seen with 1.22.1: the head's read)")
        case .h2StreamClosed:
            return .rejects(nil, "upstream sent frame for closed stream \(context.value ?? "…")" + While.readingHead,
                note: "the response went out, so the client's stream is cut (seen with 1.22.1: status 200, truncated); a stream nginx never opened: upstream sent frame for unknown stream N")
        case .h2TrailersNoEndStream:
            // The log ends "while reading response header from upstream" when the trailers came in
            // the read that held the head, "while reading upstream" after it (seen with 1.22.1: both).
            return .rejects(nil, "upstream sent trailer without end stream flag while reading …upstream",
                note: "while reading upstream instead when the trailers came after the read that held the head (seen with 1.22.1: the head's read)")
        case .h2SettingsBadStream:
            return .rejects(502, "upstream sent settings frame with non-zero stream id: \(context.value ?? "…")" + While.readingHead)
        case .h2FlowControl:
            return .rejects(nil, "upstream violated stream flow control, received … data frame with window …" + While.readingBody,
                note: "or upstream violated connection flow control")
        case .h2FrameSizeError where (context.value ?? "").hasPrefix("PRIORITY"):
            return .accepts(note: "ngx_http_grpc_module.c skips PRIORITY frames whatever their length (seen with 1.22.1: 200)")
        case .h2FrameSizeError:
            return .rejects(502, Self.frameSizeLine(context.value) + While.readingHead,
                note: "ngx_http_grpc_parse_settings, _ping, _rst_stream, _goaway, _window_update; after the response head the client's stream is reset instead")
        case .h2PushPromiseUnexpected:
            return .rejects(502, "upstream sent unexpected push promise frame" + While.readingHead,
                note: "nginx sends SETTINGS_ENABLE_PUSH 0 (seen with 1.22.1)")
        case .h2PrefaceBad:
            return .accepts(note: "ngx_http_grpc_module.c reads the upstream's frames in any order and does not require SETTINGS first (not verified)")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }

    /// Taxonomy §1.4: a cached connection's failure is retried without charging a try, unless the
    /// request is not idempotent (`proxy_next_upstream` lacks `non_idempotent`).
    private static func race(_ failure: GatewayReaction, _ context: RuleContext) -> GatewayReaction {
        // Seen with 1.22.1 on a reused connection that the upstream reset: GET retried (200),
        // POST and PATCH answered 502 with recv() failed (104: Connection reset by peer).
        if let method = context.method, ["POST", "LOCK", "PATCH"].contains(method) {
            return GatewayReaction(kind: .rejects, status: 502, detail: failure.detail,
                note: "\(method) is not idempotent, so nginx does not retry it (proxy_next_upstream lacks non_idempotent)")
        }
        return GatewayReaction(kind: .retries, status: nil, detail: failure.detail,
            note: "logged, then retried on another connection without charging a try (u->peer.cached)"
                + (context.method == nil ? "; a POST, LOCK or PATCH would get 502 instead" : ""))
    }


    // MARK: Releases that changed a rule

    /// nginx rules that changed. Debian 12 ships 1.22.1, so it predates the 1.23.0 framing checks.
    static let releaseChanges: [GatewayRuleChange] = {
        let changes1211 = "nginx CHANGES 1.21.1 (docs/xml/nginx/changes.xml): \"now nginx always returns an error if spaces or control characters are used in a header name\"; openresty#833 (\"\\x09...\" after upgrading from 1.19.9 to 1.21.4, commit 9ab4d368)"
        var changes: [GatewayRuleChange] = [
            GatewayRuleChange(
                family: "nginx", code: FindingCode.headerNameCTLOrSpace, since: "1.21.1",
                before: .accepts(note: "before 1.21.1 nginx marked the header invalid and went on (changed in 1.21.1)"),
                source: changes1211, verified: true),
            GatewayRuleChange(
                family: "nginx", code: FindingCode.headerObsFold, since: "1.21.1",
                before: .accepts(note: "before 1.21.1 a line starting with SP or HTAB was read as a header with an invalid name (changed in 1.21.1)"),
                source: changes1211, verified: true),
        ]
        // The quoted-bytes log format came with commit 7587778a (2021-06-28, taxonomy 2.D),
        // so in 1.21.1 (2021-07-06); these lines were rejected before it too.
        for code in [FindingCode.headerEmptyName, FindingCode.headerValueNUL, FindingCode.headerValueBareCR, FindingCode.lineBareCR] {
            changes.append(GatewayRuleChange(
                family: "nginx", code: code, since: "1.21.1",
                before: .rejects(502, "upstream sent invalid header" + While.readingHead,
                    note: "nginx before 1.21.1 did not quote the line"),
                source: "taxonomy 2.D: log format since nginx commit 7587778a (2021-06-28), first released in 1.21.1 (release inferred from the date)",
                verified: false))
        }
        // nginx 1.23.0 rewrote the upstream header handlers (header lines became linked lists);
        // ngx_http_upstream_process_content_length and _transfer_encoding gained their errors then.
        let changes1230 = "freenginx/nginx#14 (maintainer: \"Following fixes in 1.23.0\"; reporter: duplicate Transfer-Encoding passes in 1.22.1, 502 from 1.23.0); before 1.23.0 ngx_http_upstream_process_content_length stored ngx_atoof() unchecked and the Transfer-Encoding handler only searched for \"chunked\"; 1.23.0's CHANGES lists only \"header lines are represented as linked lists\""
        let before1230: [(FindingCode, String, Bool)] = [
            (FindingCode.contentLengthInvalid, "before 1.23.0 an unparsable length became -1 (unknown) and the body was read until close: Debian 12's 1.22.1 relays Content-Length: NaN", false),
            (FindingCode.contentLengthDuplicate, "before 1.23.0 the last Content-Length line was used", false),
            (FindingCode.transferEncodingWithContentLength, "before 1.23.0 a chunked response's Content-Length was ignored (siteproxy#75 shows the 502 in 1.23.1)", false),
            (FindingCode.transferEncodingNotChunked, "before 1.23.0 a value containing chunked was read as chunked, any other was read until close", false),
            (FindingCode.transferEncodingDuplicateOrEmpty, "before 1.23.0 repeated Transfer-Encoding lines passed", true),
        ]
        for (code, note, verified) in before1230 {
            changes.append(GatewayRuleChange(
                family: "nginx", code: code, since: "1.23.0",
                before: .accepts(note: note + " (changed in 1.23.0)"),
                source: changes1230 + (verified ? "" : "; this code's change is inferred from the same rewrite")
                    + "; Debian 12's 1.22.1 passes it (checked)",
                verified: verified))
        }
        changes.append(GatewayRuleChange(
            family: "nginx", code: FindingCode.chunkedBareLF, since: "1.29.4",
            before: .accepts(note: "before 1.29.4 nginx took a bare LF after the chunk size or the chunk data (changed in 1.29.4)"),
            source: "nginx/nginx#1016 \"Disabled bare LF in chunked transfer encoding\" (merged 2025-12-04); nginx-tests#100 dates that parser change (f405ef11f) to 1.29.4; Debian 12's 1.22.1 accepts both bare LFs (checked)",
            verified: true))
        return changes
    }()

}

extension GatewayModel where Self == NginxModel {
    /// nginx (`--gateway nginx`).
    public static var nginx: NginxModel { NginxModel() }
}
