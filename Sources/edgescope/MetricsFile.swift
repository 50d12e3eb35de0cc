#if canImport(Glibc)
import Glibc
#endif

/// `--metrics-file PATH`: Prometheus metrics for node_exporter's textfile collector, rewritten
/// whole every few seconds. Each version goes to a temporary file in the same directory and is
/// renamed over PATH, so the collector reads either the old text or the new, never half of one.
struct MetricsFile {
    /// The file node_exporter reads (it reads only names ending in `.prom`).
    let path: String
    /// The directory holding it; the temporary file is made there, so rename(2) stays on one
    /// filesystem and is atomic.
    let directory: String
    /// `.NAME.tmp.PID`: hidden and not ending in `.prom`, so the collector never reads it.
    let temporaryPath: String

    /// The file at `path` (nothing is checked or written yet).
    init(path: String) {
        self.path = path
        let name: Substring
        if let slash = path.lastIndex(of: "/") {
            self.directory = slash == path.startIndex ? "/" : String(path[..<slash])
            name = path[path.index(after: slash)...]
        } else {
            self.directory = "."
            name = Substring(path)
        }
        self.temporaryPath = "\(self.directory == "/" ? "" : self.directory)/.\(name).tmp.\(getpid())"
    }

    /// Fails with one line (status 2) unless this process can write PATH: the directory must
    /// exist and take new files, and PATH must not be a directory. Call it at start, once
    /// privileges are dropped, so a wrong path stops the capture before it begins.
    func check() throws {
        let name = self.path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard !name.isEmpty, name != ".", name != ".." else {
            throw ToolFailure(status: 2, message: "--metrics-file \(self.path): not a file name")
        }
        var info = stat()
        guard stat(self.directory, &info) == 0 else {
            if errno == ENOENT {
                throw ToolFailure(status: 2, message: "--metrics-file \(self.path): the directory \(self.directory) does not exist")
            }
            throw self.failure("cannot use the directory \(self.directory)")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ToolFailure(status: 2, message: "--metrics-file \(self.path): \(self.directory) is not a directory")
        }
        // lstat: a link at PATH is replaced by the rename, not followed, whatever it points to.
        if lstat(self.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw ToolFailure(status: 2, message: "--metrics-file \(self.path): is a directory")
        }
        // Making (and removing) the temporary file is the one test that cannot be wrong about
        // permissions, ACLs or a read-only mount.
        let fd = try self.createTemporary(failing: "cannot create files in \(self.directory)")
        close(fd)
        unlink(self.temporaryPath)
    }

    /// Replaces PATH with `text`, atomically.
    func write(_ text: String) throws {
        let fd = try self.createTemporary(failing: "cannot create \(self.temporaryPath)")
        let error = writeAll(fd, text.utf8)
        if error != 0 {
            errno = error
            let failure = self.failure("cannot write \(self.temporaryPath)")
            close(fd)
            unlink(self.temporaryPath)
            throw failure
        }
        // No fsync: the next version comes in seconds, and a file lost to a power cut costs
        // one scrape, not data.
        guard close(fd) == 0 else {
            let failure = self.failure("cannot write \(self.temporaryPath)")
            unlink(self.temporaryPath)
            throw failure
        }
        guard rename(self.temporaryPath, self.path) == 0 else {
            let failure = self.failure("cannot replace \(self.path)")
            unlink(self.temporaryPath)
            throw failure
        }
    }

    /// Creates the temporary file, 0644, never through a link; `what` starts the failure's message.
    private func createTemporary(failing what: String) throws -> Int32 {
        // O_EXCL|O_NOFOLLOW: never write through a link someone left at the temporary name.
        var fd = open(self.temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0, errno == EEXIST {
            // Left by an earlier run that had this PID (a container's PID 1 always does).
            // unlink(2) removes a link itself, never what it points to; then create afresh.
            unlink(self.temporaryPath)
            fd = open(self.temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else {
            throw self.failure(what)
        }
        // 0644 whatever the umask (the capture sets 077): node_exporter runs as its own user
        // and must read the file. Metrics are counts, upstream addresses and cause codes, never
        // traffic, so readable by all is acceptable where reports and captures are not.
        guard fchmod(fd, 0o644) == 0 else {
            let failure = self.failure("cannot set the mode of \(self.temporaryPath)")
            close(fd)
            unlink(self.temporaryPath)
            throw failure
        }
        return fd
    }

    private func failure(_ what: String) -> ToolFailure {
        ToolFailure(status: 2, message: "--metrics-file \(self.path): \(what): \(String(cString: strerror(errno)))")
    }
}
