import Engine
import Reporting
import TLSRecords
#if canImport(Glibc)
import Glibc
#endif

/// `capture --keylog`: the key log the gateway appends to while the capture runs (it logs a
/// session's secrets only once it has read the ServerHello).
///
/// The file is opened once, before root is given up, and read again through that descriptor:
/// `refresh()` reads only what was appended, and only whole lines. A file rotated by renaming
/// is not followed; one truncated or rewritten in place (it shrank) is read again from the start.
final class KeyLogFollower {
    /// What a refresh found.
    struct Refresh {
        /// Whether some session gained secrets.
        var newSecrets = false
        /// Lines that could not be read, and reading errors, one sentence each.
        var warnings: [String] = []
    }

    let path: String
    /// Every secret read so far (a file read again from the start keeps what it had).
    private(set) var keyLog = KeyLog()
    private var descriptor: Int32
    /// Bytes of the file read so far.
    private var readOffset: off_t = 0
    private var lines = LineAssembler(maximumLength: KeyLogFollower.maximumLineLength)

    /// Larger than any key-log line (those are under 300 bytes).
    static let maximumLineLength = 64 << 10
    /// Larger than any key log read at start.
    static let maximumStartSize = 64 << 20
    /// The most one refresh reads; the rest waits for the next one.
    static let maximumRefreshSize = 4 << 20

    /// Opens and reads the key log. An unreadable file or a malformed line is a one-line error,
    /// status 2 (as `KeyLogFile.read` for `analyze`).
    init(path: String) throws {
        self.path = path
        self.descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard self.descriptor >= 0 else {
            throw ToolFailure(status: 2, message: "cannot read key log \(path): \(String(cString: strerror(errno)))")
        }
        do {
            try KeyLogFile.checkNotDirectory(self.descriptor, path: path)
        } catch {
            self.close()
            throw error
        }
        var bytes: [UInt8] = []
        while true {
            let (chunk, error) = self.read(at: self.readOffset, count: 65536)
            if let error {
                self.close()
                throw ToolFailure(status: 2, message: "cannot read key log \(path): \(error)")
            }
            if chunk.isEmpty { break }
            bytes += chunk
            self.readOffset += off_t(chunk.count)
            if bytes.count > Self.maximumStartSize {
                self.close()
                throw ToolFailure(status: 2, message: "key log \(path): larger than 64 MiB, which no key log is")
            }
        }
        do throws(KeyLog.ParseError) {
            // A last line without its newline is read too, and again once the newline comes.
            try self.keyLog.add(parsing: String(decoding: bytes, as: UTF8.self), firstLine: 1)
        } catch {
            self.close()
            throw ToolFailure(status: 2, message: "key log \(path) \(error.description)")
        }
        self.lines.resume(after: bytes)
    }

    deinit { self.close() }

    /// Reads what was appended since the last call, whole lines only. A malformed line is a
    /// warning, not an error: a live capture goes on.
    func refresh() -> Refresh {
        var refresh = Refresh()
        var status = stat()
        guard self.descriptor >= 0, fstat(self.descriptor, &status) == 0 else {
            refresh.warnings.append("cannot read key log \(self.path): \(String(cString: strerror(errno)))")
            return refresh
        }
        if status.st_size < self.readOffset {
            // Truncated or rewritten in place. The secrets already read stay: open sessions may need them.
            self.readOffset = 0
            self.lines.restart()
            refresh.warnings.append("key log \(self.path) shrank; reading it again from the start")
        }
        var budget = Self.maximumRefreshSize
        while budget > 0 {
            let (chunk, error) = self.read(at: self.readOffset, count: min(budget, 65536))
            if let error {
                refresh.warnings.append("cannot read key log \(self.path): \(error)")
                break
            }
            if chunk.isEmpty { break }
            self.readOffset += off_t(chunk.count)
            budget -= chunk.count
            self.take(chunk, into: &refresh)
        }
        return refresh
    }

    /// Refreshes, writes the warnings to stderr, and hands new secrets to `engine`.
    func refresh(into engine: inout Engine) {
        let refresh = self.refresh()
        for warning in refresh.warnings {
            Edgescope.warn(warning)
        }
        if refresh.newSecrets { engine.updateKeyLog(self.keyLog) }
    }

    /// Adds the whole lines `chunk` completes; keeps the rest for the next chunk.
    private func take(_ chunk: [UInt8], into refresh: inout Refresh) {
        let skipped = self.lines.take(chunk[...]) { line, number in
            self.add(line: line, number: number, into: &refresh)
        }
        if let skipped { refresh.warnings.append("key log \(self.path) line \(skipped): longer than 64 KiB without a newline; skipped") }
    }

    private func add(line: [UInt8], number: Int, into refresh: inout Refresh) {
        do throws(KeyLog.ParseError) {
            if try self.keyLog.add(parsing: String(decoding: line, as: UTF8.self), firstLine: number) > 0 {
                refresh.newSecrets = true
            }
        } catch {
            refresh.warnings.append("key log \(self.path) \(error.description); line ignored")
        }
    }

    /// Up to `count` bytes at `offset`: fewer at the end of the file, none past it.
    private func read(at offset: off_t, count: Int) -> (bytes: [UInt8], error: String?) {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(self.descriptor, $0.baseAddress, count, offset) }
            if n >= 0 { return (Array(buffer[..<n]), nil) }
            if errno != EINTR { return ([], String(cString: strerror(errno))) }
        }
    }

    private func close() {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }
}
