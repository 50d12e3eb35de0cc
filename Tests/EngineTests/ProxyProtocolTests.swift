import CaptureModel
import Diagnosis
@testable import Engine
import Foundation
import Testing
import TestSupport

// Issue 20 part 3: the PROXY protocol on the upstream hop. Captures made by
// captures/tools/proxy-protocol-run.py with Debian's HAProxy 2.6 (send-proxy, send-proxy-v2) and
// nginx 1.22 in front of a second nginx with and without `proxy_protocol`; what is expected comes
// from their truth files (both programs' logs, curl, tshark).

/// The header `bytes` make, fed cut into pieces of `step` bytes, and the bytes left after it.
private func read(_ bytes: [UInt8], step: Int) -> (header: ProxyHeader?, rest: [UInt8], decidedAt: Int) {
    var reader = ProxyHeaderReader()
    var offset = 0
    while offset < bytes.count {
        let piece = Array(bytes[offset..<min(bytes.count, offset + step)])
        let step = piece.withUnsafeBytes { reader.inspect($0, at: UInt64(offset), frame: 1, frameOffset: 66, time: .zero) }
        offset += piece.count
        switch step {
        case .hold: continue
        case .notProxy: return (nil, reader.held.flatMap(\.bytes) + bytes[offset...], offset)
        case .header(let header): return (header, reader.held.flatMap(\.bytes) + bytes[offset...], offset)
        }
    }
    return (nil, reader.held.flatMap(\.bytes), offset)
}

private let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

@Test(arguments: [1, 2, 7, 200])
func aVersion1HeaderIsTakenOffTheStreamHoweverItIsCut(step: Int) throws {
    let line = Array("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n".utf8)
    let (header, rest, _) = read(line + request, step: step)
    let found = try #require(header)
    #expect(found.version == 1)
    #expect(found.length == line.count)
    #expect(found.source?.description == "192.0.2.1:56324")
    #expect(found.destination?.description == "198.51.100.7:443")
    #expect(rest == request)
}

@Test(arguments: [1, 5, 200])
func aVersion2HeaderCarriesTheAddressesOfIPv4AndIPv6(step: Int) throws {
    let signature: [UInt8] = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
    let v4 = signature + [0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb]
    let (header4, rest4, _) = read(v4 + request, step: step)
    #expect(header4?.version == 2)
    #expect(header4?.length == 28)
    #expect(header4?.source?.description == "192.0.2.1:56324")
    #expect(header4?.destination?.description == "198.51.100.7:443")
    #expect(rest4 == request)
    let v6 = signature + [0x21, 0x21, 0x00, 0x24] + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2] + [0x30, 0x39, 0x00, 0x50]
    let (header6, rest6, _) = read(v6 + request, step: step)
    #expect(header6?.source?.description == "[2001:db8::1]:12345")
    #expect(header6?.destination?.description == "[2001:db8::2]:80")
    #expect(rest6 == request)
    // A LOCAL command (a health check) carries no address.
    let local = signature + [0x20, 0x00, 0x00, 0x00]
    let (headerLocal, restLocal, _) = read(local + request, step: step)
    #expect(headerLocal?.version == 2)
    #expect(headerLocal?.source == nil)
    #expect(restLocal == request)
}

@Test func whatIsNotAHeaderGoesOnWhole() {
    // Methods that start with P are decided by their second to sixth byte, nothing is lost.
    for text in ["POST /x HTTP/1.1\r\n\r\n", "PUT /x HTTP/1.1\r\n\r\n", "PROXYX", "\r\nGET / HTTP/1.1\r\n\r\n"] {
        let bytes = Array(text.utf8)
        let (header, rest, decidedAt) = read(bytes, step: 1)
        #expect(header == nil, "\(text)")
        #expect(rest == bytes, "\(text)")
        #expect(decidedAt <= 6, "\(text)")
    }
    // A PROXY line with no CRLF within 107 bytes, or an unknown protocol word, is no header.
    let long = Array(("PROXY TCP4 " + String(repeating: "1", count: 120)).utf8)
    #expect(read(long, step: 10).header == nil)
    #expect(read(long, step: 10).rest == long)
    let odd = Array("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n".utf8)
    #expect(read(odd, step: 3).header == nil)
}

/// The truth's expected connections of `capture` as JSON, and the capture analysed as recorded.
private func recorded(_ capture: String) throws -> (truth: [String: Any], result: AnalysisResult) {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + capture.replacingOccurrences(of: ".pcap", with: ".truth.json")))
    let raw = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    return (raw, try analyse(Paths.captures + "/" + capture, options: try truth.options()))
}

/// HAProxy's `send-proxy` and `send-proxy-v2` to an nginx without `proxy_protocol`: nginx reads
/// the header as a request line, logs "client sent invalid request", answers 400, and HAProxy
/// relays the 400 (`----`). The verdict names the header, from its first byte, in full.
@Test(arguments: [("haproxy/proxy-header-v1-unexpected.haproxy.pcap", 1, 44), ("haproxy/proxy-header-v2-unexpected.haproxy.pcap", 2, 28)])
func aHeaderTheUpstreamDoesNotExpectIsItsRelayed400(capture: String, version: Int, length: Int) throws {
    let (truth, result) = try recorded(capture)
    let expected = try #require((truth["expected_connections"] as? [[String: Any]])?.first)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .protoProxyHeaderUnexpected)
    #expect(connection.verdict.verdictClass == .relayed)
    let evidence = try #require(connection.findings.first?.evidence.first)
    #expect(evidence.direction == .client)
    #expect(evidence.streamOffset == 0)
    #expect(evidence.length == UInt64(length))
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    #expect(connection.proxyHeader?.version == version)
    #expect(connection.proxyHeader?.answeredWith == 400)
    // The request behind the header starts where the header ends.
    #expect(connection.transactions.first?.request?.offset == UInt64(length))
    #expect(connection.transactions.first?.response?.status == 400)
}

/// With the header expected, the request behind it is answered: healthy, and the header's source
/// is the client HAProxy logged.
@Test(arguments: ["haproxy/proxy-header-v1-healthy.haproxy.pcap", "haproxy/proxy-header-v2-healthy.haproxy.pcap"])
func aHeaderTheUpstreamExpectsCarriesTheClientsAddress(capture: String) throws {
    let (truth, result) = try recorded(capture)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .none)
    let header = try #require(connection.proxyHeader)
    let logged = try #require((truth["gateway_errors"] as? [String])?.first?.split(separator: " ").first.map(String.init))
    #expect(header.source?.description == logged)
    #expect(header.answeredWith == 200)
    #expect(connection.transactions.first?.request?.target.hasPrefix("/pp/") == true)
}

/// HAProxy (send-proxy) and nginx (none) in front of one nginx with `proxy_protocol`: HAProxy's
/// request is answered, nginx's is read as a broken header and the connection closed; nginx logs
/// "upstream prematurely closed connection" and answers 502.
@Test func aMissingHeaderIsNamedWhenTheUpstreamTookOthers() throws {
    let (truth, result) = try recorded("nginx/proxy-header-missing.pcap")
    let expected = try #require(truth["expected_connections"] as? [[String: Any]])
    let failing = try #require(result.connections.first { $0.verdict.code != .none })
    #expect(failing.verdict.code == .protoProxyHeaderMissing)
    #expect(failing.verdict.verdictClass == .badGateway)
    #expect(failing.client.description == expected[1]["client"] as? String)
    let evidence = try #require(failing.findings.first?.evidence.first)
    #expect(evidence.direction == .client)
    #expect(evidence.streamOffset == 0)
    #expect(evidence.frame.map(Int.init) == expected[1]["evidence_frame"] as? Int)
    #expect(failing.proxyHeader == nil)
}

// The PROXY header before TLS (HAProxy `server ... ssl send-proxy-v2`): the header is read first
// and the TLS analyzer gets the rest. Captures made by captures/tools/proxy-protocol-run.py with
// an upstream nginx listening `ssl proxy_protocol` and, for the mismatch, `ssl` alone.

/// What a `TLSAnalyzer` is handed when `bytes` (a PROXY header, then a ClientHello) come cut into
/// pieces of `step`, handed on as the collector does: from the piece `feed` says starts TLS, the
/// door's bytes after the header (`takeTLSStart`) or that piece itself, then every later piece.
private func handedToTLS(_ bytes: [UInt8], step: Int) -> (bytes: [UInt8], firstOffset: UInt64?, header: ProxyHeader?) {
    var door = ConnectionAnalysis(canStartTLS: true)
    var handed: [UInt8] = []
    var firstOffset: UInt64?
    var started = false
    var offset = 0
    while offset < bytes.count {
        let piece = Array(bytes[offset..<min(bytes.count, offset + step)])
        if started {
            handed += piece
        } else if piece.withUnsafeBytes({ door.feed($0, direction: .client, at: UInt64(offset), frame: 1, frameOffset: 66, time: .zero) }) {
            started = true
            if let chunks = door.takeTLSStart() {
                handed += chunks.flatMap(\.bytes)
                firstOffset = chunks.first?.offset
            } else {
                handed += piece
                firstOffset = UInt64(offset)
            }
        }
        offset += piece.count
    }
    return (handed, firstOffset, door.proxyHeader)
}

@Test(arguments: [1, 5, 27, 28, 29, 40, 600])
func aTLSHandshakeAfterAPROXYHeaderGoesToTheTLSAnalyzerWithoutTheHeader(step: Int) throws {
    let signature: [UInt8] = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
    let header = signature + [0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb]
    // A ClientHello's record header and the start of its handshake message (RFC 8446 §5.1, §4).
    let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03] + [UInt8](repeating: 7, count: 32)
    let (bytes, firstOffset, found) = handedToTLS(header + hello, step: step)
    #expect(bytes == hello)
    #expect(firstOffset == 28)
    #expect(found?.version == 2)
    #expect(found?.source?.description == "192.0.2.1:56324")
}

/// `ssl send-proxy-v2` to `listen ... ssl proxy_protocol`: the header, then a TLS 1.2 handshake
/// the TLS analyzer reads (the upstream's certificate, its cipher), and the header's source is the
/// client HAProxy logged.
@Test func aPROXYHeaderBeforeTLSIsReadAndTheHandshakeAfterIt() throws {
    let (truth, result) = try recorded("haproxy/proxy-header-v2-tls-healthy.haproxy.pcap")
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .none)
    let header = try #require(connection.proxyHeader)
    #expect(header.version == 2)
    #expect(header.length == 28)
    #expect(Int(header.frame) == (truth["proxy_headers"] as? [[String: Any]])?.first?["frame"] as? Int)
    let logged = try #require((truth["gateway_errors"] as? [String])?.first?.split(separator: " ").first.map(String.init))
    #expect(header.source?.description == logged)
    let tls = try #require(connection.tls)
    #expect(tls.version == "TLS 1.2")
    #expect(tls.cipher?.hasPrefix("TLS_") == true)
}

/// `ssl send-proxy-v2` to `listen ... ssl`: nginx reads the header as a plain HTTP request
/// ("client sent invalid method"), answers 400 in plain text, and HAProxy's handshake fails: 503
/// `SC--`. The cause is the header (its frame first), the plain answer its evidence.
@Test func aPROXYHeaderBeforeTLSThatTheUpstreamDoesNotExpectFailsTheHandshake() throws {
    let (truth, result) = try recorded("haproxy/proxy-header-v2-tls-unexpected.haproxy.pcap")
    let expected = try #require((truth["expected_connections"] as? [[String: Any]])?.first)
    let logged = try #require(expected["gateway_log"] as? String)
    #expect(logged.contains(" 503 ") && logged.contains(" SC-- "))
    #expect((truth["upstream_log"] as? [String])?.contains { $0.contains(" 400 ") } == true)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .protoProxyHeaderUnexpected)
    #expect(connection.verdict.verdictClass == .serviceUnavailable)
    #expect(connection.verdict.phase == .tls)
    #expect(connection.verdict.gateways["haproxy"]?.detail == "SC")
    let evidence = try #require(connection.findings.first?.evidence)
    #expect(evidence.first?.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    #expect(evidence.first?.length == 28)
    #expect(evidence.dropFirst().first?.direction == .server)
    #expect(connection.findings.contains { $0.code == .protoTLSToPlainPort && $0.severity == .warning })
}
