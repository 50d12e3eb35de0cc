import CaptureModel

extension StreamReassembler {
    /// Keeps the bytes just delivered, so a later copy of them can be compared.
    mutating func retain(_ data: StreamData, budget: inout ReassemblyBudget) {
        let cap = budget.limits.retainedBytesPerDirection
        guard cap > 0 else { return }
        let count = data.bytes.count
        guard budget.retainedBytes + count <= budget.limits.retainedBytesTotal else {
            // Out of global budget: hold nothing for this stream rather than a run with a hole.
            budget.retainedBytes -= self.retained.count
            self.retained.removeAll(keepingCapacity: false)
            self.retainedMarks.removeAll(keepingCapacity: false)
            return
        }
        if self.retained.isEmpty {
            self.retainedMarks.removeAll(keepingCapacity: true)
        }
        self.retainedMarks.append(FrameMark(offset: data.offset, frame: data.frame, frameOffset: data.frameOffset))
        self.retained.append(contentsOf: data.bytes)
        budget.retainedBytes += count
        // Trim in batches (at twice the cap) so the memmove is amortised over many segments.
        if self.retained.count > 2 * cap {
            let drop = self.retained.count - cap
            self.retained.removeFirst(drop)
            budget.retainedBytes -= drop
            let newStart = self.nextOffset &- UInt64(self.retained.count)
            // Keep the last mark at or before the new start: it still names the first byte's frame.
            var keepFrom = 0
            while keepFrom + 1 < self.retainedMarks.count, self.retainedMarks[keepFrom + 1].offset <= newStart {
                keepFrom += 1
            }
            if keepFrom > 0 {
                self.retainedMarks.removeFirst(keepFrom)
            }
        }
    }

    /// Compares a copy of already-delivered bytes with the retained first copy.
    mutating func compareWithRetained(
        offset: UInt64, bytes: UnsafeRawBufferPointer, frame: FrameNumber, frameOffset: Int?,
        budget: ReassemblyBudget
    ) {
        guard !self.retained.isEmpty else { return }
        let retainedStart = self.nextOffset &- UInt64(self.retained.count)
        let low = max(offset, retainedStart)
        let high = min(offset &+ UInt64(bytes.count), self.nextOffset)
        guard low < high else { return }
        let firstIndex = Int(low &- retainedStart)
        let secondIndex = Int(low &- offset)
        let length = Int(high &- low)
        let mismatch: Int? = self.retained.withUnsafeBytes { first in
            for index in 0..<length where first[firstIndex + index] != bytes[secondIndex + index] {
                return index
            }
            return nil
        }
        guard let mismatch else { return }
        let at = low &+ UInt64(mismatch)
        let mark = self.mark(covering: at)
        self.retained.withUnsafeBytes { first in
            self.recordMismatch(
                at: at, firstCopy: UnsafeRawBufferPointer(rebasing: first[(firstIndex + mismatch)...]),
                firstFrame: mark?.frame, firstFrameOffset: mark.flatMap { m in m.frameOffset.map { $0 + Int(at &- m.offset) } },
                secondCopy: UnsafeRawBufferPointer(rebasing: bytes[(secondIndex + mismatch)...]),
                secondFrame: frame, secondFrameOffset: frameOffset.map { $0 + secondIndex + mismatch })
        }
    }

    /// Compares two copies of overlapping bytes that are both still held (out-of-order buffer).
    mutating func compare(
        firstCopy: [UInt8], firstOffset: UInt64, firstFrame: FrameNumber, firstFrameOffset: Int?,
        secondOffset: UInt64, second: UnsafeRawBufferPointer, secondFrame: FrameNumber, secondFrameOffset: Int?
    ) {
        let low = max(firstOffset, secondOffset)
        let high = min(firstOffset &+ UInt64(firstCopy.count), secondOffset &+ UInt64(second.count))
        guard low < high else { return }
        let firstIndex = Int(low &- firstOffset)
        let secondIndex = Int(low &- secondOffset)
        let length = Int(high &- low)
        firstCopy.withUnsafeBytes { first in
            for index in 0..<length where first[firstIndex + index] != second[secondIndex + index] {
                let at = low &+ UInt64(index)
                self.recordMismatch(
                    at: at, firstCopy: UnsafeRawBufferPointer(rebasing: first[(firstIndex + index)...]),
                    firstFrame: firstFrame, firstFrameOffset: firstFrameOffset.map { $0 + firstIndex + index },
                    secondCopy: UnsafeRawBufferPointer(rebasing: second[(secondIndex + index)...]),
                    secondFrame: secondFrame, secondFrameOffset: secondFrameOffset.map { $0 + secondIndex + index })
                return
            }
        }
    }

    private func mark(covering offset: UInt64) -> FrameMark? {
        var found: FrameMark?
        for mark in self.retainedMarks {
            if mark.offset <= offset { found = mark } else { break }
        }
        return found
    }

    private mutating func recordMismatch(
        at offset: UInt64, firstCopy: UnsafeRawBufferPointer, firstFrame: FrameNumber?, firstFrameOffset: Int?,
        secondCopy: UnsafeRawBufferPointer, secondFrame: FrameNumber, secondFrameOffset: Int?
    ) {
        self.overlapMismatches &+= 1
        guard self.overlapMismatches <= StreamReassembler.maximumMismatchFindings else { return }
        let shown = min(16, firstCopy.count, secondCopy.count)
        self.appendFinding(Finding(
            code: .tcpOverlapMismatch, severity: .warning,
            evidence: [
                Evidence(
                    direction: self.direction, streamOffset: offset, frame: firstFrame, frameOffset: firstFrameOffset,
                    length: UInt64(shown), bytes: [UInt8](firstCopy.prefix(shown)),
                    note: "first copy of these bytes (the one delivered)"),
                Evidence(
                    direction: self.direction, streamOffset: offset, frame: secondFrame, frameOffset: secondFrameOffset,
                    length: UInt64(shown), bytes: [UInt8](secondCopy.prefix(shown)),
                    note: "a later copy of the same sequence numbers with different bytes"),
            ]))
    }

    mutating func appendFinding(_ finding: Finding) {
        self.findings.append(finding)
    }
}
