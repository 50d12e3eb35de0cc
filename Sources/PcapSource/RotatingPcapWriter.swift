import CaptureModel
import CPcap
import PacketDecoding
#if canImport(Glibc)
import Glibc
#endif

/// Keeps a whole live capture in a ring of pcap files, as `tcpdump -C N -W K` does:
/// `PREFIX.000001.pcap`, `PREFIX.000002.pcap`, … (the sequence number makes name order time
/// order), each at most `maximumFileBytes` long, at most `filesKept` of them on disk.
///
/// Files are pcap with nanosecond timestamps, in the capture's link type and snap length, and
/// open in `PcapReader`, tcpdump and Wireshark while the capture runs (after `flush()`). Each is
/// created 0600 with `O_CREAT|O_EXCL|O_NOFOLLOW`: a file or symbolic link already at a name
/// is refused, never overwritten or written through. The only files ever deleted are ones this
/// writer created.
///
/// After a failure (a full disk, a name taken) the writer is closed, and every later `write`,
/// `flush` or `close` throws that failure again.
public final class RotatingPcapWriter {
    /// The path every file name starts with (`/var/tmp/edge` gives `/var/tmp/edge.000001.pcap`).
    public let prefix: String
    /// A file is never made longer than this by adding a frame, unless the frame is its first.
    public let maximumFileBytes: Int
    /// Files kept on disk at most, the one being written included; 0 keeps every file.
    public let filesKept: Int
    /// The sequence number of the file being written (1 for the first).
    public private(set) var fileNumber = 0
    /// Bytes in the file being written, its header included, as libpcap will have written
    /// them once flushed.
    public private(set) var fileBytes = 0
    /// Frames in the file being written.
    public private(set) var fileFrames = 0

    private let dead: OpaquePointer
    private var dumper: OpaquePointer?
    private var failure: CaptureError?
    private var closed = false

    /// The pcap file header: magic, versions, thiszone, sigfigs, snaplen, linktype.
    static let fileHeaderBytes = 24
    /// A record header: seconds, nanoseconds, caplen, len.
    static let recordHeaderBytes = 16

    /// Opens `PREFIX.000001.pcap` for frames of `linkType` cut at `snapLength`. `--rotate-mb N`
    /// is `maximumFileBytes: N << 20`; `--keep K` is `filesKept: K`.
    public init(prefix: String, linkType: LinkType, snapLength: Int, maximumFileBytes: Int, filesKept: Int) throws(CaptureError) {
        precondition(maximumFileBytes > 0, "maximumFileBytes must be positive")
        precondition(filesKept >= 0, "filesKept must not be negative")
        self.prefix = prefix
        self.maximumFileBytes = maximumFileBytes
        self.filesKept = filesKept
        guard let dead = pcap_open_dead_with_tstamp_precision(
            linkType.rawValue, Int32(clamping: max(snapLength, 1)), UInt32(PCAP_TSTAMP_PRECISION_NANO))
        else {
            throw CaptureError(code: .cannotWrite, path: prefix, reason: "libpcap could not make a writer for \(linkType)")
        }
        self.dead = dead
        // Every stored property is set, so deinit runs (and closes `dead`) if this throws.
        try self.openNextFile()
    }

    deinit {
        if let dumper = self.dumper {
            pcap_dump_close(dumper)
        }
        pcap_close(self.dead)
    }

    /// The path of file number `number`: `PREFIX.000042.pcap`.
    public func path(ofFile number: Int) -> String {
        let digits = String(number)
        let padding = String(repeating: "0", count: max(0, 6 - digits.count))
        return "\(self.prefix).\(padding)\(digits).pcap"
    }

    /// Appends `frame`, first moving on to a new file when the frame would take the current
    /// one past `maximumFileBytes`.
    public func write(_ frame: RawFrame) throws(CaptureError) {
        if let failure = self.failure { throw failure }
        precondition(!self.closed, "write(_:) after close()")
        let recordBytes = Self.recordHeaderBytes + frame.bytes.count
        if self.fileFrames > 0, self.fileBytes + recordBytes > self.maximumFileBytes {
            try self.finishFile()
            try self.openNextFile()
        }
        guard let dumper = self.dumper else { preconditionFailure("no open file without a recorded failure") }
        var header = pcap_pkthdr()
        var seconds = frame.timestamp.nanoseconds / 1_000_000_000
        var fraction = frame.timestamp.nanoseconds % 1_000_000_000
        if fraction < 0 {
            fraction += 1_000_000_000
            seconds -= 1
        }
        header.ts.tv_sec = Int(seconds)
        header.ts.tv_usec = Int(fraction)  // nanoseconds: the writer was opened with NANO precision
        header.caplen = UInt32(frame.bytes.count)
        header.len = UInt32(clamping: frame.wireLength)
        let base = frame.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        withUnsafePointer(to: &header) { headerPointer in
            pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), headerPointer, base)
        }
        // pcap_dump returns nothing: a failed fwrite (ENOSPC, EIO) only shows in the stream's error flag.
        if ferror(pcap_dump_file(dumper)) != 0 {
            throw self.fail("cannot write frame \(frame.number): \(String(cString: strerror(errno)))")
        }
        self.fileBytes += recordBytes
        self.fileFrames += 1
    }

    /// Pushes buffered frames to the current file, so readers see every frame written so far.
    public func flush() throws(CaptureError) {
        if let failure = self.failure { throw failure }
        guard let dumper = self.dumper else { return }
        if pcap_dump_flush(dumper) != 0 {
            throw self.fail("cannot write: \(String(cString: strerror(errno)))")
        }
    }

    /// Flushes and closes the current file. Closing twice does nothing; writing after closing
    /// is a programming error.
    public func close() throws(CaptureError) {
        if let failure = self.failure { throw failure }
        self.closed = true
        try self.finishFile()
    }

    private func finishFile() throws(CaptureError) {
        guard let dumper = self.dumper else { return }
        let flushed = pcap_dump_flush(dumper) == 0
        let reason = String(cString: strerror(errno))
        // pcap_dump_close reports nothing; the flush above is where a write error shows.
        pcap_dump_close(dumper)
        self.dumper = nil
        if !flushed {
            throw self.fail("cannot write: \(reason)")
        }
    }

    private func openNextFile() throws(CaptureError) {
        let number = self.fileNumber + 1
        let path = self.path(ofFile: number)
        // O_EXCL|O_NOFOLLOW: a name someone else took (a file, or a link pointing anywhere) is
        // refused, not overwritten or written through; fdopen and pcap_dump_fopen keep these flags,
        // which pcap_dump_open would not.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            var info = stat()
            if code == EEXIST, lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
                throw self.fail("a symbolic link is at this name; refusing to write through it", path: path)
            }
            if code == EEXIST {
                throw self.fail("the file already exists; refusing to overwrite it", path: path)
            }
            throw self.fail("cannot create: \(String(cString: strerror(code)))", path: path)
        }
        guard let stream = fdopen(fd, "w") else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            unlink(path)
            throw self.fail("cannot open: \(reason)", path: path)
        }
        guard let dumper = pcap_dump_fopen(self.dead, stream) else {
            let reason = String(cString: pcap_geterr(self.dead))
            fclose(stream)
            unlink(path)
            throw self.fail("libpcap cannot write: \(reason)", path: path)
        }
        self.dumper = dumper
        self.fileNumber = number
        self.fileBytes = Self.fileHeaderBytes
        self.fileFrames = 0
        if self.filesKept > 0, number > self.filesKept {
            // Only the file this writer made `filesKept` files ago: never a name it did not create.
            let oldest = self.path(ofFile: number - self.filesKept)
            if unlink(oldest) != 0, errno != ENOENT {
                throw self.fail("cannot remove the oldest capture file: \(String(cString: strerror(errno)))", path: oldest)
            }
        }
    }

    /// Records `reason` as the writer's failure and closes the current file.
    private func fail(_ reason: String, path: String? = nil) -> CaptureError {
        let failure = CaptureError(code: .cannotWrite, path: path ?? self.path(ofFile: self.fileNumber), reason: reason)
        self.failure = failure
        if let dumper = self.dumper {
            pcap_dump_close(dumper)
            self.dumper = nil
        }
        return failure
    }
}
