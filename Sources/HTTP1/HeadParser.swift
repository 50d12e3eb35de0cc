import CaptureModel

/// ASCII bytes the parsers name.
enum ASCII {
    static let cr: UInt8 = 0x0d
    static let lf: UInt8 = 0x0a
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3a
    static let semicolon: UInt8 = 0x3b
    static let comma: UInt8 = 0x2c
    static let equals: UInt8 = 0x3d
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5c

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte - 0x30)
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(byte - 0x61 + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt64(byte - 0x41 + 10)
        default: return nil
        }
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte
    }

    /// Whether `bytes[range]` equals `text` ignoring ASCII case.
    static func equalsIgnoringCase(_ bytes: [UInt8], _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { expected in
            for index in 0..<range.count where self.lowercased(bytes[range.lowerBound + index]) != expected[index] {
                return false
            }
            return true
        }
    }
}

/// One line of a head: where its content is, and how it ended.
struct HeadLine {
    /// The content, without its line ending.
    var content: Range<Int>
    /// Whether it ended with LF alone (RFC 9112 §2.2 allows a recipient to accept it).
    var bareLF: Bool
}

/// A header field line, as offsets into the head's bytes.
struct HeaderField {
    var name: Range<Int>
    var value: Range<Int>
    var line: Range<Int>
}

/// What a head says about framing and the connection, parsed from complete head bytes.
struct ParsedHead {
    var fields: [HeaderField] = []
    var contentLengths: [(value: UInt64?, field: Int)] = []
    var transferEncodings: [Int] = []
    var connectionClose = false
    var connectionKeepAlive = false
    var upgrade = false
    var host: String?
    var requestID: String?
    var correlationID: String?
    /// The trace-id of a W3C `traceparent` field.
    var traceID: String?
}

/// Splits a head (status or request line, field lines, the empty line) into lines and parses its
/// field lines, reporting every RFC 9112/9110 violation with byte-exact evidence.
struct HeadParser {
    /// Single-value response fields whose repetition nginx warns about and ignores.
    static let singleValueFields: [StaticString] = ["location", "last-modified", "etag", "content-type", "expires"]
    /// Header lines at which HAProxy's `tune.http.maxhdr` (101, the first line included) stops.
    static let maximumFieldCount = 100

    /// At most this many bytes of Host and of a request id are kept: enough to match a request
    /// on both hops, and a bound on what a hostile peer can make every transaction hold.
    static let maximumIdentifierBytes = 256

    /// A field value kept to identify a request (Host, `X-Request-Id`), cut to `maximumIdentifierBytes`.
    static func identifier(_ bytes: [UInt8], _ value: Range<Int>) -> String {
        String(decoding: bytes[value.lowerBound..<min(value.upperBound, value.lowerBound + self.maximumIdentifierBytes)], as: UTF8.self)
    }

    /// The trace-id of a `traceparent` value, `nil` unless it has the W3C Trace Context shape
    /// (§3.2: `version "-" trace-id "-" parent-id "-" trace-flags`, trace-id 32 lower-case hex).
    /// The parent-id changes on every hop that traces; the trace-id does not.
    static func traceID(_ bytes: [UInt8], _ value: Range<Int>) -> String? {
        guard value.count >= 55, bytes[value.lowerBound + 2] == UInt8(ascii: "-"), bytes[value.lowerBound + 35] == UInt8(ascii: "-") else {
            return nil
        }
        let id = bytes[(value.lowerBound + 3)..<(value.lowerBound + 35)]
        guard id.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }), id.contains(where: { $0 != 0x30 }) else {
            return nil
        }
        return String(decoding: id, as: UTF8.self)
    }

    /// Splits `bytes[0..<end]` into lines. Returns the lines and the index of each bare CR
    /// (a CR not followed by LF) found inside line contents.
    static func lines(_ bytes: [UInt8], end: Int) -> [HeadLine] {
        var lines: [HeadLine] = []
        // One allocation for a typical head, not one per doubling.
        lines.reserveCapacity(24)
        var start = 0
        var index = 0
        while index < end {
            if bytes[index] == ASCII.lf {
                let crlf = index > start && bytes[index - 1] == ASCII.cr
                lines.append(HeadLine(content: start..<(crlf ? index - 1 : index), bareLF: !crlf))
                start = index + 1
            }
            index += 1
        }
        if start < end {
            lines.append(HeadLine(content: start..<end, bareLF: false))
        }
        return lines
    }

    /// Parses the field lines (`lines[1...]`, up to the empty line) of a head held in `run`.
    static func parseFields(
        _ run: ByteRun, lines: ArraySlice<HeadLine>, isResponse: Bool, findings: inout [Finding]
    ) -> ParsedHead {
        let bytes = run.bytes
        var head = ParsedHead()
        head.fields.reserveCapacity(lines.count)
        var reported = Set<FindingCode>()
        func report(_ code: FindingCode, _ severity: Severity, at index: Int, length: Int, _ note: String) {
            // One finding per code per head: the first occurrence is the evidence.
            guard reported.insert(code).inserted else { return }
            findings.append(Finding(code: code, severity: severity, evidence: [run.evidence(at: index, length: length, note: note)]))
        }
        var seenSingle: [Int: Int] = [:]
        for line in lines {
            let range = line.content
            if range.isEmpty { break }  // the empty line ends the section
            if head.fields.count == self.maximumFieldCount {
                report(.headerTooMany, .fatal, at: range.lowerBound, length: range.count,
                       "more than \(self.maximumFieldCount) header lines (HAProxy's tune.http.maxhdr is 101 with the start line)")
            }
            let first = bytes[range.lowerBound]
            if first == ASCII.space || first == ASCII.tab {
                // RFC 9112 §5.2: obs-fold, a continuation of the previous field's value.
                report(.headerObsFold, .fatal, at: range.lowerBound, length: range.count,
                       "a header line starting with whitespace continues the previous value (obs-fold, RFC 9112 §5.2)")
                continue
            }
            guard let colon = bytes[range].firstIndex(of: ASCII.colon) else {
                report(.headerMissingColon, .fatal, at: range.lowerBound, length: range.count,
                       "a header line without a colon (RFC 9112 §5.1: field-line = field-name \":\" OWS field-value OWS)")
                continue
            }
            let name = range.lowerBound..<colon
            if name.isEmpty {
                report(.headerEmptyName, .fatal, at: range.lowerBound, length: 1,
                       "a header line starting with a colon has an empty field name")
                continue
            }
            if let bad = bytes[name].firstIndex(where: { $0 <= 0x20 || $0 == 0x7f }) {
                let what = bytes[bad] == ASCII.space || bytes[bad] == ASCII.tab
                    ? "whitespace in a field name (RFC 9112 §5.1: none is allowed before the colon)"
                    : "a control byte in a field name (RFC 9110 §5.1: field-name = token)"
                report(.headerNameCTLOrSpace, .fatal, at: bad, length: 1, what)
            } else if let bad = bytes[name].firstIndex(where: { !ASCII.isTokenCharacter($0) }) {
                report(.headerNameNonToken, .fatal, at: bad, length: 1,
                       "a byte that is not a token character in a field name (RFC 9110 §5.6.2)")
            }
            // RFC 9110 §5.5: the value without leading and trailing OWS.
            var valueStart = colon + 1
            var valueEnd = range.upperBound
            while valueStart < valueEnd, bytes[valueStart] == ASCII.space || bytes[valueStart] == ASCII.tab { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == ASCII.space || bytes[valueEnd - 1] == ASCII.tab { valueEnd -= 1 }
            for index in (colon + 1)..<range.upperBound {
                let byte = bytes[index]
                if byte == 0 {
                    report(.headerValueNUL, .fatal, at: index, length: 1,
                           "NUL in a field value (RFC 9110 §5.5: a recipient MUST reject the message or replace it)")
                } else if byte == ASCII.cr {
                    report(.headerValueBareCR, .fatal, at: index, length: 1,
                           "a CR not followed by LF inside a field value (RFC 9112 §2.2)")
                } else if (byte < 0x20 && byte != ASCII.tab) || byte == 0x7f {
                    report(.headerValueCTL, .warning, at: index, length: 1,
                           "a control byte in a field value (RFC 9110 §5.5)")
                }
            }
            let field = HeaderField(name: name, value: valueStart..<valueEnd, line: range)
            let fieldIndex = head.fields.count
            head.fields.append(field)

            if ASCII.equalsIgnoringCase(bytes, name, "content-length") {
                head.contentLengths.append((self.contentLength(bytes, field.value), fieldIndex))
            } else if ASCII.equalsIgnoringCase(bytes, name, "transfer-encoding") {
                head.transferEncodings.append(fieldIndex)
            } else if ASCII.equalsIgnoringCase(bytes, name, "connection") {
                self.forEachListElement(bytes, field.value) { token in
                    if ASCII.equalsIgnoringCase(bytes, token, "close") { head.connectionClose = true }
                    if ASCII.equalsIgnoringCase(bytes, token, "keep-alive") { head.connectionKeepAlive = true }
                    if ASCII.equalsIgnoringCase(bytes, token, "upgrade") { head.upgrade = true }
                }
            } else if ASCII.equalsIgnoringCase(bytes, name, "host") {
                head.host = self.identifier(bytes, field.value)
            } else if !isResponse, ASCII.equalsIgnoringCase(bytes, name, "x-request-id") {
                head.requestID = self.identifier(bytes, field.value)
            } else if !isResponse, ASCII.equalsIgnoringCase(bytes, name, "x-correlation-id") {
                head.correlationID = self.identifier(bytes, field.value)
            } else if !isResponse, ASCII.equalsIgnoringCase(bytes, name, "traceparent") {
                head.traceID = self.traceID(bytes, field.value)
            } else if isResponse {
                for (index, single) in self.singleValueFields.enumerated() where ASCII.equalsIgnoringCase(bytes, name, single) {
                    if let previous = seenSingle[index] {
                        report(.headerDuplicateSingleValue, .lint, at: range.lowerBound, length: range.count,
                               "a second \(single) field (nginx ignores it; the first, at stream offset \(run.start &+ UInt64(head.fields[previous].line.lowerBound)), wins)")
                    } else {
                        seenSingle[index] = fieldIndex
                    }
                }
            }
        }
        return head
    }

    /// A Content-Length value: exactly 1*DIGIT that fits in 63 bits (RFC 9110 §8.6), else `nil`.
    static func contentLength(_ bytes: [UInt8], _ value: Range<Int>) -> UInt64? {
        guard !value.isEmpty, value.count <= 18 else { return nil }
        var result: UInt64 = 0
        for byte in bytes[value] {
            guard ASCII.isDigit(byte) else { return nil }
            result = result * 10 + UInt64(byte - 0x30)
        }
        return result
    }

    /// The comma-separated elements of a list value (RFC 9110 §5.6.1), trimmed; empty elements kept.
    static func listElements(_ bytes: [UInt8], _ value: Range<Int>) -> [Range<Int>] {
        var elements: [Range<Int>] = []
        self.forEachListElement(bytes, value) { elements.append($0) }
        return elements
    }

    /// Calls `body` with each element of a list value, as `listElements` gives them, allocating nothing.
    static func forEachListElement(_ bytes: [UInt8], _ value: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = value.lowerBound
        var index = value.lowerBound
        while index <= value.upperBound {
            if index == value.upperBound || bytes[index] == ASCII.comma {
                var a = start
                var b = index
                while a < b, bytes[a] == ASCII.space || bytes[a] == ASCII.tab { a += 1 }
                while b > a, bytes[b - 1] == ASCII.space || bytes[b - 1] == ASCII.tab { b -= 1 }
                body(a..<b)
                start = index + 1
            }
            index += 1
        }
    }
}

/// Finds the end of a head (the empty line: CRLF CRLF, or bare LFs) across feeds of any size.
struct HeadEndScanner {
    private var lineLength = 0
    private var lastByte: UInt8 = 0

    /// The index just past the empty line in `bytes[start...]`, or `nil` when the head goes on.
    mutating func scan(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == ASCII.lf {
                if self.lineLength == 0 || (self.lineLength == 1 && self.lastByte == ASCII.cr) {
                    return index + 1
                }
                self.lineLength = 0
            } else {
                self.lineLength += 1
            }
            self.lastByte = byte
            index += 1
        }
        return nil
    }
}
