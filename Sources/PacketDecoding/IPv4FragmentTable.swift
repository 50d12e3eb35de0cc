import CaptureModel

/// Identifies one IPv4 datagram in reassembly (RFC 791 §3.2: source, destination, protocol and
/// identification together).
struct IPv4FragmentKey: Hashable, Sendable {
    var source: UInt32
    var destination: UInt32
    var identification: UInt16
    var protocolNumber: UInt8
}

/// IPv4 datagrams being rebuilt from their fragments, bounded in count, bytes and age.
///
/// Overlapping bytes keep their first copy, as the TCP reassembler does, and are counted; a
/// fragment that contradicts the datagram's length discards the datagram. Only the fragment
/// path touches this table, so its allocations never happen for unfragmented traffic.
struct IPv4FragmentTable: Sendable {
    /// The largest payload a datagram can have: 65535 bytes less the smallest header.
    static let maximumPayload = 65_535 &- 20

    /// What happened to one fragment.
    enum Insertion {
        /// Kept until the rest of its datagram arrives (or dropped by a limit, and counted).
        case held
        /// It contradicted the datagram's length, which was discarded.
        case contradicted
        /// It completed its datagram, whose payload is borrowed here until the next call.
        case completed(UnsafeRawBufferPointer)
    }

    let limits: PacketDecoder.Limits
    var counters = PacketDecoder.FragmentCounters()
    // Oldest first: eviction removes from the front. The count is small (a limit), so a
    // linear search beats a dictionary that would allocate.
    private var datagrams: [FragmentedDatagram] = []
    private var bytesHeld = 0
    // The last completed datagram, kept alive while the caller borrows its bytes.
    private var completed: ReassemblyBuffer?

    init(limits: PacketDecoder.Limits) {
        self.limits = limits
    }

    /// How many datagrams are waiting for fragments.
    var datagramsInProgress: Int { self.datagrams.count }

    /// Ends the loan of the previously completed datagram.
    @inline(__always)
    mutating func releaseCompleted() {
        if self.completed != nil { self.completed = nil }
    }

    /// Drops the datagram `key` (if held) because it can never be rebuilt.
    mutating func discard(_ key: IPv4FragmentKey) {
        guard let index = self.datagrams.firstIndex(where: { $0.key == key }) else { return }
        self.remove(at: index)
        self.counters.ipv4DatagramsDiscarded &+= 1
    }

    /// Adds the fragment carrying payload bytes `offset..<offset + data.count` of datagram `key`.
    mutating func insert(
        key: IPv4FragmentKey, offset: Int, data: UnsafeRawBufferPointer, isLast: Bool, at time: Timestamp
    ) -> Insertion {
        self.evictExpired(now: time)
        let end = offset &+ data.count
        var index: Int
        if let found = self.datagrams.firstIndex(where: { $0.key == key }) {
            index = found
        } else {
            while !self.datagrams.isEmpty, self.datagrams.count >= max(self.limits.maximumFragmentedDatagrams, 1) {
                self.remove(at: 0)
                self.counters.ipv4DatagramsEvicted &+= 1
            }
            if self.datagrams.isEmpty {
                self.datagrams.reserveCapacity(max(self.limits.maximumFragmentedDatagrams, 1))
            }
            self.datagrams.append(FragmentedDatagram(key: key, firstSeen: time, capacity: end))
            index = self.datagrams.count &- 1
        }

        // RFC 791 §3.2: the last fragment fixes the length; nothing may reach past it.
        if let total = self.datagrams[index].totalLength {
            guard end <= total, !isLast || end == total else { return self.contradict(at: index) }
        } else if isLast, end < self.datagrams[index].extent {
            return self.contradict(at: index)
        }

        let growth = end &- self.datagrams[index].extent
        if growth > 0 {
            // Evict the oldest other datagrams first: this one has just made progress.
            while self.bytesHeld &+ growth > self.limits.maximumFragmentBytes, self.datagrams.count > 1 {
                let oldest = index == 0 ? 1 : 0
                self.remove(at: oldest)
                self.counters.ipv4DatagramsEvicted &+= 1
                if oldest < index { index &-= 1 }
            }
            guard self.bytesHeld &+ growth <= self.limits.maximumFragmentBytes else {
                // This datagram alone is more than the table may hold.
                self.remove(at: index)
                self.counters.ipv4DatagramsEvicted &+= 1
                return .held
            }
            self.bytesHeld &+= growth
            self.datagrams[index].extent = end
        }
        if isLast { self.datagrams[index].totalLength = end }

        if self.datagrams[index].write(data, at: offset) {
            self.counters.ipv4OverlappingFragments &+= 1
        }
        guard let total = self.datagrams[index].totalLength, self.datagrams[index].receivedBytes == total else {
            return .held
        }
        let done = self.datagrams[index]
        self.remove(at: index)
        self.completed = done.buffer
        self.counters.ipv4DatagramsReassembled &+= 1
        return .completed(UnsafeRawBufferPointer(start: done.buffer.storage.baseAddress, count: total))
    }

    private mutating func contradict(at index: Int) -> Insertion {
        self.remove(at: index)
        self.counters.ipv4DatagramsDiscarded &+= 1
        return .contradicted
    }

    private mutating func remove(at index: Int) {
        self.bytesHeld &-= self.datagrams[index].extent
        self.datagrams.remove(at: index)
    }

    private mutating func evictExpired(now: Timestamp) {
        var index = 0
        while index < self.datagrams.count {
            if now.nanoseconds(since: self.datagrams[index].firstSeen) > self.limits.fragmentTimeoutNanoseconds {
                self.remove(at: index)
                self.counters.ipv4DatagramsEvicted &+= 1
            } else {
                index &+= 1
            }
        }
    }
}

/// One datagram in reassembly.
struct FragmentedDatagram: Sendable {
    var key: IPv4FragmentKey
    var firstSeen: Timestamp
    var buffer: ReassemblyBuffer
    /// The highest fragment end so far: the bytes this datagram counts against the limit.
    var extent = 0
    /// The payload length, known once the last fragment (MF clear) has arrived.
    var totalLength: Int?
    /// Distinct payload bytes received.
    var receivedBytes = 0
    /// One bit per 8-byte block received; fragment offsets count in 8-byte units (RFC 791).
    var blocks: [UInt64] = []

    init(key: IPv4FragmentKey, firstSeen: Timestamp, capacity: Int) {
        self.key = key
        self.firstSeen = firstSeen
        self.buffer = ReassemblyBuffer(capacity: capacity)
    }

    /// Copies the bytes of blocks not yet received; returns whether any block was already there.
    mutating func write(_ data: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        if !isKnownUniquelyReferenced(&self.buffer) {
            self.buffer = self.buffer.copy()
        }
        let end = offset &+ data.count
        self.buffer.reserve(end)
        let lastBlock = (end &+ 7) / 8
        let words = (lastBlock &+ 63) / 64
        if self.blocks.count < words {
            self.blocks.append(contentsOf: repeatElement(0, count: words &- self.blocks.count))
        }
        var overlapped = false
        var runStart = -1
        var block = offset / 8
        while block <= lastBlock {
            let isNew: Bool
            if block < lastBlock {
                let bit = UInt64(1) << UInt64(block & 63)
                isNew = self.blocks[block >> 6] & bit == 0
                if isNew {
                    self.blocks[block >> 6] |= bit
                    self.receivedBytes &+= min(8, end &- block &* 8)
                } else {
                    overlapped = true
                }
            } else {
                isNew = false  // past the end: flushes the last run
            }
            if isNew, runStart < 0 {
                runStart = block
            } else if !isNew, runStart >= 0 {
                let from = runStart &* 8
                let to = min(block &* 8, end)
                // Both `!` hold: the buffer was reserved to `end` above, and a run is never empty.
                let target = self.buffer.storage.baseAddress!.advanced(by: from)
                target.copyMemory(from: data.baseAddress!.advanced(by: from &- offset), byteCount: to &- from)
                runStart = -1
            }
            block &+= 1
        }
        return overlapped
    }
}
