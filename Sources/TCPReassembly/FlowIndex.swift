import CaptureModel

/// The flow table's index from a connection's key to its slot, looked up for every packet.
///
/// Open addressing with linear probing (at most half full) and deletion by shifting back, so a
/// lookup is a hash of a few multiplications and, nearly always, one key compared; `Dictionary`
/// runs SipHash over every packet's key. The hash is seeded per table, as `Hasher` is per
/// process, so a capture cannot be made to pile its connections onto one probe run.
@usableFromInline
struct FlowIndex: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var key: FlowKey
        /// The flow-table slot; -1 for an empty entry.
        @usableFromInline var slot: Int32
    }

    @usableFromInline var entries: [Entry]
    @usableFromInline var mask: Int
    /// Keys held.
    @usableFromInline var count = 0
    @usableFromInline let seed: UInt64

    private static let empty = Entry(key: FlowKey(Endpoint(address: .v4(0), port: 0), Endpoint(address: .v4(0), port: 0)), slot: -1)

    /// An empty index.
    init() {
        self.seed = UInt64.random(in: .min ... .max)
        self.entries = Array(repeating: Self.empty, count: 1024)
        self.mask = 1023
    }

    var isEmpty: Bool { self.count == 0 }

    /// The slots held, in no particular order.
    var values: [Int] {
        var slots: [Int] = []
        slots.reserveCapacity(self.count)
        for entry in self.entries where entry.slot >= 0 { slots.append(Int(entry.slot)) }
        return slots
    }

    /// The slot of `key`'s connection; setting `nil` removes it.
    subscript(key: FlowKey) -> Int? {
        get {
            let (at, found) = self.position(of: key)
            return found ? Int(self.entries[at].slot) : nil
        }
        set {
            let (at, found) = self.position(of: key)
            if let slot = newValue {
                self.entries[at] = Entry(key: key, slot: Int32(slot))
                if !found {
                    self.count += 1
                    if self.count * 2 > self.entries.count { self.grow() }
                }
            } else if found {
                self.remove(at: at)
            }
        }
    }

    /// Where `key` is, or the empty entry where it would go.
    func position(of key: FlowKey) -> (at: Int, found: Bool) {
        self.entries.withUnsafeBufferPointer { entries in
            var at = Int(truncatingIfNeeded: self.hash(key)) & self.mask
            while true {
                if entries[at].slot < 0 { return (at, false) }
                if entries[at].key == key { return (at, true) }
                at = (at + 1) & self.mask
            }
        }
    }

    /// Empties the entry at `hole` and moves later entries of its probe run back into it, so no
    /// lookup stops short at an entry emptied in the middle of its run.
    @usableFromInline
    mutating func remove(at hole: Int) {
        var hole = hole
        var next = hole
        while true {
            next = (next + 1) & self.mask
            guard self.entries[next].slot >= 0 else { break }
            let home = Int(truncatingIfNeeded: self.hash(self.entries[next].key)) & self.mask
            // The entry stays when its home is cyclically within (hole, next].
            let stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next)
            if !stays {
                self.entries[hole] = self.entries[next]
                hole = next
            }
        }
        self.entries[hole] = Self.empty
        self.count -= 1
    }

    mutating func grow() {
        let old = self.entries
        self.entries = Array(repeating: Self.empty, count: old.count * 2)
        self.mask = self.entries.count - 1
        for entry in old where entry.slot >= 0 {
            var at = Int(truncatingIfNeeded: self.hash(entry.key)) & self.mask
            while self.entries[at].slot >= 0 { at = (at + 1) & self.mask }
            self.entries[at] = entry
        }
    }

    func hash(_ key: FlowKey) -> UInt64 {
        var word: UInt64
        switch (key.lower.address, key.upper.address) {
        case (.v4(let a), .v4(let b)):
            word = UInt64(a) << 32 | UInt64(b)
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            word = Self.mix(ah ^ Self.mix(al ^ Self.mix(bh ^ Self.mix(bl))))
        case (.v4(let a), .v6(let bh, let bl)):
            word = Self.mix(UInt64(a) ^ Self.mix(bh ^ Self.mix(bl)))
        case (.v6(let ah, let al), .v4(let b)):
            word = Self.mix(ah ^ Self.mix(al ^ Self.mix(UInt64(b))))
        }
        return Self.mix(Self.mix(word ^ self.seed) ^ (UInt64(key.lower.port) << 16 | UInt64(key.upper.port)))
    }

    /// SplitMix64's finaliser: every input bit moves every output bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
