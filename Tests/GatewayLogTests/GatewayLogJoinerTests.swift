import CaptureModel
import Testing
@testable import GatewayLog

/// The joiner's rules where no sample capture has the case.
struct GatewayLogJoinerTests {
    static let utc = LocalZone(parsing: "UTC")!

    static func record(_ line: String) -> GatewayLogRecord {
        var reader = GatewayLogReader(file: "error.log", formats: [], zone: Self.utc)
        return reader.feed(line: line, number: 7)[0]
    }

    static func connection(code: FindingCode, verdictClass: VerdictClass, summary: String) -> JoinableConnection {
        JoinableConnection(
            id: 4, gatewaySide: Endpoint(parsing: "127.0.0.1:40000")!, upstream: Endpoint(parsing: "127.0.0.1:18090")!,
            start: Timestamp(seconds: 1_795_310_176, nanoseconds: 900_000_000), end: Timestamp(seconds: 1_795_310_176, nanoseconds: 950_000_000),
            requests: [("GET", "/s/cl-differ/1", nil)], code: code, verdictClass: verdictClass, summary: summary)
    }

    /// nginx logs "upstream prematurely closed connection" when the upstream sent two differing
    /// Content-Length values and closed: the close is the symptom, the second field the cause.
    @Test func nginxsPrematureCloseForTwoContentLengthsIsADisagreement() throws {
        var joiner = GatewayLogJoiner()
        joiner.add([Self.record(
            #"2026/11/22 01:16:16 [error] 30566#30566: *9 upstream prematurely closed connection while reading upstream, client: 127.0.0.1, server: , request: "GET /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18090/s/cl-differ/1", host: "127.0.0.1:18080""#)])
        let notes = joiner.join(Self.connection(
            code: FindingCode(.contentLengthDuplicate), verdictClass: .truncated,
            summary: "The upstream 127.0.0.1:18090 sent a second Content-Length field at byte 62 of its stream (frame 6)."))
        #expect(notes.count == 1)
        #expect(notes.first?.matchedBy == ["upstream", "request", "time"])
        #expect(notes.first?.disagreement == "nginx logs 'upstream prematurely closed connection while reading upstream', but the bytes show http.cl.duplicate: The upstream 127.0.0.1:18090 sent a second Content-Length field at byte 62 of its stream (frame 6). The close or timeout nginx names follows a response it could not frame; the cause is in the response.")
        #expect(joiner.unmatched.isEmpty)
    }

    /// The same words for a connection the bytes show closing early agree: no note.
    @Test func aPrematureCloseTheBytesShowAgrees() throws {
        var joiner = GatewayLogJoiner()
        joiner.add([Self.record(
            #"2026/11/22 01:16:16 [error] 30566#30566: *9 upstream prematurely closed connection while reading upstream, client: 127.0.0.1, server: , request: "GET /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18090/s/cl-differ/1", host: "127.0.0.1:18080""#)])
        let notes = joiner.join(Self.connection(code: .tcpFINMidBody, verdictClass: .truncated, summary: "The upstream closed mid-body."))
        #expect(notes.count == 1)
        #expect(notes.first?.disagreement == nil)
    }

    /// A connection that turns out to be a client's, to the gateway, gives its lines back.
    @Test func releasedLinesAreUnmatchedAgain() throws {
        var joiner = GatewayLogJoiner()
        joiner.add([Self.record(
            #"2026/11/22 01:16:16 [error] 30566#30566: *9 upstream prematurely closed connection while reading upstream, client: 127.0.0.1, server: , request: "GET /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18090/s/cl-differ/1", host: "127.0.0.1:18080""#)])
        #expect(joiner.join(Self.connection(code: .tcpFINMidBody, verdictClass: .truncated, summary: "Closed.")).count == 1)
        #expect(joiner.matchedCount == 1)
        joiner.release(4)
        #expect(joiner.matchedCount == 0)
        #expect(joiner.unmatched.map(\.line) == [7])
    }

    /// A line naming another upstream, or a request the connection never sent, does not join it.
    @Test func aLineAboutAnotherUpstreamOrRequestJoinsNothing() throws {
        var joiner = GatewayLogJoiner()
        joiner.add([
            Self.record(#"2026/11/22 01:16:16 [error] 1#1: *9 upstream timed out (110: Connection timed out) while reading upstream, client: 127.0.0.1, server: , request: "GET /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18091/s/cl-differ/1", host: "h""#),
            Self.record(#"2026/11/22 01:16:16 [error] 1#1: *9 upstream timed out (110: Connection timed out) while reading upstream, client: 127.0.0.1, server: , request: "GET /other HTTP/1.1", upstream: "http://127.0.0.1:18090/other", host: "h""#),
            // An hour later.
            Self.record(#"2026/11/22 02:16:16 [error] 1#1: *9 upstream timed out (110: Connection timed out) while reading upstream, client: 127.0.0.1, server: , request: "GET /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18090/s/cl-differ/1", host: "h""#),
        ])
        let notes = joiner.join(Self.connection(code: .tcpReadTimeout, verdictClass: .gatewayTimeout, summary: "Timed out."))
        #expect(notes.isEmpty)
        #expect(joiner.unmatched.count == 3)
    }

    /// A line joins only a request its connection sent with its method, and is refused when
    /// its request id is another; alike whether the requests are scanned (a few) or looked up
    /// by target (more than `SentRequests.scanned`).
    @Test(arguments: [2, 9])
    func aLineJoinsOnlyARequestSentWithItsMethodAndID(requests: Int) throws {
        var joiner = GatewayLogJoiner()
        joiner.add([
            Self.record(#"2026/11/22 01:16:16 [error] 1#1: *9 upstream timed out (110: Connection timed out) while reading upstream, client: 127.0.0.1, server: , request: "POST /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18090/s/cl-differ/1", host: "h""#),
            Self.record(#"2026/11/22 01:16:16 [error] 1#1: *9 upstream timed out (110: Connection timed out) while reading upstream, client: 127.0.0.1, server: , request: "GET /s/cl-differ/1 HTTP/1.1", upstream: "http://127.0.0.1:18090/s/cl-differ/1", host: "h""#),
        ])
        var connection = Self.connection(code: .tcpReadTimeout, verdictClass: .gatewayTimeout, summary: "Timed out.")
        connection.requests = (0..<requests - 1).map { ("GET", "/other/\($0)", nil) } + [("GET", "/s/cl-differ/1", nil)]
        let notes = joiner.join(connection)
        #expect(notes.map(\.record.method) == ["GET"])
        #expect(notes.first?.matchedBy == ["upstream", "request", "time"])
        #expect(joiner.unmatched.map(\.method) == ["POST"])
    }

    // MARK: The join's time windows (each key's records by time)

    /// nginx with `$msec $status "$upstream_addr" "$request" $request_time`: logged when the
    /// request ended, so the record's time is its start.
    static let timedFormat = AccessLogFormat(option: #"nginx:$msec $status "$upstream_addr" "$request" $request_time"#)!

    static func accessRecords(_ lines: [String]) -> [GatewayLogRecord] {
        var reader = GatewayLogReader(file: "access.log", formats: [Self.timedFormat], zone: Self.utc)
        return lines.enumerated().flatMap { reader.feed(line: $0.element, number: $0.offset + 1) }
    }

    static func connection(id: UInt32, port: UInt16, from start: Double, to end: Double, target: String) -> JoinableConnection {
        func time(_ seconds: Double) -> Timestamp { Timestamp(nanoseconds: Int64((seconds * 1e9).rounded())) }
        return JoinableConnection(
            id: id, gatewaySide: Endpoint(parsing: "127.0.0.1:\(port)")!, upstream: Endpoint(parsing: "10.0.3.12:8080")!,
            start: time(start), end: time(end), requests: [("GET", target, nil)], code: .none, verdictClass: .ok, summary: "Healthy.")
    }

    // MARK: Letting go of lines nothing left can join (`capture`)

    /// 400 lines, one a second from 1796600000 (`/item/N` logged at second N, taking 10 ms).
    static func secondlyRecords() -> [GatewayLogRecord] {
        Self.accessRecords((0..<400).map { #"\#(1_796_600_000 + $0).010 200 "10.0.3.12:8080" "GET /item/\#($0) HTTP/1.1" 0.010"# })
    }

    static func at(_ second: Double) -> Timestamp { Timestamp(nanoseconds: Int64(((1_796_600_000 + second) * 1e9).rounded())) }

    /// Letting go changes nothing a join would find: a listed connection's line, a listed
    /// client error's reach (300 s before it, and 2 s of slack), lines from the earliest open
    /// connection on, the matched and unmatched counts, the first unmatched lines and each
    /// file's count. Lines 63-347 reach none of those, and go.
    @Test func lettingGoOfUnjoinableLinesChangesNoJoin() throws {
        var whole = GatewayLogJoiner()
        whole.add(Self.secondlyRecords())
        var dropped = GatewayLogJoiner()
        dropped.add(Self.secondlyRecords())
        dropped.dropUnjoinable(
            laterConnectionsFrom: Self.at(350), connections: [(Self.at(20), Self.at(20.5))], laterClientErrorsFrom: nil,
            clientErrors: [Self.at(60)], listing: 5)
        #expect(dropped.droppedCount == 285)
        #expect(dropped.records.map(\.line) == Array(1...63) + Array(349...400))
        for var joiner in [whole, dropped] {
            #expect(joiner.join(Self.connection(id: 1, port: 40001, from: 1_796_600_020.0, to: 1_796_600_020.5, target: "/item/20")).map(\.record.line) == [21])
            #expect(joiner.join(Self.connection(id: 2, port: 40002, from: 1_796_600_360.0, to: 1_796_600_360.5, target: "/item/360")).map(\.record.line) == [361])
            #expect(joiner.matchedCount == 2)
            #expect(joiner.unmatchedCount == 398)
            #expect(joiner.unmatched.prefix(5).map(\.line) == [1, 2, 3, 4, 5])
            #expect(joiner.countsByFile == ["access.log": 400])
            #expect(joiner.firstRecordTime == Self.at(0))
        }
    }

    /// The first unmatched lines stay in file order across several lettings-go, between lines
    /// still held; a connection's lines, taken before, can still be given back.
    @Test func theFirstUnmatchedLinesStayInFileOrderAndTakenLinesCanBeGivenBack() throws {
        var joiner = GatewayLogJoiner()
        joiner.add(Self.secondlyRecords())
        #expect(joiner.join(Self.connection(id: 7, port: 40007, from: 1_796_600_100.0, to: 1_796_600_100.5, target: "/item/100")).map(\.record.line) == [101])
        // Lines 3-9 are held for a listed connection; 1-200 go, but for those and the one taken.
        joiner.dropUnjoinable(
            laterConnectionsFrom: Self.at(202), connections: [(Self.at(4), Self.at(6))], laterClientErrorsFrom: nil, clientErrors: [],
            listing: 3)
        #expect(joiner.droppedCount == 192)
        joiner.dropUnjoinable(
            laterConnectionsFrom: Self.at(302), connections: [], laterClientErrorsFrom: nil, clientErrors: [], listing: 3)
        #expect(joiner.droppedCount == 192 + 100 + 7)
        #expect(joiner.unmatched.prefix(3).map(\.line) == [1, 2, 3])
        #expect(joiner.unmatchedCount == 399)
        joiner.release(7)
        #expect(joiner.matchedCount == 0)
        #expect(joiner.unmatchedCount == 400)
        // Line 101 is held (taken when the lines went): once given back it is unmatched again.
        #expect(joiner.records.map(\.line).prefix(1) == [101])
    }

    /// Lines written out of time order (a slow request is logged after quicker ones that began
    /// later) each join the connection they are about, and only it.
    @Test func linesOutOfTimeOrderJoinTheirOwnConnections() throws {
        var joiner = GatewayLogJoiner()
        joiner.add(Self.accessRecords([
            #"1796600010.500 200 "10.0.3.12:8080" "GET /a HTTP/1.1" 0.500"#,
            #"1796600030.200 200 "10.0.3.12:8080" "GET /a HTTP/1.1" 0.100"#,
            #"1796600019.000 200 "10.0.3.12:8080" "GET /a HTTP/1.1" 6.000"#,
        ]))
        #expect(joiner.join(Self.connection(id: 1, port: 40001, from: 1_796_600_030.1, to: 1_796_600_030.2, target: "/a")).map(\.record.line) == [2])
        #expect(joiner.join(Self.connection(id: 2, port: 40002, from: 1_796_600_010.0, to: 1_796_600_010.5, target: "/a")).map(\.record.line) == [1])
        // Began at 13 and took 6 s: it reaches a connection open from 14 to 15.
        #expect(joiner.join(Self.connection(id: 3, port: 40003, from: 1_796_600_014.0, to: 1_796_600_015.0, target: "/a")).map(\.record.line) == [3])
        #expect(joiner.unmatched.isEmpty)
    }

    /// A request that took ten minutes joins a connection that began a minute before it ended,
    /// though its line's time (its start) is nine minutes earlier; a line about another target
    /// on the same upstream at the same moment does not.
    @Test func aLongRequestJoinsAConnectionLongAfterItsLineBegins() throws {
        var joiner = GatewayLogJoiner()
        joiner.add(Self.accessRecords([
            #"1796600600.000 504 "10.0.3.12:8080" "GET /report HTTP/1.1" 600.000"#,
            #"1796600599.000 200 "10.0.3.12:8080" "GET /other HTTP/1.1" 0.010"#,
        ]))
        let notes = joiner.join(Self.connection(id: 1, port: 40001, from: 1_796_600_540.0, to: 1_796_600_600.0, target: "/report"))
        #expect(notes.map(\.record.line) == [1])
        #expect(notes.first?.matchedBy == ["upstream", "request", "time"])
        // Three seconds after the slow one ended: past the two seconds' slack.
        #expect(joiner.join(Self.connection(id: 2, port: 40002, from: 1_796_600_603.0, to: 1_796_600_604.0, target: "/report")).isEmpty)
        #expect(joiner.unmatched.map(\.line) == [2])
    }

    /// A client error joins a line four minutes older by the client's port, but by the request
    /// line alone only one of its moment.
    @Test func aClientErrorJoinsAnOlderLineOnlyByTheClientsOwnKey() throws {
        let format = AccessLogFormat(option: #"nginx:$msec $remote_addr $remote_port $status "$request""#)!
        var reader = GatewayLogReader(file: "access.log", formats: [format], zone: Self.utc)
        var joiner = GatewayLogJoiner()
        joiner.add(reader.feed(line: #"1796600000.000 192.0.2.7 51000 502 "GET /pay HTTP/1.1""#, number: 1)
            + reader.feed(line: #"1796600000.000 192.0.2.8 51001 502 "GET /pay HTTP/1.1""#, number: 2))
        func error(port: UInt16) -> JoinableClientError {
            JoinableClientError(
                client: Endpoint(parsing: "192.0.2.\(port == 51000 ? 7 : 8):\(port)")!, time: Timestamp(seconds: 1_796_600_240, nanoseconds: 0),
                method: "GET", target: "/pay", requestID: nil, status: 502, failure: .errorStatus, upstreamServer: nil)
        }
        #expect(joiner.join(error(port: 51000)).map(\.matchedBy) == [["client_port", "request", "time"]])
        var other = error(port: 51001)
        other.client = Endpoint(parsing: "192.0.2.8:51009")!
        #expect(joiner.join(other).isEmpty)
    }

    /// At a busy gateway a healthy connection with the same upstream and request, judged first,
    /// fits a failure's line too: the failing connection judged after it still takes the line.
    /// A line tied by the upstream and time alone is not taken twice.
    @Test func aFailingConnectionTakesItsLineFromAHealthyOneJudgedFirst() throws {
        var joiner = GatewayLogJoiner()
        var reader = GatewayLogReader(file: "access.log", formats: [Self.timedFormat], zone: Self.utc)
        joiner.add(reader.feed(line: #"1796600010.300 502 "10.0.3.12:8080" "GET /a HTTP/1.1" 0.100"#, number: 1))
        joiner.add([Self.record(
            #"2026/12/06 23:33:30 [error] 1#1: *9 upstream timed out (110: Connection timed out) while connecting to upstream, client: 127.0.0.1, server: , upstream: "http://10.0.3.12:8080/", host: "h""#)])
        let healthy = Self.connection(id: 1, port: 40001, from: 1_796_600_010.0, to: 1_796_600_010.2, target: "/a")
        #expect(joiner.join(healthy).map(\.record.line) == [1, 7])
        var relayed = Self.connection(id: 2, port: 40002, from: 1_796_600_010.1, to: 1_796_600_010.2, target: "/a")
        relayed.verdictClass = .relayed
        #expect(joiner.join(relayed).isEmpty)
        var failing = Self.connection(id: 3, port: 40003, from: 1_796_600_010.2, to: 1_796_600_010.3, target: "/a")
        failing.verdictClass = .badGateway
        failing.code = .tcpRSTBeforeResponse
        #expect(joiner.join(failing).map(\.record.line) == [1])
        #expect(joiner.matchedCount == 2)
        #expect(joiner.unmatched.isEmpty)
    }
}

