import CaptureModel
import PacketDecoding

extension FrameBuilder {
    /// An IPv4 packet (RFC 791 §3.1) with a correct header checksum.
    ///
    /// - Parameters:
    ///   - source: the source address in host byte order (`0x0a00_0001` is 10.0.0.1).
    ///   - fragmentOffset: the offset of this fragment's payload in the datagram, in bytes
    ///     (a multiple of 8).
    ///   - options: raw option bytes, padded with zeros (EOL) to a multiple of 4.
    ///   - headerLength: overrides the IHL field (in 32-bit words), to build malformed headers.
    ///   - totalLength: overrides the total length field.
    public static func ipv4(
        source: UInt32, destination: UInt32, protocol proto: UInt8, payload: [UInt8],
        identification: UInt16 = 0, fragmentOffset: Int = 0, moreFragments: Bool = false,
        dontFragment: Bool = false, options: [UInt8] = [], ttl: UInt8 = 64,
        headerLength: UInt8? = nil, totalLength: UInt16? = nil
    ) -> [UInt8] {
        precondition(fragmentOffset % 8 == 0, "FrameBuilder: fragment offsets count 8-byte units")
        var padded = options
        while padded.count % 4 != 0 { padded.append(0) }
        let words = headerLength ?? UInt8((20 + padded.count) / 4)
        var header: [UInt8] = []
        header.append(0x40 | (words & 0x0f))
        header.append(0)  // type of service
        header.appendBigEndian(totalLength ?? UInt16(20 + padded.count + payload.count))
        header.appendBigEndian(identification)
        var flagsOffset = UInt16(fragmentOffset / 8)
        if moreFragments { flagsOffset |= 0x2000 }
        if dontFragment { flagsOffset |= 0x4000 }
        header.appendBigEndian(flagsOffset)
        header.append(ttl)
        header.append(proto)
        header.appendBigEndian(UInt16(0))  // checksum, filled below
        header.appendBigEndian(source)
        header.appendBigEndian(destination)
        header += padded
        header.setBigEndian(internetChecksum(header), at: 10)
        return header + payload
    }

    /// An IPv6 packet (RFC 8200 §3) with `extensionHeaders` chained, in order, before `payload`.
    ///
    /// - Parameter payloadLength: overrides the payload length field.
    public static func ipv6(
        source: IPAddress, destination: IPAddress, nextHeader: UInt8, payload: [UInt8],
        extensionHeaders: [IPv6ExtensionHeader] = [], hopLimit: UInt8 = 64, payloadLength: UInt16? = nil
    ) -> [UInt8] {
        var chain: [UInt8] = []
        for (index, header) in extensionHeaders.enumerated() {
            let next = index + 1 < extensionHeaders.count ? extensionHeaders[index + 1].protocolNumber : nextHeader
            chain += header.encoded(nextHeader: next)
        }
        var packet: [UInt8] = []
        packet.appendBigEndian(UInt32(0x6000_0000))
        packet.appendBigEndian(payloadLength ?? UInt16(chain.count + payload.count))
        packet.append(extensionHeaders.first?.protocolNumber ?? nextHeader)
        packet.append(hopLimit)
        packet += self.addressBytes(source)
        packet += self.addressBytes(destination)
        return packet + chain + payload
    }

    /// Splits an unfragmented IPv4 packet into fragments whose payloads end at `boundaries`
    /// (byte offsets into the payload, multiples of 8, ascending), keeping the identification.
    ///
    /// The first fragment keeps the options; the others get a 20-byte header, as if no option
    /// had its copied flag set (RFC 791 §3.1). Returns IP packets: `encapsulate` each, in any order.
    public static func ipv4Fragments(of packet: [UInt8], boundaries: [Int]) -> [[UInt8]] {
        let headerLength = Int(packet[0] & 0x0f) * 4
        let payload = Array(packet[headerLength...])
        let source = UInt32(packet[12]) << 24 | UInt32(packet[13]) << 16 | UInt32(packet[14]) << 8 | UInt32(packet[15])
        let destination = UInt32(packet[16]) << 24 | UInt32(packet[17]) << 16 | UInt32(packet[18]) << 8 | UInt32(packet[19])
        let identification = UInt16(packet[4]) << 8 | UInt16(packet[5])
        let options = Array(packet[20..<headerLength])
        var fragments: [[UInt8]] = []
        var start = 0
        for end in boundaries.filter({ $0 < payload.count }) + [payload.count] {
            precondition(end == payload.count || end % 8 == 0, "FrameBuilder: fragments end on 8-byte boundaries")
            fragments.append(self.ipv4(
                source: source, destination: destination, protocol: packet[9], payload: Array(payload[start..<end]),
                identification: identification, fragmentOffset: start, moreFragments: end < payload.count,
                options: start == 0 ? options : [], ttl: packet[8]))
            start = end
        }
        return fragments
    }
}

/// An IPv6 extension header for `FrameBuilder.ipv6(extensionHeaders:)` (RFC 8200 §4).
public enum IPv6ExtensionHeader: Hashable, Sendable {
    /// Hop-by-hop options (next header 0); `options` are padded with PadN to 8 bytes.
    case hopByHop(options: [UInt8] = [])
    /// Routing (43) of `type` with `segmentsLeft`; `data` follows the 4 fixed bytes, padded to 8.
    case routing(type: UInt8 = 0, segmentsLeft: UInt8 = 0, data: [UInt8] = [0, 0, 0, 0])
    /// Fragment (44); `offset` in bytes (a multiple of 8).
    case fragment(offset: Int = 0, moreFragments: Bool = false, identification: UInt32 = 1)
    /// Destination options (60); `options` are padded with PadN to 8 bytes.
    case destinationOptions(options: [UInt8] = [])
    /// Authentication header (51, RFC 4302) with an `integrityCheck` value of 4-byte words.
    case authentication(securityParameterIndex: UInt32 = 0x100, sequence: UInt32 = 1, integrityCheck: [UInt8] = [0, 0, 0, 0])

    /// The next-header number that announces this header.
    public var protocolNumber: UInt8 {
        switch self {
        case .hopByHop: return 0
        case .routing: return 43
        case .fragment: return 44
        case .destinationOptions: return 60
        case .authentication: return 51
        }
    }

    /// The header's bytes, naming `nextHeader` as what follows it.
    public func encoded(nextHeader: UInt8) -> [UInt8] {
        switch self {
        case .hopByHop(let options), .destinationOptions(let options):
            return Self.padded([nextHeader, 0] + options)
        case .routing(let type, let segmentsLeft, let data):
            return Self.padded([nextHeader, 0, type, segmentsLeft] + data, withOptions: false)
        case .fragment(let offset, let moreFragments, let identification):
            var bytes: [UInt8] = [nextHeader, 0]
            bytes.appendBigEndian(UInt16(offset / 8) << 3 | (moreFragments ? 1 : 0))
            bytes.appendBigEndian(identification)
            return bytes
        case .authentication(let index, let sequence, let integrityCheck):
            var bytes: [UInt8] = [nextHeader, UInt8((12 + integrityCheck.count) / 4 - 2), 0, 0]
            bytes.appendBigEndian(index)
            bytes.appendBigEndian(sequence)
            return bytes + integrityCheck
        }
    }

    /// Pads a header to a multiple of 8 bytes (with a PadN or Pad1 option when it holds
    /// options, zeros otherwise) and sets its length field, in 8-byte units beyond the first.
    private static func padded(_ header: [UInt8], withOptions: Bool = true) -> [UInt8] {
        var bytes = header
        let missing = (8 - bytes.count % 8) % 8
        if !withOptions {
            bytes += [UInt8](repeating: 0, count: missing)
        } else if missing == 1 {
            bytes.append(0)  // Pad1
        } else if missing > 1 {
            bytes += [1, UInt8(missing - 2)] + [UInt8](repeating: 0, count: missing - 2)
        }
        bytes[1] = UInt8(bytes.count / 8 - 1)
        return bytes
    }
}
