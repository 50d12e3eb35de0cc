import CaptureModel

/// One direction's record layer: records of any size split over segments, handshake messages
/// split over records. Handshake, alert and ChangeCipherSpec bodies are copied (they are small);
/// encrypted application data is counted and skipped by length.
struct RecordLayer {
    let direction: Direction
    /// The 5-byte header being collected.
    private var header: [UInt8] = []
    private var headerLocation: TLSLocation?
    /// Bytes of the current record still to come.
    private var remaining = 0
    private var contentType: UInt8 = 0
    private var recordLength = 0
    private var body: [UInt8] = []
    /// Whether the current record's body is kept.
    private var keeping = false
    /// Handshake bytes waiting for a whole message.
    private var handshake: [UInt8] = []
    private var handshakeLocation: TLSLocation?
    /// Where the kept body's bytes came from: each run of bytes taken from one frame, by its
    /// index in `body`. A handshake message's first byte is found through them.
    private var bodyRuns: [(index: Int, location: TLSLocation)] = []
    /// The same for `handshake`, by index in it.
    private var handshakeRuns: [(index: Int, location: TLSLocation)] = []
    /// The stream stopped being TLS records (or never was).
    private(set) var broken = false
    /// The first bytes of the stream, when they were not a TLS record.
    private(set) var firstBytes: [UInt8] = []

    init(direction: Direction) {
        self.direction = direction
    }

    enum Event {
        /// A handshake message; `location` is its record's, `message` where its 4-byte header starts.
        case handshake(type: UInt8, body: [UInt8], location: TLSLocation, message: TLSLocation)
        case alert(level: UInt8, description: UInt8, record: [UInt8], location: TLSLocation)
        case encryptedAlert(length: Int, location: TLSLocation)
        case changeCipherSpec(location: TLSLocation)
        case applicationData(length: Int, location: TLSLocation)
        case encryptedHandshake(length: Int, location: TLSLocation)
        case notTLS(location: TLSLocation)
        /// A protected record kept whole for decryption: its 5-byte header and its body.
        case protected(header: [UInt8], body: [UInt8], location: TLSLocation)
    }

    /// Whether protected records are kept whole (a key log may decrypt them).
    var keepProtected = false

    /// Whether records of this direction are now encrypted (after its ChangeCipherSpec in TLS
    /// 1.2, after the ServerHello in TLS 1.3).
    var encrypted = false

    /// The largest record a peer may send (RFC 8446 §5.2: 2^14 + 256 of ciphertext).
    static let maximumRecordLength = (1 << 14) + 256

    /// Consumes bytes from `start` until one record completes (returning its events) or the
    /// bytes run out. Returns the index to continue from. Events are returned one record at a
    /// time so the caller can change `encrypted` before the next record is read.
    mutating func next(
        _ bytes: UnsafeRawBufferPointer, from start: Int, offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp, events: inout [Event]
    ) -> Int {
        var index = start
        while index < bytes.count, !self.broken {
            if self.remaining == 0 {
                if self.header.isEmpty {
                    self.headerLocation = TLSLocation(
                        offset: offset &+ UInt64(index), frame: frame, frameOffset: frameOffset.map { $0 + index }, time: time)
                }
                let take = min(5 - self.header.count, bytes.count - index)
                self.header.append(contentsOf: bytes[index..<(index + take)])
                index += take
                if self.header.count < 5 { continue }
                let type = self.header[0]
                let length = Int(self.header[3]) << 8 | Int(self.header[4])
                // RFC 8446 §5.1: types 20-23; the legacy version's major byte is always 3.
                guard (20...23).contains(type), self.header[1] == 3, length <= Self.maximumRecordLength, length > 0 else {
                    self.broken = true
                    self.firstBytes = self.header
                    events.append(.notTLS(location: self.headerLocation!))
                    return bytes.count
                }
                self.contentType = type
                self.recordLength = length
                self.remaining = length
                self.keeping = self.keepProtected || (type != 23 && !(self.encrypted && type == 22))
                self.body.removeAll(keepingCapacity: true)
                self.bodyRuns.removeAll(keepingCapacity: true)
                continue
            }
            let take = min(self.remaining, bytes.count - index)
            if self.keeping {
                self.bodyRuns.append((self.body.count, TLSLocation(
                    offset: offset &+ UInt64(index), frame: frame, frameOffset: frameOffset.map { $0 + index }, time: time)))
                self.body.append(contentsOf: bytes[index..<(index + take)])
            }
            index += take
            self.remaining -= take
            if self.remaining == 0 {
                self.recordComplete { events.append($0) }
                self.header.removeAll(keepingCapacity: true)
                return index
            }
        }
        return bytes.count
    }

    /// A gap of `length` bytes: inside a skipped record it is harmless; elsewhere framing is lost.
    mutating func gap(length: Int) {
        if self.remaining >= length, !self.keeping, self.header.isEmpty == false {
            self.remaining -= length
            if self.remaining == 0 { self.header.removeAll(keepingCapacity: true) }
            return
        }
        self.broken = true
    }

    /// Where byte `index` of `handshake` is in the stream and the capture.
    private func handshakeRunLocation(at index: Int) -> TLSLocation? {
        guard let run = self.handshakeRuns.last(where: { $0.index <= index }) else { return nil }
        let delta = index - run.index
        var location = run.location
        location.offset &+= UInt64(delta)
        location.frameOffset = location.frameOffset.map { $0 + delta }
        return location
    }

    /// `count` bytes left the front of `handshake`: the runs move with them.
    private mutating func consumeHandshakeRuns(_ count: Int) {
        // The run holding the new first byte starts there; runs wholly before it go.
        if let first = self.handshakeRunLocation(at: count) {
            self.handshakeRuns.removeAll { $0.index <= count }
            self.handshakeRuns = [(0, first)] + self.handshakeRuns.map { ($0.index - count, $0.location) }
        } else {
            self.handshakeRuns.removeAll(keepingCapacity: true)
        }
    }

    private mutating func recordComplete(emit: (Event) -> Void) {
        let location = self.headerLocation!
        if self.keepProtected, self.contentType == 23 || (self.encrypted && (self.contentType == 22 || self.contentType == 21)) {
            emit(.protected(header: self.header, body: self.body, location: location))
            return
        }
        switch self.contentType {
        case 21:
            if self.encrypted || self.body.count != 2 {
                emit(.encryptedAlert(length: self.recordLength, location: location))
            } else {
                emit(.alert(level: self.body[0], description: self.body[1], record: self.header + self.body, location: location))
            }
        case 20:
            emit(.changeCipherSpec(location: location))
        case 23:
            emit(.applicationData(length: self.recordLength, location: location))
        case 22:
            if self.encrypted {
                emit(.encryptedHandshake(length: self.recordLength, location: location))
                return
            }
            if self.handshake.isEmpty {
                self.handshakeLocation = location
                self.handshakeRuns.removeAll(keepingCapacity: true)
            }
            let base = self.handshake.count
            self.handshakeRuns += self.bodyRuns.map { (base + $0.index, $0.location) }
            self.handshake.append(contentsOf: self.body)
            // RFC 8446 §5.1: handshake messages may be split over records, or share one.
            while self.handshake.count >= 4 {
                let length = Int(self.handshake[1]) << 16 | Int(self.handshake[2]) << 8 | Int(self.handshake[3])
                guard self.handshake.count >= 4 + length else { break }
                let type = self.handshake[0]
                let body = Array(self.handshake[4..<(4 + length)])
                self.handshake.removeFirst(4 + length)
                let message = self.handshakeRunLocation(at: 0) ?? self.handshakeLocation ?? location
                self.consumeHandshakeRuns(4 + length)
                emit(.handshake(type: type, body: body, location: self.handshakeLocation ?? location, message: message))
                self.handshakeLocation = location
            }
            if self.handshake.count > 1 << 20 { self.broken = true }
        default:
            break
        }
    }
}

/// Both directions of a TLS connection on the upstream hop, as far as they can be read without
/// keys: the hellos, the TLS 1.2 certificate chain, alerts in the clear, and the shape of the
/// encrypted rest.
public struct TLSConnection {
    var client = RecordLayer(direction: .client)
    var server = RecordLayer(direction: .server)

    /// The gateway's ClientHello.
    public private(set) var clientHello: ClientHello?
    /// The upstream's ServerHello (a HelloRetryRequest is kept in `helloRetry`).
    public private(set) var serverHello: ServerHello?
    /// A HelloRetryRequest, if the upstream sent one.
    public private(set) var helloRetry: ServerHello?
    /// The chain as sent (TLS 1.2 and earlier), leaf first, with where its message started.
    public private(set) var certificates: [[UInt8]] = []
    /// Where the record holding the Certificate message started.
    public private(set) var certificateLocation: TLSLocation?
    /// The bytes that carry the Certificate message: in the clear (TLS 1.2), the message itself,
    /// its 4-byte header and its body; decrypted (TLS 1.3), the protected record it came in.
    public private(set) var certificateMessage: TLSSpan?
    /// The ClientHello message (its 4-byte header and body), kept only when it has no
    /// server_name: the evidence of `tls.sni.missing`.
    public private(set) var clientHelloWithoutSNI: TLSSpan?
    /// Where the upstream's CertificateRequest was, when it asked for a client certificate.
    public private(set) var certificateRequest: TLSLocation?
    /// TLS 1.3: the upstream's EncryptedExtensions, read with the key log: where it was, and the
    /// ALPN protocol it selected (RFC 8446 §4.3.1, RFC 7301 §3.1), `nil` when none.
    public private(set) var encryptedExtensions: (location: TLSLocation, alpn: String?)?
    /// Alerts read in the clear, in order.
    public private(set) var alerts: [TLSAlert] = []
    /// Encrypted alerts (TLS 1.2 after ChangeCipherSpec), by direction.
    public private(set) var encryptedAlerts: [(direction: Direction, location: TLSLocation)] = []
    /// Encrypted records (application data, and TLS 1.3's encrypted handshake), each way.
    public private(set) var encryptedRecords: (client: Int, server: Int) = (0, 0)
    /// The first encrypted record each side sent after the handshake, with its size.
    public private(set) var firstClientEncrypted: (length: Int, location: TLSLocation)?
    /// Client application records after its handshake finished: the gateway sent a request.
    public private(set) var clientApplicationRecords = 0
    /// Server application records after its handshake finished.
    public private(set) var serverApplicationRecords = 0
    /// TLS 1.3 early data (0-RTT, RFC 8446 §4.2.10): the client's protected records between a
    /// ClientHello offering it and the ServerHello.
    public private(set) var earlyData = EarlyData()
    /// Early data records kept until the ServerHello names the cipher suite that opens them.
    private var heldEarly: [(header: [UInt8], body: [UInt8], location: TLSLocation)] = []
    private var heldEarlyBytes = 0
    /// Early data records not kept (no early secret): unreadable if the session's keys come.
    private var unheldEarly: [(length: UInt64, location: TLSLocation)] = []
    /// Early data the session's keys could not open, as gaps in the decrypted client stream
    /// (`takeUnreadable()`): its plaintext length, estimated from the record's.
    private var unreadable: [(length: UInt64, location: TLSLocation)] = []
    /// The most early data held before the ServerHello (RFC 8446 lets a server take at most
    /// its max_early_data_size, 16 KiB in OpenSSL and nginx).
    static let earlyDataHoldLimit = 256 << 10
    /// Where the upstream's first bytes showed it does not speak TLS.
    public private(set) var serverNotTLS: (location: TLSLocation, bytes: [UInt8])?
    /// ChangeCipherSpec seen, each way.
    public private(set) var changeCipherSpec: (client: TLSLocation?, server: TLSLocation?) = (nil, nil)
    /// Encrypted handshake records each way (TLS 1.2 Finished, TLS 1.3 server flight).
    private var encryptedHandshakeRecords: (client: Int, server: Int) = (0, 0)
    /// When the handshake was seen to finish.
    public private(set) var handshakeDone: TLSLocation?
    /// The first alert each side sent after the handshake (close_notify, or any alert): read in
    /// the clear, decrypted, an encrypted TLS 1.2 alert, or a TLS 1.3 record of exactly an
    /// alert's size (2 bytes, the inner type and a 16-byte tag: 19) when there are no keys.
    public private(set) var firstAlertAfterHandshake: (client: TLSLocation?, server: TLSLocation?) = (nil, nil)

    /// The ciphertext length of a TLS 1.3 alert record under an AEAD with a 16-byte tag.
    static let tls13AlertRecordLength = 2 + 1 + 16

    private mutating func noteEnding(_ direction: Direction, _ location: TLSLocation) {
        guard self.handshakeDone != nil else { return }
        switch direction {
        case .client: if self.firstAlertAfterHandshake.client == nil { self.firstAlertAfterHandshake.client = location }
        case .server: if self.firstAlertAfterHandshake.server == nil { self.firstAlertAfterHandshake.server = location }
        }
    }

    /// How to decrypt: a key log and the cryptography to use it.
    public struct Decryption: Sendable {
        public var keyLog: KeyLog
        public var crypto: any TLSCryptoProviding
        /// Whether a session whose secrets are not all in the key log at its ServerHello waits
        /// for them: a live capture, where the gateway logs its secrets only once it has read
        /// that ServerHello. Its records are held, up to `holdLimit` bytes, until
        /// `keysUpdated(_:)` brings the secrets, then read as if they had been there from the start.
        public var waitForKeys: Bool
        /// The most a connection waiting for keys holds, in bytes of records.
        public var holdLimit: Int

        /// Decryption from its parts; by default a session's secrets are looked up once, at its
        /// ServerHello (a capture file read with its key log).
        public init(keyLog: KeyLog, crypto: any TLSCryptoProviding, waitForKeys: Bool = false, holdLimit: Int = 256 << 10) {
            self.keyLog = keyLog
            self.crypto = crypto
            self.waitForKeys = waitForKeys
            self.holdLimit = holdLimit
        }
    }

    var decryption: Decryption?
    var session: SessionDecryptor?
    private var decryptedHandshake: (client: [UInt8], server: [UInt8]) = ([], [])
    /// Whether the key log held this session's secrets.
    public internal(set) var keysFound = false
    /// Records that did not authenticate with the key log's secrets, or that waited for them
    /// in vain (`recordsPastHoldLimit`).
    public internal(set) var decryptionFailures = 0
    /// Records decrypted.
    public private(set) var decryptedRecords = 0
    /// Decrypted application data not yet taken by `takeDecrypted()`.
    private var decrypted: [(direction: Direction, bytes: [UInt8], location: TLSLocation)] = []
    /// Decrypted application bytes delivered so far, each way (the decrypted streams' offsets).
    public private(set) var decryptedBytes: (client: UInt64, server: UInt64) = (0, 0)
    /// Waiting for keys (`Decryption.waitForKeys`): what is held until they come.
    var keyWait = KeyWaitState.notWaiting
    /// Encrypted records that came after a connection waiting for keys reached its hold limit:
    /// they were read as without keys and count in `decryptionFailures`.
    public internal(set) var recordsPastHoldLimit = 0

    /// Nothing seen yet; with `decryption`, records of sessions in the key log are decrypted.
    public init(decryption: Decryption? = nil) {
        self.decryption = decryption
    }

    /// Decrypted application data since the last call, in order, with the decrypted stream
    /// offset of its first byte and the record it came from. Nothing while waiting for keys:
    /// records are read again as secrets come, and the data comes out once, in record order,
    /// when the session has them all.
    public mutating func takeDecrypted() -> [(direction: Direction, bytes: [UInt8], offset: UInt64, location: TLSLocation)] {
        if self.waitingForKeys { return [] }
        var out: [(direction: Direction, bytes: [UInt8], offset: UInt64, location: TLSLocation)] = []
        for item in self.decrypted {
            switch item.direction {
            case .client:
                out.append((item.direction, item.bytes, self.decryptedBytes.client, item.location))
                self.decryptedBytes.client &+= UInt64(item.bytes.count)
            case .server:
                out.append((item.direction, item.bytes, self.decryptedBytes.server, item.location))
                self.decryptedBytes.server &+= UInt64(item.bytes.count)
            }
        }
        self.decrypted.removeAll(keepingCapacity: true)
        return out
    }

    /// The version in use: the ServerHello's choice.
    public var version: UInt16? { self.serverHello?.version }
    /// Whether the handshake finished, as far as the record shapes show.
    public var handshakeComplete: Bool { self.handshakeDone != nil }

    /// Early data the key log could not open since the last call, as gaps in the decrypted
    /// client stream (their plaintext length estimated as the record's less the AEAD tag and
    /// inner type): take them before `takeDecrypted()`, which they precede.
    public mutating func takeUnreadable() -> [(direction: Direction, range: Range<UInt64>, location: TLSLocation)] {
        if self.waitingForKeys || self.unreadable.isEmpty { return [] }
        var out: [(direction: Direction, range: Range<UInt64>, location: TLSLocation)] = []
        for item in self.unreadable {
            let start = self.decryptedBytes.client
            self.decryptedBytes.client &+= item.length
            out.append((.client, start..<self.decryptedBytes.client, item.location))
        }
        self.unreadable.removeAll()
        return out
    }

    /// Feeds in-order bytes of one direction.
    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        var index = 0
        var events: [RecordLayer.Event] = []
        while index < bytes.count {
            events.removeAll(keepingCapacity: true)
            switch direction {
            case .client:
                index = self.client.next(bytes, from: index, offset: offset, frame: frame, frameOffset: frameOffset, time: time, events: &events)
            case .server:
                index = self.server.next(bytes, from: index, offset: offset, frame: frame, frameOffset: frameOffset, time: time, events: &events)
            }
            for event in events {
                self.holdForKeys(event, direction: direction)
                self.handle(event, direction: direction)
            }
        }
    }

    /// Bytes of one direction missing from the capture.
    public mutating func gap(length: UInt64, direction: Direction) {
        switch direction {
        case .client: self.client.gap(length: Int(clamping: length))
        case .server: self.server.gap(length: Int(clamping: length))
        }
    }

    mutating func handle(_ event: RecordLayer.Event, direction: Direction) {
        switch event {
        case .handshake(let type, let body, let location, let message):
            switch (direction, type) {
            case (.client, 1):
                if self.clientHello == nil {
                    self.clientHello = HandshakeParser.clientHello(body, location: location)
                    if let hello = self.clientHello, hello.serverName == nil {
                        self.clientHelloWithoutSNI = TLSSpan(
                            location: message, length: UInt64(4 + body.count),
                            firstBytes: [1, UInt8(truncatingIfNeeded: body.count >> 16), UInt8(truncatingIfNeeded: body.count >> 8),
                                         UInt8(truncatingIfNeeded: body.count)] + body.prefix(TLSSpan.firstBytesLimit - 4),
                            encrypted: false)
                    }
                    // 0-RTT records follow at once, before the ServerHello: keep them whole if
                    // the key log can open them, or may by the time it is read again (live).
                    if let hello = self.clientHello, hello.offersEarlyData, let decryption = self.decryption,
                       decryption.waitForKeys || decryption.keyLog.secrets(clientRandom: hello.random)?.clientEarlyTraffic != nil {
                        self.client.keepProtected = true
                    }
                }
            case (.server, 2):
                guard let hello = HandshakeParser.serverHello(body, location: location) else { return }
                if hello.isHelloRetryRequest {
                    self.helloRetry = hello
                } else if self.serverHello == nil {
                    self.serverHello = hello
                    self.startDecryption(hello)
                    // RFC 8446 §5: everything after the ServerHello is encrypted in TLS 1.3.
                    if hello.version == 0x0304 {
                        self.server.encrypted = true
                    }
                    self.earlyDataCipherKnown()
                }
            case (.server, 11):
                if self.certificates.isEmpty, let chain = HandshakeParser.certificates(body) {
                    self.certificates = chain
                    self.certificateLocation = location
                    self.certificateMessage = TLSSpan(
                        location: message, length: UInt64(4 + body.count),
                        firstBytes: [11, UInt8(truncatingIfNeeded: body.count >> 16), UInt8(truncatingIfNeeded: body.count >> 8),
                                     UInt8(truncatingIfNeeded: body.count)] + body.prefix(TLSSpan.firstBytesLimit - 4),
                        encrypted: false)
                }
            case (.server, 13):
                self.certificateRequest = location
            default:
                break
            }
        case .alert(let level, let description, let record, let location):
            self.alerts.append(TLSAlert(direction: direction, level: level, description: description, location: location, bytes: record))
        case .encryptedAlert(_, let location):
            self.encryptedAlerts.append((direction, location))
            self.noteEnding(direction, location)
        case .changeCipherSpec(let location):
            switch direction {
            case .client:
                self.changeCipherSpec.client = location
                // TLS 1.2: the client's records are encrypted after its ChangeCipherSpec; in 1.3
                // the CCS is only for middlebox compatibility and the client encrypts anyway.
                self.client.encrypted = true
            case .server:
                self.changeCipherSpec.server = location
                self.server.encrypted = true
            }
        case .encryptedHandshake(let length, let location):
            self.countEncrypted(direction, length: length, location: location, handshake: true)
        case .applicationData(let length, let location):
            if self.isEarlyData(direction) {
                self.earlyData.note(length: length, location: location)
                self.unheldEarly.append((UInt64(max(0, length - 17)), location))
            }
            self.countEncrypted(direction, length: length, location: location, handshake: false)
        case .notTLS(let location):
            if direction == .server, self.serverNotTLS == nil {
                self.serverNotTLS = (location, self.server.firstBytes)
            }
        case .protected(let header, let body, let location):
            if header[0] == 23, self.isEarlyData(direction) {
                self.earlyData.note(length: body.count, location: location)
                if self.heldEarlyBytes + body.count <= Self.earlyDataHoldLimit {
                    self.heldEarly.append((header, body, location))
                    self.heldEarlyBytes += body.count
                    return
                }
                self.unheldEarly.append((UInt64(max(0, body.count - 17)), location))
                self.countEncrypted(direction, length: body.count, location: location, handshake: false)
                return
            }
            if self.session != nil {
                self.protectedRecord(direction, header: header, body: body, location: location)
            } else {
                // Kept while waiting for keys that are not there yet: read as a record not kept.
                switch header[0] {
                case 21: self.handle(.encryptedAlert(length: body.count, location: location), direction: direction)
                case 22: self.handle(.encryptedHandshake(length: body.count, location: location), direction: direction)
                default: self.handle(.applicationData(length: body.count, location: location), direction: direction)
                }
            }
        }
    }

    /// Whether a record of `direction` is early data: the client's, after a ClientHello that
    /// offered it, before any ServerHello.
    private func isEarlyData(_ direction: Direction) -> Bool {
        direction == .client && self.serverHello == nil && self.clientHello?.offersEarlyData == true
    }

    /// The ServerHello names the cipher suite: the early data held for it is opened now, with
    /// the early secret if the key log has it; otherwise it is read as without keys.
    mutating func earlyDataCipherKnown() {
        let held = self.heldEarly
        self.heldEarly = []
        self.heldEarlyBytes = 0
        if self.session != nil { self.unreadable += self.unheldEarly }
        self.unheldEarly = []
        var earlyKeys = false
        if self.session != nil, let hello = self.clientHello, let secret = self.decryption?.keyLog.secrets(clientRandom: hello.random)?.clientEarlyTraffic {
            self.session!.startEarlyData(secret)
            earlyKeys = true
        }
        for record in held {
            if self.session != nil, !earlyKeys {
                // No early secret: the record cannot be opened (the session's keys are not its).
                // Read as a file with the same key log reads it, held or not.
                self.countEncrypted(.client, length: record.body.count, location: record.location, handshake: false)
                self.unreadable.append((UInt64(max(0, record.body.count - 17)), record.location))
            } else if self.session != nil {
                let opened = self.session!.earlyRecordsOpened
                self.protectedRecord(.client, header: record.header, body: record.body, location: record.location)
                if self.session!.earlyRecordsOpened > opened {
                    self.earlyData.decryptedRecords += 1
                } else {
                    self.unreadable.append((UInt64(max(0, record.body.count - 17)), record.location))
                }
            } else {
                self.countEncrypted(.client, length: record.body.count, location: record.location, handshake: false)
            }
        }
    }

    private mutating func startDecryption(_ hello: ServerHello) {
        guard let decryption = self.decryption, let clientHello = self.clientHello else { return }
        let secrets = decryption.keyLog.secrets(clientRandom: clientHello.random)
        if decryption.waitForKeys, !SessionDecryptor.hasEverySecret(secrets, version: hello.version),
           SuiteParameters(hello.cipherSuite) != nil {
            self.startWaiting(secrets)
        }
        guard let secrets else { return }
        self.startSession(hello, secrets: secrets)
    }

    /// Derives the session's keys from `secrets` and, when they open records, keeps protected
    /// records whole from now on.
    mutating func startSession(_ hello: ServerHello, secrets: KeyLog.Secrets) {
        guard let decryption = self.decryption, let clientHello = self.clientHello else { return }
        self.keysFound = true
        self.session = SessionDecryptor(
            crypto: decryption.crypto, suite: hello.cipherSuite, version: hello.version, secrets: secrets,
            clientRandom: clientHello.random, serverRandom: hello.random)
        if self.session != nil {
            self.client.keepProtected = true
            self.server.keepProtected = true
        }
    }

    private mutating func protectedRecord(_ direction: Direction, header: [UInt8], body: [UInt8], location: TLSLocation) {
        let outerHandshake = header[0] == 22
        guard var session = self.session, let (type, plaintext) = session.decrypt(direction, header: header, body: body) else {
            self.decryptionFailures += 1
            if header[0] == 21 { self.encryptedAlerts.append((direction, location)) }
            self.countEncrypted(direction, length: body.count, location: location, handshake: outerHandshake)
            return
        }
        self.decryptedRecords += 1
        switch type {
        case 22:
            self.countEncrypted(direction, length: body.count, location: location, handshake: true)
            var buffer = direction == .client ? self.decryptedHandshake.client : self.decryptedHandshake.server
            buffer += plaintext
            while buffer.count >= 4 {
                let length = Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
                guard buffer.count >= 4 + length else { break }
                let messageType = buffer[0]
                let message = Array(buffer[4..<(4 + length)])
                buffer.removeFirst(4 + length)
                self.decryptedHandshakeMessage(
                    direction, type: messageType, body: message, location: location,
                    record: header + body.prefix(TLSSpan.firstBytesLimit - header.count), recordLength: UInt64(header.count + body.count),
                    session: &session)
            }
            // A message that never completes is dropped rather than held without bound.
            if buffer.count > 1 << 20 { buffer.removeAll() }
            switch direction {
            case .client: self.decryptedHandshake.client = buffer
            case .server: self.decryptedHandshake.server = buffer
            }
        case 21:
            if plaintext.count >= 2 {
                // The evidence is the protected record as sent: its header and ciphertext.
                self.alerts.append(TLSAlert(
                    direction: direction, level: plaintext[0], description: plaintext[1], location: location, bytes: header + body,
                    decrypted: true))
            }
            self.noteEnding(direction, location)
        case 23:
            self.countEncrypted(direction, length: body.count, location: location, handshake: false)
            self.decrypted.append((direction, plaintext, location))
        default:
            break
        }
        self.session = session
    }

    private mutating func decryptedHandshakeMessage(
        _ direction: Direction, type: UInt8, body: [UInt8], location: TLSLocation, record: [UInt8], recordLength: UInt64,
        session: inout SessionDecryptor
    ) {
        switch (direction, type) {
        case (.server, 11) where self.certificates.isEmpty:
            // RFC 8446 §4.4.2: request context, then entries of (cert_data, extensions).
            var reader = TLSReader(body)
            guard let contextLength = reader.u8(), reader.take(Int(contextLength)) != nil,
                  let total = reader.u24(), var list = reader.sub(total) else { return }
            var chain: [[UInt8]] = []
            while list.remaining > 0 {
                guard let length = list.u24(), let der = list.take(length), let extensions = list.u16(), list.take(Int(extensions)) != nil
                else { return }
                chain.append(der)
            }
            self.certificates = chain
            self.certificateLocation = location
            // The message itself is not on the wire: the record that carried it is.
            self.certificateMessage = TLSSpan(location: location, length: recordLength, firstBytes: record, encrypted: true)
        case (.server, 13):
            self.certificateRequest = location
        case (.server, 8) where self.encryptedExtensions == nil:
            var alpn: String?
            var reader = TLSReader(body)
            if let total = reader.u16(), var extensions = reader.sub(Int(total)) {
                while let type = extensions.u16(), let length = extensions.u16(), var data = extensions.sub(Int(length)) {
                    guard type == 16, let listLength = data.u16(), var list = data.sub(Int(listLength)), let nameLength = list.u8(),
                          let name = list.take(Int(nameLength)) else { continue }
                    alpn = String(decoding: name, as: UTF8.self)
                }
            }
            self.encryptedExtensions = (location, alpn)
        case (.client, 5):
            // EndOfEarlyData (RFC 8446 §4.5): the client's next record is under handshake keys.
            session.clientEarly = nil
        case (_, 20):
            // Finished: RFC 8446 §7.2, the sender's next records use application traffic keys.
            session.switchToApplicationKeys(direction)
            if direction == .client, session.tls13, self.handshakeDone == nil {
                self.handshakeDone = location
            }
        default:
            break
        }
    }

    private mutating func countEncrypted(_ direction: Direction, length: Int, location: TLSLocation, handshake: Bool) {
        switch direction {
        case .client:
            self.encryptedRecords.client += 1
            if self.firstClientEncrypted == nil { self.firstClientEncrypted = (length, location) }
            if handshake { self.encryptedHandshakeRecords.client += 1 }
        case .server:
            self.encryptedRecords.server += 1
            if handshake { self.encryptedHandshakeRecords.server += 1 }
        }
        let tls13 = self.serverHello?.version == 0x0304
        if tls13 {
            // TLS 1.3: the server's flight (EncryptedExtensions .. Finished) is its first
            // encrypted records; the client's first encrypted record is its Finished. The
            // handshake is done once the client's Finished follows the server's flight.
            if direction == .client, self.encryptedRecords.server > 0, self.handshakeDone == nil, !handshake {
                self.handshakeDone = location
                return
            }
        } else if self.handshakeDone == nil, self.changeCipherSpec.client != nil, self.changeCipherSpec.server != nil,
                  self.encryptedHandshakeRecords.client > 0, self.encryptedHandshakeRecords.server > 0 {
            // TLS 1.2: both ChangeCipherSpecs and both Finished messages.
            self.handshakeDone = location
        }
        if self.handshakeDone != nil, !handshake, tls13, self.session == nil, length == Self.tls13AlertRecordLength {
            // Without keys a TLS 1.3 alert looks like application data; its size gives it away.
            self.noteEnding(direction, location)
            return
        }
        if self.handshakeDone != nil, !handshake {
            switch direction {
            case .client: self.clientApplicationRecords += 1
            case .server: self.serverApplicationRecords += 1
            }
        }
    }
}
