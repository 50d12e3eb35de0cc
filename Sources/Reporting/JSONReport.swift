import CaptureModel
import Diagnosis
import Engine
import HTTP1
import TCPReassembly

/// Builds the `edgescope.report/1` JSON document (DESIGN.md: add fields freely, rename none).
public enum JSONReport {
    /// The schema name.
    public static let schema = "edgescope.report/1"

    /// The whole report. `slices` maps a connection id to its slice path relative to the report.
    public static func document(_ result: AnalysisResult, source: SourceInfo, slices: [UInt32: String] = [:]) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("schema", .string(self.schema)),
            ("generator", .object([
                ("name", .string("edgescope")), ("gateway_profile", .string(result.gateway.description)),
                // false only with --no-redact: evidence then shows credential values as sent.
                ("redacted", .bool(result.redactsSecrets)),
            ])),
            ("source", self.source(result, info: source)),
            ("warnings", .array(result.warnings.map { .string($0) })),
            ("totals", self.totals(result)),
            ("upstreams", .array(Summary.upstreams(result).map { self.upstream($0, names: result.upstreams) })),
            ("connections", .array(result.connections.map { self.connection($0, slice: slices[$0.id]) })),
        ]
        // Only when the capture also holds the client-to-gateway hop (DESIGN.md).
        if let clientHop = result.clientHop {
            members.append(("client_hop", self.clientHop(clientHop)))
            members.append(("client_errors", .array(clientHop.errors.map(self.clientError))))
        }
        return .object(members)
    }

    /// The client hop: the gateway's listeners, and how many of the errors clients got are explained.
    static func clientHop(_ summary: ClientHopSummary) -> JSONValue {
        .object([
            ("gateways", .array(summary.listeners.map { listener in
                .object([
                    ("listen", .string(listener.endpoint.description)),
                    ("found_by", .string(listener.given ? "gateway_address" : "inferred")),
                    ("connections", .number(listener.connections)),
                    ("requests", .number(listener.requests)),
                ])
            })),
            ("connections", .number(summary.connections)),
            ("requests", .number(summary.requests)),
            ("errors", .number(summary.errorCount)),
            ("explained", .number(summary.explained)),
            ("unexplained", .number(summary.unexplained)),
            ("errors_not_listed", .number(summary.errorsNotListed)),
        ])
    }

    /// One 502, 503 or 504 a client got: DESIGN.md's fields first, then what ties it to its upstream.
    public static func clientError(_ error: ClientError) -> JSONValue {
        .object([
            ("client", .string(error.client.description)),
            ("status", .number(error.status)),
            ("time", .string(error.time.rfc3339)),
            ("request", .string(error.request)),
            ("generated_by", .string(error.generatedBy.rawValue)),
            ("upstream_connection", .optional(error.upstreamConnection.map { "c\($0)" })),
            ("cause", .optional(error.cause?.description)),
            ("gateway", .string(error.gateway.description)),
            ("client_connection", .string("c\(error.clientConnection)")),
            ("frame", error.frame.map { .number($0) } ?? .null),
            ("request_frame", .number(error.requestFrame)),
            ("host", .optional(error.host)),
            ("request_id", .optional(error.requestID)),
            ("upstream_server", .optional(error.upstreamServer?.description)),
            ("earlier_upstream_connections", .array(error.earlierUpstreamConnections.map { .string("c\($0)") })),
            ("matched_by", .array(error.matchedBy.map { .string($0) })),
        ])
    }

    /// Counts over every connection judged, listed or not.
    static func totals(_ result: AnalysisResult) -> JSONValue {
        .object([
            ("connections", .number(result.tally.connections)),
            ("failed", .number(result.tally.failed)),
            ("listed", .number(result.connections.count)),
            ("unlisted", .number(result.unlistedConnections)),
            ("outside_upstreams", .number(result.otherConnections)),
            ("classes", .object(VerdictClass.allCases.compactMap { verdictClass in
                result.tally.classes[verdictClass].map { (verdictClass.rawValue, .number($0)) }
            })),
            ("causes", .object(Summary.causes(result).map { ($0.code.description, .number($0.count)) })),
        ])
    }

    static func source(_ result: AnalysisResult, info: SourceInfo) -> JSONValue {
        let stats = result.statistics
        return .object([
            ("path", .string(info.path)),
            ("link_type", .string(result.linkType.description)),
            ("snap_length", .number(info.snapLength)),
            ("packets", .number(stats.frames)),
            ("bytes", .number(stats.wireBytes)),
            ("captured_bytes", .number(stats.capturedBytes)),
            ("first_time", .optional(stats.firstTime?.rfc3339)),
            ("last_time", .optional(stats.lastTime?.rfc3339)),
            ("complete", .bool(info.readError == nil)),
            ("read_error", .optional(info.readError)),
            ("tcp_segments", .number(stats.tcpSegments)),
            ("not_tcp", .number(stats.notTCP)),
            ("truncated_frames", .number(stats.truncatedFrames)),
            ("malformed_frames", .number(stats.malformedFrames)),
            ("ipv4_fragments", .number(stats.fragments.ipv4FragmentsSeen)),
            ("ipv4_datagrams_reassembled", .number(stats.fragments.ipv4DatagramsReassembled)),
            ("ipv4_datagrams_incomplete", .number(stats.fragments.ipv4DatagramsEvicted &+ stats.fragments.ipv4DatagramsDiscarded)),
            ("ipv6_fragments_not_reassembled", .number(stats.fragments.ipv6FragmentsNotReassembled)),
        ])
    }

    static func upstream(_ row: Summary.UpstreamRow, names: [UpstreamSpec]) -> JSONValue {
        let name = names.first { $0.name != nil && $0.address == row.endpoint.address && ($0.port ?? row.endpoint.port) == row.endpoint.port }?.name
        return .object([
            ("server", .string(row.server)),
            ("name", .optional(name)),
            ("connections", .number(row.connections)),
            ("failed", .number(row.failed)),
            ("causes", .object(row.causes.map { ($0.code.description, .number($0.count)) })),
        ])
    }

    /// One connection's entry.
    public static func connection(_ report: ConnectionReport, slice: String?) -> JSONValue {
        let facts = report.facts
        // Evidence is one flat list per connection; findings point into it by index.
        var evidence: [JSONValue] = []
        var findings: [JSONValue] = []
        for finding in report.findings {
            var indices: [JSONValue] = []
            for item in finding.evidence {
                indices.append(.number(evidence.count))
                evidence.append(self.evidence(item))
            }
            findings.append(.object([
                ("code", .string(finding.code.description)),
                ("severity", .string(finding.severity.rawValue)),
                ("evidence", .array(indices)),
            ]))
        }
        return .object([
            ("id", .string(report.name)),
            ("client", .string(report.client.description)),
            ("server", .string(report.server.description)),
            ("start", .string(facts.first.time.rfc3339)),
            ("end", .string(facts.last.time.rfc3339)),
            ("frames", .array([.number(report.frames.lowerBound), .number(report.frames.upperBound)])),
            ("display_filter", .string(Summary.displayFilter(report))),
            ("tcp", self.tcp(report)),
            ("tls", report.tls.map(self.tls) ?? .null),
            ("transactions", .array(report.transactions.map(self.transaction))),
            ("transactions_not_listed", .number(report.transactionsDropped)),
            ("verdict", self.verdict(report.verdict)),
            ("findings", .array(findings)),
            ("evidence", .array(evidence)),
            ("slice", .optional(slice)),
        ])
    }

    static func tcp(_ report: ConnectionReport) -> JSONValue {
        let facts = report.facts
        func side(_ d: DirectionFacts, stream: UInt64, gaps: UInt64, retransmissions: Int, outOfOrder: Int) -> JSONValue {
            .object([
                ("packets", .number(d.packets)),
                ("bytes", .number(stream)),
                ("bytes_on_wire", .number(d.payloadBytesOnWire)),
                ("gap_bytes", .number(gaps)),
                ("retransmissions", .number(retransmissions)),
                ("out_of_order", .number(outOfOrder)),
                ("fin_frame", d.fin.map { .number($0.frame) } ?? .null),
                ("fin_time", .optional(d.fin?.time.rfc3339)),
                ("rst_frame", d.rst.map { .number($0.frame) } ?? .null),
                ("rst_time", .optional(d.rst?.time.rfc3339)),
                ("zero_window", .number(d.zeroWindowAdvertisements)),
                ("zero_window_probes", .number(d.zeroWindowProbes)),
            ])
        }
        return .object([
            ("history", .string(facts.history)),
            ("opened_by", .string(facts.opener?.name ?? "unknown")),
            ("syn_count", .number(facts.synCount)),
            ("handshake_rtt_us", facts.handshakeRTT.map { .double(Double($0) / 1000) } ?? .null),
            ("closed_by", .string(facts.firstToClose?.name ?? "none")),
            ("reset_by", .string(facts.firstToReset?.name ?? "none")),
            ("simultaneous_close", .bool(facts.simultaneousClose)),
            ("ended", .string(self.endName(report.end))),
            ("client", side(facts.client, stream: report.clientStreamBytes, gaps: report.clientGapBytes,
                            retransmissions: report.retransmissions.client, outOfOrder: report.outOfOrder.client)),
            ("server", side(facts.server, stream: report.serverStreamBytes, gaps: report.serverGapBytes,
                            retransmissions: report.retransmissions.server, outOfOrder: report.outOfOrder.server)),
            ("ladder", facts.ladder.count == 0 ? .null : self.ladder(facts.ladder, start: facts.first.time)),
        ])
    }

    /// The packets a ladder diagram draws: the first and last few, with what lies between counted.
    static func ladder(_ ladder: PacketLadder, start: Timestamp) -> JSONValue {
        func packet(_ packet: LadderPacket) -> JSONValue {
            .object([
                ("frame", .number(packet.frame)),
                ("time", .string(packet.time.rfc3339)),
                ("since_start_us", .double(Double(packet.time.nanoseconds(since: start)) / 1000)),
                ("from", .string(packet.direction.name)),
                ("flags", .string(self.flagNames(packet.flags))),
                ("seq", .number(ladder.relativeSequence(of: packet))),
                ("ack", ladder.relativeAcknowledgment(of: packet).map { .number($0) } ?? .null),
                ("len", .number(packet.payloadLength)),
            ])
        }
        return .object([
            ("packets", .array((ladder.head + ladder.tail).map(packet))),
            ("omitted", .number(ladder.omitted)),
            ("omitted_after", .number(ladder.head.count)),
        ])
    }

    /// `SYN ACK`, `PSH ACK`, `FIN ACK`, `RST`: the set flags by name, in a fixed order.
    static func flagNames(_ flags: UInt8) -> String {
        let names: [(UInt8, String)] = [
            (0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"),
        ]
        return names.filter { flags & $0.0 != 0 }.map(\.1).joined(separator: " ")
    }

    static func tls(_ tls: TLSSummary) -> JSONValue {
        .object([
            ("version", .optional(tls.version)),
            ("sni", .optional(tls.sni)),
            ("alpn", .optional(tls.alpn)),
            ("cipher", .optional(tls.cipher)),
            ("alerts", .array(tls.alerts.map { .string($0) })),
            ("decrypted", .bool(tls.decrypted)),
            ("chain", .array(tls.chain.map { certificate in
                .object([
                    ("subject", .string(certificate.subject)),
                    ("issuer", .string(certificate.issuer)),
                    ("not_before", .string(certificate.notBefore)),
                    ("not_after", .string(certificate.notAfter)),
                    ("san", .array(certificate.subjectAltNames.map { .string($0) })),
                    ("key", .string(certificate.key)),
                    ("sha256", .string(certificate.sha256)),
                ])
            })),
            ("verification", .object([
                ("result", .string(tls.verification)),
                ("openssl_code", tls.opensslCode.map { .number($0) } ?? .null),
                ("openssl_text", .optional(tls.opensslText)),
                ("depth", tls.depth.map { .number($0) } ?? .null),
            ])),
        ])
    }

    static func transaction(_ transaction: Transaction) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let request = transaction.request {
            members.append(("request", .object([
                ("method", .string(request.method)),
                ("target", .string(request.target)),
                ("host", .optional(request.host)),
                ("frame", .number(request.frame)),
                ("time", .string(request.time.rfc3339)),
            ])))
        } else {
            members.append(("request", .null))
        }
        if let response = transaction.response {
            members.append(("response", .object([
                ("status", response.status.map { .number($0) } ?? .null),
                ("frame", response.frame.map { .number($0) } ?? .null),
                ("framing", .string(response.framing.rawValue)),
                ("complete", .bool(response.complete)),
                ("interim", .array(response.interim.map { .number($0) })),
            ])))
        } else {
            members.append(("response", .null))
        }
        return .object(members)
    }

    static func endName(_ end: ConnectionEnd) -> String {
        switch end {
        case .closed: return "closed"
        case .idleEvicted: return "idle_evicted"
        case .flowTableFull: return "flow_table_full"
        case .reused: return "ports_reused"
        case .captureEnded: return "capture_ended"
        }
    }

    static func verdict(_ verdict: Verdict) -> JSONValue {
        let order = ["nginx", "haproxy", "envoy"]
        var gateways: [(String, JSONValue)] = []
        for name in order {
            guard let outcome = verdict.gateways[name] else { continue }
            let detailKey: String
            switch name {
            case "nginx": detailKey = "log"
            case "haproxy": detailKey = "termination"
            default: detailKey = "flag"
            }
            gateways.append((name, .object([
                ("status", outcome.status.map { .number($0) } ?? .null),
                (detailKey, .string(outcome.detail)),
            ])))
        }
        return .object([
            ("code", .string(verdict.code.description)),
            ("class", .string(verdict.verdictClass.rawValue)),
            ("phase", .string(verdict.phase.rawValue)),
            ("summary", .string(verdict.summary)),
            ("gateways", .object(gateways)),
        ])
    }

    static func evidence(_ evidence: Evidence) -> JSONValue {
        .object([
            ("direction", .string(evidence.direction.name)),
            ("stream_offset", .number(evidence.streamOffset)),
            ("frame", evidence.frame.map { .number($0) } ?? .null),
            ("frame_offset", evidence.frameOffset.map { .number($0) } ?? .null),
            ("length", .number(evidence.length)),
            ("hex", .string(hexString(evidence.bytes))),
            ("context_hex", .string(hexString(evidence.context))),
            ("context_offset", .number(evidence.contextOffset)),
            ("note", .string(evidence.note)),
        ])
    }
}

/// Where the analysed frames came from.
public struct SourceInfo: Sendable {
    /// The capture path as given.
    public var path: String
    /// The snap length the file declares.
    public var snapLength: Int
    /// Why reading stopped early, when it did.
    public var readError: String?

    /// Source information from its parts.
    public init(path: String, snapLength: Int, readError: String? = nil) {
        self.path = path
        self.snapLength = snapLength
        self.readError = readError
    }
}
