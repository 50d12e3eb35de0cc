import CaptureModel
import PacketDecoding
import Testing
@testable import Reporting

/// Which frames the second reading puts in which slice (`SlicePlan.path(for:decoded:)`).
struct SlicePlanTests {
    static let gateway = Endpoint(address: .v4(0x0a00_0001), port: 41_000)
    static let upstream = Endpoint(address: .v4(0x0a00_0003), port: 8080)

    static func segment(_ source: Endpoint, _ destination: Endpoint) -> DecodedFrame {
        .tcp(TCPSegment(
            source: source, destination: destination, sequence: 1, acknowledgment: 1, flags: [.ack], window: 512,
            payload: UnsafeRawBufferPointer(start: nil, count: 0), payloadFrameOffset: nil, payloadWireLength: 0))
    }

    static func plan() -> SlicePlan {
        SlicePlan(slices: [(id: 7, server: Self.upstream, client: Self.gateway, frames: 10...20)], directory: "/out")
    }

    @Test func bothDirectionsOfTheSlicedConnectionInsideItsFramesAreInTheSlice() {
        let plan = Self.plan()
        #expect(plan.path(for: 10, decoded: Self.segment(Self.gateway, Self.upstream)) == "/out/slices/c7.pcap")
        #expect(plan.path(for: 20, decoded: Self.segment(Self.upstream, Self.gateway)) == "/out/slices/c7.pcap")
        #expect(plan.path(for: 21, decoded: Self.segment(Self.upstream, Self.gateway)) == nil)
        #expect(plan.path(for: 9, decoded: Self.segment(Self.gateway, Self.upstream)) == nil)
    }

    /// Another connection to the same server, and one from another host whose source port is the
    /// sliced connection's client port: neither is in the slice.
    @Test func otherConnectionsSharingAPortAreNotInTheSlice() {
        let plan = Self.plan()
        let otherClient = Endpoint(address: .v4(0x0a00_0001), port: 41_001)
        #expect(plan.path(for: 12, decoded: Self.segment(otherClient, Self.upstream)) == nil)
        #expect(plan.path(for: 12, decoded: Self.segment(Self.upstream, otherClient)) == nil)
        let otherHost = Endpoint(address: .v4(0x0a00_0002), port: 41_000)
        #expect(plan.path(for: 12, decoded: Self.segment(otherHost, Self.upstream)) == nil)
    }

    /// An ICMP error quoting the gateway's segment to the upstream is the connection's.
    @Test func anICMPErrorQuotingTheConnectionIsInTheSlice() {
        let plan = Self.plan()
        let quoting = ICMPUnreachable(isIPv6: false, code: 3, quotedSource: Self.gateway, quotedDestination: Self.upstream, quotedSequence: 1)
        #expect(plan.path(for: 15, decoded: .icmpUnreachable(quoting)) == "/out/slices/c7.pcap")
        let other = ICMPUnreachable(
            isIPv6: false, code: 3, quotedSource: Endpoint(address: .v4(0x0a00_0001), port: 41_002), quotedDestination: Self.upstream,
            quotedSequence: 1)
        #expect(plan.path(for: 15, decoded: .icmpUnreachable(other)) == nil)
    }
}
