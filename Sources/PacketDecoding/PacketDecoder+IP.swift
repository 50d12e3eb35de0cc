import CaptureModel

extension PacketDecoder {
    /// Decodes an IPv4 header at `start` and what it carries.
    ///
    /// `wireEnd` is where the frame ended on the wire: the total length may not reach past it.
    mutating func decodeIPv4(_ frame: RawFrame, at start: Int, wireEnd: Int) -> DecodedFrame {
        let bytes = frame.bytes
        var cursor = ByteCursor(bytes, at: start)
        // RFC 791 §3.1, the fixed part:
        //  0                   1                   2                   3
        // |Version|  IHL  |Type of Service|          Total Length         |
        // |         Identification        |Flags|      Fragment Offset    |
        // |  Time to Live |    Protocol   |         Header Checksum       |
        // |                       Source Address                          |
        // |                    Destination Address                        |
        guard let versionIHL = cursor.readInteger(as: UInt8.self),
              cursor.skip(1),
              let totalLength = cursor.readInteger(as: UInt16.self),
              let identification = cursor.readInteger(as: UInt16.self),
              let flagsOffset = cursor.readInteger(as: UInt16.self),
              cursor.skip(1),
              let proto = cursor.readInteger(as: UInt8.self),
              // The checksum is not verified: a capture taken on the sender sees it before the
              // NIC fills it in (checksum offload).
              cursor.skip(2),
              let source = cursor.readInteger(as: UInt32.self),
              let destination = cursor.readInteger(as: UInt32.self)
        else { return .truncated(layer: "ipv4") }

        guard versionIHL >> 4 == 4 else { return .malformed(layer: "ipv4", reason: "version is not 4") }
        let headerLength = Int(versionIHL & 0x0f) &* 4
        guard headerLength >= 20 else { return .malformed(layer: "ipv4", reason: "header length (IHL) below 5") }
        let onWire = wireEnd &- start
        // With TCP segmentation offload the sender's capture may show total length 0 for a
        // segment the NIC will split; the frame's own length is then all there is to go by.
        let datagramLength = totalLength == 0 ? onWire : Int(totalLength)
        guard datagramLength >= headerLength else {
            return .malformed(layer: "ipv4", reason: "total length shorter than the header")
        }
        // Linux drops such a packet on receipt (ip_rcv_core), so no receiver ever saw its bytes.
        guard datagramLength <= onWire else {
            return .malformed(layer: "ipv4", reason: "total length exceeds the frame's wire length")
        }
        guard cursor.skip(headerLength &- 20) else { return .truncated(layer: "ipv4") }

        // The total length, not the frame, ends the datagram: Ethernet pads short frames to 60 bytes.
        let end = start &+ datagramLength
        let capturedEnd = min(end, bytes.count)
        let moreFragments = flagsOffset & 0x2000 != 0
        let fragmentOffset = Int(flagsOffset & 0x1fff) &* 8
        if moreFragments || fragmentOffset != 0 {
            // Only TCP matters to the analysis; other fragmented traffic (DNS over UDP) is skipped
            // without holding memory.
            guard proto == 6 else { return .notTCP }
            let key = IPv4FragmentKey(
                source: source, destination: destination, identification: identification, protocolNumber: proto)
            return self.decodeIPv4Fragment(
                frame, key: key, offset: fragmentOffset, isLast: !moreFragments, dataStart: cursor.index, end: end)
        }
        switch proto {
        case 6:
            return Self.decodeTCP(
                bytes, at: cursor.index, end: end, capturedEnd: capturedEnd,
                source: .v4(source), destination: .v4(destination), isInFrame: true)
        case 1:
            return Self.decodeICMPv4(bytes, at: cursor.index, end: end, capturedEnd: capturedEnd)
        case 17:
            return Self.decodeUDP(bytes, at: cursor.index, end: end, capturedEnd: capturedEnd, source: .v4(source), destination: .v4(destination))
        default:
            return .notTCP
        }
    }

    /// Adds one fragment of a TCP datagram to the table; decodes the datagram once it is whole.
    private mutating func decodeIPv4Fragment(
        _ frame: RawFrame, key: IPv4FragmentKey, offset: Int, isLast: Bool, dataStart: Int, end: Int
    ) -> DecodedFrame {
        self.fragments.counters.ipv4FragmentsSeen &+= 1
        let dataLength = end &- dataStart
        // RFC 791 §3.2: every fragment but the last carries a multiple of 8 octets.
        guard isLast || dataLength % 8 == 0 else {
            return .malformed(layer: "ipv4", reason: "fragment length is not a multiple of 8")
        }
        // A datagram may not exceed 65535 bytes (RFC 791 §3.1); past it is the ping of death.
        guard offset &+ dataLength <= IPv4FragmentTable.maximumPayload else {
            return .malformed(layer: "ipv4", reason: "fragments reach past 65535 bytes")
        }
        guard end <= frame.bytes.count else {
            // The capture lacks part of this fragment, so its datagram can never be rebuilt.
            self.fragments.discard(key)
            return .truncated(layer: "ipv4")
        }
        let data = UnsafeRawBufferPointer(rebasing: frame.bytes[dataStart..<end])
        switch self.fragments.insert(key: key, offset: offset, data: data, isLast: isLast, at: frame.timestamp) {
        case .held:
            return .fragmentHeld
        case .contradicted:
            return .malformed(layer: "ipv4", reason: "fragment contradicts the length of its datagram")
        case .completed(let datagram):
            return Self.decodeTCP(
                datagram, at: 0, end: datagram.count, capturedEnd: datagram.count,
                source: .v4(key.source), destination: .v4(key.destination), isInFrame: false)
        }
    }

    /// Decodes an IPv6 header at `start`, its extension headers, and what they carry.
    mutating func decodeIPv6(_ frame: RawFrame, at start: Int, wireEnd: Int) -> DecodedFrame {
        let bytes = frame.bytes
        var cursor = ByteCursor(bytes, at: start)
        // RFC 8200 §3: version, traffic class, flow label; payload length; next header; hop limit;
        // then the two 128-bit addresses.
        guard let versionClassFlow = cursor.readInteger(as: UInt32.self),
              let payloadLength = cursor.readInteger(as: UInt16.self),
              let nextHeader = cursor.readInteger(as: UInt8.self),
              cursor.skip(1),
              let sourceHigh = cursor.readInteger(as: UInt64.self),
              let sourceLow = cursor.readInteger(as: UInt64.self),
              let destinationHigh = cursor.readInteger(as: UInt64.self),
              let destinationLow = cursor.readInteger(as: UInt64.self)
        else { return .truncated(layer: "ipv6") }

        guard versionClassFlow >> 28 == 6 else { return .malformed(layer: "ipv6", reason: "version is not 6") }
        let onWire = wireEnd &- cursor.index
        // Payload length 0 is a jumbogram (RFC 2675) or Linux BIG TCP: the frame says how long.
        let payloadWireLength = payloadLength == 0 && nextHeader != 59 ? onWire : Int(payloadLength)
        guard payloadWireLength <= onWire else {
            return .malformed(layer: "ipv6", reason: "payload length exceeds the frame's wire length")
        }
        let end = cursor.index &+ payloadWireLength
        let capturedEnd = min(end, bytes.count)
        let source = IPAddress.v6(high: sourceHigh, low: sourceLow)
        let destination = IPAddress.v6(high: destinationHigh, low: destinationLow)

        switch Self.walkIPv6Headers(bytes, from: cursor.index, nextHeader: nextHeader, end: end, capturedEnd: capturedEnd) {
        case .upperLayer(let proto, let offset):
            switch proto {
            case 6:
                return Self.decodeTCP(
                    bytes, at: offset, end: end, capturedEnd: capturedEnd,
                    source: source, destination: destination, isInFrame: true)
            case 58:
                return Self.decodeICMPv6(bytes, at: offset, end: end, capturedEnd: capturedEnd)
            case 17:
                return Self.decodeUDP(bytes, at: offset, end: end, capturedEnd: capturedEnd, source: source, destination: destination)
            default:
                return .notTCP
            }
        case .fragment(let proto, _, _):
            // IPv6 fragments of TCP are rare (TCP sizes segments to the path MTU), so they are
            // counted and held, never reassembled.
            guard proto == 6 else { return .notTCP }
            self.fragments.counters.ipv6FragmentsNotReassembled &+= 1
            return .fragmentHeld
        case .truncated:
            return .truncated(layer: "ipv6")
        case .exceedsPayload:
            return .malformed(layer: "ipv6", reason: "extension headers run past the payload length")
        }
    }

    /// Where an IPv6 header chain leads.
    enum IPv6HeaderChain {
        /// The upper-layer header `protocol` starts at `offset`.
        case upperLayer(protocol: UInt8, offset: Int)
        /// A fragment of a larger datagram (not an atomic fragment); `isFirst` when it holds
        /// offset 0, whose upper-layer header then starts at `offset`.
        case fragment(protocol: UInt8, offset: Int, isFirst: Bool)
        /// The capture ends inside an extension header.
        case truncated
        /// An extension header runs past `end`.
        case exceedsPayload
    }

    /// Skips the extension headers from `start` (RFC 8200 §4): hop-by-hop (0), routing (43),
    /// fragment (44), destination options (60) and AH (51).
    static func walkIPv6Headers(
        _ bytes: UnsafeRawBufferPointer, from start: Int, nextHeader: UInt8, end: Int, capturedEnd: Int
    ) -> IPv6HeaderChain {
        var cursor = ByteCursor(bytes, at: start, end: capturedEnd)
        var header = nextHeader
        var isFirstFragment = false
        while true {
            let next: UInt8
            let length: Int
            switch header {
            case 0, 43, 60, 51:
                guard cursor.index &+ 2 <= end else { return .exceedsPayload }
                guard let following = cursor.peekInteger(as: UInt8.self),
                      let units = cursor.peekInteger(at: 1, as: UInt8.self)
                else { return .truncated }
                next = following
                // RFC 8200 §4.3: 8-octet units beyond the first; RFC 4302 §2.2 (AH): 4-octet
                // units, minus 2.
                length = header == 51 ? (Int(units) &+ 2) &* 4 : (Int(units) &+ 1) &* 8
            case 44:
                // RFC 8200 §4.5: next header, reserved, 13-bit offset + 2 reserved bits + M, id.
                guard cursor.index &+ 8 <= end else { return .exceedsPayload }
                guard let following = cursor.peekInteger(as: UInt8.self),
                      let offsetFlags = cursor.peekInteger(at: 2, as: UInt16.self)
                else { return .truncated }
                next = following
                length = 8
                if offsetFlags >> 3 != 0 {
                    return .fragment(protocol: following, offset: cursor.index &+ 8, isFirst: false)
                }
                // Offset 0 with M clear is an atomic fragment (RFC 6946): the whole datagram.
                if offsetFlags & 1 != 0 { isFirstFragment = true }
            default:
                if isFirstFragment { return .fragment(protocol: header, offset: cursor.index, isFirst: true) }
                return .upperLayer(protocol: header, offset: cursor.index)
            }
            guard cursor.index &+ length <= end else { return .exceedsPayload }
            guard cursor.skip(length) else { return .truncated }
            header = next
        }
    }
}
