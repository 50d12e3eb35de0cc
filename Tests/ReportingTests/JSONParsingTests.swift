import CaptureModel
@testable import Reporting
import Testing

@Suite struct JSONParsingTests {
    /// Every kind the writer produces, in an order the parser must keep.
    static let sample: JSONValue = .object([
        ("schema", .string("edgescope.report/1")),
        ("zulu", .int(1)),
        ("alpha", .int(-9_223_372_036_854_775_808)),
        ("int_max", .int(9_223_372_036_854_775_807)),
        ("uint", .uint(18_446_744_073_709_551_615)),
        ("whole_double", .double(5)),
        ("small", .double(1e-05)),
        ("large", .double(1.5e300)),
        ("negative_zero", .double(-0.0)),
        ("rtt", .double(8.123)),
        ("text", .string("quote \" backslash \\ slash / tab \t nl \n cr \r nul \u{0} del \u{7f} ls \u{2028} é 日本 😀")),
        ("empty", .string("")),
        ("null", .null),
        ("flags", .array([.bool(true), .bool(false), .array([]), .object([])])),
        ("nested", .object([("b", .array([.object([("a", .int(0)), ("a", .int(1))])]))])),
    ])

    @Test(arguments: [true, false])
    func parsingWhatWasWrittenGivesTheSameValue(pretty: Bool) throws {
        let text = Self.sample.serialized(pretty: pretty)
        let parsed = try JSONValue(parsing: text)
        #expect(parsed == Self.sample)
        #expect(parsed.serialized(pretty: pretty) == text)
        // Order and kinds, not just equal text.
        #expect(parsed.members.map(\.0) == Self.sample.members.map(\.0))
        guard case .int = parsed["zulu"], case .uint = parsed["uint"], case .double(let five) = parsed["whole_double"] else {
            Issue.record("number kinds changed: \(parsed.serialized())")
            return
        }
        #expect(five == 5)
        #expect(parsed["nested"]["b"].items.first?.members.map(\.0) == ["a", "a"])
    }

    @Test(arguments: [
        (#""\ud83d\ude00""#, JSONValue.string("😀")),
        (#""\u00E9\u0041\/""#, .string("éA/")),
        (" [ 1 , -2 , 3.0e2 ] ", .array([.int(1), .int(-2), .double(300)])),
        ("18446744073709551616", .double(18_446_744_073_709_551_616)),
        ("-0.0", .double(-0.0)),
    ])
    func readsEscapesAndNumbers(text: String, value: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == value)
    }

    @Test(arguments: [
        ("{\n  \"a\": tru\n}", 2, 11, "invalid literal, expected 'true'"),
        ("[1,]", 1, 4, "unexpected character, expected a value"),
        ("{\"a\" 1}", 1, 6, "expected ':' after an object key"),
        ("\"open", 1, 6, "unterminated string"),
        ("\"a\u{1}b\"", 1, 3, "control character in a string"),
        ("01", 1, 2, "unexpected text after the document"),
        ("1.", 1, 3, "expected a digit after '.'"),
        (#""\ud800x""#, 1, 8, "unpaired surrogate in \\u escape"),
        (#""\q""#, 1, 3, "invalid escape"),
        ("", 1, 1, "unexpected end of text, expected a value"),
    ])
    func rejectsBrokenTextNamingWhere(text: String, line: Int, column: Int, reason: String) {
        #expect(throws: JSONParseError(line: line, column: column, reason: reason)) { try JSONValue(parsing: text) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect((try? JSONValue(parsing: fine)) != nil)
    }

    @Test func documentNeedsTheSchema() throws {
        #expect(throws: ReportDocumentError(reason: "schema is \"edgescope.report/2\", not \"edgescope.report/1\"")) {
            try ReportDocument(text: #"{"schema": "edgescope.report/2"}"#)
        }
        #expect(throws: ReportDocumentError(reason: "not a JSON object")) { try ReportDocument(text: "[]") }
        #expect(throws: ReportDocumentError(reason: "no \"schema\" member: not an edgescope report")) { try ReportDocument(text: "{}") }
        #expect(throws: ReportDocumentError(reason: "not valid JSON (line 1, column 2: expected a string key)")) { try ReportDocument(text: "{,}") }
        _ = try ReportDocument(text: #"{"schema": "edgescope.report/1"}"#)
    }

    @Test(arguments: ["2026-04-13T10:17:42.123456789Z", "1970-01-01T00:00:00.000000000Z", "1969-12-31T23:59:59.999999999Z", "2204-02-29T12:00:00.000000001Z"])
    func timestampsReadBackToWhatWasWritten(text: String) throws {
        let time = try #require(Timestamp(rfc3339: text))
        #expect(time.rfc3339 == text)
    }

    @Test func timestampsWithFewerDigitsOrWrongShapes() {
        #expect(Timestamp(rfc3339: "2026-04-13T10:17:42Z")?.rfc3339 == "2026-04-13T10:17:42.000000000Z")
        #expect(Timestamp(rfc3339: "2026-04-13T10:17:42.5Z")?.rfc3339 == "2026-04-13T10:17:42.500000000Z")
        #expect(Timestamp(rfc3339: "2026-04-13 10:17:42Z") == nil)
        #expect(Timestamp(rfc3339: "2026-13-13T10:17:42Z") == nil)
        #expect(Timestamp(rfc3339: "2026-04-13T10:17:42.1234567890Z") == nil)
    }

    @Test func sha256AndBase64MatchTheirStandardVectors() {
        func hex(_ bytes: [UInt8]) -> String { hexString(bytes) }
        #expect(hex(SHA256.digest([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.digest(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // RFC 4648 §10.
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(SHA256.base64(Array(plain.utf8)) == encoded)
        }
    }
}
