import CaptureModel
import Diagnosis
import Engine
import HTTP1
import Testing
import TestSupport

/// HTTP/2 connections through the whole engine: the probe picks the HTTP/2 analyzer from the
/// preface, its findings become verdicts with each gateway's reaction, streams become transactions.

private func h2Frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
    let n = payload.count
    return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
            UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
}

private func literal(_ name: String, _ value: String) -> [UInt8] {
    [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
}

/// nginx grpc_pass's preface, SETTINGS (table 0, no push, window 2^31-1) and WINDOW_UPDATE, then
/// a request on stream 1.
private let gatewayOpening: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    + h2Frame(4, stream: 0, [0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff])
    + h2Frame(8, stream: 0, [0x7f, 0xff, 0, 0])
    + h2Frame(1, flags: 0x5, stream: 1,
        literal(":method", "POST") + literal(":scheme", "http") + literal(":path", "/pkg.Svc/Call") + literal(":authority", "api.test"))
private let upstreamSettings = h2Frame(4, stream: 0) + h2Frame(4, flags: 1, stream: 0)

@Test func rstStreamBeforeResponseIsNginxs502AndHAProxysRefusedStream() throws {
    var c = Conversation()
    c.clientBytes(gatewayOpening)
    c.serverBytes(upstreamSettings)
    c.serverBytes(h2Frame(3, stream: 1, [0, 0, 0, 7]))
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "h2.rst_stream.before_response")
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.gateways["nginx"]?.status == 502)
    #expect(report.verdict.gateways["nginx"]?.detail == "upstream rejected request with error 7 while reading response header from upstream")
    #expect(report.verdict.gateways["haproxy"]?.status == nil)
    #expect(report.verdict.gateways["envoy"]?.detail == "UR")
    let evidence = try #require(report.findings.first?.evidence.first)
    #expect(evidence.streamID == 1 && evidence.streamOffset == 18 && evidence.frame == 6)
    #expect(report.transactions.first?.streamID == 1)
    #expect(report.transactions.first?.request?.target == "/pkg.Svc/Call")
    #expect(report.verdict.summary.contains("RST_STREAM frame with error REFUSED_STREAM (7) on stream 1"), "\(report.verdict.summary)")
}

@Test func anHTTP1AnswerToThePrefaceIsNginxsTooLargeFrame() throws {
    var c = Conversation()
    c.clientBytes(gatewayOpening)
    c.response("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .protoH1ResponseToH2)
    #expect(report.verdict.gateways["nginx"]?.detail == "upstream sent too large http2 frame: 4740180 while reading response header from upstream")
    #expect(report.verdict.gateways["haproxy"]?.status == 503)
    // The analyzer did not read "HTT" as a frame length: one finding.
    #expect(report.findings.filter { $0.code == .h2FrameTooLarge }.isEmpty)
    #expect(report.findings.first?.evidence.first?.streamOffset == 0)
}

@Test func healthyGRPCCallIsOK() throws {
    var c = Conversation()
    c.clientBytes(gatewayOpening)
    c.serverBytes(upstreamSettings)
    c.serverBytes(h2Frame(1, flags: 4, stream: 1, [0x88] + literal("content-type", "application/grpc"))
        + h2Frame(0, stream: 1, [0, 0, 0, 0, 1, 0x08])
        + h2Frame(1, flags: 5, stream: 1, literal("grpc-status", "0")))
    c.gatewayCloses(after: 5)
    let report = try c.verdict()
    #expect(report.verdict.code == .none, "\(report.verdict)")
    #expect(report.verdict.verdictClass == .ok)
    #expect(report.transactions.count == 1)
    #expect(report.transactions.first?.response?.status == 200 && report.transactions.first?.response?.complete == true)
}

@Test func grpcErrorStatusIsRelayed() throws {
    var c = Conversation()
    c.clientBytes(gatewayOpening)
    c.serverBytes(upstreamSettings)
    c.serverBytes(h2Frame(1, flags: 5, stream: 1, [0x88] + literal("content-type", "application/grpc") + literal("grpc-status", "14")))
    c.gatewayCloses(after: 5)
    let report = try c.verdict()
    #expect(report.verdict.code.description == "grpc.status.unavailable")
    #expect(report.verdict.verdictClass == .relayed)
}

@Test func upstreamClosingInsideDataCutsTheBody() throws {
    var c = Conversation()
    c.clientBytes(gatewayOpening)
    c.serverBytes(upstreamSettings)
    c.serverBytes(h2Frame(1, flags: 4, stream: 1, [0x88] + literal("content-length", "10")) + h2Frame(0, stream: 1, [1, 2, 3]))
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpFINMidBody)
    #expect(report.verdict.verdictClass == .truncated)
}

@Test func upstreamClosingBeforeAnyResponse() throws {
    var c = Conversation()
    c.clientBytes(gatewayOpening)
    c.serverBytes(upstreamSettings)
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .tcpFINBeforeResponse)
    #expect(report.verdict.summary.contains("POST /pkg.Svc/Call"), "\(report.verdict.summary)")
}

/// A gateway that offered only h2 (nginx grpcs://) and a ServerHello without it: tls.alpn.no_h2
/// beside the verdict, at the ServerHello. An offer with http/1.1 too leaves the choice to the upstream.
@Test(arguments: [(["h2"], true), (["h2", "http/1.1"], false), (["http/1.1"], false)])
func alpnWithoutH2(offered: [String], found: Bool) throws {
    var c = Conversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test", alpn: offered)))
    c.serverBytes(TLSWire.record(22, TLSWire.serverHello()))
    c.gatewayCloses(after: 5)
    let report = try c.verdict()
    let finding = report.findings.first { $0.code == .tlsALPNNoH2 }
    #expect((finding != nil) == found, "\(report.findings.map(\.code))")
    if let finding {
        #expect(finding.severity == .warning)
        #expect(finding.evidence.first?.frame == 5 && finding.evidence.first?.direction == .server)
        #expect(report.verdict.code != .tlsALPNNoH2)
    }
}

/// Behind HAProxy a stream that dies before its response is no 502: the client's stream is reset.
@Test func haproxyResetsTheClientsStream() throws {
    var c = Conversation(gateway: "haproxy")
    c.clientBytes(gatewayOpening)
    c.serverBytes(upstreamSettings)
    c.serverBytes(h2Frame(3, stream: 1, [0, 0, 0, 7]))
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "h2.rst_stream.before_response")
    #expect(report.verdict.verdictClass == .truncated)
    #expect(report.verdict.gateways["haproxy"]?.status == nil && report.verdict.gateways["haproxy"]?.detail == "")
    #expect(report.verdict.summary.hasSuffix("at byte 18 of its stream (frame 6); haproxy resets the client's stream without a status."), "\(report.verdict.summary)")
}
