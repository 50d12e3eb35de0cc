import TLSRecords

extension Engine {
    /// Replaces the key log (a live capture's, read again as the gateway appends to it). Open
    /// connections waiting for keys (`TLSConnection.Decryption.waitForKeys`) whose sessions are
    /// now in it decrypt what they held, and later connections look their secrets up in it.
    /// Does nothing when the engine was made without `AnalysisOptions.decryption`.
    public mutating func updateKeyLog(_ keyLog: KeyLog) {
        self.collector.updateKeyLog(keyLog)
    }
}
