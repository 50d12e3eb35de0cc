import CaptureModel

/// The records of a classic pcap capture taken in place from `CaptureInput`'s 1 MiB window, for
/// `PcapReader`'s fast path.
///
/// libpcap reads each record with two `fread` calls; reading 1 MiB at a time and handing out
/// records in place saves that per-record cost. Only records that are plainly well formed are
/// read here: whole in the input, no longer than the snap length. At the first record that is
/// not (or at the end of the input), `next()` leaves it unread in the input and says so, and
/// `PcapReader` lets libpcap read on from there, so every odd case (a cut record, an absurd
/// length) gets libpcap's own handling and message.
struct PcapRecordBuffer {
    enum Next {
        case record(seconds: Int64, nanoseconds: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)
        /// Let libpcap go on: the input's next byte starts the record it is to read.
        case handOver
    }

    static let recordHeaderSize = 16

    private let input: CaptureInput
    private let swapped: Bool
    private let nanosecond: Bool
    private let snapLength: Int
    private let base: UnsafeRawPointer
    /// Bytes of the window holding capture data (the input's `end`, kept here between refills).
    private var filled: Int
    /// Index in the window of the next record (the input's `start`, kept here between refills).
    private var position: Int

    /// A reader of the records that follow the file header of the classic pcap capture `input`
    /// (whose first four bytes were `magic`, little-endian), with the snap length libpcap settled
    /// on; `nil` when it is not one (pcapng, a modified pcap format) or records may not fit the
    /// window.
    init?(input: CaptureInput, magic: UInt32, snapLength: Int) {
        guard snapLength > 0, snapLength <= CaptureInput.windowSize / 2 else { return nil }
        switch magic {
        case 0xa1b2_c3d4: (self.swapped, self.nanosecond) = (false, false)
        case 0xa1b2_3c4d: (self.swapped, self.nanosecond) = (false, true)
        case 0xd4c3_b2a1: (self.swapped, self.nanosecond) = (true, false)
        case 0x4d3c_b2a1: (self.swapped, self.nanosecond) = (true, true)
        default: return nil
        }
        self.input = input
        self.snapLength = snapLength
        self.base = UnsafeRawPointer(input.window.baseAddress!)
        self.filled = input.end
        self.position = input.start
    }

    /// Whether `magic` (the first four bytes, little-endian) starts a classic pcap file.
    static func isClassic(_ magic: UInt32) -> Bool {
        [0xa1b2_c3d4, 0xa1b2_3c4d, 0xd4c3_b2a1, 0x4d3c_b2a1].contains(magic)
    }

    /// The next record, or `.handOver` with the input left at the record libpcap is to read.
    mutating func next() -> Next {
        if self.filled - self.position < Self.recordHeaderSize { self.refill() }
        let available = self.filled - self.position
        guard available >= Self.recordHeaderSize else { return self.handOver() }
        let header = self.base + self.position
        let seconds = self.field(header, 0)
        let fraction = self.field(header, 4)
        let captured = Int(self.field(header, 8))
        let wire = Int(self.field(header, 12))
        guard captured <= self.snapLength else { return self.handOver() }
        if available < Self.recordHeaderSize + captured {
            self.refill()
            guard self.filled - self.position >= Self.recordHeaderSize + captured else { return self.handOver() }
        }
        let start = self.base + self.position + Self.recordHeaderSize
        self.position += Self.recordHeaderSize + captured
        // As libpcap gives them with nanosecond precision asked for: microseconds scaled.
        return .record(
            seconds: Int64(seconds), nanoseconds: self.nanosecond ? Int64(fraction) : Int64(fraction) * 1000,
            wireLength: wire, bytes: UnsafeRawBufferPointer(start: start, count: captured))
    }

    /// The byte offset in the file of the next record (plain input only: with compressed input
    /// it counts compressed bytes and means nothing).
    var nextRecordOffset: Int {
        self.input.bytesRead - (self.filled - self.position)
    }

    /// Goes on from the record at byte `offset` (`CaptureInput.seek`); false when the input
    /// cannot seek, and nothing moved.
    mutating func seek(to offset: Int) -> Bool {
        guard self.input.seek(to: offset) else { return false }
        self.position = self.input.start
        self.filled = self.input.end
        return true
    }

    private mutating func handOver() -> Next {
        self.input.start = self.position
        self.input.end = self.filled
        return .handOver
    }

    private func field(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return self.swapped ? value.byteSwapped : value
    }

    /// Moves what is left of the window to its start and reads more after it.
    private mutating func refill() {
        guard !self.input.ended else { return }
        self.input.start = self.position
        self.input.end = self.filled
        self.input.fill()
        self.position = self.input.start
        self.filled = self.input.end
    }
}
