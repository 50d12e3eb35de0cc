import CaptureModel

/// A short hexdump of an evidence's context with the offending bytes marked, like HAProxy's
/// `show errors`: offsets are stream offsets, `[..]` marks the bytes the finding is about.
public enum Hexdump {
    /// Lines of at most 16 bytes; empty when the evidence carries no bytes.
    public static func lines(_ evidence: Evidence, indent: String = "      ") -> [String] {
        guard !evidence.context.isEmpty else { return [] }
        let highlight = evidence.streamOffset..<(evidence.streamOffset + UInt64(max(evidence.bytes.count, evidence.length == 0 ? 0 : 1)))
        var lines: [String] = []
        var index = 0
        while index < evidence.context.count {
            let end = min(index + 16, evidence.context.count)
            let offset = evidence.contextOffset + UInt64(index)
            var hex = ""
            var text = ""
            for position in index..<end {
                let byte = evidence.context[position]
                let at = evidence.contextOffset + UInt64(position)
                let marked = highlight.contains(at)
                let opens = marked && (position == index || !highlight.contains(at - 1))
                let closes = marked && (position == end - 1 || !highlight.contains(at + 1))
                hex += opens ? "[" : (position == index ? "" : " ")
                hex += self.hexByte(byte)
                if closes { hex += "]" }
                let printable = byte >= 0x20 && byte < 0x7f ? Character(Unicode.Scalar(byte)) : "."
                text += opens ? "[" : ""
                text.append(printable)
                if closes { text += "]" }
            }
            let offsetText = String(offset, radix: 16)
            lines.append(indent + String(repeating: "0", count: max(0, 8 - offsetText.count)) + offsetText + "  " + hex
                         + String(repeating: " ", count: max(1, 50 - hex.count)) + text)
            index = end
        }
        return lines
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}
