/// Counts the requests a live client has sent in full, from its bytes as they are read: what
/// a replay waits for before each captured response segment.
///
/// HTTP/1 (RFC 9112): an optional PROXY protocol header first (v1 line or v2 binary), empty
/// lines between requests (§2.2), a head up to its empty line, then the body its
/// `Transfer-Encoding: chunked` (§7.1) or `Content-Length` (§6.2) says; no body otherwise
/// (§6.3 rule 7). Opaque: each read is one burst, except that TLS records are read whole.
public struct RequestCounter: Sendable {
    /// Requests (or bursts) read in full so far.
    public private(set) var complete = 0

    private enum State: Sendable {
        case streamStart
        case betweenRequests
        case head
        case body(remaining: UInt64)
        case chunkSize
        case chunkData(remaining: UInt64)
        case chunkDataEnd
        case trailer
    }

    private let framing: ReplayScript.Framing
    private var state = State.streamStart
    private var pending: [UInt8] = []

    /// A counter for a client whose requests are framed as `framing` says.
    public init(framing: ReplayScript.Framing) {
        self.framing = framing
    }

    /// The next bytes read from the client.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        self.pending.append(contentsOf: bytes)
        switch self.framing {
        case .opaque: self.feedOpaque()
        case .http1: while self.step() {}
        }
    }

    private mutating func feedOpaque() {
        // TLS records (RFC 8446 §5.1): a burst ends where a record does.
        var index = 0
        while index < self.pending.count {
            guard (20...23).contains(self.pending[index]) else {
                self.pending.removeAll()
                self.complete += 1
                return
            }
            guard index + 5 <= self.pending.count else { return }
            let length = Int(self.pending[index + 3]) << 8 | Int(self.pending[index + 4])
            guard index + 5 + length <= self.pending.count else { return }
            index += 5 + length
        }
        self.pending.removeAll()
        self.complete += 1
    }

    /// One step of the HTTP/1 state machine over `pending`; false when it needs more bytes.
    private mutating func step() -> Bool {
        switch self.state {
        case .streamStart:
            let v2: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
            let v1 = Array("PROXY ".utf8)
            if self.pending.count < v2.count, v2.starts(with: self.pending) || v1.starts(with: self.pending.prefix(v1.count)) {
                return false
            }
            if self.pending.starts(with: v2) {
                guard self.pending.count >= 16 else { return false }
                let length = 16 + (Int(self.pending[14]) << 8 | Int(self.pending[15]))
                guard self.pending.count >= length else { return false }
                self.pending.removeFirst(length)
            } else if self.pending.starts(with: v1) {
                guard let end = self.pending.firstIndex(of: 0x0A) else { return false }
                self.pending.removeFirst(end + 1)
            }
            self.state = .betweenRequests
            return true
        case .betweenRequests:
            while let first = self.pending.first, first == 0x0D || first == 0x0A { self.pending.removeFirst() }
            guard !self.pending.isEmpty else { return false }
            self.state = .head
            return true
        case .head:
            guard let (head, length) = self.headEnd() else { return false }
            self.pending.removeFirst(length)
            self.state = Self.bodyState(of: head)
            if case .betweenRequests = self.state { self.complete += 1 }
            return true
        case .body(let remaining):
            let taken = min(UInt64(self.pending.count), remaining)
            self.pending.removeFirst(Int(taken))
            if taken == remaining {
                self.complete += 1
                self.state = .betweenRequests
                return true
            }
            self.state = .body(remaining: remaining - taken)
            return false
        case .chunkSize:
            guard let end = self.pending.firstIndex(of: 0x0A) else { return false }
            var size: UInt64 = 0
            for byte in self.pending[..<end] {
                guard let digit = Self.hexDigit(byte) else { break }
                size = size &* 16 &+ UInt64(digit)
            }
            self.pending.removeFirst(end + 1)
            self.state = size == 0 ? .trailer : .chunkData(remaining: size)
            return true
        case .chunkData(let remaining):
            let taken = min(UInt64(self.pending.count), remaining)
            self.pending.removeFirst(Int(taken))
            self.state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)
            return taken == remaining
        case .chunkDataEnd:
            guard let end = self.pending.firstIndex(of: 0x0A) else { return false }
            self.pending.removeFirst(end + 1)
            self.state = .chunkSize
            return true
        case .trailer:
            guard let end = self.pending.firstIndex(of: 0x0A) else { return false }
            let empty = end == 0 || (end == 1 && self.pending[0] == 0x0D)
            self.pending.removeFirst(end + 1)
            if empty {
                self.complete += 1
                self.state = .betweenRequests
            }
            return true
        }
    }

    /// The head, when `pending` holds all of it (up to an empty line), and its length.
    private func headEnd() -> ([UInt8], Int)? {
        var index = 0
        while let newline = self.pending[index...].firstIndex(of: 0x0A) {
            let next = newline + 1
            if next < self.pending.count, self.pending[next] == 0x0A { return (Array(self.pending[..<next]), next + 1) }
            if next + 1 < self.pending.count, self.pending[next] == 0x0D, self.pending[next + 1] == 0x0A {
                return (Array(self.pending[..<next]), next + 2)
            }
            if next >= self.pending.count { return nil }
            index = next
        }
        return nil
    }

    /// Where a request with `head` goes next: its body, or the next request.
    private static func bodyState(of head: [UInt8]) -> State {
        var contentLength: UInt64?
        var chunked = false
        for line in head.split(separator: 0x0A).dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).lowercased()
                .filter { $0 != " " && $0 != "\t" && $0 != "\r" }
            if name == "transfer-encoding", value.hasSuffix("chunked") { chunked = true }
            if name == "content-length", let length = UInt64(value) { contentLength = length }
        }
        if chunked { return .chunkSize }
        if let contentLength, contentLength > 0 { return .body(remaining: contentLength) }
        return .betweenRequests
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
