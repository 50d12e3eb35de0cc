/// The retention buffers of streams that stopped retaining (a ring and its frame marks per
/// direction), kept for the next streams: with one request per connection, every direction
/// would otherwise allocate both and free them a few packets later.
///
/// One flow table's, used on that table's thread only (`@unchecked Sendable`, and no dynamic
/// exclusivity checks); the table's budget carries it unretained, so copying the budget for
/// every packet costs nothing.
final class RetentionPool: @unchecked Sendable {
    /// Rings kept by capacity: `rings[k]` holds rings of `firstCapacity << k` bytes (the sizes a
    /// ring grows through); rings of other sizes (an odd cap) are not kept.
    @exclusivity(unchecked) private var rings: [[RetainRing]] = Array(repeating: [], count: RetentionPool.sizeClasses)
    @exclusivity(unchecked) private var ringBytes = 0
    @exclusivity(unchecked) private var marks: [[FrameMark]] = []

    static let firstCapacity = StreamReassembler.firstRetainedCapacity
    /// Capacities kept: `firstCapacity` doubled up to seven times (2 KiB to 256 KiB).
    static let sizeClasses = 8
    /// Bytes of rings kept at most, and marks arrays (each of at most `marksCapacity`).
    static let maximumRingBytes = 4 << 20
    static let maximumMarks = 1024
    static let marksCapacity = 256

    /// `rings`' index for rings of `capacity` bytes, if they are kept.
    private static func sizeClass(_ capacity: Int) -> Int? {
        guard capacity >= Self.firstCapacity, capacity % Self.firstCapacity == 0 else { return nil }
        let multiple = capacity / Self.firstCapacity
        guard multiple & (multiple - 1) == 0 else { return nil }
        let index = multiple.trailingZeroBitCount
        return index < Self.sizeClasses ? index : nil
    }

    /// An empty ring of `capacity` bytes, if one is kept.
    func takeRing(capacity: Int) -> RetainRing? {
        guard let index = Self.sizeClass(capacity), let ring = self.rings[index].popLast() else { return nil }
        self.ringBytes -= capacity
        return ring
    }

    /// Keeps `ring`'s storage for a later stream, emptied, while there is room.
    func give(_ ring: consuming RetainRing) {
        let capacity = ring.capacity
        guard let index = Self.sizeClass(capacity), self.ringBytes + capacity <= Self.maximumRingBytes else { return }
        var ring = ring
        ring.keepLast(0)
        self.ringBytes += capacity
        self.rings[index].append(ring)
    }

    /// Rings kept now, of every capacity.
    var ringsKept: Int { self.rings.reduce(0) { $0 + $1.count } }
    /// Marks arrays kept now.
    var marksKept: Int { self.marks.count }

    /// An empty marks array with room, if one is kept.
    func takeMarks() -> [FrameMark]? {
        self.marks.popLast()
    }

    /// Keeps `marks`'s storage for a later stream, emptied, while there is room.
    func give(_ marks: consuming [FrameMark]) {
        guard marks.capacity > 0, marks.capacity <= Self.marksCapacity, self.marks.count < Self.maximumMarks else { return }
        var marks = marks
        marks.removeAll(keepingCapacity: true)
        self.marks.append(marks)
    }
}
