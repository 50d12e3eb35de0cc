import CaptureModel

extension PacketDecoder {
    /// Decodes a TCP header at `start`, in an IP payload that ends at `end` on the wire and at
    /// `capturedEnd` in `bytes`.
    ///
    /// `isInFrame` is false when `bytes` is a reassembled datagram rather than the frame, so that
    /// payload offsets would point nowhere in the capture.
    static func decodeTCP(
        _ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, capturedEnd: Int,
        source: IPAddress, destination: IPAddress, isInFrame: Bool
    ) -> DecodedFrame {
        let segmentLength = end &- start
        guard segmentLength >= 20 else {
            return .malformed(layer: "tcp", reason: "segment shorter than the 20-byte header")
        }
        var cursor = ByteCursor(bytes, at: start, end: capturedEnd)
        // RFC 9293 §3.1: ports, sequence, acknowledgment, data offset + flags, window,
        // checksum (not verified: offloaded on the sender), urgent pointer.
        guard let sourcePort = cursor.readInteger(as: UInt16.self),
              let destinationPort = cursor.readInteger(as: UInt16.self),
              let sequence = cursor.readInteger(as: UInt32.self),
              let acknowledgment = cursor.readInteger(as: UInt32.self),
              let offsetFlags = cursor.readInteger(as: UInt16.self),
              let window = cursor.readInteger(as: UInt16.self),
              cursor.skip(4)
        else { return .truncated(layer: "tcp") }

        let headerLength = Int(offsetFlags >> 12) &* 4
        guard headerLength >= 20 else { return .malformed(layer: "tcp", reason: "data offset below 5") }
        guard headerLength <= segmentLength else {
            return .malformed(layer: "tcp", reason: "data offset past the end of the segment")
        }
        let optionsStart = cursor.index
        guard cursor.skip(headerLength &- 20) else { return .truncated(layer: "tcp") }
        // Only the flags TCPFlags names: AccECN's AE bit and the reserved bits would otherwise
        // make `flags == [.syn]` fail on an ordinary SYN.
        let flags = TCPFlags(rawValue: offsetFlags & 0x00ff)

        var maximumSegmentSize: UInt16?
        var windowScale: UInt8?
        // RFC 9293 §3.7.1 and RFC 7323 §2.2: MSS and window scale mean something only on a SYN.
        if flags.contains(.syn), headerLength > 20 {
            (maximumSegmentSize, windowScale) = Self.synOptions(bytes, from: optionsStart, to: cursor.index)
        }

        let payloadStart = cursor.index
        // The snap length may end the capture anywhere after the header: not truncation.
        let payloadEnd = cursor.end
        return .tcp(TCPSegment(
            source: Endpoint(address: source, port: sourcePort),
            destination: Endpoint(address: destination, port: destinationPort),
            sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: window,
            windowScale: windowScale, maximumSegmentSize: maximumSegmentSize,
            payload: UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<payloadEnd]),
            payloadFrameOffset: isInFrame ? payloadStart : nil,
            payloadWireLength: segmentLength &- headerLength))
    }

    /// The MSS (kind 2) and window scale (kind 3) options of a SYN, ignoring any option whose
    /// length is wrong and stopping at one that cannot be skipped.
    static func synOptions(
        _ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int
    ) -> (maximumSegmentSize: UInt16?, windowScale: UInt8?) {
        var cursor = ByteCursor(bytes, at: start, end: end)
        var maximumSegmentSize: UInt16?
        var windowScale: UInt8?
        while let kind = cursor.readInteger(as: UInt8.self) {
            switch kind {
            case 0:
                // End of option list.
                return (maximumSegmentSize, windowScale)
            case 1:
                // No-operation: one byte of padding.
                continue
            default:
                // A length below 2 would never advance; one past the header cannot be skipped.
                guard let length = cursor.readInteger(as: UInt8.self), length >= 2 else {
                    return (maximumSegmentSize, windowScale)
                }
                if kind == 2, length == 4 {
                    maximumSegmentSize = cursor.peekInteger(as: UInt16.self)
                } else if kind == 3, length == 3, let shift = cursor.peekInteger(as: UInt8.self) {
                    // RFC 7323 §2.3: a shift above 14 MUST be taken as 14.
                    windowScale = min(shift, 14)
                }
                guard cursor.skip(Int(length) &- 2) else { return (maximumSegmentSize, windowScale) }
            }
        }
        return (maximumSegmentSize, windowScale)
    }

    /// Decodes an ICMPv4 message; only destination unreachable (type 3) and time exceeded (type
    /// 11) quoting TCP matter.
    static func decodeICMPv4(
        _ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, capturedEnd: Int
    ) -> DecodedFrame {
        guard start < end else { return .notTCP }
        var cursor = ByteCursor(bytes, at: start, end: capturedEnd)
        guard let type = cursor.peekInteger(as: UInt8.self) else { return .truncated(layer: "icmp") }
        guard type == 3 || type == 11 else { return .notTCP }
        // RFC 792: type, code, checksum, 4 unused bytes (RFC 1191 §4: the next hop's MTU in the
        // last two for fragmentation needed), then the original IP header and at least the
        // first 8 bytes of its payload.
        guard start &+ 8 <= end else { return .malformed(layer: "icmp", reason: "message shorter than its header") }
        guard let code = cursor.peekInteger(at: 1, as: UInt8.self), let mtu = cursor.peekInteger(at: 6, as: UInt16.self),
              cursor.skip(8)
        else {
            return .truncated(layer: "icmp")
        }
        let quoteStart = cursor.index
        guard quoteStart &+ 20 <= end else { return .malformed(layer: "icmp", reason: "quote shorter than an IPv4 header") }
        guard let versionIHL = cursor.readInteger(as: UInt8.self),
              cursor.skip(5),
              let flagsOffset = cursor.readInteger(as: UInt16.self),
              cursor.skip(1),
              let proto = cursor.readInteger(as: UInt8.self),
              cursor.skip(2),
              let source = cursor.readInteger(as: UInt32.self),
              let destination = cursor.readInteger(as: UInt32.self)
        else { return .truncated(layer: "icmp") }
        guard versionIHL >> 4 == 4, versionIHL & 0x0f >= 5 else {
            return .malformed(layer: "icmp", reason: "quoted header is not valid IPv4")
        }
        // Only a quote of a first fragment (or an unfragmented datagram) starts with TCP's ports.
        guard proto == 6, flagsOffset & 0x1fff == 0 else { return .notTCP }
        let quotedHeaderLength = Int(versionIHL & 0x0f) &* 4
        return Self.quotedTCP(
            bytes, at: quoteStart &+ quotedHeaderLength, end: end, capturedEnd: capturedEnd, layer: "icmp",
            isIPv6: false, type: type, code: code, mtu: type == 3 && code == 4 ? UInt32(mtu) : 0,
            source: .v4(source), destination: .v4(destination))
    }

    /// Decodes an ICMPv6 message; only destination unreachable (type 1), packet too big (type 2)
    /// and time exceeded (type 3) quoting TCP matter.
    static func decodeICMPv6(
        _ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, capturedEnd: Int
    ) -> DecodedFrame {
        guard start < end else { return .notTCP }
        var cursor = ByteCursor(bytes, at: start, end: capturedEnd)
        guard let type = cursor.peekInteger(as: UInt8.self) else { return .truncated(layer: "icmpv6") }
        guard type >= 1, type <= 3 else { return .notTCP }
        // RFC 4443 §3.1-3.3: type, code, checksum, 4 bytes (the MTU for packet too big, else
        // unused), then as much of the invoking packet as fits.
        guard start &+ 8 <= end else { return .malformed(layer: "icmpv6", reason: "message shorter than its header") }
        guard let code = cursor.peekInteger(at: 1, as: UInt8.self), let mtu = cursor.peekInteger(at: 4, as: UInt32.self),
              cursor.skip(8)
        else {
            return .truncated(layer: "icmpv6")
        }
        guard cursor.index &+ 40 <= end else {
            return .malformed(layer: "icmpv6", reason: "quote shorter than an IPv6 header")
        }
        guard let versionClassFlow = cursor.readInteger(as: UInt32.self),
              cursor.skip(2),
              let nextHeader = cursor.readInteger(as: UInt8.self),
              cursor.skip(1),
              let sourceHigh = cursor.readInteger(as: UInt64.self),
              let sourceLow = cursor.readInteger(as: UInt64.self),
              let destinationHigh = cursor.readInteger(as: UInt64.self),
              let destinationLow = cursor.readInteger(as: UInt64.self)
        else { return .truncated(layer: "icmpv6") }
        guard versionClassFlow >> 28 == 6 else {
            return .malformed(layer: "icmpv6", reason: "quoted header is not IPv6")
        }
        let tcpStart: Int
        // The quote ends where the ICMPv6 message ends, whatever the quoted payload length says.
        switch Self.walkIPv6Headers(bytes, from: cursor.index, nextHeader: nextHeader, end: end, capturedEnd: capturedEnd) {
        case .upperLayer(let proto, let offset), .fragment(let proto, let offset, isFirst: true):
            guard proto == 6 else { return .notTCP }
            tcpStart = offset
        case .fragment(_, _, isFirst: false):
            return .notTCP
        case .truncated:
            return .truncated(layer: "icmpv6")
        case .exceedsPayload:
            return .malformed(layer: "icmpv6", reason: "quote ends inside an extension header")
        }
        return Self.quotedTCP(
            bytes, at: tcpStart, end: end, capturedEnd: capturedEnd, layer: "icmpv6", isIPv6: true, type: type, code: code,
            mtu: type == 2 ? mtu : 0, source: .v6(high: sourceHigh, low: sourceLow), destination: .v6(high: destinationHigh, low: destinationLow))
    }

    /// Reads the ports (and, when quoted, the sequence number) of a TCP header quoted at `start`.
    private static func quotedTCP(
        _ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, capturedEnd: Int, layer: StaticString,
        isIPv6: Bool, type: UInt8, code: UInt8, mtu: UInt32, source: IPAddress, destination: IPAddress
    ) -> DecodedFrame {
        guard start &+ 4 <= end else { return .malformed(layer: layer, reason: "quote too short for the TCP ports") }
        var cursor = ByteCursor(bytes, at: start, end: capturedEnd)
        guard cursor.index == start,
              let sourcePort = cursor.readInteger(as: UInt16.self),
              let destinationPort = cursor.readInteger(as: UInt16.self)
        else { return .truncated(layer: layer) }
        // RFC 792 promises 8 bytes of the original payload, which reach through the sequence
        // number; a shorter quote or a cut capture still names the connection.
        let sequence = cursor.readInteger(as: UInt32.self)
        return .icmpUnreachable(ICMPUnreachable(
            isIPv6: isIPv6, code: code,
            quotedSource: Endpoint(address: source, port: sourcePort),
            quotedDestination: Endpoint(address: destination, port: destinationPort),
            quotedSequence: sequence, type: type, nextHopMTU: mtu))
    }
}
