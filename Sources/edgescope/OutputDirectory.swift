#if canImport(Glibc)
import Glibc
#endif

/// The `--out` directory: created 0700 when new; each file written to a temporary name and
/// renamed, so a reader never sees half a report.
///
/// A directory that was already there is used as it is: its owner and mode are never changed.
/// `created` says which directories this run made, so a run that fails before it starts can
/// take them away again (`removeCreated()`), and only those.
struct OutputDirectory {
    let path: String
    /// The directories this run made, outermost first: `path` and any missing parents.
    let created: [String]

    init(path: String) throws {
        self.path = path
        self.created = try Self.makeDirectory(path)
    }

    /// Whether `path` itself was made by this run (it did not exist before).
    var isNew: Bool { !self.created.isEmpty }

    /// Makes `name` inside the directory unless it exists; returns whether it was made.
    @discardableResult
    func makeSubdirectory(_ name: String) throws -> Bool {
        try !Self.makeDirectory(self.path + "/" + name).isEmpty
    }

    /// Removes the directories this run made, innermost first, with `files` (paths this run
    /// created inside them) before them. rmdir(2) removes only an empty directory, so nothing
    /// another process put there meanwhile is ever deleted.
    func removeCreated(files: [String] = []) {
        for file in files { unlink(file) }
        for directory in self.created.reversed() { rmdir(directory) }
    }

    /// Removes from `slices/` each slice an earlier run left (a regular file named as edgescope
    /// names slices, `c<id>.pcap`) that `keeping` (paths relative to the directory,
    /// `slices/c3.pcap`) does not name. Any other file there is left alone.
    func removeStaleSlices(keeping: Set<String>) throws {
        let directory = self.path + "/slices"
        guard let stream = opendir(directory) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw Self.failure("cannot read \(directory)")
        }
        defer { closedir(stream) }
        var stale: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard Self.isSliceName(name), !keeping.contains("slices/" + name) else { continue }
            stale.append(name)
        }
        for name in stale {
            let file = directory + "/" + name
            var info = stat()
            // lstat: a link or a directory under a slice's name is not a slice edgescope wrote.
            guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if unlink(file) != 0, errno != ENOENT {
                throw Self.failure("cannot remove \(file), a slice of an earlier run")
            }
        }
    }

    /// Removes `name` when an earlier run left it as a regular file (`connections.jsonl` from a
    /// `--list all` run, when this run lists less): the directory then holds only what this run's
    /// report describes. A link or a directory of that name is left alone.
    func removeStaleFile(_ name: String) throws {
        let file = self.path + "/" + name
        var info = stat()
        guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        if unlink(file) != 0, errno != ENOENT {
            throw Self.failure("cannot remove \(file), left by an earlier run")
        }
    }

    /// `c<digits>.pcap`: the names edgescope gives slices (`slices/c17.pcap`).
    static func isSliceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count > 6, bytes.first == UInt8(ascii: "c"), name.hasSuffix(".pcap") else { return false }
        let digits = bytes[1..<(bytes.count - 5)]
        return digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// Writes `contents` to `name` through a temporary file and a rename.
    func write(_ name: String, _ contents: String) throws {
        try self.write(name) { emit in try emit(Array(contents.utf8)) }
    }

    /// Writes what `body` hands to its `emit` to `name`, through a temporary file and a rename:
    /// a report can be written in pieces without being whole in memory.
    func write(_ name: String, streaming body: (_ emit: ([UInt8]) throws -> Void) throws -> Void) throws {
        let final = self.path + "/" + name
        let temporary = self.path + "/.\(name).tmp.\(getpid())"
        // O_EXCL|O_NOFOLLOW: never write through a link someone left at the temporary name.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("cannot create \(temporary)") }
        do {
            try body { bytes in
                let error = writeAll(fd, bytes)
                if error != 0 {
                    errno = error
                    throw Self.failure("cannot write \(temporary)")
                }
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0, rename(temporary, final) == 0 else {
            let failure = Self.failure("cannot write \(final)")
            unlink(temporary)
            throw failure
        }
    }

    /// Makes `path` and its missing parents (0700 under the umask); returns those it made,
    /// outermost first.
    private static func makeDirectory(_ path: String) throws -> [String] {
        var components: [String] = []
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            components.append(current)
        }
        var made: [String] = []
        for directory in components {
            if mkdir(directory, 0o700) == 0 {
                made.append(directory)
            } else if errno != EEXIST {
                let failure = Self.failure("cannot create directory \(directory)")
                for directory in made.reversed() { rmdir(directory) }
                throw failure
            }
        }
        // lstat: a symbolic link where the directory should be is refused, not followed, so
        // reports never land where someone else pointed them.
        var info = stat()
        guard lstat(path, &info) == 0 else { throw Self.failure("cannot use \(path)") }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            throw ToolFailure(status: 2, message: "\(path) is a symbolic link; give the directory itself")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ToolFailure(status: 2, message: "\(path) is not a directory")
        }
        return made
    }

    private static func failure(_ what: String) -> ToolFailure {
        ToolFailure(status: 2, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
