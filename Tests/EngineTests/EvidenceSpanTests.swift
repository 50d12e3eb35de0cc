import CaptureModel
import Diagnosis
import Engine
import Foundation
import PcapSource
import Testing
import TestSupport

// Issue 15, item 12: evidence starts at the offending byte and its length covers the offending
// token. Offsets below are counted by hand from the bytes sent (built here) or from tshark's
// dissection of the sample capture named (its truth's `evidence_frame` is the frame).

private let get = "GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n"
/// 17 bytes: a field line sent after it starts at stream offset 17.
private let ok = "HTTP/1.1 200 OK\r\n"
/// A chunked head of 17 + 28 + 2 = 47 bytes: the first chunk-size line starts at offset 47.
private let chunkedHead = ok + "Transfer-Encoding: chunked\r\n\r\n"

/// The response `text` answering one request (frame 4) in one segment (frame 5).
private func finding(_ code: FindingCode, in text: String, gateway: String = "nginx") throws -> Evidence {
    var c = Conversation(gateway: gateway)
    c.request(get)
    c.response(text)
    c.gatewayCloses()
    let report = try c.verdict()
    let found = try #require(report.findings.first { $0.code == code }, "\(report.findings.map(\.code))")
    return try #require(found.evidence.first)
}

// MARK: Field names: from the bad byte to the colon

/// `X Foo: bar`: the space is the offending byte (offset 17 + 1) and the bad name runs on to the
/// colon (offset 17 + 5): four bytes, ` Foo`.
@Test func aSpaceInAFieldNameSpansTheRestOfTheName() throws {
    let evidence = try finding(.headerNameCTLOrSpace, in: ok + "X Foo: bar\r\nContent-Length: 0\r\n\r\n")
    #expect(evidence.streamOffset == 18)
    #expect(evidence.length == 4)
    #expect(evidence.bytes == Array(" Foo".utf8))
    #expect(evidence.frame == 5)
}

/// `X-Fo;o: bar`: the ';' (offset 17 + 4) and the rest of the name, `;o`.
@Test func aNonTokenByteInAFieldNameSpansTheRestOfTheName() throws {
    let evidence = try finding(.headerNameNonToken, in: ok + "X-Fo;o: bar\r\nContent-Length: 0\r\n\r\n")
    #expect(evidence.streamOffset == 21)
    #expect(evidence.length == 2)
    #expect(evidence.bytes == Array(";o".utf8))
    #expect(evidence.frame == 5)
}

/// The sample capture's `Content-Length : 5` (tshark: the space at byte 57 of the upstream's
/// stream, frame 6): the bad name's rest is the space alone.
@Test func theSampleSpaceBeforeTheColonIsOneByte() throws {
    let result = try analyse(Paths.captures + "/nginx/http-header-name-ctl-or-space.pcap",
                             options: AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!))
    let connection = try #require(result.connections.first)
    let evidence = try #require(connection.findings.first { $0.code == .headerNameCTLOrSpace }?.evidence.first)
    #expect(evidence.streamOffset == 57 && evidence.length == 1 && evidence.frame == 6 && evidence.bytes == [0x20])
}

// MARK: Chunk-size lines: from the bad byte to the line end

/// `5xy`: the `x` (offset 48) is the first byte that is not a hex digit; `xy` is the rest of the size.
@Test func aBadDigitInAChunkSizeSpansTheRestOfTheLine() throws {
    let evidence = try finding(.chunkedBadSize, in: chunkedHead + "5xy\r\nhello\r\n0\r\n\r\n", gateway: "strict")
    #expect(evidence.streamOffset == 48)
    #expect(evidence.length == 2)
    #expect(evidence.bytes == Array("xy".utf8))
    #expect(evidence.frame == 5)
}

/// A size line with no hex digit at all is wrong from its first byte: all ten bytes of it, not
/// the first eight.
@Test func aChunkSizeLineWithoutADigitSpansTheWholeLine() throws {
    let evidence = try finding(.chunkedBadSize, in: chunkedHead + "zzzzzzzzzz\r\nhello\r\n0\r\n\r\n", gateway: "strict")
    #expect(evidence.streamOffset == 47)
    #expect(evidence.length == 10)
    #expect(evidence.frame == 5)
}

/// `5;` then a control byte: the extension breaks at the control byte (offset 47 + 2) and the
/// line runs on for `yz`: three bytes.
@Test func aBadChunkExtensionSpansFromItsBadByteToTheLineEnd() throws {
    let evidence = try finding(.chunkedBadExtension, in: chunkedHead + "5;\u{01}yz\r\nhello\r\n0\r\n\r\n", gateway: "strict")
    #expect(evidence.streamOffset == 49)
    #expect(evidence.length == 3)
    #expect(evidence.bytes == [0x01] + Array("yz".utf8))
    #expect(evidence.frame == 5)
}

/// The sample trailer line `BadTrailer` (tshark: offset 86 of the upstream's stream, frame 8):
/// the line, without the CRLF that ends it.
@Test func aBadTrailerSpansItsLineWithoutTheCRLF() throws {
    let result = try analyse(Paths.captures + "/nginx/http-chunked-bad-trailer.pcap",
                             options: AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!))
    let connection = try #require(result.connections.first)
    let evidence = try #require(connection.findings.first { $0.code == .chunkedBadTrailer }?.evidence.first)
    #expect(evidence.streamOffset == 86)
    #expect(evidence.length == 10)
    #expect(evidence.bytes == Array("BadTrailer".utf8))
    #expect(evidence.frame == 8)
}

// MARK: A head too large: what does not fit

/// The sample head of 8548 bytes (nginx: "upstream sent too big header"): from the first byte
/// past nginx's 4096-byte buffer to the head's end, 8548 - 4096 bytes, in frame 6.
@Test func aTooLargeHeadSpansTheBytesPastTheBuffer() throws {
    let result = try analyse(Paths.captures + "/nginx/http-header-too-large.pcap",
                             options: AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!))
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .headerTooLarge)
    let evidence = try #require(connection.findings.first { $0.code == .headerTooLarge }?.evidence.first)
    #expect(evidence.streamOffset == 4096)
    #expect(evidence.length == 8548 - 4096)
    #expect(evidence.frame == 6)
    #expect(connection.serverStreamBytes >= evidence.streamOffset + evidence.length)
}

/// A head with no end: from byte 4096 to the first byte past the 64 KiB the parser holds, the
/// same however the segments fall.
@Test func aHeadWithNoEndSpansTheSameBytesHoweverItIsCut() throws {
    let filler = String(repeating: "X-Pad: " + String(repeating: "p", count: 90) + "\r\n", count: 700)
    for segment in [60_000, 1460, 997] {
        var c = Conversation(gateway: "nginx")
        c.request(get)
        var rest = Substring(ok + filler)
        while !rest.isEmpty {
            c.response(String(rest.prefix(segment)))
            rest = rest.dropFirst(segment)
        }
        c.gatewayCloses()
        let report = try c.verdict()
        let evidence = try #require(report.findings.first { $0.code == .headerTooLarge }?.evidence.first)
        #expect(evidence.streamOffset == 4096, "segments of \(segment)")
        #expect(evidence.length == UInt64((64 << 10) + 1 - 4096), "segments of \(segment)")
    }
}

// MARK: An alert opened with the key log: the protected record

/// TLS 1.3, nginx with the upstream's key log: the certificate_required alert comes in a
/// protected record (tshark: opaque type 23, 19 bytes of ciphertext, at offset 2367 of the
/// upstream's stream, frame 10). The evidence is that record as sent: 5 + 19 bytes.
@Test func aDecryptedAlertSpansTheProtectedRecordThatCarriedIt() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/nginx/tls-client-cert-required-1.3-keylog.truth.json"))
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    let result = try analyse(Paths.captures + "/nginx/tls-client-cert-required-1.3-keylog.pcap", options: try truth.options())
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .tlsClientCertRequired)
    for code in [FindingCode.tlsClientCertRequired, FindingCode(code: "tls.alert.certificate_required")!] {
        let evidence = try #require(connection.findings.first { $0.code == code }?.evidence.first, "\(code)")
        #expect(evidence.direction == .server)
        #expect(evidence.streamOffset == 2367, "\(code)")
        #expect(evidence.length == 24, "\(code)")
        #expect(evidence.frame == 10, "\(code)")
        #expect(evidence.bytes.prefix(5) == [0x17, 0x03, 0x03, 0x00, 0x13], "\(code)")
        #expect(evidence.note.contains("decrypted with the key log"), "\(code)")
    }
}

// MARK: A ClientHello without SNI: the message

/// The gateway's ClientHello without server_name (tshark: frame 4, a record of 288 or 512 bytes
/// whose handshake message is 284 or 508 bytes long): the evidence is the message, its 4-byte
/// header and body, from stream offset 5 (after the record header), not a zero-length spot at
/// the record's start.
@Test(arguments: [("nginx/tls-sni-missing.pcap", 284), ("haproxy/tls-sni-missing.haproxy.pcap", 508)])
func aMissingSNISpansTheClientHelloMessage(capture: String, messageLength: Int) throws {
    let truthPath = Paths.captures + "/" + capture.replacingOccurrences(of: ".pcap", with: ".truth.json")
    let truth = try JSONDecoder().decode(Truth.self, from: Data(contentsOf: URL(fileURLWithPath: truthPath)))
    let result = try analyse(Paths.captures + "/" + capture, options: try truth.options())
    let connection = try #require(result.connections.first)
    let evidence = try #require(connection.findings.first { $0.code == .tlsSNIMissing }?.evidence.first)
    #expect(evidence.direction == .client)
    #expect(evidence.streamOffset == 5)
    #expect(evidence.length == UInt64(4 + messageLength))
    #expect(evidence.frame == 4)
    #expect(evidence.frameOffset == 66 + 5)
    #expect(evidence.bytes.prefix(4) == [1, 0, UInt8(messageLength >> 8), UInt8(messageLength & 0xff)])
}

// MARK: Every sample capture

/// Every truth (of every folder) that names an evidence frame.
func truthsWithEvidenceFrames() -> [String] {
    (truthFiles() + gatewayFolderGoldenFiles()).filter { path in
        let data = try? Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + path))
        let truth = data.flatMap { try? JSONDecoder().decode(Truth.self, from: $0) }
        return truth?.expected_connections.contains { $0.evidence_frame != nil } == true
    }
}

/// The codes whose evidence is a packet (a SYN, FIN or RST, or the gateway's close) rather than bytes.
private let packetCodes: Set<FindingCode> = [
    .tcpConnectRefused, .tcpConnectTimeout, .tcpRSTBeforeResponse, .tcpFINBeforeResponse, .tcpFINMidHeaders, .tcpFINMidBody,
    .tcpRSTMidBody, .tcpKeepaliveRace, .tcpReadTimeout, .tlsPeerClosedInHandshake, .tlsHandshakeTimeout, .tlsClosedAfterHandshake,
]

/// Each sample capture with an evidence frame in its truth: the verdict's evidence is in that
/// frame, and every evidence of every finding lies inside the bytes captured of its direction;
/// where it names a place in a frame, that frame holds its first bytes there; a packet's evidence
/// (SYN, FIN, RST) is zero bytes at the end of its side's stream, in a named frame.
@Test(arguments: truthsWithEvidenceFrames())
func everyEvidenceLiesInsideItsStreamAndInItsFrame(truthFile: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    let path = capturePath(truthFile: truthFile, capture: truth.capture)
    let result = try analyse(path, options: try truth.options())
    var unmatched = result.connections
    for expected in truth.expected_connections where expected.evidence_frame != nil {
        guard let index = unmatched.firstIndex(where: {
            $0.server.description == expected.server && (expected.client == nil || $0.client.description == expected.client)
        }) else {
            Issue.record("\(truthFile): no connection \(expected.client ?? "?") → \(expected.server)")
            continue
        }
        let connection = unmatched.remove(at: index)
        #expect(connection.findings.first?.evidence.first?.frame.map(Int.init) == expected.evidence_frame,
                "\(truthFile) \(connection.name): the verdict's evidence frame")
    }

    // Where each evidence that names a frame offset says its bytes are.
    var wanted: [Int: [(Int, [UInt8], String)]] = [:]
    for connection in result.connections {
        for finding in connection.findings {
            for evidence in finding.evidence {
                let what = "\(truthFile) \(connection.name) \(finding.code) at \(evidence.streamOffset)+\(evidence.length)"
                let captured = evidence.direction == .server ? connection.serverStreamBytes : connection.clientStreamBytes
                #expect(evidence.streamOffset + evidence.length <= captured, "\(what): past the \(captured) bytes captured")
                // An HTTP/2 stream's RST_STREAM after the head is tcp.rst.mid_body too (value `http2`): a frame, with bytes.
                if packetCodes.contains(finding.code), finding.value != "http2" {
                    // A SYN, FIN or RST carries no stream byte: it sits where its side's stream ended.
                    #expect(evidence.length == 0 && evidence.streamOffset == captured && evidence.frame != nil, "\(what): not at the packet")
                }
                if let frame = evidence.frame, let offset = evidence.frameOffset, !evidence.bytes.isEmpty {
                    wanted[Int(frame), default: []].append((offset, evidence.bytes, what))
                }
            }
        }
    }
    let reader = try PcapReader(path: path)
    try reader.forEachFrame { frame in
        for (offset, bytes, what) in wanted[Int(frame.number)] ?? [] {
            // The bytes in this frame (the rest may be in later ones); a masked credential is `*`.
            let here = Array(frame.bytes[min(offset, frame.bytes.count)...].prefix(bytes.count))
            #expect(!here.isEmpty, "\(what): frame \(frame.number) ends before offset \(offset)")
            #expect(zip(here, bytes).allSatisfy { $0 == $1 || $1 == UInt8(ascii: "*") }, "\(what): not the bytes of frame \(frame.number)")
        }
    }
}
