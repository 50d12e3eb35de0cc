import CaptureModel

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
    /// The name of the member whose value comes next (a literal: `JSONReport` names every member).
    mutating func key(_ key: StaticString)
    /// The next member's key, made at run time (a gateway log's field names); escaped as needed.
    mutating func key(text: String)
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
    /// A time as a string, in `Timestamp.rfc3339` form.
    mutating func time(_ value: Timestamp)
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
    mutating func member(_ key: StaticString, _ value: String) {
        self.key(key)
        self.string(value)
    }

    /// `"key": "value"`, or `"key": null` when `nil` (as `JSONValue.optional`).
    mutating func member(_ key: StaticString, _ value: String?) {
        self.key(key)
        if let value { self.string(value) } else { self.null() }
    }

    /// `"key": 12`.
    mutating func member<T: BinaryInteger>(_ key: StaticString, number value: T) {
        self.key(key)
        self.number(value)
    }

    /// `"key": 12`, or `"key": null` when `nil`.
    mutating func member<T: BinaryInteger>(_ key: StaticString, number value: T?) {
        self.key(key)
        if let value { self.number(value) } else { self.null() }
    }

    /// `"key": true`.
    mutating func member(_ key: StaticString, bool value: Bool) {
        self.key(key)
        self.bool(value)
    }

    /// `"key": { … }`, the members written by `body`.
    mutating func object(_ key: StaticString, _ body: (inout Self) -> Void) {
        self.key(key)
        self.beginObject()
        body(&self)
        self.endObject()
    }

    /// `"key": [ … ]`, the items written by `body`.
    mutating func array(_ key: StaticString, _ body: (inout Self) -> Void) {
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
    /// Open containers, innermost last: whether each is an object.
    private var isObject: [Bool] = []
    /// The open objects' members, and the open arrays' items, innermost last.
    private var objects: [[(String, JSONValue)]] = []
    private var arrays: [[JSONValue]] = []
    /// The key of the member whose value comes next.
    private var pendingKey: String?
    private var times = RFC3339Text()
    /// For each open container, the key it is the value of in its parent object (if any).
    private var containerKeys: [String?] = []
    /// The value written, once its outermost container is closed (or its one scalar written).
    public private(set) var value: JSONValue = .null

    /// An empty builder.
    public init() {}

    private mutating func add(_ value: JSONValue) {
        guard let isObject = self.isObject.last else {
            self.value = value
            return
        }
        if isObject {
            guard let key = self.pendingKey else { preconditionFailure("a JSON object member without a key") }
            self.pendingKey = nil
            self.objects[self.objects.count - 1].append((key, value))
        } else {
            self.arrays[self.arrays.count - 1].append(value)
        }
    }

    public mutating func beginObject() {
        self.containerKeys.append(self.pendingKey)
        self.pendingKey = nil
        self.isObject.append(true)
        self.objects.append([])
    }

    public mutating func endObject() {
        guard self.isObject.popLast() == true, let members = self.objects.popLast(), let key = self.containerKeys.popLast()
        else { preconditionFailure("endObject without beginObject") }
        self.pendingKey = key
        self.add(.object(members))
    }

    public mutating func beginArray() {
        self.containerKeys.append(self.pendingKey)
        self.pendingKey = nil
        self.isObject.append(false)
        self.arrays.append([])
    }

    public mutating func endArray() {
        guard self.isObject.popLast() == false, let items = self.arrays.popLast(), let key = self.containerKeys.popLast()
        else { preconditionFailure("endArray without beginArray") }
        self.pendingKey = key
        self.add(.array(items))
    }

    public mutating func key(_ key: StaticString) {
        guard self.isObject.last == true else { preconditionFailure("a key outside an object") }
        self.pendingKey = key.description
    }

    public mutating func key(text: String) {
        guard self.isObject.last == true else { preconditionFailure("a key outside an object") }
        self.pendingKey = text
    }

    public mutating func string(_ value: String) { self.add(.string(value)) }
    public mutating func integer(_ value: Int64) { self.add(.int(value)) }
    public mutating func unsigned(_ value: UInt64) { self.add(.uint(value)) }
    public mutating func double(_ value: Double) { self.add(.double(value)) }
    public mutating func bool(_ value: Bool) { self.add(.bool(value)) }
    public mutating func null() { self.add(.null) }
    public mutating func time(_ value: Timestamp) {
        var text: [UInt8] = []
        text.reserveCapacity(32)
        self.times.append(value, to: &text)
        self.add(.string(String(decoding: text, as: UTF8.self)))
    }
}

/// Appends what is written to `bytes` exactly as `JSONValue.write(into:pretty: true, level:)`
/// would write the same tree: two spaces of indent a level, `"key": value`, `[]` and `{}`
/// when empty.
public struct PrettyJSONWriter: JSONOutput {
    /// The text so far.
    public var bytes: [UInt8] = []
    /// How deep the value written sits in its document.
    public var level: Int
    /// Open containers, as bits (the innermost is bit `depth - 1`): whether each is an
    /// object, and whether it has an entry yet. 64 levels are more than any report nests.
    private var depth = 0
    private var objects: UInt64 = 0
    private var filled: UInt64 = 0
    private var times = RFC3339Text()

    /// A writer for a value `level` levels deep in a pretty-printed document.
    public init(level: Int = 0) {
        self.level = level
    }

    /// Clears the text for the next value, keeping the storage.
    public mutating func reset(level: Int) {
        self.bytes.removeAll(keepingCapacity: true)
        self.depth = 0
        self.objects = 0
        self.filled = 0
        self.level = level
    }

    private static let indent: StaticString = "\n                                                                "

    private mutating func newline(_ level: Int) {
        let width = 2 * level
        if width < Self.indent.utf8CodeUnitCount {
            Self.indent.withUTF8Buffer { self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0...width])) }
        } else {
            self.bytes.append(0x0a)
            self.bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: width))
        }
    }

    /// Starts an entry of the innermost container: its comma and new line.
    @inline(__always)
    private mutating func entry() {
        let bit: UInt64 = 1 << UInt64(self.depth - 1)
        if self.filled & bit != 0 { self.bytes.append(UInt8(ascii: ",")) }
        self.filled |= bit
        self.newline(self.level + self.depth)
    }

    /// Before a value: in an array, the comma and the new line it starts on.
    @inline(__always)
    private mutating func item() {
        guard self.depth > 0, self.objects & (1 << UInt64(self.depth - 1)) == 0 else { return }
        self.entry()
    }

    private mutating func begin(_ open: UInt8, isObject: Bool) {
        self.item()
        self.bytes.append(open)
        guard self.depth < 64 else { preconditionFailure("JSON nested deeper than 64 levels") }
        let bit: UInt64 = 1 << UInt64(self.depth)
        if isObject { self.objects |= bit } else { self.objects &= ~bit }
        self.filled &= ~bit
        self.depth += 1
    }

    private mutating func end(_ close: UInt8) {
        guard self.depth > 0 else { preconditionFailure("a container closed that was not opened") }
        self.depth -= 1
        if self.filled & (1 << UInt64(self.depth)) != 0 { self.newline(self.level + self.depth) }
        self.bytes.append(close)
    }

    public mutating func beginObject() { self.begin(UInt8(ascii: "{"), isObject: true) }
    public mutating func endObject() { self.end(UInt8(ascii: "}")) }
    public mutating func beginArray() { self.begin(UInt8(ascii: "["), isObject: false) }
    public mutating func endArray() { self.end(UInt8(ascii: "]")) }

    public mutating func key(_ key: StaticString) {
        guard self.depth > 0, self.objects & (1 << UInt64(self.depth - 1)) != 0 else { preconditionFailure("a key outside an object") }
        key.withUTF8Buffer { self.key(utf8: $0) }
    }

    /// `,` new line, indent, `"key": `, gathered on the stack and appended at once.
    /// `JSONReport`'s member names are plain ASCII words: nothing in them needs escaping.
    private mutating func key(utf8 name: UnsafeBufferPointer<UInt8>) {
        let indent = 2 * (self.level + self.depth)
        let length = 1 + 1 + indent + 1 + name.count + 3
        guard indent < Self.indent.utf8CodeUnitCount, length <= 256, let source = name.baseAddress else {
            self.entry()
            self.bytes.append(UInt8(ascii: "\""))
            self.bytes.append(contentsOf: name)
            Self.keyEnd.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
            return
        }
        let bit: UInt64 = 1 << UInt64(self.depth - 1)
        let comma = self.filled & bit != 0
        self.filled |= bit
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { buffer in
            let base = buffer.baseAddress!
            var at = 0
            if comma {
                base[at] = UInt8(ascii: ",")
                at += 1
            }
            Self.indent.withUTF8Buffer { lines in (base + at).update(from: lines.baseAddress!, count: indent + 1) }
            at += indent + 1
            base[at] = UInt8(ascii: "\"")
            (base + at + 1).update(from: source, count: name.count)
            at += 1 + name.count
            base[at] = UInt8(ascii: "\"")
            base[at + 1] = UInt8(ascii: ":")
            base[at + 2] = UInt8(ascii: " ")
            self.bytes.append(contentsOf: UnsafeBufferPointer(start: base, count: at + 3))
        }
    }

    private static let keyEnd: StaticString = "\": "

    public mutating func key(text: String) {
        guard self.depth > 0, self.objects & (1 << UInt64(self.depth - 1)) != 0 else { preconditionFailure("a key outside an object") }
        self.entry()
        JSONValue.writeString(text, into: &self.bytes)
        self.bytes.append(contentsOf: ": ".utf8)
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

    public mutating func time(_ value: Timestamp) {
        self.item()
        self.bytes.append(UInt8(ascii: "\""))
        self.times.append(value, to: &self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }
}

/// `Timestamp.rfc3339` as UTF-8, without building the text anew for each time: what comes
/// before the fraction (`2026-04-13T10:17:42.`) depends on the second alone, and a
/// connection's times mostly share their second.
struct RFC3339Text {
    private var second: Int64?
    private var prefix: [UInt8] = []

    /// Appends `time.rfc3339`'s bytes to `out`.
    mutating func append(_ time: Timestamp, to out: inout [UInt8]) {
        // The second and fraction as `rfc3339` splits them.
        var second = time.nanoseconds / 1_000_000_000
        var fraction = time.nanoseconds % 1_000_000_000
        if fraction < 0 {
            fraction += 1_000_000_000
            second -= 1
        }
        if second != self.second {
            // The text ends with the fraction's nine digits and `Z`.
            self.second = second
            self.prefix = Array(time.rfc3339.utf8.dropLast(10))
        }
        out.append(contentsOf: self.prefix)
        MarkdownReport.pad(fraction, 9, into: &out)
        out.append(UInt8(ascii: "Z"))
    }
}
