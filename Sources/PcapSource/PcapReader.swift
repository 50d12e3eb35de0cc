import CaptureModel
import CDecompress
import CPcap
import PacketDecoding
#if canImport(Glibc)
import Glibc
#endif

/// Reads a .pcap or .pcapng capture through libpcap, with nanosecond timestamps kept, from a
/// file, standard input (`-`), a pipe or a FIFO, plain or compressed (gzip, zstd, xz):
/// `CaptureInput` opens it once and reads it once.
///
/// The only file that calls libpcap's reading API. Frames are handed out in place (the
/// bytes belong to the reader until the next read), sized by `caplen`, never by `len`.
public final class PcapReader {
    /// The capture as given.
    public let path: String
    /// The file's link type (for pcapng, its first interface's).
    public let linkType: LinkType
    /// The snap length the file declares.
    public let snapLength: Int
    /// Records read so far.
    public private(set) var framesRead: FrameNumber = 0
    /// Of those, the records read in blocks rather than by libpcap.
    public private(set) var framesReadInBlocks: FrameNumber = 0

    private let input: CaptureInput
    private let handle: OpaquePointer
    /// Classic pcap records read in blocks until the first odd one (`PcapRecordBuffer`);
    /// `nil` once libpcap reads on (and for pcapng).
    private var fast: PcapRecordBuffer?
    /// Where every `checkpointInterval`-th record starts (its number and byte offset), noted as
    /// the fast path reads a plain classic pcap file, and handed to `rewound()`'s reader, whose
    /// `skip(toward:)` jumps there instead of reading what comes before.
    public private(set) var checkpoints: [(frame: FrameNumber, offset: Int)] = []
    /// Whether checkpoints are noted: a plain regular file read by the fast path.
    private var notesCheckpoints = false
    /// Records between two checkpoints.
    static let checkpointInterval: FrameNumber = 4096

    /// Opens `path` (`-`: standard input), failing with `.cannotOpen` when it is missing, empty
    /// or not a capture, and with `.unsupportedLinkType` when it holds frames edgescope cannot
    /// decode. With `keepsCopy`, a source that cannot be read twice (a pipe) keeps what it reads
    /// for `rewound()`, once `keepCopy(in:)` says where.
    ///
    /// `readsInBlocks: false` leaves every record to libpcap (the fast path's test compares the two).
    public convenience init(path: String, readsInBlocks: Bool = true, keepsCopy: Bool = false) throws(CaptureError) {
        try self.init(input: try CaptureInput(path: path, keepsCopy: keepsCopy), readsInBlocks: readsInBlocks)
    }

    init(input: CaptureInput, readsInBlocks: Bool) throws(CaptureError) {
        let path = input.path
        // The magic number, looked at before libpcap takes the header.
        var magic: UInt32 = 0
        if input.end - input.start >= 4 {
            magic = input.window.baseAddress!.loadUnaligned(fromByteOffset: input.start, as: UInt32.self).littleEndian
        }
        let fast = readsInBlocks && PcapRecordBuffer.isClassic(magic)
        // libpcap's stream is buffered: it is to take the 24-byte file header, nothing more.
        if fast { input.streamLimit = 24 }
        guard let stream = input.makeStream() else {
            throw CaptureError(code: .cannotOpen, path: path, reason: String(cString: strerror(errno)))
        }
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let handle = pcap_fopen_offline_with_tstamp_precision(stream, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            fclose(stream)
            let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // Compressed data that breaks inside the header says why better than libpcap's "truncated".
            throw CaptureError(code: .cannotOpen, path: path, reason: input.failure ?? PcapReader.explain(message))
        }
        self.path = path
        self.input = input
        self.handle = handle
        self.linkType = LinkType(rawValue: pcap_datalink(handle))
        self.snapLength = Int(pcap_snapshot(handle))
        guard self.linkType.isSupported else {
            let name = pcap_datalink_val_to_name(self.linkType.rawValue).map { String(cString: $0) } ?? "DLT \(self.linkType.rawValue)"
            // Every stored property is set, so deinit runs on this throw and closes the handle.
            throw CaptureError(
                code: .unsupportedLinkType, path: path,
                reason: "unsupported link type \(name) (\(self.linkType.rawValue)); edgescope reads EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPV4 and IPV6")
        }
        if fast, !input.streamLimitCrossed { self.fast = PcapRecordBuffer(input: input, magic: magic, snapLength: self.snapLength) }
        input.streamLimit = nil
        self.notesCheckpoints = self.fast != nil && input.fileSize != nil && input.format == CDecompress_plain
    }

    deinit {
        // Closes the stream libpcap reads, not the input, which is released after.
        pcap_close(self.handle)
    }

    /// Bytes read from the source so far (compressed bytes, for a compressed capture).
    public var bytesRead: Int { self.input.bytesRead }
    /// The size of the file read, when it is a regular file; `nil` for a pipe or another stream.
    public var fileSize: Int? { self.input.fileSize }
    /// `gzip`, `zstd` or `xz` for a compressed capture; `nil` for a plain one.
    public var compression: String? { self.input.format == CDecompress_plain ? nil : self.input.formatName }

    /// From now on, when the source cannot be read twice (a pipe), what is read is copied into an
    /// unlinked file in `directory` for `rewound()` (as it came: still compressed, if it was).
    /// Call it before reading frames; a reader opened without `keepsCopy` keeps nothing.
    public func keepCopy(in directory: String) throws(CaptureError) {
        try self.input.keepCopy(in: directory)
    }

    /// A reader of the same capture from its first record again, without opening the path a
    /// second time: a regular file through a duplicate descriptor, a pipe from its kept copy.
    public func rewound(readsInBlocks: Bool = true) throws(CaptureError) -> PcapReader {
        let again = try PcapReader(input: try self.input.reopened(), readsInBlocks: readsInBlocks)
        again.checkpoints = self.checkpoints
        return again
    }

    /// Jumps ahead to the last checkpoint at or before record `frame`, when that is past the
    /// next record: `forEachFrame` then goes on from there, the records before it unread. Does
    /// nothing without checkpoints (another format, a pipe, a compressed file).
    public func skip(toward frame: FrameNumber) {
        guard var fast = self.fast else { return }
        var low = 0
        var high = self.checkpoints.count
        while low < high {
            let middle = (low + high) / 2
            if self.checkpoints[middle].frame <= frame { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return }
        let checkpoint = self.checkpoints[low - 1]
        guard checkpoint.frame > self.framesRead &+ 1, fast.seek(to: checkpoint.offset) else { return }
        self.fast = fast
        self.framesRead = checkpoint.frame &- 1
    }

    /// Calls `body` with every record in order (up to `lastFrame`, when given). Throws
    /// `.readFailed` when the file breaks part-way, after every record before the break has
    /// been handed to `body`.
    public func forEachFrame(through lastFrame: FrameNumber? = nil, _ body: (RawFrame) -> Void) throws(CaptureError) {
        if var fast = self.fast {
            // Counted in locals and stored back once: a class's stored property written per
            // record pays a dynamic exclusivity check each time.
            var frames = self.framesRead
            var handedOver = false
            let notesCheckpoints = self.notesCheckpoints
            while lastFrame.map({ frames < $0 }) ?? true {
                if notesCheckpoints, frames % Self.checkpointInterval == 0, (self.checkpoints.last?.frame ?? 0) <= frames {
                    self.checkpoints.append((frames &+ 1, fast.nextRecordOffset))
                }
                switch fast.next() {
                case .record(let seconds, let nanoseconds, let wireLength, let bytes):
                    frames &+= 1
                    body(RawFrame(
                        number: frames, timestamp: Timestamp(seconds: seconds, nanoseconds: nanoseconds), wireLength: wireLength,
                        bytes: bytes))
                    continue
                case .handOver:
                    handedOver = true
                }
                break
            }
            self.framesReadInBlocks &+= frames &- self.framesRead
            self.framesRead = frames
            if handedOver {
                // libpcap reads on from this record, with its own checks and messages.
                self.fast = nil
            } else {
                self.fast = fast
                return
            }
        }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while lastFrame.map({ self.framesRead < $0 }) ?? true {
            switch pcap_next_ex(self.handle, &header, &data) {
            case 1:
                self.framesRead &+= 1
                let record = header!.pointee  // rc == 1 guarantees header and data
                // With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds.
                let time = Timestamp(seconds: Int64(record.ts.tv_sec), nanoseconds: Int64(record.ts.tv_usec))
                body(RawFrame(
                    number: self.framesRead, timestamp: time, wireLength: Int(record.len),
                    bytes: UnsafeRawBufferPointer(start: data, count: Int(record.caplen))))
            case PCAP_ERROR_BREAK:
                // Compressed data that ended badly between two records: libpcap saw a clean end.
                if let failure = self.input.failure {
                    throw CaptureError(
                        code: self.input.failureIsCut ? .cutShort : .readFailed, path: self.path,
                        reason: "stopped after frame \(self.framesRead): \(failure)")
                }
                return
            default:
                let message = String(cString: pcap_geterr(self.handle))
                let cut = self.input.failure.map { _ in self.input.failureIsCut } ?? PcapReader.isCutShort(message)
                // gzip checks what it decoded only at the end of a member: damaged data can
                // reach libpcap as an impossible record first. Say where the bytes came from.
                let compressed = self.compression.map { " (in \($0)-compressed data: `\($0) -t` checks the file)" } ?? ""
                throw CaptureError(
                    code: cut ? .cutShort : .readFailed, path: self.path,
                    reason: "stopped after frame \(self.framesRead): \(self.input.failure ?? PcapReader.explain(message) + compressed)")
            }
        }
    }

    /// The next record, or `nil` at the end of the file. Its bytes belong to this reader and
    /// stay valid until the next read from it (reads from other readers leave them alone),
    /// which is what lets `MergedPcapReader` hold one record of each file at once.
    public func nextFrame() throws(CaptureError) -> RawFrame? {
        var next: RawFrame?
        try self.forEachFrame(through: self.framesRead &+ 1) { frame in next = frame }
        return next
    }

    /// Whether libpcap's message says the file ends inside a record.
    static func isCutShort(_ message: String) -> Bool {
        message.hasPrefix("truncated dump file") || message.hasPrefix("truncated pcapng dump file")
    }

    /// libpcap's messages, reworded where they would puzzle someone on call.
    static func explain(_ message: String) -> String {
        if message.contains("unknown file format") {
            return "not a pcap or pcapng capture (unknown file format)"
        }
        if message.contains("file header bytes, only got 0") || message.contains("only got 0 bytes") && message.contains("header") {
            return "empty file: no capture header"
        }
        if message.hasPrefix("an interface has a type") {
            // libpcap reads one link type per file; dumpcap on several interfaces writes more.
            return "a pcapng file with interfaces of different link types (\(message)); split it per interface, e.g. `tshark -r FILE -Y 'frame.interface_id == 0' -w PART.pcapng`"
        }
        if Self.isCutShort(message) {
            return "the file is cut off in the middle of a record (\(message))"
        }
        return message
    }
}
