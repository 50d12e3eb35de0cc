import CaptureModel

/// DNS over one TCP connection (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by its
/// two-byte length. One direction's bytes are kept only until a message is whole.
///
/// The reassembly is deliberately small: a retransmission's bytes already read are skipped, and
/// a hole in the sequence space ends the direction (the framing cannot be found again), which
/// the tracker counts as a gap.
struct DNSStream {
    /// One direction of the connection.
    struct Half {
        var buffer: [UInt8] = []
        var nextSequence: UInt32?
        /// Set by a hole: nothing more is read this way.
        var lost = false
        var finished = false

        /// Adds a segment's bytes; returns the messages it completes, each without its length.
        mutating func feed(sequence: UInt32, flags: (syn: Bool, fin: Bool), payload: UnsafeRawBufferPointer) -> (messages: [[UInt8]], gap: Bool) {
            if flags.syn {
                self.nextSequence = sequence &+ 1
                return ([], false)
            }
            if flags.fin { self.finished = true }
            guard !self.lost, !payload.isEmpty else { return ([], false) }
            let expected = self.nextSequence ?? sequence
            // RFC 9293 §3.4: sequence numbers compare modulo 2^32.
            let ahead = Int32(bitPattern: sequence &- expected)
            if ahead > 0 {
                self.lost = true
                self.buffer = []
                return ([], true)
            }
            let skip = Int(-ahead)
            guard skip < payload.count else { return ([], false) }
            self.buffer.append(contentsOf: payload[skip...])
            self.nextSequence = sequence &+ UInt32(truncatingIfNeeded: payload.count)
            var messages: [[UInt8]] = []
            var start = 0
            while self.buffer.count - start >= 2 {
                let length = Int(self.buffer[start]) << 8 | Int(self.buffer[start + 1])
                guard self.buffer.count - start - 2 >= length else { break }
                messages.append(Array(self.buffer[(start + 2)..<(start + 2 + length)]))
                start += 2 + length
            }
            if start > 0 { self.buffer.removeFirst(start) }
            return (messages, false)
        }
    }

    /// The resolver's side (the one not on port 53).
    var client: Endpoint
    /// The DNS server's side.
    var server: Endpoint
    var fromClient = Half()
    var fromServer = Half()
    /// When it last carried a segment, for eviction.
    var lastTime: Timestamp
}
