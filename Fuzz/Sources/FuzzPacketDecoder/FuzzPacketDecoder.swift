// Link, IP and TCP decoding (PacketDecoder), over every link type, with IPv4 fragment reassembly.
//
// Input: [link type: 1] then records [caplen: 2][wire length delta: 1][time step: 1][bytes].
// Each frame is copied into an allocation of exactly its caplen, so AddressSanitizer sees any
// read past the captured bytes. One decoder reads all frames, so fragments meet across frames;
// its fragment limits are small so they are hit.
//
// Invariants: a segment's payload lies inside its frame at `payloadFrameOffset` (or, rebuilt from
// fragments, inside 64 KiB); the captured payload never exceeds the wire payload; the fragment
// table holds no more datagrams than its limit; counters only grow.
@testable import PacketDecoding
import CaptureModel
import FuzzSupport

let linkTypes: [Int32] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    let linkType = LinkType(rawValue: linkTypes[Int(input.u8()) % linkTypes.count])
    let limits = PacketDecoder.Limits(maximumFragmentedDatagrams: 3, maximumFragmentBytes: 3000, fragmentTimeoutNanoseconds: 2_000_000_000)
    var decoder = PacketDecoder(linkType: linkType, limits: limits)
    var time: Int64 = 1_700_000_000_000_000_000
    var number: FrameNumber = 0
    var previous = decoder.fragmentCounters
    while !input.isAtEnd {
        let caplen = Int(input.u16() & 0x0fff)
        let wireDelta = Int(input.u8())
        let step = input.u8()
        // Big steps pass the fragment timeout; 0xff goes back in time.
        time &+= step == 0xff ? -5_000_000_000 : Int64(step) * 50_000_000
        let bytes = input.take(caplen)
        number += 1
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        let frame = RawFrame(
            number: number, timestamp: Timestamp(nanoseconds: time),
            wireLength: wireDelta >= 0x80 ? max(0, bytes.count - (wireDelta & 0x7f)) : bytes.count + wireDelta,
            bytes: UnsafeRawBufferPointer(buffer))
        switch decoder.decode(frame) {
        case .tcp(let segment):
            require(segment.payload.count <= segment.payloadWireLength,
                    "captured payload \(segment.payload.count) > wire payload \(segment.payloadWireLength)")
            require(segment.payloadWireLength >= 0, "negative wire payload \(segment.payloadWireLength)")
            if let offset = segment.payloadFrameOffset {
                require(offset >= 0 && offset + segment.payload.count <= bytes.count, "payload \(offset)+\(segment.payload.count) outside the \(bytes.count)-byte frame")
                if segment.payload.count > 0 {
                    require(segment.payload.baseAddress! == UnsafeRawPointer(buffer.baseAddress!) + offset, "payload does not start at its frame offset")
                }
            } else {
                require(segment.payload.count <= 65_535, "a rebuilt datagram's payload of \(segment.payload.count) bytes")
                require(segment.payload.count == segment.payloadWireLength, "a rebuilt datagram cut short: \(segment.payload.count) of \(segment.payloadWireLength)")
                // Touch every byte: a dangling or short buffer shows under AddressSanitizer.
                var sum: UInt8 = 0
                for byte in segment.payload { sum &+= byte }
                _ = sum
            }
        case .udp(let datagram):
            // DNS (port 53): the payload lies inside the frame, no longer than the UDP length says.
            require(datagram.payload.count <= datagram.payloadWireLength,
                    "captured UDP payload \(datagram.payload.count) > wire payload \(datagram.payloadWireLength)")
            require(datagram.payloadFrameOffset >= 0 && datagram.payloadFrameOffset + datagram.payload.count <= bytes.count,
                    "UDP payload \(datagram.payloadFrameOffset)+\(datagram.payload.count) outside the \(bytes.count)-byte frame")
        case .icmpUnreachable, .fragmentHeld, .notTCP, .truncated, .malformed:
            break
        }
        require(decoder.fragments.datagramsInProgress <= limits.maximumFragmentedDatagrams, "\(decoder.fragments.datagramsInProgress) datagrams in reassembly")
        let counters = decoder.fragmentCounters
        require(counters.ipv4FragmentsSeen >= previous.ipv4FragmentsSeen && counters.ipv4DatagramsEvicted >= previous.ipv4DatagramsEvicted
                && counters.ipv4DatagramsReassembled >= previous.ipv4DatagramsReassembled, "fragment counters went down")
        previous = counters
    }
    return 0
}
