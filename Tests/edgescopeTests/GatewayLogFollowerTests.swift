@testable import edgescope
import Foundation
import GatewayLog
import Testing
import TestSupport

/// `capture --gateway-log`: a gateway log followed as nginx appends to it and logrotate renames it.
struct GatewayLogFollowerTests {
    static let lines = try! String(contentsOfFile: Paths.captures + "/nginx/client-hop.nginx-error.log", encoding: .utf8)
        .split(separator: "\n").map { String($0) + "\n" }

    static func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    @Test func appendedLinesAreReadWholeAndARenamedFileIsFollowedToItsEnd() throws {
        let directory = Paths.temporaryDirectory("gwlog-follow")
        let path = directory + "/error.log"
        try Self.lines[0].write(toFile: path, atomically: false, encoding: .utf8)
        let follower = try GatewayLogFollower(path: path, formats: [], zone: LocalZone(parsing: "UTC")!)
        var (records, warnings) = follower.refresh()
        #expect(records.map(\.line) == [1])
        #expect(records.first?.target == "/rst/2")
        #expect(warnings.isEmpty)

        // Half a line: nothing until its newline comes.
        let second = Self.lines[1]
        let half = second.index(second.startIndex, offsetBy: 40)
        try Self.append(String(second[..<half]), to: path)
        (records, _) = follower.refresh()
        #expect(records.isEmpty)
        try Self.append(String(second[half...]), to: path)
        (records, _) = follower.refresh()
        #expect(records.map(\.line) == [2])
        #expect(records.first?.target == "/fin/3")

        // logrotate: a last line lands in the old file, which is renamed; nginx reopens a new one.
        try Self.append(Self.lines[2], to: path)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try Self.lines[3].write(toFile: path, atomically: false, encoding: .utf8)
        (records, warnings) = follower.refresh()
        #expect(records.map(\.line) == [3, 1])
        #expect(records.map(\.target) == ["/bad/4", "/retry/6"])
        #expect(records.allSatisfy { $0.file == path })
        #expect(follower.rotations == 1)
        #expect(warnings.isEmpty)

        // Truncated in place (copytruncate), a shorter line written: read again from the start.
        try Self.lines[5].write(toFile: path, atomically: false, encoding: .utf8)
        (records, warnings) = follower.refresh()
        #expect(records.map(\.line) == [1])
        #expect(records.first?.target == "/refused/7")
        #expect(warnings == ["gateway log \(path) shrank; reading it again from the start"])
    }

    @Test func aRotationWithNoNewFileYetWaits() throws {
        let directory = Paths.temporaryDirectory("gwlog-follow-gap")
        let path = directory + "/error.log"
        try Self.lines[0].write(toFile: path, atomically: false, encoding: .utf8)
        let follower = try GatewayLogFollower(path: path, formats: [], zone: LocalZone(parsing: "UTC")!)
        _ = follower.refresh()
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        var (records, warnings) = follower.refresh()
        #expect(records.isEmpty)
        #expect(warnings.isEmpty)
        try Self.lines[1].write(toFile: path, atomically: false, encoding: .utf8)
        (records, warnings) = follower.refresh()
        #expect(records.map(\.line) == [1])
        #expect(follower.rotations == 1)
    }
}
