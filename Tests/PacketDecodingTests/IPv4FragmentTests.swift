import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@Suite("IPv4 fragments")
struct IPv4FragmentTests {
    /// 100 payload bytes after a 20-byte TCP header: a 120-byte IP payload.
    static let payload = counting(100)
    static let packet = FrameBuilder.tcpPacket(
        from: client4, to: server4, seq: 5000, ack: 1, flags: [.psh, .ack], payload: payload, identification: 0x1234)
    static let expected = DecodedFrameSnapshot.tcp(TCPSegmentSnapshot(
        source: client4, destination: server4, sequence: 5000, acknowledgment: 1, flags: [.psh, .ack],
        payload: payload, payloadFrameOffset: nil))

    /// Fragments of `packet` ending at `boundaries`, in Ethernet frames.
    static func fragments(_ boundaries: [Int], of packet: [UInt8] = packet) -> [[UInt8]] {
        FrameBuilder.ipv4Fragments(of: packet, boundaries: boundaries).map { FrameBuilder.encapsulate($0, link: .ethernet) }
    }

    /// One fragment of datagram `identification` carrying IP payload `bytes` at `offset`.
    static func fragment(
        _ bytes: [UInt8], at offset: Int, more: Bool, identification: UInt16 = 0x1234, protocol proto: UInt8 = 6
    ) -> [UInt8] {
        FrameBuilder.encapsulate(
            FrameBuilder.ipv4(
                source: 0x0a00_0001, destination: 0x0a00_0002, protocol: proto, payload: bytes,
                identification: identification, fragmentOffset: offset, moreFragments: more),
            link: .ethernet)
    }

    /// The IP payload of `packet` (TCP header and payload).
    static let ipPayload = Array(packet[20...])

    @Test("Reassembled in any order", arguments: [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    func anyOrder(order: [Int]) {
        let frames = Self.fragments([24, 64])
        #expect(frames.count == 3)
        var decoder = PacketDecoder(linkType: .ethernet)
        for (step, index) in order.enumerated() {
            let result = decoder.decodeSnapshot(frames[index], number: FrameNumber(step + 1))
            #expect(result == (step == 2 ? Self.expected : .fragmentHeld), "step \(step), fragment \(index)")
        }
        var counters = PacketDecoder.FragmentCounters()
        counters.ipv4FragmentsSeen = 3
        counters.ipv4DatagramsReassembled = 1
        #expect(decoder.fragmentCounters == counters)
    }

    @Test("Fifteen 8-byte fragments in reverse order, the TCP header split across three")
    func manySmallFragments() {
        let frames = Self.fragments(Array(stride(from: 8, to: 120, by: 8)))
        #expect(frames.count == 15)
        var decoder = PacketDecoder(linkType: .ethernet)
        for frame in frames.dropFirst().reversed() {
            #expect(decoder.decodeSnapshot(frame) == .fragmentHeld)
        }
        #expect(decoder.decodeSnapshot(frames[0]) == Self.expected)
        #expect(decoder.fragmentCounters.ipv4FragmentsSeen == 15)
    }

    @Test("Overlapping bytes keep their first copy, in either arrival order")
    func overlap() {
        let first = Self.fragment(Array(Self.ipPayload[0..<32]), at: 0, more: true)
        // Bytes 24..<32 rewritten: the overlap with `first`.
        let rewritten = [UInt8](repeating: 0xff, count: 8) + Self.ipPayload[32..<64]
        let second = Self.fragment(rewritten, at: 24, more: true)
        let last = Self.fragment(Array(Self.ipPayload[64...]), at: 64, more: false)

        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(first) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(second) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(last) == Self.expected)
        #expect(decoder.fragmentCounters.ipv4OverlappingFragments == 1)

        var reversed = PacketDecoder(linkType: .ethernet)
        #expect(reversed.decodeSnapshot(second) == .fragmentHeld)
        #expect(reversed.decodeSnapshot(first) == .fragmentHeld)
        // TCP payload bytes 4..<12 are IP payload bytes 24..<32: the rewritten copy came first.
        var payload = Self.payload
        payload.replaceSubrange(4..<12, with: [UInt8](repeating: 0xff, count: 8))
        #expect(reversed.decodeSnapshot(last).segment?.payload == payload)
        #expect(reversed.fragmentCounters.ipv4OverlappingFragments == 1)
    }

    @Test("A duplicated fragment counts as an overlap and changes nothing")
    func duplicate() {
        let frames = Self.fragments([24, 64])
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(frames[1]) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(frames[1]) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(frames[0]) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(frames[2]) == Self.expected)
        #expect(decoder.fragmentCounters.ipv4FragmentsSeen == 4)
        #expect(decoder.fragmentCounters.ipv4OverlappingFragments == 1)
        // A retransmitted fragment after completion starts a new datagram, which is held.
        #expect(decoder.decodeSnapshot(frames[2]) == .fragmentHeld)
    }

    @Test("An incomplete datagram is held, then evicted after the timeout")
    func incompleteThenTimeout() {
        let frames = Self.fragments([24, 64])
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(frames[0], timestamp: Timestamp(seconds: 100, nanoseconds: 0)) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(frames[2], timestamp: Timestamp(seconds: 110, nanoseconds: 0)) == .fragmentHeld)
        #expect(decoder.fragmentCounters.ipv4DatagramsReassembled == 0)
        #expect(decoder.fragmentCounters.ipv4DatagramsEvicted == 0)
        // 30 s after the first fragment, and one nanosecond more.
        #expect(decoder.decodeSnapshot(frames[1], timestamp: Timestamp(seconds: 130, nanoseconds: 1)) == .fragmentHeld)
        #expect(decoder.fragmentCounters.ipv4DatagramsEvicted == 1)
        #expect(decoder.fragmentCounters.ipv4DatagramsReassembled == 0)
    }

    @Test("The table holds at most maximumFragmentedDatagrams; the oldest goes first")
    func datagramLimit() {
        var decoder = PacketDecoder(linkType: .ethernet, limits: .init(maximumFragmentedDatagrams: 2))
        let datagrams = (1...3).map { id in
            Self.fragments([64], of: FrameBuilder.tcpPacket(
                from: client4, to: server4, seq: 5000, ack: 1, flags: [.psh, .ack], payload: Self.payload,
                identification: UInt16(id)))
        }
        for datagram in datagrams {
            #expect(decoder.decodeSnapshot(datagram[0]) == .fragmentHeld)
        }
        #expect(decoder.fragmentCounters.ipv4DatagramsEvicted == 1)
        #expect(decoder.decodeSnapshot(datagrams[1][1]) == Self.expected)
        #expect(decoder.decodeSnapshot(datagrams[2][1]) == Self.expected)
        // Datagram 1 was evicted: its last fragment alone can never complete it.
        #expect(decoder.decodeSnapshot(datagrams[0][1]) == .fragmentHeld)
        #expect(decoder.fragmentCounters.ipv4DatagramsReassembled == 2)
    }

    @Test("Bytes held are bounded; other datagrams are evicted before the one that grows")
    func byteLimit() {
        var decoder = PacketDecoder(linkType: .ethernet, limits: .init(maximumFragmentBytes: 150))
        let first = Self.fragments([64])
        let second = Self.fragments([64], of: FrameBuilder.tcpPacket(
            from: client4, to: server4, seq: 5000, ack: 1, flags: [.psh, .ack], payload: Self.payload, identification: 2))
        #expect(decoder.decodeSnapshot(first[0]) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(second[0]) == .fragmentHeld)
        #expect(decoder.fragmentCounters.ipv4DatagramsEvicted == 0)
        // 64 + 120 > 150: the second datagram goes so the first can complete.
        #expect(decoder.decodeSnapshot(first[1]) == Self.expected)
        #expect(decoder.fragmentCounters.ipv4DatagramsEvicted == 1)

        var tiny = PacketDecoder(linkType: .ethernet, limits: .init(maximumFragmentBytes: 100))
        #expect(tiny.decodeSnapshot(first[0]) == .fragmentHeld)
        #expect(tiny.decodeSnapshot(first[1]) == .fragmentHeld)
        #expect(tiny.fragmentCounters.ipv4DatagramsEvicted == 1)
        #expect(tiny.fragmentCounters.ipv4DatagramsReassembled == 0)
    }

    @Test("A fragment past the datagram's known end discards the datagram")
    func contradiction() {
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(Self.fragment(Array(Self.ipPayload[64...]), at: 64, more: false)) == .fragmentHeld)
        #expect(
            decoder.decodeSnapshot(Self.fragment(counting(64), at: 64, more: true))
                == .malformed(layer: "ipv4", reason: "fragment contradicts the length of its datagram"))
        #expect(decoder.fragmentCounters.ipv4DatagramsDiscarded == 1)
        // A last fragment ending before bytes already held contradicts too.
        #expect(decoder.decodeSnapshot(Self.fragment(counting(64), at: 64, more: true)) == .fragmentHeld)
        #expect(
            decoder.decodeSnapshot(Self.fragment(counting(4), at: 96, more: false))
                == .malformed(layer: "ipv4", reason: "fragment contradicts the length of its datagram"))
        #expect(decoder.fragmentCounters.ipv4DatagramsDiscarded == 2)
    }

    @Test("Malformed fragments: a non-last length not a multiple of 8, and past 65535 bytes")
    func malformedFragments() {
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(
            decoder.decodeSnapshot(Self.fragment(counting(20), at: 0, more: true))
                == .malformed(layer: "ipv4", reason: "fragment length is not a multiple of 8"))
        #expect(
            decoder.decodeSnapshot(Self.fragment(counting(16), at: 65_504, more: false))
                == .malformed(layer: "ipv4", reason: "fragments reach past 65535 bytes"))
    }

    @Test("A fragment cut by the snap length is truncated and discards its datagram")
    func snapCutFragment() {
        let frames = Self.fragments([24, 64])
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(frames[0]) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(frames[1], capturedLength: 14 + 20 + 39) == .truncated(layer: "ipv4"))
        #expect(decoder.fragmentCounters.ipv4DatagramsDiscarded == 1)
        #expect(decoder.decodeSnapshot(frames[2]) == .fragmentHeld)
    }

    @Test("Fragments of other protocols are skipped without being held")
    func udpFragments() {
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(Self.fragment(counting(16), at: 0, more: true, protocol: 17)) == .notTCP)
        #expect(decoder.decodeSnapshot(Self.fragment(counting(16), at: 16, more: false, protocol: 17)) == .notTCP)
        #expect(decoder.fragmentCounters == PacketDecoder.FragmentCounters())
    }

    @Test("A reassembled datagram too short for TCP's header is malformed")
    func reassembledShortSegment() {
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(Self.fragment(counting(8), at: 0, more: true)) == .fragmentHeld)
        #expect(
            decoder.decodeSnapshot(Self.fragment(counting(8), at: 8, more: false))
                == .malformed(layer: "tcp", reason: "segment shorter than the 20-byte header"))
        #expect(decoder.fragmentCounters.ipv4DatagramsReassembled == 1)
    }

    @Test("The first fragment's IPv4 options do not shift the reassembled payload")
    func firstFragmentOptions() {
        let packet = FrameBuilder.tcpPacket(
            from: client4, to: server4, seq: 5000, ack: 1, flags: [.psh, .ack], payload: Self.payload,
            ipv4Options: [0x94, 0x04, 0, 0], identification: 0x1234)
        let frames = Self.fragments([40], of: packet)
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(frames[1]) == .fragmentHeld)
        #expect(decoder.decodeSnapshot(frames[0]) == Self.expected)
    }

    @Test("A copy of the decoder rebuilds its datagrams independently (copy on write)")
    func copyOnWrite() {
        let frames = Self.fragments([24, 64])
        var original = PacketDecoder(linkType: .ethernet)
        #expect(original.decodeSnapshot(frames[0]) == .fragmentHeld)
        var copy = original
        let rewritten = Self.fragment([UInt8](repeating: 0xaa, count: 40), at: 24, more: true)
        #expect(original.decodeSnapshot(rewritten) == .fragmentHeld)
        #expect(copy.decodeSnapshot(frames[1]) == .fragmentHeld)
        #expect(copy.decodeSnapshot(frames[2]) == Self.expected)
        var payload = Self.payload
        payload.replaceSubrange(4..<44, with: [UInt8](repeating: 0xaa, count: 40))
        #expect(original.decodeSnapshot(frames[2]).segment?.payload == payload)
    }

    @Test("The reassembled payload stays readable until the next decode call")
    func payloadLifetime() {
        let frames = Self.fragments([64])
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(frames[0]) == .fragmentHeld)
        let payload: [UInt8]? = withFrame(frames[1]) { frame in
            guard case .tcp(let segment) = decoder.decode(frame) else { return nil }
            #expect(segment.payloadFrameOffset == nil)
            #expect(segment.payloadWireLength == 100)
            return Array(segment.payload)
        }
        #expect(payload == Self.payload)
    }
}
