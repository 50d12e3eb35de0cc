import CaptureModel
import HTTP1

/// Both directions of one FastCGI 1.0 connection on the gateway-to-application hop (nginx's
/// `fastcgi_pass`, Apache's `mod_proxy_fcgi`, Caddy's `php_fastcgi` in front of php-fpm): the
/// gateway's FCGI_BEGIN_REQUEST, FCGI_PARAMS and FCGI_STDIN, the application's FCGI_STDOUT,
/// FCGI_STDERR and FCGI_END_REQUEST, several requests one after another (`fastcgi_keep_conn`).
/// Fed reassembled chunks of any size, split anywhere, with gaps; returns findings as values and
/// performs no I/O.
///
/// - The CGI response at the start of FCGI_STDOUT is checked by HTTP/1's head rules
///   (`CGIResponseHead`); its evidence names the byte's place in the TCP stream, its frame, and
///   its offset in the FCGI_STDOUT content (`Evidence.contentOffset`).
/// - FCGI_STDERR text is kept (bounded, credentials masked): `stderr`, and `fcgi.stderr.fatal`
///   or `fcgi.stderr.warning` on the request it came with.
/// - A gap inside a record's content or padding is carried over (the header's lengths say where
///   the next record starts); a gap over a record header stops that direction's reading, since
///   record bytes carry no marker to find the next header again.
public struct FCGIConnection {
    /// Every finding, in the order found.
    public private(set) var findings: [Finding] = []
    /// Gaps in the application's stream that hid bytes a check needed.
    public private(set) var uncheckedGaps: [Evidence] = []
    /// Transactions in order (at most 1000 kept; see `transactionsDropped`).
    public private(set) var transactions: [Transaction] = []
    /// Transactions counted but not kept.
    public private(set) var transactionsDropped = 0
    /// Transactions finished since the last `clearFinishedTransactions()`.
    public private(set) var finishedTransactions: [Transaction] = []
    /// The first 5xx the application's CGI head gave (its `Status:` field), as evidence.
    public private(set) var upstream5xx: (status: Int, evidence: Evidence)?
    /// Whether the gateway's first record was a FCGI_BEGIN_REQUEST.
    public private(set) var gatewaySpeaksFastCGI = false

    /// At most this many bytes of FCGI_STDERR text are kept per connection.
    public static let maximumStderrBytes = 4096
    /// At most this many bytes of a request's FCGI_PARAMS are read for its identity.
    static let maximumParamsBytes = 16 << 10
    static let maximumTransactionsKept = 1000

    private let redactsSecrets: Bool
    private let fieldLimit: Int
    private var gatewayReader = RecordReader()
    private var upstreamReader = RecordReader()
    /// Requests begun and not yet ended, oldest first (one at a time in practice).
    private var requests: [PendingRequest] = []
    private var requestsSeen = 0
    private var responsesCompleted = 0
    private var stderrBytes: [UInt8] = []
    private var stderrCut = false
    /// The application's stream stopped being read (a bad version, a gap over a header).
    private var upstreamStopped = false
    private var upstreamDesynced = false
    /// Whether the application's side closed (FIN) or the connection was reset: a record cut then was cut by the peer.
    private var closedByPeer = false
    /// The END_REQUEST content being read (8 bytes: appStatus, protocolStatus, reserved).
    private var endBody: [UInt8] = []
    /// Where the FCGI_END_REQUEST body's protocolStatus byte came from (its fifth byte), however
    /// the record was cut into segments.
    private var endStatusMark: StreamMark?

    /// A connection with nothing seen. `redactsSecrets`: credential values are masked in
    /// evidence and in the kept stderr text; `fieldLimit`: as for an HTTP/1 response head.
    public init(redactsSecrets: Bool = true, fieldLimit: Int = HTTP1Connection.defaultFieldLimit) {
        self.redactsSecrets = redactsSecrets
        self.fieldLimit = fieldLimit
    }

    /// One request, from its FCGI_BEGIN_REQUEST to its FCGI_END_REQUEST.
    struct PendingRequest {
        var id: UInt16
        var begin: StreamMark
        var params: [UInt8] = []
        var paramsDone = false
        var info: RequestInfo?
        // The answer.
        var response: ResponseInfo?
        var head: CGIResponseHead
        var headChecked = false
        var headLost = false
        /// The empty FCGI_STDOUT came after the head: the response is complete for the gateway's
        /// client (nginx without keep-conn is done reading; FCGI_END_REQUEST may still follow).
        var stdoutClosed = false
        /// The end of FCGI_STDOUT came before the head ended (`fcgi.record.unexpected`, value 6).
        var stdoutClosedEarly = false
        /// FCGI_KEEP_CONN in FCGI_BEGIN_REQUEST (nginx's fastcgi_keep_conn): the gateway then
        /// reads to FCGI_END_REQUEST, not to the end of FCGI_STDOUT.
        var keepConnection = false
        /// Where the FCGI_STDOUT content bytes of the head came from: content offset, stream mark.
        var contentMarks: [(content: UInt64, mark: StreamMark)] = []
        var contentBytes: UInt64 = 0
        var bodyBytes: UInt64 = 0
        var status: Int?
        var stderr: (mark: StreamMark, text: [UInt8], fatal: Bool)?
        /// Where the kept FCGI_STDERR content (`stderr.text`) came from: content offset, stream mark.
        var stderrMarks: [(content: UInt64, mark: StreamMark)] = []
        /// The last bytes of FCGI_STDERR content, so a fatal marker cut between records is found.
        var stderrTail: [UInt8] = []

        /// The request as transactions show it: from FCGI_PARAMS, however far they came.
        mutating func identity() -> RequestInfo {
            if let info = self.info { return info }
            let info = Params.request(self.params, begin: self.begin)
            if self.paramsDone { self.info = info }
            return info
        }
    }

    // MARK: Feeding

    /// Feeds in-order bytes of one direction, starting at stream `offset`, whose first byte came
    /// from `frame` at `frameOffset` (nil when rebuilt from IP fragments).
    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        guard !bytes.isEmpty else { return }
        let mark = StreamMark(offset: offset, frame: frame, frameOffset: frameOffset, time: time)
        switch direction {
        case .client:
            var reader = self.gatewayReader
            reader.feed(bytes, mark: mark) { self.gatewayEvent($0) }
            self.gatewayReader = reader
        case .server:
            guard !self.upstreamStopped else { return }
            var reader = self.upstreamReader
            reader.feed(bytes, mark: mark) { self.upstreamEvent($0) }
            self.upstreamReader = reader
        }
    }

    /// Bytes of one direction the capture lacks (`truncated`: cut by the snap length).
    public mutating func gap(_ range: Range<UInt64>, direction: Direction, frame: FrameNumber?, truncated: Bool) {
        let length = range.upperBound - range.lowerBound
        switch direction {
        case .client:
            _ = self.gatewayReader.skip(length)
        case .server:
            guard !self.upstreamStopped else { return }
            let inStdoutHead: Bool = {
                guard case .content = self.upstreamReader.state, let header = self.upstreamReader.current,
                      header.type == RecordType.stdout, let index = self.requests.firstIndex(where: { $0.id == header.requestID })
                else { return false }
                return !self.requests[index].head.isComplete
            }()
            let carried = self.upstreamReader.skip(length)
            let note = truncated
                ? "\(length) \(length == 1 ? "byte" : "bytes") cut from frame \(frame.map(String.init) ?? "?") by the snap length, which could not be checked"
                : "\(length) \(length == 1 ? "byte" : "bytes") the application sent that are missing from the capture and could not be checked"
            let evidence = Evidence(direction: .server, streamOffset: range.lowerBound, frame: frame, frameOffset: nil, length: length, note: note)
            if !carried {
                self.upstreamStopped = true
                self.upstreamDesynced = true
                self.uncheckedGaps.append(evidence)
            } else if inStdoutHead, let header = self.upstreamReader.current,
                      let index = self.requests.firstIndex(where: { $0.id == header.requestID }) {
                self.requests[index].headLost = true
                self.uncheckedGaps.append(evidence)
            }
        }
    }

    /// The connection's first FIN or RST: `byPeer` when the application sent the FIN, or either side reset.
    public mutating func close(byPeer: Bool) {
        self.closedByPeer = byPeer
        if byPeer { self.noteCutRecord() }
    }

    /// Closes the books: unanswered requests and a cut response become transactions.
    public mutating func finish() {
        for index in self.requests.indices {
            self.judgeStderr(at: index)
            var request = self.requests[index]
            self.record(Transaction(request: request.identity(), response: request.response))
        }
        self.requests.removeAll()
    }

    /// Forgets `finishedTransactions` (they were handed on).
    public mutating func clearFinishedTransactions() {
        self.finishedTransactions.removeAll()
    }

    /// The application's FCGI_STDERR text, up to `maximumStderrBytes` (with `…` when cut), credential
    /// values masked; `nil` when it wrote none.
    public var stderr: String? {
        guard !self.stderrBytes.isEmpty else { return nil }
        let shown = self.redactsSecrets ? Redaction.masked(self.stderrBytes) : self.stderrBytes
        return String(decoding: shown, as: UTF8.self) + (self.stderrCut ? "…" : "")
    }

    /// Where the application's answer stood when its stream ended. Call before `finish()`.
    public var responseEnd: ResponseEnd {
        let answering = self.requests.first { $0.response != nil && !$0.stdoutClosed }
        let state: ResponseEnd.State
        if self.upstreamDesynced {
            state = .desynced
        } else if self.upstreamStopped {
            state = .opaque
        } else if let answering {
            state = answering.head.isComplete || answering.headLost
                ? .midBody(framing: .fastCGI, received: answering.bodyBytes, expected: nil)
                : .midHead(bytes: answering.head.byteCount)
        } else {
            state = .idle
        }
        var outstanding = self.requests.first { $0.response == nil }
        var inProgress = answering
        return ResponseEnd(
            state: state, inProgress: answering?.response, inProgressRequest: inProgress?.identity(),
            outstanding: outstanding?.identity(), responsesCompleted: self.responsesCompleted, requestsSeen: self.requestsSeen)
    }

    // MARK: The gateway's records

    private mutating func gatewayEvent(_ event: RecordEvent) -> Bool {
        switch event {
        case .header(let header):
            guard header.version == 1 else { return false }  // not records the reader can frame
            if header.type == RecordType.beginRequest {
                if self.requestsSeen == 0 { self.gatewaySpeaksFastCGI = true }
                self.requestsSeen += 1
                self.requests.append(PendingRequest(
                    id: header.requestID, begin: header.start,
                    head: CGIResponseHead(redactsSecrets: self.redactsSecrets, fieldLimit: self.fieldLimit)))
            } else if header.type == RecordType.params, header.contentLength == 0,
                      let index = self.requests.lastIndex(where: { $0.id == header.requestID }) {
                // FastCGI 1.0 §5.2: an empty FCGI_PARAMS record ends the stream of them.
                self.requests[index].paramsDone = true
                _ = self.requests[index].identity()
            }
        case .content(let bytes, _, let index, let header):
            // FastCGI 1.0 §5.1: FCGI_BeginRequestBody is role (2 bytes), flags, 5 reserved.
            if header.type == RecordType.beginRequest, index <= 2, index + bytes.count > 2,
               let request = self.requests.lastIndex(where: { $0.id == header.requestID }) {
                self.requests[request].keepConnection = bytes[2 - index] & 1 != 0
                return true
            }
            guard header.type == RecordType.params,
                  let index = self.requests.lastIndex(where: { $0.id == header.requestID }),
                  !self.requests[index].paramsDone
            else { return true }
            let room = Self.maximumParamsBytes - self.requests[index].params.count
            if room > 0 { self.requests[index].params += bytes.prefix(room) }
        case .end:
            break
        }
        return true
    }

    // MARK: The application's records

    private mutating func upstreamEvent(_ event: RecordEvent) -> Bool {
        switch event {
        case .header(let header):
            return self.upstreamHeader(header)
        case .content(let bytes, let mark, let index, let header):
            self.upstreamContent(bytes, mark: mark, index: index, header: header)
        case .end(let header):
            if header.type == RecordType.endRequest { self.endRequest(header) }
        }
        return true
    }

    private mutating func upstreamHeader(_ header: RecordHeader) -> Bool {
        guard header.version == 1 else {
            // FastCGI 1.0 §3.3: every record starts with FCGI_VERSION_1. What follows cannot be framed.
            let isHTTP = header.version == 0x48 && header.type == 0x54
            self.add(.fcgiRecordBadVersion, at: header.start, length: 1, bytes: [header.version],
                note: isHTTP ? "a record version of 72 (\"H\"): an HTTP response, not FastCGI records"
                    : "a record version of \(header.version) (FastCGI 1.0 has only version 1)",
                value: String(header.version))
            self.upstreamStopped = true
            return false
        }
        switch header.type {
        case RecordType.stdout, RecordType.stderr, RecordType.endRequest:
            guard let index = self.requests.firstIndex(where: { $0.id == header.requestID }) else {
                self.add(.fcgiRecordUnexpected, at: header.requestIDMark, length: 2,
                    note: "a \(RecordType.name(header.type)) record for request id \(header.requestID), which the gateway did not begin",
                    value: "request id \(header.requestID)")
                return true
            }
            if header.type == RecordType.stdout {
                if self.requests[index].response == nil, header.contentLength > 0 {
                    self.requests[index].response = ResponseInfo(
                        status: nil, offset: header.start.offset, frame: header.start.frame, time: header.start.time,
                        framing: .fastCGI, complete: false, interim: [])
                } else if header.contentLength == 0, self.requests[index].head.isComplete || self.requests[index].headLost
                            || self.requests[index].head.isOverLimit {
                    // FastCGI 1.0 §6.2: the empty record ends the stream; the response is whole,
                    // unless the gateway keeps the connection and so waits for FCGI_END_REQUEST.
                    if !self.requests[index].stdoutClosed, !self.requests[index].keepConnection {
                        self.requests[index].stdoutClosed = true
                        self.requests[index].response?.complete = true
                        self.responsesCompleted += 1
                    }
                } else if header.contentLength == 0, !self.requests[index].stdoutClosedEarly {
                    // nginx: "upstream prematurely closed FastCGI stdout" (502).
                    self.requests[index].stdoutClosedEarly = true
                    self.add(.fcgiRecordUnexpected, at: header.typeMark, length: 1,
                        note: "an empty FCGI_STDOUT record (the end of the stream) before the CGI head ended",
                        value: String(header.type))
                }
            } else if header.type == RecordType.endRequest {
                self.endBody.removeAll(keepingCapacity: true)
                self.endStatusMark = nil
            }
        default:
            // FastCGI 1.0 §8: an application sends FCGI_STDOUT, FCGI_STDERR, FCGI_END_REQUEST, and to
            // management records FCGI_GET_VALUES_RESULT and FCGI_UNKNOWN_TYPE (request id 0).
            self.add(.fcgiRecordUnexpected, at: header.typeMark, length: 1,
                note: "a \(RecordType.name(header.type)) record from the application, which the gateway does not expect",
                value: String(header.type))
        }
        return true
    }

    private mutating func upstreamContent(_ bytes: UnsafeRawBufferPointer, mark: StreamMark, index: Int, header: RecordHeader) {
        guard let request = self.requests.firstIndex(where: { $0.id == header.requestID }) else { return }
        switch header.type {
        case RecordType.stdout:
            let contentOffset = self.requests[request].contentBytes
            self.requests[request].contentBytes &+= UInt64(bytes.count)
            if self.requests[request].head.isComplete || self.requests[request].headLost {
                self.requests[request].bodyBytes &+= UInt64(bytes.count)
                return
            }
            self.requests[request].contentMarks.append((contentOffset, mark))
            let taken = self.requests[request].head.append(bytes, contentOffset: contentOffset)
            self.requests[request].bodyBytes &+= UInt64(bytes.count - taken)
            if self.requests[request].head.isComplete || self.requests[request].head.isOverLimit { self.checkHead(at: request) }
        case RecordType.stderr:
            if self.requests[request].stderr == nil { self.requests[request].stderr = (mark, [], false) }
            let room = Self.stderrKeptPerRequest - self.requests[request].stderr!.text.count
            if room > 0 {
                self.requests[request].stderrMarks.append((UInt64(self.requests[request].stderr!.text.count), mark))
                self.requests[request].stderr!.text += bytes.prefix(room)
            }
            let keep = Self.maximumStderrBytes - self.stderrBytes.count
            if keep > 0 { self.stderrBytes += bytes.prefix(keep) }
            if bytes.count > keep { self.stderrCut = true }
            if !self.requests[request].stderr!.fatal {
                let tail = self.requests[request].stderrTail
                let window = tail + bytes.prefix(Self.longestMarker)
                let found = window.withUnsafeBytes { Self.isFatal($0) } || Self.isFatal(bytes)
                if found { self.requests[request].stderr!.fatal = true }
                self.requests[request].stderrTail = Array((tail + bytes.suffix(Self.longestMarker)).suffix(Self.longestMarker))
            }
        case RecordType.endRequest:
            let before = self.endBody.count
            if before < 8 { self.endBody += bytes.prefix(8 - before) }
            if before <= 4, before + bytes.count > 4 { self.endStatusMark = mark.advanced(by: 4 - before) }
        default:
            break
        }
    }

    /// PHP's fatal messages (E_ERROR, E_PARSE, E_CORE_ERROR, E_COMPILE_ERROR, uncaught exceptions):
    /// `PHP Fatal error:`, `PHP Parse error:`. Looked for in each record's content.
    /// The FCGI_STDERR bytes of one request kept for its finding (the evidence is found in them).
    static let stderrKeptPerRequest = 512

    static let fatalMarkers = [Array("Fatal error".utf8), Array("Parse error".utf8)]
    static let longestMarker = 11

    static func isFatal(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for pattern in self.fatalMarkers {
            guard bytes.count >= pattern.count else { continue }
            var index = 0
            while index + pattern.count <= bytes.count {
                if bytes[index] == pattern[0], (1..<pattern.count).allSatisfy({ bytes[index + $0] == pattern[$0] }) { return true }
                index += 1
            }
        }
        return false
    }

    private mutating func checkHead(at index: Int) {
        guard !self.requests[index].headChecked else { return }
        self.requests[index].headChecked = true
        var found: [Finding] = []
        let marks = self.requests[index].contentMarks
        let outcome = self.requests[index].head.check(findings: &found, bufferEnd: self.bufferEnd(marks))
        for var finding in found {
            finding.evidence = finding.evidence.map { Self.place($0, marks: marks) }
            self.findings.append(finding)
        }
        self.requests[index].status = outcome.status
        self.requests[index].response?.status = outcome.status
        if let status = outcome.status, (500...599).contains(status), !outcome.hadFatal, self.upstream5xx == nil,
           let field = outcome.statusField {
            var evidence = Self.place(field, marks: marks)
            evidence.note = "a \(status) response from the application itself (its CGI Status field)"
            self.upstream5xx = (status, evidence)
        }
        self.requests[index].contentMarks = []
    }

    /// How many content bytes of the head nginx's `fastcgi_buffer_size` buffer holds: it reads the
    /// records into it from the first FCGI_STDOUT record's header on, so the record headers (and
    /// padding) in the first 4096 bytes take room too. (A FCGI_STDERR record read into the same
    /// buffer before it would too; nginx empties the buffer when stderr filled it, so those are
    /// not counted.)
    private func bufferEnd(_ marks: [(content: UInt64, mark: StreamMark)]) -> Int {
        guard let first = marks.first else { return CGIResponseHead.nginxBufferSize }
        // The first record's header is 8 bytes before its first content byte.
        let end = first.mark.offset &- 8 &+ UInt64(CGIResponseHead.nginxBufferSize)
        var fits = 0
        for (position, chunk) in marks.enumerated() {
            let chunkEnd = position + 1 < marks.count ? marks[position + 1].content : UInt64.max
            guard chunk.mark.offset < end else { break }
            fits = Int(min(chunkEnd, chunk.content &+ (end - chunk.mark.offset)))
        }
        return fits
    }

    /// Evidence made at content offsets, placed in the TCP stream: its stream offset, frame and
    /// offset in frame, with the content offset kept.
    static func place(_ evidence: Evidence, marks: [(content: UInt64, mark: StreamMark)]) -> Evidence {
        let content = evidence.streamOffset
        guard let chunk = marks.last(where: { $0.content <= content }) else { return evidence }
        let delta = Int(content - chunk.content)
        let at = chunk.mark.advanced(by: delta)
        var placed = evidence
        placed.streamOffset = at.offset
        placed.frame = at.frame
        placed.frameOffset = at.frameOffset
        placed.contextOffset = at.offset &- (content &- evidence.contextOffset)
        placed.contentOffset = content
        return placed
    }

    private mutating func endRequest(_ header: RecordHeader) {
        guard let index = self.requests.firstIndex(where: { $0.id == header.requestID }) else { return }
        // FastCGI 1.0 §5.5: appStatus (4 bytes), protocolStatus (1 byte), 3 reserved.
        let body = self.endBody
        let appStatus = body.count >= 4 ? body[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } : 0
        let protocolStatus = body.count >= 5 ? body[4] : 0
        let statusMark = self.endStatusMark ?? header.start.advanced(by: 12)
        let headEnded = self.requests[index].head.isComplete || self.requests[index].headLost || self.requests[index].head.isOverLimit
        switch protocolStatus {
        case 3:
            self.add(.fcgiEndRequestUnknownRole, at: statusMark, length: 1,
                note: "FCGI_END_REQUEST with protocolStatus 3, FCGI_UNKNOWN_ROLE (appStatus \(appStatus)): the application does not play the role asked for",
                value: "appStatus \(appStatus)")
        case 1:
            self.add(.fcgiEndRequestCantMpxConn, at: statusMark, length: 1,
                note: "FCGI_END_REQUEST with protocolStatus 1, FCGI_CANT_MPX_CONN (appStatus \(appStatus)): the application takes one request at a time on a connection",
                value: "appStatus \(appStatus)")
        case 2:
            self.add(.fcgiEndRequestOverloaded, at: statusMark, length: 1,
                note: "FCGI_END_REQUEST with protocolStatus 2, FCGI_OVERLOADED (appStatus \(appStatus)): the application refused the request",
                value: "appStatus \(appStatus)")
        default:
            let what = ""
            if self.requests[index].stdoutClosedEarly {
                break  // the end of FCGI_STDOUT was the unexpected record already
            } else if self.requests[index].response == nil {
                // nginx: "upstream sent unexpected FastCGI record: 3" (502); Apache and Caddy answer 200 with no body.
                self.add(.fcgiEndRequestBeforeStdout, at: header.typeMark, length: 1,
                    note: "FCGI_END_REQUEST\(what) with no FCGI_STDOUT before it (appStatus \(appStatus))",
                    value: "appStatus \(appStatus)")
            } else if !headEnded {
                self.add(.fcgiRecordUnexpected, at: header.typeMark, length: 1,
                    note: "FCGI_END_REQUEST\(what) before the CGI response head ended (appStatus \(appStatus))",
                    value: String(RecordType.endRequest))
            }
        }
        if !self.requests[index].headChecked, self.requests[index].head.isComplete || self.requests[index].head.isOverLimit {
            self.checkHead(at: index)
        }
        if self.requests[index].response == nil {
            self.requests[index].response = ResponseInfo(
                status: nil, offset: header.start.offset, frame: header.start.frame, time: header.start.time, framing: .fastCGI,
                complete: false, interim: [])
        }
        self.requests[index].response?.complete = true
        self.judgeStderr(at: index)
        if !self.requests[index].stdoutClosed { self.responsesCompleted += 1 }
        var request = self.requests.remove(at: index)
        self.record(Transaction(request: request.identity(), response: request.response))
    }

    /// The request's FCGI_STDERR text as a finding: fatal with a 5xx answer, a warning otherwise.
    private mutating func judgeStderr(at index: Int) {
        guard let stderr = self.requests[index].stderr else { return }
        self.requests[index].stderr = nil
        let text = self.redactsSecrets ? Redaction.masked(stderr.text) : stderr.text
        let status = self.requests[index].status ?? 0
        let fatal = stderr.fatal && (500...599).contains(status)
        // The evidence is the message itself: PHP's "PHP Fatal error" (or "Fatal error") for a
        // fatal one, else the message after the "PHP message: " that php-fpm puts before each.
        var start = 0
        if fatal, let found = Self.firstFatalMarker(in: stderr.text) {
            start = found >= 4 && stderr.text[(found - 4)..<found].elementsEqual("PHP ".utf8) ? found - 4 : found
        } else if stderr.text.starts(with: Self.messagePrefix) {
            start = Self.messagePrefix.count
        }
        let message = Array(text[start...])
        let firstLine = message.split(separator: 0x0a, maxSplits: 1).first.map { Array($0) } ?? message
        let shown = Array(message.prefix(64))
        let contextStart = max(0, start - 24)
        let atContent = Evidence(
            direction: .server, streamOffset: UInt64(start), frame: nil, frameOffset: nil,
            length: UInt64(stderr.text.count - start), bytes: shown, context: Array(text[contextStart..<min(text.count, start + 64 + 24)]),
            contextOffset: UInt64(contextStart),
            note: fatal
                ? "a fatal error the application wrote to FCGI_STDERR before answering \(status)"
                : "text the application wrote to FCGI_STDERR" + (status > 0 ? " (it answered \(status))" : ""))
        let evidence = Self.place(atContent, marks: self.requests[index].stderrMarks)
        self.findings.append(Finding(
            code: fatal ? .fcgiStderrFatal : .fcgiStderrWarning, severity: fatal ? .fatal : .warning, evidence: [evidence],
            value: String(decoding: firstLine.prefix(200), as: UTF8.self)))
    }

    /// php-fpm's prefix of each message it passes on from PHP.
    static let messagePrefix = Array("PHP message: ".utf8)

    /// Where the first of `fatalMarkers` starts in `bytes`.
    static func firstFatalMarker(in bytes: [UInt8]) -> Int? {
        var best: Int?
        for pattern in self.fatalMarkers where bytes.count >= pattern.count {
            var index = 0
            while index + pattern.count <= (best ?? bytes.count) {
                if bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                    best = index
                    break
                }
                index += 1
            }
        }
        return best
    }

    /// A record the application's side left cut when it closed: `fcgi.record.truncated`, while the
    /// CGI head had not ended (after it, the close cuts the body: `tcp.fin.mid_body`).
    private mutating func noteCutRecord() {
        guard !self.upstreamStopped, let partial = self.upstreamReader.partial, let start = partial.start else { return }
        if let header = self.upstreamReader.current, partial.expected != nil,
           let index = self.requests.firstIndex(where: { $0.id == header.requestID }),
           self.requests[index].head.isComplete || self.requests[index].stdoutClosed {
            return
        }
        let expected = partial.expected.map { " of the \($0) its header announced" } ?? " of an 8-byte record header"
        self.add(.fcgiRecordTruncated, at: start, length: UInt64(partial.got),
            note: "a record cut when the connection closed: \(partial.got) \(partial.got == 1 ? "byte" : "bytes")\(expected)",
            value: "\(partial.got) \(partial.expected ?? 8)")
    }

    private mutating func add(
        _ code: FindingCode, at mark: StreamMark, length: UInt64, bytes: [UInt8] = [], note: String, value: String?
    ) {
        let evidence = Evidence(
            direction: .server, streamOffset: mark.offset, frame: mark.frame, frameOffset: mark.frameOffset, length: length,
            bytes: bytes, context: bytes, note: note)
        self.findings.append(Finding(code: code, severity: code.cause.entry.severity, evidence: [evidence], value: value))
    }

    private mutating func record(_ transaction: Transaction) {
        self.finishedTransactions.append(transaction)
        if self.transactions.count < Self.maximumTransactionsKept {
            self.transactions.append(transaction)
        } else {
            self.transactionsDropped += 1
        }
    }
}
