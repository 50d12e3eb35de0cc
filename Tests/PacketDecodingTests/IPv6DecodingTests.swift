import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@Suite("IPv6")
struct IPv6DecodingTests {
    @Test(
        "Extension headers are skipped to TCP",
        arguments: [
            ([IPv6ExtensionHeader.hopByHop()], 8),
            ([.hopByHop(options: [5, 2, 0, 0]), .destinationOptions(), .routing(), .destinationOptions(options: counting(10))], 40),
            ([.hopByHop(options: counting(14, from: 0x20))], 16),
            ([.routing(type: 4, segmentsLeft: 1, data: counting(20))], 24),
            ([.authentication()], 16),
            ([.authentication(integrityCheck: counting(12))], 24),
            ([.fragment()], 8),
            ([.hopByHop(), .fragment(identification: 9), .destinationOptions()], 24),
        ])
    func extensionHeaders(headers: [IPv6ExtensionHeader], length: Int) {
        let frame = FrameBuilder.tcp(
            from: client6, to: server6, seq: 31, ack: 41, payload: request, ipv6ExtensionHeaders: headers)
        #expect(frame.count == 14 + 40 + length + 20 + request.count)
        var decoder = PacketDecoder(linkType: .ethernet)
        let expected = TCPSegmentSnapshot(
            source: client6, destination: server6, sequence: 31, acknowledgment: 41, payload: request,
            payloadFrameOffset: 14 + 40 + length + 20)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test("Fragments other than atomic ones are held, not reassembled")
    func fragmentsHeld() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let first = FrameBuilder.tcp(
            from: client6, to: server6, payload: request, ipv6ExtensionHeaders: [.fragment(moreFragments: true)])
        #expect(decoder.decodeSnapshot(first) == .fragmentHeld)
        let later = FrameBuilder.encapsulate(
            FrameBuilder.ipv6(
                source: client6.address, destination: server6.address, nextHeader: 6, payload: counting(16),
                extensionHeaders: [.fragment(offset: 48, moreFragments: false)]),
            link: .ethernet)
        #expect(decoder.decodeSnapshot(later) == .fragmentHeld)
        #expect(decoder.fragmentCounters.ipv6FragmentsNotReassembled == 2)
        let udp = FrameBuilder.encapsulate(
            FrameBuilder.ipv6(
                source: client6.address, destination: server6.address, nextHeader: 17, payload: counting(16),
                extensionHeaders: [.fragment(offset: 48, moreFragments: false)]),
            link: .ethernet)
        #expect(decoder.decodeSnapshot(udp) == .notTCP)
        #expect(decoder.fragmentCounters.ipv6FragmentsNotReassembled == 2)
    }

    @Test("An extension header cut by the capture is truncated at ipv6")
    func truncatedExtensionHeader() {
        let frame = FrameBuilder.tcp(
            from: client6, to: server6, ipv6ExtensionHeaders: [.hopByHop(), .destinationOptions(options: counting(12))])
        var decoder = PacketDecoder(linkType: .ethernet)
        for cut in [54, 55, 61, 62, 63, 77] {
            #expect(decoder.decodeSnapshot(frame, capturedLength: cut) == .truncated(layer: "ipv6"), "cut at \(cut)")
        }
        #expect(decoder.decodeSnapshot(frame, capturedLength: 78) == .truncated(layer: "tcp"))
    }

    @Test("An extension header past the payload length is malformed")
    func extensionHeaderPastPayload() {
        let packet = FrameBuilder.ipv6(
            source: client6.address, destination: server6.address, nextHeader: 6,
            payload: FrameBuilder.tcpSegment(from: client6, to: server6),
            extensionHeaders: [.hopByHop(options: counting(20))], payloadLength: 16)
        var decoder = PacketDecoder(linkType: .ipv6)
        #expect(
            decoder.decodeSnapshot(packet)
                == .malformed(layer: "ipv6", reason: "extension headers run past the payload length"))
    }

    @Test("A payload length past the wire length is malformed; past the capture, a snap-length cut")
    func payloadLengthPastWire() {
        let packet = FrameBuilder.ipv6(
            source: client6.address, destination: server6.address, nextHeader: 6,
            payload: FrameBuilder.tcpSegment(from: client6, to: server6, payload: [1, 2]), payloadLength: 30)
        var decoder = PacketDecoder(linkType: .ipv6)
        #expect(
            decoder.decodeSnapshot(packet)
                == .malformed(layer: "ipv6", reason: "payload length exceeds the frame's wire length"))
        let cut = decoder.decodeSnapshot(packet, wireLength: 70)
        #expect(cut.segment?.payload == [1, 2])
        #expect(cut.segment?.payloadWireLength == 10)
    }

    @Test("Payload length 0 (jumbogram, BIG TCP) uses the frame's length")
    func payloadLengthZero() {
        let payload = counting(70_000)
        let packet = FrameBuilder.ipv6(
            source: client6.address, destination: server6.address, nextHeader: 6,
            payload: FrameBuilder.tcpSegment(from: client6, to: server6, seq: 2, payload: payload), payloadLength: 0)
        var decoder = PacketDecoder(linkType: .raw)
        let expected = TCPSegmentSnapshot(
            source: client6, destination: server6, sequence: 2, payload: payload, payloadFrameOffset: 60)
        #expect(decoder.decodeSnapshot(packet) == .tcp(expected))
    }

    @Test("No next header (59), UDP and ICMPv6 echo are not TCP")
    func notTCP() {
        var decoder = PacketDecoder(linkType: .ipv6)
        for nextHeader: UInt8 in [59, 17, 50] {
            let packet = FrameBuilder.ipv6(
                source: client6.address, destination: server6.address, nextHeader: nextHeader, payload: counting(8))
            #expect(decoder.decodeSnapshot(packet) == .notTCP)
        }
        let echo = FrameBuilder.ipv6(
            source: client6.address, destination: server6.address, nextHeader: 58, payload: [128, 0, 0, 0, 0, 1, 0, 1])
        #expect(decoder.decodeSnapshot(echo) == .notTCP)
    }
}
