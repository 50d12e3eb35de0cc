import CaptureModel
import Diagnosis
import Engine
import Testing
import TestSupport

/// A verifier standing in for OpenSSL: answers a fixed result and records the time it was asked about.
final class StubVerifier: ChainVerifying, @unchecked Sendable {
    let answer: ChainCheck
    private(set) var askedAt: [Timestamp] = []
    private(set) var askedHost: [String?] = []
    init(_ answer: ChainCheck) { self.answer = answer }
    func verify(chain: [[UInt8]], host: String?, at time: Timestamp) -> ChainCheck {
        self.askedAt.append(time)
        self.askedHost.append(host)
        return self.answer
    }
}

private let leaf = [UInt8](repeating: 0x30, count: 300)

private func tlsConversation(gateway: String = "nginx", verifier: (any ChainVerifying)? = nil) -> Conversation {
    var c = Conversation(gateway: gateway)
    c.h.engine = Engine(linkType: .ethernet, options: AnalysisOptions(gateway: GatewayProfile(parsing: gateway)!, verifier: verifier))
    return c
}

private func bytesText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

extension Conversation {
    mutating func clientBytes(_ bytes: [UInt8], after milliseconds: Int64 = 1) {
        self.h.sendBytes(fromGateway: true, seq: self.clientNext, ack: self.serverNext, bytes, at: self.tick(milliseconds))
        self.clientNext &+= UInt32(bytes.count)
    }

    mutating func serverBytes(_ bytes: [UInt8], after milliseconds: Int64 = 1) {
        self.h.sendBytes(fromGateway: false, seq: self.serverNext, ack: self.clientNext, bytes, at: self.tick(milliseconds))
        self.serverNext &+= UInt32(bytes.count)
    }
}

extension EngineHarness {
    mutating func sendBytes(fromGateway: Bool, seq: UInt32, ack: UInt32, _ payload: [UInt8], at milliseconds: Int64) {
        let bytes = FrameBuilder.tcp(
            from: fromGateway ? self.gateway : self.upstream, to: fromGateway ? self.upstream : self.gateway,
            seq: seq, ack: ack, flags: [.psh, .ack], payload: payload)
        self.raw(bytes, at: milliseconds)
    }
}

@Test func unrecognizedNameAlertWithoutSNIIsReportedWithTheMissingSNI() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: nil)))
    c.serverBytes(TLSWire.record(21, [2, 112]))
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "tls.alert.unrecognized_name")
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.verdict.phase == .tls)
    #expect(report.findings.first?.evidence.first?.frame == 5)
    #expect(report.findings.first?.evidence.first?.bytes == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70])
    #expect(report.findings.contains { $0.code.description == "tls.sni.missing" })
    #expect(report.tls?.sni == nil)
    #expect(report.tls?.alerts == ["fatal unrecognized_name from server"])
}

@Test func protocolVersionAlertIsAVersionMismatch() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test", versions: [0x0303])))
    c.serverBytes(TLSWire.record(21, [2, 70]))
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "tls.version_mismatch")
    #expect(report.verdict.verdictClass == .badGateway)
}

@Test func handshakeFailureBeforeAServerHelloIsACipherMismatch() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    c.serverBytes(TLSWire.record(21, [2, 40]))
    c.serverCloses()
    #expect(try c.verdict().verdict.code.description == "tls.cipher_mismatch")
}

@Test func upstreamClosingDuringTheHandshakeIsPeerClosedInHandshake() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    c.serverCloses(rst: true)
    let report = try c.verdict()
    #expect(report.verdict.code.description == "tls.peer_closed_in_handshake")
    #expect(report.findings.first?.evidence.first?.frame == 5)
}

private func tls12Handshake(_ c: inout Conversation) {
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    c.serverBytes(TLSWire.record(22, TLSWire.serverHello() + TLSWire.certificate([leaf]) + TLSWire.handshake(14, [])))
    c.clientBytes(TLSWire.record(22, TLSWire.handshake(16, [0, 2, 1, 2])) + TLSWire.record(20, [1]) + TLSWire.record(22, [UInt8](repeating: 9, count: 40)))
    c.serverBytes(TLSWire.record(20, [1]) + TLSWire.record(22, [UInt8](repeating: 8, count: 40)))
}

@Test func expiredChainAndACloseRightAfterTheHandshakeIsCertExpiredAtCaptureTime() throws {
    let stub = StubVerifier(ChainCheck(
        ok: false, code: FindingCode(code: "tls.cert.expired")!, opensslCode: 10, opensslText: "certificate has expired", depth: 0,
        certificates: [CertificateSummary(subject: "CN=upstream.test", issuer: "CN=Test Intermediate", notBefore: "2024-01-01T00:00:00Z",
                                          notAfter: "2024-06-01T00:00:00Z", subjectAltNames: ["DNS:upstream.test"], key: "EC P-256", sha256: "ab")]))
    var c = tlsConversation(verifier: stub)
    tls12Handshake(&c)
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "tls.cert.expired")
    #expect(report.verdict.verdictClass == .badGateway)
    #expect(report.findings.first?.evidence.first?.frame == 5)  // the Certificate message
    #expect(report.tls?.verification == "failed")
    #expect(report.tls?.opensslCode == 10)
    #expect(report.tls?.chain.first?.subject == "CN=upstream.test")
    // Verified at the time of the Certificate message, not today, for the SNI name.
    #expect(stub.askedAt == [Timestamp(nanoseconds: 1_776_075_462_000_000_000 + 5 * 1_000_000)])
    #expect(stub.askedHost == ["upstream.test"])
}

@Test func badChainOnAConnectionThatCarriedDataIsOnlyAWarning() throws {
    let stub = StubVerifier(ChainCheck(ok: false, code: FindingCode(code: "tls.cert.unknown_ca")!, opensslCode: 20,
        opensslText: "unable to get local issuer certificate", depth: 0, certificates: []))
    var c = tlsConversation(verifier: stub)
    tls12Handshake(&c)
    c.clientBytes(TLSWire.record(23, [UInt8](repeating: 7, count: 100)))
    c.serverBytes(TLSWire.record(23, [UInt8](repeating: 6, count: 200)))
    c.gatewayCloses()
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .none)
    #expect(report.findings.contains { $0.code.description == "tls.cert.unknown_ca" && $0.severity == .warning })
}

@Test func tls13HandshakeThenACloseIsClosedAfterHandshake() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test"), version: 0x0301))
    c.serverBytes(TLSWire.record(22, TLSWire.serverHello(version: 0x0304, cipher: 0x1301)) + TLSWire.record(20, [1])
        + TLSWire.record(23, [UInt8](repeating: 1, count: 1500)))
    c.clientBytes(TLSWire.record(20, [1]) + TLSWire.record(23, [UInt8](repeating: 2, count: 53)))
    c.gatewayCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "tls.closed_after_handshake")
    #expect(report.tls?.version == "TLS 1.3")
    #expect(report.tls?.verification == "not_visible")
    #expect(report.verdict.summary.contains("--keylog"))
}

@Test func plainHTTPAnswerToTLSIsTLSToPlainPort() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    c.response("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code.description == "proto.tls_to_plain_port")
    #expect(report.findings.first?.evidence.first?.frame == 5)
}

@Test func stalledHandshakeIsAHandshakeTimeoutAnd504() throws {
    var c = tlsConversation()
    c.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    c.gatewayCloses(after: 60_000)
    let report = try c.verdict()
    #expect(report.verdict.code.description == "tls.handshake_timeout")
    #expect(report.verdict.verdictClass == .gatewayTimeout)
    #expect(report.findings.first?.evidence.first?.frame == 5)
}
