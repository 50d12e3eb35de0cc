import CaptureModel
import PacketDecoding

/// Builds frames as bytes for tests: a TCP segment in IPv4 or IPv6, in any link type the decoder
/// reads, with VLAN tags, IPv4 options or IPv6 extension headers.
///
/// The pieces compose: `tcpSegment` gives the TCP header and payload, `tcpPacket` wraps it in IP,
/// `encapsulate` adds a link header, and `tcp` does all three. Checksums (IPv4 header, TCP, ICMP)
/// are real, so the frames read correctly in Wireshark too.
///
/// Byte offsets tests can rely on, for Ethernet without tags: the IP header starts at 14, so an
/// IPv4 TCP header without options starts at 34 and its payload at 54; an IPv6 one at 54 and 74.
public enum FrameBuilder {
    /// Source MAC address of built Ethernet frames and Linux cooked headers.
    public static let sourceMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    /// Destination MAC address of built Ethernet frames.
    public static let destinationMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]

    /// A whole frame: a TCP segment from `source` to `destination` (both IPv4 or both IPv6),
    /// in IP, in a `link` header.
    ///
    /// - Parameters:
    ///   - options: raw TCP option bytes (see `TCPOption`), padded with zeros (EOL) to 4 bytes.
    ///   - vlanTags: 802.1Q tag control fields, outermost first (Ethernet and Linux cooked only).
    ///   - ipv4Options: raw IPv4 option bytes, padded with zeros (EOL) to 4 bytes.
    ///   - ipv6ExtensionHeaders: extension headers between the IPv6 header and TCP, in order.
    public static func tcp(
        from source: Endpoint, to destination: Endpoint,
        seq: UInt32 = 0, ack: UInt32 = 0, flags: TCPFlags = .ack, window: UInt16 = 65_535,
        options: [UInt8] = [], payload: [UInt8] = [],
        link: LinkType = .ethernet, vlanTags: [UInt16] = [],
        ipv4Options: [UInt8] = [], ipv6ExtensionHeaders: [IPv6ExtensionHeader] = [],
        identification: UInt16 = 0
    ) -> [UInt8] {
        let packet = self.tcpPacket(
            from: source, to: destination, seq: seq, ack: ack, flags: flags, window: window,
            options: options, payload: payload, ipv4Options: ipv4Options,
            ipv6ExtensionHeaders: ipv6ExtensionHeaders, identification: identification)
        return self.encapsulate(packet, link: link, vlanTags: vlanTags)
    }

    /// A TCP segment in its IP header, without a link header (what RAW, IPV4 and IPV6 frames are,
    /// and what `ipv4Fragments` and `icmpUnreachable` take).
    public static func tcpPacket(
        from source: Endpoint, to destination: Endpoint,
        seq: UInt32 = 0, ack: UInt32 = 0, flags: TCPFlags = .ack, window: UInt16 = 65_535,
        options: [UInt8] = [], payload: [UInt8] = [],
        ipv4Options: [UInt8] = [], ipv6ExtensionHeaders: [IPv6ExtensionHeader] = [],
        identification: UInt16 = 0
    ) -> [UInt8] {
        let segment = self.tcpSegment(
            from: source, to: destination, seq: seq, ack: ack, flags: flags, window: window,
            options: options, payload: payload)
        return self.ipPacket(
            from: source.address, to: destination.address, protocol: 6, payload: segment,
            ipv4Options: ipv4Options, ipv6ExtensionHeaders: ipv6ExtensionHeaders, identification: identification)
    }

    /// A TCP header and payload (RFC 9293 §3.1), checksummed over the IP pseudo-header.
    ///
    /// - Parameter dataOffset: overrides the data offset field (in 32-bit words), to build
    ///   malformed headers; by default it counts the header and its padded options.
    public static func tcpSegment(
        from source: Endpoint, to destination: Endpoint,
        seq: UInt32 = 0, ack: UInt32 = 0, flags: TCPFlags = .ack, window: UInt16 = 65_535,
        options: [UInt8] = [], payload: [UInt8] = [], dataOffset: UInt8? = nil
    ) -> [UInt8] {
        var padded = options
        while padded.count % 4 != 0 { padded.append(0) }
        let words = dataOffset ?? UInt8((20 + padded.count) / 4)
        var segment: [UInt8] = []
        segment.reserveCapacity(20 + padded.count + payload.count)
        segment.appendBigEndian(source.port)
        segment.appendBigEndian(destination.port)
        segment.appendBigEndian(seq)
        segment.appendBigEndian(ack)
        segment.appendBigEndian(UInt16(words & 0x0f) << 12 | flags.rawValue & 0x0fff)
        segment.appendBigEndian(window)
        segment.appendBigEndian(UInt16(0))  // checksum, filled below
        segment.appendBigEndian(UInt16(0))  // urgent pointer
        segment += padded
        segment += payload
        let checksum = internetChecksum(
            self.pseudoHeader(source.address, destination.address, protocol: 6, length: segment.count), segment)
        segment.setBigEndian(checksum, at: 16)
        return segment
    }

    /// An IP packet carrying `payload` as `protocol`: IPv4 or IPv6 as the addresses are.
    public static func ipPacket(
        from source: IPAddress, to destination: IPAddress, protocol proto: UInt8, payload: [UInt8],
        ipv4Options: [UInt8] = [], ipv6ExtensionHeaders: [IPv6ExtensionHeader] = [],
        identification: UInt16 = 0
    ) -> [UInt8] {
        switch (source, destination) {
        case (.v4(let from), .v4(let to)):
            return self.ipv4(
                source: from, destination: to, protocol: proto, payload: payload,
                identification: identification, options: ipv4Options)
        case (.v6, .v6):
            return self.ipv6(
                source: source, destination: destination, nextHeader: proto, payload: payload,
                extensionHeaders: ipv6ExtensionHeaders)
        default:
            preconditionFailure("FrameBuilder: \(source) and \(destination) are not of one IP version")
        }
    }

    /// The link header `link` puts before an IP packet, followed by the packet.
    ///
    /// - Parameters:
    ///   - vlanTags: tag control fields, outermost first, for Ethernet and Linux cooked headers.
    ///   - vlanTagProtocols: the TPID of each tag; by default 0x88a8 (802.1ad) for outer tags
    ///     and 0x8100 (802.1Q) for the innermost.
    ///   - etherType: overrides the EtherType (or cooked protocol) that the IP version implies.
    ///   - addressFamily: overrides the NULL/LOOP family (default 2 for IPv4, and for IPv6 30
    ///     (Darwin) on NULL, 24 (OpenBSD) on LOOP).
    ///   - familyByteOrder: the byte order of a NULL family (LOOP is always big-endian).
    public static func encapsulate(
        _ packet: [UInt8], link: LinkType, vlanTags: [UInt16] = [], vlanTagProtocols: [UInt16]? = nil,
        etherType: UInt16? = nil, addressFamily: UInt32? = nil, familyByteOrder: ByteOrder = .littleEndian
    ) -> [UInt8] {
        let isIPv6 = packet.first.map { $0 >> 4 == 6 } ?? false
        let type = etherType ?? (isIPv6 ? 0x86dd : 0x0800)
        var frame: [UInt8] = []
        switch link.rawValue {
        case LinkType.ethernet.rawValue:
            frame += self.destinationMAC
            frame += self.sourceMAC
            frame += self.tagged(type, vlanTags: vlanTags, vlanTagProtocols: vlanTagProtocols)
        case LinkType.linuxSLL.rawValue:
            frame.appendBigEndian(UInt16(0))  // packet type: to us
            frame.appendBigEndian(UInt16(1))  // ARPHRD_ETHER
            frame.appendBigEndian(UInt16(6))  // address length
            frame += self.sourceMAC + [0, 0]
            frame += self.tagged(type, vlanTags: vlanTags, vlanTagProtocols: vlanTagProtocols)
        case LinkType.linuxSLL2.rawValue:
            let tagged = self.tagged(type, vlanTags: vlanTags, vlanTagProtocols: vlanTagProtocols)
            frame += tagged.prefix(2)
            frame.appendBigEndian(UInt16(0))  // reserved
            frame.appendBigEndian(UInt32(1))  // interface index
            frame.appendBigEndian(UInt16(1))  // ARPHRD_ETHER
            frame.append(0)  // packet type: to us
            frame.append(6)  // address length
            frame += self.sourceMAC + [0, 0]
            frame += tagged.dropFirst(2)
        case LinkType.null.rawValue:
            frame.append(addressFamily ?? (isIPv6 ? 30 : 2), order: familyByteOrder)
        case LinkType.loop.rawValue:
            frame.appendBigEndian(addressFamily ?? (isIPv6 ? 24 : 2))
        case LinkType.raw.rawValue, LinkType.rawAlternate.rawValue, 101, LinkType.ipv4.rawValue, LinkType.ipv6.rawValue:
            break
        default:
            preconditionFailure("FrameBuilder: no encapsulation for \(link)")
        }
        return frame + packet
    }

    /// Pads a frame with `fill` bytes to `length`, as an Ethernet NIC pads short frames to 60
    /// bytes (64 with the FCS): bytes the IP length does not cover.
    public static func padded(_ frame: [UInt8], to length: Int = 60, fill: UInt8 = 0) -> [UInt8] {
        frame.count >= length ? frame : frame + [UInt8](repeating: fill, count: length - frame.count)
    }

    /// The link-header length `encapsulate` writes for `link` with `vlanTags` tags.
    public static func linkHeaderLength(_ link: LinkType, vlanTags: Int = 0) -> Int {
        switch link.rawValue {
        case LinkType.ethernet.rawValue: return 14 + 4 * vlanTags
        case LinkType.linuxSLL.rawValue: return 16 + 4 * vlanTags
        case LinkType.linuxSLL2.rawValue: return 20 + 4 * vlanTags
        case LinkType.null.rawValue, LinkType.loop.rawValue: return 4
        default: return 0
        }
    }

    /// The EtherType behind a stack of VLAN tags.
    private static func tagged(_ type: UInt16, vlanTags: [UInt16], vlanTagProtocols: [UInt16]?) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, tag) in vlanTags.enumerated() {
            let tpid = vlanTagProtocols?[index] ?? (index == vlanTags.count - 1 ? 0x8100 : 0x88a8)
            bytes.appendBigEndian(UInt16(tpid))
            bytes.appendBigEndian(tag)
        }
        bytes.appendBigEndian(type)
        return bytes
    }

    /// The pseudo-header TCP, UDP and ICMPv6 checksums cover (RFC 9293 §3.1, RFC 8200 §8.1).
    static func pseudoHeader(_ source: IPAddress, _ destination: IPAddress, protocol proto: UInt8, length: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        switch (source, destination) {
        case (.v4(let from), .v4(let to)):
            bytes.appendBigEndian(from)
            bytes.appendBigEndian(to)
            bytes.append(0)
            bytes.append(proto)
            bytes.appendBigEndian(UInt16(truncatingIfNeeded: length))
        default:
            bytes += self.addressBytes(source) + self.addressBytes(destination)
            bytes.appendBigEndian(UInt32(length))
            bytes += [0, 0, 0, proto]
        }
        return bytes
    }

    /// An address as it appears in a header: 4 or 16 bytes.
    public static func addressBytes(_ address: IPAddress) -> [UInt8] {
        var bytes: [UInt8] = []
        switch address {
        case .v4(let value):
            bytes.appendBigEndian(value)
        case .v6(let high, let low):
            bytes.appendBigEndian(high)
            bytes.appendBigEndian(low)
        }
        return bytes
    }
}

/// Raw TCP option bytes for `FrameBuilder.tcp(options:)` (RFC 9293 §3.2, RFC 7323, RFC 2018).
public enum TCPOption {
    /// End of option list (kind 0).
    public static let endOfList: [UInt8] = [0]
    /// No-operation (kind 1), used to align the next option.
    public static let noOperation: [UInt8] = [1]
    /// SACK permitted (kind 4).
    public static let sackPermitted: [UInt8] = [4, 2]

    /// Maximum segment size (kind 2, length 4).
    public static func maximumSegmentSize(_ value: UInt16) -> [UInt8] {
        [2, 4, UInt8(value >> 8), UInt8(value & 0xff)]
    }

    /// Window scale (kind 3, length 3).
    public static func windowScale(_ shift: UInt8) -> [UInt8] {
        [3, 3, shift]
    }

    /// Timestamps (kind 8, length 10).
    public static func timestamps(value: UInt32, echo: UInt32) -> [UInt8] {
        var bytes: [UInt8] = [8, 10]
        bytes.appendBigEndian(value)
        bytes.appendBigEndian(echo)
        return bytes
    }
}
