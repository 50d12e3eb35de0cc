import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `capture --out` started as root: a directory that was already there is never re-owned or
/// re-moded, and a start that fails leaves nothing it made behind.
@Suite(.enabled(if: geteuid() == 0, "edgescope capture opens live captures and drops root: run the tests as root to include these"))
struct CaptureOutputSafetyTests {
    /// Owner uid and permission bits.
    static func owner(_ path: String) -> (uid: uid_t, mode: mode_t) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return (uid_t.max, 0) }
        return (info.st_uid, info.st_mode & 0o7777)
    }

    static func entries(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    /// A fresh directory `nobody` can pass through (mkdtemp makes 0700).
    static func base(_ label: String) -> String {
        let base = Paths.temporaryDirectory(label)
        chmod(base, 0o755)
        return base
    }

    static let nobody: uid_t = getpwnam("nobody").map { $0.pointee.pw_uid } ?? uid_t.max

    @Test func anExistingRootDirectoryKeepsItsOwnerAndMode() throws {
        let out = Self.base("capture-existing")
        try "root's".write(toFile: out + "/rootfile", atomically: false, encoding: .utf8)
        chmod(out + "/rootfile", 0o644)
        let run = try Run(["capture", "-i", "lo", "--out", out, "--duration", "1"], deadline: 30)
        #expect(run.status == 2)
        #expect(run.errorLines == [
            "edgescope: user nobody cannot write to \(out), which exists, and edgescope never changes the owner or mode of a directory it did not make: give a new --out (made for nobody), one nobody can write to, or another --user",
        ])
        #expect(Self.owner(out) == (0, 0o755))
        #expect(Self.owner(out + "/rootfile") == (0, 0o644))
        #expect(try Self.entries(out) == ["rootfile"])
        #expect(try String(contentsOfFile: out + "/rootfile", encoding: .utf8) == "root's")
    }

    /// A directory the capture's user can already write is used as it is; an earlier run's
    /// reports, incident log and slices go, other files stay.
    @Test func anExistingDirectoryTheUserCanWriteIsUsedAsItIs() throws {
        let out = Self.base("capture-writable") + "/out"
        try FileManager.default.createDirectory(atPath: out + "/slices", withIntermediateDirectories: true)
        for (name, text) in [("notes.txt", "mine"), ("report.json", "{}"), ("incidents.jsonl", "{\"id\": \"c9\"}\n"), ("slices/c9.pcap", "old"), ("slices/keep.txt", "mine")] {
            try text.write(toFile: out + "/" + name, atomically: false, encoding: .utf8)
            chown(out + "/" + name, Self.nobody, gid_t.max)
        }
        chown(out, Self.nobody, gid_t.max)
        chown(out + "/slices", Self.nobody, gid_t.max)
        chmod(out, 0o750)
        chmod(out + "/slices", 0o710)
        let run = try Run(["capture", "-i", "lo", "--out", out, "--duration", "1"], deadline: 30)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(Self.owner(out) == (Self.nobody, 0o750))
        #expect(Self.owner(out + "/slices") == (Self.nobody, 0o710))
        #expect(try Self.entries(out) == ["incidents.jsonl", "notes.txt", "report.html", "report.json", "report.md", "slices"])
        #expect(try Self.entries(out + "/slices") == ["keep.txt"])
        #expect(try String(contentsOfFile: out + "/incidents.jsonl", encoding: .utf8).isEmpty)
        #expect(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8) == "mine")
        #expect(try String(contentsOfFile: out + "/report.json", encoding: .utf8).contains("\"schema\": \"edgescope.report/1\""))
        // The last message names every report written.
        #expect(run.stdout.contains("reports written to \(out)/report.json, \(out)/report.md and \(out)/report.html\n"))
    }

    /// A new directory is made for the capture's user (with the parents this run made).
    @Test func aNewDirectoryIsMadeForTheUser() throws {
        let base = Self.base("capture-new")
        let out = base + "/made/out"
        let run = try Run(["capture", "-i", "lo", "--out", out, "--duration", "1"], deadline: 30)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(Self.owner(base) == (0, 0o755))
        #expect(Self.owner(base + "/made") == (Self.nobody, 0o700))
        #expect(Self.owner(out) == (Self.nobody, 0o700))
        #expect(Self.owner(out + "/report.html").uid == Self.nobody)
    }

    /// Whatever stops the start, no --out (nor a parent it made) is left.
    /// Starts that fail, with their status: before the interface opens, and after.
    static let failedStarts: [([String], Int32)] = [
        (["-i", "nonexistent0"], 2),
        (["-i", "lo", "--filter", "tcp and and"], 1),
        (["-i", "lo", "--user", "no-such-user-here"], 2),
        (["-i", "lo", "--gateway", "nginx:99"], 1),
        (["-i", "lo", "--metrics-file", "/nonexistent/dir/edgescope.prom"], 2),
        (["-i", "lo", "--write-pcap", "/nonexistent/dir/full"], 2),
    ]

    @Test(arguments: Self.failedStarts)
    func aFailedStartLeavesNoNewDirectory(arguments: [String], status: Int32) throws {
        let base = Self.base("capture-failed")
        let run = try Run(["capture", "--out", base + "/new/out", "--duration", "1"] + arguments, deadline: 30)
        #expect(run.status == status)
        #expect(run.errorLines.count == 1, "\(run.stderr)")
        let left = try Self.entries(base)
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// A new --out under a directory the user cannot pass: made as root, then found out of
    /// reach, and removed again.
    @Test func aNewDirectoryTheUserCannotReachIsRemovedAgain() throws {
        let base = Self.base("capture-closed")
        try FileManager.default.createDirectory(atPath: base + "/closed", withIntermediateDirectories: false)
        chmod(base + "/closed", 0o700)
        let out = base + "/closed/new/out"
        let run = try Run(["capture", "-i", "lo", "--out", out, "--duration", "1"], deadline: 30)
        #expect(run.status == 2)
        #expect(run.errorLines == ["edgescope: user nobody cannot reach \(out), made for it (is a parent directory closed to it?)"])
        #expect(try Self.entries(base + "/closed").isEmpty)
        #expect(Self.owner(base + "/closed") == (0, 0o700))
    }
}
