import CaptureModel

/// The chunked transfer coding (RFC 9112 §7.1), fed in place; chunk data is skipped by length.
///
/// ```
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// chunk-size   = 1*HEXDIG
/// chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// ```
struct ChunkedDecoder {
    enum State: Equatable {
        case sizeLine
        case data(remaining: UInt64)
        case dataCR
        case dataLF
        case trailerLine
        case done
        case failed
    }

    /// What one call to `feed` ended with.
    enum Outcome: Equatable {
        /// Every byte given was consumed; more are needed.
        case needMore
        /// The body ended; bytes from `index` on belong to what follows.
        case complete(index: Int)
        /// A framing error: the gateway stops here, and so does the decoder.
        case failed
    }

    /// The largest chunk size accepted: HAProxy refuses more than 13 hex digits (2^52 - 1), the
    /// smallest limit of the gateways read (taxonomy 2.E).
    static let maximumChunkSize: UInt64 = (1 << 52) - 1
    /// A size line or trailer line longer than this is refused.
    static let maximumLineLength = 4096

    private(set) var state: State = .sizeLine
    /// Chunks whose data has been fully seen.
    private(set) var chunks = 0
    /// Body bytes (chunk data) seen or skipped.
    private(set) var dataBytes: UInt64 = 0

    init() {}

    /// Consumes `window.bytes[index...]`. A size or trailer line is gathered in `line` (the
    /// parser's head buffer, idle during a body: empty whenever a line is complete), so the
    /// decoder itself holds no storage.
    mutating func feed(_ window: FeedWindow, from start: Int, line: inout ByteRun, findings: inout [Finding]) -> Outcome {
        var index = start
        let bytes = window.bytes
        while index < bytes.count {
            switch self.state {
            case .sizeLine, .trailerLine:
                let rest = UnsafeRawBufferPointer(rebasing: bytes[index...])
                if let newline = rest.firstIndex(of: ASCII.lf) {
                    let end = index + newline + 1
                    line.append(UnsafeRawBufferPointer(rebasing: bytes[index..<end]),
                                     offset: window.offset &+ UInt64(index), frame: window.frame,
                                     frameOffset: window.frameOffset.map { $0 + index })
                    index = end
                    if self.state == .sizeLine {
                        self.sizeLineComplete(line, &findings)
                    } else {
                        self.trailerLineComplete(line, &findings)
                    }
                    line.reset()
                    if self.state == .failed { return .failed }
                    if self.state == .done { return .complete(index: index) }
                } else {
                    line.append(rest, offset: window.offset &+ UInt64(index), frame: window.frame,
                                     frameOffset: window.frameOffset.map { $0 + index })
                    index = bytes.count
                    if line.count > Self.maximumLineLength {
                        let code: FindingCode = self.state == .sizeLine ? .chunkedBadExtension : .chunkedBadTrailer
                        findings.append(Finding(code: code, severity: .fatal, evidence: [line.evidence(
                            at: 0, length: line.count, note: "a chunk line longer than \(Self.maximumLineLength) bytes without a line end")]))
                        self.state = .failed
                        return .failed
                    }
                }
            case .data(let remaining):
                let run = min(UInt64(bytes.count - index), remaining)
                index += Int(run)
                self.dataBytes &+= run
                self.state = run == remaining ? .dataCR : .data(remaining: remaining - run)
                if run == remaining { self.chunks += 1 }
            case .dataCR:
                let byte = bytes[index]
                if byte == ASCII.cr {
                    self.state = .dataLF
                    index += 1
                } else if byte == ASCII.lf {
                    findings.append(Finding(code: .chunkedBareLF, severity: .fatal, evidence: [window.evidence(
                        at: index, length: 1, note: "a bare LF instead of the CRLF that ends chunk data (RFC 9112 §7.1)")]))
                    self.state = .failed
                    return .failed
                } else {
                    findings.append(Finding(code: .chunkedDataLengthMismatch, severity: .fatal, evidence: [window.evidence(
                        at: index, length: 1,
                        note: "more chunk data than its chunk size announced (the CRLF that ends the data was due here)")]))
                    self.state = .failed
                    return .failed
                }
            case .dataLF:
                if bytes[index] == ASCII.lf {
                    self.state = .sizeLine
                    index += 1
                } else {
                    findings.append(Finding(code: .chunkedDataLengthMismatch, severity: .fatal, evidence: [window.evidence(
                        at: index, length: 1, note: "a CR without LF after chunk data")]))
                    self.state = .failed
                    return .failed
                }
            case .done:
                return .complete(index: index)
            case .failed:
                return .failed
            }
        }
        return .needMore
    }

    /// Accounts for a gap of `length` bytes. Returns false when the gap leaves the framing unknown.
    mutating func skip(_ length: UInt64) -> Bool {
        guard case .data(let remaining) = self.state, length <= remaining else {
            self.state = .failed
            return false
        }
        self.dataBytes &+= length
        self.state = length == remaining ? .dataCR : .data(remaining: remaining - length)
        return true
    }

    private mutating func sizeLineComplete(_ line: ByteRun, _ findings: inout [Finding]) {
        let bytes = line.bytes
        var end = bytes.count - 1  // the LF
        if end > 0, bytes[end - 1] == ASCII.cr {
            end -= 1
        } else {
            findings.append(Finding(code: .chunkedBareLF, severity: .fatal, evidence: [line.evidence(
                at: end, length: 1, note: "a chunk-size line ended by a bare LF instead of CRLF (RFC 9112 §7.1)")]))
            self.state = .failed
            return
        }
        var index = 0
        var size: UInt64 = 0
        var digits = 0
        while index < end, let value = ASCII.hexValue(bytes[index]) {
            if size > Self.maximumChunkSize >> 4 {
                findings.append(Finding(code: .chunkedSizeOverflow, severity: .fatal, evidence: [line.evidence(
                    at: 0, length: end, note: "a chunk size too large for the gateways (HAProxy stops at 13 hex digits, nginx at its off_t)")]))
                self.state = .failed
                return
            }
            size = size << 4 | value
            digits += 1
            index += 1
        }
        if digits == 0 {
            // The whole size line (without its CRLF); its line end alone when it is empty.
            findings.append(Finding(code: .chunkedBadSize, severity: .fatal, evidence: [line.evidence(
                at: 0, length: max(1, end), note: "a chunk size that does not start with a hex digit (RFC 9112 §7.1: chunk-size = 1*HEXDIG)")]))
            self.state = .failed
            return
        }
        if index < end, bytes[index] == ASCII.space || bytes[index] == ASCII.tab {
            let whitespace = index
            while index < end, bytes[index] == ASCII.space || bytes[index] == ASCII.tab { index += 1 }
            findings.append(Finding(code: .chunkedWhitespaceAfterSize, severity: .lint, evidence: [line.evidence(
                at: whitespace, length: index - whitespace, note: "whitespace after the chunk size (only BWS before ';' is allowed)")]))
        }
        if index < end {
            if bytes[index] == ASCII.semicolon {
                if let bad = Self.invalidExtension(bytes, index..<end) {
                    // From the offending byte to the end of the line (CRLF excluded).
                    findings.append(Finding(code: .chunkedBadExtension, severity: .fatal, evidence: [line.evidence(
                        at: bad.index, length: max(1, end - bad.index),
                        note: bad.missingName
                            ? "a chunk extension with no name after its ';' (RFC 9112 §7.1.1: chunk-ext-name = token)"
                            : "a byte not allowed in a chunk extension (RFC 9112 §7.1.1)")],
                        value: bad.missingName ? Self.missingExtensionName : nil))
                    self.state = .failed
                    return
                }
            } else {
                // From the offending byte to the end of the line (CRLF excluded).
                findings.append(Finding(code: .chunkedBadSize, severity: .fatal, evidence: [line.evidence(
                    at: index, length: end - index, note: "a byte that is not a hex digit in the chunk size")]))
                self.state = .failed
                return
            }
        }
        self.state = size == 0 ? .trailerLine : .data(remaining: size)
    }

    /// The value a `http.chunked.bad_ext` finding carries when an extension has no name (`2;`):
    /// gateways that only screen extension bytes pass it.
    static let missingExtensionName = Finding.missingChunkExtensionName

    /// The first place `bytes[range]` (which starts at ';') breaks RFC 9112 §7.1.1:
    /// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`,
    /// `chunk-ext-name = token`, `chunk-ext-val = token / quoted-string`. For a missing name,
    /// the index of its ';'.
    static func invalidExtension(_ bytes: [UInt8], _ range: Range<Int>) -> (index: Int, missingName: Bool)? {
        let end = range.upperBound
        var index = range.lowerBound
        func skipWhitespace() {
            while index < end, bytes[index] == ASCII.space || bytes[index] == ASCII.tab { index += 1 }
        }
        func token() -> Bool {
            let start = index
            while index < end, ASCII.isTokenCharacter(bytes[index]) { index += 1 }
            return index > start
        }
        while index < end {
            skipWhitespace()
            guard index < end else { return nil }
            guard bytes[index] == ASCII.semicolon else { return (index, false) }
            let semicolon = index
            index += 1
            skipWhitespace()
            guard token() else {
                let byte = index < end ? bytes[index] : ASCII.semicolon
                return byte == ASCII.semicolon || byte == ASCII.equals ? (semicolon, true) : (index, false)
            }
            skipWhitespace()
            guard index < end, bytes[index] == ASCII.equals else { continue }
            index += 1
            skipWhitespace()
            if index < end, bytes[index] == ASCII.quote {
                // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
                index += 1
                var closed = false
                while index < end {
                    let byte = bytes[index]
                    if byte == ASCII.backslash {
                        index += 1
                        guard index < end, bytes[index] >= 0x20 || bytes[index] == ASCII.tab, bytes[index] != 0x7f else {
                            return (min(index, end - 1), false)
                        }
                    } else if byte == ASCII.quote {
                        closed = true
                        index += 1
                        break
                    } else if (byte < 0x20 && byte != ASCII.tab) || byte == 0x7f {
                        return (index, false)
                    }
                    index += 1
                }
                if !closed { return (end - 1, false) }
            } else if !token() {
                return (min(index, end - 1), false)
            }
        }
        return nil
    }

    private mutating func trailerLineComplete(_ line: ByteRun, _ findings: inout [Finding]) {
        let bytes = line.bytes
        var end = bytes.count - 1
        let crlf = end > 0 && bytes[end - 1] == ASCII.cr
        if crlf { end -= 1 }
        if end == 0 {
            if !crlf {
                findings.append(Finding(code: .chunkedBareLF, severity: .fatal, evidence: [line.evidence(
                    at: 0, length: 1, note: "a bare LF instead of the CRLF that ends the chunked body")]))
                self.state = .failed
                return
            }
            self.state = .done
            return
        }
        let colon = bytes[0..<end].firstIndex(of: ASCII.colon)
        let nameValid = colon.map { $0 > 0 && bytes[0..<$0].allSatisfy(ASCII.isTokenCharacter) } ?? false
        if !crlf || !nameValid || bytes[0..<end].contains(where: { $0 == 0 || $0 == ASCII.cr }) {
            // The trailer line; its CRLF is not part of it, a bare LF that ends it is.
            findings.append(Finding(code: .chunkedBadTrailer, severity: .fatal, evidence: [line.evidence(
                at: 0, length: crlf ? end : bytes.count,
                note: crlf ? "a trailer line that is not a valid field line (RFC 9112 §7.1.2)" : "a trailer line ending in a bare LF")]))
            self.state = .failed
        }
    }
}
