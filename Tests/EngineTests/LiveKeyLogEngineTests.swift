import CaptureModel
import Engine
import Foundation
import OpenSSLAdapters
import PcapSource
import Reporting
import TLSRecords
import Testing
import TestSupport

/// The TLS captures made with a key log (the truth names it).
func keyLogTruthFiles() -> [String] {
    truthFiles().filter { name in
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + name)),
              let truth = try? JSONDecoder().decode(Truth.self, from: data)
        else { return false }
        return truth.tls?.keylog != nil
    }
}

/// A live capture's view of a recorded one: the engine starts with an empty key log and waits
/// for keys; `updates[n]` replaces the key log before frame `n`, `atEnd` after the last frame.
private struct LiveReplay {
    let truth: Truth
    let path: String
    let keyLogLines: [String]

    init(_ truthFile: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
        self.truth = try JSONDecoder().decode(Truth.self, from: data)
        self.path = capturePath(truthFile: truthFile, capture: self.truth.capture)
        let keylog = try #require(self.truth.tls?.keylog)
        let text = try String(contentsOfFile: Paths.captures + "/" + keylog, encoding: .utf8)
        self.keyLogLines = text.split(separator: "\n").map(String.init)
    }

    /// The key log's first `count` lines.
    func keyLog(lines count: Int) throws -> KeyLog {
        try KeyLog(parsing: self.keyLogLines.prefix(count).joined(separator: "\n"))
    }

    var keyLog: KeyLog { get throws { try self.keyLog(lines: self.keyLogLines.count) } }

    /// The truth's options, every connection judged after the linger: keys may come after
    /// the close, and the reports compared must count the same late packets.
    func options() throws -> AnalysisOptions {
        var options = try self.truth.options()
        options.judgesAfterLinger = true
        return options
    }

    /// The report of the offline run, with the whole key log up front.
    func upFront() throws -> String {
        Self.json(try analyse(self.path, options: try self.options()))
    }

    /// The report with a key log that never has the secrets (`waitForKeys` as given).
    func withoutKeys(waitForKeys: Bool) throws -> String {
        var options = try self.options()
        options.decryption = TLSConnection.Decryption(keyLog: KeyLog(), crypto: OpenSSLCrypto(), waitForKeys: waitForKeys)
        return Self.json(try analyse(self.path, options: options))
    }

    func live(updates: [FrameNumber: KeyLog] = [:], atEnd: KeyLog? = nil) throws -> String {
        var options = try self.options()
        options.decryption = TLSConnection.Decryption(keyLog: KeyLog(), crypto: OpenSSLCrypto(), waitForKeys: true)
        let reader = try PcapReader(path: self.path)
        var engine = Engine(linkType: reader.linkType, options: options)
        try reader.forEachFrame { frame in
            if let keyLog = updates[frame.number] { engine.updateKeyLog(keyLog) }
            engine.process(frame)
        }
        if let atEnd { engine.updateKeyLog(atEnd) }
        return Self.json(engine.finish())
    }

    var frameCount: FrameNumber {
        get throws {
            let reader = try PcapReader(path: self.path)
            try reader.forEachFrame { _ in }
            return FrameNumber(reader.framesRead)
        }
    }

    static func json(_ result: AnalysisResult) -> String {
        JSONReport.document(result, source: SourceInfo(path: "capture", snapLength: 262_144)).serialized(pretty: true)
    }
}

@Suite struct LiveKeyLogEngineTests {
    @Test func everyKeyLogCaptureIsHere() {
        #expect(keyLogTruthFiles().count >= 4)
    }

    /// The captures' key logs matter: the report with them is not the report without them.
    @Test(arguments: keyLogTruthFiles())
    func keysMakeADifference(truthFile: String) throws {
        let replay = try LiveReplay(truthFile)
        #expect(try replay.upFront() != replay.withoutKeys(waitForKeys: false))
    }

    @Test(arguments: keyLogTruthFiles())
    func keysAfterTheLastFrameGiveTheKeysUpFrontReport(truthFile: String) throws {
        let replay = try LiveReplay(truthFile)
        #expect(try replay.live(atEnd: replay.keyLog) == replay.upFront())
    }

    /// The gateway logs the secrets once it has the ServerHello; they may reach the engine
    /// anywhere after that frame, or before it.
    @Test(arguments: keyLogTruthFiles())
    func keysBeforeEachFrameGiveTheKeysUpFrontReport(truthFile: String) throws {
        let replay = try LiveReplay(truthFile)
        let expected = try replay.upFront()
        let frames = try replay.frameCount
        #expect(frames > 6)
        for frame in 1...frames {
            #expect(try replay.live(updates: [frame: replay.keyLog]) == expected, "keys before frame \(frame)")
        }
    }

    /// A refresh may catch the key log half written: one more line before each frame after the
    /// ServerHello's.
    @Test(arguments: keyLogTruthFiles())
    func keyLogLinesArrivingOneByOneGiveTheKeysUpFrontReport(truthFile: String) throws {
        let replay = try LiveReplay(truthFile)
        let serverHello = try #require(try String(contentsOfFile: Paths.captures + "/" + truthFile, encoding: .utf8)
            .firstMatch(of: /"server_hello_frame": (\d+)/).flatMap { FrameNumber($0.1) })
        var updates: [FrameNumber: KeyLog] = [:]
        for count in 1...replay.keyLogLines.count {
            updates[serverHello + FrameNumber(count)] = try replay.keyLog(lines: count)
        }
        #expect(try replay.live(updates: updates, atEnd: replay.keyLog) == replay.upFront())
    }

    @Test(arguments: keyLogTruthFiles())
    func keysThatNeverComeLeaveTheReportAsWithoutThem(truthFile: String) throws {
        let replay = try LiveReplay(truthFile)
        #expect(try replay.live() == replay.withoutKeys(waitForKeys: false))
    }

    /// Found by FuzzTLS: with a key log that lacks CLIENT_EARLY_TRAFFIC_SECRET, a live capture
    /// held the 0-RTT records and then "opened" them with the session's keys, where reading the
    /// file reads them as unreadable; both must read them as unreadable, the same report.
    @Test(arguments: [false, true])
    func earlyDataWithoutItsSecretReadsTheSameLateAsUpFront(anyKeyOpens: Bool) throws {
        let replay = try LiveReplay("no-gateway/tls-early-data-1.3-keylog.truth.json")
        let lines = replay.keyLogLines.filter { !$0.hasPrefix("CLIENT_EARLY_TRAFFIC_SECRET") }
        #expect(lines.count < replay.keyLogLines.count)
        let keyLog = try KeyLog(parsing: lines.joined(separator: "\n"))
        // OpenSSL refuses a record sealed under other keys; a crypto that opens anything (as
        // FuzzTLS's does) shows whether the early records were tried with the session's keys.
        let crypto: any TLSCryptoProviding = anyKeyOpens ? AnyKeyOpens() : OpenSSLCrypto()
        var options = try replay.options()
        options.decryption = TLSConnection.Decryption(keyLog: keyLog, crypto: crypto)
        let upFront = LiveReplay.json(try analyse(replay.path, options: options))
        #expect(upFront.contains("tls.early_data.unreadable"))
        options.decryption = TLSConnection.Decryption(keyLog: KeyLog(), crypto: crypto, waitForKeys: true)
        let reader = try PcapReader(path: replay.path)
        var engine = Engine(linkType: reader.linkType, options: options)
        try reader.forEachFrame { engine.process($0) }
        engine.updateKeyLog(keyLog)
        #expect(LiveReplay.json(engine.finish()) == upFront)
    }
}

/// OpenSSL's key derivation, and an AEAD that opens any record by dropping its tag.
private struct AnyKeyOpens: TLSCryptoProviding {
    let real = OpenSSLCrypto()
    func hkdfExpandLabel(secret: [UInt8], label: String, context: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        self.real.hkdfExpandLabel(secret: secret, label: label, context: context, length: length, hash: hash)
    }
    func prf(secret: [UInt8], label: String, seed: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        self.real.prf(secret: secret, label: label, seed: seed, length: length, hash: hash)
    }
    func open(_ cipher: AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        sealed.count >= 16 ? Array(sealed.dropLast(16)) : nil
    }
}
