import CaptureModel
import TCPReassembly
import Testing

private let isn: UInt32 = 1000
private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Test func inOrderSegmentsAreDeliveredInPlaceWithTheirFrames() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("HTTP/1.1 "), frame: 4)
    h.send(seq: isn + 10, bytes("200 OK\r\n"), frame: 6)
    #expect(h.events == [
        .data(bytes("HTTP/1.1 "), offset: 0, frame: 4, frameOffset: 54),
        .data(bytes("200 OK\r\n"), offset: 9, frame: 6, frameOffset: 54),
    ])
    #expect(h.stream.nextOffset == 17)
    #expect(h.stream.retransmittedSegments == 0)
}

@Test func outOfOrderSegmentIsHeldUntilTheHoleFills() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 6, bytes("world"), frame: 3)
    #expect(h.events.isEmpty)
    #expect(h.stream.pendingBytes == 5)
    h.send(seq: isn + 1, bytes("hello"), frame: 4)
    #expect(h.events == [
        .data(bytes("hello"), offset: 0, frame: 4, frameOffset: 54),
        .data(bytes("world"), offset: 5, frame: 3, frameOffset: 54),
    ])
    #expect(h.stream.outOfOrderSegments == 1)
    #expect(h.stream.pendingBytes == 0)
}

@Test func duplicateSegmentIsARetransmissionWithoutFinding() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("hello"), frame: 1)
    h.send(seq: isn + 1, bytes("hello"), frame: 2)
    #expect(h.events == [.data(bytes("hello"), offset: 0, frame: 1, frameOffset: 54)])
    #expect(h.stream.retransmittedSegments == 1)
    #expect(h.stream.findings.isEmpty)
}

@Test func overlapWithEqualBytesDeliversOnlyTheNewTail() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("0123456789"), frame: 1)
    h.send(seq: isn + 6, bytes("56789abcde"), frame: 2)
    #expect(h.events == [
        .data(bytes("0123456789"), offset: 0, frame: 1, frameOffset: 54),
        .data(bytes("abcde"), offset: 10, frame: 2, frameOffset: 59),
    ])
    #expect(h.stream.findings.isEmpty)
}

@Test func overlapWithDifferentBytesIsAFindingNamingBothFrames() throws {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("Content-Length: 5\r\n"), frame: 7)
    h.send(seq: isn + 1, bytes("Content-Length: 9\r\n"), frame: 9)
    #expect(h.contents == bytes("Content-Length: 5\r\n").map { $0 })
    let finding = try #require(h.stream.findings.first)
    #expect(finding.code == .tcpOverlapMismatch)
    #expect(finding.evidence.count == 2)
    #expect(finding.evidence[0].frame == 7)
    #expect(finding.evidence[0].streamOffset == 16)
    #expect(finding.evidence[0].frameOffset == 54 + 16)
    #expect(finding.evidence[0].bytes.first == UInt8(ascii: "5"))
    #expect(finding.evidence[1].frame == 9)
    #expect(finding.evidence[1].frameOffset == 54 + 16)
    #expect(finding.evidence[1].bytes.first == UInt8(ascii: "9"))
    #expect(h.stream.overlapMismatches == 1)
}

/// Issue 15 item 12: the evidence spans the bytes that differ, from the first to the last, not
/// a fixed window after the first: `5` against `9` is one byte, though `\r\n` follows.
@Test func overlapMismatchEvidenceSpansTheDifferingBytes() throws {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("Content-Length: 5\r\n"), frame: 7)
    h.send(seq: isn + 1, bytes("Content-Length: 9\r\n"), frame: 9)
    let finding = try #require(h.stream.findings.first)
    #expect(finding.evidence.map(\.streamOffset) == [16, 16])
    #expect(finding.evidence.map(\.length) == [1, 1])
    #expect(finding.evidence.map(\.bytes) == [bytes("5"), bytes("9")])

    // Delivered `abcdefghij`, then a copy differing at `c` and `f`: offsets 2 to 5, four bytes.
    var delivered = StreamHarness(isn: isn)
    delivered.send(seq: isn + 1, bytes("abcdefghij"), frame: 1)
    delivered.send(seq: isn + 1, bytes("abXdeYghij"), frame: 2)
    let rewritten = try #require(delivered.stream.findings.first)
    #expect(rewritten.evidence.map(\.streamOffset) == [2, 2])
    #expect(rewritten.evidence.map(\.length) == [4, 4])
    #expect(rewritten.evidence.map(\.bytes) == [bytes("cdef"), bytes("XdeY")])
    #expect(rewritten.evidence.map(\.frameOffset) == [54 + 2, 54 + 2])

    // Both copies still held out of order: `abcdef` and `aXcYef` at offset 10 differ from 11 to 13.
    var held = StreamHarness(isn: isn)
    held.send(seq: isn + 11, bytes("abcdef"), frame: 2)
    held.send(seq: isn + 11, bytes("aXcYef"), frame: 3)
    let buffered = try #require(held.stream.findings.first)
    #expect(buffered.evidence.map(\.streamOffset) == [11, 11])
    #expect(buffered.evidence.map(\.length) == [3, 3])
    #expect(buffered.evidence.map(\.bytes) == [bytes("bcd"), bytes("XcY")])
}

@Test func overlapWithDifferentBytesInTheOutOfOrderBufferIsAFinding() throws {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 11, bytes("abcdef"), frame: 2)
    h.send(seq: isn + 13, bytes("XYZ"), frame: 3)
    let finding = try #require(h.stream.findings.first)
    #expect(finding.code == .tcpOverlapMismatch)
    #expect(finding.evidence.map(\.frame) == [2, 3])
    #expect(finding.evidence[0].streamOffset == 12)
    h.send(seq: isn + 1, bytes("0123456789"), frame: 4)
    #expect(h.contents.compactMap { $0 } == bytes("0123456789abcdef"))
}

@Test func holeBeforeABufferedSegmentBecomesAGapAtFinish() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("0123456789"), frame: 1)
    h.send(seq: isn + 21, bytes("KLMNOPQRST"), frame: 3)
    h.finish()
    #expect(h.events == [
        .data(bytes("0123456789"), offset: 0, frame: 1, frameOffset: 54),
        .gap(10..<20, .notCaptured),
        .data(bytes("KLMNOPQRST"), offset: 20, frame: 3, frameOffset: 54),
    ])
    #expect(h.stream.gapBytes == 10)
}

@Test func acknowledgedBytesNeverSeenBecomeAGapAtOnce() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("0123456789"), frame: 1)
    h.ack(isn + 31, frame: 2)
    #expect(h.events.last == .gap(10..<30, .notCaptured))
    h.send(seq: isn + 31, bytes("after"), frame: 3)
    #expect(h.events.last == .data(bytes("after"), offset: 30, frame: 3, frameOffset: 54))
}

@Test func sequenceNumbersWrapPastTwoToTheThirtyTwo() {
    let start: UInt32 = 0xFFFF_FFF0
    var h = StreamHarness(isn: start)
    let chunk = [UInt8](repeating: 0x41, count: 16)
    h.send(seq: start &+ 1, chunk, frame: 1)
    h.send(seq: start &+ 17, chunk, frame: 2)
    h.send(seq: start &+ 33, chunk, frame: 3)
    #expect(h.events.map { event -> UInt64 in if case .data(_, let offset, _, _) = event { return offset } else { return 999 } } == [0, 16, 32])
    #expect(h.stream.nextOffset == 48)
    #expect(h.stream.offset(ofSequence: start &+ 49) == 48)
}

@Test func keepAliveProbeIsNeitherDataNorRetransmission() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("abc"), frame: 1)
    h.send(seq: isn + 3, [0x00], frame: 2)
    #expect(h.stream.keepAliveProbes == 1)
    #expect(h.stream.retransmittedSegments == 0)
    #expect(h.stream.findings.isEmpty)
}

@Test func snapLengthCutIsReportedAsItsOwnKindOfGap() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, bytes("HTTP/"), frame: 5, wireLength: 12)
    h.send(seq: isn + 13, bytes("next"), frame: 6)
    #expect(h.events == [
        .data(bytes("HTTP/"), offset: 0, frame: 5, frameOffset: 54),
        .gap(5..<12, .snapLength(frame: 5)),
        .data(bytes("next"), offset: 12, frame: 6, frameOffset: 54),
    ])
    #expect(h.stream.truncatedBytes == 7)
}

@Test func bufferCapTurnsTheOldestHoleIntoAGapAndAFinding() throws {
    var h = StreamHarness(isn: isn, limits: ReassemblyLimits(maxBufferedBytesPerDirection: 16))
    h.send(seq: isn + 101, [UInt8](repeating: 1, count: 10), frame: 1)
    h.send(seq: isn + 111, [UInt8](repeating: 2, count: 10), frame: 2)
    #expect(h.events.first == .gap(0..<100, .bufferLimit))
    #expect(h.stream.pendingBytes == 0)
    #expect(h.stream.nextOffset == 120)
    let finding = try #require(h.stream.findings.first)
    #expect(finding.code == .limitReassemblyBuffer)
    #expect(finding.evidence.first?.streamOffset == 0)
    #expect(h.budget.bufferedBytes == 0)
}

@Test func finIsDeliveredAfterTheLastByte() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 6, bytes("world"), frame: 2, fin: true)
    #expect(h.events.isEmpty)
    h.send(seq: isn + 1, bytes("hello"), frame: 3)
    #expect(h.events.last == .fin(offset: 10, frame: 2))
}

/// Any order of the same segments gives the same bytes, the same gaps and the same findings.
@Test(arguments: 0..<40)
func anyOrderOfSegmentsGivesTheSameStream(seed: UInt64) {
    var generator = SplitMix(seed: seed)
    let text = bytes("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!")
    // Cut into segments at fixed points, with one duplicate and one overlapping retransmission.
    let cuts = [0, 9, 17, 37, 41, 51]
    var segments: [(UInt32, [UInt8])] = []
    for (a, b) in zip(cuts, cuts.dropFirst()) {
        segments.append((isn + 1 + UInt32(a), Array(text[a..<b])))
    }
    segments.append((isn + 1 + 9, Array(text[9..<17])))
    segments.append((isn + 1 + 12, Array(text[12..<30])))
    var reference = StreamHarness(isn: isn)
    for (index, segment) in segments.enumerated() { reference.send(seq: segment.0, segment.1, frame: FrameNumber(index + 1)) }
    reference.finish()

    var shuffled = Array(segments.enumerated())
    for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
        shuffled.swapAt(i, Int(generator.next() % UInt64(i + 1)))
    }
    var h = StreamHarness(isn: isn)
    for (index, segment) in shuffled { h.send(seq: segment.0, segment.1, frame: FrameNumber(index + 1)) }
    h.finish()
    #expect(h.contents.compactMap { $0 } == text)
    #expect(h.contents == reference.contents)
    #expect(h.stream.findings.isEmpty)
    #expect(h.stream.gapBytes == 0)
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Found by Fuzz/FuzzReassembly: a SYN+FIN+RST+ACK carrying one byte, then a segment 0x7700
/// bytes further on whose two bytes the snap length cut. The held segment lay past the FIN, so
/// finish() reported a gap after the FIN event, which promises that no bytes follow.
@Test func bytesPastTheFINAreNotStreamBytes() {
    var h = StreamHarness(isn: isn)
    h.send(seq: isn + 1, [0x01], frame: 1, fin: true)
    h.send(seq: isn + 1 + 0x7700, [], frame: 2, wireLength: 2)
    h.send(seq: isn + 1, [0x01, 0x02, 0x03], frame: 3)
    h.finish()
    #expect(h.events == [.data([0x01], offset: 0, frame: 1, frameOffset: 54), .fin(offset: 1, frame: 1)])
    #expect(h.stream.pendingBytes == 0 && h.budget.bufferedBytes == 0)

    // Held first, FIN after: the held bytes past the FIN are dropped, those before it delivered.
    var late = StreamHarness(isn: isn)
    late.send(seq: isn + 4, bytes("defgh"), frame: 1)
    late.send(seq: isn + 1, bytes("abc"), frame: 2, fin: true)
    late.finish()
    #expect(late.events == [.data(bytes("abc"), offset: 0, frame: 2, frameOffset: 54), .fin(offset: 3, frame: 2)])
    #expect(late.stream.pendingBytes == 0 && late.budget.bufferedBytes == 0)

    // A FIN behind bytes already delivered does not end the stream there.
    var behind = StreamHarness(isn: isn)
    behind.send(seq: isn + 1, bytes("abcdef"), frame: 1)
    behind.send(seq: isn + 1, bytes("ab"), frame: 2, fin: true)
    behind.send(seq: isn + 7, bytes("g"), frame: 3, fin: true)
    #expect(behind.events.last == .fin(offset: 7, frame: 3))
}

/// The retransmission ring starts at 2 KiB and doubles to its 16 KiB cap as the stream grows,
/// keeping what it holds: a rewrite anywhere in the last 16 KiB is found (named with the first
/// copy's frame), one further back is not compared, and the budget is charged what is held.
@Test func retainedBytesGrowToTheCapAndStillCatchRewrites() throws {
    let start: UInt32 = 5000
    var h = StreamHarness(isn: start)
    let cap = ReassemblyLimits().retainedBytesPerDirection
    #expect(cap == 16 << 10)
    // Segments of 700 bytes, each byte telling its offset, up to 30,000 bytes.
    func segment(_ index: Int) -> [UInt8] { (0..<700).map { UInt8(truncatingIfNeeded: (index * 700 + $0) &* 7) } }
    h.send(seq: start + 1, segment(0), frame: 1)
    #expect(h.budget.retainedBytes == 2 << 10)
    for index in 1..<4 { h.send(seq: start + 1 + UInt32(index * 700), segment(index), frame: FrameNumber(index + 1)) }
    #expect(h.budget.retainedBytes == 4 << 10)
    for index in 4..<43 { h.send(seq: start + 1 + UInt32(index * 700), segment(index), frame: FrameNumber(index + 1)) }
    #expect(h.budget.retainedBytes == cap)
    #expect(h.stream.overlapMismatches == 0)

    // Segment 25 (offset 17,500) is within the last 16 KiB of 30,100 bytes: its rewrite is caught.
    var rewritten = segment(25)
    rewritten[100] ^= 0xff
    h.send(seq: start + 1 + 25 * 700, rewritten, frame: 100)
    #expect(h.stream.overlapMismatches == 1)
    let finding = try #require(h.stream.findings.first)
    #expect(finding.code == .tcpOverlapMismatch)
    #expect(finding.evidence[0].frame == 26)
    #expect(finding.evidence[0].streamOffset == 25 * 700 + 100)
    #expect(finding.evidence[1].frame == 100)

    // Segment 2 (offset 1,400) left the ring long ago: a retransmission, not compared.
    var old = segment(2)
    old[0] ^= 0xff
    let retransmitted = h.stream.retransmittedSegments
    h.send(seq: start + 1 + 2 * 700, old, frame: 101)
    #expect(h.stream.overlapMismatches == 1)
    #expect(h.stream.retransmittedSegments == retransmitted + 1)
}

/// The path-MTU facts (`tcp.mtu_blackhole`): retransmissions as long as the longest segment are
/// counted with the first of them, a shorter one is not; the peer's furthest ACK is kept, and an
/// ACK that acknowledges nothing new while bytes are outstanding is a duplicate.
@Test func fullSizeRetransmissionsAndThePeersACKsAreCounted() {
    var h = StreamHarness(isn: isn)
    let full = [UInt8](repeating: 0x61, count: 1448)
    h.ack(isn + 1, frame: 2)
    h.send(seq: isn + 1, full, frame: 3)
    h.send(seq: isn + 1 + 1448, full, frame: 4)
    h.send(seq: isn + 1 + 2896, bytes("tail"), frame: 5)
    #expect(h.stream.largestSegment == 1448)
    // The peer got only the tail: its ACK stays at the start, twice.
    h.ack(isn + 1, frame: 6)
    h.ack(isn + 1, frame: 7)
    h.send(seq: isn + 1, full, frame: 8)
    h.send(seq: isn + 1, full, frame: 9)
    h.send(seq: isn + 1 + 2896, bytes("tail"), frame: 10)
    h.send(seq: isn + 1, [UInt8](full.prefix(948)), frame: 11)
    #expect(h.stream.retransmittedSegments == 4)
    #expect(h.stream.fullSizeRetransmissions == 2)
    #expect(h.stream.firstFullSizeRetransmission?.frame == 8)
    #expect(h.stream.firstFullSizeRetransmission?.offset == 0)
    #expect(h.stream.highestAcknowledged == 0)
    #expect(h.stream.duplicateAcknowledgments == 2)
    // An ACK past everything: the highest moves on, and with nothing outstanding none is a duplicate.
    h.ack(isn + 1 + 2900, frame: 12)
    h.ack(isn + 1 + 2900, frame: 13)
    #expect(h.stream.highestAcknowledged == 2900)
    #expect(h.stream.duplicateAcknowledgments == 2)
}
