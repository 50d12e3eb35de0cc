import CaptureModel
import Foundation
import Testing
import TestSupport

/// Reports and slices: 0600 files in 0700 directories, never written through a symbolic link
/// someone left in the way.
struct OutputSafetyTests {
    static func mode(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1
    }

    static func type(_ path: String) throws -> FileAttributeType? {
        try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType
    }

    @Test func filesAre0600InDirectoriesMade0700() throws {
        let out = Paths.temporaryDirectory("safety") + "/new/out"
        let run = try Run(["analyze", try RedactionTests.capture(), "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.mode(out) == 0o700)
        #expect(try Self.mode(out + "/slices") == 0o700)
        for name in ["report.json", "report.md", "report.html", "slices/c1.pcap"] {
            #expect(try Self.mode(out + "/" + name) == 0o600, "\(name)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test func linksLeftAtReportAndSliceNamesAreReplacedNotFollowed() throws {
        let base = Paths.temporaryDirectory("safety-links")
        let out = base + "/out"
        try FileManager.default.createDirectory(atPath: out + "/slices", withIntermediateDirectories: true)
        let victim = base + "/victim"
        try "keep me".write(toFile: victim, atomically: false, encoding: .utf8)
        for name in ["report.json", "report.md", "report.html", "slices/c1.pcap"] {
            try FileManager.default.createSymbolicLink(atPath: out + "/" + name, withDestinationPath: victim)
        }
        let run = try Run(["analyze", try RedactionTests.capture(), "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        for name in ["report.json", "report.md", "report.html", "slices/c1.pcap"] {
            #expect(try Self.type(out + "/" + name) == .typeRegular, "\(name)")
            #expect(try Self.mode(out + "/" + name) == 0o600, "\(name)")
        }
    }

    @Test func anOutputDirectoryThatIsALinkIsRefused() throws {
        let base = Paths.temporaryDirectory("safety-dirlink")
        try FileManager.default.createDirectory(atPath: base + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: base + "/out", withDestinationPath: base + "/elsewhere")
        let run = try Run(["analyze", try RedactionTests.capture(), "--out", base + "/out"])
        #expect(run.status == 2)
        #expect(run.errorLines == ["edgescope: \(base)/out is a symbolic link; give the directory itself"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/elsewhere").isEmpty)
    }

    /// Escape sequences from the wire (clear screen, set the window title, bell) reach the
    /// terminal as inert text.
    @Test func controlSequencesFromTheWireNeverReachTheTerminal() throws {
        let request = Array("GET /\u{1b}[2J\u{1b}]0;pwned\u{07}\u{9b}31m HTTP/1.1\r\nHost: up\r\n\r\n".utf8)
        let path = Paths.temporaryDirectory("escapes") + "/escapes.pcap"
        try PcapFileBuilder.oneExchange(request: request, response: nil).write(to: path)
        let run = try Run(["analyze", path])
        #expect(run.status == 0)
        #expect(run.stdout.contains("tcp.rst.before_response"))
        #expect(run.stdout.contains("pwned"), "the text is kept, made inert")
        for scalar in run.stdout.unicodeScalars {
            let value = scalar.value
            let control = (value < 0x20 && value != 0x0a) || value == 0x7f || (0x80...0x9f).contains(value)
            #expect(!control, "control character U+\(String(value, radix: 16)) on stdout")
        }
    }
}
