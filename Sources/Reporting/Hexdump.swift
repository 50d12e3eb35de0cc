import CaptureModel

/// A short hexdump of an evidence's context with the offending bytes marked, like HAProxy's
/// `show errors`: offsets are stream offsets, `[..]` marks the bytes the finding is about.
public enum Hexdump {
    /// One line of a dump: up to 16 bytes from stream offset `offset`.
    public struct Row: Hashable, Sendable {
        /// Stream offset of the first byte.
        public var offset: UInt64
        /// The bytes, each with whether the finding is about it.
        public var bytes: [(byte: UInt8, marked: Bool)]

        public static func == (lhs: Row, rhs: Row) -> Bool {
            lhs.offset == rhs.offset && lhs.bytes.elementsEqual(rhs.bytes) { $0.byte == $1.byte && $0.marked == $1.marked }
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(self.offset)
            for item in self.bytes {
                hasher.combine(item.byte)
                hasher.combine(item.marked)
            }
        }

        /// `00000021` (at least eight hex digits).
        public var offsetText: String {
            let text = String(self.offset, radix: 16)
            return String(repeating: "0", count: max(0, 8 - text.count)) + text
        }
    }

    /// The bytes marked for an evidence of `length` bytes at `streamOffset` whose captured
    /// offending bytes number `captured`: those bytes, or one byte for a zero-capture point.
    public static func highlight(streamOffset: UInt64, length: UInt64, captured: Int) -> Range<UInt64> {
        streamOffset..<(streamOffset + UInt64(max(captured, length == 0 ? 0 : 1)))
    }

    /// `context` (whose first byte is at stream offset `contextOffset`) in rows of 16.
    public static func rows(context: [UInt8], contextOffset: UInt64, highlight: Range<UInt64>) -> [Row] {
        var rows: [Row] = []
        var index = 0
        while index < context.count {
            let end = min(index + 16, context.count)
            rows.append(Row(
                offset: contextOffset + UInt64(index),
                bytes: (index..<end).map { (context[$0], highlight.contains(contextOffset + UInt64($0))) }))
            index = end
        }
        return rows
    }

    /// Lines of at most 16 bytes; empty when the evidence carries no bytes.
    public static func lines(_ evidence: Evidence, indent: String = "      ") -> [String] {
        self.lines(
            self.rows(
                context: evidence.context, contextOffset: evidence.contextOffset,
                highlight: self.highlight(streamOffset: evidence.streamOffset, length: evidence.length, captured: evidence.bytes.count)),
            indent: indent)
    }

    /// Text lines for `rows`: offset, hex, and printable ASCII, with `[..]` around marked runs.
    public static func lines(_ rows: [Row], indent: String = "      ") -> [String] {
        rows.map { row in
            var hex = ""
            var text = ""
            for (position, item) in row.bytes.enumerated() {
                let opens = item.marked && (position == 0 || !row.bytes[position - 1].marked)
                let closes = item.marked && (position == row.bytes.count - 1 || !row.bytes[position + 1].marked)
                hex += opens ? "[" : (position == 0 ? "" : " ")
                hex += self.hexByte(item.byte)
                if closes { hex += "]" }
                text += opens ? "[" : ""
                text.append(self.printable(item.byte))
                if closes { text += "]" }
            }
            return indent + row.offsetText + "  " + hex + String(repeating: " ", count: max(1, 50 - hex.count)) + text
        }
    }

    /// The byte as a printable ASCII character, `.` when it is not one.
    public static func printable(_ byte: UInt8) -> Character {
        byte >= 0x20 && byte < 0x7f ? Character(Unicode.Scalar(byte)) : "."
    }

    /// Two lower-case hex digits.
    public static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}
