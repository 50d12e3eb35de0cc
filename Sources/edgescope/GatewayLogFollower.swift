import GatewayLog
import Reporting
#if canImport(Glibc)
import Glibc
#endif

/// One `--gateway-log` file, read as `KeyLogFollower` reads a key log: opened once, then read
/// through that descriptor, only what was appended and only whole lines. `capture` calls
/// `refresh()` as the gateway writes; `analyze` calls it once. A file that shrank is read again
/// from the start; one rotated by renaming (logrotate's default) is read to its end, then the
/// new file at the path is opened and read from its start.
final class GatewayLogFollower {
    let path: String
    private(set) var reader: GatewayLogReader
    private var descriptor: Int32
    /// The file's identity, to notice a new file at the path.
    private var device: dev_t = 0
    private var inode: ino_t = 0
    private var readOffset: off_t = 0
    private var lines = LineAssembler(maximumLength: GatewayLogFollower.maximumLineLength)
    /// Lines read from files the path named before a rotation.
    private(set) var rotations = 0
    /// Whether reopening after a rotation failed (warned once).
    private var reopenFailed = false

    /// Longer than any gateway log line edgescope reads.
    static let maximumLineLength = 1 << 20
    /// The most one refresh reads; the rest waits for the next one (`capture`).
    static let maximumRefreshSize = 16 << 20

    /// Opens the file. An unreadable file or a directory is a one-line error, status 2.
    init(path: String, formats: [AccessLogFormat], zone: LocalZone) throws {
        self.path = path
        self.reader = GatewayLogReader(file: path, formats: formats, zone: zone)
        self.descriptor = -1
        guard let error = self.open() else { return }
        throw ToolFailure(status: 2, message: "cannot read gateway log \(Terminal.safe(path)): \(error)")
    }

    deinit { self.close() }

    /// Opens the path; the reason when it cannot.
    private func open() -> String? {
        let descriptor = Glibc.open(self.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            return reason
        }
        guard status.st_mode & S_IFMT != S_IFDIR else {
            Glibc.close(descriptor)
            return "it is a directory"
        }
        self.close()
        self.descriptor = descriptor
        self.device = status.st_dev
        self.inode = status.st_ino
        return nil
    }

    /// What was appended since the last call, as records; warnings for what went wrong.
    /// `untilEnd` reads the whole file whatever its size (`analyze`).
    func refresh(untilEnd: Bool = false) -> (records: [GatewayLogRecord], warnings: [String]) {
        var records: [GatewayLogRecord] = []
        var warnings: [String] = []
        var status = stat()
        guard self.descriptor >= 0, fstat(self.descriptor, &status) == 0 else {
            return ([], ["cannot read gateway log \(self.path): \(String(cString: strerror(errno)))"])
        }
        if status.st_size < self.readOffset {
            self.restart()
            warnings.append("gateway log \(self.path) shrank; reading it again from the start")
        }
        self.drain(untilEnd: untilEnd, into: &records, warnings: &warnings)
        // Renamed away, and a new file in its place: the old one was read to its end above.
        var current = stat()
        if stat(self.path, &current) == 0, current.st_ino != self.inode || current.st_dev != self.device {
            if let reason = self.open() {
                if !self.reopenFailed { warnings.append("gateway log \(self.path) was rotated; cannot open the new file: \(reason)") }
                self.reopenFailed = true
            } else {
                self.reopenFailed = false
                self.rotations += 1
                // The old file's last line, if it had no newline, is whole now.
                if let last = self.lines.takeUnfinished() { records += self.reader.feed(line: String(decoding: last.bytes, as: UTF8.self), number: last.number) }
                self.restart()
                self.drain(untilEnd: untilEnd, into: &records, warnings: &warnings)
            }
        }
        return (records, warnings)
    }

    /// The records a last line without its newline, or a group still open, completes.
    func finish() -> [GatewayLogRecord] {
        var records: [GatewayLogRecord] = []
        if let last = self.lines.takeUnfinished() {
            records += self.reader.feed(line: String(decoding: last.bytes, as: UTF8.self), number: last.number)
        }
        return records + self.reader.finish()
    }

    private func restart() {
        self.readOffset = 0
        self.lines.restart()
    }

    private func drain(untilEnd: Bool, into records: inout [GatewayLogRecord], warnings: inout [String]) {
        var budget = Self.maximumRefreshSize
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while untilEnd || budget > 0 {
            let n = buffer.withUnsafeMutableBytes { pread(self.descriptor, $0.baseAddress, $0.count, self.readOffset) }
            if n < 0 {
                if errno == EINTR { continue }
                warnings.append("cannot read gateway log \(self.path): \(String(cString: strerror(errno)))")
                return
            }
            if n == 0 { return }
            self.readOffset += off_t(n)
            budget -= n
            self.take(buffer[..<n], into: &records, warnings: &warnings)
        }
    }

    private func take(_ chunk: ArraySlice<UInt8>, into records: inout [GatewayLogRecord], warnings: inout [String]) {
        let skipped = self.lines.take(chunk) { line, number in
            records += self.reader.feed(line: String(decoding: line, as: UTF8.self), number: number)
        }
        if let skipped { warnings.append("gateway log \(self.path) line \(skipped): longer than 1 MiB without a newline; skipped") }
    }

    private func close() {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }
}
