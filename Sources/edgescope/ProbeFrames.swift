import CaptureModel
import OpenSSLBridge
import PacketDecoding

/// A plain probe's transcript as the packets a capture on the probe's host would hold (link
/// type RAW: IPv4 or IPv6 headers, then TCP), so `analyze`'s engine judges the probe exactly as
/// it judges a capture.
///
/// Each event becomes the segments it put on the wire: connecting is a SYN, a refusal the RST
/// answering it, each read of the upstream's bytes one data segment at the time it arrived.
struct ProbeFrames {
    /// The frames, in order, with their times in nanoseconds since the Unix epoch.
    private(set) var frames: [(time: Int64, bytes: [UInt8])] = []
    let probe: Endpoint
    let upstream: Endpoint

    /// The frames of `transcript`, or `nil` when its addresses are not IP literals of one family.
    init?(_ transcript: ProbeTranscript) {
        guard let upstream = Endpoint(parsing: Substring(transcript.peer)) else { return nil }
        let probe = transcript.local.flatMap { Endpoint(parsing: Substring($0)) }
            ?? Endpoint(address: Self.sameFamilyUnspecified(as: upstream.address), port: 0)
        guard Self.isV4(probe.address) == Self.isV4(upstream.address) else { return nil }
        self.probe = probe
        self.upstream = upstream

        // Initial sequence numbers: any value works; these read well in a hex dump.
        var probeNext: UInt32 = 1_000
        var upstreamNext: UInt32 = 5_000
        for (time, event) in transcript.events {
            switch event {
            case .connecting:
                self.add(time, fromProbe: true, seq: probeNext &- 1, ack: 0, flags: Self.syn)
            case .refused:
                self.add(time, fromProbe: false, seq: 0, ack: probeNext, flags: Self.rst | Self.ack)
            case .connected:
                self.add(time, fromProbe: false, seq: upstreamNext &- 1, ack: probeNext, flags: Self.syn | Self.ack)
                self.add(time, fromProbe: true, seq: probeNext, ack: upstreamNext, flags: Self.ack)
            case .sent(let bytes):
                for chunk in Self.chunks(bytes) {
                    self.add(time, fromProbe: true, seq: probeNext, ack: upstreamNext, flags: Self.psh | Self.ack, payload: chunk)
                    probeNext &+= UInt32(chunk.count)
                }
            case .received(let bytes):
                for chunk in Self.chunks(bytes) {
                    self.add(time, fromProbe: false, seq: upstreamNext, ack: probeNext, flags: Self.psh | Self.ack, payload: chunk)
                    upstreamNext &+= UInt32(chunk.count)
                }
            case .upstreamClosed:
                self.add(time, fromProbe: false, seq: upstreamNext, ack: probeNext, flags: Self.fin | Self.ack)
                upstreamNext &+= 1
            case .upstreamReset:
                self.add(time, fromProbe: false, seq: upstreamNext, ack: probeNext, flags: Self.rst | Self.ack)
            case .probeClosed:
                self.add(time, fromProbe: true, seq: probeNext, ack: upstreamNext, flags: Self.fin | Self.ack)
                probeNext &+= 1
            }
        }
    }

    // RFC 9293 §3.1 control bits.
    private static let fin: UInt16 = 0x01, syn: UInt16 = 0x02, rst: UInt16 = 0x04, psh: UInt16 = 0x08, ack: UInt16 = 0x10

    /// Segments of at most 16 KiB, well inside an IP packet's 65,535 bytes.
    private static func chunks(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        stride(from: 0, to: bytes.count, by: 16_384).map { bytes[$0..<min($0 + 16_384, bytes.count)] }
    }

    private mutating func add(_ time: Int64, fromProbe: Bool, seq: UInt32, ack: UInt32, flags: UInt16, payload: ArraySlice<UInt8> = []) {
        let (source, destination) = fromProbe ? (self.probe, self.upstream) : (self.upstream, self.probe)
        var tcp: [UInt8] = []
        tcp.reserveCapacity(20 + payload.count)
        Self.append(&tcp, source.port)
        Self.append(&tcp, destination.port)
        Self.append(&tcp, seq)
        Self.append(&tcp, ack)
        Self.append(&tcp, UInt16(5) << 12 | flags)  // data offset 5 words: no options
        Self.append(&tcp, UInt16(65_535))  // window
        Self.append(&tcp, UInt16(0))  // checksum: the decoder does not verify it (offload)
        Self.append(&tcp, UInt16(0))  // urgent pointer
        tcp += payload
        self.frames.append((time, Self.ipPacket(from: source.address, to: destination.address, tcp)))
    }

    private static func ipPacket(from source: IPAddress, to destination: IPAddress, _ payload: [UInt8]) -> [UInt8] {
        var packet: [UInt8] = []
        switch (source, destination) {
        case (.v4(let from), .v4(let to)):
            // RFC 791: version 4, 5-word header, total length, DF, TTL 64, protocol 6 (TCP).
            packet = [0x45, 0]
            self.append(&packet, UInt16(20 + payload.count))
            packet += [0, 0, 0x40, 0, 64, 6, 0, 0]
            self.append(&packet, from)
            self.append(&packet, to)
            var sum: UInt32 = 0
            for index in stride(from: 0, to: 20, by: 2) { sum += UInt32(packet[index]) << 8 | UInt32(packet[index + 1]) }
            while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
            let checksum = ~UInt16(sum)
            packet[10] = UInt8(checksum >> 8)
            packet[11] = UInt8(checksum & 0xff)
        case (.v6(let fromHigh, let fromLow), .v6(let toHigh, let toLow)):
            // RFC 8200: version 6, payload length, next header 6 (TCP), hop limit 64.
            packet = [0x60, 0, 0, 0]
            self.append(&packet, UInt16(payload.count))
            packet += [6, 64]
            for part in [fromHigh, fromLow, toHigh, toLow] { self.append(&packet, part) }
        default:
            preconditionFailure("ProbeFrames.init checked that both addresses are of one family")
        }
        return packet + payload
    }

    private static func append(_ bytes: inout [UInt8], _ value: some FixedWidthInteger) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }

    private static func isV4(_ address: IPAddress) -> Bool {
        if case .v4 = address { return true }
        return false
    }

    private static func sameFamilyUnspecified(as address: IPAddress) -> IPAddress {
        self.isV4(address) ? .v4(0) : .v6(high: 0, low: 0)
    }
}
