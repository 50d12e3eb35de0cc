/// Every root-cause and finding code edgescope knows: the one vocabulary of reports, gateway
/// models, summaries and docs.
///
/// A case's `code` is a contract with scripts and dashboards: codes are added, never renamed.
/// Gateway models switch over this enum with no `default:`, so a new case is a compile error
/// in every model until it says what its gateway does. `docs/root-causes.md` is generated from
/// `entry` (`edgescope codes --markdown`), and a test keeps the two equal.
public enum RootCause: Hashable, Sendable, CaseIterable {
    case none

    // TCP and connection (taxonomy 2.A)
    case tcpConnectRefused
    case tcpConnectTimeout
    case tcpConnectUnreachable
    case tcpConnectProhibited
    case tcpRSTBeforeResponse
    case tcpFINBeforeResponse
    case tcpFINMidHeaders
    case tcpFINMidBody
    case tcpRSTMidBody
    case tcpKeepaliveRace
    case tcpReadTimeout
    case tcpSendTimeout
    case tcpMTUBlackhole

    // Capture and reassembly
    case captureGap
    case captureTruncated
    case captureFileTruncated
    case tcpOverlapMismatch
    case tcpIdleEvicted
    case limitReassemblyBuffer
    case limitFlowTable
    case ipFragmented
    case tcpICMPFragNeeded

    // Protocol mismatch (taxonomy 2.B)
    case protoTLSToPlainPort
    case protoPlainToTLSPort
    case protoH2PrefaceToH1
    case protoH2ResponseToH1
    case protoNonHTTPResponse
    case protoServerSpeaksFirst
    case protoProxyHeaderUnexpected
    case protoProxyHeaderMissing
    case protoH1ResponseToH2
    case tlsALPNNoH2

    // HTTP/2 (RFC 9113) and gRPC
    case h2RSTStreamBeforeResponse
    case h2Goaway
    case h2FrameTooLarge
    case h2HPACKBadIndex
    case h2HPACKError
    case h2StatusMissing
    case h2StatusDuplicate
    case h2StatusInvalid
    case h2HeaderRequestPseudo
    case h2HeaderUppercase
    case h2HeaderConnectionSpecific
    case h2ContentLengthMismatch
    case h2StreamClosed
    case h2TrailersNoEndStream
    case h2SettingsBadStream
    case h2FlowControl
    case h2PrefaceBad
    case h2FrameSizeError
    case h2PushPromiseUnexpected
    /// A family: one code per gRPC status name (`grpc.status.unavailable`); `FindingCode.qualifier`
    /// holds the name.
    case grpcStatus
    case protoHTTPResponseToFCGI

    // Status line (taxonomy 2.C)
    case statusLineBadVersion
    case statusLineBadCode
    case statusLineNoReasonSP
    case lineBareLF
    case lineBareCR

    // Header section (taxonomy 2.D)
    case headerNameCTLOrSpace
    case headerNameNonToken
    case headerEmptyName
    case headerMissingColon
    case headerValueNUL
    case headerValueCTL
    case headerValueBareCR
    case headerObsFold
    case headerTooLarge
    case headerTooMany
    case headerDuplicateSingleValue

    // Body framing (taxonomy 2.E)
    case contentLengthInvalid
    case contentLengthDuplicate
    case transferEncodingWithContentLength
    case transferEncodingNotChunked
    case transferEncodingDuplicateOrEmpty
    case chunkedBadSize
    case chunkedSizeOverflow
    case chunkedWhitespaceAfterSize
    case chunkedBadExtension
    case chunkedBareLF
    case chunkedDataLengthMismatch
    case chunkedBadTrailer
    case bodyExtraAfterMessage
    case bodyOnBodyless

    // The upstream's own answer
    case upstream5xx

    // The gateway's own answers
    case gatewayNoLiveUpstreams

    // TLS (taxonomy 2.F)
    /// A family: one code per RFC 8446 alert description (`tls.alert.handshake_failure`);
    /// `FindingCode.qualifier` holds the description.
    case tlsAlert
    case tlsSNIMissing
    case tlsVersionMismatch
    case tlsCipherMismatch
    case tlsPeerClosedInHandshake
    case tlsHandshakeTimeout
    case tlsClientCertRequired
    case tlsEarlyDataUnreadable
    case tlsClosedAfterHandshake
    case tlsCertExpired
    case tlsCertNotYetValid
    case tlsCertUnknownCA
    case tlsCertMissingIntermediate
    case tlsCertSelfSigned
    case tlsCertNameMismatch
    case tlsCertRevoked
    case tlsCertBadPurpose
    case tlsCertInvalid
    case tlsMalformed

    // FastCGI (the upstream hop of php-fpm)
    case fcgiStderrFatal
    case fcgiStderrWarning
    case fcgiStatusInvalid
    case fcgiEndRequestOverloaded
    case fcgiEndRequestCantMpxConn
    case fcgiEndRequestBeforeStdout
    case fcgiEndRequestUnknownRole
    case fcgiRecordBadVersion
    case fcgiRecordTruncated
    case fcgiRecordUnexpected
    case fcgiPoolExhausted

    // DNS (the gateway resolving its upstream's name)
    case dnsNXDOMAIN
    case dnsSERVFAIL
    case dnsREFUSED
    case dnsTimeout
    case dnsDrift
}

/// Where in the stack a code belongs; also the section it is listed under.
public enum CodeLayer: String, Hashable, Sendable, CaseIterable {
    case connection = "TCP and connection"
    case capture = "Capture and reassembly"
    case protocolMismatch = "Protocol mismatch"
    case statusLine = "Status line (RFC 9112 §4)"
    case header = "Header section (RFC 9110 §5, RFC 9112 §5)"
    case framing = "Body framing (RFC 9112 §6, §7)"
    case upstream = "The upstream's own answer"
    case gateway = "The gateway's own answers"
    case tls = "TLS"
    case http2 = "HTTP/2 and gRPC (RFC 9113)"
    case fastCGI = "FastCGI (FastCGI 1.0, php-fpm)"
    case dns = "DNS (RFC 1035)"
    case healthy = "Healthy"
}

/// Whether a code can be a verdict's, or is only recorded beside one.
public enum CodeRole: String, Hashable, Sendable {
    /// A verdict can have it: it explains what the gateway's client saw.
    case rootCause = "root cause"
    /// A fact recorded on a connection, with its evidence, that does not by itself fail it.
    case finding
}

/// What the vocabulary says about one code.
public struct RootCauseEntry: Hashable, Sendable {
    /// The stable dotted code (`http.chunked.bad_size`); for a family, its pattern (`tls.alert.<description>`).
    public var code: String
    /// Its section.
    public var layer: CodeLayer
    /// Where in the exchange it happens; the first is the phase a verdict takes when nothing
    /// else is known.
    public var phases: [Phase]
    /// Root cause or finding.
    public var role: CodeRole
    /// How much it matters when a parser raises it, before a gateway model grades it.
    public var severity: Severity
    /// One line: what happened on the wire.
    public var meaning: String
    /// The rule it breaks or the section that defines it, or `nil` for facts of the capture.
    public var rfc: String?
    /// What the upstream did, as the predicate of "The upstream ADDR …": `refused the connection`.
    public var phrase: String
}

extension RootCause {
    /// The table row for this code.
    public var entry: RootCauseEntry {
        func row(
            _ code: String, _ layer: CodeLayer, _ phases: [Phase], _ role: CodeRole = .rootCause, _ severity: Severity = .fatal,
            meaning: String, rfc: String? = nil, phrase: String
        ) -> RootCauseEntry {
            RootCauseEntry(code: code, layer: layer, phases: phases, role: role, severity: severity, meaning: meaning, rfc: rfc, phrase: phrase)
        }
        let badHead = "sent a malformed header"
        let badChunk = "sent a malformed chunked body"
        let badStatus = "sent a malformed status line"
        let badProto = "spoke a protocol the gateway did not expect"
        let badCert = "presented a certificate the gateway rejects"
        let badTLS = "failed the TLS handshake"
        let notJudged = "could not be judged (bytes missing from the capture)"
        let fact = "was recorded with a capture or reassembly note"
        let h2Frame = "sent an HTTP/2 frame the gateway cannot accept"
        let h2Head = "sent a malformed HTTP/2 response head"
        let badRecord = "sent a malformed FastCGI record"
        switch self {
        case .none:
            return row("none", .healthy, [.idle], .rootCause, .lint, meaning: "nothing failed", phrase: "answered normally")

        case .tcpConnectRefused:
            return row("tcp.connect.refused", .connection, [.connect],
                meaning: "the gateway's SYN was answered by a RST (nothing listens on the port)", rfc: "RFC 9293 §3.5",
                phrase: "refused the connection")
        case .tcpConnectTimeout:
            return row("tcp.connect.timeout", .connection, [.connect],
                meaning: "the gateway's SYN (and its retransmissions) got no answer before the gateway gave up", rfc: "RFC 9293 §3.5",
                phrase: "never answered the connection attempt")
        case .tcpConnectUnreachable:
            return row("tcp.connect.unreachable", .connection, [.connect],
                meaning: "an ICMP host or network unreachable answered the gateway's SYN (nginx `(113: No route to host)`)",
                rfc: "RFC 792, RFC 4443 §3.1", phrase: "could not be reached")
        case .tcpConnectProhibited:
            return row("tcp.connect.prohibited", .connection, [.connect],
                meaning: "a firewall rejected the gateway's SYN with an ICMP error (administratively prohibited, or port unreachable where a closed port would send a RST)",
                rfc: "RFC 792, RFC 4443 §3.1", phrase: "was blocked by a firewall")
        case .tcpRSTBeforeResponse:
            return row("tcp.rst.before_response", .connection, [.responseHead],
                meaning: "the upstream reset the connection after the request, before any response byte", rfc: "RFC 9112 §9.6",
                phrase: "reset the connection before responding")
        case .tcpFINBeforeResponse:
            return row("tcp.fin.before_response", .connection, [.responseHead],
                meaning: "the upstream closed the connection after the request, before any response byte", rfc: "RFC 9112 §9.6",
                phrase: "closed the connection before responding")
        case .tcpFINMidHeaders:
            return row("tcp.fin.mid_headers", .connection, [.responseHead],
                meaning: "the upstream closed after part of the response head, before its empty line", rfc: "RFC 9112 §8",
                phrase: "closed the connection in the middle of the response head")
        case .tcpFINMidBody:
            return row("tcp.fin.mid_body", .connection, [.responseBody],
                meaning: "the upstream closed before the body its framing announced was complete", rfc: "RFC 9112 §8",
                phrase: "cut the response body short")
        case .tcpRSTMidBody:
            return row("tcp.rst.mid_body", .connection, [.responseBody],
                meaning: "the upstream reset the connection in the middle of the body", rfc: "RFC 9112 §8",
                phrase: "cut the response body short")
        case .tcpKeepaliveRace:
            return row("tcp.keepalive_race", .connection, [.request],
                meaning: "the upstream closed an idle keep-alive connection just as the gateway reused it for a new request",
                rfc: "RFC 9112 §9.5", phrase: "closed an idle keep-alive connection as the gateway reused it")
        case .tcpReadTimeout:
            return row("tcp.read_timeout", .connection, [.responseHead, .responseBody],
                meaning: "no response byte came before the gateway gave up and closed", rfc: "RFC 9110 §15.6.5",
                phrase: "did not answer in time")
        case .tcpSendTimeout:
            return row("tcp.send_timeout", .connection, [.request],
                meaning: "the upstream stopped taking the request (zero window or no ACKs)", rfc: "RFC 9293 §3.8.6",
                phrase: "stopped reading the request")

        case .tcpMTUBlackhole:
            return row("tcp.mtu_blackhole", .connection, [.request, .responseHead, .responseBody],
                meaning: "full-size segments were sent again and again without being acknowledged while small ones got through: a link on the path has a smaller MTU and path-MTU discovery cannot work (ICMP fragmentation needed dropped, or ignored); the gateway times out",
                rfc: "RFC 1191, RFC 8201, RFC 2923 §2.1", phrase: "sat behind a path-MTU black hole (full-size packets were lost)")

        case .captureGap:
            return row("capture.gap", .capture, [.responseHead], .rootCause, .warning,
                meaning: "the capture lost bytes the verdict depends on (class `unknown`)", phrase: notJudged)
        case .captureTruncated:
            return row("capture.truncated", .capture, [.responseHead], .rootCause, .warning,
                meaning: "the capture ended, or cut frames short (snap length), before the outcome could be known (class `unknown`)",
                phrase: notJudged)
        case .captureFileTruncated:
            return row("capture.file_truncated", .capture, [.idle], .finding, .warning,
                meaning: "the capture file ends in the middle of a record", phrase: notJudged)
        case .tcpOverlapMismatch:
            return row("tcp.overlap.mismatch", .capture, [.idle], .finding, .warning,
                meaning: "a retransmission carried bytes that differ from the first copy (both frames are named)", phrase: fact)
        case .tcpIdleEvicted:
            return row("tcp.idle_evicted", .capture, [.idle], .finding, .warning,
                meaning: "the connection was judged after `--idle-timeout` without a packet", phrase: fact)
        case .limitReassemblyBuffer:
            return row("limit.reassembly_buffer", .capture, [.idle], .finding, .warning,
                meaning: "the out-of-order buffer of one direction hit its cap; the missing range became a gap", phrase: fact)
        case .limitFlowTable:
            return row("limit.flow_table", .capture, [.idle], .finding, .warning,
                meaning: "the flow table hit its cap; the quietest connection was judged early", phrase: fact)
        case .ipFragmented:
            return row("ip.fragmented", .capture, [.idle], .finding, .warning,
                meaning: "an IPv4 datagram arrived in fragments (reassembled where possible)", rfc: "RFC 791 §3.2", phrase: fact)
        case .tcpICMPFragNeeded:
            return row("tcp.icmp.frag_needed", .capture, [.idle], .finding, .warning,
                meaning: "an ICMP fragmentation needed (IPv4) or packet too big (IPv6) quoted a segment of the connection: a router could not forward it whole (the finding's value is the next-hop MTU it named)",
                rfc: "RFC 1191 §4, RFC 4443 §3.2", phrase: fact)

        case .protoTLSToPlainPort:
            return row("proto.tls_to_plain_port", .protocolMismatch, [.tls],
                meaning: "the gateway spoke TLS to a port that answered in plain text", rfc: "RFC 8446 §5", phrase: badProto)
        case .protoPlainToTLSPort:
            return row("proto.plain_to_tls_port", .protocolMismatch, [.responseHead],
                meaning: "the gateway spoke plain HTTP to a port that answered with TLS", rfc: "RFC 9112 §4", phrase: badProto)
        case .protoH2PrefaceToH1:
            return row("proto.h2_preface_to_h1", .protocolMismatch, [.responseHead],
                meaning: "the gateway sent the HTTP/2 preface to an HTTP/1 upstream (now raised as `proto.h1_response_to_h2`, which names the upstream's HTTP/1 answer; kept for saved reports)", rfc: "RFC 9113 §3.4", phrase: badProto)
        case .protoH2ResponseToH1:
            return row("proto.h2_response_to_h1", .protocolMismatch, [.responseHead],
                meaning: "an HTTP/2-only upstream answered the gateway's HTTP/1 request with HTTP/2 frames",
                rfc: "RFC 9113 §3.4", phrase: badProto)
        case .protoNonHTTPResponse:
            return row("proto.non_http_response", .protocolMismatch, [.responseHead],
                meaning: "the response does not start with `HTTP/` (an SSH banner, a Redis error, bare HTML)",
                rfc: "RFC 9112 §4", phrase: badProto)
        case .protoServerSpeaksFirst:
            return row("proto.server_speaks_first", .protocolMismatch, [.tls, .responseHead],
                meaning: "the upstream sent bytes before the gateway's request (or before its TLS handshake)",
                rfc: "RFC 9112 §4", phrase: badProto)
        case .protoProxyHeaderUnexpected:
            return row("proto.proxy_header_unexpected", .protocolMismatch, [.responseHead],
                meaning: "the gateway sent a PROXY protocol header to an upstream that does not expect one, which answered 400",
                phrase: badProto)
        case .protoProxyHeaderMissing:
            return row("proto.proxy_header_missing", .protocolMismatch, [.responseHead],
                meaning: "the gateway sent no PROXY protocol header to an upstream that expects one (it took others' headers), which closed without answering",
                phrase: badProto)

        case .protoH1ResponseToH2:
            return row("proto.h1_response_to_h2", .protocolMismatch, [.responseHead],
                meaning: "the upstream answered the gateway's HTTP/2 preface with an HTTP/1.x status line (nginx: `upstream sent too large http2 frame: 4740180`, the bytes `HTT` read as a frame length)",
                rfc: "RFC 9113 §3.4", phrase: badProto)
        case .tlsALPNNoH2:
            return row("tls.alpn.no_h2", .tls, [.tls], .rootCause, .warning,
                meaning: "the gateway offered only ALPN `h2` and the upstream's ServerHello did not select it: the verdict when the upstream then answered the preface with HTTP/1 (value `HTTP/1`), or when all went well inside",
                rfc: "RFC 7301 §3.2, RFC 9113 §3.2", phrase: badProto)

        case .h2RSTStreamBeforeResponse:
            return row("h2.rst_stream.before_response", .http2, [.responseHead],
                meaning: "the upstream reset the stream (RST_STREAM, its error code in the value) before any response head",
                rfc: "RFC 9113 §6.4", phrase: "reset the HTTP/2 stream before responding")
        case .h2Goaway:
            return row("h2.goaway", .http2, [.responseHead],
                meaning: "the upstream sent GOAWAY with a last-stream-id below a stream the gateway had open, which it so never processed",
                rfc: "RFC 9113 §6.8", phrase: "closed the HTTP/2 connection (GOAWAY) below an open stream")
        case .h2FrameTooLarge:
            return row("h2.frame.too_large", .http2, [.responseHead],
                meaning: "a frame longer than the SETTINGS_MAX_FRAME_SIZE the gateway advertised (16384 unless it raised it)",
                rfc: "RFC 9113 §4.2", phrase: h2Frame)
        case .h2HPACKBadIndex:
            return row("h2.hpack.bad_index", .http2, [.responseHead],
                meaning: "a header block refers to an HPACK index past the static and dynamic tables (nginx advertises a table of 0 bytes)",
                rfc: "RFC 7541 §2.3.3", phrase: h2Head)
        case .h2HPACKError:
            return row("h2.hpack.error", .http2, [.responseHead],
                meaning: "a header block that does not decode, or is not contiguous (another frame between HEADERS and its CONTINUATION)",
                rfc: "RFC 7541, RFC 9113 §4.3", phrase: h2Head)
        case .h2StatusMissing:
            return row("h2.status.missing", .http2, [.responseHead],
                meaning: "a response head without `:status` (or a field before it, or DATA before any head)",
                rfc: "RFC 9113 §8.3.2", phrase: h2Head)
        case .h2StatusDuplicate:
            return row("h2.status.duplicate", .http2, [.responseHead],
                meaning: "a response head with two `:status` fields", rfc: "RFC 9113 §8.3.2", phrase: h2Head)
        case .h2StatusInvalid:
            return row("h2.status.invalid", .http2, [.responseHead],
                meaning: "a `:status` that is not three digits (`2000`)", rfc: "RFC 9113 §8.3.2", phrase: h2Head)
        case .h2HeaderRequestPseudo:
            return row("h2.header.request_pseudo", .http2, [.responseHead],
                meaning: "a request pseudo-header (`:path`, `:method`...) or another pseudo-header than `:status` in a response, or any in trailers",
                rfc: "RFC 9113 §8.3", phrase: h2Head)
        case .h2HeaderUppercase:
            return row("h2.header.uppercase", .http2, [.responseHead],
                meaning: "a field name with uppercase letters", rfc: "RFC 9113 §8.2.1", phrase: h2Head)
        case .h2HeaderConnectionSpecific:
            return row("h2.header.connection_specific", .http2, [.responseHead], .rootCause, .warning,
                meaning: "a connection-specific field (`connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`, `te` other than `trailers`)",
                rfc: "RFC 9113 §8.2.2", phrase: h2Head)
        case .h2ContentLengthMismatch:
            return row("h2.content_length.mismatch", .http2, [.responseBody],
                meaning: "the DATA frames of a stream add up to more or less than its `content-length`",
                rfc: "RFC 9113 §8.1.1", phrase: "sent a body whose length disagrees with its content-length")
        case .h2StreamClosed:
            return row("h2.stream.closed", .http2, [.responseBody],
                meaning: "a frame on a stream the upstream had already closed (or the gateway never opened)",
                rfc: "RFC 9113 §5.1", phrase: h2Frame)
        case .h2TrailersNoEndStream:
            return row("h2.trailers.no_end_stream", .http2, [.responseBody],
                meaning: "a second HEADERS frame (trailers) without END_STREAM", rfc: "RFC 9113 §8.1", phrase: h2Frame)
        case .h2SettingsBadStream:
            return row("h2.settings.bad_stream", .http2, [.responseHead],
                meaning: "a SETTINGS frame on a stream other than 0", rfc: "RFC 9113 §6.5", phrase: h2Frame)
        case .h2FlowControl:
            return row("h2.flow_control", .http2, [.responseBody],
                meaning: "a DATA frame larger than the flow-control window the gateway had opened (connection or stream)",
                rfc: "RFC 9113 §6.9.1", phrase: h2Frame)
        case .h2FrameSizeError:
            return row("h2.frame.size_error", .http2, [.responseHead],
                meaning: "a control frame of the wrong length: SETTINGS not a multiple of 6 (or not empty with ACK), PING not 8 bytes, WINDOW_UPDATE or RST_STREAM not 4, PRIORITY not 5, GOAWAY under 8 (a FRAME_SIZE_ERROR; the value names the frame and its length)",
                rfc: "RFC 9113 §4.2, §6.3-§6.9", phrase: h2Frame)
        case .h2PushPromiseUnexpected:
            return row("h2.push_promise.unexpected", .http2, [.responseHead],
                meaning: "a PUSH_PROMISE frame though the gateway disabled server push (SETTINGS_ENABLE_PUSH 0, as nginx and HAProxy send)",
                rfc: "RFC 9113 §6.5.2, §8.4", phrase: h2Frame)
        case .h2PrefaceBad:
            return row("h2.preface.bad", .http2, [.responseHead],
                meaning: "the upstream's first frame is not SETTINGS (its connection preface)", rfc: "RFC 9113 §3.4", phrase: badProto)
        case .grpcStatus:
            return row("grpc.status.<name>", .http2, [.responseBody], .rootCause, .warning,
                meaning: "a gRPC status other than OK in the trailers (`grpc.status.unavailable`): the service's own answer, relayed (the value is `grpc-message`)",
                rfc: "gRPC PROTOCOL-HTTP2", phrase: "answered with a gRPC error status")
        case .protoHTTPResponseToFCGI:
            return row("proto.http_response_to_fcgi", .protocolMismatch, [.responseHead],
                meaning: "an HTTP server answered the gateway's FastCGI request (nginx: `upstream sent unsupported FastCGI protocol version: 72`, 72 being `H`)",
                rfc: "FastCGI 1.0 §3.3", phrase: badProto)

        case .statusLineBadVersion:
            return row("http.status_line.bad_version", .statusLine, [.responseHead],
                meaning: "a version other than `HTTP/d.d` (`HTTP/2 200`, `http/1.1`, `ICY 200`)", rfc: "RFC 9112 §2.3",
                phrase: badStatus)
        case .statusLineBadCode:
            return row("http.status_line.bad_code", .statusLine, [.responseHead],
                meaning: "a status code that is not three digits", rfc: "RFC 9112 §4", phrase: badStatus)
        case .statusLineNoReasonSP:
            return row("http.status_line.no_reason_sp", .statusLine, [.responseHead], .rootCause, .lint,
                meaning: "no space after the status code (lint)", rfc: "RFC 9112 §4", phrase: badStatus)
        case .lineBareLF:
            return row("http.line.bare_lf", .statusLine, [.responseHead], .rootCause, .lint,
                meaning: "a line ended by LF without CR", rfc: "RFC 9112 §2.2", phrase: "sent a malformed line ending")
        case .lineBareCR:
            return row("http.line.bare_cr", .statusLine, [.responseHead],
                meaning: "a CR not followed by LF", rfc: "RFC 9112 §2.2", phrase: "sent a malformed line ending")

        case .headerNameCTLOrSpace:
            return row("http.header.name_ctl_or_space", .header, [.responseHead],
                meaning: "a space, tab or control byte in a field name (including before the colon)", rfc: "RFC 9112 §5.1",
                phrase: badHead)
        case .headerNameNonToken:
            return row("http.header.name_non_token", .header, [.responseHead],
                meaning: "another byte that is not a token character in a field name", rfc: "RFC 9110 §5.1", phrase: badHead)
        case .headerEmptyName:
            return row("http.header.empty_name", .header, [.responseHead],
                meaning: "a line that starts with a colon", rfc: "RFC 9110 §5.1", phrase: badHead)
        case .headerMissingColon:
            return row("http.header.missing_colon", .header, [.responseHead],
                meaning: "a header line without a colon", rfc: "RFC 9112 §5", phrase: badHead)
        case .headerValueNUL:
            return row("http.header.value_nul", .header, [.responseHead],
                meaning: "a NUL byte in a field value", rfc: "RFC 9110 §5.5", phrase: badHead)
        case .headerValueCTL:
            return row("http.header.value_ctl", .header, [.responseHead],
                meaning: "another control byte in a field value", rfc: "RFC 9110 §5.5", phrase: badHead)
        case .headerValueBareCR:
            return row("http.header.value_bare_cr", .header, [.responseHead],
                meaning: "a CR not followed by LF inside a value", rfc: "RFC 9110 §5.5", phrase: badHead)
        case .headerObsFold:
            return row("http.header.obs_fold", .header, [.responseHead],
                meaning: "a line folded onto the previous one (starts with a space or tab)", rfc: "RFC 9112 §5.2",
                phrase: badHead)
        case .headerTooLarge:
            return row("http.header.too_large", .header, [.responseHead],
                meaning: "a response head larger than the gateway's buffer", rfc: "RFC 9110 §5.4",
                phrase: "sent too large a response head")
        case .headerTooMany:
            return row("http.header.too_many", .header, [.responseHead],
                meaning: "more header fields than the gateway's limit", rfc: "RFC 9110 §5.4",
                phrase: "sent too many header fields")
        case .headerDuplicateSingleValue:
            return row("http.header.dup_single_value", .header, [.responseHead], .rootCause, .lint,
                meaning: "a repeated field that allows one value (`Location`, `Last-Modified`)", rfc: "RFC 9110 §5.3", phrase: badHead)

        case .contentLengthInvalid:
            return row("http.cl.invalid", .framing, [.responseHead],
                meaning: "a `Content-Length` that is not one plain decimal number", rfc: "RFC 9112 §6.3",
                phrase: "sent a bad Content-Length")
        case .contentLengthDuplicate:
            return row("http.cl.duplicate", .framing, [.responseHead],
                meaning: "more than one `Content-Length` field line", rfc: "RFC 9110 §8.6",
                phrase: "sent a bad Content-Length")
        case .transferEncodingWithContentLength:
            return row("http.te_cl.both", .framing, [.responseHead],
                meaning: "both `Transfer-Encoding` and `Content-Length`", rfc: "RFC 9112 §6.3",
                phrase: "sent a bad Transfer-Encoding")
        case .transferEncodingNotChunked:
            return row("http.te.not_chunked", .framing, [.responseHead],
                meaning: "a `Transfer-Encoding` other than `chunked` (`gzip`, `identity`)", rfc: "RFC 9112 §6.3",
                phrase: "sent a bad Transfer-Encoding")
        case .transferEncodingDuplicateOrEmpty:
            return row("http.te.duplicate_or_empty", .framing, [.responseHead],
                meaning: "`chunked` twice, an empty value or a trailing comma", rfc: "RFC 9112 §6.1",
                phrase: "sent a bad Transfer-Encoding")
        case .chunkedBadSize:
            return row("http.chunked.bad_size", .framing, [.responseBody],
                meaning: "a chunk-size line that does not start with a hex digit, or has other bytes in it",
                rfc: "RFC 9112 §7.1", phrase: badChunk)
        case .chunkedSizeOverflow:
            return row("http.chunked.size_overflow", .framing, [.responseBody],
                meaning: "a chunk size too large for the gateway", rfc: "RFC 9112 §7.1", phrase: badChunk)
        case .chunkedWhitespaceAfterSize:
            return row("http.chunked.ws_after_size", .framing, [.responseBody], .rootCause, .lint,
                meaning: "whitespace between the chunk size and its line end", rfc: "RFC 9112 §7.1", phrase: badChunk)
        case .chunkedBadExtension:
            return row("http.chunked.bad_ext", .framing, [.responseBody],
                meaning: "a chunk extension that breaks the grammar", rfc: "RFC 9112 §7.1.1", phrase: badChunk)
        case .chunkedBareLF:
            return row("http.chunked.bare_lf", .framing, [.responseBody],
                meaning: "a chunk line ended by LF without CR", rfc: "RFC 9112 §7.1", phrase: badChunk)
        case .chunkedDataLengthMismatch:
            return row("http.chunked.data_len_mismatch", .framing, [.responseBody],
                meaning: "chunk data longer or shorter than its size line said", rfc: "RFC 9112 §7.1", phrase: badChunk)
        case .chunkedBadTrailer:
            return row("http.chunked.bad_trailer", .framing, [.responseBody],
                meaning: "a malformed trailer section", rfc: "RFC 9112 §7.1.2", phrase: badChunk)
        case .bodyExtraAfterMessage:
            return row("http.body.extra_after_message", .framing, [.responseBody], .rootCause, .warning,
                meaning: "bytes after a complete response, with no request outstanding", rfc: "RFC 9112 §6.3",
                phrase: "sent body bytes its message does not allow")
        case .bodyOnBodyless:
            return row("http.body.on_bodyless", .framing, [.responseBody], .rootCause, .warning,
                meaning: "a body on a response that cannot have one (to HEAD, or 1xx, 204, 304)", rfc: "RFC 9112 §6.3",
                phrase: "sent body bytes its message does not allow")

        case .upstream5xx:
            return row("http.upstream_5xx", .upstream, [.responseHead], .rootCause, .warning,
                meaning: "the upstream itself answered 5xx; the gateway relayed it (not a gateway failure)", rfc: "RFC 9110 §15.6",
                phrase: "answered with its own 5xx")

        case .gatewayNoLiveUpstreams:
            return row("gateway.no_live_upstreams", .gateway, [.connect],
                meaning: "the gateway answered without trying any upstream, because every member of the pool had been marked down by its recent failures; `disabled_by` names those failures",
                phrase: "was marked down by the gateway")

        case .tlsAlert:
            return row("tls.alert.<description>", .tls, [.tls],
                meaning: "the upstream sent a TLS alert (`tls.alert.handshake_failure`, `tls.alert.unrecognized_name`, `tls.alert.protocol_version`, ... one code per RFC 8446 alert description)",
                rfc: "RFC 8446 §6", phrase: badTLS)
        case .tlsSNIMissing:
            return row("tls.sni.missing", .tls, [.tls], .rootCause, .warning,
                meaning: "the ClientHello carried no SNI and the upstream needed one", rfc: "RFC 6066 §3", phrase: badTLS)
        case .tlsVersionMismatch:
            return row("tls.version_mismatch", .tls, [.tls],
                meaning: "the two sides share no TLS version", rfc: "RFC 8446 §4.2.1", phrase: badTLS)
        case .tlsCipherMismatch:
            return row("tls.cipher_mismatch", .tls, [.tls],
                meaning: "the two sides share no cipher suite", rfc: "RFC 8446 §4.1.1", phrase: badTLS)
        case .tlsPeerClosedInHandshake:
            return row("tls.peer_closed_in_handshake", .tls, [.tls],
                meaning: "the upstream closed during the handshake without an alert", rfc: "RFC 8446 §6.1", phrase: badTLS)
        case .tlsHandshakeTimeout:
            return row("tls.handshake_timeout", .tls, [.tls],
                meaning: "the handshake did not finish before the gateway gave up", rfc: "RFC 9110 §15.6.5", phrase: badTLS)
        case .tlsClientCertRequired:
            return row("tls.client_cert_required", .tls, [.tls, .responseHead],
                meaning: "the upstream asked for a client certificate the gateway did not send", rfc: "RFC 8446 §4.4.2.4",
                phrase: badTLS)
        case .tlsEarlyDataUnreadable:
            return row("tls.early_data.unreadable", .tls, [.tls], .finding, .warning,
                meaning: "the gateway sent TLS 1.3 early data (0-RTT) that the key log cannot open (it has no `CLIENT_EARLY_TRAFFIC_SECRET`)",
                rfc: "RFC 8446 §2.3", phrase: badTLS)
        case .tlsClosedAfterHandshake:
            return row("tls.closed_after_handshake", .tls, [.tls],
                meaning: "the handshake finished and the gateway closed at once with no request: nginx's fingerprint for a certificate it refused",
                rfc: "RFC 8446 §4.4.2.4", phrase: badTLS)
        case .tlsCertExpired:
            return row("tls.cert.expired", .tls, [.tls],
                meaning: "the upstream's certificate had expired at the capture's time", rfc: "RFC 5280 §4.1.2.5", phrase: badCert)
        case .tlsCertNotYetValid:
            return row("tls.cert.not_yet_valid", .tls, [.tls],
                meaning: "the certificate was not yet valid at the capture's time", rfc: "RFC 5280 §4.1.2.5", phrase: badCert)
        case .tlsCertUnknownCA:
            return row("tls.cert.unknown_ca", .tls, [.tls],
                meaning: "the chain does not lead to a CA the gateway trusts", rfc: "RFC 5280 §6.1", phrase: badCert)
        case .tlsCertMissingIntermediate:
            return row("tls.cert.missing_intermediate", .tls, [.tls],
                meaning: "the upstream did not send the intermediate certificate", rfc: "RFC 8446 §4.4.2", phrase: badCert)
        case .tlsCertSelfSigned:
            return row("tls.cert.self_signed", .tls, [.tls],
                meaning: "the certificate is self-signed and not trusted", rfc: "RFC 5280 §6.1", phrase: badCert)
        case .tlsCertNameMismatch:
            return row("tls.cert.name_mismatch", .tls, [.tls],
                meaning: "the certificate does not name the host the gateway expects", rfc: "RFC 9110 §4.3.4", phrase: badCert)
        case .tlsCertRevoked:
            return row("tls.cert.revoked", .tls, [.tls],
                meaning: "a CRL given with `--crl` revokes the certificate", rfc: "RFC 5280 §6.3", phrase: badCert)
        case .tlsCertBadPurpose:
            return row("tls.cert.bad_purpose", .tls, [.tls],
                meaning: "the certificate may not be used for TLS servers", rfc: "RFC 5280 §4.2.1.12", phrase: badCert)
        case .tlsCertInvalid:
            return row("tls.cert.invalid", .tls, [.tls],
                meaning: "OpenSSL rejected the chain for another reason (its text is in `tls.verification`)", rfc: "RFC 5280 §6.1",
                phrase: badCert)
        case .tlsMalformed:
            return row("tls.malformed", .tls, [.tls], .finding, .warning,
                meaning: "a TLS record or handshake message that does not parse", rfc: "RFC 8446 §5", phrase: badTLS)

        case .fcgiStderrFatal:
            return row("fcgi.stderr.fatal", .fastCGI, [.responseHead],
                meaning: "the application wrote a fatal error to FCGI_STDERR (`PHP Fatal error`) and answered 500; the text is the verdict's `stderr` (class 500)",
                rfc: "FastCGI 1.0 §6.1", phrase: "failed with a fatal error in the application")
        case .fcgiStderrWarning:
            return row("fcgi.stderr.warning", .fastCGI, [.responseHead], .rootCause, .warning,
                meaning: "the application wrote to FCGI_STDERR (PHP warnings, notices) and its response was not a 5xx: class `ok`, the text in the verdict's `stderr`",
                rfc: "FastCGI 1.0 §6.1", phrase: "wrote to its error stream")
        case .fcgiStatusInvalid:
            return row("fcgi.status.invalid", .fastCGI, [.responseHead],
                meaning: "a CGI `Status:` field that does not start with a three-digit status code",
                rfc: "RFC 3875 §6.3.3", phrase: "sent an invalid CGI Status field")
        case .fcgiEndRequestOverloaded:
            return row("fcgi.end_request.overloaded", .fastCGI, [.responseHead],
                meaning: "FCGI_END_REQUEST with protocolStatus FCGI_OVERLOADED (2): the application refused the request",
                rfc: "FastCGI 1.0 §5.5", phrase: "refused the request as overloaded")
        case .fcgiEndRequestCantMpxConn:
            return row("fcgi.end_request.cant_mpx_conn", .fastCGI, [.responseHead],
                meaning: "FCGI_END_REQUEST with protocolStatus FCGI_CANT_MPX_CONN (1): a second concurrent request on one connection was refused",
                rfc: "FastCGI 1.0 §5.5", phrase: "refused a multiplexed request")
        case .fcgiEndRequestBeforeStdout:
            return row("fcgi.end_request.before_stdout", .fastCGI, [.responseHead],
                meaning: "FCGI_END_REQUEST (request complete) with no FCGI_STDOUT at all: no CGI response (nginx: `upstream sent unexpected FastCGI record: 3`)",
                rfc: "FastCGI 1.0 §6.2", phrase: "ended the request without a response")
        case .fcgiEndRequestUnknownRole:
            return row("fcgi.end_request.unknown_role", .fastCGI, [.responseHead],
                meaning: "FCGI_END_REQUEST with protocolStatus FCGI_UNKNOWN_ROLE (3): the application does not play the role FCGI_BEGIN_REQUEST asked for",
                rfc: "FastCGI 1.0 §5.5", phrase: "refused the request's role")
        case .fcgiRecordBadVersion:
            return row("fcgi.record.bad_version", .fastCGI, [.responseHead],
                meaning: "a record whose version byte is not 1 (`FCGI_VERSION_1`)", rfc: "FastCGI 1.0 §3.3", phrase: badRecord)
        case .fcgiRecordTruncated:
            return row("fcgi.record.truncated", .fastCGI, [.responseHead],
                meaning: "the connection ended inside a record: fewer content or padding bytes came than its header announced",
                rfc: "FastCGI 1.0 §3.3", phrase: "cut a FastCGI record short")
        case .fcgiRecordUnexpected:
            return row("fcgi.record.unexpected", .fastCGI, [.responseHead],
                meaning: "a record the gateway does not expect there: FCGI_END_REQUEST or the end of FCGI_STDOUT after part of a CGI head (nginx: `upstream sent unexpected FastCGI record: 3`), a type an application does not send, or another request id",
                rfc: "FastCGI 1.0 §3.3", phrase: badRecord)
        case .fcgiPoolExhausted:
            return row("fcgi.pool_exhausted", .fastCGI, [.responseHead],
                meaning: "no answer until the gateway's read timeout closed the connection, then a full answer after it closed: the request waited for a free worker (php-fpm's `pm.max_children`)",
                rfc: "FastCGI 1.0 §3.5", phrase: "queued the request behind busy workers until the gateway gave up")

        case .dnsNXDOMAIN:
            return row("dns.nxdomain", .dns, [.connect],
                meaning: "the gateway's DNS query for the upstream's name was answered NXDOMAIN (rcode 3): no upstream connection was made (nginx `could not be resolved (3: Host not found)`)",
                rfc: "RFC 1035 §4.1.1", phrase: "has a name that does not exist in DNS")
        case .dnsSERVFAIL:
            return row("dns.servfail", .dns, [.connect],
                meaning: "the gateway's DNS query for the upstream's name was answered SERVFAIL (rcode 2): no upstream connection was made (nginx `could not be resolved (2: Server failure)`)",
                rfc: "RFC 1035 §4.1.1", phrase: "has a name its DNS server failed to resolve")
        case .dnsREFUSED:
            return row("dns.refused", .dns, [.connect],
                meaning: "the gateway's DNS query for the upstream's name was answered REFUSED (rcode 5): no upstream connection was made (nginx `could not be resolved (5: Operation refused)`)",
                rfc: "RFC 1035 §4.1.1", phrase: "has a name its DNS server refused to resolve")
        case .dnsTimeout:
            return row("dns.timeout", .dns, [.connect],
                meaning: "the gateway's DNS query for the upstream's name got no answer before the gateway gave up: no upstream connection was made (nginx `could not be resolved (110: Operation timed out)` after `resolver_timeout`)",
                rfc: "RFC 1035 §4.2.1", phrase: "has a name whose DNS query went unanswered")
        case .dnsDrift:
            return row("dns.drift", .dns, [.connect], .finding, .warning,
                meaning: "the connections to an address that had just entered the DNS answers for the upstream's name failed (service discovery or DNS pointing at the wrong upstream); recorded beside each failed connection's own verdict, the answer's frame as evidence",
                rfc: "RFC 1035 §4.1.3", phrase: "was reached at an address that had just entered its DNS answers")
        }
    }

    /// The phase a verdict with this code takes when nothing else is known.
    public var defaultPhase: Phase { self.entry.phases[0] }

    /// Found in a body rather than a head: once the head went out, a gateway can only cut the body.
    /// (Asked for every finding each model judges: read from a set made once, not from `entry`.)
    public var isBodyPhase: Bool { Self.bodyPhase.contains(self) }

    /// The codes whose only phase is the response body.
    private static let bodyPhase: Set<RootCause> = Set(Self.allCases.filter { $0.entry.phases == [.responseBody] })

    /// The prefix of a family's codes (`tls.alert.`), or `nil` for a single code.
    public var familyPrefix: String? {
        switch self {
        case .tlsAlert: return "tls.alert."
        case .grpcStatus: return "grpc.status."
        default: return nil
        }
    }

    /// Every single code by its dotted name (families are matched by prefix in `FindingCode(code:)`).
    static let byCode: [String: RootCause] = Dictionary(
        uniqueKeysWithValues: Self.allCases.filter { $0.familyPrefix == nil }.map { ($0.entry.code, $0) })
}
