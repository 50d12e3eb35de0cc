/// The newest ring position (a non-negative `Int`) for each key of the client-hop correlation's
/// chains: a request's method-and-target hash, its id's hash. Every request stores one or two and
/// the oldest leaves, so these maps change at the rate of requests; a `Dictionary` hashed each
/// key with SipHash again. Keys are hashes already: here they are mixed once (SplitMix64's
/// finaliser) and placed by linear probing, and a removal shifts the run back (no tombstones).
struct HeadIndex {
    /// `keys[i]` is meaningful where `values[i] >= 0`.
    private var keys: [Int]
    private var values: [Int]
    private var mask: Int
    private(set) var count = 0

    init() {
        self.keys = Array(repeating: 0, count: 16)
        self.values = Array(repeating: -1, count: 16)
        self.mask = 15
    }

    var isEmpty: Bool { self.count == 0 }

    @inline(__always)
    private func home(_ key: Int) -> Int {
        var z = UInt64(bitPattern: Int64(key)) &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z ^= z >> 31
        return Int(truncatingIfNeeded: z) & self.mask
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func slot(of key: Int) -> (index: Int, found: Bool) {
        var index = self.home(key)
        while self.values[index] >= 0 {
            if self.keys[index] == key { return (index, true) }
            index = (index &+ 1) & self.mask
        }
        return (index, false)
    }

    /// The value for `key`, if any.
    subscript(key: Int) -> Int? {
        let (index, found) = self.slot(of: key)
        return found ? self.values[index] : nil
    }

    /// Sets `key` to `value` (not negative); returns the value it replaced.
    @discardableResult
    mutating func updateValue(_ value: Int, forKey key: Int) -> Int? {
        precondition(value >= 0, "HeadIndex holds non-negative values")
        let (index, found) = self.slot(of: key)
        if found {
            let old = self.values[index]
            self.values[index] = value
            return old
        }
        self.keys[index] = key
        self.values[index] = value
        self.count += 1
        if self.count * 2 > self.values.count { self.grow() }
        return nil
    }

    /// Removes `key` if its value is `value` (the ring position leaving); true when it did.
    @discardableResult
    mutating func remove(_ key: Int, ifValueIs value: Int) -> Bool {
        let (found, isThere) = self.slot(of: key)
        guard isThere, self.values[found] == value else { return false }
        // Backward shift: move later members of the run into the hole when their home allows.
        var hole = found
        var next = (hole &+ 1) & self.mask
        while self.values[next] >= 0 {
            let home = self.home(self.keys[next])
            // `next` may fill `hole` when its home is not in (hole, next], cyclically.
            let distanceToNext = (next &- home) & self.mask
            let distanceToHole = (next &- hole) & self.mask
            if distanceToNext >= distanceToHole {
                self.keys[hole] = self.keys[next]
                self.values[hole] = self.values[next]
                hole = next
            }
            next = (next &+ 1) & self.mask
        }
        self.values[hole] = -1
        self.count -= 1
        return true
    }

    private mutating func grow() {
        let oldKeys = self.keys
        let oldValues = self.values
        let capacity = oldValues.count * 2
        self.keys = Array(repeating: 0, count: capacity)
        self.values = Array(repeating: -1, count: capacity)
        self.mask = capacity - 1
        for index in oldValues.indices where oldValues[index] >= 0 {
            let (slot, _) = self.slot(of: oldKeys[index])
            self.keys[slot] = oldKeys[index]
            self.values[slot] = oldValues[index]
        }
    }
}
