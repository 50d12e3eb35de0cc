import CaptureModel

/// Rebuilds one direction of a TCP connection into an ordered byte stream.
///
/// Sequence numbers compare modulo 2^32 and become 64-bit offsets from the first payload byte
/// (Zeek's `ToRelativeSeqSpace`). In-order bytes are handed on in place, straight from the
/// packet buffer; only out-of-order segments are copied. Every byte range of the stream is
/// either delivered once or reported as a gap: nothing is skipped in silence.
public struct StreamReassembler {
    /// Who sends this stream.
    public let direction: Direction
    /// Whether the stream's offset 0 has been fixed (by a SYN, or by the first segment seen).
    public internal(set) var isStarted = false
    /// Whether offset 0 came from a SYN (else the capture picked the connection up mid-stream).
    public internal(set) var startedBySYN = false
    /// The next offset to deliver: everything before it was delivered or reported as a gap.
    public internal(set) var nextOffset: UInt64 = 0
    @usableFromInline var nextSequence: UInt32 = 0

    /// The offset of the sender's FIN, once seen.
    public internal(set) var finOffset: UInt64?
    @usableFromInline var finFrame: FrameNumber = 0
    /// Whether the FIN has been delivered (all bytes before it delivered or gapped).
    public internal(set) var finDelivered = false

    @usableFromInline var pending: [PendingSegment] = []
    /// Out-of-order bytes held now.
    public internal(set) var pendingBytes = 0

    // The most recent delivered bytes, contiguous and ending at `nextOffset`, so a
    // retransmission can be compared with the first copy.
    @usableFromInline var retained = RetainRing()
    @usableFromInline var retainedMarks: [FrameMark] = []
    /// Whether the global budget refused this stream a retention ring.
    @usableFromInline var retentionDenied = false

    /// Segments that carried only bytes already delivered (or buffered).
    public internal(set) var retransmittedSegments = 0
    /// The longest segment payload seen (the sender's segment size, as near as the capture knows).
    public internal(set) var largestSegment: UInt32 = 0
    /// Retransmissions as long as `largestSegment` (full-size segments sent again): what a
    /// path-MTU black hole leaves (`tcp.mtu_blackhole`).
    public internal(set) var fullSizeRetransmissions: UInt32 = 0
    /// The peer's ACKs that acknowledged nothing new while bytes were outstanding: it received
    /// something past a hole (a duplicate ACK, RFC 5681 §2), or answered with data.
    public internal(set) var duplicateAcknowledgments: UInt32 = 0
    /// The first full-size retransmission's frame (0: none yet; frames count from 1) and offset.
    @usableFromInline var firstFullSizeFrame: FrameNumber = 0
    @usableFromInline var firstFullSizeOffset: UInt64 = 0
    /// The furthest the peer acknowledged (an offset of this stream; `Int64.min` before any ACK).
    public internal(set) var highestAcknowledged = Int64.min

    /// The first full-size retransmission, if there was one.
    public var firstFullSizeRetransmission: (frame: FrameNumber, offset: UInt64)? {
        self.firstFullSizeFrame == 0 ? nil : (self.firstFullSizeFrame, self.firstFullSizeOffset)
    }
    /// Segments that arrived ahead of a hole and were buffered.
    public internal(set) var outOfOrderSegments = 0
    /// TCP keep-alive probes (one byte, or none, at `next - 1`).
    public internal(set) var keepAliveProbes = 0
    /// Bytes reported as gaps, by any reason.
    public internal(set) var gapBytes: UInt64 = 0
    /// Bytes of this stream that the snap length cut off.
    public internal(set) var truncatedBytes: UInt64 = 0
    /// Overlaps whose bytes differed from the first copy.
    public internal(set) var overlapMismatches = 0
    /// Times the out-of-order buffer hit its cap.
    public internal(set) var bufferLimitHits = 0
    /// Findings about this stream (overlap mismatches, limits), in the order they happened.
    public internal(set) var findings: [Finding] = []

    /// At most this many overlap-mismatch findings are kept per stream; the rest are counted.
    public static let maximumMismatchFindings = 8

    /// A stream not yet started.
    public init(direction: Direction) {
        self.direction = direction
    }

    /// Fixes offset 0 at `sequence` (the SYN's sequence number plus one).
    public mutating func start(atSequence sequence: UInt32, bySYN: Bool) {
        self.isStarted = true
        self.startedBySYN = bySYN
        self.nextSequence = sequence
        self.nextOffset = 0
    }

    /// The stream offset of sequence number `sequence` (negative: before the stream's start).
    @inlinable
    public func offset(ofSequence sequence: UInt32) -> Int64 {
        Int64(bitPattern: self.nextOffset) &+ sequenceDistance(from: self.nextSequence, to: sequence)
    }

    /// Feeds one segment of this direction and hands every event it makes ready to `emit`.
    ///
    /// - Parameters:
    ///   - sequence: the segment's sequence number (of its first payload byte, or of a bare FIN).
    ///   - payload: the captured payload.
    ///   - wireLength: the payload length the sender sent; more than `payload.count` when the
    ///     snap length cut the frame.
    ///   - fin: whether the segment carries FIN.
    public mutating func segment(
        sequence: UInt32, payload: UnsafeRawBufferPointer, wireLength: Int, fin: Bool,
        frame: FrameNumber, frameOffset: Int?, time: Timestamp,
        budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void
    ) {
        if !self.isStarted {
            self.start(atSequence: sequence, bySYN: false)
        }
        let start = self.offset(ofSequence: sequence)
        if fin, self.finOffset == nil {
            let end = start &+ Int64(wireLength)
            // RFC 9293 §3.10.7.4: nothing follows a FIN, so one before bytes already delivered
            // cannot end the stream, and held bytes past it are not stream bytes.
            if end >= Int64(bitPattern: self.nextOffset) {
                self.finOffset = UInt64(end)
                self.finFrame = frame
                self.dropPending(from: UInt64(end), budget: &budget)
            }
        }
        if wireLength > 0 {
            self.data(
                start: start, payload: payload, wireLength: wireLength, frame: frame,
                frameOffset: frameOffset, time: time, budget: &budget, emit: emit)
        }
        self.deliverFINIfReached(time: time, emit: emit)
    }

    private mutating func data(
        start: Int64, payload: UnsafeRawBufferPointer, wireLength: Int, frame: FrameNumber,
        frameOffset: Int?, time: Timestamp, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void
    ) {
        if UInt32(truncatingIfNeeded: wireLength) > self.largestSegment { self.largestSegment = UInt32(truncatingIfNeeded: wireLength) }
        var payload = payload
        var wireLength = wireLength
        var frameOffset = frameOffset
        var start = start
        if start < 0 {
            // Bytes from before the point where the capture fixed offset 0 (a mid-stream pickup
            // whose first segment was a later one): they cannot be placed, so they are dropped.
            let skip = Int(min(-start, Int64(wireLength)))
            wireLength -= skip
            payload = UnsafeRawBufferPointer(rebasing: payload[min(skip, payload.count)...])
            frameOffset = frameOffset.map { $0 + skip }
            start = 0
            guard wireLength > 0 else { return }
        }
        if let fin = self.finOffset, start &+ Int64(wireLength) > Int64(bitPattern: fin) {
            // Bytes past the sender's FIN are not stream bytes (RFC 9293 §3.10.7.4).
            guard start < Int64(bitPattern: fin) else { return }
            wireLength = Int(Int64(bitPattern: fin) - start)
            payload = UnsafeRawBufferPointer(rebasing: payload.prefix(wireLength))
        }
        let offset = UInt64(start)
        let wireEnd = offset &+ UInt64(wireLength)
        let capturedEnd = offset &+ UInt64(payload.count)
        if payload.count < wireLength {
            self.truncatedBytes &+= UInt64(wireLength - payload.count)
        }

        if wireEnd <= self.nextOffset {
            if wireLength <= 1, offset &+ 1 == self.nextOffset {
                // RFC 9293 §3.8.4: a keep-alive probe carries seq = next - 1 and zero or one
                // garbage byte; it is not a retransmission and its byte means nothing.
                self.keepAliveProbes &+= 1
                return
            }
            self.retransmittedSegments &+= 1
            if UInt32(truncatingIfNeeded: wireLength) == self.largestSegment {
                self.fullSizeRetransmissions &+= 1
                if self.firstFullSizeFrame == 0 {
                    self.firstFullSizeFrame = frame
                    self.firstFullSizeOffset = offset
                }
            }
            self.compareWithRetained(
                offset: offset, bytes: payload, frame: frame, frameOffset: frameOffset, budget: budget)
            return
        }
        if offset > self.nextOffset {
            self.buffer(
                offset: offset, payload: payload, truncatedTail: wireLength - payload.count,
                frame: frame, frameOffset: frameOffset, time: time, budget: &budget, emit: emit)
            return
        }
        // offset <= nextOffset < wireEnd: new bytes start at nextOffset, maybe after a retransmitted head.
        if offset < self.nextOffset {
            self.retransmittedSegments &+= 1
            self.compareWithRetained(
                offset: offset, bytes: payload, frame: frame, frameOffset: frameOffset, budget: budget)
        }
        let skip = Int(self.nextOffset &- offset)
        if skip < payload.count {
            let fresh = UnsafeRawBufferPointer(rebasing: payload[skip...])
            self.deliver(
                StreamData(bytes: fresh, offset: self.nextOffset, frame: frame,
                           frameOffset: frameOffset.map { $0 + skip }, time: time),
                budget: &budget, emit: emit)
        }
        if wireEnd > capturedEnd {
            self.skip(to: wireEnd, reason: .snapLength(frame: frame), time: time, budget: &budget, emit: emit)
        }
        self.drainPending(time: time, budget: &budget, emit: emit)
    }

    /// Records that the peer acknowledged everything before `sequence`: bytes of this direction
    /// that the peer received but the capture never saw are reported as a gap now.
    public mutating func acknowledged(
        upTo sequence: UInt32, time: Timestamp, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void
    ) {
        guard self.isStarted else { return }
        let acked = self.offset(ofSequence: sequence)
        if acked > self.highestAcknowledged {
            self.highestAcknowledged = acked
        } else if acked == self.highestAcknowledged, acked < Int64(bitPattern: self.nextOffset) {
            self.duplicateAcknowledgments &+= 1
        }
        guard acked > Int64(bitPattern: self.nextOffset) else { return }
        var target = UInt64(acked)
        if let fin = self.finOffset, target > fin {
            target = fin  // the FIN itself takes one sequence number
        }
        while self.nextOffset < target {
            if let first = self.pending.first, first.offset <= self.nextOffset {
                self.drainPending(time: time, budget: &budget, emit: emit)
                continue
            }
            let end = min(target, self.pending.first?.offset ?? target)
            self.skip(to: end, reason: .notCaptured, time: time, budget: &budget, emit: emit)
            self.drainPending(time: time, budget: &budget, emit: emit)
        }
        self.deliverFINIfReached(time: time, emit: emit)
    }

    /// Ends the stream: buffered segments are delivered after gaps for the holes before them,
    /// and a hole before a seen FIN becomes a gap, so every byte is accounted for.
    public mutating func finish(time: Timestamp, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void) {
        while let first = self.pending.first {
            if first.offset > self.nextOffset {
                self.skip(to: first.offset, reason: .notCaptured, time: time, budget: &budget, emit: emit)
            }
            self.drainPending(time: time, budget: &budget, emit: emit)
        }
        if let fin = self.finOffset, fin > self.nextOffset {
            self.skip(to: fin, reason: .notCaptured, time: time, budget: &budget, emit: emit)
        }
        self.deliverFINIfReached(time: time, emit: emit)
        self.stopRetaining(budget: &budget)
    }

    /// Lets go of the retained bytes for good: the connection is closed, and a lingering one
    /// need not hold 16 KiB per direction for retransmissions that rarely come. (A retransmission
    /// after this goes uncompared, as one past the ring's reach always did.)
    public mutating func stopRetaining(budget: inout ReassemblyBudget) {
        budget.retainedBytes -= self.retained.capacity
        // Moved out, not copied: the pool then holds the only reference, and empties them in place.
        var ring = RetainRing()
        var marks: [FrameMark] = []
        swap(&ring, &self.retained)
        swap(&marks, &self.retainedMarks)
        if let pool = budget.pool?.takeUnretainedValue() {
            pool.give(ring)
            pool.give(marks)
        }
        self.retentionDenied = true
    }

    // MARK: Delivery

    mutating func deliver(_ data: StreamData, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void) {
        emit(.data(data))
        self.nextOffset &+= UInt64(data.bytes.count)
        self.nextSequence &+= UInt32(truncatingIfNeeded: data.bytes.count)
        self.retain(data, budget: &budget)
    }

    /// Reports `[nextOffset, end)` as a gap and moves past it.
    mutating func skip(
        to end: UInt64, reason: GapReason, time: Timestamp, budget: inout ReassemblyBudget,
        emit: (StreamEvent) -> Void
    ) {
        guard end > self.nextOffset else { return }
        emit(.gap(range: self.nextOffset..<end, reason: reason, time: time))
        let length = end &- self.nextOffset
        self.gapBytes &+= length
        self.nextOffset = end
        self.nextSequence &+= UInt32(truncatingIfNeeded: length)
        // Retained bytes must end at nextOffset; after a gap they no longer do.
        self.retained.keepLast(0)
        self.retainedMarks.removeAll(keepingCapacity: true)
    }

    private mutating func deliverFINIfReached(time: Timestamp, emit: (StreamEvent) -> Void) {
        guard let fin = self.finOffset, !self.finDelivered, self.nextOffset >= fin, self.pending.isEmpty || fin <= self.nextOffset
        else { return }
        self.finDelivered = true
        emit(.fin(offset: fin, frame: self.finFrame, time: time))
    }
}

/// A segment held until the hole before it is filled.
@usableFromInline
struct PendingSegment {
    @usableFromInline var offset: UInt64
    @usableFromInline var bytes: [UInt8]
    /// Bytes after `bytes` that the sender sent but the snap length cut off.
    @usableFromInline var truncatedTail: Int
    @usableFromInline var frame: FrameNumber
    @usableFromInline var frameOffset: Int?
    @usableFromInline var time: Timestamp

    @usableFromInline var end: UInt64 { self.offset &+ UInt64(self.bytes.count + self.truncatedTail) }
}

/// Where a run of retained bytes came from.
@usableFromInline
struct FrameMark {
    @usableFromInline var offset: UInt64
    @usableFromInline var frame: FrameNumber
    @usableFromInline var frameOffset: Int?
}
