import CaptureModel

/// Where a TLS message's first byte is: stream offset, frame and offset in frame.
public struct TLSLocation: Hashable, Sendable {
    /// Stream offset (of the direction) of the record or message's first byte.
    public var offset: UInt64
    /// The frame it came in.
    public var frame: FrameNumber
    /// Its offset in that frame, when known.
    public var frameOffset: Int?
    /// When that frame was captured.
    public var time: Timestamp

    /// A location from its parts.
    public init(offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp) {
        self.offset = offset
        self.frame = frame
        self.frameOffset = frameOffset
        self.time = time
    }
}

/// A run of bytes in one direction's stream that carries a TLS message: where it starts, how
/// long it is, and its first bytes.
public struct TLSSpan: Hashable, Sendable {
    /// Where the first byte is.
    public var location: TLSLocation
    /// How many stream bytes it covers.
    public var length: UInt64
    /// Its first bytes (at most `firstBytesLimit`), for evidence.
    public var firstBytes: [UInt8]
    /// Whether the bytes are a protected record whose plaintext is the message (TLS 1.3 with a
    /// key log), rather than the message in the clear.
    public var encrypted: Bool

    /// How many of the first bytes are kept.
    public static let firstBytesLimit = 64

    /// A span from its parts.
    public init(location: TLSLocation, length: UInt64, firstBytes: [UInt8], encrypted: Bool) {
        self.location = location
        self.length = length
        self.firstBytes = firstBytes
        self.encrypted = encrypted
    }
}

/// What the gateway offered (RFC 8446 §4.1.2).
public struct ClientHello: Hashable, Sendable {
    public var legacyVersion: UInt16
    public var random: [UInt8]
    public var cipherSuites: [UInt16]
    /// The `server_name` extension's host name, `nil` when absent (`tls.sni.missing`).
    public var serverName: String?
    public var alpn: [String]
    /// `supported_versions`, empty when the extension is absent (TLS 1.2 and earlier clients).
    public var supportedVersions: [UInt16]
    public var supportedGroups: [UInt16]
    /// Whether it carries the `early_data` extension: TLS 1.3 0-RTT data follows it (RFC 8446 §4.2.10).
    public var offersEarlyData = false
    public var location: TLSLocation

    /// The highest version the gateway offered.
    public var highestVersion: UInt16 {
        self.supportedVersions.filter { $0 & 0x0f0f == $0 && $0 >= 0x0300 && $0 <= 0x0304 }.max() ?? self.legacyVersion
    }
}

/// What the upstream chose (RFC 8446 §4.1.3).
public struct ServerHello: Hashable, Sendable {
    public var legacyVersion: UInt16
    public var random: [UInt8]
    public var cipherSuite: UInt16
    /// From `supported_versions` when present (TLS 1.3), else the legacy version.
    public var version: UInt16
    public var alpn: String?
    /// RFC 8446 §4.1.3: a ServerHello whose random is the special HelloRetryRequest value.
    public var isHelloRetryRequest: Bool
    public var location: TLSLocation

    /// SHA-256("HelloRetryRequest"), RFC 8446 §4.1.3.
    static let helloRetryRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]
}

/// An alert record, read in the clear or opened with the key log.
public struct TLSAlert: Hashable, Sendable {
    /// Who sent it.
    public var direction: Direction
    /// 1 warning, 2 fatal.
    public var level: UInt8
    /// The description (RFC 8446 §6).
    public var description: UInt8
    public var location: TLSLocation
    /// The record's bytes as sent (5-byte header and 2-byte body; for a protected record, its
    /// header and ciphertext), for evidence.
    public var bytes: [UInt8]
    /// Whether the record was protected and opened with the key log (the level and description
    /// are its plaintext's; `bytes` are what the wire carried).
    public var decrypted = false
}

/// A bounds-checked reader over a handshake message body.
struct TLSReader {
    let bytes: [UInt8]
    var index: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.index = start
        self.end = end ?? bytes.count
    }

    var remaining: Int { self.end - self.index }

    mutating func u8() -> UInt8? {
        guard self.remaining >= 1 else { return nil }
        defer { self.index += 1 }
        return self.bytes[self.index]
    }

    mutating func u16() -> UInt16? {
        guard self.remaining >= 2 else { return nil }
        defer { self.index += 2 }
        return UInt16(self.bytes[self.index]) << 8 | UInt16(self.bytes[self.index + 1])
    }

    mutating func u24() -> Int? {
        guard self.remaining >= 3 else { return nil }
        defer { self.index += 3 }
        return Int(self.bytes[self.index]) << 16 | Int(self.bytes[self.index + 1]) << 8 | Int(self.bytes[self.index + 2])
    }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, self.remaining >= count else { return nil }
        defer { self.index += count }
        return Array(self.bytes[self.index..<(self.index + count)])
    }

    /// A sub-reader over the next `count` bytes, which this reader skips.
    mutating func sub(_ count: Int) -> TLSReader? {
        guard count >= 0, self.remaining >= count else { return nil }
        defer { self.index += count }
        return TLSReader(self.bytes, from: self.index, end: self.index + count)
    }
}

enum HandshakeParser {
    static func clientHello(_ body: [UInt8], location: TLSLocation) -> ClientHello? {
        var r = TLSReader(body)
        guard let version = r.u16(), let random = r.take(32), let sessionLength = r.u8(), r.take(Int(sessionLength)) != nil,
              let suitesLength = r.u16(), var suites = r.sub(Int(suitesLength)),
              let compressionLength = r.u8(), r.take(Int(compressionLength)) != nil
        else { return nil }
        var hello = ClientHello(
            legacyVersion: version, random: random, cipherSuites: [], serverName: nil, alpn: [], supportedVersions: [],
            supportedGroups: [], location: location)
        while let suite = suites.u16() { hello.cipherSuites.append(suite) }
        guard let extensionsLength = r.u16(), var extensions = r.sub(Int(extensionsLength)) else { return hello }
        while let type = extensions.u16(), let length = extensions.u16(), var data = extensions.sub(Int(length)) {
            switch type {
            case 0:  // server_name (RFC 6066 §3)
                if let listLength = data.u16(), var list = data.sub(Int(listLength)) {
                    while let nameType = list.u8(), let nameLength = list.u16(), let name = list.take(Int(nameLength)) {
                        if nameType == 0 { hello.serverName = String(decoding: name, as: UTF8.self) }
                    }
                }
            case 16:  // application_layer_protocol_negotiation (RFC 7301 §3.1)
                if let listLength = data.u16(), var list = data.sub(Int(listLength)) {
                    while let length = list.u8(), let name = list.take(Int(length)) {
                        hello.alpn.append(String(decoding: name, as: UTF8.self))
                    }
                }
            case 43:  // supported_versions (RFC 8446 §4.2.1)
                if let length = data.u8(), var list = data.sub(Int(length)) {
                    while let version = list.u16() { hello.supportedVersions.append(version) }
                }
            case 42:  // early_data (RFC 8446 §4.2.10)
                hello.offersEarlyData = true
            case 10:  // supported_groups (RFC 8446 §4.2.7)
                if let length = data.u16(), var list = data.sub(Int(length)) {
                    while let group = list.u16() { hello.supportedGroups.append(group) }
                }
            default:
                break
            }
        }
        return hello
    }

    static func serverHello(_ body: [UInt8], location: TLSLocation) -> ServerHello? {
        var r = TLSReader(body)
        guard let version = r.u16(), let random = r.take(32), let sessionLength = r.u8(), r.take(Int(sessionLength)) != nil,
              let suite = r.u16(), r.u8() != nil
        else { return nil }
        var hello = ServerHello(
            legacyVersion: version, random: random, cipherSuite: suite, version: version, alpn: nil,
            isHelloRetryRequest: random == ServerHello.helloRetryRandom, location: location)
        guard let extensionsLength = r.u16(), var extensions = r.sub(Int(extensionsLength)) else { return hello }
        while let type = extensions.u16(), let length = extensions.u16(), var data = extensions.sub(Int(length)) {
            switch type {
            case 43:
                if let selected = data.u16() { hello.version = selected }
            case 16:
                if let listLength = data.u16(), var list = data.sub(Int(listLength)), let length = list.u8(), let name = list.take(Int(length)) {
                    hello.alpn = String(decoding: name, as: UTF8.self)
                }
            default:
                break
            }
        }
        return hello
    }

    /// TLS 1.2 Certificate (RFC 5246 §7.4.2): the DER certificates, leaf first.
    static func certificates(_ body: [UInt8]) -> [[UInt8]]? {
        var r = TLSReader(body)
        guard let total = r.u24(), var list = r.sub(total) else { return nil }
        var chain: [[UInt8]] = []
        while list.remaining > 0 {
            guard let length = list.u24(), let der = list.take(length) else { return nil }
            chain.append(der)
        }
        return chain
    }
}

/// What a connection's TLS 1.3 early data (0-RTT) looked like.
public struct EarlyData: Hashable, Sendable {
    /// Protected records the client sent as early data.
    public var records = 0
    /// Their ciphertext bytes.
    public var bytes = 0
    /// The first of them (its record header).
    public var first: TLSLocation?
    /// The first record's length on the wire, header included.
    public var firstRecordLength = 0
    /// How many the key log's CLIENT_EARLY_TRAFFIC_SECRET opened.
    public var decryptedRecords = 0

    /// None seen.
    public init() {}

    mutating func note(length: Int, location: TLSLocation) {
        if self.first == nil {
            self.first = location
            self.firstRecordLength = 5 + length
        }
        self.records += 1
        self.bytes += length
    }
}
