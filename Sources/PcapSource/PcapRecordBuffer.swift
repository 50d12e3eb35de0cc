import CaptureModel
#if canImport(Glibc)
import Glibc
#endif

/// The records of a classic pcap file read in large blocks, for `PcapReader`'s fast path.
///
/// libpcap reads each record with two `fread` calls; reading 1 MiB at a time and handing out
/// records in place saves that per-record cost. Only records that are plainly well formed are
/// read here: whole in the file, no longer than the snap length. At the first record that is
/// not (or at the end of what was read), `next()` says where it starts and `PcapReader` seeks
/// libpcap there, so every odd case (a cut record, an absurd length, a file still growing)
/// gets libpcap's own handling and message.
struct PcapRecordBuffer {
    enum Next {
        case record(seconds: Int64, nanoseconds: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)
        /// Let libpcap go on from this file offset.
        case handOver(offset: Int)
    }

    static let blockSize = 1 << 20
    static let headerSize = 24
    static let recordHeaderSize = 16

    private let descriptor: Int32
    private let swapped: Bool
    private let nanosecond: Bool
    private let snapLength: Int
    private var storage: UnsafeMutableRawBufferPointer
    /// File offset of `storage[0]`.
    private var bufferStart: Int
    /// Bytes of `storage` holding file data.
    private var filled = 0
    /// Index in `storage` of the next record.
    private var position = 0
    private var endOfFile = false

    /// A reader for the classic pcap file at `path` whose snap length libpcap settled on, or
    /// `nil` when it is not one (pcapng, a pipe, a modified pcap format) or cannot be opened.
    init?(path: String, snapLength: Int) {
        guard snapLength > 0, snapLength <= Self.blockSize / 2 else { return nil }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        let headerRead = header.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, Self.headerSize) }
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, headerRead == Self.headerSize else {
            Glibc.close(descriptor)
            return nil
        }
        let magic = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        switch magic {
        case 0xa1b2_c3d4: (self.swapped, self.nanosecond) = (false, false)
        case 0xa1b2_3c4d: (self.swapped, self.nanosecond) = (false, true)
        case 0xd4c3_b2a1: (self.swapped, self.nanosecond) = (true, false)
        case 0x4d3c_b2a1: (self.swapped, self.nanosecond) = (true, true)
        default:
            Glibc.close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        self.snapLength = snapLength
        self.storage = .allocate(byteCount: Self.blockSize, alignment: 16)
        self.bufferStart = Self.headerSize
    }

    /// Releases the buffer and the file descriptor.
    func close() {
        self.storage.deallocate()
        _ = Glibc.close(self.descriptor)
    }

    /// The next record, or where libpcap is to go on.
    mutating func next() -> Next {
        if self.filled - self.position < Self.recordHeaderSize { self.refill() }
        let available = self.filled - self.position
        guard available >= Self.recordHeaderSize else { return .handOver(offset: self.bufferStart + self.position) }
        let base = UnsafeRawPointer(self.storage.baseAddress!) + self.position
        let seconds = self.field(base, 0)
        let fraction = self.field(base, 4)
        let captured = Int(self.field(base, 8))
        let wire = Int(self.field(base, 12))
        guard captured <= self.snapLength else { return .handOver(offset: self.bufferStart + self.position) }
        if available < Self.recordHeaderSize + captured {
            self.refill()
            guard self.filled - self.position >= Self.recordHeaderSize + captured else {
                return .handOver(offset: self.bufferStart + self.position)
            }
        }
        let start = UnsafeRawPointer(self.storage.baseAddress!) + self.position + Self.recordHeaderSize
        self.position += Self.recordHeaderSize + captured
        // As libpcap gives them with nanosecond precision asked for: microseconds scaled.
        return .record(
            seconds: Int64(seconds), nanoseconds: self.nanosecond ? Int64(fraction) : Int64(fraction) * 1000,
            wireLength: wire, bytes: UnsafeRawBufferPointer(start: start, count: captured))
    }

    private func field(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return self.swapped ? value.byteSwapped : value
    }

    /// Moves what is left of the buffer to its start and reads more after it.
    private mutating func refill() {
        guard !self.endOfFile else { return }
        let left = self.filled - self.position
        if left > 0, self.position > 0 {
            self.storage.baseAddress!.copyMemory(from: self.storage.baseAddress! + self.position, byteCount: left)
        }
        self.bufferStart += self.position
        self.position = 0
        self.filled = left
        while self.filled < self.storage.count {
            let count = read(self.descriptor, self.storage.baseAddress! + self.filled, self.storage.count - self.filled)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                // End of file, or an error libpcap will meet and report at the same place.
                self.endOfFile = true
                return
            }
            self.filled += count
        }
    }
}
