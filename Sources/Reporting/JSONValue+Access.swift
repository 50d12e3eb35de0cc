extension JSONValue {
    /// The member named `key`, or `.null` when there is none or this is not an object.
    public subscript(key: String) -> JSONValue {
        guard case .object(let members) = self else { return .null }
        return members.first { $0.0 == key }?.1 ?? .null
    }

    /// The items of an array; empty for anything else.
    public var items: [JSONValue] {
        guard case .array(let items) = self else { return [] }
        return items
    }

    /// The members of an object, in order; empty for anything else.
    public var members: [(String, JSONValue)] {
        guard case .object(let members) = self else { return [] }
        return members
    }

    /// The text of a string.
    public var string: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    /// An integer that fits `Int` (a double only when it is a whole number in range).
    public var int: Int? {
        switch self {
        case .int(let value): return Int(exactly: value)
        case .uint(let value): return Int(exactly: value)
        case .double(let value): return value.isFinite ? Int(exactly: value) : nil
        case .null, .bool, .string, .array, .object: return nil
        }
    }

    /// Any finite number.
    public var double: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .uint(let value): return Double(value)
        case .double(let value): return value.isFinite ? value : nil
        case .null, .bool, .string, .array, .object: return nil
        }
    }

    /// A boolean.
    public var bool: Bool? {
        guard case .bool(let value) = self else { return nil }
        return value
    }

    /// Whether this is `null` (or missing, through the subscript).
    public var isNull: Bool {
        guard case .null = self else { return false }
        return true
    }

    /// A scalar as a person reads it: strings as they are, numbers in JSON form; `nil` for
    /// `null`, arrays and objects.
    public var text: String? {
        switch self {
        case .string(let value): return value
        case .int, .uint, .double, .bool: return self.serialized()
        case .null, .array, .object: return nil
        }
    }
}

/// The bytes of a lower-case or upper-case hex string (`7a7a0d0a`); `nil` when it is not one.
public func bytes(fromHex text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}
