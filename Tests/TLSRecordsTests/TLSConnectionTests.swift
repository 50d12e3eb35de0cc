import CaptureModel
import TLSRecords
import Testing
import TestSupport

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
    let hello = TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test"))
    let flight = TLSWire.serverHello() + TLSWire.certificate([leaf, intermediate]) + TLSWire.handshake(14, [])
    let first = Array(flight.prefix(500))
    let second = Array(flight.dropFirst(500))
    let serverBytes = TLSWire.record(22, first) + TLSWire.record(22, second)
    let clientFinish = TLSWire.record(22, TLSWire.handshake(16, [0, 2, 1, 2])) + TLSWire.record(20, [1]) + TLSWire.record(22, [UInt8](repeating: 9, count: 40))
    let serverFinish = TLSWire.record(20, [1]) + TLSWire.record(22, [UInt8](repeating: 8, count: 40))
    let request = TLSWire.record(23, [UInt8](repeating: 7, count: 120))
    let response = TLSWire.record(23, [UInt8](repeating: 6, count: 300))
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
    exchange.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: nil)))
    exchange.send(.server, TLSWire.record(21, [2, 112]), cuts: [3])
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
    exchange.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test"), version: 0x0301))
    exchange.send(.server, TLSWire.record(22, TLSWire.serverHello(version: 0x0304, cipher: 0x1301)) + TLSWire.record(20, [1])
        + TLSWire.record(23, [UInt8](repeating: 1, count: 2000)))
    #expect(exchange.connection.serverHello?.version == 0x0304)
    #expect(!exchange.connection.handshakeComplete)
    exchange.send(.client, TLSWire.record(20, [1]) + TLSWire.record(23, [UInt8](repeating: 2, count: 53)))
    #expect(exchange.connection.handshakeComplete)
    #expect(exchange.connection.firstClientEncrypted?.length == 53)
    exchange.send(.client, TLSWire.record(23, [UInt8](repeating: 3, count: 100)))
    #expect(exchange.connection.clientApplicationRecords == 1)
}

@Test func helloRetryRequestIsKeptApart() throws {
    var exchange = TLSExchange()
    exchange.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "a")))
    let retryRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]
    exchange.send(.server, TLSWire.record(22, TLSWire.serverHello(version: 0x0304, cipher: 0x1301, random: retryRandom)))
    #expect(exchange.connection.helloRetry != nil)
    #expect(exchange.connection.serverHello == nil)
}

@Test func plainTextAnswerIsNotTLS() throws {
    var exchange = TLSExchange()
    exchange.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "a")))
    exchange.send(.server, Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
    let notTLS = try #require(exchange.connection.serverNotTLS)
    #expect(notTLS.location.frame == 2)
    #expect(notTLS.bytes == Array("HTTP/".utf8))
}

@Test func certificateRequestIsNoticed() {
    var exchange = TLSExchange()
    exchange.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "a")))
    exchange.send(.server, TLSWire.record(22, TLSWire.serverHello() + TLSWire.certificate([leaf]) + TLSWire.handshake(13, [1, 1, 0, 0, 0, 0]) + TLSWire.handshake(14, [])))
    #expect(exchange.connection.certificateRequest?.frame == 2)
}
