// The gateway log reader and joiner (GatewayLogReader.feed(line:number:), GatewayLogJoiner).
//
// Input: [layout: 1][text]. `layout` picks how the lines are read: by detection alone (nginx
// error.log, HAProxy, Apache error_log, Caddy JSON, varnishlog, NCSA combined), or with one of
// four `--gateway-log-format` layouts. Each line of the text is fed in order, then the reader
// is finished; every record goes to one joiner.
//
// Invariants:
// - every record's line number is one of the text's lines, its span is not negative, and an
//   access log's field values are each part of the line it was read from;
// - a connection made from a record's own keys (its upstream, its request, its time) takes
//   that record, unless an earlier one took it: the joiner's indexes never miss a record the
//   rules would join, and never hand back one whose time is outside the connection's;
// - the same for a client error made from a record's client port, request and time;
// - afterwards every record is matched or unmatched, never both, never neither;
// - a second joiner that lets go of the records none of those connections and client errors
//   can reach (`dropUnjoinable`, before the joins and again half-way) joins the same records
//   to each, and counts and lists the same unmatched ones.
import CaptureModel
import FuzzSupport
import GatewayLog

let layouts: [AccessLogFormat?] = [
    nil,
    AccessLogFormat(option: "nginx:combined"),
    AccessLogFormat(option: #"nginx:$msec $status "$upstream_addr" "$upstream_status" "$request" $request_time $remote_addr $remote_port $request_id"#),
    AccessLogFormat(option: #"apache:%h %l %u %t "%r" %>s %b %D"#),
    AccessLogFormat(option: "nginx:$time_local|$time_iso8601|$upstream_addr|$request_method|$request_uri|$remote_port"),
]
let utc = LocalZone(parsing: "UTC")!
let someUpstream = Endpoint(address: .v4(0x0a00_0063), port: 8080)

func overlaps(_ record: GatewayLogRecord, _ start: Timestamp, _ end: Timestamp, slack: Int64) -> Bool {
    guard let time = record.time else { return false }
    return time.nanoseconds <= end.nanoseconds + slack && time.nanoseconds + record.span >= start.nanoseconds - slack
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    let layout = layouts[Int(input.u8()) % layouts.count]
    let text = String(decoding: input.rest(), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)

    var reader = GatewayLogReader(file: "gateway.log", formats: layout.map { [$0] } ?? [], zone: utc)
    var records: [GatewayLogRecord] = []
    for (index, line) in lines.enumerated() { records += reader.feed(line: String(line), number: index + 1) }
    records += reader.finish()

    for record in records {
        require((1...max(1, lines.count)).contains(record.line), "a record of line \(record.line) of \(lines.count)")
        require(record.time == nil || record.span >= 0, "a negative span \(record.span)")
        if layout != nil, record.kind == layout!.kind {
            for (name, value) in record.fields where !value.isEmpty {
                require(record.text.contains(value), "field \(name) = \(value) is not in its line")
            }
        }
    }

    var joiner = GatewayLogJoiner()
    joiner.add(records)
    var connections: [(record: GatewayLogRecord, connection: JoinableConnection)] = []
    for (offset, record) in records.prefix(16).enumerated() {
        guard let time = record.time, let target = record.target, record.gatewayPort == nil, record.requestIDs.isEmpty else { continue }
        let upstream = record.upstreams.first ?? record.upstreamAddress.map { Endpoint(address: $0, port: 8080) } ?? someUpstream
        let end = Timestamp(nanoseconds: time.nanoseconds &+ max(0, record.span))
        connections.append((record, JoinableConnection(
            id: UInt32(offset), gatewaySide: Endpoint(address: .v4(0x0a00_0001), port: 40_000), upstream: upstream, start: time, end: end,
            requests: [(record.method ?? "GET", target, nil)], code: .none, verdictClass: .ok, summary: "")))
    }
    var errors: [JoinableClientError] = []
    for record in records.prefix(16) {
        guard let time = record.time, let target = record.target, let port = record.clientPort else { continue }
        errors.append(JoinableClientError(
            client: Endpoint(address: record.clientAddress ?? .v4(0xc000_0207), port: port), time: time, method: record.method ?? "GET",
            target: target, requestID: record.requestIDs.first, status: record.status, failure: .errorStatus, upstreamServer: nil))
    }
    var dropping = GatewayLogJoiner()
    dropping.add(records)
    func drop(from first: Int) {
        dropping.dropUnjoinable(
            laterConnectionsFrom: Timestamp(nanoseconds: .max), connections: connections[first...].map { ($0.connection.start, $0.connection.end) },
            laterClientErrorsFrom: nil, clientErrors: errors.map(\.time), listing: 5)
    }
    drop(from: 0)
    func same(_ a: [GatewayLogNote], _ b: [GatewayLogNote]) -> Bool {
        a.map { "\($0.record.line) \($0.matchedBy) \($0.disagreement ?? "")" } == b.map { "\($0.record.line) \($0.matchedBy) \($0.disagreement ?? "")" }
    }
    var joined = Set<Int>()
    for (index, (record, connection)) in connections.enumerated() {
        let time = connection.start
        let end = connection.end
        let notes = joiner.join(connection)
        if index == connections.count / 2 { drop(from: index) }
        require(same(notes, dropping.join(connection)), "letting records go changed what connection \(connection.id) joined")
        for note in notes {
            require(overlaps(note.record, time, end, slack: GatewayLogJoiner.slack), "a record outside the connection's time joined it")
        }
        let took = notes.contains { $0.record.line == record.line }
        // A record naming several upstreams may join one connection per upstream.
        if record.upstreams.count <= 1, !joined.contains(record.line) {
            require(took, "a connection made from line \(record.line)'s keys did not take it")
        }
        for note in notes { joined.insert(note.record.line) }
    }
    var errorJoined = Set<Int>()
    for (error, record) in zip(errors, records.prefix(16).filter { $0.time != nil && $0.target != nil && $0.clientPort != nil }) {
        let notes = joiner.join(error)
        require(same(notes, dropping.join(error)), "letting records go changed what a client error joined")
        if !errorJoined.contains(record.line) {
            require(notes.contains { $0.record.line == record.line }, "a client error made from line \(record.line)'s keys did not take it")
        }
        for note in notes { errorJoined.insert(note.record.line) }
    }
    require(joiner.matchedCount + joiner.unmatched.count == records.count, "records matched and unmatched do not add up")
    require(dropping.matchedCount == joiner.matchedCount && dropping.unmatchedCount == joiner.unmatched.count,
            "letting records go changed the counts")
    require(dropping.unmatched.prefix(5).map(\.line) == joiner.unmatched.prefix(5).map(\.line), "letting records go changed the first unmatched")
    return 0
}
