import CaptureModel
import PacketDecoding
import Testing
import TestSupport

/// Every cut of a frame, from 0 bytes to all of them, decodes to the layer the cut falls in.
@Suite("Truncation at each layer")
struct TruncationTests {
    /// What a frame cut at `cut` bytes must decode to.
    static func expectation(
        cut: Int, linkHeader: Int, linkType: LinkType, ipLayer: String, ipHeader: Int, tcpHeader: Int,
        segment: TCPSegmentSnapshot
    ) -> DecodedFrameSnapshot {
        if cut < linkHeader { return .truncated(layer: "link") }
        if cut == 0 {
            // Without a link header, the version nibble is the first thing missing.
            return .truncated(layer: linkType == .ipv4 || linkType == .ipv6 ? ipLayer : "ip")
        }
        if cut < linkHeader + ipHeader { return .truncated(layer: ipLayer) }
        if cut < linkHeader + ipHeader + tcpHeader { return .truncated(layer: "tcp") }
        var cutSegment = segment
        cutSegment.payload = Array(segment.payload.prefix(cut - linkHeader - ipHeader - tcpHeader))
        return .tcp(cutSegment)
    }

    @Test("IPv4 with options, TCP with options, every cut", arguments: ipv4LinkTypes)
    func ipv4(link: LinkType, linkHeader: Int) {
        let options = TCPOption.maximumSegmentSize(1460) + TCPOption.windowScale(8)
        let frame = FrameBuilder.tcp(
            from: client4, to: server4, seq: 1, ack: 2, flags: [.syn, .ack], options: options, payload: counting(12),
            link: link, ipv4Options: [1, 1, 1, 1])
        let segment = TCPSegmentSnapshot(
            source: client4, destination: server4, sequence: 1, acknowledgment: 2, flags: [.syn, .ack],
            windowScale: 8, maximumSegmentSize: 1460, payload: counting(12),
            payloadFrameOffset: linkHeader + 24 + 28, payloadWireLength: 12)
        var decoder = PacketDecoder(linkType: link)
        for cut in 0...frame.count {
            let expected = Self.expectation(
                cut: cut, linkHeader: linkHeader, linkType: link, ipLayer: "ipv4", ipHeader: 24, tcpHeader: 28,
                segment: segment)
            #expect(decoder.decodeSnapshot(frame, capturedLength: cut) == expected, "cut at \(cut)")
        }
    }

    @Test("IPv6 with a hop-by-hop header, every cut", arguments: ipv6LinkTypes)
    func ipv6(link: LinkType, linkHeader: Int) {
        let frame = FrameBuilder.tcp(
            from: server6, to: client6, seq: 3, ack: 4, payload: counting(9), link: link,
            ipv6ExtensionHeaders: [.hopByHop()])
        let segment = TCPSegmentSnapshot(
            source: server6, destination: client6, sequence: 3, acknowledgment: 4, payload: counting(9),
            payloadFrameOffset: linkHeader + 48 + 20, payloadWireLength: 9)
        var decoder = PacketDecoder(linkType: link)
        for cut in 0...frame.count {
            let expected = Self.expectation(
                cut: cut, linkHeader: linkHeader, linkType: link, ipLayer: "ipv6", ipHeader: 48, tcpHeader: 20,
                segment: segment)
            #expect(decoder.decodeSnapshot(frame, capturedLength: cut) == expected, "cut at \(cut)")
        }
    }
}
