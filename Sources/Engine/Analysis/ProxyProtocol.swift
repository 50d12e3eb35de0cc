import CaptureModel

/// A PROXY protocol header (HAProxy's PROXY protocol, versions 1 and 2) the gateway sent before
/// its first request, as HAProxy's `send-proxy`/`send-proxy-v2`, Varnish's `.proxy_header` and
/// nginx stream's `proxy_protocol on` do: the original client's address for an upstream that
/// expects it.
public struct ProxyHeader: Sendable, Equatable {
    /// 1 (the text line `PROXY TCP4 ...`) or 2 (the binary header after its 12-byte signature).
    public var version: Int
    /// The original connection's source and destination, when the header carries them (`PROXY
    /// UNKNOWN`, a v2 LOCAL command or an unspecified family carry none).
    public var source: Endpoint?
    public var destination: Endpoint?
    /// The header's length: the gateway's stream carries its first request from here.
    public var length: Int
    /// Where it was: the frame of its first byte and the byte's offset in that frame.
    public var frame: FrameNumber
    public var frameOffset: Int?
    /// Its first bytes (up to 108), for evidence.
    public var bytes: [UInt8]
    /// The status of the first response after it (nil when none came): an upstream that takes
    /// the header answers the request behind it; one that does not, 400.
    public var answeredWith: Int? = nil

    /// `PROXY v1 127.0.0.1:46662 → 127.0.0.1:27401`.
    public var description: String {
        let addresses = self.source.map { source in " \(source) → \(self.destination.map(String.init(describing:)) ?? "?")" } ?? " (no address)"
        return "PROXY v\(self.version)\(addresses)"
    }
}

/// Reads a PROXY protocol header at the start of the gateway's stream, before the probe sees any
/// byte: the header is taken off and the bytes after it go on as the stream (their offsets
/// unchanged). Decided from content only, so any split of the stream gives the same answer.
/// - Version 1: `PROXY ` then `TCP4`, `TCP6` or `UNKNOWN`, the addresses and ports, CRLF; at
///   most 107 bytes.
/// - Version 2: the signature `\r\n\r\n\0\r\nQUIT\n`, a version-and-command byte (0x20 LOCAL,
///   0x21 PROXY), the family byte, a 16-bit length, then the addresses (and TLVs).
/// Anything else (or a `PROXY ` line with no CRLF within 107 bytes) is not a header: every byte
/// goes on as it came.
struct ProxyHeaderReader {
    /// What the caller does with the bytes it showed.
    enum Step {
        /// Not a header: hand the held bytes (if any), then go on as usual.
        case notProxy
        /// Held: more bytes are needed.
        case hold
        /// A header: `header`; the bytes after it are in `held` (the caller hands them on).
        case header(ProxyHeader)
    }

    static let v1Prefix = Array("PROXY ".utf8)
    static let v2Signature: [UInt8] = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
    static let v1Limit = 107
    static let v2Limit = 16 + 65_535

    /// The bytes shown so far, with where they came from (handed on when decided).
    private(set) var held: [ProtocolProbe.HeldBytes] = []
    private var prefix: [UInt8] = []

    /// Whether the gateway's first byte at the stream's start may open a header: the one test
    /// nearly every connection takes (`G`, `P`OST..., a TLS record: only `P` and CR go further).
    @inline(__always)
    static func mayStart(_ first: UInt8) -> Bool { first == 0x50 || first == 0x0d }

    /// Whether the gateway's first bytes at the stream's start may open a header, as far as they
    /// go: `POST` and `PUT` start with `P` too, and are settled here without being held.
    static func mayStart(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first, self.mayStart(first) else { return false }
        let signature = first == 0x50 ? self.v1Prefix : self.v2Signature
        let shown = min(bytes.count, signature.count)
        return bytes.prefix(shown).elementsEqual(signature.prefix(shown))
    }

    /// Shows the gateway's next in-order bytes (the first at stream offset 0).
    mutating func inspect(
        _ bytes: UnsafeRawBufferPointer, at offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp
    ) -> Step {
        self.held.append(ProtocolProbe.HeldBytes(bytes: Array(bytes), offset: offset, frame: frame, frameOffset: frameOffset, time: time))
        let room = Self.v2Limit - self.prefix.count
        if room > 0 { self.prefix += bytes.prefix(room) }
        return self.decide()
    }

    /// The stream stopped (a gap, or the close) before a decision: not a header.
    mutating func stop() -> Step { .notProxy }

    private mutating func decide() -> Step {
        guard let first = self.prefix.first else { return .hold }
        if first == 0x50 {
            for (index, byte) in Self.v1Prefix.enumerated() {
                guard index < self.prefix.count else { return .hold }
                if self.prefix[index] != byte { return .notProxy }
            }
            let searched = self.prefix.prefix(Self.v1Limit)
            guard let cr = searched.indices.first(where: { $0 + 1 < searched.count && searched[$0] == 0x0d && searched[$0 + 1] == 0x0a }) else {
                return self.prefix.count >= Self.v1Limit ? .notProxy : .hold
            }
            return self.v1(lineEnd: cr)
        }
        for (index, byte) in Self.v2Signature.enumerated() {
            guard index < self.prefix.count else { return .hold }
            if self.prefix[index] != byte { return .notProxy }
        }
        guard self.prefix.count >= 16 else { return .hold }
        let length = Int(self.prefix[14]) << 8 | Int(self.prefix[15])
        guard self.prefix.count >= 16 + length else { return .hold }
        guard self.prefix[12] >> 4 == 2 else { return .notProxy }
        return self.v2(length: length)
    }

    /// `PROXY TCP4 192.0.2.1 192.0.2.2 56324 443` ending at `lineEnd` (its CR).
    private mutating func v1(lineEnd: Int) -> Step {
        let line = String(decoding: self.prefix[Self.v1Prefix.count..<lineEnd], as: UTF8.self)
        let words = line.split(separator: " ", omittingEmptySubsequences: false)
        var source: Endpoint?
        var destination: Endpoint?
        switch words.first {
        case "TCP4", "TCP6":
            guard words.count == 5, let from = IPAddress(parsing: words[1]), let to = IPAddress(parsing: words[2]),
                  let fromPort = UInt16(words[3]), let toPort = UInt16(words[4])
            else { return .notProxy }
            source = Endpoint(address: from, port: fromPort)
            destination = Endpoint(address: to, port: toPort)
        case "UNKNOWN":
            break
        default:
            return .notProxy
        }
        return self.found(version: 1, length: lineEnd + 2, source: source, destination: destination)
    }

    /// The binary header: `length` bytes after the first 16.
    private mutating func v2(length: Int) -> Step {
        let body = Array(self.prefix[16..<(16 + length)])
        var source: Endpoint?
        var destination: Endpoint?
        // The PROXY command (low nibble 1) with TCP over IPv4 (0x11) or IPv6 (0x21) carries
        // addresses; LOCAL (0) and other families carry none that matter here.
        if self.prefix[12] & 0x0f == 1 {
            func port(_ at: Int) -> UInt16 { UInt16(body[at]) << 8 | UInt16(body[at + 1]) }
            switch self.prefix[13] {
            case 0x11 where body.count >= 12:
                let from = body[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let to = body[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                source = Endpoint(address: .v4(from), port: port(8))
                destination = Endpoint(address: .v4(to), port: port(10))
            case 0x21 where body.count >= 36:
                func v6(_ at: Int) -> IPAddress {
                    let high = body[at..<(at + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    let low = body[(at + 8)..<(at + 16)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    return .v6(high: high, low: low)
                }
                source = Endpoint(address: v6(0), port: port(32))
                destination = Endpoint(address: v6(16), port: port(34))
            default:
                break
            }
        }
        return self.found(version: 2, length: 16 + length, source: source, destination: destination)
    }

    /// A header of `length` bytes: `held` keeps only the bytes after it.
    private mutating func found(version: Int, length: Int, source: Endpoint?, destination: Endpoint?) -> Step {
        let first = self.held[0]
        let header = ProxyHeader(
            version: version, source: source, destination: destination, length: length, frame: first.frame,
            frameOffset: first.frameOffset, bytes: Array(self.prefix.prefix(108)))
        var rest: [ProtocolProbe.HeldBytes] = []
        var skip = length
        for var chunk in self.held {
            if skip >= chunk.bytes.count {
                skip -= chunk.bytes.count
                continue
            }
            if skip > 0 {
                chunk.bytes.removeFirst(skip)
                chunk.offset += UInt64(skip)
                chunk.frameOffset = chunk.frameOffset.map { $0 + skip }
                skip = 0
            }
            rest.append(chunk)
        }
        self.held = rest
        self.prefix = []
        return .header(header)
    }
}
