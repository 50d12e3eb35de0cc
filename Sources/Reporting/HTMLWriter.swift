/// HTML built so that nothing from a report can become markup: element and attribute names are
/// `StaticString`s (literals in this module), and every text and attribute value passes through
/// `escape(_:)`. The only unescaped text is `trusted(_:)`, which also takes a `StaticString`:
/// the style sheet and the script, written in this module.
///
/// Hand-written rather than Plot 0.14.0: Plot writes attribute values verbatim
/// (`Attribute.render`: `name="value"`), and its text escaping passes through anything shaped
/// like an entity (`&lt;`, `&#60;`), so an upstream's `&lt;script&gt;` would be shown as
/// `<script>`: the evidence would be misquoted, and a value in an attribute could break out.
struct HTMLWriter {
    /// What has been written, as UTF-8: appending bytes is what keeps a page of a few
    /// megabytes cheap to build (a `String` append re-checks and re-counts on every call).
    private(set) var bytes: [UInt8] = []

    /// What has been written.
    var output: String { String(decoding: self.bytes, as: UTF8.self) }

    /// Bytes written so far (the page's size in UTF-8).
    var count: Int { self.bytes.count }

    /// An attribute: a literal name and a value from anywhere (escaped); `nil` leaves it out.
    typealias Attribute = (name: StaticString, value: String?)

    /// `<name attributes>body</name>`.
    mutating func element(_ name: StaticString, _ attributes: [Attribute] = [], _ body: (inout HTMLWriter) -> Void) {
        self.open(name, attributes)
        body(&self)
        self.close(name)
    }

    /// `<name attributes>text</name>`, the text escaped.
    mutating func element(_ name: StaticString, _ attributes: [Attribute] = [], text: String) {
        self.open(name, attributes)
        self.text(text)
        self.close(name)
    }

    /// An element without content, self-closed: an HTML void element such as `<meta />`, or
    /// an SVG one such as `<line />` (in SVG the `/` is what ends it: without it the HTML
    /// parser would nest what follows inside).
    mutating func void(_ name: StaticString, _ attributes: [Attribute] = []) {
        self.open(name, attributes, selfClosing: true)
    }

    /// Text, escaped.
    mutating func text(_ text: String) {
        Self.escape(text, into: &self.bytes)
    }

    /// Text given as UTF-8, escaped.
    mutating func text(utf8 text: [UInt8]) {
        text.withUnsafeBufferPointer { Self.escape(utf8: $0, into: &self.bytes) }
    }

    /// A number as text (digits need no escaping).
    mutating func text(_ number: Int) {
        Self.decimal(number, into: &self.bytes)
    }

    /// Text a formatter of this module writes straight into the page (`MarkdownReport.duration`):
    /// only ASCII digits, letters, spaces and dots, which need no escaping.
    mutating func formatted(_ write: (inout [UInt8]) -> Void) {
        write(&self.bytes)
    }

    /// Markup from this module's own literals (the doctype, the style sheet, the script).
    mutating func trusted(_ markup: StaticString) {
        Self.literal(markup, into: &self.bytes)
    }

    /// What `other` wrote (built by the same rules), appended.
    mutating func append(_ other: HTMLWriter) {
        self.bytes.append(contentsOf: other.bytes)
    }

    /// A line break in the source, for a person reading it.
    mutating func newline() {
        self.bytes.append(0x0a)
    }

    // The pieces of an element, for the diagrams' inner loops: `begin`, then attributes,
    // then `beginEnd` (or `selfClose`), then the content and `close`. Attribute values that
    // are numbers are written as digits, without a `String` in between.

    /// `<name`: an element's start tag, left open for its attributes.
    mutating func begin(_ name: StaticString) {
        self.bytes.append(UInt8(ascii: "<"))
        Self.literal(name, into: &self.bytes)
    }

    /// ` name="value"`, the value escaped.
    mutating func attribute(_ name: StaticString, _ value: String) {
        self.attributeName(name)
        Self.escape(value, into: &self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// ` name="value"` for a value from this module's own literals.
    mutating func attribute(_ name: StaticString, literal value: StaticString) {
        self.attributeName(name)
        Self.literal(value, into: &self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// ` name="123"`.
    mutating func attribute(_ name: StaticString, _ value: Int) {
        self.attributeName(name)
        Self.decimal(value, into: &self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// ` name="`: what every attribute starts with; its value and closing quote follow.
    private mutating func attributeName(_ name: StaticString) {
        self.bytes.append(UInt8(ascii: " "))
        Self.literal(name, into: &self.bytes)
        self.bytes.append(UInt8(ascii: "="))
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// ` name="`: an attribute whose value follows in pieces (`text`, `trusted`), then `endAttribute`.
    mutating func beginAttribute(_ name: StaticString) {
        self.bytes.append(UInt8(ascii: " "))
        Self.literal(name, into: &self.bytes)
        self.bytes.append(UInt8(ascii: "="))
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// The closing quote of an attribute `beginAttribute` opened.
    mutating func endAttribute() {
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// `>`: the end of a start tag `begin` opened.
    mutating func beginEnd() {
        self.bytes.append(UInt8(ascii: ">"))
    }

    /// ` />`: the end of an element without content that `begin` opened.
    mutating func selfClose() {
        self.bytes.append(contentsOf: " />".utf8)
    }

    private mutating func open(_ name: StaticString, _ attributes: [Attribute], selfClosing: Bool = false) {
        self.begin(name)
        for attribute in attributes {
            guard let value = attribute.value else { continue }
            self.attribute(attribute.name, value)
        }
        if selfClosing { self.selfClose() } else { self.beginEnd() }
    }

    /// `</name>`.
    mutating func close(_ name: StaticString) {
        self.bytes.append(UInt8(ascii: "<"))
        self.bytes.append(UInt8(ascii: "/"))
        Self.literal(name, into: &self.bytes)
        self.bytes.append(UInt8(ascii: ">"))
    }

    private static func literal(_ text: StaticString, into out: inout [UInt8]) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// `-12`, `345`: what `String(number)` gives, written straight into `out`.
    static func decimal(_ number: Int, into out: inout [UInt8]) {
        if number < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        // 20 digits hold any 64-bit magnitude.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// `&`, `<`, `>`, `"` and `'` as character references (safe in text and in quoted
    /// attribute values); C0 and C1 controls and DEL, which HTML cannot show, as `\xNN`.
    /// Scans the UTF-8 bytes: a run that needs nothing is copied whole.
    static func escape(_ text: String, into out: inout [UInt8]) {
        var text = text
        text.withUTF8 { Self.escape(utf8: $0, into: &out) }
    }

    /// `escape(_:into:)` for text given as UTF-8.
    static func escape(utf8 bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var runStart = 0
        var index = 0
        let end = bytes.count
        @inline(__always) func flush(_ upTo: Int) {
            if upTo > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<upTo])) }
        }
        @inline(__always) func control(_ value: UInt8) {
            let digits: StaticString = "0123456789abcdef"
            out.append(UInt8(ascii: "\\"))
            out.append(UInt8(ascii: "x"))
            out.append(digits.utf8Start[Int(value >> 4)])
            out.append(digits.utf8Start[Int(value & 0x0f)])
        }
        while index < end {
            let byte = bytes[index]
            // Everything from `?` up is plain, but DEL and the lead byte of U+0080-U+00BF.
            if byte >= 0x3f, byte != 0x7f, byte != 0xc2 {
                index += 1
                continue
            }
            let reference: StaticString
            switch byte {
            case 0x26: reference = "&amp;"
            case 0x3c: reference = "&lt;"
            case 0x3e: reference = "&gt;"
            case 0x22: reference = "&quot;"
            case 0x27: reference = "&#39;"
            case 0x0a, 0x09:
                index += 1
                continue
            case 0x00..<0x20, 0x7f:
                flush(index)
                control(byte)
                index += 1
                runStart = index
                continue
            case 0xc2:
                // U+0080-U+009F (C1 controls) are C2 80-C2 9F.
                if index + 1 < end, (0x80...0x9f).contains(bytes[index + 1]) {
                    flush(index)
                    control(bytes[index + 1])
                    index += 2
                    runStart = index
                } else {
                    index += 1
                }
                continue
            default:
                index += 1
                continue
            }
            flush(index)
            Self.literal(reference, into: &out)
            index += 1
            runStart = index
        }
        flush(end)
    }

    /// `text` escaped, as a string.
    static func escape(_ text: String) -> String {
        var out: [UInt8] = []
        self.escape(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
