import CaptureModel
import FastCGI
import HTTP1
import TestSupport
import Testing

/// Feeds a gateway's and an application's records to an `FCGIConnection`, cut at given points;
/// each piece is a frame of its own (frame numbers count up from 1 across both directions).
struct Exchange {
    var connection = FCGIConnection()
    var frame: FrameNumber = 0
    var clientOffset: UInt64 = 0
    var serverOffset: UInt64 = 0

    mutating func client(_ bytes: [UInt8], cuts: [Int] = []) {
        for piece in Self.pieces(bytes, cuts: cuts) {
            self.frame += 1
            piece.withUnsafeBytes { raw in
                self.connection.feed(raw, direction: .client, at: self.clientOffset, frame: self.frame, frameOffset: 66,
                                     time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            self.clientOffset += UInt64(piece.count)
        }
    }

    mutating func server(_ bytes: [UInt8], cuts: [Int] = []) {
        for piece in Self.pieces(bytes, cuts: cuts) {
            self.frame += 1
            piece.withUnsafeBytes { raw in
                self.connection.feed(raw, direction: .server, at: self.serverOffset, frame: self.frame, frameOffset: 66,
                                     time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            self.serverOffset += UInt64(piece.count)
        }
    }

    mutating func serverGap(_ length: UInt64) {
        self.connection.gap(self.serverOffset..<(self.serverOffset + length), direction: .server, frame: nil, truncated: false)
        self.serverOffset += length
    }

    static func pieces(_ bytes: [UInt8], cuts: [Int]) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts.sorted() where cut > start && cut < bytes.count {
            pieces.append(Array(bytes[start..<cut]))
            start = cut
        }
        pieces.append(Array(bytes[start...]))
        return pieces
    }

    /// What must not depend on the split: each finding's code, offsets, severity and value, the transactions.
    var summary: [String] {
        self.connection.findings.map { finding in
            let evidence = finding.evidence.first
            return "\(finding.code)@\(evidence?.streamOffset ?? 999_999)+\(evidence?.contentOffset.map(String.init) ?? "-")/\(finding.severity.rawValue)/\(finding.value ?? "-")"
        } + self.connection.transactions.map {
            "\($0.request?.method ?? "?") \($0.request?.target ?? "?") -> \($0.response?.status.map(String.init) ?? "-") complete=\($0.response?.complete ?? false)"
        }
    }
}

typealias Wire = FastCGIWire

@Suite struct FCGIConnectionTests {
    @Test func healthyRequestBecomesOneTransactionWithTheParamsRequest() throws {
        var exchange = Exchange()
        exchange.client(Wire.request("POST", "/cart.php?id=7", extra: [("HTTP_X_REQUEST_ID", "req-42")]))
        exchange.server(Wire.stdout("Content-Type: text/html; charset=UTF-8\r\n\r\n<p>ok</p>") + Wire.end())
        exchange.connection.finish()
        #expect(exchange.connection.findings.isEmpty)
        let transaction = try #require(exchange.connection.transactions.first)
        #expect(exchange.connection.transactions.count == 1)
        #expect(transaction.request?.method == "POST")
        #expect(transaction.request?.target == "/cart.php?id=7")
        #expect(transaction.request?.host == "shop.example")
        #expect(transaction.request?.requestID == "req-42")
        #expect(transaction.request?.offset == 0)
        #expect(transaction.request?.frame == 1)
        #expect(transaction.response?.status == 200)
        #expect(transaction.response?.complete == true)
        #expect(transaction.response?.framing == .fastCGI)
        #expect(transaction.response?.offset == 0)
        #expect(exchange.connection.stderr == nil)
    }

    /// FuzzFastCGI (found in CI): an FCGI_END_REQUEST cut after its header names the protocolStatus
    /// byte in the frame that carried it, not in the header's frame.
    @Test func endRequestStatusCutFromItsHeaderNamesItsOwnFrame() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let end = Wire.end(protocolStatus: 2)
        // The empty FCGI_STDOUT (8 bytes), the END_REQUEST header (8) and 2 body bytes, then the rest.
        exchange.server(Array(end.prefix(18)))
        exchange.server(Array(end.dropFirst(18)))
        let finding = try #require(exchange.connection.findings.first { $0.code == .fcgiEndRequestOverloaded })
        let evidence = try #require(finding.evidence.first)
        #expect(evidence.streamOffset == 8 + 8 + 4)
        #expect(evidence.frame == 3)
        #expect(evidence.frameOffset == 66 + 2)
    }

    /// nginx 1.22: `header("Content Type: text/plain")` is "upstream sent invalid header" (502).
    @Test func spaceInAFieldNameInsideStdoutIsTheHTTPCodeWithStreamAndContentOffsets() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        // The head's second record: its space is content byte 24 + 7, after two record headers.
        let first = Wire.stdout("X-Powered-By: PHP/8.2.7\r\n")  // 25 content bytes
        let second = Wire.stdout("Content Type: text/plain\r\n\r\nhi")
        exchange.server(first)
        exchange.server(second + Wire.end())
        let finding = try #require(exchange.connection.findings.first)
        #expect(finding.code == .headerNameCTLOrSpace)
        let evidence = try #require(finding.evidence.first)
        #expect(evidence.contentOffset == 25 + 7)
        #expect(evidence.streamOffset == UInt64(first.count + 8 + 7))
        #expect(evidence.frame == 3)
        #expect(evidence.frameOffset == 66 + 8 + 7)
        // From the space to the colon: the rest of the bad name (issue 15 item 12).
        #expect(evidence.bytes == Array(" Type".utf8))
        #expect(evidence.length == 5)
    }

    @Test func statusFieldGivesTheStatusAndA5xxIsTheApplicationsOwn() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("Status: 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\ndown") + Wire.end())
        exchange.connection.finish()
        #expect(exchange.connection.findings.isEmpty)
        #expect(exchange.connection.transactions.first?.response?.status == 503)
        let upstream = try #require(exchange.connection.upstream5xx)
        #expect(upstream.status == 503)
        #expect(upstream.evidence.streamOffset == 8)
        #expect(upstream.evidence.contentOffset == 0)
    }

    @Test func locationWithoutStatusIs302() {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("Location: /login\r\n\r\n") + Wire.end())
        exchange.connection.finish()
        #expect(exchange.connection.transactions.first?.response?.status == 302)
    }

    @Test(arguments: [("abc", "abc"), ("20", "20"), ("2000 OK", "2000 OK"), ("099 Low", "099 Low")])
    func invalidStatusField(value: String, reported: String) throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("Status: \(value)\r\n\r\n") + Wire.end())
        let finding = try #require(exchange.connection.findings.first)
        #expect(finding.code == .fcgiStatusInvalid)
        #expect(finding.value == reported)
        #expect(finding.evidence.first?.streamOffset == 8 + 8)
        #expect(finding.evidence.first?.contentOffset == 8)
    }

    /// php-fpm writes FCGI_STDERR before FCGI_STDOUT; an uncaught error answers 500.
    @Test func fatalErrorInStderrWithA500IsStderrFatal() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let message = "PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /var/www/html/index.php:3"
        exchange.server(Wire.stderr(message) + Wire.stdout("Status: 500 Internal Server Error\r\nContent-type: text/html; charset=UTF-8\r\n\r\n") + Wire.end())
        exchange.connection.finish()
        let finding = try #require(exchange.connection.findings.first { $0.code == .fcgiStderrFatal })
        #expect(finding.severity == .fatal)
        // At "PHP Fatal error", after php-fpm's "PHP message: ".
        #expect(finding.evidence.first?.streamOffset == 8 + 13)
        #expect(finding.evidence.first?.contentOffset == 13)
        #expect(finding.evidence.first?.frame == 2)
        #expect(finding.value == String(message.dropFirst(13)))
        #expect(exchange.connection.stderr == message)
        #expect(exchange.connection.transactions.first?.response?.status == 500)
    }

    @Test func stderrWithA200IsAWarningFindingOnly() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stderr("PHP message: PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 2")
            + Wire.stdout("Content-type: text/html\r\n\r\nok") + Wire.end())
        exchange.connection.finish()
        #expect(exchange.connection.findings.map(\.code) == [.fcgiStderrWarning])
        #expect(exchange.connection.findings.first?.severity == .warning)
        // The message after php-fpm's "PHP message: ".
        #expect(exchange.connection.findings.first?.evidence.first?.contentOffset == 13)
        #expect(exchange.connection.findings.first?.evidence.first?.streamOffset == 8 + 13)
        #expect(exchange.connection.findings.first?.value == "PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 2")
    }

    @Test func stderrKeptIsBoundedAndMasksCredentials() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let long = String(repeating: "x", count: 5000)
        exchange.server(Wire.stderr("Authorization: Bearer s3cret\n") + Wire.stderr(long) + Wire.stdout("\r\n") + Wire.end())
        let text = try #require(exchange.connection.stderr)
        #expect(text.hasPrefix("Authorization: *************\n"))
        #expect(!text.contains("s3cret"))
        #expect(text.utf8.count == FCGIConnection.maximumStderrBytes + "…".utf8.count)
    }

    @Test(arguments: [(UInt8(2), FindingCode.fcgiEndRequestOverloaded), (1, .fcgiEndRequestCantMpxConn), (3, .fcgiEndRequestUnknownRole)])
    func endRequestProtocolStatus(status: UInt8, code: FindingCode) throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.end(appStatus: 0, protocolStatus: status, closeStdout: false))
        exchange.connection.finish()
        #expect(exchange.connection.findings.map(\.code) == [code])
        // The protocolStatus byte: the record header, then 4 bytes of appStatus.
        #expect(exchange.connection.findings.first?.evidence.first?.streamOffset == 12)
        #expect(exchange.connection.findings.first?.value == "appStatus 0")
        #expect(exchange.connection.transactions.first?.response?.complete == true)
    }

    /// nginx: "upstream sent unexpected FastCGI record: 3".
    @Test func endRequestWithNoStdoutIsBeforeStdout() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.end(appStatus: 255, closeStdout: false))
        let finding = try #require(exchange.connection.findings.first)
        #expect(finding.code == .fcgiEndRequestBeforeStdout)
        #expect(finding.value == "appStatus 255")
        #expect(finding.evidence.first?.streamOffset == 1)
    }

    @Test func endRequestAfterPartOfTheHeadIsUnexpected() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let part = Wire.stdout("Content-type: text/")
        exchange.server(part + Wire.end(closeStdout: false))
        #expect(exchange.connection.findings.map(\.code) == [.fcgiRecordUnexpected])
        #expect(exchange.connection.findings.first?.value == "3")
        #expect(exchange.connection.findings.first?.evidence.first?.streamOffset == UInt64(part.count + 1))
    }

    /// nginx: "upstream prematurely closed FastCGI stdout", once, and not END_REQUEST's too.
    @Test func endOfStdoutBeforeTheHeadEndedIsUnexpectedOnce() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("Content-type: text/") + Wire.end())
        #expect(exchange.connection.findings.map(\.code) == [.fcgiRecordUnexpected])
        #expect(exchange.connection.findings.first?.value == "6")
    }

    /// The scripted server's no-end-request: nginx (no keep-conn) is done at the empty FCGI_STDOUT.
    @Test func endOfStdoutCompletesTheResponseWithoutEndRequest() {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("Content-type: text/html\r\n\r\nhello") + Wire.record(6))
        exchange.connection.close(byPeer: true)
        let end = exchange.connection.responseEnd
        #expect(end.state == .idle)
        #expect(end.outstanding == nil)
        #expect(end.responsesCompleted == 1)
        exchange.connection.finish()
        #expect(exchange.connection.findings.isEmpty)
        #expect(exchange.connection.transactions.first?.response?.complete == true)
    }

    @Test func unknownRequestIDAndTypeAreUnexpected() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("\r\n", id: 2) + Wire.record(10, id: 0, [1, 2]) + Wire.stdout("\r\n") + Wire.end())
        #expect(exchange.connection.findings.map(\.code) == [.fcgiRecordUnexpected, .fcgiRecordUnexpected])
        #expect(exchange.connection.findings.map(\.value) == ["request id 2", "10"])
        #expect(exchange.connection.findings.map { $0.evidence.first?.streamOffset } == [2, 10 + 1])
    }

    @Test func badVersionStopsReading() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.record(6, Array("Content-type: text/html\r\n\r\n".utf8), version: 0) + Wire.end())
        exchange.connection.finish()
        #expect(exchange.connection.findings.map(\.code) == [.fcgiRecordBadVersion])
        #expect(exchange.connection.findings.first?.value == "0")
        #expect(exchange.connection.responseEnd.state == .opaque)
    }

    @Test func recordCutByTheApplicationsCloseIsTruncated() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let record = Wire.stdout("Content-type: text/html\r\n\r\n")
        exchange.server(Array(record.prefix(20)))
        exchange.connection.close(byPeer: true)
        let finding = try #require(exchange.connection.findings.first)
        #expect(finding.code == .fcgiRecordTruncated)
        #expect(finding.value == "20 \(record.count)")
        #expect(finding.evidence.first?.streamOffset == 0)
        #expect(exchange.connection.responseEnd.state == .midHead(bytes: 12))
    }

    @Test func closeAfterTheHeadLeavesTheBodyCutNotATruncatedRecord() {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Wire.stdout("Content-type: text/html\r\n\r\nabc") + Array(Wire.stdout("more body").prefix(11)))
        exchange.connection.close(byPeer: true)
        #expect(exchange.connection.findings.isEmpty)
        #expect(exchange.connection.responseEnd.state == .midBody(framing: .fastCGI, received: 6, expected: nil))
    }

    @Test func gatewayCloseLeavesNoTruncatedRecord() {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Array(Wire.stdout("Content-type: text/html\r\n\r\n").prefix(20)))
        exchange.connection.close(byPeer: false)
        #expect(exchange.connection.findings.isEmpty)
    }

    /// With fastcgi_keep_conn nginx reads to FCGI_END_REQUEST: a close after the end of
    /// FCGI_STDOUT still cuts the response (the scripted no-end-request-keep-conn capture).
    @Test func withKeepConnTheEndOfStdoutDoesNotCompleteTheResponse() {
        var exchange = Exchange()
        exchange.client(Wire.request(keepConnection: true))
        exchange.server(Wire.stdout("Content-type: text/html\r\n\r\nhello") + Wire.record(6))
        exchange.connection.close(byPeer: true)
        #expect(exchange.connection.responseEnd.state == .midBody(framing: .fastCGI, received: 5, expected: nil))
    }

    /// nginx's fastcgi_keep_conn: one request after another, id 1 each time.
    @Test func severalRequestsOnOneConnection() {
        var exchange = Exchange()
        for index in 0..<3 {
            exchange.client(Wire.request("GET", "/page\(index).php", keepConnection: true))
            exchange.server(Wire.stdout("Status: \(200 + index)\r\n\r\n") + Wire.end())
        }
        exchange.connection.finish()
        #expect(exchange.connection.transactions.map { $0.request?.target } == ["/page0.php", "/page1.php", "/page2.php"])
        #expect(exchange.connection.transactions.map { $0.response?.status } == [200, 201, 202])
        #expect(exchange.connection.responseEnd.responsesCompleted == 3)
    }

    @Test func unansweredRequestIsOutstandingAtTheEnd() {
        var exchange = Exchange()
        exchange.client(Wire.request("GET", "/slow.php"))
        let end = exchange.connection.responseEnd
        #expect(end.state == .idle)
        #expect(end.outstanding?.target == "/slow.php")
        exchange.connection.finish()
        #expect(exchange.connection.transactions.count == 1)
        #expect(exchange.connection.transactions.first?.response == nil)
    }

    @Test func gapInsideABodyRecordIsCarriedOver() {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let head = Wire.stdout("Content-type: text/html\r\n\r\n")
        let body = Wire.stdout(String(repeating: "b", count: 100))
        exchange.server(head + Array(body.prefix(20)))
        exchange.serverGap(50)
        exchange.server(Array(body.dropFirst(70)) + Wire.stdout("Status: 999\r\n") + Wire.end())
        exchange.connection.finish()
        #expect(exchange.connection.uncheckedGaps.isEmpty)
        #expect(exchange.connection.transactions.first?.response?.complete == true)
        #expect(exchange.connection.findings.isEmpty)
    }

    @Test func gapOverARecordHeaderStopsTheApplicationsSide() {
        var exchange = Exchange()
        exchange.client(Wire.request())
        exchange.server(Array(Wire.stdout("Content-type: text/html\r\n\r\n").prefix(4)))
        exchange.serverGap(30)
        exchange.server(Wire.end())
        #expect(exchange.connection.uncheckedGaps.map(\.streamOffset) == [4])
        #expect(exchange.connection.responseEnd.state == .desynced)
    }

    @Test func headPastNginxBufferIsTooLarge() throws {
        var exchange = Exchange()
        exchange.client(Wire.request())
        let field = "X-Big: " + String(repeating: "a", count: 5000) + "\r\n"
        exchange.server(Wire.stdout(field) + Wire.stdout("\r\n") + Wire.end())
        let finding = try #require(exchange.connection.findings.first)
        #expect(finding.code == .headerTooLarge)
        // nginx's 4096-byte buffer holds the record's 8-byte header too.
        #expect(finding.evidence.first?.contentOffset == 4088)
        #expect(finding.evidence.first?.streamOffset == 4096)
        #expect(finding.value == "\(field.utf8.count + 2) \(field.utf8.count + 2) \(field.utf8.count - 2)")
    }

    /// The split invariant: the same bytes cut anywhere give the same findings and transactions.
    @Test func splitAnywhereGivesTheSameResult() {
        let client = Wire.request("GET", "/a.php", extra: [("HTTP_X_REQUEST_ID", "r1")]) + Wire.request("POST", "/b.php")
        let server = Wire.stderr("PHP message: PHP Fatal error:  boom") + Wire.stdout("Status: 500 Oops\r\nX-A: 1\r\n", padding: 3)
            + Wire.stdout("Bad Name: 2\r\n\r\nbody") + Wire.end()
            + Wire.stdout("Status: abc\r\n\r\n") + Wire.end(protocolStatus: 2)
        func run(_ clientCuts: [Int], _ serverCuts: [Int]) -> [String] {
            var exchange = Exchange()
            // Request 1, its answer, request 2, its answer: the second request is sent after the first answer.
            let firstRequest = Wire.request("GET", "/a.php", extra: [("HTTP_X_REQUEST_ID", "r1")]).count
            let firstAnswer = server.count - Wire.stdout("Status: abc\r\n\r\n").count - Wire.end(protocolStatus: 2).count
            exchange.client(Array(client.prefix(firstRequest)), cuts: clientCuts.filter { $0 < firstRequest })
            exchange.server(Array(server.prefix(firstAnswer)), cuts: serverCuts.filter { $0 < firstAnswer })
            exchange.client(Array(client.dropFirst(firstRequest)), cuts: clientCuts.filter { $0 > firstRequest }.map { $0 - firstRequest })
            exchange.server(Array(server.dropFirst(firstAnswer)), cuts: serverCuts.filter { $0 > firstAnswer }.map { $0 - firstAnswer })
            exchange.connection.finish()
            return exchange.summary
        }
        let whole = run([], [])
        #expect(whole.contains { $0.hasPrefix("fcgi.stderr.fatal@21+13") })
        #expect(whole.contains { $0.hasPrefix("http.header.name_ctl_or_space") })
        #expect(whole.contains { $0.hasPrefix("fcgi.status.invalid") })
        #expect(whole.contains { $0.hasPrefix("fcgi.end_request.overloaded") })
        #expect(whole.contains("POST /b.php -> - complete=true"))
        #expect(run(Array(0..<client.count), Array(0..<server.count)) == whole)
        var random = SplitMix(seed: 17)
        for _ in 0..<200 {
            let clientCuts = (0..<4).map { _ in Int(random.next() % UInt64(client.count)) }
            let serverCuts = (0..<6).map { _ in Int(random.next() % UInt64(server.count)) }
            #expect(run(clientCuts, serverCuts) == whole)
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
