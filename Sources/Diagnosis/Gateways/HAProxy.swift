import CaptureModel

/// HAProxy in `mode http` in front of HTTP/1.x servers (taxonomy: H-H1, H-H1H, H-HTX, H-MUX,
/// H-ANA, H-DOC).
///
/// Defaults assumed: strict parsing (no `option accept-unsafe-violations-in-http-response`,
/// spelled `accept-invalid-http-response` before 3.0), `ssl-server-verify required`,
/// `http-reuse safe`. The newest behaviour is 3.5-dev5's; Debian 12's 2.6.12 was run against
/// crafted upstream responses to check the rules for it. The detail is the termination state.
public struct HAProxyModel: GatewayModel {
    public init() {}

    public var key: StaticString { "haproxy" }
    public var spokenName: String { "haproxy" }
    public var title: String { "HAProxy (mode http)" }
    /// Ubuntu 20.04 ships 2.0; the taxonomy read 3.5-dev5.
    public var releases: [String] { (0...9).map { "2.\($0)" } + (0...5).map { "3.\($0)" } }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(
        headBytes: 16384 - 1024, fieldCount: 100,
        source: "tune.bufsize 16384 less tune.maxrewrite 1024, counted as HTX (measured with 2.6.12); tune.http.maxhdr 101 with the start line; timeout server and timeout connect have no default")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var changes: [GatewayRuleChange] { Self.releaseChanges }
    public var detail: GatewayDetail { GatewayDetail(key: "termination", label: "termination state") }
    public var isAlwaysReported: Bool { true }
    public var chainErrorPick: ChainErrorPick { .firstBeforeName }


    private static let badHead = GatewayReaction(kind: .rejects, status: 502, detail: "PH")

    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        switch code.cause {
        // FastCGI (use-fcgi-app; mux_fcgi.c). Not verified against a release.
        case .fcgiStderrFatal:
            return .rejects(500, "", note: "the application's Status: 500 is relayed; FCGI_STDERR goes to the fcgi-app's log-stderr target when set (not verified)")
        case .fcgiStderrWarning:
            return .accepts(note: "FCGI_STDERR goes to the fcgi-app's log-stderr target when set (not verified)")
        case .fcgiStatusInvalid, .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .protoHTTPResponseToFCGI,
             .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return .rejects(502, "SH", note: "mux_fcgi treats a malformed record or CGI head as an error of the server side (not verified)")
        case .fcgiEndRequestOverloaded, .fcgiEndRequestCantMpxConn:
            return .rejects(503, "SH", note: "mux_fcgi reads protocolStatus: a refused request is an error of the server side (not verified)")
        case .fcgiPoolExhausted:
            return .rejects(504, "sH", note: "timeout server (not verified)")
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return .rejects(503, "SC", note: "after the configured retries (http_return_srv_error: STRM_ET_CONN_ERR)")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return .rejects(503, "sC", note: "2.6.12 does not take the ICMP host unreachable: its socket sends the SYN again and the request waits for timeout connect (seen: captures/haproxy/tcp-connect-icmp-host-unreachable.haproxy.pcap)")
        case .tcpConnectProhibited:
            return .rejects(503, "SC", note: "a Layer4 connection problem (Connection refused or No route to host), after the configured retries")
        case .tcpConnectTimeout:
            return .rejects(503, "sC")
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse:
            return context.reusedConnection ? Self.race : .rejects(502, "SH")
        case .tcpFINMidHeaders:
            return .rejects(502, "SH", note: "the taxonomy leaves SH against PH open for a close inside the head")
        case .tcpFINMidBody, .tcpRSTMidBody:
            return .rejects(nil, "SD", note: "the client connection is aborted")
        case .tcpKeepaliveRace:
            return Self.race
        case .tcpReadTimeout:
            if context.phase == .responseBody {
                return .rejects(nil, "sD", note: "inferred from the sH/SD states; not traced")
            }
            return .rejects(504, "sH", note: "timeout server")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpSendTimeout:
            return .rejects(504, "sH", note: "not traced: sH or sC class")

        case .protoTLSToPlainPort:
            return .rejects(503, "SC", note: "SSL handshake failure (CO_ER_SSL_HANDSHAKE)")
        case .protoPlainToTLSPort, .protoH2ResponseToH1:
            return Self.badHead
        case .protoNonHTTPResponse:
            // Bytes, not Characters: "\r\n" is one Character.
            if let value = context.value {
                let rest = value.utf8.drop { $0 == 0x0D || $0 == 0x0A }
                if rest.count < value.utf8.count, rest.starts(with: "HTTP/".utf8) {
                    return .accepts(note: "HAProxy skips empty lines before the status line (H1_MSG_RPBEFORE)")
                }
            }
            return Self.badHead
        case .protoH2PrefaceToH1:
            return .rejects(502, "SH", note: "not verified: HAProxy sends the preface only to servers with proto h2")
        case .protoServerSpeaksFirst:
            // On a plain-HTTP server HAProxy reads the early bytes as the response (seen with
            // 2.6.12: a banner that is not HTTP is 502 PH). On a TLS server they break the handshake.
            if let value = context.value, value.hasPrefix("HTTP/") {
                return .accepts(note: "the early bytes are read as the response")
            }
            return .rejects(502, "PH", note: "on a TLS server the early bytes break the handshake instead (503 SC, not verified)")

        case .statusLineBadVersion:
            return .rejects(502, "PH", note: "the version must be exactly HTTP/DIGIT.DIGIT (2.6.12 rejects HTTP/1.10 and http/1.1 too); relaxed mode (accept-unsafe-violations-in-http-response) accepts any name and multi-digit versions")
        case .statusLineBadCode:
            if GatewayRuleKit.isThreeDigitCode(context.value) {
                return .accepts(note: "three digits pass, whatever the range (2.6.12 relays 600)")
            }
            return .rejects(502, "PH", note: "relaxed mode accepts more than three digits when the value fits 16 bits")
        case .statusLineNoReasonSP, .lineBareLF:
            return .accepts()
        case .lineBareCR:
            return Self.badHead

        case .headerNameCTLOrSpace, .headerNameNonToken, .headerEmptyName, .headerMissingColon, .headerValueNUL, .headerValueBareCR:
            return Self.badHead
        case .headerValueCTL:
            return .accepts(note: "HAProxy checks only NUL, CR and LF in values")
        case .headerObsFold:
            return .accepts(note: "unfolded: the CR, LF and HTAB become SP (H1_MSG_HDR_L2_LWS)")
        case .headerTooLarge:
            // context.value carries the head's size and what it takes in HAProxy's HTX buffer.
            let sizes = (context.value ?? "").split(separator: " ").compactMap { Int($0) }
            let needed = sizes.count > 1 ? sizes[1] : sizes.first
            if let needed, needed <= Self.defaultLimits.headBytes! {
                return .accepts(note: "it takes \(needed) bytes of HTX, within tune.bufsize (16384) less tune.maxrewrite (1024) (measured with 2.6.12)")
            }
            return .rejects(502, "PH", note: "the head must fit tune.bufsize (16384) less tune.maxrewrite (1024) as HTX: each field's name and value plus 8 bytes, and 85 bytes more with the status line (measured with 2.6.12: a 15153-byte head of 32 fields passed, 15154 did not); show errors reports the end of the head, or 16320 when the head does not fit the buffer")
        case .headerTooMany:
            if let count = context.value.flatMap({ Int($0) }), count <= Self.defaultLimits.fieldCount! {
                return .accepts(note: "\(count) fields fit tune.http.maxhdr (101 with the start line)")
            }
            return .rejects(502, "PH", note: "tune.http.maxhdr, 101 by default: 100 fields and the end of the head (measured with 2.6.12: 100 fields pass, 101 do not)")
        case .headerDuplicateSingleValue:
            return .accepts()

        case .contentLengthInvalid:
            if let value = context.value, GatewayRuleKit.isIdenticalLengthList(value) {
                return .accepts(note: "an identical list is merged into one length")
            }
            return .rejects(502, "PH", note: "non-digit, empty, trailing comma, overflow or differing values; an identical list such as 5, 5 passes")
        case .contentLengthDuplicate:
            if let value = context.value, !GatewayRuleKit.isIdenticalLengthList(value) {
                return .rejects(502, "PH", note: "the Content-Length lines differ")
            }
            return .accepts(note: "identical lines are merged; differing ones are 502 PH")
        case .transferEncodingWithContentLength:
            return .accepts(note: "Transfer-Encoding wins, Content-Length is removed and the server connection closes after the response (unless h1-do-not-close-on-insecure-transfer-encoding)")
        case .transferEncodingNotChunked:
            return .rejects(502, "PH", note: "any coding but chunked in a response (H1_MF_TE_OTHER)")
        case .transferEncodingDuplicateOrEmpty:
            return .rejects(502, "PH", note: "h1_parse_xfer_enc_header (haproxy#2677: a doubled Transfer-Encoding: chunked is 502 PH)")
        case .chunkedBadExtension where context.value == Finding.missingChunkExtensionName:
            return .accepts(note: "not verified: h1_parse_chunk_size screens extension bytes (control bytes, backslashes, quotes), not the grammar, so a ';' with no name passes")
        case .chunkedBadSize, .chunkedBadExtension, .chunkedBareLF, .chunkedDataLengthMismatch, .chunkedBadTrailer:
            return .rejects(nil, "PD", note: "a 502 PH instead when the bad chunk came with the head (RuleContext.arrivedWithHead)")
        case .chunkedSizeOverflow:
            return .rejects(nil, "PD", note: "more than 13 hex digits (2^52-1) in the code; the documentation says 2 GB-1")
        case .chunkedWhitespaceAfterSize:
            return .accepts()
        case .bodyExtraAfterMessage:
            return .accepts(note: "not verified")
        case .bodyOnBodyless:
            return .accepts(note: "Transfer-Encoding and Content-Length are dropped for 1xx and 204; HEAD, 1xx, 204 and 304 are bodyless")
        // The PROXY protocol (issue 20): the upstream's 400 to a header it took for a request line
        // reaches the client as any response does; an upstream that expected a header and got a
        // request closes as if it had crashed before answering.
        case .protoProxyHeaderUnexpected where context.phase == .tls:
            // The header before the gateway's ClientHello (`ssl send-proxy-v2`): the upstream's TLS
            // stack reads it as a record and the handshake fails, as for plain HTTP on a TLS port.
            return self.reaction(to: .protoTLSToPlainPort, context: context)
        case .protoProxyHeaderUnexpected:
            return GatewayRuleKit.proxyHeaderRelayed("----")
        case .protoProxyHeaderMissing:
            return self.reaction(to: .tcpFINBeforeResponse, context: context)

        case .upstream5xx:
            return GatewayRuleKit.relayed(context, "----")

        // TLS (taxonomy 2.F)
        case .tlsClientCertRequired:
            // TLS 1.3: the server's certificate_required arrives after HAProxy finished its side
            // of the handshake and sent the request, so it fails reading the response (seen with
            // 2.6.12: 502 SH, ssl_bc_err "tlsv13 alert certificate required").
            if context.phase == .responseHead {
                return .rejects(502, "SH", note: "TLS 1.3: the alert came after the handshake; during a TLS 1.2 handshake it is 503 SC")
            }
            return Self.handshakeFailure
        case .tlsHandshakeTimeout:
            return .rejects(503, "sC", note: "Timeout during SSL handshake (CO_ER_SSL_TIMEOUT)")
        case .tlsPeerClosedInHandshake:
            return .rejects(503, "SC", note: "Connection closed during SSL handshake (CO_ER_SSL_EMPTY or CO_ER_SSL_ABORT)")
        case .tlsClosedAfterHandshake:
            return .rejects(503, "SC", note: "not HAProxy's pattern: it verifies inside the handshake and sends an alert")
        case .tlsSNIMissing:
            return .rejects(503, "SC", note: "HAProxy sends SNI only with the sni server keyword (not traced)")
        case .tlsCertExpired:
            return Self.verifyFailure(alert: "45 certificate_expired")
        case .tlsCertNotYetValid:
            return Self.verifyFailure(alert: "42 bad_certificate")
        case .tlsCertUnknownCA, .tlsCertMissingIntermediate, .tlsCertSelfSigned:
            return Self.verifyFailure(alert: "48 unknown_ca")
        case .tlsCertRevoked:
            return Self.verifyFailure(alert: "44 certificate_revoked")
        case .tlsCertBadPurpose:
            return Self.verifyFailure(alert: "43 unsupported_certificate")
        case .tlsCertNameMismatch:
            return .rejects(503, "SC", note: "Server presented an SSL certificate different from the expected one (CO_ER_SSL_MISMATCH_SNI); the alert is likely 46 certificate_unknown (inferred)")
        case .tlsAlert, .tlsVersionMismatch, .tlsCipherMismatch, .tlsCertInvalid, .tlsEarlyDataUnreadable, .tlsMalformed:
            return Self.handshakeFailure

        case .gatewayNoLiveUpstreams:
            return .rejects(503, "SC", note: "no server available: every server is DOWN by its health checks, and the log names <NOSRV>")

        // DNS: a server line with `resolvers` re-resolves its name at run time (resolvers.c);
        // none of this was captured.
        case .dnsNXDOMAIN:
            return .rejects(503, "SC", note: "after `hold nx` (30 s) the server is marked DOWN: \"Server …/… is going DOWN for maintenance (DNS NX status)\", then <NOSRV> (not verified)")
        case .dnsTimeout:
            return .rejects(503, "SC", note: "after `hold timeout` (30 s) the server is marked DOWN: \"Server …/… is going DOWN for maintenance (DNS timeout status)\", then <NOSRV> (not verified)")
        case .dnsREFUSED:
            return .rejects(503, "SC", note: "after `hold refused` (30 s) the server is marked DOWN: \"… (DNS refused status)\", then <NOSRV> (not verified)")
        case .dnsSERVFAIL:
            return .rejects(503, "SC", note: "after `hold other` (30 s) the server is marked DOWN: \"… (unspecified DNS error)\", then <NOSRV> (not verified)")
        case .dnsDrift:
            return .rejects(503, "SC", note: "HAProxy logs \"…/… changed its IP from … to … by …\" and then fails the connections to the new address (after retries) (not verified)")

        // HTTP/2 and gRPC: a server line with proto h2 (2.6.12 run against frame-scripted upstreams).
        case .protoH1ResponseToH2:
            return .rejects(503, "SC", note: "HAProxy treats an HTTP/1 answer to its preface as a connect failure: 503 after the retries")
        case .tlsALPNNoH2 where context.value == "HTTP/1":
            return .rejects(503, "SC", note: "not verified: with proto h2 forced, an HTTP/1 answer to the preface is a connect failure")
        case .tlsALPNNoH2:
            return .accepts(note: "with ssl alpn h2 and no ALPN selected, HAProxy speaks HTTP/1.1 to the server (seen with 2.6.12: 200, ----)")
        case .h2RSTStreamBeforeResponse, .h2HPACKBadIndex, .h2HPACKError, .h2SettingsBadStream, .h2FrameTooLarge:
            return Self.refusedStream
        case .h2FrameSizeError, .h2PushPromiseUnexpected:
            // h2_frame_check() (include/haproxy/h2.h): a length outside the frame type's bounds is a
            // FRAME_SIZE_ERROR, a PUSH_PROMISE (allowed in no direction) a PROTOCOL_ERROR; both
            // connection errors (h2c_error), as is a SETTINGS ACK with a payload (h2c_handle_settings).
            return Self.refusedStream
        case .h2StreamClosed:
            return .rejects(nil, "SD", note: "not verified: a frame on a closed stream after the response")
        case .h2PrefaceBad:
            return .rejects(503, "SC", note: "a first frame that is not SETTINGS fails the connection setup: 503 after the retries (seen with 2.6.12)")
        case .h2Goaway:
            return GatewayReaction(
                kind: .closesSilently, status: nil, detail: "",
                note: "the request refused by the GOAWAY is retried on a new server connection; when every retry is refused the client's stream is reset and nothing is logged (seen with 2.6.12: curl gave up after 5 tries)")
        case .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid, .h2HeaderRequestPseudo, .h2HeaderUppercase, .h2HeaderConnectionSpecific:
            return .rejects(502, "PH", note: "a fault inside the response header block (h2_make_htx_response); connection-specific fields are rejected too")
        case .h2ContentLengthMismatch, .h2TrailersNoEndStream:
            return .rejects(nil, "SD", note: "after the response head the stream is aborted; the log keeps the upstream's status")
        case .h2FlowControl:
            return .accepts(note: "HAProxy 2.6 takes DATA past the windows it advertised (seen with 2.6.12: 200, ----)")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "----")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }

    /// A reused connection's chunked error in the head's own read is still part of the head:
    /// HAProxy parses the whole read before it forwards the head (seen with 2.6.12), where nginx
    /// and Envoy have started the response by then.
    public func settle(_ reaction: GatewayReaction, code: FindingCode, context: RuleContext) -> GatewayReaction {
        let chunked: Set<RootCause> = [
            .chunkedBadSize, .chunkedSizeOverflow, .chunkedWhitespaceAfterSize, .chunkedBadExtension, .chunkedBareLF,
            .chunkedDataLengthMismatch, .chunkedBadTrailer,
        ]
        if reaction.kind == .rejects, context.arrivedWithHead, chunked.contains(code.cause) {
            return .rejects(502, "PH", note: "the bad chunk came in the same read as the head, which HAProxy had not forwarded yet (seen with 2.6.12)")
        }
        return reaction
    }

    /// 2.6.12 with proto h2: a stream that dies before its response gives the client no 502 and
    /// the log nothing; the client's stream is reset with REFUSED_STREAM so that it retries.
    private static let refusedStream = GatewayReaction(
        kind: .closesSilently, status: nil, detail: "",
        note: "no 502 and no log line: HAProxy resets the client's stream with REFUSED_STREAM (an HTTP/1 client sees its connection closed) and the client retries (curl retried 5 times: one request became 6 upstream streams) (seen with 2.6.12)")

    private static let handshakeFailure = GatewayReaction.rejects(503, "SC", note: "SSL handshake failure (CO_ER_SSL_HANDSHAKE)")

    private static func verifyFailure(alert: String) -> GatewayReaction {
        .rejects(503, "SC", note: "ssl-server-verify required: the handshake fails in the verify callback and OpenSSL sends alert \(alert)")
    }

    /// Taxonomy §1.4: `abort_keep_alive`, status 0 and no log, so that the client retries.
    private static let race = GatewayReaction(
        kind: .closesSilently, status: nil, detail: "abort_keep_alive",
        note: "the client connection is closed with no response and no log line, for the client to retry; this needs a request that is not the first on its client connection, which http-reuse safe guarantees for a reused server connection; with http-reuse always a client's first request gets 502 SH (both seen with 2.6.12); an l7 retry (retry-on) may retry instead")

    // MARK: Releases that changed a rule

    /// 2.6.12 logs a chunked parse error after the head as SD, where the taxonomy read PD (3.5-dev5
    /// documentation); when that changed is not known.
    private static let chunkLogChanges: [GatewayRuleChange] = [
        // bad_ext is not here: 2.6.12 accepts it outright (see haproxyChanges).
        FindingCode.chunkedBadSize, FindingCode.chunkedSizeOverflow,
        FindingCode.chunkedDataLengthMismatch, FindingCode.chunkedBadTrailer,
    ].map { code in
        GatewayRuleChange(
            family: "haproxy", code: code, since: "3.0",
            before: .rejects(nil, "SD", note: "2.6.12 cuts the body and logs SD; the release that logs PD is not known (3.0 assumed)"),
            source: "Debian 12's 2.6.12 logs SD for an invalid chunk size after the head (checked); the taxonomy read PD in the 3.5-dev5 documentation; release not found, 3.0 assumed",
            verified: false)
    }

    /// HAProxy rules that changed. Debian 12 ships 2.6.12, which was checked for each entry.
    static let releaseChanges: [GatewayRuleChange] = Self.chunkLogChanges + [
        GatewayRuleChange(
            family: "haproxy", code: FindingCode.headerValueNUL, since: "3.0",
            before: .accepts(note: "before 3.0 strict mode passed a NUL in a header value on to the client (changed in 3.0-dev3)"),
            source: "HAProxy CHANGELOG 3.0-dev3 (2024/02/10): \"BUG/MEDIUM: h1: always reject the NUL character in header values\"; Debian 12's 2.6.12 relays the NUL (checked)",
            verified: true),
        GatewayRuleChange(
            family: "haproxy", code: FindingCode.statusLineBadCode, since: "3.0",
            before: .accepts(note: "2.6.12 relays a status code of any digit count (2000, 20); the release that began rejecting it is not known (3.0 assumed)"),
            source: "Debian 12's 2.6.12 relays HTTP/1.1 2000 and HTTP/1.1 20 (checked); the taxonomy read 502 PH for more than three digits in 3.5-dev5; release not found, 3.0 assumed",
            verified: false),
        GatewayRuleChange(
            family: "haproxy", code: FindingCode.transferEncodingNotChunked, since: "2.5",
            before: .accepts(note: "before 2.5 a response with an unknown transfer coding passed (changed in 2.5)"),
            source: "haproxy#1301 (capflam, 2021-10: \"On 2.5-DEV only, messages with an unknown encoding ... are now rejected ... 502-Bad-Gateway ... will not be backported\"); haproxy#2623 shows 2.6.13 answering 502",
            verified: true),
        GatewayRuleChange(
            family: "haproxy", code: FindingCode.transferEncodingDuplicateOrEmpty, since: "2.5",
            before: .accepts(note: "before 2.5 repeated Transfer-Encoding lines passed (changed in 2.5, inferred)"),
            source: "haproxy#2721 (duplicate Transfer-Encoding passes in 2.2 and is 502 in 2.6); the 2.5 release is inferred from the Transfer-Encoding rework of haproxy#1301",
            verified: false),
        GatewayRuleChange(
            family: "haproxy", code: FindingCode.chunkedBadExtension, since: "3.0",
            before: .accepts(note: "2.6.12 passed a control byte in a chunk extension (checked); the release that began rejecting it is not known (3.0 assumed)"),
            source: "Debian 12's 2.6.12 relayed a chunk with extension \";\\x01\" and status 200 (captures/haproxy/http-chunked-bad-ext.haproxy.pcap); the taxonomy read PD in 3.5-dev5; release not found, 3.0 assumed",
            verified: false),
        GatewayRuleChange(
            family: "haproxy", code: FindingCode.chunkedBareLF, since: "3.0",
            before: .accepts(note: "before 3.0 HAProxy took a bare LF as the end of a chunk line (changed in 3.0-dev3)"),
            source: "HAProxy CHANGELOG 3.0-dev3 (2024/02/10): \"BUG/MEDIUM: h1: Don't support LF only to mark the end of a chunk size\", \"BUG/MINOR: h1: Don't support LF only at the end of chunks\"; as bug fixes they may be in later 2.x maintenance releases (not verified); Debian 12's 2.6.12 predates them",
            verified: true),
    ]
}

extension GatewayModel where Self == HAProxyModel {
    /// HAProxy (`--gateway haproxy`).
    public static var haproxy: HAProxyModel { HAProxyModel() }
}
