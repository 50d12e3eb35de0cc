import CaptureModel

extension PacketDecoder {
    /// Decodes a UDP header at `start` when either port is DNS's; any other datagram is
    /// `.notTCP`, so UDP costs two port reads.
    static func decodeUDP(
        _ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, capturedEnd: Int, source: IPAddress, destination: IPAddress
    ) -> DecodedFrame {
        var cursor = ByteCursor(bytes, at: start, end: capturedEnd)
        // RFC 768: source port, destination port, length, checksum.
        guard let sourcePort = cursor.readInteger(as: UInt16.self), let destinationPort = cursor.readInteger(as: UInt16.self) else {
            return .truncated(layer: "udp")
        }
        guard sourcePort == UDPDatagram.dnsPort || destinationPort == UDPDatagram.dnsPort else { return .notTCP }
        guard end &- start >= 8 else { return .malformed(layer: "udp", reason: "datagram shorter than the 8-byte header") }
        guard let length = cursor.readInteger(as: UInt16.self), cursor.skip(2) else { return .truncated(layer: "udp") }
        // The IP length ends the datagram; a UDP length that says less is believed (the rest is
        // padding), one that says more is not (RFC 768 leaves it to the receiver: Linux drops it).
        guard Int(length) >= 8, Int(length) <= end &- start else {
            return .malformed(layer: "udp", reason: "length field disagrees with the IP length")
        }
        let payloadStart = cursor.index
        let payloadEnd = min(start &+ Int(length), capturedEnd)
        return .udp(UDPDatagram(
            source: Endpoint(address: source, port: sourcePort), destination: Endpoint(address: destination, port: destinationPort),
            payload: UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<max(payloadStart, payloadEnd)]),
            payloadFrameOffset: payloadStart, payloadWireLength: Int(length) &- 8))
    }
}
