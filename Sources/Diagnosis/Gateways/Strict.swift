import CaptureModel

/// The RFCs read strictly: anything a recipient MAY reject is rejected, and the detail is the
/// section that says so. For a gateway that no model describes, or to find every deviation.
public struct StrictModel: GatewayModel {
    public init() {}

    public var key: StaticString { "strict" }
    public var spokenName: String { "the strict profile" }
    public var title: String { "strict (RFC 9110, 9112, 8446 read strictly)" }
    public var releases: [String] { [] }

    /// What its defaults judge the upstream against.
    static let defaultLimits = GatewayLimits(source: "RFC 9110 §5.4 leaves the limits to each recipient")
    public var limits: GatewayLimits { Self.defaultLimits }
    public var detail: GatewayDetail { GatewayDetail(key: "rule", label: "RFC rule") }


    public func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction {
        func invalid(_ rfc: String) -> GatewayReaction { .rejects(502, "RFC " + rfc) }
        switch code.cause {
        // FastCGI 1.0 and RFC 3875
        case .fcgiStderrFatal:
            return .rejects(500, "FastCGI 1.0 §6.1", note: "the application failed and answered 500")
        case .fcgiStderrWarning:
            return .accepts("FastCGI 1.0 §6.1")
        case .fcgiStatusInvalid:
            return .rejects(502, "RFC 3875 §6.3.3")
        case .fcgiEndRequestOverloaded:
            return .rejects(503, "FastCGI 1.0 §5.5")
        case .fcgiEndRequestCantMpxConn:
            return .rejects(502, "FastCGI 1.0 §5.5")
        case .fcgiRecordBadVersion, .fcgiRecordTruncated, .fcgiRecordUnexpected, .fcgiEndRequestBeforeStdout, .fcgiEndRequestUnknownRole:
            return .rejects(502, "FastCGI 1.0 §3.3")
        case .fcgiPoolExhausted:
            return .rejects(504, "RFC 9110 §15.6.5")
        case .protoHTTPResponseToFCGI:
            return .rejects(502, "FastCGI 1.0 §3.3")
        case .none:
            return .accepts()
        case .captureGap, .captureTruncated, .captureFileTruncated:
            return GatewayRuleKit.notSeen

        case .tcpConnectRefused:
            return invalid("9110 §15.6.3: no connection to the upstream (502 Bad Gateway)")
        // An ICMP error answered the SYN (issue 20): a host or network unreachable, or a
        // firewall's REJECT (its ICMP where a closed port would send a RST).
        case .tcpConnectUnreachable:
            return invalid("9110 §15.6.3: no connection to the upstream (502 Bad Gateway)")
        case .tcpConnectProhibited:
            return invalid("9110 §15.6.3: no connection to the upstream (502 Bad Gateway)")
        case .tcpConnectTimeout, .tcpSendTimeout:
            return .rejects(504, "RFC 9110 §15.6.5: no timely answer from the upstream (504 Gateway Timeout)")
        case .tcpMTUBlackhole:
            return GatewayRuleKit.mtuBlackhole(self.reaction(to: .tcpReadTimeout, context: context))
        case .tcpReadTimeout:
            return .rejects(context.phase == .responseBody ? nil : 504, "RFC 9110 §15.6.5: no timely answer from the upstream (504 Gateway Timeout)")
        case .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders:
            return invalid("9112 §8: the connection closed before a complete response head")
        case .tcpFINMidBody, .tcpRSTMidBody:
            return .rejects(nil, "RFC 9112 §8: the connection closed before the body was complete")
        case .tcpKeepaliveRace:
            return invalid("9112 §9.5: the upstream closed the idle connection as the request went out (RFC 9110 §9.2.2 allows retrying idempotent requests only)")

        case .protoTLSToPlainPort:
            return invalid("8446 §5: the upstream answered the ClientHello with bytes that are not TLS records")
        case .protoServerSpeaksFirst:
            return invalid("8446 §4.1: the upstream sent bytes before the ClientHello")
        case .protoPlainToTLSPort, .protoH2PrefaceToH1, .protoH2ResponseToH1, .protoNonHTTPResponse:
            return invalid("9112 §4: the response does not start with an HTTP/1.x status line")

        case .statusLineBadVersion:
            return invalid("9112 §2.3: HTTP-version = HTTP-name \"/\" DIGIT \".\" DIGIT")
        case .statusLineBadCode:
            return invalid("9112 §4: status-code = 3DIGIT, one SP after the version (RFC 9110 §15: 100-599)")
        case .statusLineNoReasonSP:
            return .accepts("RFC 9112 §4: a lint (the server MUST send the SP; the line still parses)")
        case .lineBareLF:
            return invalid("9112 §2.2: a line ended by a bare LF (a recipient MAY accept it; strict does not)")
        case .lineBareCR:
            return invalid("9112 §2.2: a bare CR is invalid")

        case .headerNameCTLOrSpace:
            return invalid("9112 §5.1: no whitespace or CTL in a field name or before its colon")
        case .headerNameNonToken:
            return invalid("9110 §5.1: field-name = token")
        case .headerEmptyName:
            return invalid("9110 §5.1: field-name = token, one tchar at least")
        case .headerMissingColon:
            return invalid("9112 §5: field-line = field-name \":\" OWS field-value OWS")
        case .headerValueNUL:
            return invalid("9110 §5.5: a NUL in a field value (MUST reject or replace it)")
        case .headerValueCTL:
            return invalid("9110 §5.5: a CTL in a field value is invalid")
        case .headerValueBareCR:
            return invalid("9110 §5.5: a CR in a field value (MUST reject or replace it)")
        case .headerObsFold:
            return invalid("9112 §5.2: obs-fold (a proxy MUST answer 502 or replace it with SP)")
        case .headerTooLarge, .headerTooMany:
            return invalid("9110 §5.4: a header section larger than the recipient processes")
        case .headerDuplicateSingleValue:
            return .accepts("RFC 9110 §5.3: a lint (a repeated singleton field)")

        case .contentLengthInvalid:
            return invalid("9112 §6.3 rule 5: an invalid Content-Length (an identical list MAY be accepted; strict does not)")
        case .contentLengthDuplicate:
            return invalid("9112 §6.3 rule 5: repeated Content-Length lines (RFC 9110 §8.6: MAY be accepted when identical; strict does not)")
        case .transferEncodingWithContentLength:
            return invalid("9112 §6.3 rule 3: Transfer-Encoding with Content-Length ought to be handled as an error")
        case .transferEncodingNotChunked:
            return .accepts("RFC 9112 §6.3 rule 4: valid for a response, whose body is then read until the connection closes")
        case .transferEncodingDuplicateOrEmpty:
            // RFC 9110 §5.3: several field lines are one comma-separated list, and §5.6.1: empty
            // elements are ignored. Only chunked twice breaks a rule (RFC 9112 §6.1).
            if let value = context.value {
                let codings = value.split(separator: ",").map { $0.trimmingOWS.lowercased() }.filter { !$0.isEmpty }
                if codings.filter({ $0 == "chunked" }).count <= 1 {
                    return .accepts("RFC 9110 §5.3: Transfer-Encoding field lines combine into one list (\(codings.joined(separator: ", ")))")
                }
            }
            return invalid("9112 §6.1: chunked applied twice")
        case .chunkedBadSize:
            return .rejects(nil, "RFC 9112 §7.1: chunk-size = 1*HEXDIG")
        case .chunkedSizeOverflow:
            return .rejects(nil, "RFC 9112 §7.1: a chunk size the recipient cannot represent (it MUST guard against overflow)")
        case .chunkedWhitespaceAfterSize:
            return .rejects(nil, "RFC 9112 §7.1: whitespace after chunk-size (BWS is allowed only around ';' in chunk-ext)")
        case .chunkedBadExtension:
            return .rejects(nil, "RFC 9112 §7.1.1: chunk-ext grammar")
        case .chunkedBareLF:
            return .rejects(nil, "RFC 9112 §7.1: a chunk line ends with CRLF")
        case .chunkedDataLengthMismatch:
            return .rejects(nil, "RFC 9112 §7.1: chunk-data is followed by CRLF")
        case .chunkedBadTrailer:
            return .rejects(nil, "RFC 9112 §7.1.2: trailer-section = *( field-line CRLF )")
        case .bodyExtraAfterMessage:
            return .accepts("RFC 9112 §6.3: the message ended where its framing says; the extra bytes are not part of it")
        case .bodyOnBodyless:
            return invalid("9110 §8.6 and RFC 9112 §6.3 rule 1: a body announced on a response that has none")
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
            return GatewayRuleKit.relayed(context, "RFC 9110 §15.6: the upstream's own 5xx")

        // TLS (taxonomy 2.F)
        case .tlsHandshakeTimeout:
            return .rejects(504, "RFC 9110 §15.6.5: no TLS handshake with the upstream in time (504 Gateway Timeout)")
        case .tlsAlert:
            return invalid("8446 §6: the upstream ended the handshake with alert \(code.qualifier ?? "")")
        case .tlsCertExpired, .tlsCertNotYetValid, .tlsCertUnknownCA, .tlsCertMissingIntermediate, .tlsCertSelfSigned, .tlsCertNameMismatch, .tlsCertRevoked, .tlsCertBadPurpose, .tlsCertInvalid, .tlsClosedAfterHandshake:
            return invalid("9110 §4.3.4: the upstream's certificate does not verify")
        case .tlsSNIMissing, .tlsVersionMismatch, .tlsCipherMismatch, .tlsPeerClosedInHandshake, .tlsClientCertRequired,
            .tlsEarlyDataUnreadable, .tlsMalformed:
            return invalid("8446 §4: the TLS handshake with the upstream failed")

        case .gatewayNoLiveUpstreams:
            return .rejects(503, "RFC 9110 §15.6.4: no upstream can take the request (503 Service Unavailable)")

        case .dnsNXDOMAIN, .dnsSERVFAIL, .dnsREFUSED, .dnsTimeout:
            return .rejects(502, "RFC 9110 §15.6.3: the upstream's name did not resolve, so no upstream could be asked (502 Bad Gateway)")
        case .dnsDrift:
            return .rejects(502, "RFC 9110 §15.6.3: the new address of the upstream's name failed (502 Bad Gateway)")

        // HTTP/2 and gRPC (RFC 9113)
        case .protoH1ResponseToH2:
            return invalid("9113 §3.4: the server's connection preface is a SETTINGS frame")
        case .tlsALPNNoH2:
            return .accepts("RFC 9113 §3.2: without ALPN h2 the connection is not HTTP/2 over TLS; the finding is recorded beside the verdict")
        case .h2RSTStreamBeforeResponse:
            return invalid("9113 §6.4: the upstream reset the stream before any response")
        case .h2Goaway:
            return invalid("9113 §6.8: streams above the last-stream-id were not processed")
        case .h2FrameTooLarge:
            return invalid("9113 §4.2: a frame over SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR")
        case .h2HPACKBadIndex, .h2HPACKError:
            return invalid("9113 §4.3: a header block that does not decode is a COMPRESSION_ERROR")
        case .h2StatusMissing, .h2StatusDuplicate, .h2StatusInvalid:
            return invalid("9113 §8.3.2: a response has exactly one :status of three digits")
        case .h2HeaderRequestPseudo:
            return invalid("9113 §8.3: a response carries no request pseudo-header")
        case .h2HeaderUppercase:
            return invalid("9113 §8.2.1: field names are lowercase")
        case .h2HeaderConnectionSpecific:
            return invalid("9113 §8.2.2: a message with a connection-specific field is malformed")
        case .h2ContentLengthMismatch:
            return .rejects(nil, "RFC 9113 §8.1.1: DATA that disagrees with content-length is malformed")
        case .h2StreamClosed:
            return invalid("9113 §5.1: a frame on a closed stream is a STREAM_CLOSED error")
        case .h2TrailersNoEndStream:
            return .rejects(nil, "RFC 9113 §8.1: trailers carry END_STREAM")
        case .h2SettingsBadStream:
            return invalid("9113 §6.5: SETTINGS on a stream other than 0 is a PROTOCOL_ERROR")
        case .h2FlowControl:
            return .rejects(nil, "RFC 9113 §6.9.1: DATA over the flow-control window is a FLOW_CONTROL_ERROR")
        case .h2PrefaceBad:
            return invalid("9113 §3.4: the server's connection preface is a SETTINGS frame")
        case .h2FrameSizeError:
            return invalid("9113 §4.2: a control frame of the wrong length is a FRAME_SIZE_ERROR")
        case .h2PushPromiseUnexpected:
            return invalid("9113 §8.4: a PUSH_PROMISE after SETTINGS_ENABLE_PUSH 0 is a PROTOCOL_ERROR")
        case .grpcStatus:
            return GatewayRuleKit.relayed(context, "gRPC PROTOCOL-HTTP2: the service's own status")

        // Facts of the capture: no upstream bytes to react to.
        case .tcpOverlapMismatch, .tcpIdleEvicted, .limitReassemblyBuffer, .limitFlowTable, .ipFragmented, .tcpICMPFragNeeded:
            return GatewayRuleKit.noRule
        }
    }
}

extension GatewayModel where Self == StrictModel {
    /// The strict reading of the RFCs (`--gateway strict`).
    public static var strict: StrictModel { StrictModel() }
}
