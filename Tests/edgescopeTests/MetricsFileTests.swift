@testable import edgescope
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private func contents(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n == 0 { break }
        bytes += buffer[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func names(in directory: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

private func mode(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
}

private func failure(_ body: () throws -> Void) -> ToolFailure? {
    do {
        try body()
        return nil
    } catch let failure as ToolFailure {
        return failure
    } catch {
        Issue.record("not a ToolFailure: \(error)")
        return nil
    }
}

@Suite struct MetricsFileTests {
    @Test func theTemporaryNameIsHiddenBesideThePathAndNotProm() {
        let file = MetricsFile(path: "/var/lib/node_exporter/textfile/edgescope.prom")
        #expect(file.directory == "/var/lib/node_exporter/textfile")
        #expect(file.temporaryPath == "/var/lib/node_exporter/textfile/.edgescope.prom.tmp.\(getpid())")
        #expect(MetricsFile(path: "edgescope.prom").temporaryPath == "./.edgescope.prom.tmp.\(getpid())")
        #expect(MetricsFile(path: "/edgescope.prom").temporaryPath == "/.edgescope.prom.tmp.\(getpid())")
    }

    @Test func eachWriteReplacesTheFileWholeAndWorldReadable() throws {
        let directory = Paths.temporaryDirectory("metrics")
        let file = MetricsFile(path: directory + "/edgescope.prom")
        try file.check()
        #expect(names(in: directory).isEmpty)
        try file.write("a 1\n")
        try file.write("a 2\nb 3\n")
        #expect(contents(file.path) == "a 2\nb 3\n")
        #expect(mode(file.path) == 0o644)
        #expect(names(in: directory) == ["edgescope.prom"])
    }

    @Test func aLinkLeftAtTheTemporaryNameIsRemovedNotFollowed() throws {
        let directory = Paths.temporaryDirectory("metrics")
        let target = directory + "/target"
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(Glibc.write(fd, "keep", 4) == 4)
        close(fd)
        let file = MetricsFile(path: directory + "/edgescope.prom")
        #expect(symlink(target, file.temporaryPath) == 0)
        try file.write("a 1\n")
        #expect(contents(target) == "keep")
        #expect(mode(target) == 0o600)
        #expect(contents(file.path) == "a 1\n")
        #expect(names(in: directory) == ["edgescope.prom", "target"])
    }

    @Test func aMissingDirectoryFailsTheCheckInOneLine() {
        let directory = Paths.temporaryDirectory("metrics") + "/absent"
        let failure = failure { try MetricsFile(path: directory + "/edgescope.prom").check() }
        #expect(failure?.status == 2)
        #expect(failure?.message == "--metrics-file \(directory)/edgescope.prom: the directory \(directory) does not exist")
    }

    @Test func aFileWhereTheDirectoryShouldBeFailsTheCheck() {
        let directory = Paths.temporaryDirectory("metrics")
        let fd = open(directory + "/plain", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        close(fd)
        let failure = failure { try MetricsFile(path: directory + "/plain/edgescope.prom").check() }
        #expect(failure?.status == 2)
        #expect(failure?.message == "--metrics-file \(directory)/plain/edgescope.prom: \(directory)/plain is not a directory")
    }

    @Test func aDirectoryAtThePathFailsTheCheck() {
        let directory = Paths.temporaryDirectory("metrics")
        #expect(mkdir(directory + "/edgescope.prom", 0o700) == 0)
        let failure = failure { try MetricsFile(path: directory + "/edgescope.prom").check() }
        #expect(failure?.message == "--metrics-file \(directory)/edgescope.prom: is a directory")
    }

    @Test(.enabled(if: geteuid() != 0, "root writes in any directory: run the tests as another user to include this"))
    func aDirectoryClosedToThisUserFailsTheCheck() {
        let directory = Paths.temporaryDirectory("metrics")
        #expect(chmod(directory, 0o500) == 0)
        defer { chmod(directory, 0o700) }
        let failure = failure { try MetricsFile(path: directory + "/edgescope.prom").check() }
        #expect(failure?.status == 2)
        #expect(failure?.message == "--metrics-file \(directory)/edgescope.prom: cannot create files in \(directory): Permission denied")
    }
}
