/// Response times of one upstream, in microseconds: every value kept while there are at most
/// `exactLimit` (exact percentiles), then counted in a log-linear histogram whose buckets are
/// at most 1/64 of their value wide (HdrHistogram's layout), so a capture of millions of
/// requests holds 7 KB per upstream, not 4 bytes a request.
struct ResponseTimes: Sendable {
    /// Values kept one by one before the histogram takes over.
    static let exactLimit = 1 << 16

    private var exact: [UInt32] = []
    /// Empty until the values outgrow `exactLimit`.
    private var buckets: [UInt32] = []
    private(set) var count = 0
    private(set) var maximum: UInt32 = 0

    var isEmpty: Bool { self.count == 0 }

    mutating func add(_ value: UInt32) {
        self.count += 1
        self.maximum = max(self.maximum, value)
        if self.buckets.isEmpty {
            guard self.exact.count == Self.exactLimit else {
                self.exact.append(value)
                return
            }
            self.buckets = Array(repeating: 0, count: Self.bucketCount)
            for kept in self.exact { self.buckets[Self.bucket(of: kept)] += 1 }
            self.exact = []
        }
        self.buckets[Self.bucket(of: value)] += 1
    }

    /// The nearest-rank percentile: the smallest value with at least `percent`% of the values at
    /// or below it; from the histogram, the middle of its bucket (within 1/128 of the value).
    func percentile(_ percent: Int) -> UInt32 {
        precondition(self.count > 0)
        let rank = max(1, (self.count * percent + 99) / 100)
        if self.buckets.isEmpty {
            return self.exact.sorted()[rank - 1]
        }
        var seen = 0
        for (index, held) in self.buckets.enumerated() where held > 0 {
            seen += Int(held)
            if seen >= rank { return min(self.maximum, Self.middle(of: index)) }
        }
        return self.maximum
    }

    /// Values below 128 have a bucket each; above, each power of two is cut in 64.
    static let bucketCount = 26 * 64 + 64

    static func bucket(of value: UInt32) -> Int {
        guard value >= 128 else { return Int(value) }
        let shift = (31 - value.leadingZeroBitCount) - 6
        return shift * 64 + Int(value >> UInt32(shift))
    }

    static func middle(of bucket: Int) -> UInt32 {
        guard bucket >= 128 else { return UInt32(bucket) }
        let shift = bucket / 64 - 1
        let mantissa = UInt64(bucket - shift * 64)
        let low = mantissa << UInt64(shift)
        let high = ((mantissa + 1) << UInt64(shift)) - 1
        return UInt32(clamping: (low + high) / 2)
    }
}

/// When connections started, per upstream, for the timeline: each start kept while there are
/// at most `exactLimit`, then counted in `fineBins` columns per upstream whose width doubles as
/// the capture goes on. Drawn into the timeline's 60 columns, a column boundary is off by at
/// most one fine column (1/1024 of the capture or less); the memory stays flat however long
/// the capture.
struct ConnectionStarts: Sendable {
    static let exactLimit = 1 << 16
    static let fineBins = 2048

    private var exact: [(server: Int32, start: Int64, failed: Bool)] = []
    /// Per upstream, started and failed counts by fine column; empty until `exact` outgrows its limit.
    private var started: [[UInt32]] = []
    private var failed: [[UInt32]] = []
    private var anchor: Int64 = 0
    private var width: Int64 = 1
    private var binned = false

    mutating func add(server: Int32, start: Int64, failed: Bool) {
        guard self.binned else {
            if self.exact.count < Self.exactLimit {
                self.exact.append((server, start, failed))
                return
            }
            self.startBinning()
            self.add(server: server, start: start, failed: failed)
            return
        }
        if start < self.anchor {
            // Earlier than anything seen (connections end out of order): counted in the first column.
            self.count(server: server, column: 0, failed: failed)
            return
        }
        while (start - self.anchor) / self.width >= Int64(Self.fineBins) { self.widen() }
        self.count(server: server, column: Int((start - self.anchor) / self.width), failed: failed)
    }

    /// Forgets every start of `server`.
    mutating func remove(server: Int32) {
        if self.binned {
            if Int(server) < self.started.count {
                self.started[Int(server)] = Array(repeating: 0, count: Self.fineBins)
                self.failed[Int(server)] = Array(repeating: 0, count: Self.fineBins)
            }
        } else {
            self.exact.removeAll { $0.server == server }
        }
    }

    /// Each start as (server, time, failed, how many): one per connection while exact, one per
    /// non-empty fine column (at its middle) after.
    func forEach(_ body: (Int32, Int64, Bool, Int) -> Void) {
        guard self.binned else {
            for entry in self.exact { body(entry.server, entry.start, entry.failed, 1) }
            return
        }
        for server in self.started.indices {
            for column in 0..<Self.fineBins {
                let time = self.anchor + Int64(column) * self.width + self.width / 2
                let failed = Int(self.failed[server][column])
                let healthy = Int(self.started[server][column]) - failed
                if healthy > 0 { body(Int32(server), time, false, healthy) }
                if failed > 0 { body(Int32(server), time, true, failed) }
            }
        }
    }

    private mutating func startBinning() {
        self.binned = true
        let first = self.exact.map(\.start).min() ?? 0
        let last = self.exact.map(\.start).max() ?? first
        self.anchor = first
        // A quarter of the columns for what was seen: room to grow before the first doubling.
        self.width = max(1, (last - first) / Int64(Self.fineBins / 4) + 1)
        let kept = self.exact
        self.exact = []
        for entry in kept { self.add(server: entry.server, start: entry.start, failed: entry.failed) }
    }

    private mutating func widen() {
        for server in self.started.indices {
            for column in 0..<(Self.fineBins / 2) {
                self.started[server][column] = self.started[server][2 * column] + self.started[server][2 * column + 1]
                self.failed[server][column] = self.failed[server][2 * column] + self.failed[server][2 * column + 1]
            }
            for column in (Self.fineBins / 2)..<Self.fineBins {
                self.started[server][column] = 0
                self.failed[server][column] = 0
            }
        }
        self.width *= 2
    }

    private mutating func count(server: Int32, column: Int, failed: Bool) {
        while self.started.count <= Int(server) {
            self.started.append(Array(repeating: 0, count: Self.fineBins))
            self.failed.append(Array(repeating: 0, count: Self.fineBins))
        }
        self.started[Int(server)][column] += 1
        if failed { self.failed[Int(server)][column] += 1 }
    }
}
