import CaptureModel
import HTTP1
import Testing

/// One violating response: the code it must produce, at which server stream offset, how severe.
struct Case: CustomStringConvertible, Sendable {
    var name: String
    var request: String = "GET /a HTTP/1.1\r\nHost: up\r\n\r\n"
    var response: [UInt8]
    var code: String
    var offset: UInt64
    var severity: Severity
    var description: String { self.name }

    init(_ name: String, request: String = "GET /a HTTP/1.1\r\nHost: up\r\n\r\n", _ response: String, _ code: String, at offset: UInt64, _ severity: Severity) {
        self.name = name
        self.request = request
        self.response = Array(response.utf8)
        self.code = code
        self.offset = offset
        self.severity = severity
    }

    init(_ name: String, bytes response: [UInt8], _ code: String, at offset: UInt64, _ severity: Severity) {
        self.name = name
        self.response = response
        self.code = code
        self.offset = offset
        self.severity = severity
    }
}

let ok = "HTTP/1.1 200 OK\r\n"

let cases: [Case] = [
    // Status line (bytes that are not HTTP/1 at all are the protocol probe's: Engine's ProtocolProbeTests)
    Case("HTTP/2 200", "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", "http.status_line.bad_version", at: 0, .fatal),
    Case("lowercase version", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "http.status_line.bad_version", at: 0, .fatal),
    Case("HTTP/1.10", "HTTP/1.10 200 OK\r\nContent-Length: 0\r\n\r\n", "http.status_line.bad_version", at: 0, .fatal),
    Case("four-digit code", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "http.status_line.bad_code", at: 9, .fatal),
    Case("two-digit code", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", "http.status_line.bad_code", at: 9, .fatal),
    Case("letters in code", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "http.status_line.bad_code", at: 9, .fatal),
    Case("no reason, no space", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "http.status_line.no_reason_sp", at: 12, .lint),
    Case("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "http.line.bare_lf", at: 15, .lint),
    Case("bare CR in status line", "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n", "http.line.bare_cr", at: 14, .fatal),
    // Header section
    Case("space before colon", ok + "Content-Length : 5\r\n\r\nhello", "http.header.name_ctl_or_space", at: 31, .fatal),
    Case("control byte in name", ok + "X-A\u{1}b: 1\r\nContent-Length: 0\r\n\r\n", "http.header.name_ctl_or_space", at: 20, .fatal),
    Case("non-token in name", ok + "X-Foo;: bar\r\nContent-Length: 0\r\n\r\n", "http.header.name_non_token", at: 22, .fatal),
    Case("empty name", ok + ": x\r\nContent-Length: 0\r\n\r\n", "http.header.empty_name", at: 17, .fatal),
    Case("missing colon", ok + "Foo\r\nContent-Length: 0\r\n\r\n", "http.header.missing_colon", at: 17, .fatal),
    Case("NUL in value", ok + "X-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n", "http.header.value_nul", at: 23, .fatal),
    Case("CTL in value", ok + "X-A: a\u{1}b\r\nContent-Length: 0\r\n\r\n", "http.header.value_ctl", at: 23, .warning),
    Case("bare CR in value", ok + "X-A: a\rb\r\nContent-Length: 0\r\n\r\n", "http.header.value_bare_cr", at: 23, .fatal),
    Case("obs-fold", ok + "X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "http.header.obs_fold", at: 25, .fatal),
    Case("too large", ok + "X-Big: " + String(repeating: "a", count: 5000) + "\r\nContent-Length: 0\r\n\r\n",
         "http.header.too_large", at: 4096, .fatal),
    Case("too many", ok + (0..<120).map { "X-\($0): v\r\n" }.joined() + "Content-Length: 0\r\n\r\n",
         "http.header.too_many", at: 17 + UInt64((0..<100).map { "X-\($0): v\r\n".utf8.count }.reduce(0, +)), .fatal),
    Case("two Location fields", ok + "Location: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
         "http.header.dup_single_value", at: 31, .lint),
    // Body framing
    Case("CL not digits", ok + "Content-Length: abc\r\n\r\n", "http.cl.invalid", at: 33, .fatal),
    Case("CL NaN", ok + "Content-Length: NaN\r\n\r\n", "http.cl.invalid", at: 33, .fatal),
    Case("CL comma list", ok + "Content-Length: 5, 5\r\n\r\nhello", "http.cl.invalid", at: 33, .fatal),
    Case("CL overflow", ok + "Content-Length: 99999999999999999999999\r\n\r\n", "http.cl.invalid", at: 33, .fatal),
    Case("CL twice", ok + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "http.cl.duplicate", at: 36, .fatal),
    Case("TE and CL", ok + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "http.te_cl.both", at: 45, .fatal),
    Case("TE gzip", ok + "Transfer-Encoding: gzip\r\n\r\nxx", "http.te.not_chunked", at: 36, .fatal),
    Case("TE chunked, gzip", ok + "Transfer-Encoding: chunked, gzip\r\n\r\nxx", "http.te.not_chunked", at: 36, .fatal),
    Case("TE twice", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "http.te.duplicate_or_empty", at: 45, .fatal),
    Case("TE empty element", ok + "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", "http.te.duplicate_or_empty", at: 17, .fatal),
    Case("chunk size zz", ok + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "http.chunked.bad_size", at: 47, .fatal),
    Case("chunk size 0x5", ok + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", "http.chunked.bad_size", at: 48, .fatal),
    Case("chunk size overflow", ok + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", "http.chunked.size_overflow", at: 47, .fatal),
    Case("space after size", ok + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", "http.chunked.ws_after_size", at: 48, .lint),
    Case("CTL in extension", ok + "Transfer-Encoding: chunked\r\n\r\n5;\u{1}\r\nhello\r\n0\r\n\r\n", "http.chunked.bad_ext", at: 49, .fatal),
    Case("bare LF after size", ok + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", "http.chunked.bare_lf", at: 48, .fatal),
    Case("bare LF after data", ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", "http.chunked.bare_lf", at: 55, .fatal),
    Case("data longer than size", ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello!!\r\n0\r\n\r\n",
         "http.chunked.data_len_mismatch", at: 55, .fatal),
    Case("trailer without colon", ok + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-Broken\r\n\r\n", "http.chunked.bad_trailer", at: 50, .fatal),
    Case("data after the message", ok + "Content-Length: 5\r\n\r\nhello world!", "http.body.extra_after_message", at: 43, .warning),
    Case("body on 204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", "http.body.on_bodyless", at: 25, .warning),
    Case("body on HEAD", request: "HEAD /a HTTP/1.1\r\nHost: up\r\n\r\n",
         ok + "Content-Length: 5\r\n\r\nhello", "http.body.on_bodyless", at: 38, .warning),
]

@Test(arguments: cases)
func violationIsFoundAtItsByte(_ c: Case) throws {
    var exchange = Exchange()
    exchange.client(Array(c.request.utf8))
    exchange.server(c.response)
    let finding = try #require(exchange.connection.findings.first { $0.code.description == c.code }, "\(exchange.summary)")
    let evidence = try #require(finding.evidence.first)
    #expect(evidence.streamOffset == c.offset, "\(exchange.summary)")
    #expect(finding.severity == c.severity)
    #expect(evidence.direction == .server)
    // The frame and offset in frame of the byte: one frame here, 66 bytes of headers before the payload.
    #expect(evidence.frame == 2)
    #expect(evidence.frameOffset == 66 + Int(c.offset))
    #expect(!evidence.bytes.isEmpty || evidence.length == 0)
    if !evidence.bytes.isEmpty, c.offset < UInt64(c.response.count) {
        #expect(evidence.bytes.first == c.response[Int(c.offset)])
    }
}

@Test(arguments: cases)
func anySplitGivesTheSameFindings(_ c: Case) {
    var whole = Exchange()
    whole.client(Array(c.request.utf8))
    whole.server(c.response)

    var byteByByte = Exchange()
    byteByByte.client(Array(c.request.utf8), cuts: Array(1..<c.request.utf8.count))
    byteByByte.server(c.response, cuts: Array(1..<c.response.count))
    #expect(byteByByte.summary == whole.summary)

    var generator = SplitMix(seed: UInt64(c.response.count))
    for _ in 0..<8 {
        let cuts = (0..<4).map { _ in Int(generator.next() % UInt64(max(1, c.response.count))) }
        var random = Exchange()
        random.client(Array(c.request.utf8), cuts: cuts)
        random.server(c.response, cuts: cuts)
        #expect(random.summary == whole.summary, "cuts \(cuts)")
    }
}

@Test func healthyExchangesHaveNoFindings() {
    var exchange = Exchange()
    let request = "GET /a HTTP/1.1\r\nHost: up\r\n\r\n"
    let responses = [
        ok + "Content-Length: 5\r\n\r\nhello",
        ok + "Transfer-Encoding: chunked\r\n\r\n5;name=\"v a\"\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + ok + "Content-Length: 0\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        ok + "Content-Type: text/plain\r\nX-Obs: caf\u{e9}\r\nContent-Length: 2\r\n\r\nok",
    ]
    for response in responses {
        exchange.client(bytes(request))
        exchange.server(bytes(response))
    }
    #expect(exchange.summary == [])
    exchange.connection.finish()
    let transactions = exchange.connection.transactions
    #expect(transactions.count == 5)
    #expect(transactions.map { $0.response?.status } == [200, 200, 200, 304, 200])
    #expect(transactions.map { $0.response?.framing } == [.contentLength, .chunked, .contentLength, BodyFraming.none, .contentLength])
    #expect(transactions[2].response?.interim == [100, 103])
    #expect(transactions.allSatisfy { $0.response?.complete == true })
    #expect(transactions.map { $0.request?.method } == ["GET", "GET", "GET", "GET", "GET"])
}

@Test func pipelinedRequestsPairWithResponsesInOrder() {
    var exchange = Exchange()
    exchange.client(bytes("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"))
    exchange.server(bytes(ok + "Content-Length: 50\r\n\r\n" + ok + "Content-Length: 2\r\n\r\nhi" + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"))
    exchange.connection.finish()
    #expect(exchange.summary == [])
    let transactions = exchange.connection.transactions
    #expect(transactions.map { $0.request?.target } == ["/h", "/g", "/p"])
    #expect(transactions.map { $0.response?.status } == [200, 200, 201])
}

@Test func upgradeAndConnectBecomeTunnels() {
    var exchange = Exchange()
    exchange.client(bytes("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"))
    exchange.server(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\u{81}\u{5}hello"))
    #expect(exchange.summary == [])
    #expect(exchange.connection.transactions.first?.response?.framing == .tunnel)

    var connect = Exchange()
    connect.client(bytes("CONNECT up:443 HTTP/1.1\r\nHost: up:443\r\n\r\n\u{16}\u{3}\u{1}"))
    connect.server(bytes("HTTP/1.1 200 Connection established\r\n\r\n\u{16}\u{3}\u{3}\u{0}"))
    #expect(connect.summary == [])
}

@Test func readUntilCloseEndsCleanlyAtFIN() {
    var exchange = Exchange()
    exchange.client(bytes("GET /a HTTP/1.0\r\n\r\n"))
    exchange.server(bytes("HTTP/1.0 200 OK\r\n\r\nall of it"))
    #expect(exchange.connection.responseEnd.state == .midBody(framing: .close, received: 9, expected: nil))
    exchange.connection.serverFIN()
    #expect(exchange.connection.responseEnd.state == .opaque)
    exchange.connection.finish()
    #expect(exchange.connection.transactions.first?.response?.complete == true)
}

@Test func endStatesNameWhereTheResponseWasCut() {
    var midHead = Exchange()
    midHead.client(bytes("GET / HTTP/1.1\r\n\r\n"))
    midHead.server(bytes("HTTP/1.1 200 OK\r\nContent-Ty"))
    #expect(midHead.connection.responseEnd.state == .midHead(bytes: 27))

    var midBody = Exchange()
    midBody.client(bytes("GET / HTTP/1.1\r\n\r\n"))
    midBody.server(bytes(ok + "Content-Length: 100\r\n\r\n0123456789"))
    #expect(midBody.connection.responseEnd.state == .midBody(framing: .contentLength, received: 10, expected: 100))

    var noResponse = Exchange()
    noResponse.client(bytes("GET /first HTTP/1.1\r\n\r\n"))
    noResponse.server(bytes(ok + "Content-Length: 0\r\n\r\n"))
    noResponse.client(bytes("POST /second HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))
    let end = noResponse.connection.responseEnd
    #expect(end.state == .idle)
    #expect(end.outstanding?.target == "/second")
    #expect(end.responsesCompleted == 1)
}

/// Bytes before any request are parsed as a response (whether they may come first is the probe's question).
@Test func serverSpeakingFirstIsParsedAsAResponse() throws {
    var exchange = Exchange()
    exchange.server(bytes("HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"))
    #expect(exchange.summary == ["http.header.name_ctl_or_space@31/fatal/server"])
    #expect(exchange.connection.violation == nil)
}

@Test func upstream5xxIsRecordedWithItsStatusLine() throws {
    var exchange = Exchange()
    exchange.client(bytes("GET / HTTP/1.1\r\n\r\n"))
    exchange.server(bytes("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"))
    let upstream = try #require(exchange.connection.upstream5xx)
    #expect(upstream.status == 503)
    #expect(upstream.evidence.streamOffset == 0)
    #expect(exchange.summary == [])
}

@Test func gapInsideAContentLengthBodyKeepsFraming() {
    var exchange = Exchange()
    exchange.client(bytes("GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"))
    exchange.server(bytes(ok + "Content-Length: 100\r\n\r\n0123456789"))
    exchange.serverGap(80)
    exchange.server(bytes("0123456789" + ok + "Content-Length: 0\r\n\r\n"))
    #expect(exchange.connection.uncheckedGaps.isEmpty)
    #expect(exchange.summary == [])
    exchange.connection.finish()
    #expect(exchange.connection.transactions.count == 2)
}

@Test func gapInAHeadIsUncheckedAndNeverMalformed() throws {
    var exchange = Exchange()
    exchange.client(bytes("GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"))
    exchange.server(bytes("HTTP/1.1 200 OK\r\nConte"))
    exchange.serverGap(40)
    // The rest of the lost head, then the next response: resynchronised at its status line.
    exchange.server(bytes("ngth: 0\r\n\r\n" + ok + "Content-Length : 1\r\n\r\nx"))
    let gap = try #require(exchange.connection.uncheckedGaps.first)
    #expect(gap.streamOffset == 22)
    #expect(gap.length == 40)
    // The garbage after the gap is not reported; the next response's real violation is.
    #expect(exchange.summary == ["http.header.name_ctl_or_space@\(22 + 40 + 11 + 31)/fatal/server"])
}

/// The HTTP/1 parser knows HTTP/1 only: a response that does not begin "HTTP/" stops it, with
/// no finding of its own, and its first bytes go back to the probe as a violation.
@Test(arguments: [
    ("-ERR unknown command\r\n", "-ERR unknown command\r\n"),
    ("\u{15}\u{3}\u{3}\u{0}\u{2}\u{2}\u{28}", "\u{15}\u{3}\u{3}\u{0}\u{2}\u{2}\u{28}"),
    ("ab\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "ab\r\n\r\n"),
    (String(repeating: "x", count: 100), String(repeating: "x", count: 40)),
])
func responseThatIsNotHTTP1IsAViolation(response: String, sample: String) throws {
    for cut in 0..<response.utf8.count {
        var exchange = Exchange()
        exchange.client(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        exchange.server(bytes(response), cuts: cut == 0 ? [] : [cut])
        exchange.connection.ended()
        #expect(exchange.summary == [], "cut \(cut)")
        let violation = try #require(exchange.connection.violation, "cut \(cut)")
        #expect(violation.streamOffset == 0 && violation.frame == 2 && violation.frameOffset == 66, "cut \(cut)")
        // The bytes held when the check ran: up to where the head ended, at most 40; when the
        // first chunk had 9 bytes (the check's threshold), that chunk's.
        #expect(violation.bytes == (cut >= 9 ? Array(bytes(sample).prefix(cut)) : bytes(sample)), "cut \(cut)")
        #expect(exchange.connection.responseEnd.state == .opaque, "cut \(cut)")
    }
}

/// A later response that is not HTTP/1 is a violation at its own offset.
@Test func laterResponseThatIsNotHTTP1IsAViolation() throws {
    var exchange = Exchange()
    exchange.client(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"))
    let first = ok + "Content-Length: 2\r\n\r\nok"
    exchange.server(bytes(first + "SSH-2.0-OpenSSH_9.2p1\r\n"))
    let violation = try #require(exchange.connection.violation)
    #expect(violation.streamOffset == UInt64(first.utf8.count))
    #expect(violation.frameOffset == 66 + first.utf8.count)
    #expect(violation.bytes == bytes("SSH-2.0-OpenSSH_9.2p1\r\n"))
    #expect(exchange.summary == [])
}

/// Found by Fuzz/FuzzHTTP1's split test: bytes after a complete response
/// (http.body.extra_after_message) took their evidence from whatever the chunk held, so it
/// changed with the cut; it now grows with the bytes that follow, up to its limit. (The same
/// for proto.non_http_response is in Engine's ProtocolProbeTests.)
@Test func prefixFindingsShowTheSameBytesHoweverCut() throws {
    let extra = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nunexpected bytes"
    for cut in 39..<extra.utf8.count {
        var exchange = Exchange()
        exchange.client(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        exchange.server(bytes(extra), cuts: [cut])
        let finding = try #require(exchange.connection.findings.first { $0.code == .bodyExtraAfterMessage })
        #expect(finding.evidence.first?.streamOffset == 38 && finding.evidence.first?.length == 16, "cut \(cut)")
    }
}

/// Found by Fuzz/FuzzHTTP1's split test: after a 178-byte gap in the upstream's stream the
/// framer looks for the next "HTTP/1." to pick the framing up again, but it searched each
/// chunk alone, so a status line cut inside "HTTP/1." was never found (the response was lost
/// and the stream stayed desynced), while the same bytes in one chunk were read.
@Test func statusLineAfterAGapIsFoundWhereverCut() {
    let request = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    let response = bytes("junkHTTP/1.1 502 Bad Gateway\r\nContent-Length: 2\r\n\r\nno")
    var whole = Exchange()
    whole.client(request)
    whole.serverGap(178)
    whole.server(response)
    whole.connection.finish()
    #expect(whole.connection.upstream5xx?.status == 502)
    for cut in 1..<12 {
        var split = Exchange()
        split.client(request)
        split.serverGap(178)
        split.server(response, cuts: [cut, cut + 1])
        split.connection.finish()
        #expect(split.summary == whole.summary, "cut \(cut)")
        // The frame is the one "HTTP/1." starts in: piece 1 (frame 2) when cut after it begins.
        let response = split.connection.transactions.first?.response
        #expect(response?.status == 502 && response?.complete == true && response?.offset == 182, "cut \(cut)")
        #expect(response?.frame == (cut > 4 ? 2 : cut == 4 ? 3 : 4), "cut \(cut)")
        #expect(split.connection.upstream5xx?.evidence.streamOffset == 182, "cut \(cut)")
    }
}

/// Found by Fuzz/FuzzHTTP1's split test, after the fix above: a response, a gap of 257 bytes,
/// then "HTTP/1.1 200 OK" with no request waiting. Fed whole, http.body.extra_after_message
/// pointed at the "H"; cut after "HTTP", at the byte after the cut, 4 bytes on.
@Test func bytesAnsweringNothingAfterAGapStartWhereverCut() throws {
    let first = bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    let after = bytes("\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    for cut in [0, 3, 5, 8] {
        var exchange = Exchange()
        exchange.client(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        exchange.server(first)
        exchange.serverGap(257)
        exchange.server(after, cuts: [cut])
        let finding = try #require(exchange.connection.findings.first { $0.code == .bodyExtraAfterMessage }, "cut \(cut)")
        #expect(finding.evidence.first?.streamOffset == UInt64(first.count + 257 + 1), "cut \(cut)")
        #expect(finding.evidence.first?.bytes.starts(with: bytes("HTTP/1.1 200")) == true, "cut \(cut)")
    }
}

/// The head's bytes, what HAProxy's HTX buffer takes, then the longest field line without its
/// line end: Apache judges each line against ResponseFieldSize, not the head.
@Test func tooLargeHeadNamesItsLongestFieldLine() throws {
    var exchange = Exchange()
    exchange.client(Array("GET /a HTTP/1.1\r\nHost: up\r\n\r\n".utf8))
    let long = "X-Big: " + String(repeating: "b", count: 9000)
    exchange.server(Array(("HTTP/1.1 200 OK\r\nX-A: 1\r\n" + long + "\r\nContent-Length: 0\r\n\r\n").utf8))
    let finding = try #require(exchange.connection.findings.first { $0.code == .headerTooLarge })
    let numbers = try #require(finding.value).split(separator: " ").map(String.init)
    #expect(numbers.count == 3)
    #expect(numbers.first == "9055")
    #expect(numbers.last == String(long.utf8.count))
}

/// A gateway model with a lower field limit (Varnish: 59) lowers where `http.header.too_many` is
/// raised: at the first field past it, with the head's field count as the value.
@Test func tooManyFieldsIsRaisedAtTheLimitAskedFor() throws {
    let fields = (0..<70).map { "X-\($0): v\r\n" }
    let response = Array(("HTTP/1.1 200 OK\r\n" + fields.joined() + "Content-Length: 0\r\n\r\n").utf8)
    var lowered = Exchange()
    lowered.connection = HTTP1Connection(fieldLimit: 59)
    lowered.client(Array("GET /a HTTP/1.1\r\nHost: up\r\n\r\n".utf8))
    lowered.server(response)
    let finding = try #require(lowered.connection.findings.first { $0.code == .headerTooMany })
    #expect(finding.evidence.first?.streamOffset == 17 + UInt64(fields.prefix(59).map(\.utf8.count).reduce(0, +)))
    #expect(finding.evidence.first?.note == "more than 59 header lines")
    #expect(finding.value == "71")
    var standard = Exchange()
    standard.client(Array("GET /a HTTP/1.1\r\nHost: up\r\n\r\n".utf8))
    standard.server(response)
    #expect(!standard.connection.findings.contains { $0.code == .headerTooMany })
}
