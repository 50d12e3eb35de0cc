/// The most recent bytes of a stream, in a fixed-size ring, so a retransmission can be
/// compared with the first copy without keeping the whole stream.
///
/// The ring's bytes always end at the stream's `nextOffset`. Storage is allocated on first use,
/// small, and grows (keeping what it holds) as the stream does, up to its cap: a short
/// connection does not pay for the cap. Appends are at most two `memcpy`s.
@usableFromInline
struct RetainRing {
    @usableFromInline var storage: [UInt8] = []
    /// Index in `storage` of the oldest byte held.
    @usableFromInline var head = 0
    /// Bytes held.
    @usableFromInline private(set) var count = 0

    @usableFromInline var capacity: Int { self.storage.count }

    @usableFromInline init() {}

    /// Allocates `capacity` bytes.
    @usableFromInline
    mutating func allocate(_ capacity: Int) {
        // Uninitialised: every byte is written by `append` before `count` lets it be read.
        self.storage = [UInt8](unsafeUninitializedCapacity: capacity) { _, initialized in initialized = capacity }
        self.head = 0
        self.count = 0
    }

    /// Grows the storage to `capacity` bytes, keeping the bytes held in order; into `spare`'s
    /// storage when given (an empty ring of that capacity), else into a new one.
    @usableFromInline
    mutating func grow(to capacity: Int, into spare: consuming RetainRing? = nil) {
        guard capacity > self.storage.count else { return }
        let held = self.count
        let old = self.storage
        let oldCapacity = old.count
        let head = self.head
        // The held bytes in order: at most two runs of the old ring, two memcpys.
        let first = min(held, oldCapacity - head)
        func copyHeld(to target: UnsafeMutableRawPointer) {
            old.withUnsafeBufferPointer { source in
                target.copyMemory(from: source.baseAddress! + head, byteCount: first)
                if first < held { (target + first).copyMemory(from: source.baseAddress!, byteCount: held - first) }
            }
        }
        // The spare ring is taken apart, so its storage is held once and written in place.
        if var storage = spare.take()?.storage, storage.count == capacity {
            storage.withUnsafeMutableBytes { copyHeld(to: $0.baseAddress!) }
            self.storage = storage
        } else {
            self.storage = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                copyHeld(to: UnsafeMutableRawPointer(buffer.baseAddress!))
                initialized = capacity
            }
        }
        self.head = 0
        self.count = held
    }

    /// Appends `bytes`, dropping the oldest when full.
    @usableFromInline
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let capacity = self.storage.count
        guard capacity > 0, bytes.count > 0 else { return }
        var source = bytes
        if source.count >= capacity {
            source = UnsafeRawBufferPointer(rebasing: source[(source.count - capacity)...])
            self.storage.withUnsafeMutableBytes { $0.copyMemory(from: source) }
            self.head = 0
            self.count = capacity
            return
        }
        let tail = (self.head + self.count) % capacity
        let first = min(source.count, capacity - tail)
        self.storage.withUnsafeMutableBytes { target in
            UnsafeMutableRawBufferPointer(rebasing: target[tail..<(tail + first)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[..<first]))
            if first < source.count {
                UnsafeMutableRawBufferPointer(rebasing: target[0..<(source.count - first)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[first...]))
            }
        }
        let total = self.count + source.count
        if total > capacity {
            self.head = (self.head + total - capacity) % capacity
            self.count = capacity
        } else {
            self.count = total
        }
    }

    /// Forgets all but the newest `keep` bytes.
    @usableFromInline
    mutating func keepLast(_ keep: Int) {
        guard keep < self.count else { return }
        let drop = self.count - keep
        self.head = self.storage.isEmpty ? 0 : (self.head + drop) % self.storage.count
        self.count = keep
    }

    /// The byte `index` bytes after the oldest held.
    @usableFromInline
    subscript(index: Int) -> UInt8 {
        self.storage[(self.head + index) % self.storage.count]
    }

    /// Copies up to `length` bytes starting `index` bytes after the oldest held.
    @usableFromInline
    func copy(from index: Int, length: Int) -> [UInt8] {
        let end = min(self.count, index + length)
        guard index < end else { return [] }
        return (index..<end).map { self[$0] }
    }
}
