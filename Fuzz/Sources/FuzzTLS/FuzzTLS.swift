// The TLS record and handshake parser (TLSConnection), with decryption.
//
// Input: [seed: 8][mode: 1][client length: 2][client bytes][server bytes].
// mode bits 0-4 pick which secrets the key log holds for the client random 11 11 .. 11 (seeds
// made by Fuzz/make-corpus.py carry that random); bit 5 turns on waiting for keys (a live
// capture) with the key log arriving at a seed-chosen point; bit 6 puts a gap in the server
// stream. The "cryptography" is a stand-in whose AEAD strips the 16-byte tag (and refuses a tag
// starting ee), so the fuzzer reaches decrypted handshakes, alerts and the HTTP inside.
//
// Invariants: frames whole and frames cut into pieces give the same state and decrypted data
// (split test); every location names the frame and frame offset of its first byte; a
// connection waiting for keys holds at most the hold limit, and when the keys come before the
// limit it ends where a connection that had them from the start ends.
import CaptureModel
import FuzzSupport
import HTTP1
import TLSRecords

struct StandInCrypto: TLSCryptoProviding {
    func hkdfExpandLabel(secret: [UInt8], label: String, context: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ secret.count &+ label.utf8.count) }
    }
    func prf(secret: [UInt8], label: String, seed: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed.count) }
    }
    func open(_ cipher: AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 16, sealed[sealed.count - 16] != 0xee else { return nil }
        return Array(sealed.dropLast(16))
    }
}

let clientRandom = String(repeating: "11", count: 32)

func keyLog(mode: UInt8) -> KeyLog {
    let labels = ["CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                  "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"]
    var text = ""
    for (bit, label) in labels.enumerated() where mode & (1 << bit) != 0 {
        let length = label == "CLIENT_RANDOM" ? 48 : 32
        text += "\(label) \(clientRandom) \(String(repeating: String(format2(bit)), count: length))\n"
    }
    return try! KeyLog(parsing: text)
}

func format2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

struct Run {
    var tls: TLSConnection
    var decrypted: [String] = []
    var inner = HTTP1Connection()

    init(decryption: TLSConnection.Decryption) {
        self.tls = TLSConnection(decryption: decryption)
    }

    mutating func feed(
        _ pieces: [Piece], streams: [Direction: [UInt8]], gapAt: Int?, keysAt: Int?, keyLog: KeyLog, holdLimit: Int
    ) {
        var gapDone = gapAt == nil
        for (index, piece) in pieces.enumerated() {
            if index == keysAt { self.tls.keysUpdated(keyLog) }
            var offset = UInt64(piece.start)
            if piece.direction == .server, let gapAt {
                if !gapDone, piece.start >= gapAt {
                    self.tls.gap(length: 100, direction: .server)
                    gapDone = true
                }
                if piece.start >= gapAt { offset += 100 }
            }
            streams[piece.direction]![piece.start..<piece.end].withUnsafeBytes { raw in
                self.tls.feed(raw, direction: piece.direction, at: offset, frame: piece.frame, frameOffset: piece.frameOffset, time: piece.time)
            }
            require(self.tls.heldRecordBytes <= holdLimit, "holding \(self.tls.heldRecordBytes) bytes for keys, over the \(holdLimit) limit")
            self.take()
        }
        if let keysAt, keysAt >= pieces.count { self.tls.keysUpdated(keyLog) }
        self.take()
    }

    mutating func take() {
        for item in self.tls.takeDecrypted() {
            self.decrypted.append("\(item.direction.name) @\(item.offset) \(item.location) \(item.bytes)")
            item.bytes.withUnsafeBytes { raw in
                self.inner.feed(raw, direction: item.direction, at: item.offset, frame: item.location.frame, frameOffset: nil, time: item.location.time)
            }
        }
    }

    var summary: [String] {
        let t = self.tls
        var lines = [
            "ch=\(String(describing: t.clientHello))", "sh=\(String(describing: t.serverHello))", "hrr=\(String(describing: t.helloRetry))",
            "certs=\(t.certificates) at \(String(describing: t.certificateLocation)) req=\(String(describing: t.certificateRequest))",
            "alerts=\(t.alerts)", "encAlerts=\(t.encryptedAlerts.map { "\($0.direction.name) \($0.location)" })",
            "enc=\(t.encryptedRecords) firstClientEnc=\(String(describing: t.firstClientEncrypted))",
            "app=\(t.clientApplicationRecords)/\(t.serverApplicationRecords) notTLS=\(String(describing: t.serverNotTLS))",
            "ccs=\(String(describing: t.changeCipherSpec)) done=\(String(describing: t.handshakeDone))",
            "endAlerts=\(String(describing: t.firstAlertAfterHandshake))",
            "keys=\(t.keysFound) failures=\(t.decryptionFailures) decrypted=\(t.decryptedRecords) bytes=\(t.decryptedBytes)",
            "pastHold=\(t.recordsPastHoldLimit) waiting=\(t.waitingForKeys)",
        ]
        lines += self.decrypted
        lines += self.inner.findings.map(describe)
        return lines
    }

    /// Every place the connection points at.
    var locations: [(Direction, TLSLocation)] {
        let t = self.tls
        var all: [(Direction, TLSLocation)] = []
        if let hello = t.clientHello { all.append((.client, hello.location)) }
        for hello in [t.serverHello, t.helloRetry].compactMap({ $0 }) { all.append((.server, hello.location)) }
        if let location = t.certificateLocation { all.append((.server, location)) }
        if let location = t.certificateRequest { all.append((.server, location)) }
        all += t.alerts.map { ($0.direction, $0.location) }
        all += t.encryptedAlerts.map { ($0.direction, $0.location) }
        if let first = t.firstClientEncrypted { all.append((.client, first.location)) }
        if let notTLS = t.serverNotTLS { all.append((.server, notTLS.location)) }
        if let location = t.changeCipherSpec.client { all.append((.client, location)) }
        if let location = t.changeCipherSpec.server { all.append((.server, location)) }
        if let location = t.firstAlertAfterHandshake.client { all.append((.client, location)) }
        if let location = t.firstAlertAfterHandshake.server { all.append((.server, location)) }
        return all
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    var random = SplitMix(seed: input.u64())
    let mode = input.u8()
    let clientLength = Int(input.u16())
    let client = input.take(clientLength)
    let server = input.rest()
    let streams: [Direction: [UInt8]] = [.client: client, .server: server]
    let plan = SplitPlan(clientCount: client.count, serverCount: server.count, random: &random, maximumFrame: 4000)
    let gapAt: Int? = mode & 0x40 != 0 ? plan.serverFrameBoundary(&random, serverCount: server.count) : nil
    let keys = keyLog(mode: mode)
    let holdLimit = 2048
    let waits = mode & 0x20 != 0
    let keysAt = waits ? random.below(plan.frames.count + 1) : nil

    func run(_ pieces: [Piece], waiting: Bool) -> Run {
        var run = Run(decryption: TLSConnection.Decryption(
            keyLog: waiting ? KeyLog() : keys, crypto: StandInCrypto(), waitForKeys: waiting, holdLimit: holdLimit))
        // Keys come before the same frame in both runs: index pieces by the frame they start.
        let keysAtPiece = keysAt.map { frameIndex in
            frameIndex >= plan.frames.count ? pieces.count : pieces.firstIndex { $0.frame == plan.frames[frameIndex].frame }!
        }
        run.feed(pieces, streams: streams, gapAt: gapAt, keysAt: waiting ? keysAtPiece : nil, keyLog: keys, holdLimit: holdLimit)
        return run
    }

    let whole = run(plan.frames, waiting: waits)
    let split = run(plan.pieces, waiting: waits)
    require(whole.summary == split.summary, "split test: frames whole gave\n\(whole.summary.joined(separator: "\n"))\ncut into pieces gave\n\(split.summary.joined(separator: "\n"))")

    if waits, whole.tls.recordsPastHoldLimit == 0, !whole.tls.waitingForKeys, !whole.tls.gaveUpWaitingForKeys {
        // The keys came in time (found by this target: a second ServerHello can pass the hold
        // limit with no record after it, and the records held until then are read without keys
        // for good): the live reading must end where reading the file with the whole key log ends.
        let direct = run(plan.frames, waiting: false)
        require(direct.decrypted == whole.decrypted, "keys late vs keys from the start: decrypted\n\(direct.decrypted)\nvs\n\(whole.decrypted)")
    }

    for (direction, location) in whole.locations {
        let stream = streams[direction]!
        var offset = Int(location.offset)
        if direction == .server, let gapAt, offset >= gapAt { offset -= 100 }
        require(offset <= stream.count, "location past the bytes fed: \(direction.name) \(location)")
        if offset < stream.count, let frameOffset = location.frameOffset {
            let carrying = plan.frame(of: direction, containing: offset)
            require(carrying?.frame == location.frame, "location names frame \(location.frame), byte \(offset) is in \(String(describing: carrying))")
            if let carrying {
                require(frameOffset == Piece.payloadOffset + offset - carrying.frameStart, "location frame offset \(frameOffset) wrong for \(carrying): \(location)")
            }
        }
    }
    return 0
}
