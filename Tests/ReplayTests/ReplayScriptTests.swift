import CaptureModel
import Replay
import Testing

private let gateway = Endpoint(address: .v4(0x7f00_0001), port: 40000)
private let upstream = Endpoint(address: .v4(0x7f00_0001), port: 18090)

private func ms(_ milliseconds: Int64) -> Timestamp { Timestamp(nanoseconds: 1_000_000_000_000 + milliseconds * 1_000_000) }

private func data(_ direction: Direction, _ text: String, at offset: UInt64, frame: FrameNumber, _ time: Int64) -> ConnectionRecording.Event {
    .data(direction, bytes: Array(text.utf8), offset: offset, frame: frame, time: ms(time))
}

@Test func keepAliveTransactionsWaitForTheirOwnRequestThenFIN() {
    // Two requests on one connection; the second response comes in two segments 30 ms apart, then FIN.
    let events: [ConnectionRecording.Event] = [
        data(.client, "GET /1 HTTP/1.1\r\n\r\n", at: 0, frame: 4, 0),
        data(.server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", at: 0, frame: 6, 2),
        data(.client, "GET /2 HTTP/1.1\r\n\r\n", at: 19, frame: 8, 100),
        data(.server, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", at: 38, frame: 10, 101),
        data(.server, "0123456789", at: 77, frame: 11, 131),
        .fin(.server, frame: 12, time: ms(140)),
    ]
    let script = ReplayScript(connection: "c1", client: gateway, server: upstream, events: events, requestOffsets: [0, 19])
    #expect(script.framing == .http1)
    #expect(script.steps.map(\.after.requests) == [1, 2, 2, 2])
    #expect(script.steps.map(\.after.clientClosed) == [false, false, false, false])
    #expect(script.steps.map(\.delay) == [2_000_000, 1_000_000, 30_000_000, 9_000_000])
    #expect(script.segments.map(\.count) == [38, 39, 10])
    #expect(script.ending == (.fin, false))
    #expect(script.summary == "c1 127.0.0.1:40000 -> 127.0.0.1:18090: 2 requests, 87 bytes in 3 segments, then FIN")
}

@Test func anRSTAfterTheRequestIsAReset() {
    let events: [ConnectionRecording.Event] = [
        data(.client, "GET / HTTP/1.1\r\n\r\n", at: 0, frame: 4, 0),
        .reset(.server, frame: 6, time: ms(5)),
        .reset(.client, frame: 7, time: ms(6)),
    ]
    let script = ReplayScript(connection: "c2", client: gateway, server: upstream, events: events, requestOffsets: [0])
    #expect(script.steps == [ReplayScript.Step(after: .init(requests: 1, clientClosed: false), delay: 5_000_000, action: .close(.reset))])
}

@Test func anUpstreamThatNeverAnsweredStaysSilentUntilTheClientCloses() {
    // The gateway's read timeout: request, then the gateway's FIN 2 s later, then the upstream's FIN.
    let events: [ConnectionRecording.Event] = [
        data(.client, "GET / HTTP/1.1\r\n\r\n", at: 0, frame: 4, 0),
        .fin(.client, frame: 6, time: ms(2000)),
        .fin(.server, frame: 7, time: ms(2001)),
    ]
    let script = ReplayScript(connection: "c3", client: gateway, server: upstream, events: events, requestOffsets: [0])
    #expect(script.steps == [ReplayScript.Step(after: .init(requests: 1, clientClosed: true), delay: 1_000_000, action: .close(.fin))])
    #expect(script.ending == (.fin, true))
    // A capture that ended with the connection open: silence, then a FIN once the client closes.
    let open = ReplayScript(connection: "c4", client: gateway, server: upstream, events: Array(events.prefix(1)), requestOffsets: [0])
    #expect(open.steps == [ReplayScript.Step(after: .init(requests: 1, clientClosed: true), delay: 0, action: .close(.fin))])
}

@Test func withoutRequestFramingClientBurstsAreCounted() {
    // A server that speaks first, then answers each of two client bursts.
    let events: [ConnectionRecording.Event] = [
        data(.server, "SSH-2.0-x\r\n", at: 0, frame: 3, 0),
        data(.client, "\u{16}\u{3}\u{1}", at: 0, frame: 4, 1),
        data(.client, "more", at: 3, frame: 5, 2),
        data(.server, "a", at: 11, frame: 6, 3),
        data(.client, "x", at: 7, frame: 7, 4),
        data(.server, "b", at: 12, frame: 8, 5),
        .fin(.server, frame: 9, time: ms(6)),
    ]
    let script = ReplayScript(connection: "c5", client: gateway, server: upstream, events: events, requestOffsets: nil)
    #expect(script.framing == .opaque)
    #expect(script.steps.map(\.after.requests) == [0, 1, 2, 2])
    #expect(script.requests == 2)
}
