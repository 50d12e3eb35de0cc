/// Where a JSON document is written as it is walked: `JSONReport` describes a connection once,
/// and the same description becomes either a `JSONValue` tree (`JSONTreeBuilder`, for the
/// reports that read it back) or pretty-printed bytes (`PrettyJSONWriter`, for report.json,
/// without a tree in between).
///
/// A value is a scalar, or `beginObject` … `endObject` / `beginArray` … `endArray` around
/// what it holds; in an object, `key` comes before each value.
public protocol JSONOutput {
    /// `{`: an object, whose members follow as `key` then value.
    mutating func beginObject()
    /// `}`.
    mutating func endObject()
    /// `[`: an array, whose items follow.
    mutating func beginArray()
    /// `]`.
    mutating func endArray()
    /// The name of the member whose value comes next.
    mutating func key(_ key: String)
    /// A string.
    mutating func string(_ value: String)
    /// An integer (as `JSONValue.number`: `int` when it fits `Int64`, else `uint`).
    mutating func integer(_ value: Int64)
    /// An integer above `Int64.max`.
    mutating func unsigned(_ value: UInt64)
    /// A double (as `JSONValue.double`).
    mutating func double(_ value: Double)
    /// `true` or `false`.
    mutating func bool(_ value: Bool)
    /// `null`.
    mutating func null()
}

extension JSONOutput {
    /// An integer value, as `JSONValue.number` holds it.
    @inline(__always)
    public mutating func number<T: BinaryInteger>(_ value: T) {
        if let signed = Int64(exactly: value) {
            self.integer(signed)
        } else {
            self.unsigned(UInt64(clamping: value))
        }
    }

    /// `"key": "value"`.
    mutating func member(_ key: String, _ value: String) {
        self.key(key)
        self.string(value)
    }

    /// `"key": "value"`, or `"key": null` when `nil` (as `JSONValue.optional`).
    mutating func member(_ key: String, _ value: String?) {
        self.key(key)
        if let value { self.string(value) } else { self.null() }
    }

    /// `"key": 12`.
    mutating func member<T: BinaryInteger>(_ key: String, number value: T) {
        self.key(key)
        self.number(value)
    }

    /// `"key": 12`, or `"key": null` when `nil`.
    mutating func member<T: BinaryInteger>(_ key: String, number value: T?) {
        self.key(key)
        if let value { self.number(value) } else { self.null() }
    }

    /// `"key": true`.
    mutating func member(_ key: String, bool value: Bool) {
        self.key(key)
        self.bool(value)
    }

    /// `"key": { … }`, the members written by `body`.
    mutating func object(_ key: String, _ body: (inout Self) -> Void) {
        self.key(key)
        self.beginObject()
        body(&self)
        self.endObject()
    }

    /// `"key": [ … ]`, the items written by `body`.
    mutating func array(_ key: String, _ body: (inout Self) -> Void) {
        self.key(key)
        self.beginArray()
        body(&self)
        self.endArray()
    }

    /// `{ … }` as a value, the members written by `body`.
    mutating func object(_ body: (inout Self) -> Void) {
        self.beginObject()
        body(&self)
        self.endObject()
    }
}

/// Builds the `JSONValue` tree of what is written.
public struct JSONTreeBuilder: JSONOutput {
    private enum Container {
        case object([(String, JSONValue)], key: String?)
        case array([JSONValue])
    }

    private var stack: [Container] = []
    /// The value written, once its outermost container is closed (or its one scalar written).
    public private(set) var value: JSONValue = .null

    /// An empty builder.
    public init() {}

    private mutating func add(_ value: JSONValue) {
        guard let top = self.stack.popLast() else {
            self.value = value
            return
        }
        switch top {
        case .object(var members, let key):
            guard let key else { preconditionFailure("a JSON object member without a key") }
            members.append((key, value))
            self.stack.append(.object(members, key: nil))
        case .array(var items):
            items.append(value)
            self.stack.append(.array(items))
        }
    }

    public mutating func beginObject() { self.stack.append(.object([], key: nil)) }

    public mutating func endObject() {
        guard case .object(let members, _) = self.stack.popLast() else { preconditionFailure("endObject without beginObject") }
        self.add(.object(members))
    }

    public mutating func beginArray() { self.stack.append(.array([])) }

    public mutating func endArray() {
        guard case .array(let items) = self.stack.popLast() else { preconditionFailure("endArray without beginArray") }
        self.add(.array(items))
    }

    public mutating func key(_ key: String) {
        guard case .object(let members, _) = self.stack.popLast() else { preconditionFailure("a key outside an object") }
        self.stack.append(.object(members, key: key))
    }

    public mutating func string(_ value: String) { self.add(.string(value)) }
    public mutating func integer(_ value: Int64) { self.add(.int(value)) }
    public mutating func unsigned(_ value: UInt64) { self.add(.uint(value)) }
    public mutating func double(_ value: Double) { self.add(.double(value)) }
    public mutating func bool(_ value: Bool) { self.add(.bool(value)) }
    public mutating func null() { self.add(.null) }
}

/// Appends what is written to `bytes` exactly as `JSONValue.write(into:pretty: true, level:)`
/// would write the same tree: two spaces of indent a level, `"key": value`, `[]` and `{}`
/// when empty.
public struct PrettyJSONWriter: JSONOutput {
    /// The text so far.
    public var bytes: [UInt8] = []
    /// How deep the value written sits in its document.
    public var level: Int
    /// Open containers: whether each is an object, and how many entries it has so far.
    private var open: [(isObject: Bool, count: Int)] = []

    /// A writer for a value `level` levels deep in a pretty-printed document.
    public init(level: Int = 0) {
        self.level = level
    }

    /// Clears the text for the next value, keeping the storage.
    public mutating func reset(level: Int) {
        self.bytes.removeAll(keepingCapacity: true)
        self.open.removeAll(keepingCapacity: true)
        self.level = level
    }

    private mutating func newline(_ level: Int) {
        self.bytes.append(0x0a)
        self.bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }

    /// Before a value: in an array, the comma and the new line it starts on.
    @inline(__always)
    private mutating func item() {
        guard let last = self.open.indices.last, !self.open[last].isObject else { return }
        if self.open[last].count > 0 { self.bytes.append(UInt8(ascii: ",")) }
        self.open[last].count += 1
        self.newline(self.level + self.open.count)
    }

    private mutating func end(_ close: UInt8) {
        guard let last = self.open.popLast() else { preconditionFailure("a container closed that was not opened") }
        if last.count > 0 { self.newline(self.level + self.open.count) }
        self.bytes.append(close)
    }

    public mutating func beginObject() {
        self.item()
        self.bytes.append(UInt8(ascii: "{"))
        self.open.append((true, 0))
    }

    public mutating func endObject() { self.end(UInt8(ascii: "}")) }

    public mutating func beginArray() {
        self.item()
        self.bytes.append(UInt8(ascii: "["))
        self.open.append((false, 0))
    }

    public mutating func endArray() { self.end(UInt8(ascii: "]")) }

    public mutating func key(_ key: String) {
        guard let last = self.open.indices.last, self.open[last].isObject else { preconditionFailure("a key outside an object") }
        if self.open[last].count > 0 { self.bytes.append(UInt8(ascii: ",")) }
        self.open[last].count += 1
        self.newline(self.level + self.open.count)
        JSONValue.writeString(key, into: &self.bytes)
        self.bytes.append(UInt8(ascii: ":"))
        self.bytes.append(UInt8(ascii: " "))
    }

    public mutating func string(_ value: String) {
        self.item()
        JSONValue.writeString(value, into: &self.bytes)
    }

    public mutating func integer(_ value: Int64) {
        self.item()
        HTMLWriter.decimal(Int(value), into: &self.bytes)
    }

    public mutating func unsigned(_ value: UInt64) {
        self.item()
        self.bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func double(_ value: Double) {
        self.item()
        self.bytes.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
    }

    public mutating func bool(_ value: Bool) {
        self.item()
        self.bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        self.item()
        self.bytes.append(contentsOf: "null".utf8)
    }
}
