import CaptureModel
import Engine
import PacketDecoding
import Reporting
import TCPReassembly
import Testing
import TestSupport

/// The live capture's packet ring: what a slice holds when a verdict lands.
struct PacketRingTests {
    let gateway = Endpoint(address: .v4(0x0a00_0005), port: 40_001)
    let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)

    /// Records a frame from the gateway (or the upstream) with `payload` bytes.
    func record(_ ring: inout PacketRing, number: FrameNumber, fromGateway: Bool = true, payload: Int = 0, port: UInt16? = nil, second: Int64 = 0) {
        var gateway = self.gateway
        if let port { gateway.port = port }
        let bytes = FrameBuilder.tcp(
            from: fromGateway ? gateway : self.upstream, to: fromGateway ? self.upstream : gateway, seq: 1, ack: 1, flags: .ack,
            payload: [UInt8](repeating: 0x41, count: payload))
        var decoder = PacketDecoder(linkType: .ethernet)
        withFrame(bytes, number: number, timestamp: Timestamp(nanoseconds: second * 1_000_000_000)) { frame in
            ring.record(frame, decoded: decoder.decode(frame))
        }
    }

    /// A report standing for a connection between the two endpoints over `frames`.
    func report(_ frames: ClosedRange<FrameNumber>, port: UInt16? = nil) throws -> ConnectionReport {
        // Built by the engine from a SYN and a RST, then moved to the frames wanted.
        var engine = Engine(linkType: .ethernet)
        var gateway = self.gateway
        if let port { gateway.port = port }
        withFrame(FrameBuilder.tcp(from: gateway, to: self.upstream, seq: 1, flags: .syn), number: frames.lowerBound) { _ = engine.process($0) }
        withFrame(FrameBuilder.tcp(from: self.upstream, to: gateway, seq: 0, ack: 2, flags: [.rst, .ack]), number: frames.upperBound) {
            _ = engine.process($0)
        }
        let report = try #require(engine.finish().connections.first)
        #expect(report.frames == frames)
        return report
    }

    @Test func aShortConnectionIsKeptWholeAndTakenOnce() throws {
        var ring = PacketRing()
        for number in FrameNumber(1)...6 {
            self.record(&ring, number: number, fromGateway: number % 2 == 1, payload: 100)
        }
        let slice = ring.take(try self.report(1...6))
        #expect(slice.packets.map(\.number) == [1, 2, 3, 4, 5, 6])
        #expect(slice.packets.first?.bytes.count == 54 + 100)
        #expect(slice.complete)
        #expect(slice.omitted == 0)
        #expect(ring.bytesHeld == 0)
        #expect(ring.connections == 0)
        #expect(ring.take(try self.report(1...6)).packets.isEmpty)
    }

    @Test func aLongConnectionKeepsItsStartAndItsEndAndCountsTheMiddle() throws {
        // 128 KiB per connection: 64 KiB of head, 64 KiB of tail; packets of 1000 + 54 + 64 bytes.
        var ring = PacketRing(perConnectionBytes: 128 << 10)
        for number in FrameNumber(1)...200 {
            self.record(&ring, number: number, payload: 1000)
        }
        let slice = ring.take(try self.report(1...200))
        let perPacket = 1000 + 54 + 64
        let kept = (64 << 10) / perPacket  // 58 at each end
        #expect(slice.packets.count == 2 * kept)
        #expect(slice.packets.prefix(kept).map(\.number) == Array(1...FrameNumber(kept)))
        #expect(slice.packets.suffix(kept).map(\.number) == Array(FrameNumber(200 - kept + 1)...200))
        #expect(slice.omitted == 200 - 2 * kept)
        #expect(!slice.complete)
        #expect(ring.bytesHeld == 0)
    }

    @Test func packetsOfANewConnectionOnTheSamePortsStay() throws {
        var ring = PacketRing()
        for number in FrameNumber(1)...8 {
            self.record(&ring, number: number)
        }
        let first = ring.take(try self.report(1...5))
        #expect(first.packets.map(\.number) == [1, 2, 3, 4, 5])
        #expect(ring.connections == 1)
        let second = ring.take(try self.report(6...8))
        #expect(second.packets.map(\.number) == [6, 7, 8])
        #expect(second.complete)
        #expect(ring.bytesHeld == 0)
    }

    @Test func pastTheTotalTheQuietestConnectionsLetGo() throws {
        // 256 KiB in all, 128 KiB per connection: four connections of ~70 KiB cannot all stay.
        var ring = PacketRing(perConnectionBytes: 128 << 10, totalBytes: 256 << 10)
        var number: FrameNumber = 0
        for port in UInt16(50_000)...50_003 {
            for _ in 0..<60 {
                number += 1
                self.record(&ring, number: number, payload: 1100, port: port)
            }
        }
        #expect(ring.bytesHeld <= 256 << 10)
        #expect(ring.connectionsEvicted >= 1)
        // The first connection was quiet longest: it went first, and its slice is empty.
        #expect(ring.take(try self.report(1...60, port: 50_000)).packets.isEmpty)
        let last = ring.take(try self.report(181...240, port: 50_003))
        #expect(last.packets.count == 60)
    }

    @Test func strayPacketsExpire() {
        var ring = PacketRing()
        self.record(&ring, number: 1, second: 10)
        self.record(&ring, number: 2, port: 50_000, second: 20)
        ring.expire(before: Timestamp(nanoseconds: 15 * 1_000_000_000))
        #expect(ring.connections == 1)
        ring.expire(before: Timestamp(nanoseconds: 25 * 1_000_000_000))
        #expect(ring.connections == 0)
        #expect(ring.bytesHeld == 0)
    }
}
