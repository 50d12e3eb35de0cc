import CaptureModel
import HTTP1

/// A failing response's head beside the nearest healthy one from the same upstream (or, when
/// that upstream sent none, from another member of its pool), line by line: the step people
/// take after the error log, "compare a successful and a failing response at the raw status
/// line, header and framing level".
public struct HeadComparison: Sendable {
    /// How the healthy response was chosen.
    public enum Match: String, Sendable {
        /// The same upstream, method and path (the query string aside).
        case sameTarget = "same_target"
        /// The same upstream, another request (the one closest in time that was kept).
        case sameUpstream = "same_upstream"
        /// Another member of the pool (same port, another address): the failing upstream sent
        /// no healthy response that was kept.
        case poolMember = "pool_member"
    }

    /// One response of the two.
    public struct Side: Sendable {
        /// The connection's id number (`c17` is 17).
        public var connection: UInt32
        /// The transaction's place on its connection (1-based), when known.
        public var transaction: Int?
        /// The upstream that sent it.
        public var server: Endpoint
        /// The request it answered (`GET /path`), when seen.
        public var request: String?
        /// Its status.
        public var status: Int?
        /// Its first byte's time, frame and stream offset.
        public var time: Timestamp
        public var frame: FrameNumber?
        public var streamOffset: UInt64
        /// Its lines as shown (`HeadComparison.shown`), the ending empty line left out.
        public var lines: [String]
    }

    /// What differs on one row.
    public enum Kind: String, Sendable {
        /// Two different lines (a field name spelled otherwise, a status line, another field).
        case changed
        /// The same field name with another value.
        case value
        /// A line only the failing head has.
        case onlyFailing = "only_failing"
        /// A line only the healthy head has.
        case onlyHealthy = "only_healthy"
    }

    /// One row of the side-by-side view: a line of each head (0-based), or of one.
    public struct Row: Sendable, Equatable {
        public var failing: Int?
        public var healthy: Int?
    }

    /// One line that differs.
    public struct Difference: Sendable {
        /// The failing head's line number (1-based), or `nil` for a line only the healthy has.
        public var line: Int?
        /// The healthy head's line number (1-based), or `nil`.
        public var healthyLine: Int?
        public var failing: String?
        public var healthy: String?
        public var kind: Kind
    }

    /// The byte the verdict's evidence starts at, when it is in the failing head.
    public struct Offending: Sendable {
        /// Its line (1-based) and its byte in that line (1-based, counting the bytes as sent).
        public var line: Int
        public var column: Int
        public var streamOffset: UInt64
        public var byte: UInt8
    }

    /// What one pool member sends on the line in question.
    public struct Member: Sendable {
        public var server: Endpoint
        /// The line as it sends it.
        public var sends: String
        /// Whether that is the failing line; `since` is the first failing response with it.
        public var failing: Bool
        public var since: Timestamp?
    }

    public var failing: Side
    public var healthy: Side
    public var matchedBy: Match
    /// Both heads aligned, in the failing head's order.
    public var rows: [Row]
    /// The rows that differ.
    public var differences: [Difference]
    public var offending: Offending?
    /// The pool's members, when it has several: who sends the failing line, who the healthy one.
    public var members: [Member] = []

    /// Lines past this are not compared.
    public static let maximumLines = 200

    /// `failing` and `healthy` compared; `evidenceOffset` is the verdict's first offending
    /// byte in the upstream's stream, if any.
    public init(failing: Side, failingBytes: [UInt8], healthy: Side, healthyBytes: [UInt8], matchedBy: Match, evidenceOffset: UInt64?) {
        let failingLines = Self.lines(failingBytes)
        let healthyLines = Self.lines(healthyBytes)
        self.failing = failing
        self.failing.lines = failingLines.map { Self.shown(failingBytes[$0.range]) }
        self.healthy = healthy
        self.healthy.lines = healthyLines.map { Self.shown(healthyBytes[$0.range]) }
        self.matchedBy = matchedBy
        self.rows = Self.align(
            failingLines.map { Array(failingBytes[$0.range]) }, healthyLines.map { Array(healthyBytes[$0.range]) })
        self.differences = []
        for row in self.rows {
            let f = row.failing.map { self.failing.lines[$0] }
            let h = row.healthy.map { self.healthy.lines[$0] }
            guard f != h else { continue }
            let kind: Kind
            switch (row.failing, row.healthy) {
            case (let i?, let j?):
                let a = Self.fieldName(Array(failingBytes[failingLines[i].range]))
                let b = Self.fieldName(Array(healthyBytes[healthyLines[j].range]))
                kind = a != nil && a == b && i > 0 ? .value : .changed
            case (_?, nil): kind = .onlyFailing
            case (nil, _?): kind = .onlyHealthy
            case (nil, nil): preconditionFailure("a row has a line of one head at least")
            }
            self.differences.append(Difference(
                line: row.failing.map { $0 + 1 }, healthyLine: row.healthy.map { $0 + 1 }, failing: f, healthy: h, kind: kind))
        }
        if let offset = evidenceOffset, offset >= failing.streamOffset {
            let at = Int(offset - failing.streamOffset)
            if let index = failingLines.firstIndex(where: { $0.start <= at && at <= $0.end }), at < failingBytes.count {
                self.offending = Offending(
                    line: index + 1, column: at - failingLines[index].start + 1, streamOffset: offset, byte: failingBytes[at])
            }
        }
    }

    /// A head's lines: each from its start to its line end (CRLF left out; a bare LF kept, so
    /// that it shows), up to the empty line that ends the head.
    static func lines(_ bytes: [UInt8]) -> [(start: Int, range: Range<Int>, end: Int)] {
        var lines: [(start: Int, range: Range<Int>, end: Int)] = []
        var start = 0
        while start < bytes.count, lines.count < Self.maximumLines {
            guard let lf = bytes[start...].firstIndex(of: 0x0A) else {
                lines.append((start, start..<bytes.count, bytes.count - 1))
                break
            }
            if lf == start { break }  // a bare-LF empty line: the head's end
            let crlf = bytes[lf - 1] == 0x0D
            if crlf, lf - 1 == start { break }  // the empty line
            lines.append((start, start..<(crlf ? lf - 1 : lf + 1), lf))
            start = lf + 1
        }
        return lines
    }

    /// A line as text: printable ASCII as it is, every other byte (and `\`) as `\xNN`, so each
    /// byte sent stays visible and one column of the text is one byte or one `\xNN`.
    public static func shown<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = ""
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The field name of a field line (the bytes before its colon), or `nil`.
    static func fieldName(_ line: [UInt8]) -> [UInt8]? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
        return Array(line[..<colon])
    }

    /// Both heads' lines aligned: a longest common subsequence of equal lines, and between
    /// two of them the lines of each head paired, the same field name first, then in order.
    static func align(_ a: [[UInt8]], _ b: [[UInt8]]) -> [Row] {
        let n = a.count
        let m = b.count
        // lengths[i][j]: the longest common subsequence of a[i...] and b[j...].
        var lengths = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var rows: [Row] = []
        var onlyA: [Int] = []
        var onlyB: [Int] = []
        func flush() {
            // A failing line and a healthy one are paired when their field names are the same
            // but for case and punctuation (`Content Type` and `Content-Type`); the rest stand alone.
            var used = Set<Int>()
            for i in onlyA {
                if let name = fieldName(a[i]).map(Self.normalized), !name.isEmpty,
                   let j = onlyB.first(where: { !used.contains($0) && fieldName(b[$0]).map(Self.normalized) == name }) {
                    used.insert(j)
                    rows.append(Row(failing: i, healthy: j))
                } else if i == 0, onlyB.first == 0, !used.contains(0) {
                    // The status lines.
                    used.insert(0)
                    rows.append(Row(failing: 0, healthy: 0))
                } else {
                    rows.append(Row(failing: i, healthy: nil))
                }
            }
            for j in onlyB where !used.contains(j) { rows.append(Row(failing: nil, healthy: j)) }
            onlyA.removeAll()
            onlyB.removeAll()
        }
        var i = 0
        var j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                flush()
                rows.append(Row(failing: i, healthy: j))
                i += 1
                j += 1
            } else if j >= m || (i < n && lengths[i + 1][j] >= lengths[i][j + 1]) {
                onlyA.append(i)
                i += 1
            } else {
                onlyB.append(j)
                j += 1
            }
        }
        flush()
        return rows
    }

    /// A field name's letters and digits, lower case: what tells two spellings of one name.
    static func normalized(_ name: [UInt8]) -> [UInt8] {
        name.compactMap { byte in
            switch byte {
            case 0x41...0x5A: return byte | 0x20
            case 0x61...0x7A, 0x30...0x39: return byte
            default: return nil
            }
        }
    }
}
