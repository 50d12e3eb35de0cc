import CaptureModel

/// Waiting for keys (`Decryption.waitForKeys`). On a live gateway the TLS client logs a
/// session's secrets only once it has read the ServerHello, so they reach edgescope about when
/// that ServerHello does, or later. A session whose secrets are not all there at its
/// ServerHello is read on as if it had none, and every record event since the ServerHello is
/// held. When the key log grows, the connection goes back to where it stood at the ServerHello
/// and reads the held events again with the secrets: what it decrypts, with its offsets and
/// frames, is what a capture file read with the whole key log gives.
extension TLSConnection {
    /// What a connection waiting for keys holds.
    struct KeyWait {
        /// The connection as it stood at the ServerHello, before its secrets were looked up.
        var checkpoint: TLSConnection
        /// Every record event since, both directions, in arrival order (the order the
        /// connection's state depends on).
        var held: [(direction: Direction, event: RecordLayer.Event)] = []
        /// Bytes of records in `held`.
        var heldBytes = 0
        /// The secrets the connection was last read with; `nil` when the key log had none.
        var secrets: KeyLog.Secrets?
    }

    /// Where a connection stands with its keys.
    indirect enum KeyWaitState {
        /// Not waiting: the secrets were all there at the ServerHello, the wait is over, or it
        /// never started (no decryption, no `waitForKeys`, or a suite edgescope cannot open).
        case notWaiting
        case waiting(KeyWait)
        /// The hold limit came before the secrets: the session is read without them for good.
        case gaveUp
    }

    /// Whether records are held until the key log has every secret of this session.
    public var waitingForKeys: Bool {
        switch self.keyWait {
        case .waiting: return true
        case .notWaiting, .gaveUp: return false
        }
    }

    /// Whether the wait reached its hold limit before the secrets came, so the session is read
    /// without them for good. A handshake message can pass the limit too, so this can be true
    /// with no record counted in `recordsPastHoldLimit`: the records held until then are lost.
    public var gaveUpWaitingForKeys: Bool {
        if case .gaveUp = self.keyWait { return true }
        return false
    }

    /// Bytes of records held while waiting for keys.
    public var heldRecordBytes: Int {
        switch self.keyWait {
        case .waiting(let wait): return wait.heldBytes
        case .notWaiting, .gaveUp: return 0
        }
    }

    /// The key log grew (a live capture read what the gateway appended). A connection waiting
    /// for keys whose session gained secrets reads its records again from the ServerHello with
    /// them; once it has them all, what they decrypt comes out of `takeDecrypted()`. Sessions
    /// not yet at their ServerHello look their secrets up in `keyLog` when it comes.
    public mutating func keysUpdated(_ keyLog: KeyLog) {
        guard self.decryption != nil else { return }
        self.decryption?.keyLog = keyLog
        guard let clientHello = self.clientHello, let secrets = keyLog.secrets(clientRandom: clientHello.random) else { return }
        switch self.keyWait {
        case .notWaiting:
            return
        case .gaveUp:
            self.keysFound = true
        case .waiting(let wait):
            guard secrets != wait.secrets, let hello = wait.checkpoint.serverHello else { return }
            self.readAgain(wait, with: secrets, hello: hello)
        }
    }

    /// At the ServerHello, when the key log lacks secrets the session needs: from here on,
    /// protected records are kept whole and every record event is held.
    mutating func startWaiting(_ secrets: KeyLog.Secrets?) {
        var checkpoint = self
        // The record layers go on reading; a replay takes them as they are then.
        checkpoint.client = RecordLayer(direction: .client)
        checkpoint.server = RecordLayer(direction: .server)
        checkpoint.decryption = nil
        self.keyWait = .waiting(KeyWait(checkpoint: checkpoint, secrets: secrets))
        self.client.keepProtected = true
        self.server.keepProtected = true
    }

    /// Before `handle(_:direction:)`: holds the event while waiting, or gives the wait up when
    /// holding it would pass the hold limit; counts encrypted records that come after that.
    mutating func holdForKeys(_ event: RecordLayer.Event, direction: Direction) {
        switch self.keyWait {
        case .notWaiting:
            return
        case .gaveUp:
            self.countPastHoldLimit(event)
        case .waiting(var wait):
            // Out of the enum while it grows, so `held` is not copied.
            self.keyWait = .notWaiting
            let size = event.heldSize
            guard wait.heldBytes + size <= self.decryption?.holdLimit ?? 0 else {
                self.giveUpWaiting(wait)
                self.countPastHoldLimit(event)
                return
            }
            wait.held.append((direction, event))
            wait.heldBytes += size
            self.keyWait = .waiting(wait)
        }
    }

    private mutating func giveUpWaiting(_ wait: KeyWait) {
        self.keyWait = .gaveUp
        // With a session (some secrets came) records go on being opened as far as they can.
        guard self.session == nil else { return }
        for item in wait.held {
            if case .protected = item.event { self.decryptionFailures += 1 }
        }
        // Nothing will open them: skip record bodies by length again.
        self.client.keepProtected = false
        self.server.keepProtected = false
    }

    private mutating func countPastHoldLimit(_ event: RecordLayer.Event) {
        switch event {
        case .protected, .applicationData, .encryptedHandshake, .encryptedAlert:
            self.recordsPastHoldLimit += 1
            // With a session, `protectedRecord` counts a record that does not open.
            if self.session == nil { self.decryptionFailures += 1 }
        case .handshake, .alert, .changeCipherSpec, .notTLS:
            break
        }
    }

    /// The connection at its ServerHello, with `secrets`, reads the held events again; the
    /// record layers stay where they are. It keeps waiting while secrets are still missing.
    private mutating func readAgain(_ wait: KeyWait, with secrets: KeyLog.Secrets, hello: ServerHello) {
        var replay = wait.checkpoint
        replay.client = self.client
        replay.server = self.server
        replay.decryption = self.decryption
        replay.startSession(hello, secrets: secrets)
        // Early data came before the ServerHello: open it (or call it unreadable) now.
        replay.earlyDataCipherKnown()
        for item in wait.held {
            replay.handle(item.event, direction: item.direction)
        }
        if !SessionDecryptor.hasEverySecret(secrets, version: hello.version) {
            var wait = wait
            wait.secrets = secrets
            replay.keyWait = .waiting(wait)
            replay.client.keepProtected = true
            replay.server.keepProtected = true
        }
        self = replay
    }
}

extension RecordLayer.Event {
    /// The bytes holding the event keeps (at least a record header's worth).
    var heldSize: Int {
        switch self {
        case .protected(let header, let body, _): return header.count + body.count
        case .handshake(_, let body, _, _): return 4 + body.count
        case .alert(_, _, let record, _): return record.count
        case .encryptedAlert, .changeCipherSpec, .applicationData, .encryptedHandshake, .notTLS: return 5
        }
    }
}
