/// The Prometheus text exposition format, version 0.0.4, as node_exporter's textfile
/// collector reads it:
///
/// ```
/// # HELP edgescope_failures_total Failing upstream connections, by upstream, root cause and class.
/// # TYPE edgescope_failures_total counter
/// edgescope_failures_total{upstream="10.0.3.24:8080",code="tcp.rst_before_response",class="502"} 3
/// ```
///
/// Families are sorted by name and samples by label values (byte order), so the same metrics
/// always give the same text; no sample carries a timestamp (node_exporter rejects them).
public enum PrometheusText {
    /// The text of `families`, every line ending in a line feed.
    public static func encode(_ families: [MetricFamily]) -> String {
        var text = ""
        for family in families.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            precondition(Self.isMetricName(family.name), "not a metric name: \(family.name)")
            precondition(family.kind != .counter || family.name.hasSuffix("_total"), "a counter's name ends in _total: \(family.name)")
            text += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n"
            text += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            let samples = family.samples.sorted { a, b in
                a.labels.lazy.map(\.value.utf8).lexicographicallyPrecedes(b.labels.lazy.map(\.value.utf8)) {
                    $0.lexicographicallyPrecedes($1)
                }
            }
            for sample in samples {
                text += family.name
                if !sample.labels.isEmpty {
                    text += "{"
                    for (index, label) in sample.labels.enumerated() {
                        precondition(Self.isLabelName(label.name), "not a label name: \(label.name)")
                        text += index == 0 ? "" : ","
                        text += "\(label.name)=\"\(Self.escapeLabelValue(label.value))\""
                    }
                    text += "}"
                }
                text += " \(Self.format(sample.value))\n"
            }
        }
        return text
    }

    /// A label value as the format quotes it: backslash, double quote and line feed escaped
    /// (`\\`, `\"`, `\n`); everything else, non-ASCII included, as UTF-8.
    public static func escapeLabelValue(_ value: String) -> String {
        Self.escape(value, quote: true)
    }

    /// HELP text as the format writes it: backslash and line feed escaped (`\\`, `\n`).
    public static func escapeHelp(_ help: String) -> String {
        Self.escape(help, quote: false)
    }

    /// A value as Go's `strconv.ParseFloat` reads it: whole numbers without a fraction
    /// (`42`, not `42.0`), others in shortest round-trip form (`0.25`, `1.5e-07`), and
    /// `+Inf`, `-Inf`, `NaN`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        // Below 2^53 every whole double is exact as an Int64; beyond it, the exponent form is shorter.
        if value == value.rounded(.towardZero), abs(value) < 9_007_199_254_740_992 {
            return String(Int64(value))
        }
        return value.description
    }

    private static func escape(_ text: String, quote: Bool) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || (quote && $0 == UInt8(ascii: "\"")) }) else {
            return text
        }
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count + 8)
        for character in text.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\"" where quote: escaped += "\\\""
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    static func isMetricName(_ name: String) -> Bool {
        Self.isName(name, colons: true)
    }

    static func isLabelName(_ name: String) -> Bool {
        Self.isName(name, colons: false)
    }

    private static func isName(_ name: String, colons: Bool) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                return true
            case UInt8(ascii: ":"):
                return colons
            default:
                return false
            }
        }
    }
}
