import CaptureModel
@testable import Engine
import HTTP1
import TCPReassembly
import Testing

/// The protocol probe (`ProtocolProbe`, behind `ConnectionAnalysis`): which analyzer the first
/// bytes of each direction (and TLS's ALPN) pick, and the `proto.*` findings it raises, with the
/// offset and frame of the bytes that prove them, however the streams are cut.

/// Feeds both directions of one connection to a `ConnectionAnalysis`, cut at the given points:
/// each piece its own frame, 66 bytes of headers before the payload.
private struct Door {
    var analysis: ConnectionAnalysis
    var frame: FrameNumber = 0
    var clientOffset: UInt64 = 0
    var serverOffset: UInt64 = 0
    /// Set when a piece opened a TLS handshake the owner is to read.
    var handedTLS = false

    init(negotiated: ApplicationProtocol? = nil, canStartTLS: Bool = true) {
        self.analysis = ConnectionAnalysis(negotiated: negotiated, canStartTLS: canStartTLS)
    }

    mutating func client(_ bytes: [UInt8], cuts: [Int] = []) {
        for piece in Self.pieces(bytes, cuts: cuts) {
            self.frame += 1
            let tls = piece.withUnsafeBytes { raw in
                self.analysis.feed(raw, direction: .client, at: self.clientOffset, frame: self.frame, frameOffset: 66,
                                   time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            self.handedTLS = self.handedTLS || tls
            self.clientOffset += UInt64(piece.count)
        }
    }

    mutating func server(_ bytes: [UInt8], cuts: [Int] = []) {
        for piece in Self.pieces(bytes, cuts: cuts) {
            self.frame += 1
            _ = piece.withUnsafeBytes { raw in
                self.analysis.feed(raw, direction: .server, at: self.serverOffset, frame: self.frame, frameOffset: 66,
                                   time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            self.serverOffset += UInt64(piece.count)
        }
    }

    mutating func gap(_ direction: Direction, _ length: UInt64) {
        switch direction {
        case .client:
            self.analysis.gap(self.clientOffset..<(self.clientOffset + length), direction: .client, reason: .notCaptured)
            self.clientOffset += length
        case .server:
            self.analysis.gap(self.serverOffset..<(self.serverOffset + length), direction: .server, reason: .notCaptured)
            self.serverOffset += length
        }
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

    /// Code, stream offset, frame, offset in frame and length of each finding, and its value.
    var summary: [String] {
        self.analysis.findings.map { finding in
            let evidence = finding.evidence.first
            return "\(finding.code)@\(evidence?.streamOffset ?? 999_999) frame \(evidence?.frame ?? 0)+\(evidence?.frameOffset ?? -1)"
                + " \(evidence?.length ?? 0) \(evidence?.direction.name ?? "-") \(finding.value ?? "")"
        }
    }
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private let get = "GET /a HTTP/1.1\r\nHost: up\r\n\r\n"
private let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
/// A TLS 1.2 record header and the start of a ClientHello.
private let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03]
private let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0]

// MARK: Which analyzer

@Test func requestLinePicksHTTP1() {
    var door = Door()
    door.client(bytes(get))
    #expect(door.analysis.probe.gateway == .http1)
    #expect(door.analysis.route == .http1)
    #expect(!door.handedTLS)
    #expect(door.analysis.http.gatewaySpeaksHTTP1)
}

@Test func handshakeRecordAtTheStartPicksTLS() {
    var door = Door()
    door.client(clientHello, cuts: [1])
    #expect(door.analysis.probe.gateway == .tls)
    // Decided on the first byte: the owner's TLS analyzer reads from that piece on.
    #expect(door.handedTLS)
    #expect(door.frame == 2)
}

/// Records cannot be framed from the middle of a stream: TLS after a gap (or inside TLS) is
/// recognised, not analysed.
@Test func handshakeRecordAfterAGapIsTLSNotAnalysed() {
    var door = Door()
    door.gap(.client, 100)
    door.client(clientHello)
    #expect(door.analysis.probe.gateway == .tls)
    #expect(!door.handedTLS)
    #expect(door.analysis.route == .unanalysed)

    var inner = Door(canStartTLS: false)
    inner.client(clientHello)
    #expect(inner.analysis.probe.gateway == .tls && !inner.handedTLS && inner.analysis.route == .unanalysed)
}

@Test(arguments: [[], [1], [3, 17], Array(1..<24)])
func prefacePicksHTTP2WhereverCut(cuts: [Int]) {
    var door = Door()
    door.client(bytes(preface), cuts: cuts)
    #expect(door.analysis.probe.gateway == .http2)
    #expect(door.analysis.route == .http2)
    // Nothing of the preface reached the HTTP/1 analyzer; the HTTP/2 analyzer has no frame yet.
    #expect(door.analysis.http.responseEnd.requestsSeen == 0)
    #expect(door.analysis.finish(endedAt: nil).transactions.isEmpty)
}

/// Bytes held while they might be the preface go to HTTP/1, in their own chunks, when they are not.
@Test(arguments: [[], [1], [2, 5], Array(1..<30)])
func methodStartingLikeThePrefaceIsHTTP1WhereverCut(cuts: [Int]) {
    for request in ["POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "PRI * HTTP/2.0\r\nHost: a\r\n\r\n"] {
        var door = Door()
        door.client(bytes(request), cuts: cuts)
        #expect(door.analysis.probe.gateway == .http1, "\(request)")
        #expect(door.analysis.http.responseEnd.requestsSeen == 1, "\(request)")
        #expect(door.analysis.http.responseEnd.outstanding?.frame == 1, "\(request)")
    }
}

@Test func prefaceCutShortByAGapOrTheCloseIsHTTP1() {
    var gapped = Door()
    gapped.client(bytes("PRI * HT"))
    #expect(gapped.analysis.probe.gateway == nil)
    gapped.gap(.client, 10)
    #expect(gapped.analysis.probe.gateway == .http1)

    var closed = Door()
    closed.client(bytes("PRI * HTTP/2.0\r\n"))
    closed.analysis.close(.fin(.client))
    #expect(closed.analysis.probe.gateway == .http1)
}

@Test func alpnPicksTheProtocolInsideTLS() {
    #expect(ApplicationProtocol(alpn: "h2") == .http2)
    #expect(ApplicationProtocol(alpn: "http/1.1") == .http1)
    #expect(ApplicationProtocol(alpn: "spdy/3.1") == nil)
    // ALPN h2: the decrypted bytes are HTTP/2 before any of them came, whatever they are.
    var h2 = Door(negotiated: .http2, canStartTLS: false)
    #expect(h2.analysis.probe.gateway == .http2)
    h2.client(bytes(get))
    #expect(h2.analysis.route == .http2)
    #expect(h2.analysis.http.responseEnd.requestsSeen == 0)
    var h1 = Door(negotiated: .http1, canStartTLS: false)
    h1.client(bytes(get))
    #expect(h1.analysis.route == .http1 && h1.analysis.http.responseEnd.requestsSeen == 1)
}

@Test func protocolsWithoutAnAnalyzerAreSaidSo() {
    #expect(ApplicationProtocol.http1.isAnalysed && ApplicationProtocol.tls.isAnalysed && ApplicationProtocol.http2.isAnalysed)
    #expect(ApplicationProtocol.fastCGI.isAnalysed)
}

// MARK: Findings

private struct Mismatch: CustomStringConvertible, Sendable {
    var name: String
    var request: [UInt8]
    var canStartTLS = true
    var response: [UInt8]
    var code: FindingCode
    var length: UInt64
    var value: String?
    var description: String { self.name }
}

private let mismatches: [Mismatch] = [
    Mismatch(name: "non-HTTP", request: bytes(get), response: bytes("-ERR unknown command\r\n"), code: .protoNonHTTPResponse,
             length: 16, value: "-ERR unknown com"),
    Mismatch(name: "HTTP/2 SETTINGS", request: bytes(get), response: settings, code: .protoH2ResponseToH1, length: 9),
    Mismatch(name: "TLS alert", request: bytes(get), response: [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46, 0, 0],
             code: .protoPlainToTLSPort, length: 7),
    Mismatch(name: "HTTP/1 to the preface", request: bytes(preface),
             response: bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), code: .protoH1ResponseToH2, length: 16,
             value: "HTTP/1.1 400 Bad"),
    Mismatch(name: "HTTP/1 to TLS", request: clientHello, canStartTLS: false,
             response: bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), code: .protoTLSToPlainPort, length: 16),
    Mismatch(name: "empty lines first", request: bytes(get), response: bytes("\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
             code: .protoNonHTTPResponse, length: 16, value: "\r\n\r\n\r\nHTTP/1.1 2"),
]

/// The probe's finding: the upstream's first byte, its frame and offset in frame, the same
/// evidence length and value however either stream is cut.
@Test(arguments: mismatches)
private func mismatchIsTheProbesFindingWhereverCut(_ m: Mismatch) throws {
    var whole = Door(canStartTLS: m.canStartTLS)
    whole.client(m.request)
    whole.server(m.response)
    whole.analysis.close(.fin(.server))
    let finding = try #require(whole.analysis.findings.first)
    #expect(whole.analysis.findings.count == 1)
    #expect(finding.code == m.code)
    #expect(finding.severity == .fatal)
    #expect(finding.value == m.value)
    let evidence = try #require(finding.evidence.first)
    #expect(evidence.direction == .server && evidence.streamOffset == 0 && evidence.length == m.length)
    #expect(evidence.frame == 2 && evidence.frameOffset == 66)
    #expect(evidence.bytes == Array(m.response.prefix(Int(m.length))))
    #expect(whole.analysis.probe.mismatch != nil)

    for cut in 1..<m.response.count {
        var split = Door(canStartTLS: m.canStartTLS)
        split.client(m.request)
        split.server(m.response, cuts: [cut])
        split.analysis.close(.fin(.server))
        #expect(split.summary == whole.summary, "cut \(cut)")
    }
    var byteByByte = Door(canStartTLS: m.canStartTLS)
    byteByByte.client(m.request)
    byteByByte.server(m.response, cuts: Array(1..<m.response.count))
    byteByByte.analysis.close(.fin(.server))
    #expect(byteByByte.summary == whole.summary)
}

/// Bytes that are neither a status line nor a SETTINGS frame, in answer to the preface, are the
/// HTTP/2 analyzer's to read: a first frame that is not SETTINGS is h2.preface.bad.
@Test(arguments: [[], [3], [9], Array(1..<11)])
func zerosAnsweringThePrefaceAreABadPreface(cuts: [Int]) throws {
    var door = Door()
    door.client(bytes(preface))
    door.server([UInt8](repeating: 0, count: 11), cuts: cuts)
    let finding = try #require(door.analysis.findings.first)
    #expect(door.analysis.findings.count == 1)
    #expect(finding.code == .h2PrefaceBad && finding.value == "DATA")
    #expect(finding.evidence.first?.streamOffset == 0 && finding.evidence.first?.frame == 2 && finding.evidence.first?.frameOffset == 66)
    #expect(door.analysis.probe.mismatch == nil)
}

/// An HTTP/2 server answering the HTTP/2 preface speaks the gateway's protocol: no mismatch.
@Test func settingsAnsweringThePrefaceIsNoMismatch() {
    var door = Door()
    door.client(bytes(preface))
    door.server(settings)
    #expect(door.analysis.findings.isEmpty)
    #expect(door.analysis.probe.upstreamJudged)
}

@Test func statusLineAgreesWithHTTP1() {
    var door = Door()
    door.client(bytes(get))
    door.server(bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), cuts: [3])
    #expect(door.analysis.findings.isEmpty)
    #expect(door.analysis.probe.upstreamJudged && door.analysis.probe.isSettled)
    #expect(door.analysis.finish(endedAt: nil).transactions.first?.response?.status == 200)
}

/// A later response that is not HTTP/1: the HTTP/1 analyzer stops there, and the probe names the
/// bytes at that response's offset and frame.
@Test func laterResponseIsJudgedByTheProbe() throws {
    let first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    for cut in [0, 5, first.utf8.count, first.utf8.count + 1, first.utf8.count + 3] {
        var door = Door()
        door.client(bytes(get + get))
        door.server(bytes(first) + [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46], cuts: cut == 0 ? [] : [cut])
        door.analysis.close(.fin(.server))
        let finding = try #require(door.analysis.findings.first, "cut \(cut)")
        #expect(door.analysis.findings.count == 1, "cut \(cut)")
        #expect(finding.code == .protoPlainToTLSPort, "cut \(cut)")
        let evidence = try #require(finding.evidence.first)
        #expect(evidence.streamOffset == UInt64(first.utf8.count) && evidence.length == 7, "cut \(cut)")
        // The frame holding the response's first byte: the second piece when cut before it.
        let frame: FrameNumber = cut != 0 && cut <= first.utf8.count ? 3 : 2
        #expect(evidence.frame == frame, "cut \(cut)")
        #expect(evidence.frameOffset == 66 + (frame == 2 ? first.utf8.count : first.utf8.count - cut), "cut \(cut)")
    }
}

/// Found by Fuzz/FuzzHTTP1's split test (when the check was the HTTP/1 parser's): the
/// upstream's first bytes before any request give `proto.server_speaks_first` with the first 32
/// bytes (the value the first 16), however the stream was cut.
@Test func serverSpeakingFirstIsTheProbesFindingWhereverCut() throws {
    // Two zero bytes may open an HTTP/2 SETTINGS frame header: held until the connection closes.
    var whole = Door()
    whole.server([0x00, 0x00])
    whole.analysis.close(.fin(.server))
    var split = Door()
    split.server([0x00, 0x00], cuts: [1])
    split.analysis.close(.fin(.server))
    let wholeFinding = try #require(whole.analysis.findings.first { $0.code == .protoServerSpeaksFirst })
    let splitFinding = try #require(split.analysis.findings.first { $0.code == .protoServerSpeaksFirst })
    #expect(wholeFinding.evidence.first?.length == 2 && splitFinding.evidence.first?.length == 2)
    #expect(splitFinding.evidence.first?.bytes == [0x00, 0x00])
    #expect(splitFinding.value == "\0\0")

    var banner = Door()
    banner.server(bytes("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), cuts: Array(1..<40))
    banner.analysis.close(.fin(.server))
    // First the bytes before the gateway's, then what they are instead of HTTP/1.
    #expect(banner.summary == [
        "proto.server_speaks_first@0 frame 1+66 32 server SSH-2.0-OpenSSH_",
        "proto.non_http_response@0 frame 1+66 16 server SSH-2.0-OpenSSH_",
    ])
}

@Test func noServerSpeaksFirstAfterTheGatewaySpokeOrLostBytes() {
    var spoke = Door()
    spoke.client(bytes(get))
    spoke.server(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    #expect(spoke.analysis.findings.isEmpty)
    var gapped = Door()
    gapped.gap(.client, 10)
    gapped.server(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    #expect(gapped.analysis.findings.isEmpty)
}

/// The upstream's first response cut by a gap is not judged (nor is its analyzer's framing).
@Test func firstResponseCutByAGapIsNotJudged() {
    var door = Door()
    door.client(bytes(get))
    door.server(bytes("-ERR"))
    door.gap(.server, 20)
    door.server(bytes("more bytes"))
    door.analysis.close(.fin(.server))
    #expect(door.analysis.findings.isEmpty)
    #expect(!door.analysis.probe.upstreamJudged)
}

/// A finding's value is taken from its evidence, so a credential masked in the evidence is
/// masked in the value too, however the stream is cut (found by FuzzHTTP1).
@Test(arguments: [0, 3, 9, 11, 12])
func nonHTTPResponseValueIsMaskedWhereverTheStreamIsCut(cut: Int) throws {
    var door = Door()
    door.client(bytes(get))
    door.server(bytes("Cookie: a=b\r\nxyzxyzxyz\r\n"), cuts: cut == 0 ? [] : [cut])
    let finding = try #require(door.analysis.findings.first { $0.code == .protoNonHTTPResponse })
    #expect(finding.value == "Cookie: ***\r\nxyz")
    #expect(finding.evidence.first?.bytes == Array("Cookie: ***\r\nxyz".utf8))
}

/// Through the engine: the report's proto.* finding is the probe's, at the upstream's first
/// byte in the frame that carried it (frames 1-3 are the handshake, 4 the request).
@Test func engineReportsTheProbesFinding() throws {
    var c = Conversation()
    c.request("GET /a HTTP/1.1\r\nHost: up\r\n\r\n")
    c.response("SSH-2.0-OpenSSH_9.2p1\r\n")
    c.serverCloses()
    let report = try c.verdict()
    #expect(report.verdict.code == .protoNonHTTPResponse)
    let evidence = try #require(report.findings.first { $0.code == .protoNonHTTPResponse }?.evidence.first)
    #expect(evidence.direction == .server && evidence.streamOffset == 0 && evidence.frame == 5 && evidence.length == 16)
}

// MARK: An HTTP/2 server's SETTINGS before the gateway's preface

/// A SETTINGS frame and a PING, as an HTTP/2 server may send them before the preface reaches it.
private let serverPreface: [UInt8] = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100] + [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
/// The gateway's preface and an empty SETTINGS frame.
private let gatewayPreface = bytes(preface) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

/// grpcio's server sends its SETTINGS as soon as it accepts, before nginx's or HAProxy's preface
/// reaches it: held while the gateway has not spoken, then read as HTTP/2 with no
/// `proto.server_speaks_first`, wherever either stream is cut (the header split at every byte).
@Test(arguments: [[]] + (1..<serverPreface.count).map { [$0] } + [Array(1..<serverPreface.count)])
func settingsBeforeThePrefaceIsNotSpeakingFirst(cuts: [Int]) throws {
    var door = Door()
    door.server(serverPreface, cuts: cuts)
    // Held: nothing reached an analyzer, nothing is found yet.
    #expect(door.analysis.findings.isEmpty)
    #expect(door.analysis.probe.holdsUpstream)
    #expect(door.analysis.http.responseEnd.requestsSeen == 0)
    door.client(gatewayPreface, cuts: [5])
    #expect(door.analysis.probe.gateway == .http2 && door.analysis.route == .http2)
    #expect(!door.analysis.probe.holdsUpstream && door.analysis.probe.isSettled)
    #expect(door.analysis.findings.isEmpty, "\(door.summary)")
    #expect(door.analysis.probe.upstreamJudged)
    // The HTTP/2 analyzer read the upstream's frames from its first byte: a DATA frame after
    // them is on a stream the gateway never opened, at its own offset and frame.
    door.server([0, 0, 1, 0, 0, 0, 0, 0, 1, 0x61])
    let finding = try #require(door.analysis.findings.first)
    #expect(finding.code == .h2StreamClosed)
    #expect(finding.evidence.first?.streamOffset == UInt64(serverPreface.count))
    #expect(finding.evidence.first?.frame == door.frame)
    #expect(finding.evidence.first?.streamID == 1)
}

/// The same SETTINGS before an HTTP/1 request (or a TLS ClientHello) did speak first: the
/// findings, offsets and frames are those of bytes never held, wherever the streams are cut.
@Test(arguments: [[], [1], [3], [4], [8], [9], [12], Array(1..<serverPreface.count)])
func settingsBeforeAnHTTP1RequestSpokeFirst(cuts: [Int]) throws {
    var door = Door()
    door.server(serverPreface, cuts: cuts)
    #expect(door.analysis.findings.isEmpty)
    door.client(bytes(get), cuts: [2])
    door.analysis.close(.fin(.server))
    let pieces = Door.pieces(serverPreface, cuts: cuts).count
    #expect(door.summary == [
        "proto.server_speaks_first@0 frame 1+66 32 server \(String(decoding: serverPreface.prefix(16), as: UTF8.self))",
        "proto.h2_response_to_h1@0 frame 1+66 9 server ",
    ], "\(cuts)")
    #expect(door.frame == FrameNumber(pieces + 2))
    #expect(door.analysis.probe.gateway == .http1)
}

/// Bytes that stop looking like a SETTINGS frame header (type, flags or stream id), in their
/// first 9, are handed on at once: the upstream spoke first, before the gateway said anything.
@Test(arguments: [3, 4, 5, 8])
func notSettingsIsHandedOnAtOnce(wrongByte: Int) throws {
    for cuts in [[], [wrongByte], Array(1..<12)] {
        var header: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0x41, 0x42, 0x43]
        header[wrongByte] = 0x09
        var door = Door()
        door.server(header, cuts: cuts)
        #expect(!door.analysis.probe.holdsUpstream)
        let finding = try #require(door.analysis.findings.first, "\(wrongByte) \(cuts)")
        #expect(finding.code == .protoServerSpeaksFirst)
        #expect(finding.evidence.first?.streamOffset == 0 && finding.evidence.first?.frame == 1)
        #expect(finding.evidence.first?.length == 12)
    }
}

/// Held bytes the connection's close, a gap or the end of the capture lets go are the upstream's
/// speaking first, as if never held.
@Test func heldSettingsAreLetGoAtCloseGapOrFinish() throws {
    var closed = Door()
    closed.server(settings)
    closed.analysis.close(.fin(.server))
    #expect(closed.analysis.findings.map(\.code) == [.protoServerSpeaksFirst, .protoH2ResponseToH1])

    var gapped = Door()
    gapped.server(settings)
    gapped.gap(.server, 10)
    #expect(gapped.analysis.findings.map(\.code) == [.protoServerSpeaksFirst, .protoH2ResponseToH1])

    var finished = Door()
    finished.server(settings)
    let outcome = finished.analysis.finish(endedAt: nil)
    #expect(outcome.view.findings.map(\.code) == [.protoServerSpeaksFirst, .protoH2ResponseToH1])
}
