import CaptureModel
@testable import TCPReassembly
import Testing

/// A stream that stops retaining leaves its ring and marks to the flow table's pool, and the
/// next stream retains into them: what it compares a retransmission with is its own bytes,
/// never those of the stream before.
@Suite struct RetentionPoolTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// One direction of a connection, on a budget shared with the others.
    static func send(_ stream: inout StreamReassembler, _ budget: inout ReassemblyBudget, seq: UInt32, _ payload: [UInt8], frame: FrameNumber) {
        payload.withUnsafeBytes { raw in
            stream.segment(
                sequence: seq, payload: raw, wireLength: payload.count, fin: false, frame: frame, frameOffset: 54,
                time: Timestamp(nanoseconds: Int64(frame) * 1000), budget: &budget) { _ in }
        }
    }

    static func stream(isn: UInt32) -> StreamReassembler {
        var stream = StreamReassembler(direction: .server)
        stream.start(atSequence: isn &+ 1, bySYN: true)
        return stream
    }

    @Test func theNextStreamComparesWithItsOwnBytesInTheRingTheLastOneLeft() throws {
        let pool = RetentionPool()
        var budget = ReassemblyBudget(limits: ReassemblyLimits())
        budget.pool = .passUnretained(pool)
        var first = Self.stream(isn: 1000)
        Self.send(&first, &budget, seq: 1001, Self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), frame: 1)
        first.stopRetaining(budget: &budget)
        #expect(pool.ringsKept == 1)
        #expect(pool.marksKept == 1)
        #expect(budget.retainedBytes == 0)

        var second = Self.stream(isn: 7000)
        Self.send(&second, &budget, seq: 7001, Self.bytes("HTTP/1.1 502 Bad\r\n"), frame: 5)
        #expect(pool.ringsKept == 0)
        #expect(pool.marksKept == 0)
        #expect(budget.retainedBytes == StreamReassembler.firstRetainedCapacity)
        // A copy of the second stream's bytes with one changed: found against its own first copy.
        Self.send(&second, &budget, seq: 7001, Self.bytes("HTTP/1.1 503 Bad\r\n"), frame: 6)
        let finding = try #require(second.findings.first)
        #expect(finding.code == .tcpOverlapMismatch)
        #expect(finding.evidence.map(\.streamOffset) == [11, 11])
        #expect(finding.evidence.map(\.frame) == [5, 6])
        #expect(finding.evidence.map(\.bytes) == [Self.bytes("2"), Self.bytes("3")])
    }

    @Test func aRingGrowsIntoAKeptLargerOneWithItsBytesInOrder() throws {
        let pool = RetentionPool()
        var budget = ReassemblyBudget(limits: ReassemblyLimits())
        budget.pool = .passUnretained(pool)
        // A stream whose ring grew to 4 KiB leaves it, and its 2 KiB one, to the pool.
        var first = Self.stream(isn: 1000)
        Self.send(&first, &budget, seq: 1001, [UInt8](repeating: 0x41, count: 1500), frame: 1)
        Self.send(&first, &budget, seq: 2501, [UInt8](repeating: 0x42, count: 1500), frame: 2)
        #expect(budget.retainedBytes == 4 << 10)
        #expect(pool.ringsKept == 1)  // the 2 KiB ring it grew out of
        first.stopRetaining(budget: &budget)
        #expect(pool.ringsKept == 2)

        // The next one starts in the 2 KiB ring and grows into the 4 KiB one.
        var second = Self.stream(isn: 9000)
        let head = (0..<1500).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let tail = (1500..<3000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        Self.send(&second, &budget, seq: 9001, head, frame: 3)
        Self.send(&second, &budget, seq: 9001 + 1500, tail, frame: 4)
        #expect(budget.retainedBytes == 4 << 10)
        #expect(pool.ringsKept == 1)  // the 2 KiB ring went back when it grew
        // A rewrite of byte 1000 of the first segment, held across the growth.
        var rewritten = head
        rewritten[1000] ^= 0xff
        Self.send(&second, &budget, seq: 9001, rewritten, frame: 5)
        let finding = try #require(second.findings.first)
        #expect(finding.evidence.map(\.streamOffset) == [1000, 1000])
        #expect(finding.evidence.map(\.frame) == [3, 5])
        #expect(finding.evidence[0].bytes == [head[1000]])
    }

    @Test func thePoolKeepsAtMostItsBytes() {
        let pool = RetentionPool()
        var ring = RetainRing()
        ring.allocate(16 << 10)
        for _ in 0..<1000 { pool.give(ring) }
        #expect(pool.ringsKept == RetentionPool.maximumRingBytes / (16 << 10))
        // A ring of a size it does not keep (an odd cap) is let go.
        var odd = RetainRing()
        odd.allocate(3000)
        pool.give(odd)
        #expect(pool.ringsKept == RetentionPool.maximumRingBytes / (16 << 10))
    }
}
