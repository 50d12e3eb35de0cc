import CaptureModel
import Diagnosis
import Foundation
@testable import Engine
import PacketDecoding
import Reporting
import Testing
import TestSupport

/// One TCP connection of a test capture, with both sides' next sequence numbers.
struct TestConnection {
    let client: Endpoint
    let server: Endpoint
    var clientSeq: UInt32 = 1000
    var serverSeq: UInt32 = 5000
}

/// Feeds frames of both hops, built in the test, to an engine. Times are milliseconds.
struct HopHarness {
    var engine: Engine
    var number: FrameNumber = 0

    init(options: AnalysisOptions = AnalysisOptions()) {
        self.engine = Engine(linkType: .ethernet, options: options)
    }

    mutating func packet(_ connection: inout TestConnection, fromClient: Bool, flags: TCPFlags, _ payload: String = "", at ms: Int64) {
        let bytes = Array(payload.utf8)
        let frame = FrameBuilder.tcp(
            from: fromClient ? connection.client : connection.server, to: fromClient ? connection.server : connection.client,
            seq: fromClient ? connection.clientSeq : connection.serverSeq, ack: fromClient ? connection.serverSeq : connection.clientSeq,
            flags: flags, payload: bytes)
        let consumed = UInt32(bytes.count) + (flags.contains(.syn) || flags.contains(.fin) ? 1 : 0)
        if fromClient { connection.clientSeq &+= consumed } else { connection.serverSeq &+= consumed }
        self.number += 1
        withFrame(frame, number: self.number, timestamp: Timestamp(nanoseconds: 1_776_075_462_000_000_000 + ms * 1_000_000)) {
            self.engine.process($0)
        }
    }

    /// SYN, SYN-ACK, ACK at `ms`, `ms + 1`, `ms + 2`.
    mutating func open(_ connection: inout TestConnection, at ms: Int64) {
        self.packet(&connection, fromClient: true, flags: .syn, at: ms)
        self.packet(&connection, fromClient: false, flags: [.syn, .ack], at: ms + 1)
        self.packet(&connection, fromClient: true, flags: .ack, at: ms + 2)
    }

    mutating func send(_ connection: inout TestConnection, fromClient: Bool, _ text: String, at ms: Int64) {
        self.packet(&connection, fromClient: fromClient, flags: [.psh, .ack], text, at: ms)
    }

    /// FIN from one side, then from the other.
    mutating func close(_ connection: inout TestConnection, clientFirst: Bool = true, at ms: Int64) {
        self.packet(&connection, fromClient: clientFirst, flags: [.fin, .ack], at: ms)
        self.packet(&connection, fromClient: !clientFirst, flags: [.fin, .ack], at: ms + 1)
    }

    mutating func reset(_ connection: inout TestConnection, fromClient: Bool, at ms: Int64) {
        self.packet(&connection, fromClient: fromClient, flags: [.rst, .ack], at: ms)
    }
}

/// Everything on loopback, as on a gateway host captured with `-i lo`: addresses cannot tell the hops apart.
enum Hosts {
    static func loopback(_ port: UInt16) -> Endpoint { Endpoint(address: .v4(0x7f00_0001), port: port) }
    static let gateway = loopback(8080)
    static let upstream = loopback(9001)
    static let otherUpstream = loopback(9002)
}

private func get(_ target: String, host: String, id: String? = nil) -> String {
    "GET \(target) HTTP/1.1\r\nHost: \(host)\r\n" + (id.map { "X-Request-Id: \($0)\r\n" } ?? "") + "\r\n"
}

private let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
private let badGateway = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
private let unavailable = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"

/// A client request the gateway passes to one upstream, which answers 200.
private func proxiedOK(_ h: inout HopHarness, target: String = "/x") -> (client: TestConnection, upstream: TestConnection) {
    var client = TestConnection(client: Hosts.loopback(50001), server: Hosts.gateway)
    var upstream = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    h.open(&client, at: 0)
    h.send(&client, fromClient: true, get(target, host: "gw.example"), at: 3)
    h.open(&upstream, at: 4)
    h.send(&upstream, fromClient: true, get(target, host: "backend"), at: 7)
    h.send(&upstream, fromClient: false, ok, at: 8)
    h.send(&client, fromClient: false, ok, at: 9)
    return (client, upstream)
}

@Test func gatewayIsInferredFromARequestItPassedOn() throws {
    var h = HopHarness()
    var (client, upstream) = proxiedOK(&h)
    h.close(&client, at: 10)
    h.close(&upstream, at: 12)
    let result = h.engine.finish()
    #expect(result.connections.map(\.server) == [Hosts.upstream])
    #expect(result.tally.connections == 1)
    #expect(result.tally.servers.keys.sorted { $0.port < $1.port } == [Hosts.upstream])
    let hop = try #require(result.clientHop)
    #expect(hop.listeners.map(\.endpoint) == [Hosts.gateway])
    #expect(hop.listeners.first?.given == false)
    #expect(hop.connections == 1)
    #expect(hop.requests == 1)
    #expect(hop.errors.isEmpty)
    #expect(result.warnings.isEmpty)
}

@Test func connectionsJudgedBeforeTheListenerWasKnownLeaveTheTallyAndTheList() throws {
    for retention in [ReportRetention.all, .bounded(1)] {
        var options = AnalysisOptions()
        options.retention = retention
        var h = HopHarness(options: options)
        var (client, upstream) = proxiedOK(&h)
        h.close(&client, at: 10)
        // The client connection is judged (after it lingered closed) while one passed-on request
        // is not yet enough to call its server a listener; the end of the capture decides.
        h.send(&upstream, fromClient: true, get("/y", host: "backend"), at: 7_000)
        h.send(&upstream, fromClient: false, ok, at: 7_001)
        let result = h.engine.finish()
        #expect(result.clientHop?.listeners.map(\.endpoint) == [Hosts.gateway])
        #expect(result.clientHop?.connections == 1)
        #expect(result.tally.connections == 1)
        #expect(result.tally.servers[Hosts.gateway] == nil)
        #expect(result.tally.classes[.ok] == 1)
        #expect(result.connections.allSatisfy { $0.server == Hosts.upstream })
        #expect(result.connections.count + result.unlistedConnections == 1)
    }
}

@Test func requestIDPicksTheUpstreamConnectionThatCarriedTheRequest() throws {
    // Two clients ask for the same target at once; both upstream connections are reset. By
    // method and target alone each error could be either; X-Request-Id tells them apart.
    var h = HopHarness()
    var first = TestConnection(client: Hosts.loopback(50001), server: Hosts.gateway)
    var second = TestConnection(client: Hosts.loopback(50002), server: Hosts.gateway)
    var upstreamA = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    var upstreamB = TestConnection(client: Hosts.loopback(40002), server: Hosts.otherUpstream)
    h.open(&first, at: 0)
    h.open(&second, at: 3)
    h.send(&first, fromClient: true, get("/api", host: "gw", id: "req-a"), at: 10)
    h.send(&second, fromClient: true, get("/api", host: "gw", id: "req-b"), at: 11)
    h.open(&upstreamA, at: 12)
    h.open(&upstreamB, at: 15)
    h.send(&upstreamA, fromClient: true, get("/api", host: "backend", id: "req-a"), at: 20)
    h.send(&upstreamB, fromClient: true, get("/api", host: "backend", id: "req-b"), at: 21)
    h.reset(&upstreamB, fromClient: false, at: 22)
    h.reset(&upstreamA, fromClient: false, at: 23)
    h.send(&second, fromClient: false, badGateway, at: 24)
    h.send(&first, fromClient: false, badGateway, at: 25)
    h.close(&first, clientFirst: false, at: 30)
    h.close(&second, clientFirst: false, at: 32)
    let result = h.engine.finish()

    let ids = Dictionary(uniqueKeysWithValues: result.connections.map { ($0.server, $0.id) })
    let errors = try #require(result.clientHop?.errors)
    #expect(errors.count == 2)
    let a = try #require(errors.first { $0.requestID == "req-a" })
    let b = try #require(errors.first { $0.requestID == "req-b" })
    #expect(a.client == first.client)
    #expect(a.upstreamConnection == ids[Hosts.upstream])
    #expect(b.upstreamConnection == ids[Hosts.otherUpstream])
    for error in [a, b] {
        #expect(error.generatedBy == .gateway)
        #expect(error.cause == .tcpRSTBeforeResponse)
        #expect(error.earlierUpstreamConnections.isEmpty)
        #expect(error.matchedBy.contains("request_id"))
    }
    #expect(result.clientHop?.explained == 2)
}

@Test func relayedUpstream503IsGeneratedByTheUpstream() throws {
    var h = HopHarness()
    var client = TestConnection(client: Hosts.loopback(50001), server: Hosts.gateway)
    var upstream = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    h.open(&client, at: 0)
    h.send(&client, fromClient: true, get("/busy", host: "gw"), at: 3)
    h.open(&upstream, at: 4)
    h.send(&upstream, fromClient: true, get("/busy", host: "backend"), at: 7)
    h.send(&upstream, fromClient: false, unavailable, at: 8)
    h.send(&client, fromClient: false, unavailable, at: 9)
    h.close(&client, at: 10)
    // The upstream connection stays in the gateway's keep-alive pool past the client's.
    let result = h.engine.finish()
    let error = try #require(result.clientHop?.errors.first)
    #expect(error.status == 503)
    #expect(error.generatedBy == .upstream)
    #expect(error.cause == .upstream5xx)
    #expect(error.upstreamConnection == result.connections.first?.id)
    #expect(error.upstreamServer == Hosts.upstream)
    #expect(result.connections.first?.verdict.verdictClass == .relayed)

    let json = JSONReport.document(result, source: SourceInfo(path: "t.pcap", snapLength: 65_535))
    guard case .object(let members) = json, case .array(let entries)? = members.first(where: { $0.0 == "client_errors" })?.1,
          case .object(let entry)? = entries.first
    else {
        Issue.record("no client_errors in the JSON report")
        return
    }
    // docs/json-report.md's fields, in its order, then the added ones.
    #expect(Array(entry.map(\.0).prefix(7)) == ["client", "status", "time", "request", "generated_by", "upstream_connection", "cause"])
    #expect(entry.first { $0.0 == "generated_by" }?.1 == .string("upstream"))
    #expect(entry.first { $0.0 == "upstream_connection" }?.1 == .string("c\(result.connections.first!.id)"))
    #expect(entry.first { $0.0 == "cause" }?.1 == .string("http.upstream_5xx"))
}

@Test func nginxRetryLinksTheLastUpstreamAndListsTheEarlierOne() throws {
    // proxy_next_upstream: the first upstream resets, the gateway tries the next, which closes.
    var h = HopHarness()
    var client = TestConnection(client: Hosts.loopback(50001), server: Hosts.gateway)
    var first = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    var second = TestConnection(client: Hosts.loopback(40002), server: Hosts.otherUpstream)
    h.open(&client, at: 0)
    h.send(&client, fromClient: true, get("/retry", host: "gw"), at: 3)
    h.open(&first, at: 4)
    h.send(&first, fromClient: true, get("/retry", host: "backend"), at: 7)
    h.reset(&first, fromClient: false, at: 8)
    h.open(&second, at: 9)
    h.send(&second, fromClient: true, get("/retry", host: "backend"), at: 12)
    h.close(&second, clientFirst: false, at: 13)
    h.send(&client, fromClient: false, badGateway, at: 15)
    h.close(&client, clientFirst: false, at: 16)
    let result = h.engine.finish()

    let ids = Dictionary(uniqueKeysWithValues: result.connections.map { ($0.server, $0.id) })
    #expect(result.connections.count == 2)
    let error = try #require(result.clientHop?.errors.first)
    #expect(error.upstreamConnection == ids[Hosts.otherUpstream])
    #expect(error.upstreamServer == Hosts.otherUpstream)
    #expect(error.earlierUpstreamConnections == [ids[Hosts.upstream]!])
    #expect(error.cause == .tcpFINBeforeResponse)
    #expect(error.generatedBy == .gateway)
    #expect(error.matchedBy == ["method", "target", "timing"])
}

@Test func aRefusedUpstreamExplainsTheErrorByTiming() throws {
    var h = HopHarness(options: { var o = AnalysisOptions(); o.gatewayAddresses = [GatewayAddress(parsing: "127.0.0.1:8080")!]; return o }())
    var client = TestConnection(client: Hosts.loopback(50001), server: Hosts.gateway)
    var refused = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    h.open(&client, at: 0)
    h.send(&client, fromClient: true, get("/down", host: "gw"), at: 3)
    h.packet(&refused, fromClient: true, flags: .syn, at: 4)
    h.packet(&refused, fromClient: false, flags: [.rst, .ack], at: 5)
    h.send(&client, fromClient: false, badGateway, at: 6)
    h.close(&client, clientFirst: false, at: 7)
    let result = h.engine.finish()
    let error = try #require(result.clientHop?.errors.first)
    #expect(error.upstreamConnection == result.connections.first?.id)
    #expect(error.cause == .tcpConnectRefused)
    #expect(error.matchedBy == ["timing"])
}

@Test func gatewayAddressNamesAListenerThatCannotBeInferred() throws {
    // The gateway answers 502 itself (`return 502;`): no request goes on, nothing to infer from.
    func run(_ listeners: [String]) -> (AnalysisResult, [ConnectionReport]) {
        var options = AnalysisOptions()
        options.gatewayAddresses = listeners.map { GatewayAddress(parsing: $0)! }
        options.queueEnded = true
        var h = HopHarness(options: options)
        var client = TestConnection(client: Endpoint(address: .v4(0x0a00_0009), port: 50001), server: Endpoint(address: .v4(0x0a00_0005), port: 443))
        h.open(&client, at: 0)
        h.send(&client, fromClient: true, get("/maintenance", host: "www"), at: 3)
        h.send(&client, fromClient: false, badGateway, at: 4)
        h.close(&client, clientFirst: false, at: 5)
        let result = h.engine.finish()
        return (result, h.engine.takeEnded())
    }
    let (unnamed, _) = run([])
    #expect(unnamed.clientHop == nil)
    #expect(unnamed.connections.first?.verdict.code == .upstream5xx)

    for listener in ["10.0.0.5:443", "10.0.0.5"] {
        let (result, ended) = run([listener])
        #expect(result.connections.isEmpty)
        #expect(ended.isEmpty)
        #expect(result.tally.connections == 0)
        let hop = try #require(result.clientHop)
        #expect(hop.listeners.map(\.given) == [true])
        #expect(hop.errorCount == 1)
        #expect(hop.unexplained == 1)
        let error = try #require(hop.errors.first)
        #expect(error.upstreamConnection == nil)
        #expect(error.cause == nil)
        #expect(error.generatedBy == .gateway)
        #expect(error.request == "GET /maintenance")
        #expect(error.frame == 5)
    }
}

@Test func withoutTheClientHopNothingChanges() throws {
    // An upstream that answers 502 itself, seen from the gateway's side only.
    var h = HopHarness()
    var upstream = TestConnection(client: Hosts.loopback(40001), server: Hosts.upstream)
    h.open(&upstream, at: 0)
    h.send(&upstream, fromClient: true, get("/x", host: "backend"), at: 3)
    h.send(&upstream, fromClient: false, badGateway, at: 4)
    h.close(&upstream, at: 5)
    let result = h.engine.finish()
    #expect(result.clientHop == nil)
    #expect(result.connections.count == 1)
    #expect(result.tally.connections == 1)
    #expect(result.connections.first?.verdict.code == .upstream5xx)
    let json = JSONReport.document(result, source: SourceInfo(path: "t.pcap", snapLength: 65_535))
    guard case .object(let members) = json else { return }
    #expect(!members.contains { $0.0 == "client_errors" || $0.0 == "client_hop" })
    #expect(!TextSummary.render(result, source: SourceInfo(path: "t.pcap", snapLength: 65_535)).contains("Client hop"))
}

/// Every sample capture of one hop: no listener is inferred, so every connection stays an upstream's.
@Test(arguments: truthFiles().filter { !$0.contains("client-hop") })
func singleHopCapturesHaveNoClientHop(truthFile: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    let result = try analyse(capturePath(truthFile: truthFile, capture: truth.capture), options: try truth.options())
    #expect(result.clientHop == nil, "\(truth.capture): \(result.clientHop?.listeners.map(\.endpoint.description) ?? [])")
}

@Test func correlationStaysBoundedAndKeepsCounting() throws {
    var options = AnalysisOptions()
    options.gatewayAddresses = [GatewayAddress(parsing: "127.0.0.1:8080")!]
    options.clientHop = ClientHopLimits(recentRequests: 8, recentFailures: 2, pendingErrors: 4, listedErrors: 3)
    var h = HopHarness(options: options)
    var largestPending = 0
    for index in 0..<40 {
        // Clients the gateway answers 502 itself, and an upstream that answers 503 on its own.
        var client = TestConnection(client: Hosts.loopback(UInt16(50000 + index)), server: Hosts.gateway)
        var upstream = TestConnection(client: Hosts.loopback(UInt16(40000 + index)), server: Hosts.upstream)
        let t = Int64(index) * 20
        h.open(&client, at: t)
        h.send(&client, fromClient: true, get("/c/\(index)", host: "gw"), at: t + 3)
        h.send(&client, fromClient: false, badGateway, at: t + 4)
        h.close(&client, clientFirst: false, at: t + 5)
        h.open(&upstream, at: t + 7)
        h.send(&upstream, fromClient: true, get("/u/\(index)", host: "backend"), at: t + 10)
        h.send(&upstream, fromClient: false, unavailable, at: t + 11)
        h.close(&upstream, at: t + 12)
        largestPending = max(largestPending, h.engine.hops.pending.count)
    }
    let result = h.engine.finish()
    #expect(largestPending <= 4)
    #expect(h.engine.hops.ring.count == 8)
    let hop = try #require(result.clientHop)
    #expect(hop.errorCount == 40)
    #expect(hop.unexplained == 40)
    #expect(hop.errors.count == 3)
    #expect(hop.errorsNotListed == 37)
    #expect(hop.connections == 40)
    #expect(result.tally.connections == 40)
    #expect(result.warnings.contains { $0.hasPrefix("37 of 40 client error(s) are counted but not listed") })
}

/// Issue 16 item 5: an upstream's own 503s, from a server whose host never passed a request on,
/// are let go once settled past the newest `unlikelyKept`: a long capture of the upstream hop
/// alone holds a bounded number, not every one (memory flat in time). Each is still its
/// connection's verdict.
@Test func upstreamOwn5xxOnAnUpstreamHopAloneStopWaiting() throws {
    var options = AnalysisOptions()
    options.clientHop = ClientHopLimits(pendingErrors: 10_000)
    var h = HopHarness(options: options)
    let gatewayHost = IPAddress.v4(0x0a00_0001)
    let upstream = Endpoint(address: .v4(0x0a00_0102), port: 8000)
    let total = HopCorrelator.unlikelyKept + 100
    var largestPending = 0
    for index in 0..<total {
        var connection = TestConnection(client: Endpoint(address: gatewayHost, port: UInt16(20000 + index)), server: upstream)
        // Ten a second, over 36 s: most are settled (8 s) long before the capture ends.
        let t = Int64(index) * 100
        h.open(&connection, at: t)
        h.send(&connection, fromClient: true, get("/u/\(index)", host: "backend"), at: t + 3)
        h.send(&connection, fromClient: false, unavailable, at: t + 4)
        h.close(&connection, at: t + 5)
        largestPending = max(largestPending, h.engine.hops.pending.count)
    }
    #expect(h.engine.hops.pending.count < total)
    #expect(largestPending <= HopCorrelator.unlikelyKept + 90)  // the kept, and the 8 s + 1 s not yet settled
    let result = h.engine.finish()
    #expect(result.clientHop == nil)
    #expect(result.connections.count(where: { $0.verdict.code == .upstream5xx }) == total)
}

/// Its server's host passed requests on: a 503 waits as before, however many there are.
@Test func a5xxOfAServerWhoseHostPassesRequestsOnKeepsWaiting() throws {
    var h = HopHarness()
    let total = HopCorrelator.unlikelyKept + 40
    for index in 0..<total {
        var connection = TestConnection(client: Hosts.loopback(UInt16(20000 + index)), server: Hosts.upstream)
        let t = Int64(index) * 100
        h.open(&connection, at: t)
        h.send(&connection, fromClient: true, get("/u/\(index)", host: "backend"), at: t + 3)
        h.send(&connection, fromClient: false, unavailable, at: t + 4)
        h.close(&connection, at: t + 5)
    }
    // On loopback every server's host is some request's client.
    #expect(h.engine.hops.pending.count == total)
}

/// Issue 15 item 2: a gateway that resets its client's connection before any response byte,
/// after its upstream reset the request, is a `reset` failure with no status, linked to that
/// upstream connection; a client that gives up (its own FIN) saw no failure of the gateway's.
@Test func aGatewayResetBeforeTheResponseIsAClientFailure() throws {
    var h = HopHarness()
    _ = proxiedOK(&h, target: "/first")  // so the listener is inferred
    var client = TestConnection(client: Hosts.loopback(50002), server: Hosts.gateway)
    var upstream = TestConnection(client: Hosts.loopback(40002), server: Hosts.upstream)
    h.open(&client, at: 100)
    h.send(&client, fromClient: true, get("/reset", host: "gw.example", id: "r-1"), at: 103)
    h.open(&upstream, at: 104)
    h.send(&upstream, fromClient: true, get("/reset", host: "backend", id: "r-1"), at: 107)
    h.reset(&upstream, fromClient: false, at: 110)
    h.reset(&client, fromClient: false, at: 111)
    var gaveUp = TestConnection(client: Hosts.loopback(50003), server: Hosts.gateway)
    h.open(&gaveUp, at: 200)
    h.send(&gaveUp, fromClient: true, get("/slow", host: "gw.example"), at: 203)
    h.close(&gaveUp, clientFirst: true, at: 250)
    let result = h.engine.finish()
    let hop = try #require(result.clientHop)
    let error = try #require(hop.errors.first)
    #expect(hop.errors.count == 1)
    #expect(error.target == "/reset")
    #expect(error.failure == .reset)
    #expect(error.status == nil)
    #expect(error.frame == nil)
    #expect(error.generatedBy == .gateway)
    #expect(error.cause == .tcpRSTBeforeResponse)
    #expect(error.matchedBy.contains("request_id"))
    let json = JSONReport.clientError(error)
    #expect(json["status"].isNull)
    #expect(json["failure"].string == "reset")
}
