import CaptureModel
#if canImport(Glibc)
import Glibc
#endif

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

    /// RFC 9110 §5.6.2 tchar: `!#$%&'*+-.^_`|~`, digits and letters, as a bit per byte below 128
    /// (one shift and test where a chain of range checks was: every field name passes here).
    @inline(__always)
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        let low: UInt64 = 0x03ff_6cfa_0000_0000  // bytes 0-63: ! # $ % & ' * + - . 0-9
        let high: UInt64 = 0x57ff_ffff_c7ff_fffe  // bytes 64-127: A-Z ^ _ ` a-z | ~
        return byte < 64 ? (low >> UInt64(byte)) & 1 != 0 : byte < 128 && (high >> UInt64(byte &- 64)) & 1 != 0
    }

    /// The index of the first byte of `base[start..<end]` below 0x20 or equal to 0x7f (a control
    /// byte, RFC 9110 §5.5), or `end`. Eight bytes at a time: field values are most
    /// of a head's bytes and nearly never hold one.
    @inline(__always)
    static func firstControl(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        let raw = UnsafeRawPointer(base)
        var index = start
        while index + 8 <= end {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // A byte below 0x20 ("has less than" for n <= 128), or a byte equal to 0x7f (a
            // zero byte after xor), sets a high bit; the byte loop below finds which.
            let below = (word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080
            let delete = word ^ 0x7f7f_7f7f_7f7f_7f7f
            let isDelete = (delete &- 0x0101_0101_0101_0101) & ~delete & 0x8080_8080_8080_8080
            if below | isDelete != 0 { break }
            index += 8
        }
        while index < end, base[index] >= 0x20, base[index] != 0x7f { index += 1 }
        return index
    }

    /// The index of the first `byte` in `bytes[range]`, found with `memchr`.
    static func firstIndex(of byte: UInt8, in bytes: [UInt8], _ range: Range<Int>) -> Int? {
        guard !range.isEmpty else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let found = memchr(buffer.baseAddress! + range.lowerBound, Int32(byte), range.count) else { return nil }
            return UnsafeRawPointer(buffer.baseAddress!).distance(to: UnsafeRawPointer(found))
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

    /// Whether `bytes[range]` equals `text` ignoring ASCII case. Inlined: every field name is
    /// compared with a dozen names, and nearly every comparison ends at the length check.
    @inline(__always)
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

/// At most one element inline, the rest in an array: a head's Content-Length and
/// Transfer-Encoding fields (one at most, almost always) are kept without allocating.
struct InlineList<Element>: RandomAccessCollection {
    private var head: Element?
    private var tail: [Element] = []

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { self.head == nil ? 0 : 1 + self.tail.count }

    subscript(position: Int) -> Element {
        position == 0 ? self.head! : self.tail[position - 1]
    }

    mutating func append(_ element: Element) {
        if self.head == nil { self.head = element } else { self.tail.append(element) }
    }
}

/// What a head says about framing and the connection, parsed from complete head bytes.
struct ParsedHead {
    /// Field lines read (up to the empty line; obs-fold and colon-less lines not counted).
    var fieldCount = 0
    /// The name and value bytes of every field (the value without its OWS): what HAProxy keeps of
    /// them in its HTX buffer, with 8 bytes of block header each.
    var fieldBytes = 0
    /// Where the line of the field past HAProxy's slots (`tune.http.maxhdr`) ends, with its line
    /// end: HAProxy's `show errors` names that position (measured with 2.6.12).
    var firstFieldPastSlotsEnd: Int?
    /// The longest field line's bytes without its line end (obs-fold and colon-less lines
    /// counted): what Apache httpd reads into one `ResponseFieldSize` buffer.
    var longestFieldLine = 0
    var contentLengths = InlineList<(value: UInt64?, field: HeaderField)>()
    var transferEncodings = InlineList<HeaderField>()
    var connectionClose = false
    var connectionKeepAlive = false
    var upgrade = false
    /// The last Host field's value (requests only): the caller makes the string, so a
    /// connection's requests can share one.
    var hostValue: Range<Int>?
    var requestID: String?
    var correlationID: String?
    /// The trace-id of a W3C `traceparent` field.
    var traceID: String?
}

/// The lines of a head (`bytes[0..<end]`), one at a time, without an array: a line ends at LF
/// (its content without the CR of a CRLF); bytes after the last LF are a last line.
struct HeadLines: IteratorProtocol, Sequence {
    private let bytes: [UInt8]
    private let end: Int
    private var start = 0

    init(_ bytes: [UInt8], end: Int) {
        self.bytes = bytes
        self.end = end
    }

    mutating func next() -> HeadLine? {
        guard self.start < self.end else { return nil }
        let start = self.start
        let lf: Int? = self.bytes.withUnsafeBytes { raw in
            guard let found = memchr(raw.baseAddress! + start, Int32(ASCII.lf), self.end - start) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
        guard let index = lf else {
            self.start = self.end
            return HeadLine(content: start..<self.end, bareLF: false)
        }
        let crlf = index > start && self.bytes[index - 1] == ASCII.cr
        self.start = index + 1
        return HeadLine(content: start..<(crlf ? index - 1 : index), bareLF: !crlf)
    }
}

/// Splits a head (status or request line, field lines, the empty line) into lines and parses its
/// field lines, reporting every RFC 9112/9110 violation with byte-exact evidence.
struct HeadParser {
    /// Single-value response fields whose repetition nginx warns about and ignores.
    static let singleValueFields: [StaticString] = ["location", "last-modified", "etag", "content-type", "expires"]
    /// Header lines at which HAProxy's `tune.http.maxhdr` (101, the first line included) stops:
    /// where `http.header.too_many` is raised unless a lower limit is asked for.
    static let maximumFieldCount = HTTP1Connection.defaultFieldLimit

    /// At most this many bytes of Host and of a request id are kept: enough to match a request
    /// on both hops, and a bound on what a hostile peer can make every transaction hold.
    static let maximumIdentifierBytes = 256

    /// A field value kept to identify a request (Host, `X-Request-Id`), cut to `maximumIdentifierBytes`.
    static func identifier(_ bytes: [UInt8], _ value: Range<Int>) -> String {
        String(decoding: bytes[value.lowerBound..<min(value.upperBound, value.lowerBound + self.maximumIdentifierBytes)], as: UTF8.self)
    }

    /// `identifier(bytes, value)`, or `previous` when that is the same text: a connection's
    /// requests mostly name the same Host, and the same few targets, and then share one string.
    static func identifier(_ bytes: [UInt8], _ value: Range<Int>, reusing previous: String?) -> String {
        let kept = value.lowerBound..<min(value.upperBound, value.lowerBound + self.maximumIdentifierBytes)
        return self.string(bytes, kept, reusing: previous)
    }

    /// `bytes[range]` as a string, or `previous` when its UTF-8 is exactly those bytes.
    static func string(_ bytes: [UInt8], _ range: Range<Int>, reusing previous: String?) -> String {
        if var previous, !range.isEmpty, previous.utf8.count == range.count {
            let same = previous.withUTF8 { utf8 in
                bytes.withUnsafeBufferPointer { buffer in
                    memcmp(utf8.baseAddress!, buffer.baseAddress! + range.lowerBound, range.count) == 0
                }
            }
            if same { return previous }
        }
        return String(decoding: bytes[range], as: UTF8.self)
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

    /// What one pass over a field line finds, for the common case to need nothing more.
    struct LineScan {
        /// The first colon; `nil` when there is none.
        var colon: Int?
        /// Whether every byte before the colon is a token character.
        var cleanName = true
        /// The value without leading and trailing OWS (RFC 9110 §5.5).
        var valueStart = 0
        var valueEnd = 0
        /// The first control byte after the colon, or the line's end.
        var firstControl = 0
    }

    /// Scans the field line `base[range]` (not empty) in place: its colon, whether its name is
    /// a token, its value without OWS, and where its first control byte after the colon is.
    /// Without `checksBytes`, the name and the value's bytes are taken as they are (clean).
    @inline(__always)
    static func scan(_ base: UnsafePointer<UInt8>, _ range: Range<Int>, checksBytes: Bool) -> LineScan {
        var scan = LineScan()
        guard let found = memchr(base + range.lowerBound, Int32(ASCII.colon), range.count) else { return scan }
        let colon = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
        scan.colon = colon
        if checksBytes {
            var index = range.lowerBound
            while index < colon, ASCII.isTokenCharacter(base[index]) { index += 1 }
            scan.cleanName = index == colon
        }
        var valueStart = colon + 1
        var valueEnd = range.upperBound
        while valueStart < valueEnd, base[valueStart] == ASCII.space || base[valueStart] == ASCII.tab { valueStart += 1 }
        while valueEnd > valueStart, base[valueEnd - 1] == ASCII.space || base[valueEnd - 1] == ASCII.tab { valueEnd -= 1 }
        scan.valueStart = valueStart
        scan.valueEnd = valueEnd
        scan.firstControl = checksBytes ? ASCII.firstControl(base, from: colon + 1, to: range.upperBound) : range.upperBound
        return scan
    }

    /// Parses the field lines (what `lines` gives, up to the empty line) of a head held in `run`.
    /// `fieldLimit`: past this many fields `http.header.too_many` is raised, at the first field
    /// past it (the lowest limit of the gateway models a run shows). Without `checksBytes` the
    /// bytes of names and values are not checked (a request's head: what the gateway sent is
    /// not judged, only read for its framing and identifiers).
    static func parseFields(
        _ run: ByteRun, lines: HeadLines, isResponse: Bool, fieldLimit: Int = Self.maximumFieldCount, checksBytes: Bool = true,
        findings: inout [Finding]
    ) -> ParsedHead {
        let bytes = run.bytes
        var head = ParsedHead()
        var reported = Set<FindingCode>()
        func report(_ code: FindingCode, _ severity: Severity, at index: Int, length: Int, _ note: String) {
            // One finding per code per head: the first occurrence is the evidence.
            guard reported.insert(code).inserted else { return }
            findings.append(Finding(code: code, severity: severity, evidence: [run.evidence(at: index, length: length, note: note)]))
        }
        // Where the first of each single-value field's lines starts (-1: not seen).
        var seenSingle = SingleValueLines()
        for line in lines {
            let range = line.content
            if range.isEmpty { break }  // the empty line ends the section
            head.longestFieldLine = max(head.longestFieldLine, range.count)
            if head.fieldCount == fieldLimit {
                report(.headerTooMany, .fatal, at: range.lowerBound, length: range.count,
                       fieldLimit == self.maximumFieldCount
                           ? "more than \(self.maximumFieldCount) header lines (HAProxy's tune.http.maxhdr is 101 with the start line)"
                           : "more than \(fieldLimit) header lines")
            }
            let first = bytes[range.lowerBound]
            if first == ASCII.space || first == ASCII.tab {
                // RFC 9112 §5.2: obs-fold, a continuation of the previous field's value.
                report(.headerObsFold, .fatal, at: range.lowerBound, length: range.count,
                       "a header line that starts with whitespace to continue the previous value (obs-fold, RFC 9112 §5.2)")
                continue
            }
            let scan = bytes.withUnsafeBufferPointer { Self.scan($0.baseAddress!, range, checksBytes: checksBytes) }
            guard let colon = scan.colon else {
                report(.headerMissingColon, .fatal, at: range.lowerBound, length: range.count,
                       "a header line without a colon (RFC 9112 §5.1: field-line = field-name \":\" OWS field-value OWS)")
                continue
            }
            let name = range.lowerBound..<colon
            if name.isEmpty {
                report(.headerEmptyName, .fatal, at: range.lowerBound, length: 1,
                       "a header line that starts with a colon (an empty field name)")
                continue
            }
            // Only a name with a byte that is not a token character is looked at again, for
            // which finding it gets.
            if scan.cleanName {
                // A valid field name.
            } else if let bad = bytes[name].firstIndex(where: { $0 <= 0x20 || $0 == 0x7f }) {
                let what = bytes[bad] == ASCII.space || bytes[bad] == ASCII.tab
                    ? "whitespace in a field name (RFC 9112 §5.1: none is allowed before the colon)"
                    : "a control byte in a field name (RFC 9110 §5.1: field-name = token)"
                // From the offending byte to the colon: the rest of the bad field name.
                report(.headerNameCTLOrSpace, .fatal, at: bad, length: colon - bad, what)
            } else if let bad = bytes[name].firstIndex(where: { !ASCII.isTokenCharacter($0) }) {
                report(.headerNameNonToken, .fatal, at: bad, length: colon - bad,
                       "a byte that is not a token character in a field name (RFC 9110 §5.6.2)")
            }
            let (valueStart, valueEnd, firstControl) = (scan.valueStart, scan.valueEnd, scan.firstControl)
            for index in firstControl..<range.upperBound {
                let byte = bytes[index]
                if byte >= 0x20, byte != 0x7f {
                    continue
                } else if byte == 0 {
                    report(.headerValueNUL, .fatal, at: index, length: 1,
                           "a zero byte (NUL) in a field value (RFC 9110 §5.5: a recipient MUST reject the message or replace it)")
                } else if byte == ASCII.cr {
                    report(.headerValueBareCR, .fatal, at: index, length: 1,
                           "a CR not followed by LF inside a field value (RFC 9112 §2.2)")
                } else if (byte < 0x20 && byte != ASCII.tab) || byte == 0x7f {
                    report(.headerValueCTL, .warning, at: index, length: 1,
                           "a control byte in a field value (RFC 9110 §5.5)")
                }
            }
            let field = HeaderField(name: name, value: valueStart..<valueEnd, line: range)
            head.fieldCount += 1
            head.fieldBytes &+= name.count &+ (valueEnd - valueStart)
            if head.fieldCount == self.maximumFieldCount + 2 { head.firstFieldPastSlotsEnd = range.upperBound + (line.bareLF ? 1 : 2) }

            // The names looked for differ in length: one comparison at most per line.
            switch name.count {
            case 14 where ASCII.equalsIgnoringCase(bytes, name, "content-length"):
                head.contentLengths.append((self.contentLength(bytes, field.value), field))
            case 17 where ASCII.equalsIgnoringCase(bytes, name, "transfer-encoding"):
                head.transferEncodings.append(field)
            case 10 where ASCII.equalsIgnoringCase(bytes, name, "connection"):
                self.forEachListElement(bytes, field.value) { token in
                    if ASCII.equalsIgnoringCase(bytes, token, "close") { head.connectionClose = true }
                    if ASCII.equalsIgnoringCase(bytes, token, "keep-alive") { head.connectionKeepAlive = true }
                    if ASCII.equalsIgnoringCase(bytes, token, "upgrade") { head.upgrade = true }
                }
            case 4 where !isResponse && ASCII.equalsIgnoringCase(bytes, name, "host"):
                head.hostValue = field.value
            case 12 where !isResponse && ASCII.equalsIgnoringCase(bytes, name, "x-request-id"):
                head.requestID = self.identifier(bytes, field.value)
            case 16 where !isResponse && ASCII.equalsIgnoringCase(bytes, name, "x-correlation-id"):
                head.correlationID = self.identifier(bytes, field.value)
            case 11 where !isResponse && ASCII.equalsIgnoringCase(bytes, name, "traceparent"):
                head.traceID = self.traceID(bytes, field.value)
            default:
                guard isResponse, let index = self.singleValueIndex(bytes, name) else { break }
                if let previous = seenSingle[index] {
                    report(.headerDuplicateSingleValue, .lint, at: range.lowerBound, length: range.count,
                           "a second \(self.singleValueFields[index]) field (nginx ignores it; the first, at stream offset \(run.start &+ UInt64(previous)), wins)")
                } else {
                    seenSingle[index] = range.lowerBound
                }
            }
        }
        return head
    }

    /// The index in `singleValueFields` of the field named `bytes[name]`, if it is one (their
    /// lengths differ, so one comparison at most).
    static func singleValueIndex(_ bytes: [UInt8], _ name: Range<Int>) -> Int? {
        guard let index = self.singleValueFields.firstIndex(where: { $0.utf8CodeUnitCount == name.count }) else { return nil }
        return ASCII.equalsIgnoringCase(bytes, name, self.singleValueFields[index]) ? index : nil
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

    /// Where the first line of each of `singleValueFields` starts, kept without allocating.
    struct SingleValueLines {
        private var starts: (Int, Int, Int, Int, Int) = (-1, -1, -1, -1, -1)

        subscript(index: Int) -> Int? {
            get {
                let start: Int
                switch index {
                case 0: start = self.starts.0
                case 1: start = self.starts.1
                case 2: start = self.starts.2
                case 3: start = self.starts.3
                default: start = self.starts.4
                }
                return start < 0 ? nil : start
            }
            set {
                let start = newValue ?? -1
                switch index {
                case 0: self.starts.0 = start
                case 1: self.starts.1 = start
                case 2: self.starts.2 = start
                case 3: self.starts.3 = start
                default: self.starts.4 = start
                }
            }
        }
    }

    /// The last element of a list value, as `listElements` gives it, allocating nothing.
    static func lastListElement(_ bytes: [UInt8], _ value: Range<Int>) -> Range<Int> {
        var last = value
        self.forEachListElement(bytes, value) { last = $0 }
        return last
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
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        var index = start
        while index < bytes.count {
            // From one LF to the next with memchr: the bytes between only lengthen the line.
            guard let found = memchr(base + index, Int32(ASCII.lf), bytes.count - index) else {
                self.lineLength += bytes.count - index
                self.lastByte = bytes[bytes.count - 1]
                return nil
            }
            let lf = base.distance(to: UnsafeRawPointer(found))
            if lf > index {
                self.lineLength += lf - index
                self.lastByte = bytes[lf - 1]
            }
            if self.lineLength == 0 || (self.lineLength == 1 && self.lastByte == ASCII.cr) {
                return lf + 1
            }
            self.lineLength = 0
            self.lastByte = ASCII.lf
            index = lf + 1
        }
        return nil
    }
}
