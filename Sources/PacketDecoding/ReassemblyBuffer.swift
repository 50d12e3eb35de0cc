/// The bytes a datagram is rebuilt in: stable while the decoder holds it, so a completed
/// datagram's payload can be lent out until the next call.
final class ReassemblyBuffer: @unchecked Sendable {
    // Written only through a uniquely referenced instance (copy-on-write, as Array's storage is),
    // so sharing between copies of a decoder never races.
    private(set) var storage: UnsafeMutableRawBufferPointer

    init(capacity: Int) {
        self.storage = .allocate(byteCount: max(capacity, 8), alignment: 8)
        self.storage.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        self.storage.deallocate()
    }

    /// A separate buffer with the same bytes.
    func copy() -> ReassemblyBuffer {
        let copy = ReassemblyBuffer(capacity: self.storage.count)
        copy.storage.copyMemory(from: UnsafeRawBufferPointer(self.storage))
        return copy
    }

    /// Grows to hold at least `capacity` bytes, keeping the contents.
    func reserve(_ capacity: Int) {
        guard capacity > self.storage.count else { return }
        // Doubling keeps out-of-order arrival (last fragment first is common) from copying often.
        let grown = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(capacity, min(self.storage.count &* 2, IPv4FragmentTable.maximumPayload)), alignment: 8)
        grown.initializeMemory(as: UInt8.self, repeating: 0)
        grown.copyMemory(from: UnsafeRawBufferPointer(self.storage))
        self.storage.deallocate()
        self.storage = grown
    }
}
