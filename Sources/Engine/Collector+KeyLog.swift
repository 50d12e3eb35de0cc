import HTTP1
import TLSRecords

/// Decrypted application data, and a key log that grows while the capture runs.
extension Collector {
    /// Feeds what the slot's TLS connection decrypted since the last call to the HTTP parser
    /// inside it. Decrypted application data is HTTP too: its offsets are the decrypted
    /// stream's, its frame the record's.
    mutating func deliverDecrypted(slot: Int) {
        guard self.slots[slot].$tls else { return }
        // Early data the key log could not open: a gap in the gateway's stream, before the rest.
        for unreadable in self.slots[slot].tls!.takeUnreadable() {
            if !self.slots[slot].$innerHTTP {
                self.slots[slot].innerHTTP = HTTP1Connection(redactsSecrets: self.redactsSecrets)
            }
            self.slots[slot].innerHTTP!.gap(unreadable.range, direction: unreadable.direction, frame: unreadable.location.frame, truncated: false)
        }
        for item in self.slots[slot].tls!.takeDecrypted() {
            if !self.slots[slot].$innerHTTP {
                self.slots[slot].innerHTTP = HTTP1Connection(redactsSecrets: self.redactsSecrets)
            }
            item.bytes.withUnsafeBytes { raw in
                self.slots[slot].innerHTTP!.feed(
                    raw, direction: item.direction, at: item.offset, frame: item.location.frame, frameOffset: nil,
                    time: item.location.time)
            }
        }
        if self.slots[slot].innerHTTP?.finishedTransactions.isEmpty == false { self.handOnTransactions(slot: slot) }
    }

    /// Connections from now on use `keyLog`; open ones waiting for keys read their held
    /// records with it, and what that decrypts goes to their inner HTTP parser at once.
    mutating func updateKeyLog(_ keyLog: KeyLog) {
        guard self.decryption != nil else { return }
        self.decryption?.keyLog = keyLog
        for slot in self.slots.indices where self.slots[slot].$tls {
            self.slots[slot].tls!.keysUpdated(keyLog)
            self.deliverDecrypted(slot: slot)
        }
    }
}
