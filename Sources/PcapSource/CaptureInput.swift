import CDecompress
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of a capture, from wherever they come: a file, standard input (`-`), a pipe, a named
/// FIFO or a process substitution, plain or compressed (gzip, zstd or xz, told by their magic
/// bytes, never by the name). Opened once and read once, front to back.
///
/// `PcapReader` takes classic pcap records straight from `window`, and libpcap reads the same
/// bytes through an unbuffered stdio stream over this object (`makeStream()`), so whichever of
/// the two reads next starts where the other stopped: nothing is read twice, nothing is seeked.
///
/// For a second reading (the slices), a regular file is read again through a duplicate of its
/// descriptor; any other source keeps a copy of the bytes as they came (still compressed, if they
/// were) in an unlinked file, `keepCopy(in:)`.
final class CaptureInput {
    /// Bytes of capture data held for the readers: records are handed out from here in place.
    static let windowSize = 1 << 20
    /// Compressed bytes read at a time.
    static let rawSize = 1 << 18

    /// The capture as given (`-` for standard input).
    let path: String
    /// The size of a regular file; `nil` for a pipe or another stream.
    let fileSize: Int?
    /// How the bytes are compressed.
    let format: CDecompress_format

    /// Capture bytes: `window[start..<end]` are read and not yet taken.
    let window: UnsafeMutableRawBufferPointer
    var start = 0
    var end = 0
    /// Whether no more bytes will come.
    private(set) var ended = false
    /// Bytes read from the source (compressed bytes, for a compressed capture).
    private(set) var bytesRead = 0
    /// Why the bytes stopped before a whole stream ended: compressed data that is corrupt or cut
    /// short, or a read error.
    private(set) var failure: String?
    /// Whether `failure` is compressed data that stops inside a stream (not corrupt data).
    private(set) var failureIsCut = false

    private let descriptor: Int32
    private var decoder: OpaquePointer?
    private var raw: UnsafeMutableRawBufferPointer?
    private var rawStart = 0
    private var rawEnd = 0
    private var rawEnded = false
    private var copy: Copy?

    /// Where the bytes read so far are kept for a second reading.
    private enum Copy {
        /// Until `keepCopy(in:)` gives a directory: the few bytes read while opening.
        case memory([UInt8])
        /// An unlinked file.
        case file(Int32)
        case failed(String)
    }

    /// Opens `path` (`-`: standard input); with `keepsCopy`, a source that cannot be read twice
    /// keeps what it reads for `reopened()`.
    convenience init(path: String, keepsCopy: Bool) throws(CaptureError) {
        let descriptor = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CaptureError(code: .cannotOpen, path: path, reason: String(cString: strerror(errno)))
        }
        try self.init(descriptor: descriptor, path: path, keepsCopy: keepsCopy)
    }

    /// Reads `descriptor`, which this object then owns.
    init(descriptor: Int32, path: String, keepsCopy: Bool) throws(CaptureError) {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw CaptureError(code: .cannotOpen, path: path, reason: reason)
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            Glibc.close(descriptor)
            throw CaptureError(code: .cannotOpen, path: path, reason: "a directory, not a capture")
        }
        let regular = (status.st_mode & S_IFMT) == S_IFREG
        self.path = path
        self.descriptor = descriptor
        self.fileSize = regular ? Int(status.st_size) : nil
        self.window = .allocate(byteCount: Self.windowSize, alignment: 16)
        self.copy = keepsCopy && !regular ? .memory([]) : nil
        // The first bytes tell the format: read until there are enough to tell, or the end.
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.rawSize, alignment: 16)
        var first = 0
        var readError: Int32 = 0
        while first < 6 {
            let count = Glibc.read(descriptor, raw.baseAddress! + first, raw.count - first)
            if count < 0, errno == EINTR { continue }
            if count < 0 { readError = errno }
            guard count > 0 else { break }
            first += count
        }
        self.format = CDecompress_detect(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), first)
        self.bytesRead = first
        if case .memory? = self.copy { self.copy = .memory(Array(UnsafeRawBufferPointer(start: raw.baseAddress!, count: first))) }
        if readError != 0 { self.stop("read error: \(String(cString: strerror(readError)))") }
        if self.format == CDecompress_plain {
            self.window.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: first)
            self.end = first
            raw.deallocate()
            if first == 0 { self.ended = true }
        } else {
            self.raw = raw
            self.rawEnd = first
            self.decoder = CDecompress_open(self.format)
            if self.decoder == nil { self.stop("cannot start the \(self.formatName) decoder: out of memory") }
        }
        self.fill()
    }

    deinit {
        if let decoder = self.decoder { CDecompress_close(decoder) }
        self.raw?.deallocate()
        self.window.deallocate()
        if case .file(let spool) = self.copy { Glibc.close(spool) }
        Glibc.close(self.descriptor)
    }

    /// gzip, zstd or xz.
    var formatName: String {
        switch self.format {
        case CDecompress_gzip: "gzip"
        case CDecompress_zstd: "zstd"
        case CDecompress_xz: "xz"
        default: "plain"
        }
    }

    /// Moves the bytes not yet taken to the start of `window` and reads after them until it is
    /// full or no more come.
    func fill() {
        if self.start > 0 {
            let left = self.end - self.start
            if left > 0 { self.window.baseAddress!.copyMemory(from: self.window.baseAddress! + self.start, byteCount: left) }
            self.start = 0
            self.end = left
        }
        while self.end < self.window.count, !self.ended {
            guard let decoder = self.decoder, let raw = self.raw else {
                let count = self.readSource(into: self.window.baseAddress! + self.end, count: self.window.count - self.end)
                if count > 0 { self.end += count } else { self.ended = true }
                continue
            }
            if self.rawStart == self.rawEnd, !self.rawEnded {
                let count = self.readSource(into: raw.baseAddress!, count: raw.count)
                (self.rawStart, self.rawEnd) = (0, max(count, 0))
                if count <= 0 { self.rawEnded = true }
            }
            var input = UnsafePointer<UInt8>?(raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + self.rawStart)
            var inputLeft = self.rawEnd - self.rawStart
            var output = UnsafeMutablePointer<UInt8>?((self.window.baseAddress! + self.end).assumingMemoryBound(to: UInt8.self))
            var outputLeft = self.window.count - self.end
            let before = (inputLeft, outputLeft)
            let status = CDecompress_run(decoder, &input, &inputLeft, &output, &outputLeft, self.rawEnded ? 1 : 0)
            self.rawStart = self.rawEnd - inputLeft
            self.end = self.window.count - outputLeft
            switch status {
            case CDecompress_more:
                if before == (inputLeft, outputLeft), inputLeft > 0 {
                    self.stop("the \(self.formatName) data is corrupt (the decoder stopped making progress)")
                }
            case CDecompress_ended:
                self.ended = true
            case CDecompress_cut:
                if self.failure == nil { self.failureIsCut = true }
                self.stop("the \(self.formatName) data is cut short (the compressed stream ends before its end)")
            default:
                self.stop("the \(self.formatName) data is corrupt (\(String(cString: CDecompress_message(decoder))))")
            }
        }
    }

    private func stop(_ reason: String) {
        if self.failure == nil { self.failure = reason }
        self.ended = true
    }

    /// Up to `count` bytes from the source, copied for a second reading when one is kept; 0 at
    /// the end, and at an error (which `failure` then names).
    private func readSource(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        var got: Int
        repeat { got = Glibc.read(self.descriptor, buffer, count) } while got < 0 && errno == EINTR
        guard got > 0 else {
            if got < 0 { self.stop("read error: \(String(cString: strerror(errno)))") }
            return 0
        }
        self.bytesRead += got
        switch self.copy {
        case .memory(var bytes)?:
            self.copy = nil
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: got))
            self.copy = .memory(bytes)
        case .file(let spool)?:
            if let error = Self.writeAll(spool, UnsafeRawBufferPointer(start: buffer, count: got)) {
                Glibc.close(spool)
                self.copy = .failed(error)
            }
        case .failed?, nil:
            break
        }
        return got
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += written
        }
        return nil
    }

    /// From now on the bytes read are copied into an unlinked file in `directory` (with those read
    /// so far), when this source cannot be read twice and a copy was asked for.
    func keepCopy(in directory: String) throws(CaptureError) {
        guard case .memory(let bytes)? = self.copy else { return }
        var template = Array((directory + "/.edgescope-input-XXXXXX").utf8CString)
        let spool = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard spool >= 0 else {
            throw CaptureError(code: .cannotWrite, path: directory, reason: "cannot keep a copy of the capture read from a pipe: \(String(cString: strerror(errno)))")
        }
        // Gone from the directory at once: nothing is left behind, whatever happens next.
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        if let error = bytes.withUnsafeBytes({ Self.writeAll(spool, $0) }) {
            Glibc.close(spool)
            self.copy = .failed(error)
            return
        }
        self.copy = .file(spool)
    }

    /// The same bytes from the start, for a second reading: a regular file through a duplicate of
    /// its descriptor, another source from the copy `keepCopy(in:)` kept.
    func reopened() throws(CaptureError) -> CaptureInput {
        let source: Int32
        switch self.copy {
        case .file(let spool)?:
            source = spool
        case .failed(let error)?:
            throw CaptureError(code: .cannotOpen, path: self.path, reason: "the copy of the input kept for a second reading could not be written: \(error)")
        case .memory?:
            throw CaptureError(code: .cannotOpen, path: self.path, reason: "no copy of the input was kept for a second reading")
        case nil:
            guard self.fileSize != nil else {
                throw CaptureError(code: .cannotOpen, path: self.path, reason: "a pipe cannot be read twice")
            }
            source = self.descriptor
        }
        let again = dup(source)
        guard again >= 0, lseek(again, 0, SEEK_SET) == 0 else {
            let reason = String(cString: strerror(errno))
            if again >= 0 { Glibc.close(again) }
            throw CaptureError(code: .cannotOpen, path: self.path, reason: "cannot read it again: \(reason)")
        }
        return try CaptureInput(descriptor: again, path: self.path, keepsCopy: false)
    }

    /// Moves to byte `offset` of a plain regular file, read again from there (the second
    /// reading's jump to a record it noted on the first); false for any other source, or when
    /// the seek fails, and nothing moved.
    func seek(to offset: Int) -> Bool {
        guard self.format == CDecompress_plain, self.fileSize != nil, self.failure == nil, self.streamLimit == nil else { return false }
        if case .some = self.copy { return false }
        guard lseek(self.descriptor, off_t(offset), SEEK_SET) == off_t(offset) else { return false }
        self.start = 0
        self.end = 0
        self.ended = false
        self.bytesRead = offset
        self.fill()
        return true
    }

    /// While set, what `read(into:count:)` hands out in all stops at this many bytes: libpcap's
    /// buffered stream then takes the classic pcap header and nothing after it, which
    /// `PcapRecordBuffer` reads.
    var streamLimit: Int?
    /// Whether a read asked past `streamLimit` (which was then lifted): libpcap's stream holds
    /// bytes after it, so `PcapRecordBuffer` must not read on from `start`.
    private(set) var streamLimitCrossed = false
    private var streamServed = 0

    /// Copies up to `count` bytes out, as `read(2)` would.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        var count = count
        if let limit = self.streamLimit {
            if self.streamServed < limit {
                count = min(count, limit - self.streamServed)
            } else {
                self.streamLimit = nil
                self.streamLimitCrossed = true
            }
        }
        defer { self.streamServed += count }
        var copied = 0
        while copied < count {
            if self.start == self.end {
                guard !self.ended else { break }
                self.fill()
                if self.start == self.end { break }
            }
            let chunk = min(count - copied, self.end - self.start)
            (buffer + copied).copyMemory(from: self.window.baseAddress! + self.start, byteCount: chunk)
            self.start += chunk
            copied += chunk
        }
        count = copied
        return copied
    }

    /// A buffered stdio stream reading this input (for libpcap); `streamLimit` keeps what it
    /// buffers from reaching past the header. Closing it leaves this object open; the caller
    /// keeps this object alive while the stream is used.
    func makeStream() -> UnsafeMutablePointer<FILE>? {
        CDecompress_reading_stream(Unmanaged.passUnretained(self).toOpaque()) { cookie, buffer, count in
            let input = Unmanaged<CaptureInput>.fromOpaque(cookie!).takeUnretainedValue()
            return input.read(into: UnsafeMutableRawPointer(buffer!), count: count)
        }
    }
}
