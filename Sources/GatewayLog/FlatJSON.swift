/// Just enough JSON for Caddy's log lines: objects become dotted paths to their scalar values
/// (`request.remote_port`), arrays of strings their first element (`request.headers.X-Request-Id`).
struct FlatJSON {
    private(set) var values: [(path: String, value: String, isNumber: Bool)] = []
    private let bytes: [UInt8]
    private var index = 0

    /// `nil` when `text` is not one JSON object.
    init?(_ text: Substring) {
        self.bytes = Array(text.utf8)
        self.skipSpace()
        guard self.peek == UInt8(ascii: "{"), self.value(path: "") else { return nil }
        self.skipSpace()
        guard self.index == self.bytes.count else { return nil }
    }

    subscript(path: String) -> String? {
        self.values.first { $0.path == path }?.value
    }

    private var peek: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    private mutating func skipSpace() {
        while let byte = self.peek, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { self.index += 1 }
    }

    private mutating func value(path: String) -> Bool {
        self.skipSpace()
        guard let byte = self.peek else { return false }
        switch byte {
        case UInt8(ascii: "{"):
            self.index += 1
            self.skipSpace()
            if self.peek == UInt8(ascii: "}") { self.index += 1; return true }
            while true {
                self.skipSpace()
                guard let key = self.string() else { return false }
                self.skipSpace()
                guard self.peek == UInt8(ascii: ":") else { return false }
                self.index += 1
                guard self.value(path: path.isEmpty ? key : path + "." + key) else { return false }
                self.skipSpace()
                if self.peek == UInt8(ascii: ",") { self.index += 1; continue }
                guard self.peek == UInt8(ascii: "}") else { return false }
                self.index += 1
                return true
            }
        case UInt8(ascii: "["):
            self.index += 1
            self.skipSpace()
            if self.peek == UInt8(ascii: "]") { self.index += 1; return true }
            var first = true
            while true {
                let before = self.values.count
                guard self.value(path: path) else { return false }
                // Only the first element is kept under the array's path.
                if !first { self.values.removeSubrange(before...) }
                first = false
                self.skipSpace()
                if self.peek == UInt8(ascii: ",") { self.index += 1; continue }
                guard self.peek == UInt8(ascii: "]") else { return false }
                self.index += 1
                return true
            }
        case UInt8(ascii: "\""):
            guard let text = self.string() else { return false }
            self.values.append((path, text, false))
            return true
        default:
            let start = self.index
            while let byte = self.peek, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), byte != UInt8(ascii: "]"),
                  byte != 0x20, byte != 0x0a, byte != 0x0d, byte != 0x09 {
                self.index += 1
            }
            guard self.index > start else { return false }
            let text = String(decoding: self.bytes[start..<self.index], as: UTF8.self)
            guard text == "true" || text == "false" || text == "null" || Double(text) != nil else { return false }
            self.values.append((path, text, Double(text) != nil))
            return true
        }
    }

    private mutating func string() -> String? {
        guard self.peek == UInt8(ascii: "\"") else { return nil }
        self.index += 1
        var out: [UInt8] = []
        while let byte = self.peek {
            self.index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = self.peek else { return nil }
                self.index += 1
                switch escaped {
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "b"), UInt8(ascii: "f"): out.append(0x20)
                case UInt8(ascii: "u"):
                    guard self.index + 4 <= self.bytes.count,
                          let code = UInt32(String(decoding: self.bytes[self.index..<(self.index + 4)], as: UTF8.self), radix: 16)
                    else { return nil }
                    self.index += 4
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(code) ?? "\u{FFFD}")).utf8))
                default: out.append(escaped)
                }
            default:
                out.append(byte)
            }
        }
        return nil
    }
}
