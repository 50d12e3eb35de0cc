import CaptureModel

/// Apache httpd's mod_proxy_http (and mod_ssl for TLS upstreams) in front of HTTP/1.x upstreams.
///
/// Defaults assumed: the configuration in captures/apache/README.md, that is mpm_event,
/// `ProxyPass / http://HOST:PORT/ retry=0 connectiontimeout=2 timeout=5 keepalive=On`, one member
/// (no balancer), `ProxyBadHeader IsError`, `ResponseFieldSize` 8192, `HttpProtocolOptions Strict`,
/// `LogLevel warn` and the default `ErrorLogFormat`; for TLS upstreams `SSLProxyEngine on`,
/// `SSLProxyVerify require`, `SSLProxyCheckPeerName on`, `SSLProxyCheckPeerExpire on`. The detail
/// is the error_log's decisive line from its AH code on (`…` for what varies: addresses, paths);
/// the note names the lines that follow it and the source. Debian 12's 2.4.71 was run against the
/// scenarios in captures/apache/: a cell citing a capture was seen there, one citing httpd's
/// sources (2.4.x branch) was read, not run.
public struct ApacheModel: GatewayModel {
    public init() {}

    public var key: StaticString { "apache" }
    public var spokenName: String { "Apache httpd" }
    public var title: String { "Apache httpd (mod_proxy_http)" }
    public var releases: [String] { ["2.4"] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        lineBytes: 8191, readTimeout: 60, connectTimeout: 60,
        source: "httpd documentation: ResponseFieldSize 8192 (a line of 8191 bytes fits, ap_rgetline_core), ProxyTimeout and the connection timeout default to Timeout, 60 s; no head or field-count limit for responses")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "log", label: "error_log") }

    private static func seen(_ capture: String) -> String {
        "seen with 2.4.71 (captures/apache/\(capture).pcap)"
    }

    private static let statusLineError = "AH01102: error reading status line from remote server …:…"
    private static let readingFrom = "then AH00898: Error reading from remote server returned by …"
    private static let badHeader = "then AH01106: bad HTTP/1.1 header returned by … (…)"
    private static let cutBody = "AH01110: error reading response"

    /// Any TLS failure of the handshake mod_ssl makes on the first write: `ap_proxy_pass_brigade`
    /// answers 500 when the connection notes `SSL_connect_rv` = `err` (proxy_util.c).
    private static let handshakeFailed = "AH01084: pass request body failed to …:… (…)"
    private static let handshakeLines =
        "then AH00898: Error during SSL Handshake with remote server returned by … and AH01097: pass request body failed to …:… (…) from … (…); "
        + "at LogLevel ssl:info also AH01997: SSL handshake failed: sending 502, although the client gets 500"

    private static func verifyError(_ number: Int, _ text: String, _ source: String) -> GatewayReaction {
        .rejects(500, "AH02039: Certificate Verification: Error (\(number)): \(text)",
            note: "at [ssl:error]; mod_ssl sends the fatal alert in the clear inside the handshake, then logs AH01084: pass request body failed to …:… (…), "
                + "AH00898: Error during SSL Handshake with remote server returned by … and AH01097; " + source)
    }

    /// What mod_proxy_http does with a line that is no `HTTP/#.# ###*` status line: it relays the
    /// bytes as an HTTP/0.9 body with its own 200, and logs nothing.
    private static func http09(_ source: String) -> GatewayReaction {
        GatewayReaction(kind: .passesAsHTTP09, status: 200, detail: "",
            note: "the first line is no HTTP/#.# ###* status line, so mod_proxy_http relays the bytes as an HTTP/0.9 body with status 200 and logs nothing; " + source)
    }

    /// `apr_date_checkmask(line, "HTTP/#.# ###*")`: one digit each side of the dot.
    static func matchesVersionMask(_ version: String) -> Bool {
        let bytes = Array(version.utf8)
        guard bytes.count == 8, version.hasPrefix("HTTP/") else { return false }
        let isDigit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
        return isDigit(bytes[5]) && bytes[6] == UInt8(ascii: ".") && isDigit(bytes[7])
    }

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        if context.isFastCGI, let reaction = Self.fastCGI(code, context) { return reaction }
        switch code.cause {
        // FastCGI (mod_proxy_fcgi.c; the CGI head by ap_scan_script_header_err_brigade, util_script.c)
        case .fcgiStderrFatal:
            return .rejects(500, "AH01071: Got error 'PHP message: PHP Fatal error:  …'",
                note: "each FCGI_STDERR record is logged at error level; the client gets the application's Status: 500")
        case .fcgiStderrWarning:
            return .accepts("AH01071: Got error '…'", note: "logged at error level; the response passes")
        case .fcgiStatusInvalid:
            let digits = context.value.map { String($0.drop { $0 == " " }.prefix { $0.isASCII && $0.isNumber }) } ?? ""
            if let code = Int(digits), (100...599).contains(code) {
                return .accepts(note: "atoi reads the leading digits, so \(context.value ?? "…") passes as \(code)")
            }
            return .rejects(500, "Invalid status line from script '…': …", note: "the status is not a valid HTTP status (ap_is_HTTP_VALID_RESPONSE)")
        case .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn:
            return .accepts(note: "mod_proxy_fcgi does not read protocolStatus: FCGI_END_REQUEST ends the response, and with no CGI head the client gets 200 with an empty body")
        case .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return .accepts(note: "FCGI_END_REQUEST ends the response: with no CGI head the client gets 200 with an empty body")
        case .fcgiRecordBadVersion:
            return .rejects(503, "AH01068: Got bogus version \(context.value ?? "…")", note: "then AH01075: Error dispatching request to …")
        case .fcgiRecordTruncated:
            // The value is "<bytes that came> <bytes the record needed>": 8 for a cut header.
            if context.value?.split(separator: " ").last == "8" {
                return .rejects(503, "AH01067: Failed to read FastCGI header", note: "then AH01075: Error dispatching request to …")
            }
            return .rejects(503, "AH01075: Error dispatching request to …: (reading response body)",
                note: "logged with (70014)End of file found (seen with 2.4, captures/fastcgi/apache-truncated.pcap); a cut record header logs AH01067: Failed to read FastCGI header")
        case .fcgiRecordUnexpected:
            switch context.value {
            case "3"?, "6"?:
                return .accepts(note: "the end of FCGI_STDOUT or the FCGI_END_REQUEST ends the response: with no CGI head the client gets 200 with an empty body")
            case let value? where value.hasPrefix("request id"):
                return .rejects(503, "AH01069: Got bogus rid …, expected 1", note: "then AH01075: Error dispatching request to …")
            default:
                return .accepts("AH01072: Got bogus record \(context.value ?? "…")", note: "logged; the record is skipped")
            }
        case .fcgiPoolExhausted:
            return .rejects(504, "AH01075: Error dispatching request to …: (polling)",
                note: "ProxyPass timeout= (default: Timeout, 60 s); a poll that times out is answered 504 (mod_proxy_fcgi.c; not verified)")
        case .protoHTTPResponseToFCGI:
            return .rejects(503, "AH01068: Got bogus version 72", note: "then AH01075: Error dispatching request to …")
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        // TCP
        case .tcpConnectRefused:
            return .rejects(503, "AH00957: …: attempt to connect to …:… (…:…) failed",
                note: "the scheme is HTTP for mod_proxy_http, FCGI for mod_proxy_fcgi; logged with (111)Connection refused, then AH01114: HTTP: failed to make connection to backend: …; with the default retry=60 the worker is then disabled and the next minute's requests get 503 with no SYN (gateway.no_live_upstreams); " + Self.seen("refused"))
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(503, "AH00957: http: attempt to connect to …:… (…:…) failed", note: "logged with (113)No route to host, then AH01114")
        case .tcpConnectProhibited:
            return .rejects(503, "AH00957: http: attempt to connect to …:… (…:…) failed", note: "logged with (\((context.value ?? "113: No route to host").replacing(": ", with: ")"))), then AH01114")
        case .tcpConnectTimeout:
            return .rejects(503, "AH00957: http: attempt to connect to …:… (…:…) failed",
                note: "logged with (70007)The timeout specified has expired, then AH01114; connectiontimeout= (default: Timeout, 60 s); " + Self.seen("tcp-connect-timeout"))
        case .tcpRSTBeforeResponse:
            return .rejects(502, Self.statusLineError,
                note: "logged with (104)Connection reset by peer, \(Self.readingFrom); on a client keep-alive connection Apache instead closes the client connection without a response (mod_proxy_http.c, AH01104 at debug level; not verified); "
                    + Self.seen("tcp-rst-before-response") + " and captures/apache/proto-plain-to-tls-port.pcap")
        case .tcpFINBeforeResponse:
            return .rejects(502, Self.statusLineError,
                note: "logged with (20014)Internal error (specific information not available), \(Self.readingFrom); " + Self.seen("fin-before-response"))
        case .tcpFINMidHeaders:
            return .rejects(502, "AH10404: Error reading headers from backend",
                note: "logged with (70014)End of file found, at warn level, \(Self.badHeader); " + Self.seen("tcp-fin-mid-headers"))
        case .tcpFINMidBody:
            return .rejects(nil, Self.cutBody,
                note: "logged with (70008)Partial results are valid but processing is incomplete; the client has the 200 and gets a cut body; "
                    + Self.seen("tcp-fin-mid-body-cl") + " and captures/apache/tcp-fin-mid-body-chunked.pcap")
        case .tcpRSTMidBody:
            return .rejects(nil, Self.cutBody, note: "logged with (104)Connection reset by peer; " + Self.seen("tcp-rst-mid-body"))
        case .tcpKeepaliveRace:
            return .rejects(502, Self.statusLineError,
                note: "logged with (104)Connection reset by peer or (70014)End of file found; when the client's own connection is a keep-alive one Apache closes it without a response so that the client retries (mod_proxy_http.c, AH01104; not verified)")
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, Self.cutBody, note: "logged with (70007)The timeout specified has expired (mod_proxy_http.c; not verified)")
            }
            return .rejects(502, Self.statusLineError,
                note: "logged with (70007)The timeout specified has expired, \(Self.readingFrom); 502, not 504; ProxyPass timeout= (default: Timeout, 60 s); " + Self.seen("tcp-read-timeout"))
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(504, "AH01084: pass request body failed to …:… (…)",
                note: "logged with (70007)The timeout specified has expired, then AH01097; ap_proxy_pass_brigade answers 504 for a timeout (proxy_util.c; not verified)")

        // Protocol mismatch
        case .protoTLSToPlainPort:
            return .rejects(500, Self.handshakeFailed,
                note: "logged with (20014)Internal error (specific information not available), " + Self.handshakeLines + "; " + Self.seen("tls-to-plain-port"))
        case .protoPlainToTLSPort:
            return .rejects(502, Self.statusLineError,
                note: "the TLS server's alert has no line end, so the line never completes: logged with (70014)End of file found, \(Self.readingFrom); "
                    + Self.seen("tls-plain-to-tls-port-alert") + "; a server that resets instead gives tcp.rst.before_response")
        case .protoNonHTTPResponse:
            return Self.http09(Self.seen("proto-non-http-response"))
        case .protoServerSpeaksFirst:
            if let value = context.value, value.hasPrefix("HTTP/") {
                return .accepts(note: "the early bytes are read as the response to the request (mod_proxy_http.c; not verified)")
            }
            return Self.http09(Self.seen("proto-server-speaks-first") + " with an SSH banner")
        case .protoH2PrefaceToH1:
            return Self.http09("PRI * HTTP/2.0 is no HTTP/#.# ###* status line (mod_proxy_http.c; not verified)")
        case .protoH2ResponseToH1:
            return .rejects(502, Self.statusLineError,
                note: "not verified: binary HTTP/2 frames seldom hold a line end, so the status line fails at close or timeout; relayed as HTTP/0.9 with 200 when a LF comes first (mod_proxy_http.c)")

        // Status line
        case .statusLineBadVersion:
            guard let value = context.value, Self.matchesVersionMask(value) else {
                return Self.http09(Self.seen("http-status-line-bad-version") + " with HTTP/2 200 OK: the client got the whole response, status line included, as the body")
            }
            if value.hasPrefix("HTTP/1.") {
                return .accepts(note: "any HTTP/1.# passes the HTTP/#.# mask (mod_proxy_http.c; not verified)")
            }
            return .rejects(502, "",
                note: "a major version other than 1 in the HTTP/#.# mask: ap_proxyerror(502, Corrupt status line returned by remote server: …) (mod_proxy_http.c; not verified: the text goes to the client's error page, not to error_log)")
        case .statusLineBadCode:
            // The mask wants three digits right after one SP; atoi reads those three and the rest
            // becomes the reason phrase.
            if let value = context.value, value.first != " ", value.utf8.prefix(3).count == 3,
               value.utf8.prefix(3).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                return .accepts(note: "the first three digits are the status and the rest the reason phrase: HTTP/1.1 2000 OK reached the client as a 200, " + Self.seen("http-status-line-bad-code"))
            }
            return Self.http09("the status code is not three digits after one SP, so the HTTP/#.# ###* mask fails (mod_proxy_http.c; not verified); a code that starts with three digits passes (HTTP/1.1 2000 OK reached the client as a 200, "
                + Self.seen("http-status-line-bad-code") + ")")
        case .statusLineNoReasonSP:
            return .accepts(note: "ap_rgetline strips the trailing SP; mod_proxy_http adds it back (mod_proxy_http.c; not verified)")
        case .lineBareLF:
            return .accepts(note: "ap_rgetline ends a line at LF with or without CR (server/protocol.c; not verified)")
        case .lineBareCR:
            return Self.http09("a bare CR in the status line breaks the HTTP/#.# ###* mask only when it falls in it; otherwise the CR stays in the reason phrase (mod_proxy_http.c; not verified)")

        // Header section
        case .headerNameCTLOrSpace:
            return .rejects(500, "AH02429: Response header name '…' contains invalid characters, aborting request",
                note: "mod_proxy_http takes the bytes before the colon as the name; the header filter then refuses to send it (http_filters.c check_header, HttpProtocolOptions Strict), at [http:error]; " + Self.seen("http-header-name-ctl-or-space") + " with Content-Length : 5")
        case .headerNameNonToken:
            return .rejects(500, "AH02429: Response header name '…' contains invalid characters, aborting request",
                note: "http_filters.c check_header: the name must be a token under HttpProtocolOptions Strict (not verified)")
        case .headerEmptyName:
            return .rejects(500, "AH02428: Empty response header name, aborting request",
                note: "http_filters.c check_header (not verified)")
        case .headerMissingColon:
            return .rejects(502, "AH01106: bad HTTP/1.1 header returned by … (…)",
                note: "ProxyBadHeader IsError (the default); " + Self.seen("http-header-missing-colon"))
        case .headerValueNUL:
            return .rejects(502, "AH10404: Error reading headers from backend",
                note: "logged with (22)Invalid argument at warn level, \(Self.badHeader); " + Self.seen("http-header-value-nul"))
        case .headerValueCTL, .headerValueBareCR:
            return .rejects(500, "AH02430: Response header '…' value of '…' contains invalid characters, aborting request",
                note: "http_filters.c check_header: a control byte other than HTAB in a value (not verified)")
        case .headerObsFold:
            return .accepts(note: "the continuation is joined to the value (AP_GETLINE_FOLD); " + Self.seen("http-header-obs-fold"))
        case .headerTooLarge:
            // Apache has no limit on the head, only on each line: ap_rgetline_core keeps a byte of
            // the ResponseFieldSize buffer for the NUL, so 8191 bytes (without CR LF) fit.
            if let longest = GatewayRuleKit.longestFieldLine(context.value), longest <= Self.defaultLimits.lineBytes! {
                return .accepts(note: "Apache limits each field line, not the head: the longest line here is \(longest) bytes, within ResponseFieldSize (8192); a 20 KiB head of 500-byte lines passed, " + Self.seen("http-header-head-20k"))
            }
            return .rejects(502, "AH10124: header size is over the limit allowed by ResponseFieldSize (8192 bytes). Bad response header: '…[...]…'",
                note: "logged with (28)No space left on device at warn level, \(Self.badHeader); a field line of 8192 bytes or more (without CR LF) does not fit, whatever the head's size (a 20 KiB head of 500-byte lines passed, captures/apache/http-header-head-20k.pcap); "
                    + Self.seen("http-header-line-12k") + " with a 12 KiB line; the exact limit is read in server/protocol.c, not run")
        case .headerTooMany:
            return .accepts(note: "mod_proxy_http counts no response fields; " + Self.seen("http-header-too-many") + " with 150 lines")
        case .headerDuplicateSingleValue:
            return .accepts(note: "the lines are kept and relayed (mod_proxy_http.c process_proxy_header; not verified)")

        // Body framing
        case .contentLengthInvalid:
            return .rejects(502, Self.cutBody,
                note: "not verified: ap_http_filter refuses the length before any body byte, so the error bucket becomes a 502 (mod_proxy_http.c, http_filters.c); once the head was sent, a cut body")
        case .contentLengthDuplicate:
            return .accepts(note: "the first Content-Length is used: Content-Length 5 and 7 gave the client 5 bytes, " + Self.seen("http-cl-duplicate-differ"))
        case .transferEncodingWithContentLength:
            return .accepts(note: "Content-Length is dropped and the body read chunked (AH01107 at debug level), and the backend connection is closed; " + Self.seen("http-te-cl-both"))
        case .transferEncodingNotChunked:
            return .rejects(500, "",
                note: "http_filters.c check_headers: a Transfer-Encoding that does not end in chunked aborts the response with 500 and no log line (not verified)")
        case .transferEncodingDuplicateOrEmpty:
            return .accepts(note: "the lines are joined with a comma; chunked, chunked ends in chunked (not verified)")
        case .chunkedBadSize, .chunkedSizeOverflow, .chunkedBareLF, .chunkedDataLengthMismatch, .chunkedBadExtension, .chunkedBadTrailer:
            return .rejects(nil, Self.cutBody,
                note: "logged with (20014)Internal error (specific information not available); the client has the 200 and gets a cut body; "
                    + Self.seen("http-chunked-bad-size") + " for a bad size; the other chunk errors are ap_http_filter's too (not verified)")
        case .chunkedWhitespaceAfterSize:
            return .accepts(note: "ap_http_filter skips SP and HTAB after the size (http_filters.c; not verified)")
        case .bodyExtraAfterMessage:
            return .accepts(note: "the extra bytes are not read as part of this response (not verified)")
        case .bodyOnBodyless:
            return .accepts(note: "no body is read for HEAD, 204 and 304 (mod_proxy_http.c; not verified)")
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
            return .rejects(503, "AH00940: http: disabled connection for (…:…)",
                note: "the worker is in error state for retry= seconds (60 by default) after a connect failure; no SYN is sent (proxy_util.c; not verified: the captures use retry=0)")

        // DNS: mod_proxy resolves a worker's name when it first connects, and again only with
        // ProxyPass … disablereuse=On (or after the address TTL of 2.4.59+'s `addressttl=`).
        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout:
            return .rejects(502, "AH00898: DNS lookup failure for: … returned by …", note: "not verified")
        case .dnsDrift:
            return .rejects(503, "AH00957: http: attempt to connect to …:… (…:…) failed", note: "the connection's own failure at the new address, once the worker re-resolves (not verified)")

        // TLS
        case .tlsCertExpired, .tlsAlert where code.qualifier == "certificate_expired":
            return Self.verifyError(10, "certificate has expired",
                Self.seen("tls-cert-expired") + "; in TLS 1.3 the alert is certificate_expired, captures/apache/tls-cert-expired-1.3.pcap")
        case .tlsCertNotYetValid:
            return Self.verifyError(9, "certificate is not yet valid", "ssl_engine_kernel.c (not verified)")
        case .tlsCertUnknownCA, .tlsAlert where code.qualifier == "unknown_ca":
            return Self.verifyError(20, "unable to get local issuer certificate", Self.seen("tls-cert-unknown-ca"))
        case .tlsCertMissingIntermediate:
            return Self.verifyError(20, "unable to get local issuer certificate", "ssl_engine_kernel.c; (21): unable to verify the first certificate for a leaf alone (not verified)")
        case .tlsCertSelfSigned:
            return Self.verifyError(18, "self-signed certificate", Self.seen("tls-cert-self-signed"))
        case .tlsCertRevoked:
            return Self.verifyError(23, "certificate revoked", "only with SSLProxyCARevocationFile (not verified)")
        case .tlsCertBadPurpose:
            return Self.verifyError(26, "unsupported certificate purpose", "not verified")
        case .tlsCertNameMismatch:
            return .rejects(500, Self.handshakeFailed,
                note: "the handshake completes and Apache closes without an alert; at LogLevel warn only AH01084, AH00898 and AH01097; with ssl:info also AH02411: SSL Proxy: Peer certificate does not match for hostname …; " + Self.seen("tls-cert-name-mismatch"))
        case .tlsClosedAfterHandshake:
            return .rejects(500, Self.handshakeFailed,
                note: "a certificate Apache refused after the handshake (the name check, SSLProxyCheckPeerName); " + Self.handshakeLines + "; as captures/apache/tls-cert-name-mismatch.pcap")
        case .tlsAlert, .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake, .tlsHandshakeTimeout,
            .tlsClientCertRequired, .tlsCertInvalid, .tlsMalformed:
            return .rejects(500, Self.handshakeFailed,
                note: Self.handshakeLines + "; any handshake failure is a 500 (proxy_util.c ap_proxy_pass_brigade, SSL_connect_rv; not verified for this code)")
        case .tlsEarlyDataUnreadable:
            return .accepts(note: "a capture fact: the key log lacks the early-data secret")

        // HTTP/2 and gRPC: mod_proxy_http (mod_proxy_http2 is another module, not modelled) speaks only HTTP/1 to its upstreams.
        case .protoH1ResponseToH2, .tlsALPNNoH2, .h2RSTStreamBeforeResponse, .h2Goaway, .h2FrameTooLarge, .h2HPACKBadIndex, .h2HPACKError,
            .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase,
            .h2HeaderConnectionSpecific, .h2ContentLengthMismatch, .h2StreamClosed, .h2TrailersNoEndStream, .h2SettingsBadStream,
            .h2FlowControl, .h2PrefaceBad, .h2FrameSizeError, .h2PushPromiseUnexpected, .grpcStatus:
            return GatewayRuleKit.http1Only("mod_proxy_http (mod_proxy_http2 is another module, not modelled)")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }

    /// mod_proxy_http reads the body with a non-blocking read first: a chunk error in bytes that
    /// came with the head fails before the head is sent, so the error bucket becomes a 502.
    public func settle(_ reaction: GatewayReaction, code: FindingCode, context: RuleContext) -> GatewayReaction {
        guard context.arrivedWithHead, reaction.kind == .rejects, reaction.status == nil,
              [.chunkedBadSize, .chunkedSizeOverflow, .chunkedBareLF, .chunkedDataLengthMismatch, .chunkedBadExtension].contains(code.cause)
        else { return reaction }
        var settled = reaction
        settled.status = 502
        settled.note = "the bad chunk came with the head, so it fails before the head is sent and the client gets 502 (mod_proxy_http.c: ap_proxy_backend_broke's error bucket; not verified)"
        return settled
    }
}

extension GatewayModel where Self == ApacheModel {
    /// Apache httpd (`--gateway apache`).
    public static var apache: ApacheModel { ApacheModel() }
}

extension ApacheModel {
    /// mod_proxy_fcgi's own texts and statuses for the connection codes, where they differ from
    /// mod_proxy_http's (mod_proxy_fcgi.c: dispatch, proxy_fcgi_handler); nil where they do not.
    static func fastCGI(_ code: FindingCode, _ context: RuleContext) -> GatewayReaction? {
        switch code.cause {
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders, .tcpKeepaliveRace:
            return .rejects(503, "AH01067: Failed to read FastCGI header",
                note: "then AH01075: Error dispatching request to …; a 503, not a 502 (seen with 2.4, captures/fastcgi/apache-killed-before-output.pcap)")
        case .tcpRSTMidBody, .tcpFINMidBody:
            return .rejects(nil, "AH01067: Failed to read FastCGI header",
                note: "the client has the head and gets a cut body (seen with 2.4, captures/fastcgi/apache-killed-mid-body.pcap)")
        case .tcpReadTimeout:
            return .rejects(context.phase == .responseBody ? nil : 504, "AH01075: Error dispatching request to …: (polling)",
                note: "logged with (70007)The timeout specified has expired; ProxyPass timeout= (seen with 2.4, captures/fastcgi/apache-read-timeout.pcap)")
        default:
            return nil
        }
    }
}

