import CaptureModel
import Testing

@testable import DNS

/// DNS messages built byte by byte, as a server would send them.
enum DNSBytes {
    /// A name as labels, `www.example.com` -> 3www7example3com0.
    static func name(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out.append(contentsOf: label.utf8)
        }
        out.append(0)
        return out
    }

    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
    static func u32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)] }

    /// A header: id, flags, and the four counts.
    static func header(id: UInt16, flags: UInt16, questions: UInt16 = 1, answers: UInt16 = 0, authority: UInt16 = 0, additional: UInt16 = 0) -> [UInt8] {
        u16(id) + u16(flags) + u16(questions) + u16(answers) + u16(authority) + u16(additional)
    }

    /// A query for `name` of `type`.
    static func query(id: UInt16 = 0x1234, name: String, type: UInt16 = 1) -> [UInt8] {
        header(id: id, flags: 0x0100) + self.name(name) + u16(type) + u16(1)
    }

    /// A response with A records (each name a pointer to the question at offset 12).
    static func response(id: UInt16 = 0x1234, name: String, rcode: UInt16 = 0, tc: Bool = false, addresses: [UInt32] = [], ttl: UInt32 = 30) -> [UInt8] {
        var out = header(id: id, flags: 0x8180 | rcode | (tc ? 0x0200 : 0), answers: UInt16(addresses.count)) + self.name(name) + u16(1) + u16(1)
        for address in addresses {
            out += [0xc0, 0x0c] + u16(1) + u16(1) + u32(ttl) + u16(4) + u32(address)
        }
        return out
    }

    static func parse(_ bytes: [UInt8]) -> Result<DNSMessage, DNSParseError> {
        bytes.withUnsafeBytes { DNSMessage.parse($0) }
    }
}

@Suite struct DNSMessageTests {
    @Test func queryReadsHeaderAndQuestion() throws {
        let message = try DNSBytes.parse(DNSBytes.query(id: 0xbeef, name: "API.Internal", type: 28)).get()
        #expect(message.id == 0xbeef)
        #expect(!message.isResponse)
        #expect(message.recursionDesired)
        #expect(message.questionName == "api.internal")
        #expect(message.questionType == 28)
        #expect(message.answers.isEmpty)
    }

    @Test func answerFollowsCompressionPointersAndReadsTTL() throws {
        let bytes = DNSBytes.response(name: "api.internal", addresses: [0x7f00_0009, 0x7f00_0001], ttl: 30)
        let message = try DNSBytes.parse(bytes).get()
        #expect(message.isResponse)
        #expect(message.responseCode == .noError)
        #expect(message.answers.map(\.name) == ["api.internal", "api.internal"])
        #expect(message.addresses == [.v4(0x7f00_0009), .v4(0x7f00_0001)])
        #expect(message.minimumTTL == 30)
    }

    @Test(arguments: [(UInt16(3), DNSMessage.ResponseCode.nameError), (2, .serverFailure), (5, .refused)])
    func failingResponseCodes(rcode: UInt16, expected: DNSMessage.ResponseCode) throws {
        let message = try DNSBytes.parse(DNSBytes.response(name: "nx.internal", rcode: rcode)).get()
        #expect(message.responseCode == expected)
        #expect(DNSTracker.code(for: expected) != nil)
    }

    @Test func truncationBitIsRead() throws {
        let message = try DNSBytes.parse(DNSBytes.response(name: "big.internal", tc: true)).get()
        #expect(message.isTruncated)
    }

    @Test func ednsOPTRecordGivesPayloadSizeAndExtendedRCode() throws {
        // An OPT record (RFC 6891 §6.1.2): root name, type 41, class = payload size 1232, TTL =
        // extended RCODE 1 (BADVERS = 16 with the header's 0), version 0, DO set.
        var bytes = DNSBytes.header(id: 7, flags: 0x8180, additional: 1) + DNSBytes.name("a.b") + DNSBytes.u16(1) + DNSBytes.u16(1)
        bytes += [0] + DNSBytes.u16(41) + DNSBytes.u16(1232) + DNSBytes.u32(0x0100_8000) + DNSBytes.u16(0)
        let message = try DNSBytes.parse(bytes).get()
        #expect(message.edns == DNSMessage.EDNS(udpPayloadSize: 1232, version: 0, dnssecOK: true))
        #expect(message.responseCode == .other(16))
    }

    @Test func cnameChainKeepsTargetAndAddress() throws {
        var bytes = DNSBytes.header(id: 1, flags: 0x8180, answers: 2) + DNSBytes.name("www.x") + DNSBytes.u16(1) + DNSBytes.u16(1)
        let target = DNSBytes.name("edge.x")
        bytes += [0xc0, 0x0c] + DNSBytes.u16(5) + DNSBytes.u16(1) + DNSBytes.u32(60) + DNSBytes.u16(UInt16(target.count)) + target
        let targetOffset = UInt8(bytes.count - target.count)
        bytes += [0xc0, targetOffset] + DNSBytes.u16(1) + DNSBytes.u16(1) + DNSBytes.u32(20) + DNSBytes.u16(4) + DNSBytes.u32(0x0a00_0001)
        let message = try DNSBytes.parse(bytes).get()
        #expect(message.answers[0].data == .canonicalName("edge.x"))
        #expect(message.answers[1].name == "edge.x")
        #expect(message.addresses == [.v4(0x0a00_0001)])
        #expect(message.minimumTTL == 20)
    }

    @Test func pointerLoopIsMalformedNotAHang() {
        // The question's name is a pointer to itself.
        let bytes = DNSBytes.header(id: 1, flags: 0x0100) + [0xc0, 0x0c] + DNSBytes.u16(1) + DNSBytes.u16(1)
        #expect(DNSBytes.parse(bytes) == .failure(.malformed(at: 12, reason: "compression pointer that does not point backwards")))
    }

    @Test func twoPointersPointingAtEachOtherAreMalformed() {
        // Answer name at 29 points to 31, which points back to 29.
        var bytes = DNSBytes.header(id: 1, flags: 0x8180, answers: 1) + DNSBytes.name("a.b") + DNSBytes.u16(1) + DNSBytes.u16(1)
        #expect(bytes.count == 21)
        bytes += [0xc0, 23, 0xc0, 21]
        guard case .failure(.malformed) = DNSBytes.parse(bytes) else {
            Issue.record("a loop of two pointers must be malformed")
            return
        }
    }

    @Test func forwardPointerIsMalformed() {
        let bytes = DNSBytes.header(id: 1, flags: 0x0100) + [0xc0, 0x20] + DNSBytes.u16(1) + DNSBytes.u16(1) + Array(repeating: 0, count: 40)
        guard case .failure(.malformed(at: 12, _)) = DNSBytes.parse(bytes) else {
            Issue.record("a pointer forward must be malformed")
            return
        }
    }

    @Test func nameLongerThan255BytesIsMalformed() {
        let long = (0..<5).map { _ in String(repeating: "a", count: 60) }.joined(separator: ".")
        guard case .failure(.malformed(_, let reason)) = DNSBytes.parse(DNSBytes.query(name: long)) else {
            Issue.record("a 305-byte name must be malformed")
            return
        }
        #expect(reason.description == "name longer than 255 bytes")
    }

    /// A label's bytes that are not printable ASCII become `?`, one for one: a name of 253 such
    /// bytes stays within 255 bytes as text (each would have been three, U+FFFD, as UTF-8).
    /// Found by FuzzDNS: a 265-byte question name.
    @Test func bytesThatAreNotPrintableASCIIAreOneQuestionMarkEach() throws {
        var labels: [UInt8] = []
        for _ in 0..<4 { labels += [62] + [UInt8](repeating: 0xec, count: 61) + [0x20] }
        labels += [0]
        let bytes = DNSBytes.header(id: 1, flags: 0x0100) + labels + DNSBytes.u16(1) + DNSBytes.u16(1)
        let message = try DNSBytes.parse(bytes).get()
        #expect(message.questionName == Array(repeating: String(repeating: "?", count: 62), count: 4).joined(separator: "."))
        #expect(message.questionName.utf8.count == 251)
        let mixed = DNSBytes.header(id: 1, flags: 0x0100) + [5, 0x41, 0x2e, 0x7f, 0x00, 0x7a, 0] + DNSBytes.u16(1) + DNSBytes.u16(1)
        #expect(try DNSBytes.parse(mixed).get().questionName == "a_??z")
    }

    @Test func retiredLabelTypeIsMalformed() {
        let bytes = DNSBytes.header(id: 1, flags: 0x0100) + [0x41, 0x00] + DNSBytes.u16(1) + DNSBytes.u16(1)
        #expect(DNSBytes.parse(bytes) == .failure(.malformed(at: 12, reason: "label type not in use")))
    }

    @Test func everyPrefixOfAnAnswerIsTruncatedNeverACrash() {
        let bytes = DNSBytes.response(name: "api.internal", addresses: [0x7f00_0001, 0x7f00_0002])
        for length in 0..<bytes.count {
            guard case .failure(.truncated) = DNSBytes.parse(Array(bytes[..<length])) else {
                Issue.record("a message cut to \(length) of \(bytes.count) bytes must be truncated")
                continue
            }
        }
        #expect((try? DNSBytes.parse(bytes).get()) != nil)
    }

    @Test func recordLengthPastTheEndIsTruncated() {
        var bytes = DNSBytes.response(name: "a.b", addresses: [1])
        // The A record's RDLENGTH (the last 6 bytes are RDLENGTH and the address) says 200.
        bytes[bytes.count - 6] = 0
        bytes[bytes.count - 5] = 200
        #expect(DNSBytes.parse(bytes) == .failure(.truncated(at: bytes.count - 4)))
    }

    @Test func randomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        let seed = DNSBytes.response(name: "api.internal", addresses: [0x7f00_0001])
        for _ in 0..<2000 {
            var bytes = seed
            for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            _ = DNSBytes.parse(bytes)
        }
    }
}
