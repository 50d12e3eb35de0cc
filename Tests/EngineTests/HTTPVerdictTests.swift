import CaptureModel
import Diagnosis
import Engine
import PacketDecoding
import Testing
import TestSupport

/// One connection: handshake, the gateway's requests and the upstream's response segments, then
/// how it ended. Sequence numbers follow the bytes, so reassembly sees a clean stream.
struct Conversation {
    var h = EngineHarness()
    var clientNext: UInt32 = 101
    var serverNext: UInt32 = 901
    var clock: Int64 = 0

    init(gateway: String = "nginx") {
        self.h.engine = Engine(linkType: .ethernet, options: AnalysisOptions(gateway: GatewayProfile(parsing: gateway)!))
        self.h.handshake()
        self.clock = 3
    }

    mutating func tick(_ milliseconds: Int64 = 1) -> Int64 {
        self.clock += milliseconds
        return self.clock
    }

    mutating func request(_ text: String, after milliseconds: Int64 = 1) {
        self.h.send(fromGateway: true, seq: self.clientNext, ack: self.serverNext, flags: [.psh, .ack], text, at: self.tick(milliseconds))
        self.clientNext &+= UInt32(text.utf8.count)
    }

    mutating func response(_ text: String, after milliseconds: Int64 = 1) {
        self.h.send(fromGateway: false, seq: self.serverNext, ack: self.clientNext, flags: [.psh, .ack], text, at: self.tick(milliseconds))
        self.serverNext &+= UInt32(text.utf8.count)
    }

    /// The upstream's FIN or RST, acknowledging `acknowledging` (default: every byte the gateway sent).
    mutating func serverCloses(rst: Bool = false, after milliseconds: Int64 = 1, acknowledging: UInt32? = nil) {
        self.h.send(fromGateway: false, seq: self.serverNext, ack: acknowledging ?? self.clientNext,
                    flags: rst ? [.rst, .ack] : [.fin, .ack], at: self.tick(milliseconds))
    }

    mutating func gatewayCloses(after milliseconds: Int64 = 1) {
        self.h.send(fromGateway: true, seq: self.clientNext, ack: self.serverNext, flags: [.fin, .ack], at: self.tick(milliseconds))
    }

    mutating func verdict() throws -> ConnectionReport {
        try #require(self.h.engine.finish().connections.first)
    }
}

private let get = "GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n"
private let ok = "HTTP/1.1 200 OK\r\n"

@Test func badHeaderNameIsA502WithTheByteAndFrame() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Content-Length : 5\r\n\r\nhello")
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .headerNameCTLOrSpace)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.phase == .responseHead)
    #expect(report.verdict.gateways["nginx"]?.status == 502)
    #expect(report.verdict.gateways["haproxy"]?.detail.hasPrefix("PH") == true)
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.frame == 5)
    #expect(evidence.streamOffset == 31)
    #expect(evidence.frameOffset == 54 + 31)
    #expect(evidence.bytes == [0x20])
    #expect(report.findings.first?.severity == .fatal)
}

@Test func obsFoldIsFatalForNginxButOnlyAWarningForHAProxy() throws {
    for (gateway, expected, severity) in [("nginx", VerdictClass.badGateway, Severity.fatal), ("haproxy", .ok, .warning)] {
        var c = Conversation(gateway: gateway)
        c.request(get)
        c.response(ok + "X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n")
        c.gatewayCloses()
        let report = try c.verdict()
        #expect(report.verdict.code == .headerObsFold)
        #expect(report.verdict.verdictClass == expected, "\(gateway)")
        #expect(report.findings.first?.severity == severity, "\(gateway)")
    }
}

@Test func contentLengthNaNDependsOnTheNginxRelease() throws {
    for (gateway, expected) in [("nginx:1.22", VerdictClass.ok), ("nginx", .badGateway)] {
        var c = Conversation(gateway: gateway)
        c.request(get)
        c.response(ok + "Content-Length: NaN\r\n\r\n")
        c.serverCloses()
        let report = try c.verdict()
        #expect(report.verdict.code == .contentLengthInvalid, "\(gateway)")
        #expect(report.verdict.verdictClass == expected, "\(gateway)")
    }
}

@Test func badChunkAfterTheHeadIsATruncatedResponseNotA502() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Transfer-Encoding: chunked\r\n\r\n")
    c.response("zz\r\nhello\r\n0\r\n\r\n")
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .chunkedBadSize)
    #expect(report.verdict.verdictClass == .truncated)
    #expect(report.verdict.phase == .responseBody)
    #expect(report.verdict.gateways["nginx"]?.status == nil)
    #expect(report.findings.first?.evidence.first?.frame == 6)
    #expect(report.findings.first?.evidence.first?.streamOffset == 47)
}

@Test func finInsideTheHeadIsFINMidHeaders() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Content-Ty")
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpFINMidHeaders)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.findings.first?.evidence.first?.frame == 6)
}

@Test func finAndRSTInsideTheBodyAreCutResponses() throws {
    for rst in [false, true] {
        var c = Conversation()
        c.request(get)
        c.response(ok + "Content-Length: 100\r\n\r\n0123456789")
        c.serverCloses(rst: rst)
        let report = try c.verdict()
        #expect(report.verdict.code == (rst ? .tcpRSTMidBody : .tcpFINMidBody))
        #expect(report.verdict.verdictClass == .truncated)
        #expect(report.verdict.phase == .responseBody)
        #expect(report.findings.first?.evidence.first?.frame == 6)
        #expect(report.transactions.first?.response?.complete == false)
    }
}

@Test func readUntilCloseBodyEndedByFINIsHealthy() throws {
    var c = Conversation()
    c.request("GET / HTTP/1.0\r\n\r\n")
    c.response("HTTP/1.0 200 OK\r\n\r\nthe whole body")
    c.serverCloses()
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .none)
    #expect(report.transactions.first?.response?.framing.rawValue == "close")
}

@Test func upstreamFINCrossingAReusedRequestIsTheKeepAliveRace() throws {
    for (method, expected) in [("GET", VerdictClass.ok), ("POST", .badGateway)] {
        var c = Conversation()
        c.request(get)
        c.response(ok + "Content-Length: 0\r\n\r\n")
        // 5 s idle; the gateway reuses the connection just as the upstream closes it: the FIN
        // left before the request arrived, so it acknowledges only the first request.
        let before = c.clientNext
        c.request("\(method) /next HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n", after: 5000)
        c.serverCloses(after: 0, acknowledging: before)
        let report = try c.verdict()
        #expect(report.verdict.code == .tcpKeepaliveRace, "\(method)")
        #expect(report.verdict.verdictClass == expected, "\(method)")
        #expect(report.findings.first?.evidence.first?.frame == 7)
        #expect(report.verdict.summary.contains("its FIN did not acknowledge the request's bytes"))
        #expect(report.verdict.summary.contains("idle 5 s"))
    }
}

/// Issue 15 item 1: on a busy keep-alive connection, an upstream that read the request and then
/// reset is not racing a keep-alive timeout: its RST acknowledges the request.
@Test func aResetThatAcknowledgesTheReusedRequestIsNotTheKeepAliveRace() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Content-Length: 0\r\n\r\n")
    c.request("POST /next HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n", after: 5)
    c.serverCloses(rst: true, after: 0)
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpRSTBeforeResponse)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.phase == .responseHead)
    #expect(report.findings.first?.evidence.first?.frame == 7)
    #expect(report.verdict.summary.contains("its RST acknowledged 53 bytes of the request, so it had received the request"))
    #expect(report.verdict.summary.contains("idle 5 ms"))
}

/// A close that crosses the request after a few milliseconds of idleness is no keep-alive
/// timeout either (the shortest common one is 2 s): the upstream aborted.
@Test func aCloseCrossingAReusedRequestAfterAShortIdleIsNotTheKeepAliveRace() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Content-Length: 0\r\n\r\n")
    let before = c.clientNext
    c.request("POST /next HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n", after: 20)
    c.serverCloses(after: 0, acknowledging: before)
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpFINBeforeResponse)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.summary.contains("idle 20 ms, far less than any keep-alive timeout"))
}

@Test func upstreamClosingAfterTheRequestIsFINBeforeResponse() throws {
    var c = Conversation()
    c.request(get)
    c.serverCloses(after: 200)
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpFINBeforeResponse)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.gateways["nginx"]?.detail.contains("prematurely closed") == true)
}

@Test func onAReusedConnectionNginxRetriesAnIdempotentRequestAfterAFIN() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Content-Length: 0\r\n\r\n")
    c.request(get, after: 100)
    c.serverCloses(after: 200)
    let report = try c.verdict()
    // Not a race (the FIN came 200 ms after the request), but nginx retries a GET that failed on
    // a cached connection without counting a try, so its client saw no error.
    #expect(report.verdict.code == .tcpFINBeforeResponse)
    #expect(report.verdict.verdictClass == .ok)
}

@Test func silentUpstreamAfterTheRequestIsAReadTimeoutAnd504() throws {
    var c = Conversation()
    c.request(get)
    c.gatewayCloses(after: 60_000)
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpReadTimeout)
    #expect(report.verdict.verdictClass == .gatewayTimeout)
}

@Test func upstream503IsRelayedNotMadeByTheGateway() throws {
    var c = Conversation()
    c.request(get)
    c.response("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .upstream5xx)
    #expect(report.verdict.verdictClass == .relayed)
    #expect(report.findings.first?.evidence.first?.frame == 5)
}

@Test func nonHTTPResponseIsRelayedByNginxAsHTTP09() throws {
    var c = Conversation()
    c.request(get)
    c.response("-ERR unknown command\r\n")
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .protoNonHTTPResponse)
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.verdict.gateways["haproxy"]?.status == 502)
    #expect(report.verdict.summary.contains("HTTP/0.9"))
}

@Test func healthyKeepAliveConnectionIsClean() throws {
    var c = Conversation()
    for index in 0..<20 {
        c.request(get)
        if index % 2 == 0 {
            c.response(ok + "Content-Length: 5\r\n\r\nhello")
        } else {
            c.response(ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        }
    }
    c.gatewayCloses()
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .none)
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.findings.isEmpty)
    #expect(report.transactions.count == 20)
}

@Test func credentialsAreRedactedInEvidence() throws {
    var c = Conversation()
    c.request(get)
    c.response(ok + "Set-Cookie: session=SECRET123\r\nContent-Length : 0\r\n\r\n")
    c.gatewayCloses()
    let report = try c.verdict()
    let evidence = try #require(report.findings.first?.evidence.first)
    let text = String(decoding: evidence.context, as: UTF8.self)
    #expect(!text.contains("SECRET"))
    #expect(text.contains("****"))
}

// MARK: Issue 15 item 14: three framing details

/// RFC 9110 §15.2.2: a 101 response is complete at the end of its head; what follows is the new
/// protocol's, and the upstream closing later is no cut response.
@Test func a101SwitchingProtocolsResponseIsACompleteTransaction() throws {
    var c = Conversation()
    c.request("GET /ws HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    c.response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{1}\u{5}hello")
    c.serverCloses(after: 10)
    let report = try c.verdict()
    #expect(report.verdict.code == .none)
    #expect(report.verdict.verdictClass == .ok)
    let response = try #require(report.transactions.first?.response)
    #expect(response.status == 101)
    #expect(response.complete)
    #expect(response.framing == .tunnel)
    #expect(response.frame == 5)
}

/// RFC 9110 §5.3: two Transfer-Encoding lines are one list; with chunked not last the body runs to
/// the close (RFC 9112 §6.3 rule 4), which strict does not call a framing error. nginx from 1.23
/// refuses the second line.
@Test func twoTransferEncodingLinesAreOneListForStrict() throws {
    for (gateway, expected) in [("strict", VerdictClass.ok), ("nginx", .badGateway), ("nginx:1.22", .ok)] {
        var c = Conversation(gateway: gateway)
        c.request(get)
        c.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\nabcdef")
        c.serverCloses(after: 10)
        let report = try c.verdict()
        #expect(report.verdict.verdictClass == expected, "\(gateway)")
        #expect(report.transactions.first?.response?.framing == .close, "\(gateway)")
        #expect(report.transactions.first?.response?.complete == true, "\(gateway)")
        let duplicate = try #require(report.findings.first { $0.code == .transferEncodingDuplicateOrEmpty })
        // The second line, at its first byte (17 + 28 bytes into the stream).
        #expect(duplicate.evidence.first?.streamOffset == 45, "\(gateway)")
        #expect(duplicate.evidence.first?.frame == 5, "\(gateway)")
    }
}

/// RFC 9112 §7.1.1: `chunk-ext-name = token`; `2;` then CRLF has a ';' and no name.
@Test func aChunkExtensionWithoutANameIsBadExt() throws {
    for (gateway, expected) in [("strict", VerdictClass.truncated), ("nginx", .ok), ("haproxy", .ok)] {
        var c = Conversation(gateway: gateway)
        c.request(get)
        c.response(ok + "Transfer-Encoding: chunked\r\n\r\n2;\r\nab\r\n0\r\n\r\n")
        let report = try c.verdict()
        #expect(report.verdict.code == .chunkedBadExtension, "\(gateway)")
        #expect(report.verdict.verdictClass == expected, "\(gateway)")
        let evidence = try #require(report.findings.first?.evidence.first)
        // The ';' (head: 17 + 28 + 2 bytes; the size digit is one more).
        #expect(evidence.streamOffset == 48, "\(gateway)")
        #expect(evidence.length == 1)
        #expect(evidence.frame == 5)
        #expect(evidence.note.contains("no name after its ';'"))
    }
}

/// The grammar still takes well-formed extensions: names, token and quoted values, BWS.
@Test(arguments: ["2;a\r\n", "2;a=b\r\n", "2 ; a = \"q\\\"x\" ;b\r\n", "2;a=\"\"\r\n"])
func wellFormedChunkExtensionsPass(_ line: String) throws {
    var c = Conversation(gateway: "strict")
    c.request(get)
    c.response(ok + "Transfer-Encoding: chunked\r\n\r\n" + line + "ab\r\n0\r\n\r\n")
    let report = try c.verdict()
    #expect(!report.findings.contains { $0.code == .chunkedBadExtension }, "\(line.debugDescription)")
}

// MARK: Issue 15 item 3: responses after a capture gap

/// Three keep-alive exchanges on one connection; `lose` bytes of the upstream's stream starting at
/// `from` are missing from the capture (the reassembler sees a gap). Returns the report.
private func threeResponses(first: String, lose range: Range<Int>) throws -> ConnectionReport {
    var c = Conversation()
    c.request("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
    let stream = Array((first + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok" + "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok").utf8)
    if range.lowerBound > 0 { c.response(String(decoding: stream[..<range.lowerBound], as: UTF8.self)) }
    c.serverNext &+= UInt32(range.count)  // never captured
    // The rest, one segment per response so each status line starts a frame.
    var rest = String(decoding: stream[range.upperBound...], as: UTF8.self)
    while !rest.isEmpty {
        let next = rest.dropFirst().range(of: "HTTP/1.1 ").map { rest.distance(from: rest.startIndex, to: $0.lowerBound) } ?? rest.count
        c.response(String(rest.prefix(next)))
        rest = String(rest.dropFirst(next))
    }
    c.serverCloses(after: 5)
    c.gatewayCloses()
    return try c.verdict()
}

/// The gap took the start of the first response: it stays unanswered, and the two status lines
/// after the gap answer the second and third requests (they used to answer the first and second).
@Test func afterAGapInAResponseHeadTheNextResponsesPairWithTheirRequests() throws {
    let report = try threeResponses(first: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", lose: 0..<10)
    #expect(report.verdict.code == .captureGap)
    #expect(report.verdict.verdictClass == .unknown)
    #expect(report.transactions.map { $0.request?.target } == ["/1", "/2", "/3"])
    #expect(report.transactions.map { $0.response?.status } == [nil, 201, 202])
    let second = try #require(report.transactions[1].response)
    #expect(second.offset == 49)
    #expect(second.frame == 6)
    let gap = try #require(report.findings.first { $0.code == .captureGap }?.evidence.first)
    #expect(gap.streamOffset == 0)
    #expect(gap.length == 10)
}

/// The gap ran past the first body into the second response's head: the first is whole, the
/// second lost, the third paired with its own request.
@Test func aGapPastABodyLosesTheNextResponseOnly() throws {
    let report = try threeResponses(first: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", lose: 40..<60)
    #expect(report.verdict.code == .captureGap)
    #expect(report.transactions.map { $0.response?.status } == [200, nil, 202])
    #expect(report.transactions.first?.response?.complete == true)
    #expect(report.transactions.last?.response?.offset == 94)
}

/// A gap that breaks a chunked body: that response is cut, and the next status line answers the
/// next request.
@Test func aGapThatBreaksAChunkedBodyCutsThatResponseOnly() throws {
    let report = try threeResponses(first: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", lose: 47..<50)
    #expect(report.verdict.code == .captureGap)
    #expect(report.transactions.map { $0.response?.status } == [200, 201, 202])
    #expect(report.transactions.first?.response?.complete == false)
    #expect(report.transactions.map { $0.request?.target } == ["/1", "/2", "/3"])
}

/// Varnish refuses a head of 60 fields (http_max_hdr); the run judged as Varnish flags it at the
/// 60th field, HAProxy and nginx let it through, and the default run (whose models all take 100
/// fields) does not flag it at all.
@Test func aHeadOfSeventyFieldsIsA503BehindVarnishOnly() throws {
    let fields = (0..<69).map { "X-\($0): v\r\n" }.joined()
    var varnish = Conversation(gateway: "varnish")
    varnish.request(get)
    varnish.response(ok + fields + "Content-Length: 5\r\n\r\nhello")
    varnish.gatewayCloses()
    let report = try varnish.verdict()
    #expect(report.verdict.code == .headerTooMany)
    #expect(report.verdict.verdictClass == .serviceUnavailable)
    #expect(report.verdict.gateways["varnish"]?.detail == "http format error")
    #expect(report.verdict.gateways["haproxy"]?.status == nil)
    #expect(report.verdict.gateways["nginx"]?.status == nil)
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.frame == 5)
    #expect(evidence.streamOffset == UInt64(ok.utf8.count + (0..<59).map { "X-\($0): v\r\n".utf8.count }.reduce(0, +)))

    var nginx = Conversation()
    nginx.request(get)
    nginx.response(ok + fields + "Content-Length: 5\r\n\r\nhello")
    nginx.gatewayCloses()
    let healthy = try nginx.verdict()
    #expect(healthy.verdict.code == .none)
    #expect(!healthy.findings.contains { $0.code == .headerTooMany })
}
