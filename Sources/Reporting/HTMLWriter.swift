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
    /// What has been written.
    private(set) var output = ""

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
        Self.escape(text, into: &self.output)
    }

    /// Markup from this module's own literals (the doctype, the style sheet, the script).
    mutating func trusted(_ markup: StaticString) {
        self.output += markup.description
    }

    /// What `other` wrote (built by the same rules), appended.
    mutating func append(_ other: HTMLWriter) {
        self.output += other.output
    }

    /// A line break in the source, for a person reading it.
    mutating func newline() {
        self.output += "\n"
    }

    private mutating func open(_ name: StaticString, _ attributes: [Attribute], selfClosing: Bool = false) {
        self.output += "<" + name.description
        for attribute in attributes {
            guard let value = attribute.value else { continue }
            self.output += " " + attribute.name.description + "=\""
            Self.escape(value, into: &self.output)
            self.output += "\""
        }
        self.output += selfClosing ? " />" : ">"
    }

    private mutating func close(_ name: StaticString) {
        self.output += "</" + name.description + ">"
    }

    /// `&`, `<`, `>`, `"` and `'` as character references (safe in text and in quoted
    /// attribute values); C0 and C1 controls and DEL, which HTML cannot show, as `\xNN`.
    static func escape(_ text: String, into out: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
    }

    /// `text` escaped, as a string.
    static func escape(_ text: String) -> String {
        var out = ""
        self.escape(text, into: &out)
        return out
    }
}
