import CaptureModel
import Diagnosis
import Engine
import PacketDecoding
import Testing
import TestSupport

/// Feeds frames built in the test to an engine: the TCP verdicts the sample captures do not cover.
struct EngineHarness {
    var engine = Engine(linkType: .ethernet)
    var number: FrameNumber = 0
    let gateway = Endpoint(address: .v4(0x0a00_0005), port: 40001)
    let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)

    mutating func send(
        fromGateway: Bool, seq: UInt32, ack: UInt32 = 0, flags: TCPFlags, _ payload: String = "",
        at milliseconds: Int64, capturedLength: Int? = nil
    ) {
        let bytes = FrameBuilder.tcp(
            from: fromGateway ? self.gateway : self.upstream, to: fromGateway ? self.upstream : self.gateway,
            seq: seq, ack: ack, flags: flags, payload: Array(payload.utf8))
        self.raw(bytes, at: milliseconds, capturedLength: capturedLength)
    }

    mutating func raw(_ bytes: [UInt8], at milliseconds: Int64, capturedLength: Int? = nil) {
        self.number += 1
        let timestamp = Timestamp(nanoseconds: 1_776_075_462_000_000_000 + milliseconds * 1_000_000)
        withFrame(bytes, number: self.number, timestamp: timestamp, capturedLength: capturedLength) { self.engine.process($0) }
    }

    mutating func handshake(at start: Int64 = 0) {
        self.send(fromGateway: true, seq: 100, flags: .syn, at: start)
        self.send(fromGateway: false, seq: 900, ack: 101, flags: [.syn, .ack], at: start + 1)
        self.send(fromGateway: true, seq: 101, ack: 901, flags: .ack, at: start + 2)
    }
}

private let request = "GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n"

@Test func unansweredSYNsAreAConnectTimeout() throws {
    var h = EngineHarness()
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 0)
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 1000)
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 3000)
    let connection = try #require(h.engine.finish().connections.first)
    #expect(connection.verdict.code == .tcpConnectTimeout)
    #expect(connection.verdict.verdictClass == .gatewayTimeout)
    #expect(connection.verdict.gateways["nginx"]?.status == 504)
    #expect(connection.findings.first?.evidence.first?.frame == 1)
}

@Test func aSingleSYNAtTheEndOfTheCaptureIsUnknown() throws {
    var h = EngineHarness()
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 0)
    let connection = try #require(h.engine.finish().connections.first)
    #expect(connection.verdict.verdictClass == .unknown)
    #expect(connection.verdict.code == .captureTruncated)
}

/// Issue 15 item 9: one SYN, then silence on that connection while the capture goes on past the
/// kernel's first retransmission (1 s): the gateway's connect timeout ended the attempt.
/// One unanswered SYN (frame 1), then another connection's SYN `later` milliseconds on: the
/// capture went on. Returns the first connection.
private func singleSYN(thenOtherTrafficAt later: Int64) throws -> ConnectionReport {
    var h = EngineHarness()
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 0)
    let other = FrameBuilder.tcp(from: Endpoint(address: .v4(0x0a00_0005), port: 40002), to: Endpoint(address: .v4(0x0a00_0319), port: 8080),
                                 seq: 5000, flags: .syn)
    h.raw(other, at: later)
    return try #require(h.engine.finish().connections.first { $0.facts.first.frame == 1 })
}

@Test func aSingleSYNFollowedBySilenceWhileTheCaptureGoesOnIsAConnectTimeout() throws {
    let connection = try singleSYN(thenOtherTrafficAt: 2000)
    #expect(connection.verdict.code == .tcpConnectTimeout)
    #expect(connection.verdict.verdictClass == .gatewayTimeout)
    #expect(connection.verdict.phase == .connect)
    let evidence = try #require(connection.findings.first?.evidence.first)
    #expect(evidence.frame == 1)
    #expect(evidence.direction == .client)
    #expect(evidence.note == "unanswered SYN; then 2 s without a retransmission")
    #expect(connection.verdict.summary.contains("the kernel would have sent one after 1 s"))
}

/// Before the retransmission was due (plus slack), the capture cannot tell a slow connect from an
/// abandoned one.
@Test func aSingleSYNBeforeTheRetransmissionWasDueIsStillUnknown() throws {
    let connection = try singleSYN(thenOtherTrafficAt: 1200)
    #expect(connection.verdict.code == .captureTruncated)
    #expect(connection.verdict.verdictClass == .unknown)
}

/// No TCP port answers a SYN with an ICMP port unreachable (a closed one sends a RST): it is a
/// firewall's REJECT (issue 20), though the gateway logs "Connection refused" as for a closed port.
@Test func icmpPortUnreachableAnsweringTheSYNIsAFirewallsReject() throws {
    var h = EngineHarness()
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 0)
    let syn = FrameBuilder.tcpPacket(from: h.gateway, to: h.upstream, seq: 100, flags: .syn)
    h.raw(FrameBuilder.icmpUnreachable(from: h.upstream.address, to: h.gateway.address, code: 3, quoting: syn), at: 1)
    let connection = try #require(h.engine.finish().connections.first)
    #expect(connection.verdict.code == .tcpConnectProhibited)
    #expect(connection.findings.first?.value == "111: Connection refused")
    #expect(connection.findings.first?.evidence.first?.frame == 2)
}

@Test func upstreamFINAfterTheRequestIsFINBeforeResponse() throws {
    var h = EngineHarness()
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3)
    h.send(fromGateway: false, seq: 901, ack: 101 + UInt32(request.utf8.count), flags: [.fin, .ack], at: 4)
    let connection = try #require(h.engine.finish().connections.first)
    #expect(connection.verdict.code == .tcpFINBeforeResponse)
    #expect(connection.verdict.phase == .responseHead)
    #expect(connection.findings.first?.evidence.first?.frame == 5)
}

@Test func gatewayClosingAfterLongSilenceIsAReadTimeout() throws {
    var h = EngineHarness()
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3)
    h.send(fromGateway: false, seq: 901, ack: 101 + UInt32(request.utf8.count), flags: .ack, at: 4)
    h.send(fromGateway: true, seq: 101 + UInt32(request.utf8.count), ack: 901, flags: [.fin, .ack], at: 60_003)
    let connection = try #require(h.engine.finish().connections.first)
    #expect(connection.verdict.code == .tcpReadTimeout)
    #expect(connection.verdict.verdictClass == .gatewayTimeout)
    #expect(connection.findings.first?.evidence.first?.frame == 6)
    #expect(connection.findings.first?.evidence.first?.streamOffset == UInt64(request.utf8.count))
}

@Test func missingResponseBytesAreUnknownNotAnInventedFailure() throws {
    var h = EngineHarness()
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3)
    // The response (say 50 bytes) is not in the capture; the gateway's ACK and the FINs are.
    let requestEnd = 101 + UInt32(request.utf8.count)
    h.send(fromGateway: true, seq: requestEnd, ack: 951, flags: .ack, at: 5)
    h.send(fromGateway: false, seq: 951, ack: requestEnd, flags: [.fin, .ack], at: 6)
    let connection = try #require(h.engine.finish().connections.first)
    #expect(connection.verdict.code == .captureGap)
    #expect(connection.verdict.verdictClass == .unknown)
    let gap = try #require(connection.findings.first { $0.code == .captureGap })
    #expect(gap.evidence.first?.direction == .server)
    #expect(gap.evidence.first?.streamOffset == 0)
    #expect(gap.evidence.first?.length == 50)
}

@Test func snapLengthCutPayloadIsCaptureTruncatedNotMalformed() throws {
    var h = EngineHarness()
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3)
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    // Cut 10 bytes into the payload (54 header bytes + 10).
    h.send(fromGateway: false, seq: 901, ack: 101 + UInt32(request.utf8.count), flags: [.psh, .ack], response,
           at: 4, capturedLength: 64)
    let result = h.engine.finish()
    let connection = try #require(result.connections.first)
    let truncated = try #require(connection.findings.first { $0.code == .captureTruncated })
    #expect(truncated.evidence.first?.frame == 5)
    #expect(truncated.evidence.first?.streamOffset == 10)
    #expect(truncated.evidence.first?.length == UInt64(response.utf8.count - 10))
    #expect(result.statistics.truncatedFrames == 0)
    #expect(result.statistics.malformedFrames == 0)
}

@Test func frameCutInsideItsHeadersIsCountedAndWarned() {
    var h = EngineHarness()
    h.handshake()
    h.send(fromGateway: true, seq: 101, ack: 901, flags: [.psh, .ack], request, at: 3, capturedLength: 40)
    let result = h.engine.finish()
    #expect(result.statistics.truncatedFrames == 1)
    #expect(result.statistics.firstTruncatedFrame == 4)
    #expect(result.warnings.contains { $0.contains("first: frame 4") })
}

@Test func haproxyProfileDecidesTheClass() throws {
    var h = EngineHarness()
    h.engine = Engine(linkType: .ethernet, options: AnalysisOptions(gateway: try #require(GatewayProfile(parsing: "haproxy:2.6"))))
    h.send(fromGateway: true, seq: 100, flags: .syn, at: 0)
    h.send(fromGateway: false, seq: 0, ack: 101, flags: [.rst, .ack], at: 1)
    let result = h.engine.finish()
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .tcpConnectRefused)
    #expect(connection.verdict.verdictClass == .serviceUnavailable)
    #expect(result.gateway.description == "haproxy:2.6")
}
