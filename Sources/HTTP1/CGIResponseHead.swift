import CaptureModel

/// The head of a CGI response (RFC 3875 §6): header fields and an empty line, with no status
/// line, the status in a `Status:` field. A FastCGI application writes it at the start of its
/// FCGI_STDOUT content, and the gateways read it with their HTTP/1 header parser (nginx's
/// `ngx_http_parse_header_line`), so it is checked here with the same rules and codes as an
/// HTTP/1 response head (`http.header.*`), plus `fcgi.status.invalid` for the `Status:` field.
///
/// Fed the content bytes in order, at content offsets (counted from the content's first byte);
/// evidence comes out at those offsets, for the caller to place in its own stream.
public struct CGIResponseHead {
    /// nginx's default `fastcgi_buffer_size` (one page): a larger head is refused with 502.
    public static let nginxBufferSize = ResponseParser.nginxHeadLimit
    /// A head larger than this is not buffered further.
    public static let maximumBytes = ResponseParser.maximumHeadBytes

    private var run = ByteRun(direction: .server)
    private var scanner = HeadEndScanner()
    private let fieldLimit: Int
    /// Whether the empty line that ends the head came.
    public private(set) var isComplete = false
    /// Whether the head went past `maximumBytes` without ending (nothing more is kept).
    public private(set) var isOverLimit = false

    /// An empty head. `redactsSecrets`: evidence masks credential values (`Redaction`);
    /// `fieldLimit`: past this many fields `http.header.too_many` is raised.
    public init(redactsSecrets: Bool = true, fieldLimit: Int = HTTP1Connection.defaultFieldLimit) {
        self.run.redactsSecrets = redactsSecrets
        self.fieldLimit = fieldLimit
    }

    /// The head's bytes so far.
    public var byteCount: Int { self.run.count }
    /// Whether no byte of the head came yet.
    public var isEmpty: Bool { self.run.isEmpty }

    /// Adds content bytes starting at `contentOffset`; returns how many of them belong to the
    /// head (the rest, after its empty line, are body).
    public mutating func append(_ bytes: UnsafeRawBufferPointer, contentOffset: UInt64) -> Int {
        guard !self.isComplete, !self.isOverLimit, !bytes.isEmpty else { return self.isOverLimit ? bytes.count : 0 }
        let end = self.scanner.scan(bytes, from: 0)
        let taken = end ?? bytes.count
        // The frame is the caller's to find from the content offset.
        self.run.append(UnsafeRawBufferPointer(rebasing: bytes[0..<taken]), offset: contentOffset, frame: 0, frameOffset: nil)
        if end != nil {
            self.isComplete = true
        } else if self.run.count > Self.maximumBytes {
            self.isOverLimit = true
        }
        return taken
    }

    /// What the head says, once checked.
    public struct Outcome: Sendable {
        /// The status the gateway takes: the `Status:` field's, or 302 with `Location` and no
        /// `Status`, or 200 (nginx, Apache and Caddy all default so); `nil` when `Status` is invalid
        /// or the head was not read.
        public var status: Int?
        /// The `Status:` field line, when there is one.
        public var statusField: Evidence?
        /// Whether a finding the gateways may refuse (severity fatal) was raised.
        public var hadFatal: Bool
    }

    /// Checks the head as it stands: complete, or past `maximumBytes` (`http.header.too_large`).
    /// A head cut before its empty line is not checked (how it ended is the verdict's business).
    /// `bufferEnd`: how many of the head's bytes fit nginx's `fastcgi_buffer_size` buffer, which
    /// holds the records' headers too (the caller counts them); `nginxBufferSize` when not given.
    public func check(findings: inout [Finding], bufferEnd: Int = CGIResponseHead.nginxBufferSize) -> Outcome {
        let start = findings.count
        if self.isOverLimit {
            findings.append(Finding(code: .headerTooLarge, severity: .fatal, evidence: [self.run.evidence(
                at: bufferEnd, length: 1,
                note: "a CGI response head still not complete after \(self.run.count) bytes (nginx's fastcgi_buffer_size is \(Self.nginxBufferSize))")],
                value: String(self.run.count)))
            return Outcome(status: nil, statusField: nil, hadFatal: true)
        }
        guard self.isComplete else { return Outcome(status: nil, statusField: nil, hadFatal: false) }
        let bytes = self.run.bytes
        if let bareLF = HeadLines(bytes, end: bytes.count).first(where: { $0.bareLF && !$0.content.isEmpty }) {
            findings.append(Finding(code: .lineBareLF, severity: .lint, evidence: [self.run.evidence(
                at: bareLF.content.upperBound, length: 1, note: "a line ended by LF without CR (RFC 9112 §2.2: a recipient MAY accept it)")]))
        }
        let head = HeadParser.parseFields(
            self.run, lines: HeadLines(bytes, end: bytes.count), isResponse: true, fieldLimit: self.fieldLimit, findings: &findings)
        if let index = findings[start...].firstIndex(where: { $0.code == .headerTooMany }) {
            findings[index].value = String(head.fieldCount)
        }
        if bytes.count > bufferEnd {
            findings.append(Finding(code: .headerTooLarge, severity: .fatal, evidence: [self.run.evidence(
                at: bufferEnd, length: 1,
                note: "a CGI response head of \(bytes.count) bytes, past nginx's default fastcgi_buffer_size of \(Self.nginxBufferSize) bytes (record headers included)")],
                value: "\(bytes.count) \(bytes.count) \(head.longestFieldLine)"))
        }
        // RFC 3875 §6.3.3: Status = "Status:" status-code SP reason-phrase. The gateways read
        // the first three bytes as the code (nginx's ngx_atoi(value, 3), Caddy's Atoi of the
        // part before SP, Apache's atoi checked against 100-599).
        var status: Int? = nil
        var statusField: Evidence? = nil
        var location = false
        for line in HeadLines(bytes, end: bytes.count) {
            let range = line.content
            if range.isEmpty { break }
            guard let colon = ASCII.firstIndex(of: ASCII.colon, in: bytes, range) else { continue }
            let name = range.lowerBound..<colon
            if ASCII.equalsIgnoringCase(bytes, name, "location") { location = true }
            guard statusField == nil, ASCII.equalsIgnoringCase(bytes, name, "status") else { continue }
            var valueStart = colon + 1
            var valueEnd = range.upperBound
            while valueStart < valueEnd, bytes[valueStart] == ASCII.space || bytes[valueStart] == ASCII.tab { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == ASCII.space || bytes[valueEnd - 1] == ASCII.tab { valueEnd -= 1 }
            let value = bytes[valueStart..<valueEnd]
            let threeDigits = value.count >= 3 && value.prefix(3).allSatisfy(ASCII.isDigit)
                && (value.count == 3 || value[valueStart + 3] == ASCII.space)
            let code = threeDigits ? value.prefix(3).reduce(0) { $0 * 10 + Int($1 - 0x30) } : nil
            statusField = self.run.evidence(at: range.lowerBound, length: range.count, note: "the CGI Status field")
            if let code, (100...599).contains(code) {
                status = code
            } else {
                findings.append(Finding(code: .fcgiStatusInvalid, severity: .fatal, evidence: [self.run.evidence(
                    at: valueStart, length: max(1, value.count),
                    note: code == nil
                        ? "a CGI Status field that does not start with a three-digit status code (RFC 3875 §6.3.3)"
                        : "a CGI Status code outside 100-599 (RFC 9110 §15)")],
                    value: String(decoding: value.prefix(64), as: UTF8.self)))
            }
        }
        if statusField == nil { status = location ? 302 : 200 }
        let hadFatal = findings[start...].contains { $0.severity == .fatal }
        return Outcome(status: status, statusField: statusField, hadFatal: hadFatal)
    }
}
