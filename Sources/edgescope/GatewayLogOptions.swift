import ArgumentParser
import CaptureModel
import Engine
import GatewayLog
import Reporting

/// `--gateway-log`, `--gateway-log-format`, `--gateway-log-tz` of `analyze` and `capture`.
struct GatewayLogOptions: ParsableArguments {
    @Option(name: .customLong("gateway-log"), help: ArgumentHelp(
        "The gateway's own log, joined to the connections and client errors its lines are about; repeatable. nginx error.log and access log, HAProxy httplog, Apache error_log and access log, Caddy's JSON log, varnishncsa and varnishlog output; the layout is found from the lines.",
        valueName: "file"))
    var files: [String] = []

    @Option(name: .customLong("gateway-log-format"), help: ArgumentHelp(
        "An access log's layout, as the gateway's config gives it: nginx:'<log_format string>' or apache:'<LogFormat string>' (lighttpd: and varnishncsa: too); repeatable, each file is read in the one its lines fit. NCSA combined is known without it.",
        valueName: "kind:format"))
    var formats: [String] = []

    @Option(name: .customLong("gateway-log-tz"), help: ArgumentHelp(
        "The zone of the logs' local times (nginx error.log, HAProxy, Apache error_log carry none): UTC, +02:00, or a tz name such as Europe/Paris. Default: this machine's zone.",
        valueName: "zone"))
    var zone: String?

    /// The followers of the files given, each opened and checked; `nil` without `--gateway-log`.
    func open() throws -> GatewayLogSession? {
        guard !self.files.isEmpty else {
            if !self.formats.isEmpty || self.zone != nil {
                throw ToolFailure(status: 1, message: "--gateway-log-format and --gateway-log-tz need --gateway-log FILE")
            }
            return nil
        }
        var formats: [AccessLogFormat] = []
        for text in self.formats {
            guard let format = AccessLogFormat(option: text) else {
                throw ToolFailure(
                    status: 1,
                    message: "--gateway-log-format '\(Terminal.safe(text))': give nginx:'<log_format string>' or apache:'<LogFormat string>', with at least one field")
            }
            formats.append(format)
        }
        var zone = LocalZone.machine
        if let text = self.zone {
            guard let parsed = LocalZone(parsing: text) else {
                throw ToolFailure(status: 1, message: "--gateway-log-tz '\(Terminal.safe(text))': give UTC, an offset such as +02:00, or a tz name such as Europe/Paris")
            }
            zone = parsed
        }
        let followers = try self.files.map { try GatewayLogFollower(path: $0, formats: formats, zone: zone) }
        return GatewayLogSession(followers: followers, zone: zone)
    }
}

/// The gateway logs of one run: their followers and the joiner the connections go through.
final class GatewayLogSession {
    let followers: [GatewayLogFollower]
    let zone: LocalZone
    private(set) var joiner = GatewayLogJoiner()
    /// The notes each connection got as it was streamed, for the copies the summary keeps;
    /// those of connections the summary will not list are let go (`forgetUnlisted`).
    private var notes: [UInt32: (notes: [GatewayLogNote], notListed: Int)] = [:]
    /// How many connections' notes are kept before those not listed are first let go.
    static let notesKeptBeforeFirstForgetting = 1024
    private var notesKeptBeforeForgetting = GatewayLogSession.notesKeptBeforeFirstForgetting
    /// The annotated connections, by their upstream side.
    private var idsByServer: [Endpoint: [UInt32]] = [:]

    init(followers: [GatewayLogFollower], zone: LocalZone) {
        self.followers = followers
        self.zone = zone
    }

    /// Reads each file to its end (`analyze`). A file with lines none of which is in a layout
    /// edgescope reads is an error: it is not a gateway log, or its format was not given.
    func readAll() throws {
        for follower in self.followers {
            let (records, warnings) = follower.refresh(untilEnd: true)
            for warning in warnings { Edgescope.warn(warning) }
            // Two calls, not `records + ...`: one copy of a whole log's records at a time.
            self.joiner.add(records)
            self.joiner.add(follower.finish())
            try Self.check(follower)
        }
    }

    static func check(_ follower: GatewayLogFollower) throws {
        let reader = follower.reader
        guard reader.kind == nil, let first = reader.unread.first else { return }
        throw ToolFailure(
            status: 2,
            message: "gateway log \(Terminal.safe(follower.path)): no line is in a layout edgescope reads (nginx error.log, an access log in NCSA combined or a --gateway-log-format given, HAProxy httplog, Apache error_log, Caddy JSON, varnishlog); line \(first.line): \(Terminal.safe(String(first.text.prefix(120))))")
    }

    /// Reads what the files gained (`capture`), warning on stderr of what went wrong.
    func refresh() {
        for follower in self.followers {
            let (records, warnings) = follower.refresh()
            for warning in warnings { Edgescope.warn(warning) }
            self.joiner.add(records)
        }
    }

    /// Lets go of the lines no connection or client error of the final report can be joined
    /// to (`capture`, which joins only at the end), once enough are held: a busy gateway's log
    /// would otherwise be held whole, the capture long. `now` is the capture's present.
    /// `reach()` is asked only then.
    func dropUnjoinable(reach: () -> LogJoinReach, now: Timestamp) {
        guard self.joiner.records.count >= self.heldBeforeDropping else { return }
        let reach = reach()
        // Packets are stamped before edgescope reads them (libpcap hands them over every
        // 100 ms, the loop wakes at least every 500 ms): a connection to come may begin a
        // little before `now`.
        let margin: Int64 = 2_000_000_000
        let open = min(reach.earliestOpen ?? now, now)
        self.joiner.dropUnjoinable(
            laterConnectionsFrom: Timestamp(nanoseconds: open.nanoseconds - margin), connections: reach.listed,
            laterClientErrorsFrom: reach.laterClientErrorsFrom.map { Timestamp(nanoseconds: min($0, open).nanoseconds - margin) },
            clientErrors: reach.clientErrors, listing: GatewayLogSummary.listed)
        // Looked at again once half as many again have come: each look walks every line held.
        self.heldBeforeDropping = max(Self.heldBeforeFirstDrop, self.joiner.records.count * 3 / 2)
    }

    /// How many lines are held before the first look for lines to let go.
    static let heldBeforeFirstDrop = 4096
    private var heldBeforeDropping = GatewayLogSession.heldBeforeFirstDrop

    /// The last lines of each file (`capture`, at the end).
    func finish() {
        self.refresh()
        for follower in self.followers { self.joiner.add(follower.finish()) }
    }

    /// Joins `report` to the lines about it.
    func annotate(_ report: inout ConnectionReport) {
        let joinable = JoinableConnection(
            id: report.id, gatewaySide: report.client, upstream: report.server, start: report.facts.first.time,
            end: max(report.facts.first.time, report.facts.last.time),
            requests: report.transactions.compactMap { transaction in
                transaction.request.map { ($0.method, $0.target, $0.requestID ?? $0.correlationID) }
            },
            code: report.verdict.code, verdictClass: report.verdict.verdictClass, summary: report.verdict.summary)
        let notes = self.joiner.join(joinable)
        let kept = Array(notes.prefix(GatewayLogJoiner.notesKept))
        report.gatewayLog = kept
        report.gatewayLogNotListed = notes.count - kept.count
        if !notes.isEmpty {
            self.notes[report.id] = (kept, report.gatewayLogNotListed)
            self.idsByServer[report.server, default: []].append(report.id)
        }
    }

    /// Lets go of the notes of connections the summary will not list, once enough are kept:
    /// a log line per connection would otherwise be held twice, the whole run long.
    /// `listed()` gives the ids the summary lists now (a connection not among them once it
    /// was annotated never is later).
    func forgetUnlisted(_ listed: () -> Set<UInt32>) {
        guard self.notes.count >= self.notesKeptBeforeForgetting else { return }
        let ids = listed()
        self.notes = self.notes.filter { ids.contains($0.key) }
        self.notesKeptBeforeForgetting = max(Self.notesKeptBeforeFirstForgetting, 2 * self.notes.count)
    }

    /// Sets the lines joined when `report` was streamed (the summary's copy of it).
    func restore(_ report: inout ConnectionReport) {
        let saved = self.notes[report.id]
        report.gatewayLog = saved?.notes ?? []
        report.gatewayLogNotListed = saved?.notListed ?? 0
    }

    /// Joins the client errors, and sets the `gateway_log` section, in `result`.
    func finish(_ result: inout AnalysisResult) {
        if var hop = result.clientHop {
            // Clients' connections to the gateway judged before its listener was found leave
            // the report (StreamedReport.assemble): their lines go back.
            let listeners = Set(hop.listeners.map(\.endpoint))
            for listener in listeners {
                for id in self.idsByServer[listener] ?? [] {
                    self.joiner.release(id)
                    self.notes[id] = nil
                }
            }
            for index in hop.errors.indices {
                let error = hop.errors[index]
                let failure: JoinableClientError.Failure
                switch error.failure {
                case .errorStatus: failure = .errorStatus
                case .emptyReply: failure = .emptyReply
                case .reset: failure = .reset
                case .cutBody: failure = .cutBody
                // A gRPC status other than OK behind a 200: an error answer, as a 5xx is.
                case .grpcStatus: failure = .errorStatus
                }
                hop.errors[index].gatewayLog = self.joiner.join(JoinableClientError(
                    client: error.client, time: error.time, method: error.method, target: error.target, requestID: error.requestID,
                    status: error.status, failure: failure, upstreamServer: error.upstreamServer))
            }
            result.clientHop = hop
        }
        let unmatched = self.joiner.unmatched
        let unmatchedCount = self.joiner.unmatchedCount
        let unread = self.followers.flatMap(\.reader.unread)
        result.gatewayLog = GatewayLogSummary(
            files: self.followers.map { follower in
                GatewayLogSummary.File(
                    path: follower.path, kind: follower.reader.kind, format: follower.reader.accessFormat?.name,
                    records: self.joiner.countsByFile[follower.path] ?? 0, unread: follower.reader.unreadCount)
            },
            zone: self.zone.name, matched: self.joiner.matchedCount, unmatched: Array(unmatched.prefix(GatewayLogSummary.listed)),
            unmatchedCount: unmatchedCount, unread: unread, unreadCount: self.followers.reduce(0) { $0 + $1.reader.unreadCount })
        if unmatchedCount > 0, self.joiner.matchedCount == 0, let first = self.joiner.firstRecordTime {
            let warning = "No line of the gateway logs joined a connection (the first is from \(first.rfc3339)): if the times are off by hours, give the logs' zone with --gateway-log-tz."
            result.warnings.append(warning)
        }
    }
}
