import TLSRecords

/// A key log that grows while the capture runs.
extension Collector {
    /// Connections from now on use `keyLog`; open ones waiting for keys read their held
    /// records with it, and what that decrypts is analysed at once.
    mutating func updateKeyLog(_ keyLog: KeyLog) {
        guard self.decryption != nil else { return }
        self.decryption?.keyLog = keyLog
        for slot in self.slots.indices where self.slots[slot].$tls {
            self.slots[slot].tls!.keysUpdated(keyLog)
            if self.slots[slot].tls!.hasFinishedTransactions { self.handOnTransactions(slot: slot) }
        }
    }
}
