import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@Suite("ICMP errors quoting TCP")
struct ICMPDecodingTests {
    static let router4 = IPAddress.v4(0xc000_0201)
    static let router6 = IPAddress.v6(high: 0x2001_0db8_0000_00ff, low: 1)
    static let syn4 = FrameBuilder.tcpPacket(
        from: client4, to: server4, seq: 0xdead_beef, flags: .syn, options: TCPOption.maximumSegmentSize(1460))
    static let syn6 = FrameBuilder.tcpPacket(from: client6, to: server6, seq: 77, flags: .syn)

    @Test("ICMPv4 port unreachable names the refused connection", arguments: [nil, 28, 40] as [Int?])
    func ipv4PortUnreachable(quotedLength: Int?) {
        let frame = FrameBuilder.icmpUnreachable(
            from: Self.router4, to: client4.address, quoting: Self.syn4, quotedLength: quotedLength)
        var decoder = PacketDecoder(linkType: .ethernet)
        let expected = ICMPUnreachable(
            isIPv6: false, code: 3, quotedSource: client4, quotedDestination: server4, quotedSequence: 0xdead_beef)
        #expect(decoder.decodeSnapshot(frame) == .icmpUnreachable(expected))
    }

    @Test("Other ICMPv4 codes keep their code; a quote of only the ports has no sequence")
    func ipv4ShortQuote() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let hostUnreachable = FrameBuilder.icmpUnreachable(
            from: Self.router4, to: client4.address, code: 1, quoting: Self.syn4, quotedLength: 24)
        let expected = ICMPUnreachable(
            isIPv6: false, code: 1, quotedSource: client4, quotedDestination: server4, quotedSequence: nil)
        #expect(decoder.decodeSnapshot(hostUnreachable) == .icmpUnreachable(expected))
        // The full quote cut by the snap length inside the sequence number: ports only.
        let full = FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, code: 1, quoting: Self.syn4)
        #expect(decoder.decodeSnapshot(full, capturedLength: 14 + 20 + 8 + 20 + 6) == .icmpUnreachable(expected))
    }

    @Test("An ICMPv4 quote too short for the ports is malformed; cut by the capture, truncated")
    func ipv4QuoteTooShort() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let short = FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, quoting: Self.syn4, quotedLength: 22)
        #expect(decoder.decodeSnapshot(short) == .malformed(layer: "icmp", reason: "quote too short for the TCP ports"))
        let noHeader = FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, quoting: Self.syn4, quotedLength: 12)
        #expect(decoder.decodeSnapshot(noHeader) == .malformed(layer: "icmp", reason: "quote shorter than an IPv4 header"))
        let full = FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, quoting: Self.syn4)
        for cut in [35, 41, 42, 50, 61, 63, 65] {
            #expect(decoder.decodeSnapshot(full, capturedLength: cut) == .truncated(layer: "icmp"), "cut at \(cut)")
        }
    }

    @Test("ICMPv4 about UDP, later fragments, and echo are not TCP")
    func ipv4NotTCP() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let udp = Array(FrameBuilder.udp(from: client4, to: server4, payload: [1, 2, 3]).dropFirst(14))
        #expect(decoder.decodeSnapshot(FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, quoting: udp)) == .notTCP)
        let laterFragment = FrameBuilder.ipv4(
            source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 6, payload: counting(16), fragmentOffset: 64)
        #expect(
            decoder.decodeSnapshot(FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, quoting: laterFragment))
                == .notTCP)
        let echo = FrameBuilder.ipv4(source: 0x0a00_0001, destination: 0x0a00_0002, protocol: 1, payload: [0, 0, 0, 0, 0, 1, 0, 1])
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(echo, link: .ethernet)) == .notTCP)
    }

    @Test("A quoted IPv4 header with options is skipped by its IHL")
    func ipv4QuoteWithOptions() {
        let syn = FrameBuilder.tcpPacket(
            from: client4, to: server4, seq: 5, flags: .syn, ipv4Options: [0x94, 4, 0, 0, 1, 1, 1, 1])
        var decoder = PacketDecoder(linkType: .ethernet)
        let frame = FrameBuilder.icmpUnreachable(from: Self.router4, to: client4.address, quoting: syn, quotedLength: 36)
        #expect(decoder.decodeSnapshot(frame).unreachable?.quotedSequence == 5)
        let invalid = FrameBuilder.icmpUnreachable(
            from: Self.router4, to: client4.address, quoting: [0x44] + Self.syn4.dropFirst())
        #expect(decoder.decodeSnapshot(invalid) == .malformed(layer: "icmp", reason: "quoted header is not valid IPv4"))
    }

    @Test("ICMPv6 port unreachable names the refused connection", arguments: [nil, 48, 60] as [Int?])
    func ipv6PortUnreachable(quotedLength: Int?) {
        let frame = FrameBuilder.icmpUnreachable(
            from: Self.router6, to: client6.address, quoting: Self.syn6, quotedLength: quotedLength)
        var decoder = PacketDecoder(linkType: .linuxSLL2)
        let linux = FrameBuilder.encapsulate(Array(frame.dropFirst(14)), link: .linuxSLL2)
        let expected = ICMPUnreachable(
            isIPv6: true, code: 4, quotedSource: client6, quotedDestination: server6, quotedSequence: 77)
        #expect(decoder.decodeSnapshot(linux) == .icmpUnreachable(expected))
    }

    @Test("ICMPv6 skips the quoted packet's extension headers")
    func ipv6QuoteWithExtensionHeaders() {
        let syn = FrameBuilder.tcpPacket(
            from: client6, to: server6, seq: 99, flags: .syn,
            ipv6ExtensionHeaders: [.hopByHop(), .fragment(moreFragments: true)])
        var decoder = PacketDecoder(linkType: .ethernet)
        let frame = FrameBuilder.icmpUnreachable(from: Self.router6, to: client6.address, code: 1, quoting: syn)
        let expected = ICMPUnreachable(
            isIPv6: true, code: 1, quotedSource: client6, quotedDestination: server6, quotedSequence: 99)
        #expect(decoder.decodeSnapshot(frame) == .icmpUnreachable(expected))
        let cutInHeaders = FrameBuilder.icmpUnreachable(
            from: Self.router6, to: client6.address, quoting: syn, quotedLength: 52)
        #expect(decoder.decodeSnapshot(cutInHeaders) == .malformed(layer: "icmpv6", reason: "quote ends inside an extension header"))
        let ports = FrameBuilder.icmpUnreachable(from: Self.router6, to: client6.address, quoting: syn, quotedLength: 60)
        #expect(decoder.decodeSnapshot(ports).unreachable?.quotedSequence == nil)
        #expect(decoder.decodeSnapshot(ports).unreachable?.quotedDestination == server6)
    }

    @Test("ICMPv6 echo, other errors and quotes of UDP are not TCP")
    func ipv6NotTCP() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let udp = Array(FrameBuilder.udp(from: client6, to: server6, payload: [1]).dropFirst(14))
        #expect(decoder.decodeSnapshot(FrameBuilder.icmpUnreachable(from: Self.router6, to: client6.address, quoting: udp)) == .notTCP)
        let echo = FrameBuilder.ipv6(
            source: client6.address, destination: server6.address, nextHeader: 58, payload: [128, 0, 0, 0, 0, 1, 0, 1])
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(echo, link: .ethernet)) == .notTCP)
        let short = FrameBuilder.icmpUnreachable(from: Self.router6, to: client6.address, quoting: Self.syn6, quotedLength: 39)
        #expect(decoder.decodeSnapshot(short) == .malformed(layer: "icmpv6", reason: "quote shorter than an IPv6 header"))
    }

    @Test("ICMPv4 fragmentation needed keeps the next hop's MTU; time exceeded quotes TCP too")
    func ipv4FragmentationNeededAndTimeExceeded() {
        var decoder = PacketDecoder(linkType: .ethernet)
        // RFC 1191 §4: the next-hop MTU in the low 16 bits of the header's second word.
        var fragNeeded = FrameBuilder.icmpUnreachablePacket(from: Self.router4, to: client4.address, code: 4, quoting: Self.syn4)
        fragNeeded[26] = 0x03
        fragNeeded[27] = 0xe8
        let decoded = decoder.decodeSnapshot(FrameBuilder.encapsulate(fragNeeded, link: .ethernet)).unreachable
        #expect(decoded == ICMPUnreachable(
            isIPv6: false, code: 4, quotedSource: client4, quotedDestination: server4, quotedSequence: 0xdead_beef,
            type: 3, nextHopMTU: 1000))
        #expect(decoded?.kind == .packetTooBig)
        // Another unreachable's second word is unused: no MTU, whatever it holds.
        var host = FrameBuilder.icmpUnreachablePacket(from: Self.router4, to: client4.address, code: 1, quoting: Self.syn4)
        host[27] = 0x20
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(host, link: .ethernet)).unreachable?.nextHopMTU == 0)
        var exceeded = FrameBuilder.icmpUnreachablePacket(from: Self.router4, to: client4.address, code: 0, quoting: Self.syn4)
        exceeded[20] = 11
        let timeExceeded = decoder.decodeSnapshot(FrameBuilder.encapsulate(exceeded, link: .ethernet)).unreachable
        #expect(timeExceeded?.type == 11)
        #expect(timeExceeded?.kind == .timeExceeded)
        #expect(timeExceeded?.quotedSource == client4)
    }

    @Test("ICMPv6 packet too big keeps its MTU; time exceeded quotes TCP too")
    func ipv6PacketTooBigAndTimeExceeded() {
        var decoder = PacketDecoder(linkType: .ethernet)
        // RFC 4443 §3.2: type 2, code 0, the MTU in the second word.
        var tooBig = FrameBuilder.icmpUnreachablePacket(from: Self.router6, to: client6.address, code: 0, quoting: Self.syn6)
        tooBig[40] = 2
        tooBig[46] = 0x05
        tooBig[47] = 0x00
        let decoded = decoder.decodeSnapshot(FrameBuilder.encapsulate(tooBig, link: .ethernet)).unreachable
        #expect(decoded == ICMPUnreachable(
            isIPv6: true, code: 0, quotedSource: client6, quotedDestination: server6, quotedSequence: 77, type: 2, nextHopMTU: 1280))
        #expect(decoded?.kind == .packetTooBig)
        var exceeded = FrameBuilder.icmpUnreachablePacket(from: Self.router6, to: client6.address, code: 0, quoting: Self.syn6)
        exceeded[40] = 3
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(exceeded, link: .ethernet)).unreachable?.kind == .timeExceeded)
        // Parameter problem (type 4) is not one the analysis reads.
        var problem = FrameBuilder.icmpUnreachablePacket(from: Self.router6, to: client6.address, code: 0, quoting: Self.syn6)
        problem[40] = 4
        #expect(decoder.decodeSnapshot(FrameBuilder.encapsulate(problem, link: .ethernet)) == .notTCP)
    }
}
