import CaptureModel
import TLSRecords
import Testing

/// Builders for TLS bytes (RFC 8446 §4, RFC 5246 §7.4).
enum Wire {
    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func u24(_ v: Int) -> [UInt8] { [UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func record(_ type: UInt8, _ body: [UInt8], version: Int = 0x0303) -> [UInt8] { [type] + u16(version) + u16(body.count) + body }
    static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type] + u24(body.count) + body }
    static func ext(_ type: Int, _ data: [UInt8]) -> [UInt8] { u16(type) + u16(data.count) + data }

    static func clientHello(sni: String?, alpn: [String] = ["http/1.1"], versions: [Int] = [0x0304, 0x0303]) -> [UInt8] {
        var extensions: [UInt8] = []
        if let sni {
            let name = Array(sni.utf8)
            let entry = [UInt8(0)] + u16(name.count) + name
            extensions += ext(0, u16(entry.count) + entry)
        }
        let protocols = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        extensions += ext(16, u16(protocols.count) + protocols)
        let list = versions.flatMap(u16)
        extensions += ext(43, [UInt8(list.count)] + list)
        extensions += ext(10, u16(4) + u16(0x001d) + u16(0x0017))
        let suites = [0x1301, 0x1302, 0xc02f].flatMap(u16)
        let body = u16(0x0303) + [UInt8](repeating: 0xaa, count: 32) + [0] + u16(suites.count) + suites + [1, 0]
            + u16(extensions.count) + extensions
        return handshake(1, body)
    }

    static func serverHello(version: Int? = nil, cipher: Int = 0xc02f, random: [UInt8] = [UInt8](repeating: 0xbb, count: 32)) -> [UInt8] {
        var extensions: [UInt8] = []
        if let version { extensions += ext(43, u16(version)) }
        let body = u16(0x0303) + random + [0] + u16(cipher) + [0] + u16(extensions.count) + extensions
        return handshake(2, body)
    }

    static func certificate(_ chain: [[UInt8]]) -> [UInt8] {
        let list = chain.flatMap { u24($0.count) + $0 }
        return handshake(11, u24(list.count) + list)
    }
}

/// Feeds a conversation to a `TLSConnection`, each direction cut at the given points.
struct TLSExchange {
    var connection = TLSConnection()
    var offsets: [Direction: UInt64] = [.client: 0, .server: 0]
    var frame: FrameNumber = 0

    mutating func send(_ direction: Direction, _ bytes: [UInt8], cuts: [Int] = []) {
        var start = 0
        for cut in (cuts.sorted() + [bytes.count]) where cut > start && cut <= bytes.count {
            self.frame += 1
            let piece = Array(bytes[start..<cut])
            piece.withUnsafeBytes { raw in
                self.connection.feed(raw, direction: direction, at: self.offsets[direction]!, frame: self.frame, frameOffset: 66,
                                     time: Timestamp(nanoseconds: Int64(self.frame) * 1_000_000))
            }
            self.offsets[direction]! += UInt64(piece.count)
            start = cut
        }
    }

    /// What must not depend on how the bytes were cut.
    var summary: String {
        let c = self.connection
        return "\(String(describing: c.clientHello?.serverName)) \(String(describing: c.clientHello?.alpn)) \(String(describing: c.serverHello?.version)) "
            + "\(String(describing: c.serverHello?.cipherSuite)) \(c.certificates.count) \(c.certificates.map(\.count)) "
            + "\(c.alerts.map { "\($0.direction)\($0.level)/\($0.description)@\($0.location.offset)" }) \(c.handshakeComplete) "
            + "\(c.clientApplicationRecords) \(c.serverApplicationRecords) \(c.certificateRequest != nil)"
    }
}

let leaf = [UInt8](repeating: 0x30, count: 700)
let intermediate = [UInt8](repeating: 0x31, count: 600)

/// A TLS 1.2 handshake: the server's flight spans three records, the Certificate split across two.
func tls12Conversation(_ exchange: inout TLSExchange, split: Bool) {
    let hello = Wire.record(22, Wire.clientHello(sni: "upstream.test"))
    let flight = Wire.serverHello() + Wire.certificate([leaf, intermediate]) + Wire.handshake(14, [])
    let first = Array(flight.prefix(500))
    let second = Array(flight.dropFirst(500))
    let serverBytes = Wire.record(22, first) + Wire.record(22, second)
    let clientFinish = Wire.record(22, Wire.handshake(16, [0, 2, 1, 2])) + Wire.record(20, [1]) + Wire.record(22, [UInt8](repeating: 9, count: 40))
    let serverFinish = Wire.record(20, [1]) + Wire.record(22, [UInt8](repeating: 8, count: 40))
    let request = Wire.record(23, [UInt8](repeating: 7, count: 120))
    let response = Wire.record(23, [UInt8](repeating: 6, count: 300))
    func cuts(_ bytes: [UInt8]) -> [Int] { split ? Array(1..<bytes.count) : [] }
    exchange.send(.client, hello, cuts: cuts(hello))
    exchange.send(.server, serverBytes, cuts: cuts(serverBytes))
    exchange.send(.client, clientFinish, cuts: cuts(clientFinish))
    exchange.send(.server, serverFinish, cuts: cuts(serverFinish))
    exchange.send(.client, request, cuts: cuts(request))
    exchange.send(.server, response, cuts: cuts(response))
}

@Test func tls12HandshakeIsReadWithItsChain() throws {
    var exchange = TLSExchange()
    tls12Conversation(&exchange, split: false)
    let c = exchange.connection
    let hello = try #require(c.clientHello)
    #expect(hello.serverName == "upstream.test")
    #expect(hello.alpn == ["http/1.1"])
    #expect(hello.supportedVersions == [0x0304, 0x0303])
    #expect(hello.supportedGroups == [0x001d, 0x0017])
    #expect(hello.cipherSuites == [0x1301, 0x1302, 0xc02f])
    #expect(hello.location.frame == 1)
    #expect(hello.location.offset == 0)
    #expect(c.serverHello?.version == 0x0303)
    #expect(c.serverHello?.cipherSuite == 0xc02f)
    #expect(c.certificates == [leaf, intermediate])
    #expect(c.certificateLocation?.frame == 2)
    #expect(c.handshakeComplete)
    #expect(c.clientApplicationRecords == 1)
    #expect(c.serverApplicationRecords == 1)
    #expect(c.alerts.isEmpty)
}

@Test func recordsSplitAtEveryByteGiveTheSameResult() {
    var whole = TLSExchange()
    tls12Conversation(&whole, split: false)
    var split = TLSExchange()
    tls12Conversation(&split, split: true)
    #expect(split.summary == whole.summary)
    #expect(split.connection.certificates == [leaf, intermediate])
}

@Test func serverAlertInTheClearIsReadWithItsBytes() throws {
    var exchange = TLSExchange()
    exchange.send(.client, Wire.record(22, Wire.clientHello(sni: nil)))
    exchange.send(.server, Wire.record(21, [2, 112]), cuts: [3])
    let alert = try #require(exchange.connection.alerts.first)
    #expect(alert.direction == .server)
    #expect(alert.level == 2)
    #expect(alert.description == 112)
    #expect(alert.location.frame == 2)
    #expect(alert.location.offset == 0)
    #expect(alert.bytes == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70])
    #expect(exchange.connection.clientHello?.serverName == nil)
    #expect(TLSNames.alert(112) == "unrecognized_name")
    #expect(FindingCode.tlsAlert(40).description == "tls.alert.handshake_failure")
}

@Test func tls13IsRecognisedAndItsHandshakeEndsAtTheClientFinished() {
    var exchange = TLSExchange()
    exchange.send(.client, Wire.record(22, Wire.clientHello(sni: "upstream.test"), version: 0x0301))
    exchange.send(.server, Wire.record(22, Wire.serverHello(version: 0x0304, cipher: 0x1301)) + Wire.record(20, [1])
        + Wire.record(23, [UInt8](repeating: 1, count: 2000)))
    #expect(exchange.connection.serverHello?.version == 0x0304)
    #expect(!exchange.connection.handshakeComplete)
    exchange.send(.client, Wire.record(20, [1]) + Wire.record(23, [UInt8](repeating: 2, count: 53)))
    #expect(exchange.connection.handshakeComplete)
    #expect(exchange.connection.firstClientEncrypted?.length == 53)
    exchange.send(.client, Wire.record(23, [UInt8](repeating: 3, count: 100)))
    #expect(exchange.connection.clientApplicationRecords == 1)
}

@Test func helloRetryRequestIsKeptApart() throws {
    var exchange = TLSExchange()
    exchange.send(.client, Wire.record(22, Wire.clientHello(sni: "a")))
    let retryRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]
    exchange.send(.server, Wire.record(22, Wire.serverHello(version: 0x0304, cipher: 0x1301, random: retryRandom)))
    #expect(exchange.connection.helloRetry != nil)
    #expect(exchange.connection.serverHello == nil)
}

@Test func plainTextAnswerIsNotTLS() throws {
    var exchange = TLSExchange()
    exchange.send(.client, Wire.record(22, Wire.clientHello(sni: "a")))
    exchange.send(.server, Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
    let notTLS = try #require(exchange.connection.serverNotTLS)
    #expect(notTLS.location.frame == 2)
    #expect(notTLS.bytes == Array("HTTP/".utf8))
}

@Test func certificateRequestIsNoticed() {
    var exchange = TLSExchange()
    exchange.send(.client, Wire.record(22, Wire.clientHello(sni: "a")))
    exchange.send(.server, Wire.record(22, Wire.serverHello() + Wire.certificate([leaf]) + Wire.handshake(13, [1, 1, 0, 0, 0, 0]) + Wire.handshake(14, [])))
    #expect(exchange.connection.certificateRequest?.frame == 2)
}
