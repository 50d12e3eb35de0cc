import CaptureModel
import HTTP1
import HTTP2
import Testing

/// nginx's opening and one request on stream 1 (capture frame 1), the upstream's SETTINGS and
/// ACK (frame 2, 18 bytes): the upstream's next frame is at stream offset 18, in frame 3.
func opened(requests: [UInt32] = [1], opening: [UInt8] = nginxOpening) -> H2Exchange {
    var exchange = H2Exchange()
    exchange.gateway(opening + requests.flatMap { request(stream: $0, path: "/svc/\($0)") })
    exchange.upstream(settings() + settingsAck)
    return exchange
}

func only(_ exchange: H2Exchange) -> Finding? {
    exchange.connection.findings.count == 1 ? exchange.connection.findings[0] : nil
}

/// The finding's code, value, stream id, offset, frame and frame offset.
func expectFinding(
    _ exchange: H2Exchange, _ code: String, value: String?, stream: UInt32?, offset: UInt64, frame: FrameNumber,
    frameOffset: Int = 66, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let finding = only(exchange) else {
        Issue.record("expected one finding, got \(exchange.summary)", sourceLocation: sourceLocation)
        return
    }
    let evidence = finding.evidence[0]
    #expect(finding.code.description == code, sourceLocation: sourceLocation)
    #expect(finding.value == value, sourceLocation: sourceLocation)
    #expect(evidence.streamID == stream, sourceLocation: sourceLocation)
    #expect(evidence.streamOffset == offset, sourceLocation: sourceLocation)
    #expect(evidence.frame == frame, sourceLocation: sourceLocation)
    #expect(evidence.frameOffset == frameOffset, sourceLocation: sourceLocation)
    #expect(evidence.direction == .server, sourceLocation: sourceLocation)
}

let grpcHead = status200 + literal("content-type", "application/grpc")
/// One gRPC message: not compressed, 3 bytes.
let grpcMessage: [UInt8] = [0, 0, 0, 0, 3, 0x0a, 0x01, 0x78]

@Test func healthyGRPCStreamIsOneTransaction() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, grpcHead) + data(stream: 1, grpcMessage) + headers(stream: 1, endStream: true, literal("grpc-status", "0")))
    exchange.connection.finish()
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
    let transactions = exchange.connection.transactions
    #expect(transactions.count == 1)
    #expect(transactions.first?.streamID == 1)
    #expect(transactions.first?.request?.method == "GET")
    #expect(transactions.first?.request?.target == "/svc/1")
    #expect(transactions.first?.request?.host == "example.test")
    #expect(transactions.first?.response?.status == 200)
    #expect(transactions.first?.response?.complete == true)
    #expect(transactions.first?.response?.offset == 18)
    #expect(transactions.first?.response?.framing == .http2Frames)
}

@Test func manyStreamsAreManyTransactions() {
    var exchange = opened(requests: [1, 3, 5])
    for id: UInt32 in [5, 1, 3] {
        exchange.upstream(headers(stream: id, status200 + literal("content-length", "2")) + data(stream: id, endStream: true, [0x6f, 0x6b]))
    }
    exchange.connection.finish()
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
    #expect(exchange.connection.transactions.map(\.streamID) == [5, 1, 3])
    #expect(exchange.connection.transactions.map(\.request?.target) == ["/svc/5", "/svc/1", "/svc/3"])
    #expect(exchange.connection.responseEnd.state == .idle)
    #expect(exchange.connection.responseEnd.responsesCompleted == 3)
}

@Test func rstStreamBeforeResponse() {
    var exchange = opened()
    exchange.upstream(rstStream(stream: 1, error: 7))
    expectFinding(exchange, "h2.rst_stream.before_response", value: "REFUSED_STREAM", stream: 1, offset: 18, frame: 3)
}

@Test func rstStreamAfterHeadCutsTheBody() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, status200))
    exchange.upstream(data(stream: 1, [1, 2, 3]) + rstStream(stream: 1, error: 2))
    expectFinding(exchange, "tcp.rst.mid_body", value: "http2", stream: 1, offset: 18 + 10 + 12, frame: 4, frameOffset: 66 + 12)
}

@Test func goawayBelowAnOpenStream() {
    var exchange = opened(requests: [1, 3])
    exchange.upstream(headers(stream: 1, endStream: true, status200) + goaway(last: 1, error: 0))
    expectFinding(exchange, "h2.goaway", value: "NO_ERROR last_stream_id=1", stream: 3, offset: 28, frame: 3, frameOffset: 66 + 10)
}

@Test func goawayCoveringEveryStreamIsFine() {
    var exchange = opened()
    exchange.upstream(goaway(last: 1, error: 0) + headers(stream: 1, endStream: true, status200))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func frameLargerThanAdvertised() {
    var exchange = opened()
    exchange.upstream(frame(0x0, stream: 1, [UInt8](repeating: 0, count: 16385)))
    expectFinding(exchange, "h2.frame.too_large", value: "16385", stream: 1, offset: 18, frame: 3)
}

@Test func frameWithinARaisedMaximum() {
    var exchange = opened(opening: preface + settings([(5, 32768)]))
    exchange.upstream(headers(stream: 1, status200) + frame(0x0, flags: 1, stream: 1, [UInt8](repeating: 0, count: 16385)))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func dynamicIndexAgainstNginxsEmptyTable() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, status200 + indexedLiteral("x-a", "b") + [0xbe]))
    expectFinding(exchange, "h2.hpack.bad_index", value: "62", stream: 1, offset: 18, frame: 3)
}

@Test func dynamicIndexWithTheDefaultTable() {
    // No SETTINGS_HEADER_TABLE_SIZE from the gateway: 4096 bytes, so index 62 is the entry just added.
    var exchange = opened(requests: [1, 3], opening: preface + settings())
    exchange.upstream(headers(stream: 1, endStream: true, status200 + indexedLiteral("x-a", "b")))
    exchange.upstream(headers(stream: 3, endStream: true, status200 + [0xbe]))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func headerBlockThatDoesNotDecode() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, status200 + [0x00, 0x05, 0x61]))
    expectFinding(exchange, "h2.hpack.error", value: "StringLengthBeyondPayloadSize", stream: 1, offset: 18, frame: 3)
}

@Test func frameBetweenHeadersAndContinuation() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, endHeaders: false, status200))
    exchange.upstream(data(stream: 1, [1]))
    expectFinding(exchange, "h2.hpack.error", value: "DATA", stream: 1, offset: 28, frame: 4)
}

@Test func continuationCompletesAHeaderBlock() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, endStream: true, endHeaders: false, status200) + frame(0x9, flags: 0x4, stream: 1, literal("x-a", "b")))
    exchange.connection.finish()
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
    #expect(exchange.connection.transactions.first?.response?.complete == true)
}

@Test(arguments: [
    (literal("content-type", "text/plain"), "h2.status.missing", String?.none),
    (literal("content-type", "text/plain") + status200, "h2.status.missing", nil),
    (status200 + status200, "h2.status.duplicate", "200"),
    (literal(":status", "2000"), "h2.status.invalid", "2000"),
    (literal(":status", "2x0"), "h2.status.invalid", "2x0"),
    (status200 + literal(":path", "/"), "h2.header.request_pseudo", ":path: /"),
    (status200 + literal("X-Custom", "value"), "h2.header.uppercase", "X-Custom: value"),
])
func malformedResponseHead(_ block: [UInt8], _ code: String, _ value: String?) {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, block))
    expectFinding(exchange, code, value: value, stream: 1, offset: 18, frame: 3)
    #expect(only(exchange)?.severity == .fatal)
}

@Test func connectionSpecificFieldIsAWarningAndTheStreamGoesOn() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, endStream: true, status200 + literal("connection", "close")))
    expectFinding(exchange, "h2.header.connection_specific", value: "connection: close", stream: 1, offset: 18, frame: 3)
    #expect(only(exchange)?.severity == .warning)
    exchange.connection.finish()
    #expect(exchange.connection.transactions.first?.response?.complete == true)
}

@Test func teTrailersIsNotConnectionSpecific() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, endStream: true, status200 + literal("te", "trailers")))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func contentLengthAgainstData() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, status200 + literal("content-length", "10")))
    exchange.upstream(data(stream: 1, endStream: true, [1, 2, 3, 4, 5]))
    expectFinding(exchange, "h2.content_length.mismatch", value: "content-length 10, DATA 5", stream: 1, offset: 18 + 29, frame: 4)
}

@Test func contentLengthOfAHeadResponse() {
    var exchange = H2Exchange()
    exchange.gateway(nginxOpening + request(stream: 1, method: "HEAD"))
    exchange.upstream(settings() + settingsAck)
    exchange.upstream(headers(stream: 1, endStream: true, status200 + literal("content-length", "10")))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func frameOnAClosedStream() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, endStream: true, status200))
    exchange.upstream(data(stream: 1, [1]))
    expectFinding(exchange, "h2.stream.closed", value: "1", stream: 1, offset: 28, frame: 4)
}

@Test func framesOnAStreamTheGatewayResetAreNotTheUpstreams() {
    var exchange = opened()
    exchange.gateway(rstStream(stream: 1, error: 8))
    exchange.upstream(headers(stream: 1, status200) + data(stream: 1, [1]))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func trailersWithoutEndStream() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, status200))
    exchange.upstream(headers(stream: 1, literal("x-t", "1")))
    expectFinding(exchange, "h2.trailers.no_end_stream", value: nil, stream: 1, offset: 28, frame: 4)
}

@Test func settingsOnAStream() {
    var exchange = opened()
    exchange.upstream(settings([(3, 100)], stream: 1))
    expectFinding(exchange, "h2.settings.bad_stream", value: "1", stream: 1, offset: 18, frame: 3)
}

@Test func dataOverTheConnectionWindow() {
    // No WINDOW_UPDATE and no SETTINGS_INITIAL_WINDOW_SIZE: 65535 bytes in all (RFC 9113 §6.9.2).
    var exchange = opened(opening: preface + settings())
    exchange.upstream(headers(stream: 1, status200))
    for _ in 0..<4 { exchange.upstream(data(stream: 1, [UInt8](repeating: 0, count: 16384))) }
    expectFinding(exchange, "h2.flow_control", value: "connection window 16383, DATA 16384", stream: 1, offset: 28 + 3 * 16393, frame: 7)
}

@Test func windowUpdateOpensTheWindow() {
    var exchange = opened(opening: preface + settings())
    exchange.gateway(windowUpdate(stream: 0, 1) + windowUpdate(stream: 1, 1))
    exchange.upstream(headers(stream: 1, status200))
    for _ in 0..<4 { exchange.upstream(data(stream: 1, [UInt8](repeating: 0, count: 16384))) }
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

@Test func firstFrameIsNotSettings() {
    var exchange = H2Exchange()
    exchange.gateway(nginxOpening + request(stream: 1))
    exchange.upstream(headers(stream: 1, endStream: true, status200))
    expectFinding(exchange, "h2.preface.bad", value: "HEADERS", stream: 1, offset: 0, frame: 2)
}

@Test func grpcErrorStatusIsRelayed() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, grpcHead) + data(stream: 1, grpcMessage))
    exchange.upstream(headers(stream: 1, endStream: true, literal("grpc-status", "14") + literal("grpc-message", "down")))
    expectFinding(exchange, "grpc.status.unavailable", value: "down", stream: 1, offset: 18 + 41 + 17, frame: 4)
    #expect(only(exchange)?.severity == .warning)
}

@Test func trailersOnlyGRPCStatus() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, endStream: true, grpcHead + literal("grpc-status", "5")))
    expectFinding(exchange, "grpc.status.not_found", value: "not_found", stream: 1, offset: 18, frame: 3)
}

@Test func unansweredStreamIsOutstanding() {
    var exchange = opened(requests: [1, 3])
    exchange.upstream(headers(stream: 1, endStream: true, status200))
    let end = exchange.connection.responseEnd
    #expect(end.state == .idle)
    #expect(end.outstanding?.target == "/svc/3")
    #expect(end.responsesCompleted == 1)
}

@Test func streamCutInsideItsData() {
    var exchange = opened()
    exchange.upstream(headers(stream: 1, status200 + literal("content-length", "10")) + data(stream: 1, [1, 2]))
    let end = exchange.connection.responseEnd
    #expect(end.state == .midBody(framing: .http2Frames, received: 2, expected: 10))
    #expect(end.inProgress?.status == 200)
}

@Test func gapInsideDataKeepsTheFraming() {
    var exchange = opened(requests: [1, 3])
    exchange.upstream(headers(stream: 1, status200 + literal("content-length", "10")) + Array(data(stream: 1, [UInt8](repeating: 0, count: 10)).prefix(12)))
    exchange.upstreamGap(7)
    exchange.upstream(rstStream(stream: 3, error: 7))
    // The gap took DATA of stream 1 only: stream 3's reset is still read, at its offset.
    expectFinding(exchange, "h2.rst_stream.before_response", value: "REFUSED_STREAM", stream: 3, offset: 18 + 29 + 12 + 7, frame: 4)
    #expect(exchange.connection.uncheckedGaps.isEmpty)
}

@Test func gapAcrossAFrameHeaderStopsTheFraming() {
    var exchange = opened()
    exchange.upstreamGap(5)
    exchange.upstream(rstStream(stream: 1, error: 7))
    #expect(exchange.connection.findings.isEmpty)
    #expect(exchange.connection.uncheckedGaps.count == 1)
    #expect(exchange.connection.uncheckedGaps.first?.streamOffset == 18)
}

@Test func gapInAHeaderBlockLosesHPACK() {
    var exchange = opened(requests: [1, 3])
    let block = headers(stream: 1, endStream: true, status200 + literal("x-a", "bcdef"))
    exchange.upstream(Array(block.prefix(12)))
    exchange.upstreamGap(UInt64(block.count - 12))
    // Stream 3's head has an uppercase name, but HPACK state is lost: not judged.
    exchange.upstream(headers(stream: 3, endStream: true, status200 + literal("X-A", "b")))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
    #expect(exchange.connection.uncheckedGaps.count == 1)
    #expect(exchange.connection.uncheckedGaps.first?.note.contains("HPACK state is lost") == true)
    #expect(exchange.connection.uncheckedGaps.first?.streamID == 1)
}

/// The same bytes cut anywhere give the same findings (nio's ByteToMessageDecoderVerifier).
@Test(arguments: [0, 1, 2, 3, 4, 5, 6, 7])
func splitAnywhereGivesTheSameFindings(_ seed: UInt64) {
    let gatewayBytes = nginxOpening + request(stream: 1) + request(stream: 3) + request(stream: 5)
    let upstreamMessages: [[UInt8]] = [
        settings([(3, 100)]) + settingsAck,
        headers(stream: 1, grpcHead) + data(stream: 1, grpcMessage + grpcMessage),
        headers(stream: 1, endStream: true, literal("grpc-status", "14")) + headers(stream: 3, status200 + literal("X-Bad", "1")),
        rstStream(stream: 5, error: 7) + data(stream: 1, [1]) + settings([], stream: 9),
    ]
    var whole = H2Exchange()
    whole.gateway(gatewayBytes)
    for message in upstreamMessages { whole.upstream(message) }
    var random = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    func next(_ bound: Int) -> Int {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return Int(random % UInt64(max(bound, 1)))
    }
    var cut = H2Exchange()
    cut.gateway(gatewayBytes, cuts: seed == 0 ? Array(0..<gatewayBytes.count) : (0..<6).map { _ in next(gatewayBytes.count) })
    for message in upstreamMessages {
        cut.upstream(message, cuts: seed == 0 ? Array(0..<message.count) : (0..<5).map { _ in next(message.count) })
    }
    #expect(whole.summary == cut.summary)
    #expect(whole.summary.count == 5, "\(whole.summary)")
    #expect(whole.connection.responseEnd.responsesCompleted == cut.connection.responseEnd.responsesCompleted)
}

/// FuzzHTTP2 found it: a gateway advertising a 4 GiB table made NIOHPACK reserve room for 67
/// million entries. Tables are decoded at 1 MiB at most, so this stays quick and small.
@Test func hugeAdvertisedTableIsCapped() {
    var exchange = opened(opening: preface + settings([(1, 0xffff_ffff)]))
    exchange.upstream(headers(stream: 1, endStream: true, status200 + indexedLiteral("x-a", "b")))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
    #expect(exchange.connection.transactions.first?.response?.status == 200)
}

// MARK: Control frames of the wrong size, PUSH_PROMISE with push disabled

private let sizeFaults: [(bytes: [UInt8], value: String)] = [
    (frame(0x4, stream: 0, [0, 3, 0, 0, 0]), "SETTINGS length 5"),
    (frame(0x4, flags: 0x1, stream: 0, [0, 3, 0, 0, 0, 100]), "SETTINGS ACK length 6"),
    (frame(0x6, stream: 0, Array("edgesco".utf8)), "PING length 7"),
    (frame(0x8, stream: 1, [0, 0x10, 0]), "WINDOW_UPDATE length 3"),
    (frame(0x3, stream: 1, [0, 0, 7]), "RST_STREAM length 3"),
    (frame(0x2, stream: 1, [0, 0, 0, 0]), "PRIORITY length 4"),
    (frame(0x7, stream: 0, [0, 0, 0, 0]), "GOAWAY length 4"),
]

/// RFC 9113 §4.2: each control frame of the wrong length is h2.frame.size_error at its header,
/// named on the request's stream (the frame's own, or the first open one for a frame of the
/// connection), whatever the cut; the stream it ended is not judged after it.
@Test(arguments: sizeFaults.indices)
func controlFrameOfTheWrongSize(_ index: Int) {
    let (bytes, value) = sizeFaults[index]
    let after = headers(stream: 1, endStream: true, status200 + literal("X-Bad", "1"))
    for cuts in [[], [4], [9], Array(1..<bytes.count)] {
        var exchange = opened()
        exchange.upstream(bytes, cuts: cuts)
        exchange.upstream(after)
        expectFinding(exchange, "h2.frame.size_error", value: value, stream: 1, offset: 18, frame: 3)
        #expect(exchange.connection.transactions.first?.streamID == 1)
        #expect(exchange.connection.transactions.first?.response == nil)
    }
}

/// The right sizes are no finding: an empty SETTINGS ACK, PING 8, PRIORITY 5, GOAWAY with debug data.
@Test func controlFramesOfTheRightSize() {
    var exchange = opened(requests: [1])
    exchange.upstream(frame(0x6, stream: 0, Array("edgescop".utf8)) + frame(0x2, stream: 1, [0, 0, 0, 0, 16])
        + windowUpdate(stream: 0, 1) + settings([(3, 10), (4, 100)]) + settingsAck)
    exchange.upstream(headers(stream: 1, endStream: true, status200))
    exchange.upstream(frame(0x7, stream: 0, be32(1) + be32(0) + Array("bye".utf8)))
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
    #expect(exchange.connection.responseEnd.responsesCompleted == 1)
}

/// nginx and HAProxy send SETTINGS_ENABLE_PUSH 0: a PUSH_PROMISE is a connection error (RFC 9113
/// §8.4), named with the stream it came on and the one it promised.
@Test func pushPromiseWithPushDisabled() {
    let push = frame(0x5, flags: 0x4, stream: 1, be32(2) + literal(":method", "GET") + literal(":scheme", "http")
        + literal(":authority", "a") + literal(":path", "/pushed"))
    var exchange = opened()
    exchange.upstream(push)
    expectFinding(exchange, "h2.push_promise.unexpected", value: "promised stream 2", stream: 1, offset: 18, frame: 3)
    #expect(exchange.connection.transactions.first?.streamID == 1)

    // A gateway that left push on (the default) may be pushed to.
    var allowed = opened(opening: preface + settings())
    allowed.upstream(push)
    allowed.upstream(headers(stream: 1, endStream: true, status200))
    #expect(allowed.connection.findings.isEmpty, "\(allowed.summary)")
}

// MARK: Resynchronising after a gap

/// A gap across a frame boundary loses the framing and the HPACK state: the next packets are held
/// until plausible frame headers chain from a packet's start to a packet's end, and read again from
/// there (the DATA of stream 1, whose head the gap took, is not h2.status.missing); then stream 3's
/// RST_STREAM is found at its offset and frame, however the packets were cut.
@Test(arguments: [[], [1], [9], [4, 10, 11]])
func gapAcrossAFrameBoundaryResynchronises(cuts: [Int]) {
    var exchange = opened(requests: [1, 3])
    exchange.upstreamGap(20)
    exchange.upstream(data(stream: 1, endStream: true, Array("abc".utf8)), cuts: cuts)
    #expect(exchange.connection.findings.isEmpty)
    exchange.upstream(rstStream(stream: 3, error: 7), cuts: cuts)
    exchange.connection.finish()
    expectFinding(exchange, "h2.rst_stream.before_response", value: "REFUSED_STREAM", stream: 3, offset: 18 + 20 + 12, frame: 4)
    #expect(exchange.connection.uncheckedGaps.count == 1)
    let note = exchange.connection.uncheckedGaps.first?.note ?? ""
    #expect(note.contains("HPACK state are lost"), "\(note)")
    #expect(note.contains("read again from stream offset 38 (frame 3)"), "\(note)")
    // Stream 1 ended (its head unknown); stream 3 was refused.
    #expect(exchange.connection.transactions.map(\.streamID) == [1, 3])
}

/// Bytes after a gap that are not frame headers from a packet's start (the rest of a frame) are
/// let go; the next packet that is is where frames are read again, proven at the capture's end.
@Test func resynchronisesOnTheFirstPacketThatProves() {
    var exchange = opened(requests: [1, 3])
    exchange.upstreamGap(9)
    exchange.upstream(Array("the rest of a DATA frame".utf8))
    exchange.upstream(rstStream(stream: 3, error: 7))
    #expect(exchange.connection.findings.isEmpty)
    exchange.connection.finish()
    expectFinding(exchange, "h2.rst_stream.before_response", value: "REFUSED_STREAM", stream: 3, offset: 18 + 9 + 24, frame: 4)
    #expect(exchange.connection.uncheckedGaps.first?.note.contains("(frame 4)") == true)
}

/// Bytes held before another gap cannot start a run that reaches past it: let go, and the framing
/// is looked for again after the second gap.
@Test func heldBytesBeforeAnotherGapAreLetGo() {
    var exchange = opened(requests: [1, 3])
    exchange.upstreamGap(9)
    exchange.upstream(Array(rstStream(stream: 1, error: 7).prefix(5)))
    exchange.upstreamGap(4)
    exchange.upstream(rstStream(stream: 3, error: 8))
    exchange.connection.finish()
    expectFinding(exchange, "h2.rst_stream.before_response", value: "CANCEL", stream: 3, offset: 18 + 9 + 5 + 4, frame: 4)
}

/// A gap in the gateway's frames may hide a stream it opened: the upstream's frames on a stream not
/// known are not h2.stream.closed after it.
@Test func gatewayGapHidesTheStreamsItOpened() {
    var exchange = H2Exchange()
    exchange.gateway(nginxOpening + request(stream: 1))
    exchange.upstream(settings() + settingsAck)
    let at = exchange.offsets[.client]!
    exchange.connection.gap(at..<(at + 40), direction: .client, frame: nil, truncated: false)
    exchange.offsets[.client]! += 40
    exchange.gateway(request(stream: 5))
    exchange.upstream(headers(stream: 3, endStream: true, status200))
    exchange.connection.finish()
    #expect(exchange.connection.findings.isEmpty, "\(exchange.summary)")
}

/// The split invariant across a gap (as FuzzHTTP2 checks it): a boundary is proven only at a
/// packet's start and end, so packets cut into any pieces give the same findings, gaps and
/// transactions as packets fed whole.
@Test(arguments: [0, 1, 2, 3])
func resynchronisingIsTheSameWhereverPacketsAreCut(_ seed: Int) {
    let packets: [[UInt8]] = [
        Array(data(stream: 1, [UInt8](repeating: 7, count: 30)).suffix(17)),  // the rest of a frame
        headers(stream: 3, status200 + literal("x-a", "b")) + data(stream: 3, [1, 2]),
        rstStream(stream: 5, error: 7) + data(stream: 1, endStream: true, [9]),
        headers(stream: 3, endStream: true, literal("X-Bad", "1")),
    ]
    func run(_ cut: ([UInt8]) -> [Int]) -> (summary: [String], gaps: [String], transactions: [Transaction]) {
        var exchange = opened(requests: [1, 3, 5])
        exchange.upstream(headers(stream: 1, status200))
        exchange.upstreamGap(UInt64(5 + seed))
        for packet in packets { exchange.upstream(packet, cuts: cut(packet)) }
        exchange.connection.finish()
        return (exchange.summary, exchange.connection.uncheckedGaps.map(\.note), exchange.connection.transactions)
    }
    let whole = run { _ in [] }
    let bytewise = run { Array(1..<$0.count) }
    let some = run { packet in [seed + 1, 9 + seed, packet.count / 2].filter { $0 < packet.count } }
    #expect(whole.summary == bytewise.summary && whole.summary == some.summary)
    #expect(whole.gaps == bytewise.gaps && whole.gaps == some.gaps)
    #expect(whole.transactions == bytewise.transactions && whole.transactions == some.transactions)
    // Read again from the second packet: stream 5's reset and stream 3's uppercase trailer name.
    #expect(whole.summary.count == 2, "\(whole.summary)")
    #expect(whole.summary.first?.hasPrefix("h2.rst_stream.before_response REFUSED_STREAM stream=5") == true, "\(whole.summary)")
}
