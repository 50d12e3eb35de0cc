import CaptureModel
import TLSRecords
import Testing
import TestSupport

/// Plays a `ToySession` into a `TLSConnection` one frame at a time, taking what it decrypts
/// after every call as the engine does, with key-log updates between frames.
struct LiveRun {
    var connection: TLSConnection
    /// What `takeDecrypted()` gave, in order: direction, bytes, decrypted-stream offset, frame.
    var decrypted: [String] = []
    /// The most `heldRecordBytes` was after any call.
    var mostHeld = 0

    init(keyLog: KeyLog, waitForKeys: Bool, holdLimit: Int = 256 << 10) {
        self.connection = TLSConnection(
            decryption: TLSConnection.Decryption(keyLog: keyLog, crypto: ToyCrypto(), waitForKeys: waitForKeys, holdLimit: holdLimit))
    }

    /// Feeds `session`'s frames; before frame `index`, `updates[index]` (if any) replaces the key log.
    mutating func play(_ session: ToySession, updates: [Int: KeyLog] = [:], cut: Bool = false) {
        var offsets: [Direction: UInt64] = [.client: 0, .server: 0]
        for (index, send) in session.sends.enumerated() {
            if let keyLog = updates[index] { self.update(keyLog) }
            let frame = FrameNumber(index + 1)
            // Cut mid-record too: a record split over segments is held the same.
            let pieces = cut ? [Array(send.bytes.prefix(7)), Array(send.bytes.dropFirst(7))] : [send.bytes]
            var inFrame = 0
            for piece in pieces where !piece.isEmpty {
                piece.withUnsafeBytes { raw in
                    self.connection.feed(raw, direction: send.direction, at: offsets[send.direction]!, frame: frame, frameOffset: 66 + inFrame,
                                         time: Timestamp(nanoseconds: Int64(frame) * 1_000_000))
                }
                inFrame += piece.count
                offsets[send.direction]! += UInt64(piece.count)
                self.take()
            }
        }
        if let keyLog = updates[session.sends.count] { self.update(keyLog) }
    }

    mutating func update(_ keyLog: KeyLog) {
        self.connection.keysUpdated(keyLog)
        self.take()
    }

    private mutating func take() {
        for item in self.connection.takeDecrypted() {
            self.decrypted.append("\(item.direction) @\(item.offset) frame \(item.location.frame): \(String(decoding: item.bytes, as: UTF8.self))")
        }
        self.mostHeld = max(self.mostHeld, self.connection.heldRecordBytes)
    }

    /// Everything the diagnosis reads of the connection.
    var state: String {
        let c = self.connection
        return """
            hello \(String(describing: c.clientHello?.serverName)) \(String(describing: c.serverHello?.version)) \(String(describing: c.serverHello?.cipherSuite))
            chain \(c.certificates.map(\.count)) at \(String(describing: c.certificateLocation))
            alerts \(c.alerts) encrypted \(c.encryptedAlerts.map { "\($0.direction) \($0.location)" })
            records \(c.encryptedRecords) first \(String(describing: c.firstClientEncrypted)) application \(c.clientApplicationRecords) \(c.serverApplicationRecords)
            ccs \(String(describing: c.changeCipherSpec)) done \(String(describing: c.handshakeDone)) ending \(String(describing: c.firstAlertAfterHandshake))
            keys \(c.keysFound) decrypted \(c.decryptedRecords) failures \(c.decryptionFailures) bytes \(c.decryptedBytes)
            """
    }
}

private func keyLog(_ lines: [String]) throws -> KeyLog {
    try KeyLog(parsing: lines.joined(separator: "\n"))
}

enum Version: String, CaseIterable, CustomTestStringConvertible {
    case tls12, tls13
    var session: ToySession { self == .tls12 ? .tls12() : .tls13() }
    var testDescription: String { self.rawValue }
}

@Suite struct KeyWaitTests {
    /// Keys in the key log from the start, read the offline way.
    func upFront(_ session: ToySession) throws -> LiveRun {
        var run = LiveRun(keyLog: try keyLog(session.keyLogLines), waitForKeys: false)
        run.play(session)
        return run
    }

    @Test func keysUpFrontDecryptEveryRecord() throws {
        for version in Version.allCases {
            let session = version.session
            let run = try upFront(session)
            #expect(run.connection.decryptedRecords == session.protectedRecords, "\(version)")
            #expect(run.connection.decryptionFailures == 0)
            #expect(run.connection.handshakeComplete)
            #expect(run.connection.certificates == ToySession.chain)
            #expect(run.decrypted.joined(separator: "|").contains("hello there"))
            #expect(run.decrypted.count == 5, "\(run.decrypted)")
        }
    }

    /// The keys come before frame `arrival` (1 is the ServerHello's frame, where the gateway
    /// logs them at the earliest; `sends.count` is after the last frame).
    @Test(arguments: Version.allCases, [1, 2, 3, 5, 7, 99])
    func keysArrivingLateDecryptAsKeysUpFront(version: Version, arrival: Int) throws {
        let session = version.session
        let expected = try upFront(session)
        for cut in [false, true] {
            var run = LiveRun(keyLog: KeyLog(), waitForKeys: true)
            run.play(session, updates: [min(arrival, session.sends.count): try keyLog(session.keyLogLines)], cut: cut)
            #expect(run.decrypted == expected.decrypted)
            #expect(run.state == expected.state)
            #expect(!run.connection.waitingForKeys)
            #expect(run.connection.heldRecordBytes == 0)
        }
    }

    @Test(arguments: Version.allCases)
    func whileWaitingTheConnectionReadsAsWithoutKeys(version: Version) throws {
        let session = version.session
        var without = LiveRun(keyLog: KeyLog(), waitForKeys: false)
        without.play(session)
        var waiting = LiveRun(keyLog: KeyLog(), waitForKeys: true)
        waiting.play(session)
        #expect(waiting.connection.waitingForKeys)
        #expect(waiting.connection.heldRecordBytes > 0)
        #expect(waiting.state == without.state)
        #expect(waiting.decrypted.isEmpty)
        #expect(!waiting.connection.keysFound)
        // A key log that grew, but not with this session, changes nothing.
        let other = "CLIENT_RANDOM \(String(repeating: "cd", count: 32)) \(String(repeating: "11", count: 48))"
        waiting.update(try keyLog([other]))
        #expect(waiting.connection.waitingForKeys)
        #expect(waiting.state == without.state)
    }

    /// A TLS 1.3 client logs its handshake secrets on reading the ServerHello and its
    /// application secrets on reading the server's Finished: a refresh can fall in between.
    @Test func tls13SecretsArrivingLineByLineDecryptAsKeysUpFront() throws {
        let session = ToySession.tls13()
        let expected = try upFront(session)
        let lines = session.keyLogLines
        var run = LiveRun(keyLog: KeyLog(), waitForKeys: true)
        run.play(session, updates: [
            2: try keyLog(Array(lines.prefix(1))),
            3: try keyLog(Array(lines.prefix(2))),
            5: try keyLog(Array(lines.prefix(3))),
            7: try keyLog(lines),
        ])
        #expect(run.decrypted == expected.decrypted)
        #expect(run.state == expected.state)
        #expect(!run.connection.waitingForKeys)
        #expect(!run.connection.gaveUpWaitingForKeys)
    }

    @Test func tls13HandshakeSecretsAloneOpenTheServerFlightAndKeepWaiting() throws {
        let session = ToySession.tls13()
        var partial = LiveRun(keyLog: try keyLog(Array(session.keyLogLines.prefix(2))), waitForKeys: false)
        partial.play(session)
        var run = LiveRun(keyLog: KeyLog(), waitForKeys: true)
        run.play(session, updates: [3: try keyLog(Array(session.keyLogLines.prefix(2)))])
        #expect(run.connection.waitingForKeys)
        #expect(run.state == partial.state)
        #expect(run.connection.certificates == ToySession.chain)
        #expect(run.decrypted.isEmpty)
    }

    @Test(arguments: Version.allCases)
    func keysThereAtTheServerHelloHoldNothing(version: Version) throws {
        let session = version.session
        let expected = try upFront(session)
        var run = LiveRun(keyLog: try keyLog(session.keyLogLines), waitForKeys: true)
        run.play(session, updates: [2: try keyLog(session.keyLogLines)])
        #expect(run.decrypted == expected.decrypted)
        #expect(run.state == expected.state)
        #expect(!run.connection.waitingForKeys)
    }

    @Test(arguments: Version.allCases)
    func holdLimitZeroGivesUpAtOnceAndCountsEveryRecord(version: Version) throws {
        let session = version.session
        var without = LiveRun(keyLog: KeyLog(), waitForKeys: false)
        without.play(session)
        var run = LiveRun(keyLog: KeyLog(), waitForKeys: true, holdLimit: 0)
        run.play(session, updates: [session.sends.count: try keyLog(session.keyLogLines)])
        #expect(!run.connection.waitingForKeys)
        #expect(run.connection.heldRecordBytes == 0)
        #expect(run.connection.recordsPastHoldLimit == session.protectedRecords)
        #expect(run.connection.decryptionFailures == session.protectedRecords)
        #expect(run.connection.decryptedRecords == 0)
        #expect(run.decrypted.isEmpty)
        #expect(run.connection.keysFound)
        // Read as without keys: the same shape as a capture file read with no key log.
        #expect(run.connection.handshakeComplete == without.connection.handshakeComplete)
        #expect(run.connection.encryptedRecords == without.connection.encryptedRecords)
        #expect(run.connection.clientApplicationRecords == without.connection.clientApplicationRecords)
        #expect(String(describing: run.connection.firstAlertAfterHandshake) == String(describing: without.connection.firstAlertAfterHandshake))
    }

    @Test(arguments: Version.allCases)
    func holdLimitIsNeverPassedAndRecordsAfterItCount(version: Version) throws {
        let session = version.session
        // TLS 1.2 passes it at the first answer, TLS 1.3 at the client's Finished.
        let limit = 1800
        var run = LiveRun(keyLog: KeyLog(), waitForKeys: true, holdLimit: limit)
        run.play(session, updates: [session.sends.count: try keyLog(session.keyLogLines)])
        #expect(run.mostHeld > limit / 2 && run.mostHeld <= limit)
        #expect(!run.connection.waitingForKeys)
        #expect(run.connection.decryptedRecords == 0)
        #expect(run.connection.recordsPastHoldLimit > 0)
        #expect(run.connection.recordsPastHoldLimit < session.protectedRecords)
        #expect(run.connection.gaveUpWaitingForKeys)
        // Held, then given up, or past the limit: every protected record failed.
        #expect(run.connection.decryptionFailures == session.protectedRecords)
    }
}
