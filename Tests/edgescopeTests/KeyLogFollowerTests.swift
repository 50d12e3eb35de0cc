import Foundation
import Testing
import TestSupport
@testable import edgescope
#if canImport(Glibc)
import Glibc
#endif

private func random(_ byte: UInt8) -> String { String(repeating: String(format: "%02x", byte), count: 32) }
private func randomBytes(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }
private let master = String(repeating: "11", count: 48)
private let traffic = String(repeating: "22", count: 32)

/// A key log file the test appends to as a TLS client would.
private struct GrowingKeyLog {
    let path: String

    init(_ text: String) throws {
        self.path = Paths.temporaryDirectory("follower") + "/keys.log"
        try Data(text.utf8).write(to: URL(fileURLWithPath: self.path))
    }

    func append(_ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: self.path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    func replace(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: self.path))
    }
}

@Suite struct KeyLogFollowerTests {
    @Test func startReadsTheWholeFileWithAnUnfinishedLastLine() throws {
        let file = try GrowingKeyLog("# keys\nCLIENT_RANDOM \(random(1)) \(master)\r\nCLIENT_RANDOM \(random(2)) \(master)")
        let follower = try KeyLogFollower(path: file.path)
        #expect(follower.keyLog.sessions.count == 2)
        // The last line, read once at start, is read again when its newline comes: nothing new.
        try file.append("\n")
        let refresh = follower.refresh()
        #expect(!refresh.newSecrets)
        #expect(refresh.warnings.isEmpty)
    }

    @Test func refreshReadsOnlyWholeAppendedLines() throws {
        let file = try GrowingKeyLog("")
        let follower = try KeyLogFollower(path: file.path)
        #expect(follower.keyLog.sessions.isEmpty)
        let line = "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(random(3)) \(traffic)\r\n"
        // Half a line, then the rest with its CR, then the LF alone.
        try file.append(String(line.prefix(40)))
        #expect(!follower.refresh().newSecrets)
        #expect(follower.keyLog.sessions.isEmpty)
        try file.append(String(line.dropFirst(40).dropLast()) + "\r")
        #expect(!follower.refresh().newSecrets)
        try file.append("\n")
        let refresh = follower.refresh()
        #expect(refresh.newSecrets)
        #expect(refresh.warnings.isEmpty)
        #expect(follower.keyLog.secrets(clientRandom: randomBytes(3))?.clientHandshakeTraffic == [UInt8](repeating: 0x22, count: 32))
        // Nothing appended, or a line already known: no new secrets.
        #expect(!follower.refresh().newSecrets)
        try file.append(line)
        #expect(!follower.refresh().newSecrets)
        try file.append("SERVER_HANDSHAKE_TRAFFIC_SECRET \(random(3)) \(traffic)\n")
        #expect(follower.refresh().newSecrets)
    }

    @Test func aBadLaterLineIsAWarningNamingItsLineAndTheRestIsRead() throws {
        let file = try GrowingKeyLog("CLIENT_RANDOM \(random(1)) \(master)\n\n")
        let follower = try KeyLogFollower(path: file.path)
        try file.append("CLIENT_RANDOM \(random(2))\nCLIENT_RANDOM \(random(4)) \(master)\n")
        let refresh = follower.refresh()
        #expect(refresh.warnings == ["key log \(file.path) line 3: expected LABEL CLIENT_RANDOM SECRET, found 2 field(s); line ignored"])
        #expect(refresh.newSecrets)
        #expect(follower.keyLog.secrets(clientRandom: randomBytes(4)) != nil)
        #expect(follower.keyLog.secrets(clientRandom: randomBytes(2)) == nil)
    }

    @Test func aFileThatShrankIsReadAgainFromTheStartKeepingItsSecrets() throws {
        let file = try GrowingKeyLog("CLIENT_RANDOM \(random(1)) \(master)\nCLIENT_RANDOM \(random(2)) \(master)\n")
        let follower = try KeyLogFollower(path: file.path)
        try file.replace("CLIENT_RANDOM \(random(5)) \(master)\nbad\n")
        let refresh = follower.refresh()
        #expect(refresh.newSecrets)
        #expect(refresh.warnings == [
            "key log \(file.path) shrank; reading it again from the start",
            "key log \(file.path) line 2: expected LABEL CLIENT_RANDOM SECRET, found 1 field(s); line ignored",
        ])
        #expect(follower.keyLog.sessions.count == 3)
    }

    /// The capture gives up root after opening the key log: it is read through the descriptor
    /// opened then, never by path again.
    @Test func theFileIsFollowedThroughItsDescriptorNotItsPath() throws {
        let file = try GrowingKeyLog("")
        let follower = try KeyLogFollower(path: file.path)
        let moved = file.path + ".moved"
        #expect(rename(file.path, moved) == 0)
        try GrowingKeyLog(path: moved).append("CLIENT_RANDOM \(random(6)) \(master)\n")
        #expect(follower.refresh().newSecrets)
        #expect(follower.keyLog.secrets(clientRandom: randomBytes(6)) != nil)
    }

    @Test func aLineWithoutEndIsSkippedWithAWarning() throws {
        let file = try GrowingKeyLog("")
        let follower = try KeyLogFollower(path: file.path)
        try file.append(String(repeating: "x", count: KeyLogFollower.maximumLineLength + 1))
        #expect(follower.refresh().warnings == ["key log \(file.path) line 1: longer than 64 KiB without a newline; skipped"])
        try file.append("yyy\nCLIENT_RANDOM \(random(7)) \(master)\n")
        let refresh = follower.refresh()
        #expect(refresh.warnings.isEmpty)
        #expect(refresh.newSecrets)
    }

    @Test func aMalformedLineAtStartIsOneLineAndStatusTwo() throws {
        let file = try GrowingKeyLog("CLIENT_RANDOM \(random(1)) \(master)\nCLIENT_RANDOM \(random(2)) zz\n")
        #expect {
            _ = try KeyLogFollower(path: file.path)
        } throws: { error in
            guard let failure = error as? ToolFailure else { return false }
            return failure.status == 2 && failure.message == "key log \(file.path) line 2: the secret is not hex"
        }
        #expect {
            _ = try KeyLogFollower(path: "/nonexistent/keys.log")
        } throws: { error in
            (error as? ToolFailure)?.message == "cannot read key log /nonexistent/keys.log: No such file or directory"
        }
    }
}

extension GrowingKeyLog {
    fileprivate init(path: String) { self.path = path }
}
