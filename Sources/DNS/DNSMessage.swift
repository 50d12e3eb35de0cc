import CaptureModel

/// One DNS message (RFC 1035 §4.1): the header, the first question, the answer records and the
/// EDNS OPT record (RFC 6891), read from borrowed bytes.
///
/// Names are kept lowercased without the trailing dot (`api.internal`); the authority and
/// additional sections are walked only to find the OPT record.
public struct DNSMessage: Hashable, Sendable {
    /// The response codes a gateway's resolver reports (RFC 1035 §4.1.1, RFC 6895 §2.3).
    public enum ResponseCode: Hashable, Sendable, CustomStringConvertible {
        case noError
        case formatError
        case serverFailure
        case nameError
        case notImplemented
        case refused
        /// Any other value, with EDNS's extended bits when an OPT record carries them.
        case other(UInt16)

        /// From the 4-bit header field and the OPT record's upper 8 bits.
        public init(_ value: UInt16) {
            switch value {
            case 0: self = .noError
            case 1: self = .formatError
            case 2: self = .serverFailure
            case 3: self = .nameError
            case 4: self = .notImplemented
            case 5: self = .refused
            default: self = .other(value)
            }
        }

        /// The number on the wire.
        public var value: UInt16 {
            switch self {
            case .noError: return 0
            case .formatError: return 1
            case .serverFailure: return 2
            case .nameError: return 3
            case .notImplemented: return 4
            case .refused: return 5
            case .other(let value): return value
            }
        }

        /// The IANA mnemonic (`NXDOMAIN`), or `RCODE n`.
        public var description: String {
            switch self {
            case .noError: return "NOERROR"
            case .formatError: return "FORMERR"
            case .serverFailure: return "SERVFAIL"
            case .nameError: return "NXDOMAIN"
            case .notImplemented: return "NOTIMP"
            case .refused: return "REFUSED"
            case .other(let value): return "RCODE \(value)"
            }
        }
    }

    /// What an answer record carries, for the types a gateway asks for.
    public enum RecordData: Hashable, Sendable {
        /// An A record's address.
        case address(IPAddress)
        /// A CNAME's target.
        case canonicalName(String)
        /// Any other type: its number only.
        case other(type: UInt16)
    }

    /// One record of the answer section.
    public struct Record: Hashable, Sendable {
        /// The owner name.
        public var name: String
        /// The type (1 = A, 28 = AAAA, 5 = CNAME).
        public var type: UInt16
        /// Time to live, seconds (RFC 2181 §8: a value with the top bit set is 0).
        public var ttl: UInt32
        /// What it says.
        public var data: RecordData
    }

    /// The EDNS OPT pseudo-record (RFC 6891 §6.1.2).
    public struct EDNS: Hashable, Sendable {
        /// The largest UDP payload the sender can take.
        public var udpPayloadSize: UInt16
        /// The EDNS version.
        public var version: UInt8
        /// The DNSSEC OK bit (RFC 3225).
        public var dnssecOK: Bool
    }

    /// The transaction id that pairs a response with its query.
    public var id: UInt16
    /// QR: a response rather than a query.
    public var isResponse: Bool
    /// The opcode (0 = QUERY).
    public var opcode: UInt8
    /// TC: the message was cut to fit a UDP datagram; the resolver should ask again over TCP
    /// (RFC 1035 §4.2.1, RFC 7766 §5).
    public var isTruncated: Bool
    /// RD.
    public var recursionDesired: Bool
    /// The response code, EDNS's extended bits included.
    public var responseCode: ResponseCode
    /// The first question's name, lowercased, without the trailing dot (`""` for the root, and
    /// when there is no question).
    public var questionName: String
    /// The first question's type (1 = A, 28 = AAAA), 0 without a question.
    public var questionType: UInt16
    /// How many questions the header announced.
    public var questionCount: UInt16
    /// The answer section, at most `maximumRecordsKept` of it.
    public var answers: [Record]
    /// The OPT record, when there is one.
    public var edns: EDNS?

    /// Answer records kept of one message; more are skipped.
    public static let maximumRecordsKept = 64

    /// The addresses of the A and AAAA records answering the question's name (or a name a CNAME
    /// chain from it reaches), in order.
    public var addresses: [IPAddress] {
        self.answers.compactMap {
            if case .address(let address) = $0.data { return address }
            return nil
        }
    }

    /// The smallest TTL of the address records, when there are any.
    public var minimumTTL: UInt32? {
        self.answers.filter { if case .address = $0.data { return true } else { return false } }.map(\.ttl).min()
    }
}

/// Why a DNS message could not be read.
public enum DNSParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes end before what the header announced (a cut capture, or a sender's lie).
    case truncated(at: Int)
    /// Bytes that cannot be right: a compression pointer forward or into a loop, a label type
    /// RFC 6891 retired, a name longer than 255 bytes.
    case malformed(at: Int, reason: StaticString)

    public static func == (lhs: DNSParseError, rhs: DNSParseError) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.description)
    }

    /// `truncated at 14`, `malformed at 12: label type not in use`.
    public var description: String {
        switch self {
        case .truncated(let offset): return "truncated at \(offset)"
        case .malformed(let offset, let reason): return "malformed at \(offset): \(reason)"
        }
    }
}

extension DNSMessage {
    /// Reads one message from `bytes` (a UDP payload, or a TCP message without its length).
    /// Never traps: every read is bounded by `bytes.count`, and every name by 255 bytes and by
    /// compression pointers that only point backwards.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<DNSMessage, DNSParseError> {
        var reader = DNSReader(bytes)
        // RFC 1035 §4.1.1: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
        guard let id = reader.u16(), let flags = reader.u16(), let questions = reader.u16(), let answerCount = reader.u16(),
              let authorityCount = reader.u16(), let additionalCount = reader.u16()
        else { return .failure(.truncated(at: reader.index)) }
        var message = DNSMessage(
            id: id, isResponse: flags & 0x8000 != 0, opcode: UInt8((flags >> 11) & 0x0f), isTruncated: flags & 0x0200 != 0,
            recursionDesired: flags & 0x0100 != 0, responseCode: ResponseCode(flags & 0x000f), questionName: "", questionType: 0,
            questionCount: questions, answers: [], edns: nil)
        for index in 0..<Int(questions) {
            let name: String
            switch reader.name() {
            case .success(let read): name = read
            case .failure(let error): return .failure(error)
            }
            guard let type = reader.u16(), reader.skip(2) else { return .failure(.truncated(at: reader.index)) }
            if index == 0 {
                message.questionName = name
                message.questionType = type
            }
        }
        let records = Int(answerCount) + Int(authorityCount) + Int(additionalCount)
        for index in 0..<records {
            let name: String
            switch reader.name() {
            case .success(let read): name = read
            case .failure(let error): return .failure(error)
            }
            // RFC 1035 §4.1.3: TYPE, CLASS, TTL, RDLENGTH, RDATA.
            guard let type = reader.u16(), let recordClass = reader.u16(), let ttl = reader.u32(), let length = reader.u16()
            else { return .failure(.truncated(at: reader.index)) }
            let dataStart = reader.index
            guard reader.skip(Int(length)) else { return .failure(.truncated(at: dataStart)) }
            if index < Int(answerCount) {
                guard message.answers.count < Self.maximumRecordsKept else { continue }
                var data = RecordData.other(type: type)
                if type == 1, length == 4, let value = reader.u32(at: dataStart) {
                    data = .address(.v4(value))
                } else if type == 28, length == 16, let high = reader.u64(at: dataStart), let low = reader.u64(at: dataStart + 8) {
                    data = .address(.v6(high: high, low: low))
                } else if type == 5 {
                    var inner = reader
                    inner.index = dataStart
                    if case .success(let target) = inner.name(), inner.index == dataStart + Int(length) {
                        data = .canonicalName(target)
                    } else {
                        return .failure(.malformed(at: dataStart, reason: "CNAME data is not one name"))
                    }
                }
                message.answers.append(Record(name: name, type: type, ttl: ttl & 0x8000_0000 == 0 ? ttl : 0, data: data))
            } else if type == 41, name.isEmpty, message.edns == nil {
                // RFC 6891 §6.1.3: CLASS is the payload size; TTL holds the extended RCODE's
                // upper 8 bits, the version and the DO bit.
                message.edns = EDNS(udpPayloadSize: recordClass, version: UInt8((ttl >> 16) & 0xff), dnssecOK: ttl & 0x8000 != 0)
                message.responseCode = ResponseCode(UInt16(ttl >> 24) << 4 | (flags & 0x000f))
            }
        }
        return .success(message)
    }
}

/// A read position in a DNS message; reads return `nil` when the bytes run short.
struct DNSReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func u16() -> UInt16? {
        guard let value = self.u16(at: self.index) else { return nil }
        self.index += 2
        return value
    }

    mutating func u32() -> UInt32? {
        guard let value = self.u32(at: self.index) else { return nil }
        self.index += 4
        return value
    }

    func u8(at offset: Int) -> UInt8? {
        offset >= 0 && offset < self.bytes.count ? self.bytes[offset] : nil
    }

    func u16(at offset: Int) -> UInt16? {
        guard offset >= 0, offset + 2 <= self.bytes.count else { return nil }
        return UInt16(bigEndian: self.bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    func u32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= self.bytes.count else { return nil }
        return UInt32(bigEndian: self.bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func u64(at offset: Int) -> UInt64? {
        guard offset >= 0, offset + 8 <= self.bytes.count else { return nil }
        return UInt64(bigEndian: self.bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, self.index + count <= self.bytes.count else { return false }
        self.index += count
        return true
    }

    /// Reads a domain name at the current position (RFC 1035 §4.1.4), following compression
    /// pointers, and moves past it (past the first pointer, when there is one).
    ///
    /// A pointer must point before the label that holds it, so a chain of them always ends;
    /// a name may not grow past 255 bytes (RFC 1035 §3.1).
    mutating func name() -> Result<String, DNSParseError> {
        var out: [UInt8] = []
        var position = self.index
        var resumeAt: Int?
        // The lowest offset a pointer may reach next: strictly before every label read so far.
        var limit = self.index
        var wireLength = 0
        while true {
            guard let length = self.u8(at: position) else { return .failure(.truncated(at: position)) }
            switch length & 0xc0 {
            case 0x00:
                if length == 0 {
                    self.index = resumeAt ?? (position + 1)
                    return .success(String(decoding: out, as: UTF8.self))
                }
                let count = Int(length)
                guard position + 1 + count <= self.bytes.count else { return .failure(.truncated(at: position)) }
                wireLength += count + 1
                guard wireLength <= 255 else { return .failure(.malformed(at: position, reason: "name longer than 255 bytes")) }
                if !out.isEmpty { out.append(UInt8(ascii: ".")) }
                for offset in (position + 1)..<(position + 1 + count) {
                    let byte = self.bytes[offset]
                    // Lowercase ASCII. A dot inside a label becomes `_`, as a person would read
                    // a dot as a separator; a byte that is not printable ASCII becomes `?`, one
                    // byte for one (as UTF-8 it could be an invalid sequence, which a String
                    // would replace with three bytes, and a name would outgrow its 255).
                    switch byte {
                    case 0x41...0x5a: out.append(byte | 0x20)
                    case UInt8(ascii: "."): out.append(UInt8(ascii: "_"))
                    case 0x21...0x7e: out.append(byte)
                    default: out.append(UInt8(ascii: "?"))
                    }
                }
                position += 1 + count
            case 0xc0:
                guard let second = self.u8(at: position + 1) else { return .failure(.truncated(at: position)) }
                let target = Int(length & 0x3f) << 8 | Int(second)
                guard target < limit else {
                    return .failure(.malformed(at: position, reason: "compression pointer that does not point backwards"))
                }
                if resumeAt == nil { resumeAt = position + 2 }
                limit = target
                position = target
            default:
                // 0x40 (extended label types, RFC 6891 §5) and 0x80 are not in use.
                return .failure(.malformed(at: position, reason: "label type not in use"))
            }
        }
    }
}
