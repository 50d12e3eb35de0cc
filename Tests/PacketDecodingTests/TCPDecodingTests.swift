import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@Suite("TCP")
struct TCPDecodingTests {
    /// Decodes a SYN from client4 carrying `options` and returns (MSS, window scale).
    static func synOptions(_ options: [UInt8], flags: TCPFlags = .syn) -> (UInt16?, UInt8?) {
        var decoder = PacketDecoder(linkType: .ethernet)
        let frame = FrameBuilder.tcp(from: client4, to: server4, seq: 100, flags: flags, options: options)
        guard let segment = decoder.decodeSnapshot(frame).segment else { return (0xdead, 0xde) }
        return (segment.maximumSegmentSize, segment.windowScale)
    }

    @Test("A Linux SYN: MSS, SACK permitted, timestamps, NOP, window scale")
    func linuxSYN() {
        let options = TCPOption.maximumSegmentSize(1460) + TCPOption.sackPermitted
            + TCPOption.timestamps(value: 12_345, echo: 0) + TCPOption.noOperation + TCPOption.windowScale(7)
        let frame = FrameBuilder.tcp(
            from: client4, to: server4, seq: 0x1234_5678, flags: .syn, window: 64_240, options: options)
        var decoder = PacketDecoder(linkType: .ethernet)
        let expected = TCPSegmentSnapshot(
            source: client4, destination: server4, sequence: 0x1234_5678, flags: .syn, window: 64_240,
            windowScale: 7, maximumSegmentSize: 1460, payloadFrameOffset: 14 + 20 + 40)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test(
        "Option parsing tolerates bad lengths",
        arguments: [
            // Window scale above 14 is taken as 14 (RFC 7323 §2.3).
            (TCPOption.windowScale(15), nil, 14),
            (TCPOption.windowScale(14) + TCPOption.maximumSegmentSize(536), 536, 14),
            // A wrong-length MSS is skipped by its length; the option after it still counts.
            ([2, 3, 5] + TCPOption.windowScale(2), nil, 2),
            ([2, 6, 5, 0xb4, 0, 0] + TCPOption.windowScale(2), nil, 2),
            // Length 0 or 1 cannot advance: parsing stops, keeping what it found.
            (TCPOption.windowScale(3) + [8, 0, 2, 4, 5, 0xb4], nil, 3),
            (TCPOption.maximumSegmentSize(1400) + [8, 1] + TCPOption.windowScale(3), 1400, nil),
            // An option running past the header stops parsing.
            (TCPOption.maximumSegmentSize(1400) + [19, 40, 3, 3, 9], 1400, nil),
            // A length byte missing at the very end.
            ([1, 1, 1, 2], nil, nil),
            // Nothing after end of list counts.
            (TCPOption.endOfList + TCPOption.maximumSegmentSize(1400), nil, nil),
            // An MSS whose value the header cuts (8 bytes: no padding after it).
            ([1, 1, 1, 1, 1, 2, 4, 5], nil, nil),
        ] as [([UInt8], UInt16?, UInt8?)])
    func optionLengths(options: [UInt8], maximumSegmentSize: UInt16?, windowScale: UInt8?) {
        let (mss, scale) = Self.synOptions(options)
        #expect(mss == maximumSegmentSize)
        #expect(scale == windowScale)
    }

    @Test("MSS and window scale count only on SYNs")
    func optionsOnlyOnSYN() {
        let options = TCPOption.maximumSegmentSize(1460) + TCPOption.windowScale(7)
        let (mss, scale) = Self.synOptions(options, flags: .ack)
        #expect(mss == nil)
        #expect(scale == nil)
        let (synAckMSS, synAckScale) = Self.synOptions(options, flags: [.syn, .ack])
        #expect(synAckMSS == 1460)
        #expect(synAckScale == 7)
    }

    @Test("Data offset below 5 is malformed", arguments: [UInt8(0), 4])
    func dataOffsetBelowFive(words: UInt8) {
        let segment = FrameBuilder.tcpSegment(from: client4, to: server4, payload: request, dataOffset: words)
        let packet = FrameBuilder.ipPacket(from: client4.address, to: server4.address, protocol: 6, payload: segment)
        var decoder = PacketDecoder(linkType: .raw)
        #expect(decoder.decodeSnapshot(packet) == .malformed(layer: "tcp", reason: "data offset below 5"))
    }

    @Test("Data offset past the segment is malformed; past the capture, truncated")
    func dataOffsetPastSegment() {
        let segment = FrameBuilder.tcpSegment(from: client4, to: server4, payload: counting(20), dataOffset: 15)
        let packet = FrameBuilder.ipPacket(from: client4.address, to: server4.address, protocol: 6, payload: segment)
        var decoder = PacketDecoder(linkType: .raw)
        #expect(decoder.decodeSnapshot(packet) == .malformed(layer: "tcp", reason: "data offset past the end of the segment"))
        let long = FrameBuilder.tcpSegment(from: client4, to: server4, payload: counting(60), dataOffset: 15)
        let longPacket = FrameBuilder.ipPacket(from: client4.address, to: server4.address, protocol: 6, payload: long)
        #expect(decoder.decodeSnapshot(longPacket, capturedLength: 79) == .truncated(layer: "tcp"))
        #expect(decoder.decodeSnapshot(longPacket, capturedLength: 80).segment?.payload == [])
        #expect(decoder.decodeSnapshot(longPacket, capturedLength: 80).segment?.payloadWireLength == 20)
    }

    @Test("An IP payload shorter than TCP's header is malformed, not truncated")
    func segmentShorterThanHeader() {
        let packet = FrameBuilder.ipv4(source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: counting(19))
        var decoder = PacketDecoder(linkType: .ipv4)
        #expect(decoder.decodeSnapshot(packet) == .malformed(layer: "tcp", reason: "segment shorter than the 20-byte header"))
        #expect(decoder.decodeSnapshot(packet, capturedLength: 30) == .malformed(layer: "tcp", reason: "segment shorter than the 20-byte header"))
    }

    @Test("A payload cut by the snap length is not truncation", arguments: [54, 55, 100, 153])
    func snapLengthCut(capturedLength: Int) {
        let payload = counting(100)
        let frame = FrameBuilder.tcp(from: server4, to: client4, seq: 9, flags: [.psh, .ack], payload: payload)
        var decoder = PacketDecoder(linkType: .ethernet)
        withFrame(frame, capturedLength: capturedLength) { rawFrame in
            guard case .tcp(let segment) = decoder.decode(rawFrame) else {
                Issue.record("not decoded as TCP")
                return
            }
            #expect(segment.isPayloadTruncated)
            #expect(segment.payloadWireLength == 100)
            #expect(Array(segment.payload) == Array(payload.prefix(capturedLength - 54)))
            #expect(segment.payloadFrameOffset == 54)
        }
    }

    @Test("Flags outside TCPFlags (AccECN's AE, reserved bits) are dropped")
    func unnamedFlags() {
        var segment = FrameBuilder.tcpSegment(from: client4, to: server4, flags: [.syn, .ece, .cwr])
        segment[12] |= 0x0f  // the AE bit and the three reserved bits
        let packet = FrameBuilder.ipPacket(from: client4.address, to: server4.address, protocol: 6, payload: segment)
        var decoder = PacketDecoder(linkType: .raw)
        #expect(decoder.decodeSnapshot(packet).segment?.flags == [.syn, .ece, .cwr])
    }

    @Test("Every flag decodes")
    func allFlags() {
        let flags: TCPFlags = [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr]
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(FrameBuilder.tcp(from: client4, to: server4, flags: flags)).segment?.flags == flags)
        #expect(decoder.decodeSnapshot(FrameBuilder.tcp(from: client4, to: server4, flags: .rst)).segment?.flags == .rst)
    }
}
