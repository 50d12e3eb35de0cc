#if canImport(Glibc)
import Glibc
#endif

/// The `--out` directory: created 0700 when new; each file written to a temporary name and
/// renamed, so a reader never sees half a report.
struct OutputDirectory {
    let path: String

    init(path: String) throws {
        self.path = path
        try Self.makeDirectory(path)
    }

    func makeSubdirectory(_ name: String) throws {
        try Self.makeDirectory(self.path + "/" + name)
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

    private static func makeDirectory(_ path: String) throws {
        var components: [String] = []
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            components.append(current)
        }
        for directory in components {
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw Self.failure("cannot create directory \(directory)")
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
    }

    private static func failure(_ what: String) -> ToolFailure {
        ToolFailure(status: 2, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
