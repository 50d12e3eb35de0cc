/// A read position in borrowed bytes whose reads return `nil` when too few bytes remain.
///
/// It never escapes the call that lent it the bytes, and it never reads past `end`, which the
/// decoder sets to the captured length (`caplen`) or, tighter, to the end an IP length announces.
@usableFromInline
struct ByteCursor {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    /// One past the last byte this cursor may read; never more than `bytes.count`.
    @usableFromInline let end: Int
    /// The offset of the next byte to read, from the start of `bytes` (the frame).
    @usableFromInline private(set) var index: Int

    /// A cursor over `bytes[index..<end]`; `end` is clamped to the buffer.
    @inlinable
    init(_ bytes: UnsafeRawBufferPointer, at index: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        let limit = min(end ?? bytes.count, bytes.count)
        self.end = max(limit, 0)
        self.index = min(max(index, 0), self.end)
    }

    /// How many bytes are left to read.
    @inlinable
    var remaining: Int { self.end &- self.index }

    /// Reads a big-endian integer and advances past it, or returns `nil` (and stays put).
    @inlinable
    mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) -> T? {
        guard self.remaining >= MemoryLayout<T>.size else { return nil }
        defer { self.index &+= MemoryLayout<T>.size }
        return T(bigEndian: self.bytes.loadUnaligned(fromByteOffset: self.index, as: T.self))
    }

    /// Reads a big-endian integer `offset` bytes ahead without moving, or returns `nil`.
    @inlinable
    func peekInteger<T: FixedWidthInteger>(at offset: Int = 0, as: T.Type = T.self) -> T? {
        guard offset >= 0, self.remaining &- offset >= MemoryLayout<T>.size else { return nil }
        return T(bigEndian: self.bytes.loadUnaligned(fromByteOffset: self.index &+ offset, as: T.self))
    }

    /// Moves past `count` bytes, or returns `false` (and stays put) when fewer remain.
    @inlinable
    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, self.remaining >= count else { return false }
        self.index &+= count
        return true
    }
}
