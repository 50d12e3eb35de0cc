import CaptureModel
import Diagnosis
import Engine
import GatewayLog
import HTTP1
import TCPReassembly

/// Builds the `edgescope.report/1` JSON document (docs/json-report.md: add fields freely, rename none).
public enum JSONReport {
    /// The schema name.
    public static let schema = "edgescope.report/1"

    /// The whole report. `slices` maps a connection id to its slice path relative to the report.
    /// `traffic` is what every judged connection carried (a streamed report counts it as
    /// connections come); without it, what the listed connections carried, which the upstreams'
    /// entries give only when every judged connection is listed (the timeline draws it anyway).
    public static func document(
        _ result: AnalysisResult, source: SourceInfo, slices: [UInt32: String] = [:], traffic given: UpstreamTraffic? = nil
    ) -> JSONValue {
        let traffic = given ?? UpstreamTraffic(result.connections)
        let complete = given != nil || result.unlistedConnections == 0
        let upstreams = Summary.upstreams(result)
        let window = result.statistics.firstTime.flatMap { first in result.statistics.lastTime.map { (first, max(first, $0)) } }
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
            ("upstreams", .array(upstreams.map { self.upstream($0, names: result.upstreams, traffic: complete ? traffic.counts(of: $0.endpoint) : nil) })),
            ("timeline", traffic.timeline(window: window, upstreams: upstreams.map(\.server))?.json ?? .null),
            ("connections", .array(result.connections.map { self.connection($0, slice: slices[$0.id], origins: source.origins) })),
        ]
        // Only when the capture also holds the client-to-gateway hop (docs/json-report.md).
        if let clientHop = result.clientHop {
            members.append(("client_hop", self.clientHop(clientHop)))
            members.append(("client_errors", .array(clientHop.errors.map { self.clientError($0, origins: source.origins) })))
        }
        // Only when the capture holds DNS (UDP or TCP port 53).
        if let dns = result.dns {
            members.append(("dns", DNSReport.json(dns, origins: source.origins)))
        }
        // Only with --gateway-log: each file, and the lines that joined nothing.
        if let gatewayLog = result.gatewayLog {
            members.append(("gateway_log", GatewayLogReport.summary(gatewayLog)))
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

    /// One failure a client saw (a 500, 502, 503 or 504, or a response never whole): docs/json-report.md's fields first, then what ties it to its upstream.
    /// With `origins` (several capture files), its frames are numbered in their file and `file` says which.
    public static func clientError(_ error: ClientError, origins: FrameOrigins? = nil) -> JSONValue {
        let naming = FrameNaming(origins)
        var members: [(String, JSONValue)] = [
            ("client", .string(error.client.description)),
            ("status", error.status.map { .number($0) } ?? .null),
            ("time", .string(error.time.rfc3339)),
            ("request", .string(error.request)),
            ("generated_by", .string(error.generatedBy.rawValue)),
            ("upstream_connection", .optional(error.upstreamConnection.map { "c\($0)" })),
            ("cause", .optional(error.cause?.description)),
            ("gateway", .string(error.gateway.description)),
            ("client_connection", .string("c\(error.clientConnection)")),
            ("frame", error.frame.map { .number(naming.number($0)) } ?? .null),
            ("request_frame", .number(naming.number(error.requestFrame))),
        ]
        // Only with several capture files: the file holding the client-hop connection.
        if let file = naming.file(error.requestFrame) { members.append(("file", .number(file))) }
        members += [
            ("host", .optional(error.host)),
            ("request_id", .optional(error.requestID)),
            ("upstream_server", .optional(error.upstreamServer?.description)),
            ("earlier_upstream_connections", .array(error.earlierUpstreamConnections.map { .string("c\($0)") })),
            ("matched_by", .array(error.matchedBy.map { .string($0) })),
            ("disabled_by", .array(error.disabledBy.map { .string("c\($0)") })),
            ("failure", .string(error.failure.rawValue)),
        ]
        // HTTP/2 only (absent on HTTP/1): the client's stream, the gateway's RST_STREAM error on
        // it, and the upstream stream that carried the request.
        if let stream = error.streamID { members.append(("stream_id", .number(Int(stream)))) }
        if let reset = error.resetError { members.append(("reset_error", .string(reset))) }
        if let stream = error.upstreamStreamID { members.append(("upstream_stream_id", .number(Int(stream)))) }
        // A `dns.*` cause: the failing answer's frame, or the unanswered query's.
        if let frame = error.dnsFrame {
            members.append(("dns_frame", .number(naming.number(frame))))
            // Only with several capture files: the file holding that DNS frame.
            if let file = naming.file(frame) { members.append(("dns_file", .number(file))) }
            members.append(("dns_name", .optional(error.dnsName)))
        }
        if let notes = error.gatewayLog { members.append(("gateway_log", GatewayLogReport.value(notes))) }
        return .object(members)
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
        var members: [(String, JSONValue)] = [
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
        ]
        // Only when several capture files were read as one: `file` members index this.
        if !info.files.isEmpty {
            members.append(("files", .array(info.files.map { file in
                .object([
                    ("path", .string(file.path)),
                    ("link_type", .string(file.linkType)),
                    ("snap_length", .number(file.snapLength)),
                    ("packets", .number(file.packets)),
                    ("first_time", .optional(file.firstTime?.rfc3339)),
                    ("last_time", .optional(file.lastTime?.rfc3339)),
                    ("complete", .bool(file.readError == nil)),
                    ("read_error", .optional(file.readError)),
                ])
            })))
        }
        return .object(members)
    }

    /// The `--upstream NAME=` given for `row`'s server, if any.
    public static func name(of row: Summary.UpstreamRow, in names: [UpstreamSpec]) -> String? {
        names.first { $0.name != nil && $0.address == row.endpoint.address && ($0.port ?? row.endpoint.port) == row.endpoint.port }?.name
    }

    /// One upstream's entry. `failed` counts the connections the gateway failed (502, 503, 504,
    /// truncated, unknown), `relayed` the upstream's own 5xx; `causes` covers both,
    /// `failed_causes` only the first. `traffic`, when given, adds what every connection carried.
    static func upstream(_ row: Summary.UpstreamRow, names: [UpstreamSpec], traffic: UpstreamTraffic.Server? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("server", .string(row.server)),
            ("name", .optional(self.name(of: row, in: names))),
            ("connections", .number(row.connections)),
            ("failed", .number(row.failed)),
            ("causes", .object(row.causes.map { ($0.code.description, .number($0.count)) })),
            ("relayed", .number(row.relayed)),
            ("failed_causes", .object(row.failedCauses.map { ($0.code.description, .number($0.count)) })),
        ]
        if let traffic { members += traffic.members }
        return .object(members)
    }

    /// A connection in short: a healthy one as `--json` lists it, a relayed 5xx as report.json
    /// lists it, and every connection in connections.jsonl (like Zeek's conn.log). The fields
    /// scripts read (`id`, `client`, `server`, `start`, `end`, `frames`, `verdict.code`,
    /// `verdict.class`; `verdict.phase` and `verdict.summary` when not healthy), what it carried
    /// (`requests`, `bytes_to_upstream`, `bytes_from_upstream`), and `compact: true`.
    /// With `origins` (several capture files), `frames` are numbered in the connection's file and `file` says which.
    public static func compactConnection(_ report: ConnectionReport, origins: FrameOrigins? = nil) -> JSONValue {
        let naming = FrameNaming(origins)
        return .object([
            ("id", .string(report.name)),
            ("client", .string(report.client.description)),
            ("server", .string(report.server.description)),
            ("start", .string(report.facts.first.time.rfc3339)),
            ("end", .string(report.facts.last.time.rfc3339)),
            ("frames", .array([.number(naming.number(report.frames.lowerBound)), .number(naming.number(report.frames.upperBound))])),
        ] + self.fileMember(naming.file(report.frames.lowerBound)) + [
            ("requests", .number(report.transactions.count + report.transactionsDropped)),
            ("bytes_to_upstream", .uint(report.clientStreamBytes)),
            ("bytes_from_upstream", .uint(report.serverStreamBytes)),
            ("verdict", .object(
                [("code", .string(report.verdict.code.description)), ("class", .string(report.verdict.verdictClass.rawValue))]
                    // A relayed 5xx says what the upstream answered; a healthy one needs no sentence.
                    + (report.verdict.verdictClass == .ok ? [] : [
                        ("phase", .string(report.verdict.phase.rawValue)), ("summary", .string(report.verdict.summary)),
                    ])
                    + (report.verdict.stderr.map { [("stderr", .string($0))] } ?? []))),
            ("compact", .bool(true)),
        ] + (report.gatewayLog.map { [("gateway_log", GatewayLogReport.value($0))] } ?? [])
          + (report.gatewayLogNotListed > 0 ? [("gateway_log_not_listed", .number(report.gatewayLogNotListed))] : []) + (report.proxyHeader.map { header in
            // Only when the gateway sent one: the original client the upstream is told of.
            [("proxy_header", .object([
                ("version", .number(header.version)), ("source", .optional(header.source?.description)),
                ("destination", .optional(header.destination?.description)),
            ]))]
        } ?? []))
    }

    /// `[("file", N)]` with several capture files, else nothing.
    static func fileMember(_ file: Int?) -> [(String, JSONValue)] {
        file.map { [("file", .number($0))] } ?? []
    }

    /// One connection's entry. With `origins` (several capture files read as one), every
    /// frame is numbered in its own file, and `file` (on the connection and on each evidence
    /// item) indexes `source.files`.
    public static func connection(_ report: ConnectionReport, slice: String?, origins: FrameOrigins? = nil) -> JSONValue {
        var tree = JSONTreeBuilder()
        self.connection(report, slice: slice, listing: nil, origins: origins, into: &tree)
        return tree.value
    }

    /// One connection's entry as text, as `connection(_:slice:origins:)` pretty-printed at
    /// `writer`'s level: report.json writes it so, without a tree.
    public static func connection(
        _ report: ConnectionReport, slice: String?, origins: FrameOrigins? = nil, into writer: inout PrettyJSONWriter
    ) {
        // A concrete entry point, so the generic description is specialized in this module.
        self.connection(report, slice: slice, listing: nil, origins: origins, into: &writer)
    }

    /// One connection's entry, written to `out`. With `listing`, at most that many
    /// transactions are listed and the rest are counted in `transactions_not_listed` (what
    /// `ReportDocument.Builder` keeps of a failure).
    static func connection<Output: JSONOutput>(
        _ report: ConnectionReport, slice: String?, listing limit: Int?, origins: FrameOrigins? = nil, into out: inout Output
    ) {
        let naming = FrameNaming(origins)
        let listed = min(limit ?? report.transactions.count, report.transactions.count)
        let facts = report.facts
        out.beginObject()
        out.member("id", report.name)
        out.member("client", report.client.description)
        out.member("server", report.server.description)
        out.key("start")
        out.time(facts.first.time)
        out.key("end")
        out.time(facts.last.time)
        out.array("frames") { out in
            out.number(naming.number(report.frames.lowerBound))
            out.number(naming.number(report.frames.upperBound))
        }
        // Only with several capture files: which one holds the connection (its first frame).
        if let file = naming.file(report.frames.lowerBound) { out.member("file", number: file) }
        out.member("display_filter", Summary.displayFilter(report, origins: origins))
        out.key("tcp")
        self.tcp(report, naming: naming, into: &out)
        out.key("tls")
        if let tls = report.tls { self.tls(tls, into: &out) } else { out.null() }
        if let header = report.proxyHeader {
            // Only when the gateway sent one: the original client the upstream is told of.
            out.key("proxy_header")
            out.object { out in
                out.member("version", number: header.version)
                out.member("source", header.source?.description)
                out.member("destination", header.destination?.description)
                out.member("length", number: header.length)
                out.member("frame", number: Int(naming.number(header.frame)))
                if let status = header.answeredWith { out.member("answered_with", number: status) } else { out.key("answered_with"); out.null() }
            }
        }
        out.array("transactions") { out in
            report.transactions.withUnsafeBufferPointer { transactions in
                for index in 0..<listed { self.transaction(at: transactions.baseAddress! + index, naming: naming, into: &out) }
            }
        }
        out.member("transactions_not_listed", number: report.transactionsDropped + (report.transactions.count - listed))
        out.key("verdict")
        self.verdict(report.verdict, into: &out)
        // Evidence is one flat list per connection; findings point into it by index.
        out.array("findings") { out in
            var index = 0
            for finding in report.findings {
                out.object { out in
                    out.member("code", finding.code.description)
                    out.member("severity", finding.severity.rawValue)
                    out.array("evidence") { out in
                        for _ in finding.evidence {
                            out.number(index)
                            index += 1
                        }
                    }
                }
            }
        }
        out.array("evidence") { out in
            for finding in report.findings {
                for item in finding.evidence { self.evidence(item, naming: naming, into: &out) }
            }
        }
        out.member("slice", slice)
        // Only with --gateway-log: the gateway's own lines about this connection.
        GatewayLogReport.members(report.gatewayLog, notListed: report.gatewayLogNotListed, into: &out)
        if let comparison = report.comparison {
            // Only on a failing connection whose head was compared with a healthy one.
            out.key("comparison")
            self.comparison(comparison, into: &out)
        }
        out.endObject()
    }

    static func tcp<Output: JSONOutput>(_ report: ConnectionReport, naming: FrameNaming, into out: inout Output) {
        let facts = report.facts
        func side(_ d: DirectionFacts, stream: UInt64, gaps: UInt64, retransmissions: Int, outOfOrder: Int, _ out: inout Output) {
            out.object { out in
                out.member("packets", number: d.packets)
                out.member("bytes", number: stream)
                out.member("bytes_on_wire", number: d.payloadBytesOnWire)
                out.member("gap_bytes", number: gaps)
                out.member("retransmissions", number: retransmissions)
                out.member("out_of_order", number: outOfOrder)
                out.member("fin_frame", number: d.fin.map { naming.number($0.frame) })
                out.member("fin_time", d.fin?.time.rfc3339)
                out.member("rst_frame", number: d.rst.map { naming.number($0.frame) })
                out.member("rst_time", d.rst?.time.rfc3339)
                out.member("zero_window", number: d.zeroWindowAdvertisements)
                out.member("zero_window_probes", number: d.zeroWindowProbes)
            }
        }
        out.beginObject()
        out.member("history", facts.history)
        out.member("opened_by", facts.opener?.name ?? "unknown")
        out.member("syn_count", number: facts.synCount)
        out.key("handshake_rtt_us")
        if let rtt = facts.handshakeRTT { out.double(Double(rtt) / 1000) } else { out.null() }
        out.member("closed_by", facts.firstToClose?.name ?? "none")
        out.member("reset_by", facts.firstToReset?.name ?? "none")
        out.member("simultaneous_close", bool: facts.simultaneousClose)
        out.member("ended", self.endName(report.end))
        out.key("client")
        side(facts.client, stream: report.clientStreamBytes, gaps: report.clientGapBytes,
             retransmissions: report.retransmissions.client, outOfOrder: report.outOfOrder.client, &out)
        out.key("server")
        side(facts.server, stream: report.serverStreamBytes, gaps: report.serverGapBytes,
             retransmissions: report.retransmissions.server, outOfOrder: report.outOfOrder.server, &out)
        out.key("ladder")
        if facts.ladder.count == 0 { out.null() } else { self.ladder(facts.ladder, start: facts.first.time, naming: naming, into: &out) }
        out.endObject()
    }

    /// The packets a ladder diagram draws: the first and last few, with what lies between counted.
    static func ladder<Output: JSONOutput>(_ ladder: PacketLadder, start: Timestamp, naming: FrameNaming, into out: inout Output) {
        func packet(_ packet: LadderPacket, _ out: inout Output) {
            out.object { out in
                out.member("frame", number: naming.number(packet.frame))
                out.key("time")
                out.time(packet.time)
                out.key("since_start_us")
                out.double(Double(packet.time.nanoseconds(since: start)) / 1000)
                out.member("from", packet.direction.name)
                out.member("flags", self.flagNames(packet.flags))
                out.member("seq", number: ladder.relativeSequence(of: packet))
                out.member("ack", number: ladder.relativeAcknowledgment(of: packet))
                out.member("len", number: packet.payloadLength)
            }
        }
        out.beginObject()
        out.array("packets") { out in
            for item in ladder.head { packet(item, &out) }
            for item in ladder.tail { packet(item, &out) }
        }
        out.member("omitted", number: ladder.omitted)
        out.member("omitted_after", number: ladder.head.count)
        out.endObject()
    }

    /// `SYN ACK`, `PSH ACK`, `FIN ACK`, `RST`: the set flags by name, in a fixed order.
    static func flagNames(_ flags: UInt8) -> String {
        // Every ladder packet names its flags: the 256 texts are made once.
        self.flagTexts[Int(flags)]
    }

    private static let flagTexts: [String] = (0...255).map { flags in
        let names: [(UInt8, String)] = [
            (0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"),
        ]
        return names.filter { UInt8(flags) & $0.0 != 0 }.map(\.1).joined(separator: " ")
    }

    static func tls<Output: JSONOutput>(_ tls: TLSSummary, into out: inout Output) {
        out.beginObject()
        out.member("version", tls.version)
        out.member("sni", tls.sni)
        out.member("alpn", tls.alpn)
        out.member("cipher", tls.cipher)
        out.array("alerts") { out in
            for alert in tls.alerts { out.string(alert) }
        }
        out.member("decrypted", bool: tls.decrypted)
        out.array("chain") { out in
            for certificate in tls.chain {
                out.object { out in
                    out.member("subject", certificate.subject)
                    out.member("issuer", certificate.issuer)
                    out.member("not_before", certificate.notBefore)
                    out.member("not_after", certificate.notAfter)
                    out.array("san") { out in
                        for name in certificate.subjectAltNames { out.string(name) }
                    }
                    out.member("key", certificate.key)
                    out.member("sha256", certificate.sha256)
                }
            }
        }
        out.object("verification") { out in
            out.member("result", tls.verification)
            out.member("openssl_code", number: tls.opensslCode)
            out.member("openssl_text", tls.opensslText)
            out.member("depth", number: tls.depth)
        }
        out.endObject()
    }

    static func transaction<Output: JSONOutput>(at transaction: UnsafePointer<Transaction>, naming: FrameNaming, into out: inout Output) {
        // Read where it lies, with no closures: a copy of each transaction (its strings
        // retained and released) costs more than writing it, and a connection can list thousands.
        out.beginObject()
        out.key("request")
        // Each field read in place (known to be there): binding the request or response, or
        // unwrapping it with `!`, would copy it whole.
        // Whether there is one, through a plain field: `request != nil` would copy it too.
        if transaction.pointee.request?.frame != nil {
            out.beginObject()
            out.member("method", transaction.pointee.request?.method ?? "")
            out.member("target", transaction.pointee.request?.target ?? "")
            out.member("host", transaction.pointee.request?.host ?? nil)
            out.member("frame", number: naming.number(transaction.pointee.request?.frame ?? 0))
            out.key("time")
            out.time(transaction.pointee.request?.time ?? Timestamp(nanoseconds: 0))
            out.endObject()
        } else {
            out.null()
        }
        out.key("response")
        if transaction.pointee.response?.complete != nil {
            out.beginObject()
            out.member("status", number: transaction.pointee.response?.status ?? nil)
            out.member("frame", number: (transaction.pointee.response?.frame ?? nil).map(naming.number))
            out.member("framing", transaction.pointee.response?.framing.rawValue ?? "")
            out.member("complete", bool: transaction.pointee.response?.complete ?? false)
            out.key("interim")
            out.beginArray()
            for status in transaction.pointee.response?.interim ?? [] { out.number(status) }
            out.endArray()
            out.endObject()
        } else {
            out.null()
        }
        // HTTP/2 only: the stream that carried the exchange.
        if let stream = transaction.pointee.streamID { out.member("stream_id", number: stream) }
        out.endObject()
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

    static func verdict<Output: JSONOutput>(_ verdict: Verdict, into out: inout Output) {
        out.beginObject()
        out.member("code", verdict.code.description)
        out.member("class", verdict.verdictClass.rawValue)
        out.member("phase", verdict.phase.rawValue)
        out.member("summary", verdict.summary)
        out.object("gateways") { out in
            for model in Gateways.all {
                guard let outcome = verdict.gateways[model.name] else { continue }
                out.object(model.key) { out in
                    out.member("status", number: outcome.status)
                    out.member(model.detail.key, outcome.detail)
                }
            }
        }
        // Only on a FastCGI hop whose application wrote to FCGI_STDERR.
        if let stderr = verdict.stderr { out.member("stderr", stderr) }
        out.endObject()
    }

    static func evidence<Output: JSONOutput>(_ evidence: Evidence, naming: FrameNaming, into out: inout Output) {
        out.beginObject()
        out.member("direction", evidence.direction.name)
        out.member("stream_offset", number: evidence.streamOffset)
        out.member("frame", number: evidence.frame.map(naming.number))
        // Only with several capture files: the file that frame is in.
        if let file = evidence.frame.flatMap(naming.file) { out.member("file", number: file) }
        out.member("frame_offset", number: evidence.frameOffset)
        out.member("length", number: evidence.length)
        out.member("hex", hexString(evidence.bytes))
        out.member("context_hex", hexString(evidence.context))
        out.member("context_offset", number: evidence.contextOffset)
        out.member("note", evidence.note)
        // HTTP/2 only: HTTP/1 evidence has no stream, and its reports keep their shape.
        if let stream = evidence.streamID { out.member("stream_id", number: stream) }
        // Only for bytes inside another protocol's records (FastCGI's CGI response).
        if let contentOffset = evidence.contentOffset { out.member("content_offset", number: contentOffset) }
        out.endObject()
    }
}

extension ReportDocument.Builder {
    /// Adds `report` as `add(JSONReport.connection(report, slice: slice))` would, reading its
    /// fields from the report and making its entry only when the builder keeps it.
    public mutating func add(_ report: ConnectionReport, slice: String?, origins: FrameOrigins? = nil) {
        let summary = Connection(
            server: report.server.description, start: Timestamp(rfc3339: report.facts.first.time.rfc3339),
            verdictClass: report.verdict.verdictClass.rawValue, code: report.verdict.code.description, id: UInt64(report.id))
        self.add(summary) { listed in
            var tree = JSONTreeBuilder()
            JSONReport.connection(report, slice: slice, listing: listed, origins: origins, into: &tree)
            return tree.value
        }
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
    /// With several capture files read as one (`analyze A B`): each file, in the order given
    /// (`source.files`); empty for one.
    public var files: [File] = []
    /// With several capture files: which file each frame came from, and its number there.
    public var origins: FrameOrigins?

    /// One of several capture files read as one.
    public struct File: Sendable {
        /// The path as given.
        public var path: String
        /// libpcap's name of its link type.
        public var linkType: String
        /// Its snap length.
        public var snapLength: Int
        /// Records read from it.
        public var packets: Int
        /// Its first and last record's time.
        public var firstTime: Timestamp?
        public var lastTime: Timestamp?
        /// Why reading it stopped early, when it did.
        public var readError: String?

        /// A file's entry from its parts.
        public init(path: String, linkType: String, snapLength: Int, packets: Int, firstTime: Timestamp?, lastTime: Timestamp?, readError: String?) {
            self.path = path
            self.linkType = linkType
            self.snapLength = snapLength
            self.packets = packets
            self.firstTime = firstTime
            self.lastTime = lastTime
            self.readError = readError
        }
    }

    /// Source information from its parts.
    public init(path: String, snapLength: Int, readError: String? = nil) {
        self.path = path
        self.snapLength = snapLength
        self.readError = readError
    }
}

/// How a report numbers frames: as the engine did (one capture file), or, with several files
/// read as one, by the file each frame is in and its number there.
struct FrameNaming {
    let origins: FrameOrigins?

    init(_ origins: FrameOrigins?) {
        self.origins = origins
    }

    /// The frame's number in its file.
    @inline(__always)
    func number(_ frame: FrameNumber) -> FrameNumber {
        guard let origins = self.origins else { return frame }
        return origins.locate(frame).frame
    }

    /// The index of the frame's file; `nil` with one file.
    @inline(__always)
    func file(_ frame: FrameNumber) -> Int? {
        self.origins?.locate(frame).file
    }
}
