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
}
