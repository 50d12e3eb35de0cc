import CaptureModel
import PacketDecoding
import Testing
import TestSupport

/// The shared builders are what every other test stands on, so they are tested too.
@Suite("TestSupport builders")
struct TestSupportTests {
    /// The ones' complement sum of 16-bit words, folded: 0xffff over data whose checksum is right.
    static func onesComplementSum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            let high = UInt32(bytes[index]) << 8
            let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            sum += high | low
            index += 2
        }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return UInt16(sum)
    }

    @Test("IPv4 header and TCP checksums verify")
    func ipv4Checksums() {
        let packet = FrameBuilder.tcpPacket(
            from: client4, to: server4, seq: 1, payload: counting(33), ipv4Options: [0x94, 4, 0, 0])
        #expect(Self.onesComplementSum(Array(packet[0..<24])) == 0xffff)
        let segment = Array(packet[24...])
        let pseudo: [UInt8] = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, UInt8(segment.count)]
        #expect(Self.onesComplementSum(pseudo + segment) == 0xffff)
    }

    @Test("IPv6 TCP and ICMPv6 checksums verify")
    func ipv6Checksums() {
        let packet = FrameBuilder.tcpPacket(from: client6, to: server6, seq: 1, payload: counting(7))
        let segment = Array(packet[40...])
        let pseudo = FrameBuilder.addressBytes(client6.address) + FrameBuilder.addressBytes(server6.address)
            + [0, 0, 0, UInt8(segment.count), 0, 0, 0, 6]
        #expect(Self.onesComplementSum(pseudo + segment) == 0xffff)
        let router = IPAddress.v6(high: 0x2001_0db8_0000_00ff, low: 1)
        let icmp = FrameBuilder.icmpUnreachablePacket(from: router, to: client6.address, quoting: packet)
        let message = Array(icmp[40...])
        let icmpPseudo = FrameBuilder.addressBytes(router) + FrameBuilder.addressBytes(client6.address)
            + [0, 0, 0, UInt8(message.count), 0, 0, 0, 58]
        #expect(Self.onesComplementSum(icmpPseudo + message) == 0xffff)
    }

    @Test("Fragments carry the identification, offsets and MF bits")
    func fragmentFields() {
        let packet = FrameBuilder.tcpPacket(from: client4, to: server4, payload: counting(50), identification: 0xbeef)
        let fragments = FrameBuilder.ipv4Fragments(of: packet, boundaries: [16, 48])
        #expect(fragments.map(\.count) == [36, 52, 42])
        #expect(fragments.map { [$0[4], $0[5]] } == [[0xbe, 0xef], [0xbe, 0xef], [0xbe, 0xef]])
        #expect(fragments.map { UInt16($0[6]) << 8 | UInt16($0[7]) } == [0x2000, 0x2002, 0x0006])
        #expect(fragments.allSatisfy { Self.onesComplementSum(Array($0[0..<20])) == 0xffff })
    }

    @Test("Classic pcap, microseconds: exact header and record bytes")
    func pcapMicroseconds() {
        var builder = PcapFileBuilder(format: .pcapMicroseconds, linkType: .linuxSLL2, snapLength: 96)
        builder.append([1, 2, 3, 4, 5], at: Timestamp(seconds: 1_700_000_000, nanoseconds: 123_456_789), capturedLength: 3)
        let file = builder.build()
        #expect(Array(file[0..<24]) == [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 96, 0, 0, 0, 0x14, 0x01, 0, 0,
        ])
        // 1_700_000_000 = 0x6553f100; 123456 µs = 0x0001e240; caplen 3; len 5.
        #expect(Array(file[24...]) == [
            0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 3, 0, 0, 0, 5, 0, 0, 0, 1, 2, 3,
        ])
    }

    @Test("Classic pcap, nanoseconds, big-endian, with RAW stored as LINKTYPE_RAW")
    func pcapNanosecondsBigEndian() {
        var builder = PcapFileBuilder(format: .pcapNanoseconds, linkType: .raw, byteOrder: .bigEndian)
        builder.append([9], at: Timestamp(seconds: 2, nanoseconds: 5), wireLength: 1500)
        let file = builder.build()
        #expect(Array(file[0..<4]) == [0xa1, 0xb2, 0x3c, 0x4d])
        #expect(Array(file[20..<24]) == [0, 0, 0, 101])
        #expect(Array(file[24...]) == [0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0x05, 0xdc, 9])
    }

    @Test("pcapng: section header, interface with if_tsresol, enhanced packet blocks")
    func pcapng() {
        var builder = PcapFileBuilder(format: .pcapng(timestampDigits: 9), linkType: .ethernet, snapLength: 65_535)
        builder.append([0xaa, 0xbb, 0xcc, 0xdd, 0xee], at: Timestamp(nanoseconds: 0x1_0000_0002), capturedLength: 5, wireLength: 60)
        let file = builder.build()
        let sectionHeader: [UInt8] = [
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
        ]
        let interface: [UInt8] = [
            1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0, 0,
            9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
        ]
        let packet: [UInt8] = [
            6, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 60, 0, 0, 0,
            0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0, 40, 0, 0, 0,
        ]
        #expect(file == sectionHeader + interface + packet)
    }

    @Test("withFrame lends the captured prefix and the wire length")
    func withFrameLengths() {
        let (count, wire) = withFrame([1, 2, 3, 4], number: 7, capturedLength: 2) { frame in
            (frame.bytes.count, frame.wireLength)
        }
        #expect(count == 2)
        #expect(wire == 4)
        #expect(withFrame([1, 2, 3, 4], number: 7) { $0.number } == 7)
    }
}
