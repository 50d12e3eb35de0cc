import CaptureModel
import PacketDecoding

/// Several capture files read as one, in time order, as `mergecap` merges them: a k-way merge
/// by timestamp of the records at the head of each file (the earliest first; on a tie, the file
/// named first). Each file keeps its own format, link type and timestamp precision (every
/// reader hands out nanoseconds).
///
/// The merged stream numbers its records 1, 2, 3... as it hands them out, which is what the
/// engine sees; `origins` says which file and which record of it each one is. With one file,
/// this is that file's reader and nothing else: the same records, numbers and errors.
public final class MergedPcapReader {
    /// The files' readers, in the order given.
    public let readers: [PcapReader]
    /// Where each merged record came from; `nil` with one file, whose numbers are its own.
    public let origins: FrameOrigins?
    /// Records handed out so far.
    public private(set) var framesRead: FrameNumber = 0
    /// Per file, the error that stopped it before its end (several files only: the others are
    /// read on, and the report says which file is cut and where).
    public private(set) var stopped: [CaptureError?]
    /// Per file, its first and last record's time (several files only).
    public private(set) var firstTimes: [Timestamp?]
    public private(set) var lastTimes: [Timestamp?]

    /// The record at the head of each file, not handed out yet; `nil` at its end.
    private var heads: [RawFrame?]
    private var started = false

    /// Merges `readers` (at least one), each at its first record.
    public init(readers: [PcapReader]) {
        precondition(!readers.isEmpty, "at least one capture")
        self.readers = readers
        self.origins = readers.count == 1 ? nil : FrameOrigins(paths: readers.map(\.path))
        self.stopped = Array(repeating: nil, count: readers.count)
        self.heads = Array(repeating: nil, count: readers.count)
        self.firstTimes = Array(repeating: nil, count: readers.count)
        self.lastTimes = Array(repeating: nil, count: readers.count)
    }

    /// Reads the first record of every file (several files only; `forEachFrame` does it when
    /// not done before). Throws the error of a file whose first record cannot be read, unless
    /// it is cut short inside it: such a file is not a capture edgescope can read, and nothing
    /// has been handed out yet.
    public func start() throws(CaptureError) {
        guard self.readers.count > 1, !self.started else { return }
        self.started = true
        for index in self.readers.indices {
            do throws(CaptureError) {
                self.heads[index] = try self.readers[index].nextFrame()
            } catch where error.code == .cutShort {
                self.stopped[index] = error
            }
        }
    }

    /// The files' link types, in the order given.
    public var linkTypes: [LinkType] { self.readers.map(\.linkType) }

    /// Bytes read from the sources so far.
    public var bytesRead: Int { self.readers.reduce(0) { $0 + $1.bytesRead } }

    /// The sum of the files' sizes, when every one is a regular file.
    public var fileSize: Int? {
        var total = 0
        for reader in self.readers {
            guard let size = reader.fileSize else { return nil }
            total += size
        }
        return total
    }

    /// Calls `body` with every record in time order (up to merged record `lastFrame`, when
    /// given) and the index of its file. With one file, throws as `PcapReader.forEachFrame`
    /// does; with several, a file that breaks part-way stops there (`stopped`) and the others
    /// are read to their end.
    public func forEachFrame(through lastFrame: FrameNumber? = nil, _ body: (RawFrame, Int) -> Void) throws(CaptureError) {
        if self.readers.count == 1 {
            defer { self.framesRead = self.readers[0].framesRead }
            try self.readers[0].forEachFrame(through: lastFrame) { frame in body(frame, 0) }
            return
        }
        try self.start()
        guard let origins = self.origins else { preconditionFailure("several files have origins") }
        var frames = self.framesRead
        defer { self.framesRead = frames }
        while lastFrame.map({ frames < $0 }) ?? true {
            // The earliest head; on a tie the file named first. A few files: a scan is enough.
            var chosen = -1
            var earliest = Timestamp(nanoseconds: .max)
            for index in self.heads.indices {
                if let head = self.heads[index], chosen < 0 || head.timestamp < earliest {
                    chosen = index
                    earliest = head.timestamp
                }
            }
            guard chosen >= 0, let head = self.heads[chosen] else { return }
            frames &+= 1
            origins.note(frames, file: chosen, local: head.number)
            if self.firstTimes[chosen] == nil { self.firstTimes[chosen] = head.timestamp }
            self.lastTimes[chosen] = max(self.lastTimes[chosen] ?? head.timestamp, head.timestamp)
            body(RawFrame(number: frames, timestamp: head.timestamp, wireLength: head.wireLength, bytes: head.bytes), chosen)
            // Only now: reading the file's next record may reuse the bytes `body` was lent.
            do throws(CaptureError) {
                self.heads[chosen] = try self.readers[chosen].nextFrame()
            } catch {
                self.heads[chosen] = nil
                self.stopped[chosen] = error
            }
        }
    }

    /// Calls `body` with the records whose numbers lie in `spans` (sorted, disjoint), and the
    /// index of each one's file. With one file that noted checkpoints (`PcapReader.skip`), the
    /// records between spans are mostly not read at all; otherwise every record up to the last
    /// span is read and those outside are passed over. Throws as `forEachFrame(through:)`.
    public func forEachFrame(in spans: [ClosedRange<FrameNumber>], _ body: (RawFrame, Int) -> Void) throws(CaptureError) {
        guard let last = spans.last else { return }
        guard self.readers.count == 1 else {
            var next = 0
            try self.forEachFrame(through: last.upperBound) { frame, file in
                while next < spans.count, spans[next].upperBound < frame.number { next += 1 }
                if next < spans.count, spans[next].contains(frame.number) { body(frame, file) }
            }
            return
        }
        let reader = self.readers[0]
        defer { self.framesRead = reader.framesRead }
        for span in spans where span.upperBound > reader.framesRead {
            reader.skip(toward: span.lowerBound)
            try reader.forEachFrame(through: span.upperBound) { frame in
                if frame.number >= span.lowerBound { body(frame, 0) }
            }
            // The file ended before the span did.
            if reader.framesRead < span.upperBound { return }
        }
    }

    /// The same files from their first records again (see `PcapReader.rewound`): the merge
    /// hands out the same records under the same numbers.
    public func rewound() throws(CaptureError) -> MergedPcapReader {
        var again: [PcapReader] = []
        for reader in self.readers { again.append(try reader.rewound()) }
        return MergedPcapReader(readers: again)
    }
}
