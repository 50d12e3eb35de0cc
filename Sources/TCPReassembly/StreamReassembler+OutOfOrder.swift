import CaptureModel

extension StreamReassembler {
    /// Holds a segment that starts beyond `nextOffset`, after comparing it with any buffered copy.
    mutating func buffer(
        offset: UInt64, payload: UnsafeRawBufferPointer, truncatedTail: Int, frame: FrameNumber,
        frameOffset: Int?, time: Timestamp, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void
    ) {
        let end = offset &+ UInt64(payload.count + truncatedTail)
        var index = self.pending.count
        // Binary search for the first held segment starting at or after `offset`.
        var low = 0
        var high = self.pending.count
        while low < high {
            let middle = (low + high) / 2
            if self.pending[middle].offset < offset { low = middle + 1 } else { high = middle }
        }
        index = low
        // Compare with held neighbours that overlap: the one before may reach into us.
        var covered = false
        var probe = max(0, index - 1)
        while probe < self.pending.count, self.pending[probe].offset < end {
            let held = self.pending[probe]
            if held.end > offset {
                self.compare(
                    firstCopy: held.bytes, firstOffset: held.offset, firstFrame: held.frame,
                    firstFrameOffset: held.frameOffset, secondOffset: offset, second: payload,
                    secondFrame: frame, secondFrameOffset: frameOffset)
                if held.offset <= offset && held.end >= end {
                    covered = true
                }
            }
            probe += 1
        }
        if covered {
            self.retransmittedSegments &+= 1
            return
        }
        self.outOfOrderSegments &+= 1
        self.pending.insert(
            PendingSegment(offset: offset, bytes: [UInt8](payload), truncatedTail: truncatedTail,
                           frame: frame, frameOffset: frameOffset, time: time),
            at: index)
        self.pendingBytes += payload.count
        budget.bufferedBytes += payload.count

        // Over a cap: give up on the oldest hole. Its bytes become a gap so memory stays bounded.
        let limits = budget.limits
        var hit = false
        while !self.pending.isEmpty,
              self.pendingBytes > limits.maxBufferedBytesPerDirection || budget.bufferedBytes > limits.maxBufferedBytesTotal
        {
            hit = true
            let first = self.pending[0].offset
            if first > self.nextOffset {
                self.skipForLimit(to: first, time: time, budget: &budget, emit: emit)
            }
            self.drainPending(time: time, budget: &budget, emit: emit)
        }
        if hit {
            self.bufferLimitHits &+= 1
        }
    }

    private mutating func skipForLimit(
        to end: UInt64, time: Timestamp, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void
    ) {
        if self.bufferLimitHits == 0 {
            self.appendFinding(Finding(
                code: .limitReassemblyBuffer, severity: .warning,
                evidence: [Evidence(
                    direction: self.direction, streamOffset: self.nextOffset, frame: nil, frameOffset: nil,
                    length: end &- self.nextOffset,
                    note: "out-of-order buffer full (\(self.pendingBytes) bytes held); the missing bytes became a gap")]))
        }
        self.skip(to: end, reason: .bufferLimit, time: time, budget: &budget, emit: emit)
    }

    /// Forgets held bytes at or past `end` (the sender's FIN).
    mutating func dropPending(from end: UInt64, budget: inout ReassemblyBudget) {
        for index in self.pending.indices.reversed() where self.pending[index].end > end {
            let held = self.pending[index]
            let kept = held.offset < end ? min(held.bytes.count, Int(end &- held.offset)) : 0
            let dropped = held.bytes.count - kept
            self.pendingBytes -= dropped
            budget.bufferedBytes -= dropped
            if kept == 0 && held.offset >= end {
                self.pending.remove(at: index)
            } else {
                self.pending[index].bytes.removeLast(dropped)
                self.pending[index].truncatedTail = Int(end &- held.offset) - kept
            }
        }
    }

    /// Delivers every held segment that the stream has reached.
    mutating func drainPending(time: Timestamp, budget: inout ReassemblyBudget, emit: (StreamEvent) -> Void) {
        while let first = self.pending.first, first.offset <= self.nextOffset {
            self.pending.removeFirst()
            self.pendingBytes -= first.bytes.count
            budget.bufferedBytes -= first.bytes.count
            let end = first.end
            guard end > self.nextOffset else {
                self.compareHeldWithRetained(first, budget: budget)
                continue
            }
            if first.offset < self.nextOffset {
                self.compareHeldWithRetained(first, budget: budget)
            }
            let skip = Int(self.nextOffset &- first.offset)
            if skip < first.bytes.count {
                first.bytes.withUnsafeBytes { raw in
                    let fresh = UnsafeRawBufferPointer(rebasing: raw[skip...])
                    self.deliver(
                        StreamData(bytes: fresh, offset: self.nextOffset, frame: first.frame,
                                   frameOffset: first.frameOffset.map { $0 + skip }, time: first.time),
                        budget: &budget, emit: emit)
                }
            }
            if first.truncatedTail > 0 {
                self.skip(to: end, reason: .snapLength(frame: first.frame), time: first.time, budget: &budget, emit: emit)
            }
        }
    }

    private mutating func compareHeldWithRetained(_ held: PendingSegment, budget: ReassemblyBudget) {
        held.bytes.withUnsafeBytes { raw in
            self.compareWithRetained(
                offset: held.offset, bytes: raw, frame: held.frame, frameOffset: held.frameOffset, budget: budget)
        }
    }
}
