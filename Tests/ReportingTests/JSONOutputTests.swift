import CaptureModel
import Reporting
import Testing

@Suite struct JSONOutputTests {
    /// One description, written to either output: empty and nested containers, a one-letter
    /// key, strings that need escaping, every kind of number, and times around a second's edge.
    static func describe<Output: JSONOutput>(_ out: inout Output) {
        out.beginObject()
        out.key("a")
        out.string("quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7f} line separator \u{2028} é")
        out.key("empty_array")
        out.beginArray()
        out.endArray()
        out.key("empty_object")
        out.beginObject()
        out.endObject()
        out.key("numbers")
        out.beginArray()
        out.number(0)
        out.number(-12)
        out.number(Int64.min)
        out.number(UInt64.max)
        out.double(12.5)
        out.double(1e-7)
        out.double(.infinity)
        out.bool(true)
        out.null()
        out.endArray()
        out.key("times")
        out.beginArray()
        for nanoseconds: Int64 in [0, 999_999_999, 1_000_000_000, 1_776_075_462_000_000_001, 1_776_075_462_999_999_999, -1, -1_000_000_001] {
            out.time(Timestamp(nanoseconds: nanoseconds))
        }
        out.endArray()
        out.key("nested")
        out.beginArray()
        out.beginObject()
        out.key("inner")
        out.beginArray()
        out.beginArray()
        out.endArray()
        out.string("x")
        out.endArray()
        out.endObject()
        out.endArray()
        out.endObject()
    }

    @Test(arguments: [0, 2, 31, 32, 40])
    func prettyTextIsTheTreePrettyPrinted(level: Int) {
        var tree = JSONTreeBuilder()
        Self.describe(&tree)
        var expected: [UInt8] = []
        tree.value.write(into: &expected, pretty: true, level: level)
        var writer = PrettyJSONWriter(level: level)
        Self.describe(&writer)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        // The tree holds the times as `rfc3339` writes them.
        #expect(tree.value["times"].items.compactMap(\.string) == [0, 999_999_999, 1_000_000_000, 1_776_075_462_000_000_001, 1_776_075_462_999_999_999, -1, -1_000_000_001].map { Timestamp(nanoseconds: $0).rfc3339 })
        // A reset writer writes the same again.
        writer.reset(level: level)
        Self.describe(&writer)
        #expect(writer.bytes == expected)
    }
}
