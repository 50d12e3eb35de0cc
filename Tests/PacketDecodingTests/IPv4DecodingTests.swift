import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@Suite("IPv4")
struct IPv4DecodingTests {
    @Test("Options are skipped: IHL decides where TCP starts", arguments: [4, 8, 12, 40])
    func options(length: Int) {
        // Router alert (RFC 2113), then NOPs up to the length.
        let options: [UInt8] = [0x94, 0x04, 0x00, 0x00] + [UInt8](repeating: 1, count: length - 4)
        let frame = FrameBuilder.tcp(
            from: client4, to: server4, seq: 77, ack: 88, payload: request, ipv4Options: options)
        #expect(frame[14] == 0x40 | UInt8(5 + length / 4))
        var decoder = PacketDecoder(linkType: .ethernet)
        let expected = TCPSegmentSnapshot(
            source: client4, destination: server4, sequence: 77, acknowledgment: 88, payload: request,
            payloadFrameOffset: 14 + 20 + length + 20)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test("Ethernet padding is not payload: the total length bounds it", arguments: [0, 1, 5])
    func ethernetPadding(payloadLength: Int) {
        let payload = counting(payloadLength, from: 0x61)
        let frame = FrameBuilder.padded(
            FrameBuilder.tcp(from: server4, to: client4, seq: 5, flags: [.psh, .ack], payload: payload), fill: 0xee)
        #expect(frame.count == 60)
        var decoder = PacketDecoder(linkType: .ethernet)
        let expected = TCPSegmentSnapshot(
            source: server4, destination: client4, sequence: 5, flags: [.psh, .ack], payload: payload,
            payloadFrameOffset: 54, payloadWireLength: payloadLength)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test("Padding in a cooked capture is not payload either")
    func cookedPadding() {
        let frame = FrameBuilder.tcp(from: client4, to: server4, seq: 1, payload: [1, 2, 3], link: .linuxSLL2)
            + [0, 0, 0, 0, 0, 0]
        var decoder = PacketDecoder(linkType: .linuxSLL2)
        #expect(decoder.decodeSnapshot(frame).segment?.payload == [1, 2, 3])
    }

    @Test("IHL below 5 is malformed", arguments: [UInt8(0), 1, 4])
    func ihlBelowFive(words: UInt8) {
        let segment = FrameBuilder.tcpSegment(from: client4, to: server4)
        let packet = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: segment, headerLength: words)
        var decoder = PacketDecoder(linkType: .ipv4)
        #expect(decoder.decodeSnapshot(packet) == .malformed(layer: "ipv4", reason: "header length (IHL) below 5"))
    }

    @Test("IHL past the total length is malformed; past the capture, truncated")
    func ihlBeyond() {
        let segment = FrameBuilder.tcpSegment(from: client4, to: server4)
        let short = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: [], headerLength: 6, totalLength: 20)
        var decoder = PacketDecoder(linkType: .ipv4)
        #expect(decoder.decodeSnapshot(short) == .malformed(layer: "ipv4", reason: "total length shorter than the header"))
        let packet = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: segment, options: [1, 1, 1, 1, 1, 1, 1, 1])
        #expect(decoder.decodeSnapshot(packet, capturedLength: 27) == .truncated(layer: "ipv4"))
        #expect(decoder.decodeSnapshot(packet, capturedLength: 28) == .truncated(layer: "tcp"))
    }

    @Test("A total length past the wire length is malformed")
    func totalLengthPastWire() {
        let segment = FrameBuilder.tcpSegment(from: client4, to: server4, payload: [1, 2, 3, 4])
        let packet = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: segment, totalLength: 45)
        var decoder = PacketDecoder(linkType: .ipv4)
        #expect(
            decoder.decodeSnapshot(packet)
                == .malformed(layer: "ipv4", reason: "total length exceeds the frame's wire length"))
        // The same length within a longer wire length is a snap-length cut, not malformed.
        let cut = decoder.decodeSnapshot(packet, wireLength: 45)
        #expect(cut.segment?.payload == [1, 2, 3, 4])
        #expect(cut.segment?.payloadWireLength == 5)
    }

    @Test("Total length 0 (segmentation offload on the sender) uses the frame's length")
    func totalLengthZero() {
        let payload = counting(3000)
        let segment = FrameBuilder.tcpSegment(from: client4, to: server4, seq: 1, payload: payload)
        let packet = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: segment, totalLength: 0)
        var decoder = PacketDecoder(linkType: .ethernet)
        let frame = FrameBuilder.encapsulate(packet, link: .ethernet)
        let expected = TCPSegmentSnapshot(
            source: client4, destination: server4, sequence: 1, payload: payload, payloadFrameOffset: 54)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test("UDP and ICMP echo are not TCP")
    func notTCP() {
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(FrameBuilder.udp(from: client4, to: server4, payload: [1, 2])) == .notTCP)
        let echo = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 1, payload: [8, 0, 0xf7, 0xff, 0, 0, 0, 0])
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(echo, link: .ethernet)) == .notTCP)
    }

    @Test("The header checksum is not verified (offloaded on the sender)")
    func badChecksum() {
        var frame = FrameBuilder.tcp(from: client4, to: server4, seq: 4, payload: [9])
        frame[24] ^= 0xff
        var decoder = PacketDecoder(linkType: .ethernet)
        #expect(decoder.decodeSnapshot(frame).segment?.payload == [9])
    }
}
