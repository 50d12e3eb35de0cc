/// Why a text is not JSON, and where.
public struct JSONParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// 1-based line of the offending byte.
    public var line: Int
    /// 1-based column (in bytes) of the offending byte.
    public var column: Int
    /// What is wrong there.
    public var reason: String

    /// `line 3, column 7: expected ':' after an object key`.
    public var description: String { "line \(self.line), column \(self.column): \(self.reason)" }
}

extension JSONValue {
    /// Deepest nesting accepted: a hostile file cannot exhaust the stack.
    public static let maximumParsingDepth = 256

    /// Parses RFC 8259 JSON, keeping object keys in file order and integers apart from doubles
    /// (`5` is `.int`, `18446744073709551615` is `.uint`, `5.0` is `.double`), so that
    /// `JSONValue(parsing: value.serialized()) == value` for every value `serialized()` writes.
    public init(parsing text: String) throws(JSONParseError) {
        var parser = Parser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected text after the document") }
        self = value
    }
}

private struct Parser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func error(_ reason: String) -> JSONParseError {
        var line = 1
        var lineStart = 0
        for position in 0..<min(self.index, self.bytes.count) where self.bytes[position] == UInt8(ascii: "\n") {
            line += 1
            lineStart = position + 1
        }
        return JSONParseError(line: line, column: self.index - lineStart + 1, reason: reason)
    }

    var current: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    mutating func skipWhitespace() {
        while let byte = self.current, byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09 {
            self.index += 1
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < JSONValue.maximumParsingDepth else { throw self.error("nested deeper than \(JSONValue.maximumParsingDepth) levels") }
        guard let byte = self.current else { throw self.error("unexpected end of text, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try self.object(depth: depth)
        case UInt8(ascii: "["): return try self.array(depth: depth)
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"): return try self.literal("true", .bool(true))
        case UInt8(ascii: "f"): return try self.literal("false", .bool(false))
        case UInt8(ascii: "n"): return try self.literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.number()
        default: throw self.error("unexpected character, expected a value")
        }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
        for expected in word.utf8 {
            guard self.current == expected else { throw self.error("invalid literal, expected '\(word)'") }
            self.index += 1
        }
        return value
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        self.index += 1  // {
        var members: [(String, JSONValue)] = []
        self.skipWhitespace()
        if self.current == UInt8(ascii: "}") {
            self.index += 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.current == UInt8(ascii: "\"") else { throw self.error("expected a string key") }
            let key = try self.string()
            self.skipWhitespace()
            guard self.current == UInt8(ascii: ":") else { throw self.error("expected ':' after an object key") }
            self.index += 1
            self.skipWhitespace()
            members.append((key, try self.value(depth: depth + 1)))
            self.skipWhitespace()
            switch self.current {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "}"):
                self.index += 1
                return .object(members)
            default: throw self.error("expected ',' or '}' in an object")
            }
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        self.index += 1  // [
        var items: [JSONValue] = []
        self.skipWhitespace()
        if self.current == UInt8(ascii: "]") {
            self.index += 1
            return .array(items)
        }
        while true {
            self.skipWhitespace()
            items.append(try self.value(depth: depth + 1))
            self.skipWhitespace()
            switch self.current {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                return .array(items)
            default: throw self.error("expected ',' or ']' in an array")
            }
        }
    }

    /// RFC 8259 §7: escapes, `\u` pairs for characters beyond the BMP; control bytes must be escaped.
    mutating func string() throws(JSONParseError) -> String {
        self.index += 1  // opening quote
        var out = ""
        var runStart = self.index
        while true {
            guard let byte = self.current else { throw self.error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                out += String(decoding: self.bytes[runStart..<self.index], as: UTF8.self)
                self.index += 1
                return out
            case UInt8(ascii: "\\"):
                out += String(decoding: self.bytes[runStart..<self.index], as: UTF8.self)
                self.index += 1
                out.unicodeScalars.append(try self.escape())
                runStart = self.index
            case 0x00..<0x20:
                throw self.error("control character in a string")
            default:
                self.index += 1
            }
        }
    }

    mutating func escape() throws(JSONParseError) -> Unicode.Scalar {
        guard let byte = self.current else { throw self.error("unterminated escape") }
        self.index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try self.hexUnit()
            if (0xD800..<0xDC00).contains(unit) {
                guard self.current == UInt8(ascii: "\\"), self.index + 1 < self.bytes.count, self.bytes[self.index + 1] == UInt8(ascii: "u")
                else { throw self.error("unpaired surrogate in \\u escape") }
                self.index += 2
                let low = try self.hexUnit()
                guard (0xDC00..<0xE000).contains(low) else { throw self.error("unpaired surrogate in \\u escape") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!  // in 0x10000...0x10FFFF
            }
            guard let scalar = Unicode.Scalar(unit) else { throw self.error("unpaired surrogate in \\u escape") }
            return scalar
        default:
            self.index -= 1
            throw self.error("invalid escape")
        }
    }

    mutating func hexUnit() throws(JSONParseError) -> UInt32 {
        var unit: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = self.current else { throw self.error("unterminated \\u escape") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw self.error("invalid hex digit in \\u escape")
            }
            unit = unit << 4 | digit
            self.index += 1
        }
        return unit
    }

    /// RFC 8259 §6. Integers stay integers: `.int` when they fit Int64, else `.uint`, else `.double`.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = self.index
        var isInteger = true
        if self.current == UInt8(ascii: "-") { self.index += 1 }
        guard let first = self.current, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            throw self.error("expected a digit")
        }
        if first == UInt8(ascii: "0") {
            self.index += 1
        } else {
            self.skipDigits()
        }
        if self.current == UInt8(ascii: ".") {
            isInteger = false
            self.index += 1
            guard self.skipDigits() > 0 else { throw self.error("expected a digit after '.'") }
        }
        if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
            isInteger = false
            self.index += 1
            if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.index += 1 }
            guard self.skipDigits() > 0 else { throw self.error("expected a digit in the exponent") }
        }
        let text = String(decoding: self.bytes[start..<self.index], as: UTF8.self)
        if isInteger {
            if let value = Int64(text) { return .int(value) }
            if let value = UInt64(text) { return .uint(value) }
        }
        guard let value = Double(text) else { throw self.error("number out of range") }
        return .double(value)
    }

    @discardableResult
    mutating func skipDigits() -> Int {
        let start = self.index
        while let byte = self.current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            self.index += 1
        }
        return self.index - start
    }
}
