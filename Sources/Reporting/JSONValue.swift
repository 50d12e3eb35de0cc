/// A JSON document with its object keys in the order they were written, so reports read the
/// same way every time and diff cleanly.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.serialized() == rhs.serialized()
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.serialized())
    }

    /// An integer value.
    public static func number<T: BinaryInteger>(_ value: T) -> JSONValue {
        if let signed = Int64(exactly: value) { return .int(signed) }
        return .uint(UInt64(clamping: value))
    }

    /// A string, or `null` when `nil`.
    public static func optional(_ value: String?) -> JSONValue {
        value.map { .string($0) } ?? .null
    }

    /// The text, indented two spaces per level when `pretty`.
    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        self.write(into: &out, pretty: pretty, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the text to `out` as UTF-8, as if this value sat `level` levels deep in a
    /// pretty-printed document (so a streamed report reads exactly like one built whole).
    public func write(into out: inout [UInt8], pretty: Bool, level: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .uint(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value):
            out.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
        case .string(let value): JSONValue.writeString(value, into: &out)
        case .array(let items):
            if items.isEmpty {
                out.append(contentsOf: "[]".utf8)
                return
            }
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { Self.newline(&out, level: level + 1) }
                item.write(into: &out, pretty: pretty, level: level + 1)
            }
            if pretty { Self.newline(&out, level: level) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty {
                out.append(contentsOf: "{}".utf8)
                return
            }
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { Self.newline(&out, level: level + 1) }
                JSONValue.writeString(key, into: &out)
                if pretty { out.append(contentsOf: ": ".utf8) } else { out.append(UInt8(ascii: ":")) }
                value.write(into: &out, pretty: pretty, level: level + 1)
            }
            if pretty { Self.newline(&out, level: level) }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func newline(_ out: inout [UInt8], level: Int) {
        out.append(0x0a)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }

    /// A JSON string: runs of plain bytes copied whole; quote, backslash, control characters,
    /// DEL and U+2028/U+2029 (line breaks to JavaScript) escaped.
    static func writeString(_ value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            var index = 0
            let count = bytes.count
            while index < count {
                let byte = bytes[index]
                // Plain: printable ASCII but `"` and `\`, and any byte of a multi-byte character
                // but the lead byte of U+2028/U+2029.
                if byte >= 0x20, byte != 0x22, byte != 0x5c, byte != 0x7f, byte != 0xe2 {
                    index += 1
                    continue
                }
                let escape: StaticString
                var width = 1
                switch byte {
                case 0x22: escape = "\\\""
                case 0x5c: escape = "\\\\"
                case 0x0a: escape = "\\n"
                case 0x0d: escape = "\\r"
                case 0x09: escape = "\\t"
                case 0xe2 where index + 2 < count && bytes[index + 1] == 0x80 && (bytes[index + 2] == 0xa8 || bytes[index + 2] == 0xa9):
                    escape = bytes[index + 2] == 0xa8 ? "\\u2028" : "\\u2029"
                    width = 3
                case 0xe2:
                    index += 1
                    continue
                default:
                    // The other controls and DEL.
                    if index > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(contentsOf: Self.hexPair(byte))
                    index += 1
                    runStart = index
                    continue
                }
                if index > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
                escape.withUTF8Buffer { out.append(contentsOf: $0) }
                index += width
                runStart = index
            }
            if count > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexPair(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
    }
}
