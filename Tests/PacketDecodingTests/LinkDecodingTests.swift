import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@Suite("Link layers")
struct LinkDecodingTests {
    @Test("IPv4 TCP in every link type", arguments: ipv4LinkTypes)
    func ipv4TCP(link: LinkType, headerLength: Int) {
        let frame = FrameBuilder.tcp(
            from: client4, to: server4, seq: 1000, ack: 2000, flags: [.psh, .ack], window: 512,
            payload: request, link: link)
        #expect(frame.count == headerLength + 40 + request.count)
        var decoder = PacketDecoder(linkType: link)
        let expected = TCPSegmentSnapshot(
            source: client4, destination: server4, sequence: 1000, acknowledgment: 2000, flags: [.psh, .ack],
            window: 512, payload: request, payloadFrameOffset: headerLength + 40)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test("IPv6 TCP in every link type", arguments: ipv6LinkTypes)
    func ipv6TCP(link: LinkType, headerLength: Int) {
        let frame = FrameBuilder.tcp(
            from: server6, to: client6, seq: 0xffff_fff0, ack: 7, flags: [.ack, .fin], window: 1,
            payload: request, link: link)
        #expect(frame.count == headerLength + 60 + request.count)
        var decoder = PacketDecoder(linkType: link)
        let expected = TCPSegmentSnapshot(
            source: server6, destination: client6, sequence: 0xffff_fff0, acknowledgment: 7, flags: [.ack, .fin],
            window: 1, payload: request, payloadFrameOffset: headerLength + 60)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test(
        "VLAN stacks: 802.1Q, QinQ, 0x9100, in Ethernet and Linux cooked headers",
        arguments: [
            (LinkType.ethernet, [UInt16(0x8100)], 18),
            (LinkType.ethernet, [0x88a8, 0x8100], 22),
            (LinkType.ethernet, [0x9100, 0x88a8, 0x8100], 26),
            (LinkType.ethernet, [0x9100, 0x9100, 0x9100, 0x8100], 30),
            (LinkType.linuxSLL, [0x8100], 20),
            (LinkType.linuxSLL2, [0x88a8, 0x8100], 28),
        ])
    func vlanStacks(link: LinkType, tagProtocols: [UInt16], ipOffset: Int) {
        let tags = tagProtocols.indices.map { UInt16(100 + $0) }
        let packet = FrameBuilder.tcpPacket(from: client4, to: server4, seq: 9, payload: [0x41, 0x42])
        let frame = FrameBuilder.encapsulate(packet, link: link, vlanTags: tags, vlanTagProtocols: tagProtocols)
        var decoder = PacketDecoder(linkType: link)
        let expected = TCPSegmentSnapshot(
            source: client4, destination: server4, sequence: 9, payload: [0x41, 0x42], payloadFrameOffset: ipOffset + 40)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))

        let packet6 = FrameBuilder.tcpPacket(from: client6, to: server6, seq: 9, payload: [0x41])
        let frame6 = FrameBuilder.encapsulate(packet6, link: link, vlanTags: tags, vlanTagProtocols: tagProtocols)
        #expect(decoder.decodeSnapshot(frame6).segment?.payloadFrameOffset == ipOffset + 60)
    }

    @Test("A frame cut inside a VLAN tag is truncated at the link layer")
    func cutInsideTag() {
        let frame = FrameBuilder.tcp(from: client4, to: server4, vlanTags: [1, 2])
        var decoder = PacketDecoder(linkType: .ethernet)
        for cut in [13, 14, 16, 17, 18, 20, 21] {
            #expect(decoder.decodeSnapshot(frame, capturedLength: cut) == .truncated(layer: "link"), "cut at \(cut)")
        }
        #expect(decoder.decodeSnapshot(frame, capturedLength: 22) == .truncated(layer: "ipv4"))
    }

    @Test(
        "NULL takes the family in either byte order, with every AF_INET6 value",
        arguments: [ByteOrder.littleEndian, .bigEndian], [UInt32(2), 10, 24, 28, 30])
    func nullFamilies(order: ByteOrder, family: UInt32) {
        let isIPv6 = family != 2
        let packet = isIPv6
            ? FrameBuilder.tcpPacket(from: client6, to: server6, seq: 3, payload: [7])
            : FrameBuilder.tcpPacket(from: client4, to: server4, seq: 3, payload: [7])
        let frame = FrameBuilder.encapsulate(packet, link: .null, addressFamily: family, familyByteOrder: order)
        let familyBytes: [UInt8] = order == .littleEndian ? [UInt8(family), 0, 0, 0] : [0, 0, 0, UInt8(family)]
        #expect(Array(frame.prefix(4)) == familyBytes)
        var decoder = PacketDecoder(linkType: .null)
        let expected = TCPSegmentSnapshot(
            source: isIPv6 ? client6 : client4, destination: isIPv6 ? server6 : server4, sequence: 3,
            payload: [7], payloadFrameOffset: isIPv6 ? 64 : 44)
        #expect(decoder.decodeSnapshot(frame) == .tcp(expected))
    }

    @Test("NULL and LOOP skip families that are not IP", arguments: [LinkType.null, .loop])
    func nonIPFamily(link: LinkType) {
        let packet = FrameBuilder.tcpPacket(from: client4, to: server4)
        var decoder = PacketDecoder(linkType: link)
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(packet, link: link, addressFamily: 7)) == .notTCP)
        #expect(decoder.decodeSnapshot([2, 0, 0], capturedLength: 3) == .truncated(layer: "link"))
    }

    @Test("LOOP writes the family in network byte order")
    func loopFamily() {
        let frame = FrameBuilder.tcp(from: client6, to: server6, seq: 1, link: .loop)
        #expect(Array(frame.prefix(4)) == [0, 0, 0, 24])
        var decoder = PacketDecoder(linkType: .loop)
        #expect(decoder.decodeSnapshot(frame).segment?.source == client6)
    }

    @Test("Other EtherTypes (ARP, 802.3 lengths, MPLS) are not TCP")
    func otherEtherTypes() {
        let packet = FrameBuilder.tcpPacket(from: client4, to: server4)
        var decoder = PacketDecoder(linkType: .ethernet)
        for type: UInt16 in [0x0806, 0x002e, 0x8847, 0x88cc] {
            #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(packet, link: .ethernet, etherType: type)) == .notTCP)
        }
        var cooked = PacketDecoder(linkType: .linuxSLL2)
        #expect(cooked.decodeSnapshot(FrameBuilder.encapsulate(packet, link: .linuxSLL2, etherType: 0x0806)) == .notTCP)
    }

    @Test("An EtherType that disagrees with the IP version is malformed")
    func etherTypeVersionMismatch() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let packet6 = FrameBuilder.tcpPacket(from: client6, to: server6)
        #expect(
            decoder.decodeSnapshot(FrameBuilder.encapsulate(packet6, link: .ethernet, etherType: 0x0800))
                == .malformed(layer: "ipv4", reason: "version is not 4"))
        let packet4 = FrameBuilder.tcpPacket(from: client4, to: server4)
        #expect(
            decoder.decodeSnapshot(FrameBuilder.encapsulate(packet4, link: .ethernet, etherType: 0x86dd))
                == .malformed(layer: "ipv6", reason: "version is not 6"))
    }

    @Test("RAW decides by the version nibble")
    func rawVersion() {
        var decoder = PacketDecoder(linkType: .raw)
        var packet = FrameBuilder.tcpPacket(from: client4, to: server4)
        packet[0] = 0x55
        #expect(decoder.decodeSnapshot(packet) == .malformed(layer: "ip", reason: "version is neither 4 nor 6"))
        #expect(decoder.decodeSnapshot([]) == .truncated(layer: "ip"))
        var ipv4Only = PacketDecoder(linkType: .ipv4)
        #expect(ipv4Only.decodeSnapshot([]) == .truncated(layer: "ipv4"))
    }

    @Test("Link headers shorter than their fixed size are truncated", arguments: ipv4LinkTypes)
    func shortLinkHeader(link: LinkType, headerLength: Int) {
        let frame = FrameBuilder.tcp(from: client4, to: server4, link: link)
        var decoder = PacketDecoder(linkType: link)
        for cut in 0..<headerLength {
            #expect(decoder.decodeSnapshot(frame, capturedLength: cut) == .truncated(layer: "link"), "cut at \(cut)")
        }
    }

    @Test("An unsupported link type decodes nothing")
    func unsupportedLinkType() {
        let linkType = LinkType(rawValue: 105)
        #expect(!linkType.isSupported)
        var decoder = PacketDecoder(linkType: linkType)
        #expect(decoder.decodeSnapshot(FrameBuilder.tcp(from: client4, to: server4)) == .notTCP)
    }
}
