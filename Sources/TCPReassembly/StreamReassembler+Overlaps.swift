import CaptureModel

extension StreamReassembler {
    /// Keeps the bytes just delivered, so a later copy of them can be compared.
    /// What a stream's ring first holds.
    static let firstRetainedCapacity = 2 << 10

    mutating func retain(_ data: StreamData, budget: inout ReassemblyBudget) {
        let cap = budget.limits.retainedBytesPerDirection
        guard cap > 0, !self.retentionDenied else { return }
        let wanted = min(cap, self.retained.count + data.bytes.count)
        if wanted > self.retained.capacity {
            // Grown by doubling from 2 KiB (then to the cap): a ring holds the last `cap` bytes
            // however it grew, so only memory changes.
            var capacity = max(self.retained.capacity * 2, Self.firstRetainedCapacity)
            while capacity < wanted { capacity *= 2 }
            capacity = min(capacity, cap)
            let extra = capacity - self.retained.capacity
            if budget.retainedBytes + extra <= budget.limits.retainedBytesTotal {
                let pool = budget.pool?.takeUnretainedValue()
                if self.retained.capacity == 0 {
                    if let ring = pool?.takeRing(capacity: capacity) { self.retained = ring } else { self.retained.allocate(capacity) }
                } else {
                    let old = self.retained
                    self.retained.grow(to: capacity, into: pool?.takeRing(capacity: capacity))
                    pool?.give(old)
                }
                budget.retainedBytes += extra
            } else if self.retained.capacity == 0 {
                // Out of global budget: this stream's retransmissions go uncompared.
                self.retentionDenied = true
                return
            }
            // Else the ring stays as it is and keeps the last bytes it can.
        }
        if self.retained.count == 0 {
            if !self.retainedMarks.isEmpty { self.retainedMarks.removeAll(keepingCapacity: true) }
            if self.retainedMarks.capacity == 0, let marks = budget.pool?.takeUnretainedValue().takeMarks() { self.retainedMarks = marks }
        }
        self.retainedMarks.append(FrameMark(offset: data.offset, frame: data.frame, frameOffset: data.frameOffset))
        self.retained.append(data.bytes)
        // Drop marks wholly before the ring's first byte, in batches so the shift is amortised.
        if self.retainedMarks.count > 64 {
            let start = self.nextOffset &- UInt64(self.retained.count)
            var keepFrom = 0
            while keepFrom + 1 < self.retainedMarks.count, self.retainedMarks[keepFrom + 1].offset <= start {
                keepFrom += 1
            }
            if keepFrom > 0 { self.retainedMarks.removeFirst(keepFrom) }
        }
    }

    /// Compares a copy of already-delivered bytes with the retained first copy.
    mutating func compareWithRetained(
        offset: UInt64, bytes: UnsafeRawBufferPointer, frame: FrameNumber, frameOffset: Int?,
        budget: ReassemblyBudget
    ) {
        guard self.retained.count > 0 else { return }
        let retainedStart = self.nextOffset &- UInt64(self.retained.count)
        let low = max(offset, retainedStart)
        let high = min(offset &+ UInt64(bytes.count), self.nextOffset)
        guard low < high else { return }
        let firstIndex = Int(low &- retainedStart)
        let secondIndex = Int(low &- offset)
        let length = Int(high &- low)
        var mismatch: Int?
        for index in 0..<length where self.retained[firstIndex + index] != bytes[secondIndex + index] {
            mismatch = index
            break
        }
        guard let mismatch else { return }
        // The evidence spans the differing bytes: from the first to the last that differ.
        var last = length - 1
        while last > mismatch, self.retained[firstIndex + last] == bytes[secondIndex + last] { last -= 1 }
        let at = low &+ UInt64(mismatch)
        let mark = self.mark(covering: at)
        let firstCopy = self.retained.copy(from: firstIndex + mismatch, length: 16)
        firstCopy.withUnsafeBytes { first in
            self.recordMismatch(
                at: at, length: last - mismatch + 1, firstCopy: first,
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
                // The evidence spans the differing bytes: from the first to the last that differ.
                var last = length - 1
                while last > index, first[firstIndex + last] == second[secondIndex + last] { last -= 1 }
                self.recordMismatch(
                    at: at, length: last - index + 1, firstCopy: UnsafeRawBufferPointer(rebasing: first[(firstIndex + index)...]),
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
        at offset: UInt64, length: Int, firstCopy: UnsafeRawBufferPointer, firstFrame: FrameNumber?, firstFrameOffset: Int?,
        secondCopy: UnsafeRawBufferPointer, secondFrame: FrameNumber, secondFrameOffset: Int?
    ) {
        self.overlapMismatches &+= 1
        guard self.overlapMismatches <= StreamReassembler.maximumMismatchFindings else { return }
        let shown = min(16, length, firstCopy.count, secondCopy.count)
        self.appendFinding(Finding(
            code: .tcpOverlapMismatch, severity: .warning,
            evidence: [
                Evidence(
                    direction: self.direction, streamOffset: offset, frame: firstFrame, frameOffset: firstFrameOffset,
                    length: UInt64(length), bytes: [UInt8](firstCopy.prefix(shown)),
                    note: "first copy of these bytes (the one delivered)"),
                Evidence(
                    direction: self.direction, streamOffset: offset, frame: secondFrame, frameOffset: secondFrameOffset,
                    length: UInt64(length), bytes: [UInt8](secondCopy.prefix(shown)),
                    note: "a later copy of the same sequence numbers with different bytes"),
            ]))
    }

    mutating func appendFinding(_ finding: Finding) {
        self.findings.append(finding)
    }
}
