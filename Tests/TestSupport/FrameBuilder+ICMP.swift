import CaptureModel
import PacketDecoding

extension FrameBuilder {
    /// An ICMP destination-unreachable packet from `router` to `recipient` quoting `packet`
    /// (an IP packet such as `tcpPacket` returns): ICMPv4 type 3 (RFC 792) or ICMPv6 type 1
    /// (RFC 4443 §3.1), as the addresses are.
    ///
    /// - Parameters:
    ///   - code: the ICMP code; by default 3 (port unreachable) for IPv4, 4 for IPv6.
    ///   - quotedLength: how many bytes of `packet` to quote; by default all of it, up to what
    ///     a 576-byte (IPv4) or 1280-byte (IPv6) message holds, as Linux quotes.
    public static func icmpUnreachablePacket(
        from router: IPAddress, to recipient: IPAddress, code: UInt8? = nil, quoting packet: [UInt8],
        quotedLength: Int? = nil
    ) -> [UInt8] {
        switch router {
        case .v4(let source):
            guard case .v4(let destination) = recipient else {
                preconditionFailure("FrameBuilder: \(router) and \(recipient) are not of one IP version")
            }
            let quote = Array(packet.prefix(quotedLength ?? (576 - 28)))
            var message: [UInt8] = [3, code ?? 3, 0, 0, 0, 0, 0, 0] + quote
            message.setBigEndian(internetChecksum(message), at: 2)
            return self.ipv4(source: source, destination: destination, protocol: 1, payload: message)
        case .v6:
            let quote = Array(packet.prefix(quotedLength ?? (1280 - 48)))
            var message: [UInt8] = [1, code ?? 4, 0, 0, 0, 0, 0, 0] + quote
            let pseudo = self.pseudoHeader(router, recipient, protocol: 58, length: message.count)
            message.setBigEndian(internetChecksum(pseudo, message), at: 2)
            return self.ipv6(source: router, destination: recipient, nextHeader: 58, payload: message)
        }
    }

    /// `icmpUnreachablePacket` in a `link` header.
    public static func icmpUnreachable(
        from router: IPAddress, to recipient: IPAddress, code: UInt8? = nil, quoting packet: [UInt8],
        quotedLength: Int? = nil, link: LinkType = .ethernet, vlanTags: [UInt16] = []
    ) -> [UInt8] {
        self.encapsulate(
            self.icmpUnreachablePacket(
                from: router, to: recipient, code: code, quoting: packet, quotedLength: quotedLength),
            link: link, vlanTags: vlanTags)
    }

    /// A UDP datagram (RFC 768) in IP and `link`: traffic the decoder must skip as `.notTCP`.
    public static func udp(
        from source: Endpoint, to destination: Endpoint, payload: [UInt8] = [], link: LinkType = .ethernet
    ) -> [UInt8] {
        var datagram: [UInt8] = []
        datagram.appendBigEndian(source.port)
        datagram.appendBigEndian(destination.port)
        datagram.appendBigEndian(UInt16(8 + payload.count))
        datagram.appendBigEndian(UInt16(0))
        datagram += payload
        let checksum = internetChecksum(
            self.pseudoHeader(source.address, destination.address, protocol: 17, length: datagram.count), datagram)
        datagram.setBigEndian(checksum == 0 ? 0xffff : checksum, at: 6)
        return self.encapsulate(
            self.ipPacket(from: source.address, to: destination.address, protocol: 17, payload: datagram), link: link)
    }
}
