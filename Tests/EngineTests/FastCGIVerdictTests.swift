import CaptureModel
import Diagnosis
@testable import Engine
import PacketDecoding
import Testing
import TestSupport

/// FastCGI through the engine: the probe picks the analyzer from the gateway's first byte, and
/// the verdicts the gateway models give (frames 1-3 are the handshake, 4 the request).

extension Conversation {
    mutating func request(bytes: [UInt8], after milliseconds: Int64 = 1) {
        self.h.sendBytes(fromGateway: true, seq: self.clientNext, ack: self.serverNext, bytes, at: self.tick(milliseconds))
        self.clientNext &+= UInt32(bytes.count)
    }

    mutating func response(bytes: [UInt8], after milliseconds: Int64 = 1) {
        self.h.sendBytes(fromGateway: false, seq: self.serverNext, ack: self.clientNext, bytes, at: self.tick(milliseconds))
        self.serverNext &+= UInt32(bytes.count)
    }
}

private typealias Wire = FastCGIWire
private let fatal = "PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function missing() in /var/www/html/fatal.php:2"

@Test func firstByteOnePicksTheFastCGIAnalyzer() {
    var analysis = ConnectionAnalysis(canStartTLS: true)
    let request = Wire.request()
    _ = request.withUnsafeBytes { raw in
        analysis.feed(UnsafeRawBufferPointer(rebasing: raw[0..<1]), direction: .client, at: 0, frame: 1, frameOffset: 66, time: .zero)
    }
    #expect(analysis.probe.gateway == .fastCGI)
    #expect(analysis.route == .fastCGI)
    #expect(ApplicationProtocol.fastCGI.isAnalysed)
}

@Test func healthyFastCGIIsNoneAndShowsTheParamsRequest() throws {
    var c = Conversation()
    c.request(bytes: Wire.request("GET", "/index.php?page=2", extra: [("HTTP_X_REQUEST_ID", "abc-1")]))
    c.response(bytes: Wire.stdout("Content-type: text/html; charset=UTF-8\r\n\r\n<h1>ok</h1>") + Wire.end())
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .none)
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.verdict.stderr == nil)
    let transaction = try #require(report.transactions.first)
    #expect(transaction.request?.method == "GET")
    #expect(transaction.request?.target == "/index.php?page=2")
    #expect(transaction.request?.requestID == "abc-1")
    #expect(transaction.request?.frame == 4)
    #expect(transaction.response?.status == 200)
    #expect(transaction.response?.frame == 5)
}

/// nginx 1.22 with php8.2-fpm: an uncaught error logs "FastCGI sent in stderr" and the client gets 500.
@Test func fatalErrorInStderrIsClass500WithTheTextOnTheVerdict() throws {
    var c = Conversation()
    c.request(bytes: Wire.request("GET", "/fatal.php"))
    c.response(bytes: Wire.stderr(fatal) + Wire.stdout("Status: 500 Internal Server Error\r\nContent-type: text/html; charset=UTF-8\r\n\r\n") + Wire.end())
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .fcgiStderrFatal)
    #expect(report.verdict.verdictClass == .internalError)
    #expect(report.verdict.stderr == fatal)
    #expect(report.verdict.gateways["nginx"]?.status == 500)
    #expect(report.verdict.gateways["nginx"]?.detail.hasPrefix("FastCGI sent in stderr: \"PHP message: PHP Fatal error:") == true)
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.streamOffset == 8 + 13 && evidence.contentOffset == 13 && evidence.frame == 5 && evidence.frameOffset == 54 + 8 + 13)
}

/// nginx logs "FastCGI sent in stderr" and the client gets the 200: class ok, the text on the verdict.
@Test func warningInStderrWithA200IsClassOKWithTheText() throws {
    var c = Conversation()
    c.request(bytes: Wire.request())
    c.response(bytes: Wire.stderr("PHP message: PHP Warning:  Undefined variable $a") + Wire.stdout("Content-type: text/html\r\n\r\nok") + Wire.end())
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .fcgiStderrWarning)
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.verdict.stderr == "PHP message: PHP Warning:  Undefined variable $a")
    #expect(report.verdict.gateways["nginx"]?.detail == "FastCGI sent in stderr: \"…\" while reading response header from upstream")
    #expect(report.findings.map(\.code) == [.fcgiStderrWarning])
}

/// nginx 1.22: `header("Content Type: text/plain")` gives "upstream sent invalid header" and 502.
@Test func invalidHeaderInsideStdoutIsA502AtItsStreamAndContentOffset() throws {
    var c = Conversation()
    c.request(bytes: Wire.request())
    c.response(bytes: Wire.stdout("X-Powered-By: PHP/8.2.7\r\nContent Type: text/plain\r\n\r\nhi") + Wire.end())
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .headerNameCTLOrSpace)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.gateways["nginx"]?.status == 502)
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.contentOffset == 25 + 7)
    #expect(evidence.streamOffset == 8 + 25 + 7)
    #expect(evidence.frame == 5)
    #expect(evidence.frameOffset == 54 + 8 + 25 + 7)
}

@Test func applicationsOwn503IsRelayed() throws {
    var c = Conversation()
    c.request(bytes: Wire.request())
    c.response(bytes: Wire.stdout("Status: 503 Service Unavailable\r\n\r\n") + Wire.end())
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .upstream5xx)
    #expect(report.verdict.verdictClass == .relayed)
}

/// nginx: "upstream sent unsupported FastCGI protocol version: 72" when an HTTP server answers.
@Test func httpServerAnsweringIsTheProbesMismatchAlone() throws {
    var c = Conversation()
    c.request(bytes: Wire.request())
    c.response("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .protoHTTPResponseToFCGI)
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.gateways["nginx"]?.detail == "upstream sent unsupported FastCGI protocol version: 72 while reading response header from upstream")
    #expect(!report.findings.contains { $0.code == .fcgiRecordBadVersion })
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.streamOffset == 0 && evidence.frame == 5)
}

@Test func badVersionIsA502ForNginxAnd503ForApache() throws {
    for (gateway, verdictClass) in [("nginx", VerdictClass.badGateway), ("apache", .serviceUnavailable)] {
        var c = Conversation(gateway: gateway)
        c.request(bytes: Wire.request())
        c.response(bytes: Wire.record(6, Array("Status: 200\r\n\r\n".utf8), version: 2))
        c.serverCloses()
        let report = try c.verdict()
        #expect(report.verdict.code == .fcgiRecordBadVersion)
        #expect(report.verdict.verdictClass == verdictClass)
    }
}

/// Apache's mod_proxy_fcgi does not read protocolStatus: an OVERLOADED END_REQUEST is a 200 with
/// no body; Caddy reads it as an EOF (502, captures/fastcgi/caddy-overloaded.pcap).
@Test func overloadedIsA502ForNginxAndCaddyButA200ForApache() throws {
    for (gateway, verdictClass) in [("nginx", VerdictClass.badGateway), ("apache", .ok), ("caddy", .badGateway)] {
        var c = Conversation(gateway: gateway)
        c.request(bytes: Wire.request())
        c.response(bytes: Wire.end(protocolStatus: 2, closeStdout: false))
        c.serverCloses()
        let report = try c.verdict()
        #expect(report.verdict.code == .fcgiEndRequestOverloaded)
        #expect(report.verdict.verdictClass == verdictClass)
        #expect(report.findings.first?.evidence.first?.streamOffset == 12)
    }
}

@Test func workerKilledBeforeAnyOutputIsARSTBeforeResponse() throws {
    var c = Conversation()
    c.request(bytes: Wire.request())
    c.serverCloses(rst: true)
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpRSTBeforeResponse)
    #expect(report.verdict.verdictClass == .badGateway)
}

@Test func recordCutByTheWorkersFINIsTruncated() throws {
    var c = Conversation(gateway: "apache")
    c.request(bytes: Wire.request())
    c.response(bytes: Array(Wire.stdout("Content-type: text/html\r\n\r\n").prefix(13)))
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .fcgiRecordTruncated)
    #expect(report.verdict.verdictClass == .serviceUnavailable)
    // Cut in its content (13 of 59 bytes): "(reading response body)"; a cut record header is AH01067.
    #expect(report.verdict.gateways["apache"]?.detail == "AH01075: Error dispatching request to …: (reading response body)")
}

@Test func sleepPastTheReadTimeoutWithNoLateAnswerIsAReadTimeout() throws {
    var c = Conversation()
    c.request(bytes: Wire.request("GET", "/sleep.php"))
    c.gatewayCloses(after: 2_000)
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpReadTimeout)
    #expect(report.verdict.verdictClass == .gatewayTimeout)
}

/// pm.max_children reached: the request waits in php-fpm's queue; nginx gives up after its read
/// timeout; the answer comes after nginx closed.
@Test func answerAfterTheGatewayGaveUpIsPoolExhausted() throws {
    var c = Conversation()
    c.request(bytes: Wire.request("GET", "/busy.php"))
    c.gatewayCloses(after: 2_000)
    c.response(bytes: Wire.stdout("Content-type: text/html\r\n\r\nlate") + Wire.end(), after: 3_000)
    let report = try c.verdict()
    #expect(report.verdict.code == .fcgiPoolExhausted)
    #expect(report.verdict.verdictClass == .gatewayTimeout)
    #expect(report.verdict.gateways["nginx"]?.detail == "upstream timed out (110: Connection timed out) while reading response header from upstream")
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.direction == .client && evidence.frame == 5)
}

/// The client's 502 is the gateway's own, linked to the FastCGI connection behind it.
@Test func clientErrorLinksToTheFastCGIConnectionBehindIt() throws {
    var h = HopHarness()
    var client = TestConnection(client: Hosts.loopback(50001), server: Hosts.gateway)
    var upstream = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    h.open(&client, at: 0)
    h.send(&client, fromClient: true, "GET /broken.php HTTP/1.1\r\nHost: gw.example\r\n\r\n", at: 3)
    h.open(&upstream, at: 4)
    let request = Wire.request("GET", "/broken.php", host: "gw.example")
    let answer = Wire.stdout("Content Type: text/plain\r\n\r\nx") + Wire.end()
    h.send(&upstream, fromClient: true, String(decoding: request, as: UTF8.self), at: 7)
    h.send(&upstream, fromClient: false, String(decoding: answer, as: UTF8.self), at: 8)
    h.send(&client, fromClient: false, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", at: 9)
    h.close(&client, at: 10)
    h.close(&upstream, at: 12)
    let result = h.engine.finish()
    let fastCGI = try #require(result.connections.first { $0.server == Hosts.upstream })
    #expect(fastCGI.verdict.code == .headerNameCTLOrSpace)
    let error = try #require(result.clientHop?.errors.first)
    #expect(error.status == 502)
    #expect(error.generatedBy == .gateway)
    #expect(error.cause == .headerNameCTLOrSpace)
    #expect(error.upstreamConnection == fastCGI.id)
    #expect(error.matchedBy.contains("target"))
}
