import CaptureModel

/// Requests sent and not yet answered, oldest first.
struct RequestQueue {
    private var items: [RequestInfo] = []
    private var head = 0

    var isEmpty: Bool { self.head == self.items.count }
    var count: Int { self.items.count - self.head }
    var first: RequestInfo? { self.isEmpty ? nil : self.items[self.head] }

    mutating func append(_ request: RequestInfo) {
        self.items.append(request)
    }

    mutating func popFirst() -> RequestInfo? {
        guard !self.isEmpty else { return nil }
        defer {
            self.head += 1
            if self.head > 32, self.head * 2 > self.items.count {
                self.items.removeFirst(self.head)
                self.head = 0
            }
        }
        return self.items[self.head]
    }
}

/// The upstream's side: responses framed and validated against RFC 9112/9110, every violation a
/// finding with the offending bytes. Heads are copied (they are small); bodies are skipped by
/// length, never walked.
struct ResponseParser {
    enum State {
        /// Between messages.
        case idle
        /// Collecting a head.
        case head
        case contentLength(remaining: UInt64)
        case chunked(ChunkedDecoder)
        case untilClose
        case tunnel
        /// Not HTTP/1 (or no longer framable): the rest is counted, not parsed.
        case opaque
        /// After a gap hid framing: looking for the next status line.
        case desynced
    }

    /// What the stream looked like when it ended.
    enum EndState: Equatable {
        case idle
        case midHead(bytes: Int)
        case midBody(framing: BodyFraming, received: UInt64, expected: UInt64?)
        case opaque
        case desynced
    }

    /// A head larger than this is not buffered further (nginx's default limit is 4 KiB, HAProxy's 16 KiB).
    static let maximumHeadBytes = 64 << 10
    /// nginx's default `proxy_buffer_size` (one page): a larger head is refused with 502.
    static let nginxHeadLimit = 4096

    private(set) var state: State = .idle
    private var run = ByteRun(direction: .server)
    /// Whether evidence masks credential values (`Redaction`).
    var redactsSecrets = true {
        didSet { self.run.redactsSecrets = self.redactsSecrets }
    }
    /// Past this many header fields a head gets `http.header.too_many` (`HeadParser.parseFields`).
    var fieldLimit = HeadParser.maximumFieldCount
    private var headEnd = HeadEndScanner()
    private var prefixChecked = false
    /// A finding about the stream's first bytes whose evidence (and value) grows with the bytes
    /// that follow, up to `limit`, so it does not depend on how the stream was cut.
    private var growing: (index: Int, limit: Int, valueBytes: Int)?
    /// Desynced: the first bytes of "HTTP/1." that ended the last chunk, and where they began.
    private var resync: (matched: Int, offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp)?
    /// Where a status line found across chunks began: the head starts there.
    private var resyncStart: (matched: Int, offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp)?
    private static let statusLinePrefix = Array("HTTP/1.".utf8)

    /// The message being received.
    private var current: ResponseInfo?
    private var currentRequest: RequestInfo?
    /// Responses whose start a gap swallowed: their requests are left unanswered when the parser
    /// finds the next status line, which answers the request after them (Zeek and Suricata pair
    /// the same way). One at most: how many whole responses a gap held cannot be known.
    private var lostResponses = 0
    private var bodyReceived: UInt64 = 0
    private var lastWasBodyless = false

    /// Finished transactions, in order.
    private(set) var transactions: [Transaction] = []
    /// Transactions not kept (over `maximumTransactionsKept`), only counted.
    private(set) var transactionsDropped = 0
    static let maximumTransactionsKept = 1000
    /// Transactions finished since the last `takeRecorded()`.
    var recorded: [Transaction] = []
    /// Every complete final response.
    private(set) var responsesCompleted = 0
    /// The first well-formed 5xx status line, for `http.upstream_5xx`.
    private(set) var first5xx: Evidence?
    private(set) var first5xxStatus: Int?
    /// The first byte the upstream sent, if any.
    private(set) var firstByte: (offset: UInt64, frame: FrameNumber, time: Timestamp)?
    /// Bytes of the server stream seen (delivered or gapped).
    private(set) var bytesSeen: UInt64 = 0
    /// Indexes (into the findings array) of body findings whose bytes came in the frame that
    /// ended the response head: HAProxy has not forwarded the head yet when it meets them.
    private(set) var arrivedWithHead: Set<Int> = []
    private var headEndFrame: FrameNumber?
    /// Set when a response did not begin with a status line, and the stream was left unread from there.
    private(set) var violation: ProtocolViolation?
    /// The last head read, while `run` still holds it (its body is not read through `run`):
    /// between a head and the next one the buffer is idle, so a head wanted as a healthy
    /// neighbour is copied from it only when asked (`parkedHead`).
    /// Whether `run` holds the last head (`current`'s) after it was read, and whether it was healthy.
    private var parked: Parked = .none
    enum Parked: UInt8 {
        case none
        case failing
        case healthy
    }
    /// The head of the first response with a fatal finding (or cut in its body), copied then:
    /// only a failing connection pays for it.
    private(set) var failingHead: ResponseHead?

    // MARK: Feeding

    mutating func feed(
        _ window: FeedWindow, time: Timestamp, requests: inout RequestQueue, findings: inout [Finding]
    ) {
        if self.firstByte == nil, !window.bytes.isEmpty { self.firstByte = (window.offset, window.frame, time) }
        self.bytesSeen &+= UInt64(window.bytes.count)
        var index = 0
        let bytes = window.bytes
        while index < bytes.count {
            switch self.state {
            case .opaque, .tunnel:
                if let growing = self.growing { self.grow(growing, window, from: index, findings: &findings) }
                return
            case .desynced:
                let needle = Self.statusLinePrefix
                if let partial = self.resync {
                    // "HTTP/1." may have begun in an earlier chunk: look for the rest here.
                    self.resync = nil
                    let available = min(needle.count - partial.matched, bytes.count - index)
                    if (0..<available).allSatisfy({ bytes[index + $0] == needle[partial.matched + $0] }) {
                        if partial.matched + available < needle.count {
                            self.resync = (partial.matched + available, partial.offset, partial.frame, partial.frameOffset, partial.time)
                            return
                        }
                        self.resyncStart = partial
                        self.state = .idle
                        self.leaveLostResponses(&requests)
                        continue
                    }
                }
                guard let found = Self.find(needle, in: bytes, from: index) else {
                    // Keep a tail that starts "HTTP/1." so a status line cut across chunks is found.
                    for matched in stride(from: min(needle.count - 1, bytes.count - index), through: 1, by: -1)
                    where (0..<matched).allSatisfy({ bytes[bytes.count - matched + $0] == needle[$0] }) {
                        let at = bytes.count - matched
                        self.resync = (matched, window.offset &+ UInt64(at), window.frame, window.frameOffset.map { $0 + at }, time)
                        break
                    }
                    return
                }
                index = found
                self.state = .idle
                self.leaveLostResponses(&requests)
            case .idle:
                if requests.isEmpty, self.responsesCompleted > 0 || self.current != nil {
                    // No request is waiting: these bytes answer nothing.
                    let code: FindingCode = self.lastWasBodyless ? .bodyOnBodyless : .bodyExtraAfterMessage
                    let note = code == .bodyOnBodyless
                        ? "body bytes after a response that cannot have a body (HEAD, 1xx, 204 or 304)"
                        : "\(bytes.count - index) \(bytes.count - index == 1 ? "byte" : "bytes") after a complete response, with no request outstanding"
                    var evidence = window.evidence(at: index, length: min(bytes.count - index, 64), note: note)
                    if let start = self.resyncStart {
                        // They began in an earlier chunk, with the "HTTP/1." found across chunks.
                        self.resyncStart = nil
                        let shown = Array((Self.statusLinePrefix[..<start.matched] + bytes[index...]).prefix(64))
                        evidence = Evidence(
                            direction: .server, streamOffset: start.offset, frame: start.frame, frameOffset: start.frameOffset,
                            length: UInt64(shown.count), bytes: shown, note: note)
                    }
                    self.growing = (findings.count, 64, 0)
                    findings.append(Finding(code: code, severity: .warning, evidence: [evidence]))
                    if self.failingHead == nil { self.failingHead = self.parkedHead(transaction: nil) }
                    self.state = .opaque
                    return
                }
                self.state = .head
                self.prefixChecked = false
                self.headEnd = HeadEndScanner()
                // The last head was kept parked in the buffer until now.
                self.run.reset()
                self.parked = .none
                self.current = ResponseInfo(
                    status: nil, offset: window.offset &+ UInt64(index), frame: window.frame, time: time,
                    framing: .none, complete: false, interim: self.current?.complete == false ? (self.current?.interim ?? []) : [])
                if let start = self.resyncStart {
                    // The status line began in an earlier chunk with these bytes (no CR or LF among them).
                    self.resyncStart = nil
                    self.current?.offset = start.offset
                    self.current?.frame = start.frame
                    self.current?.time = start.time
                    Self.statusLinePrefix[..<start.matched].withUnsafeBytes { prefix in
                        self.run.append(prefix, offset: start.offset, frame: start.frame, frameOffset: start.frameOffset)
                    }
                }
            case .head:
                index = self.collectHead(window, from: index, requests: &requests, findings: &findings)
            case .contentLength(let remaining):
                let run = min(UInt64(bytes.count - index), remaining)
                index += Int(run)
                self.bodyReceived &+= run
                if run == remaining {
                    self.messageComplete()
                } else {
                    self.state = .contentLength(remaining: remaining - run)
                }
            case .chunked(var decoder):
                let before = findings.count
                let outcome = decoder.feed(window, from: index, line: &self.run, findings: &findings)
                for found in before..<findings.count where findings[found].evidence.first?.frame == self.headEndFrame {
                    self.arrivedWithHead.insert(found)
                }
                self.bodyReceived = decoder.dataBytes
                switch outcome {
                case .needMore:
                    self.state = .chunked(decoder)
                    index = bytes.count
                case .complete(let next):
                    index = next
                    self.messageComplete()
                case .failed:
                    self.state = .opaque
                    self.run.reset()
                    return
                }
            case .untilClose:
                self.bodyReceived &+= UInt64(bytes.count - index)
                return
            }
        }
    }

    /// Bytes of the upstream's stream missing from the capture. Returns evidence when the gap
    /// hid bytes a check needed (a head, a chunk line), `nil` when framing carried over it.
    mutating func gap(range: Range<UInt64>, frame: FrameNumber?, note: String) -> Evidence? {
        let length = range.upperBound - range.lowerBound
        self.bytesSeen &+= length
        let evidence = Evidence(direction: .server, streamOffset: range.lowerBound, frame: frame, frameOffset: nil, length: length, note: note)
        switch self.state {
        case .contentLength(let remaining) where length <= remaining:
            self.bodyReceived &+= length
            if length == remaining { self.messageComplete() } else { self.state = .contentLength(remaining: remaining - length) }
            return nil
        case .contentLength(let remaining):
            // The gap runs past this body: the response is whole, and the next one began in the gap.
            self.bodyReceived &+= remaining
            self.messageComplete()
            self.run.reset()
            self.lostResponses = 1
            self.state = .desynced
            return evidence
        case .chunked(var decoder):
            if decoder.skip(length) {
                self.state = .chunked(decoder)
                return nil
            }
            // The body's framing is lost: the response stands as cut, and the next status line
            // answers the next request.
            self.current?.complete = false
            if let current = self.current { self.record(Transaction(request: self.currentRequest, response: current)) }
            self.current = nil
            self.currentRequest = nil
            self.run.reset()
            self.state = .desynced
            return evidence
        case .untilClose:
            self.bodyReceived &+= length
            return nil
        case .opaque, .tunnel:
            return nil
        case .idle, .head:
            // Bytes of the response to the next request are missing: its start, at least.
            self.lostResponses = 1
            self.current = nil
            self.run.reset()
            self.resync = nil
            self.resyncStart = nil
            self.state = .desynced
            return evidence
        case .desynced:
            self.run.reset()
            self.resync = nil
            self.resyncStart = nil
            return evidence
        }
    }

    /// Leaves the requests whose responses a gap swallowed unanswered, before the status line
    /// just found is paired. The last request waiting is never left: a status line with no
    /// request after the lost one is that request's answer, what the gap held notwithstanding.
    private mutating func leaveLostResponses(_ requests: inout RequestQueue) {
        while self.lostResponses > 0 {
            self.lostResponses -= 1
            guard requests.count > 1, let request = requests.popFirst() else { break }
            self.record(Transaction(request: request, response: nil))
        }
        self.lostResponses = 0
    }

    /// Where the stream stands now (call at its end).
    var endState: EndState {
        switch self.state {
        case .idle: return .idle
        case .head: return .midHead(bytes: self.run.count)
        case .contentLength(let remaining):
            return .midBody(framing: .contentLength, received: self.bodyReceived, expected: self.bodyReceived &+ remaining)
        case .chunked: return .midBody(framing: .chunked, received: self.bodyReceived, expected: nil)
        case .untilClose: return .midBody(framing: .close, received: self.bodyReceived, expected: nil)
        case .tunnel, .opaque: return .opaque
        case .desynced: return .desynced
        }
    }

    /// The response in progress, if any.
    var inProgress: ResponseInfo? { self.current?.complete == false ? self.current : nil }
    /// The request the response in progress answers.
    var inProgressRequest: RequestInfo? { self.currentRequest }

    /// The stream ended with a FIN: a read-until-close body is complete, and a response head
    /// too short for the status-line check (a 7-byte TLS alert) gets it now.
    mutating func closedByFIN() {
        self.checkPendingStart()
        if case .untilClose = self.state {
            self.messageComplete()
            self.state = .opaque
        }
    }

    /// Runs the status-line check on a response head too short to have had it (the stream ended).
    mutating func checkPendingStart() {
        if case .head = self.state, !self.prefixChecked, !self.run.isEmpty {
            self.prefixChecked = true
            if !self.startsLikeStatusLine() {
                self.stopAtViolation()
            }
        }
    }

    /// Records the transactions still open at the end (requests never answered, a cut response).
    mutating func finish(requests: inout RequestQueue) {
        if let current = self.current, !current.complete, self.failingHead == nil, self.parkedValid {
            // Cut in its body: the head is the failing response's.
            self.failingHead = self.parkedHead(transaction: nil)
        }
        if let current = self.current, !current.complete, current.status != nil || (self.run.count > 0 && !self.parkedValid) || self.bodyReceived > 0 {
            self.record(Transaction(request: self.currentRequest, response: current))
            self.current = nil
        }
        while let request = requests.popFirst() {
            self.record(Transaction(request: request, response: nil))
        }
    }

    // MARK: Heads

    private mutating func collectHead(
        _ window: FeedWindow, from start: Int, requests: inout RequestQueue, findings: inout [Finding]
    ) -> Int {
        let bytes = window.bytes
        let headEnd = self.headEnd.scan(bytes, from: start)
        let end = headEnd ?? bytes.count
        self.run.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), offset: window.offset &+ UInt64(start),
                        frame: window.frame, frameOffset: window.frameOffset.map { $0 + start })
        // Nine bytes are a status line's version and the space after it ("HTTP/1.1 "); a head
        // that ends sooner is checked at its end.
        if !self.prefixChecked, self.run.count >= 9 || headEnd != nil {
            self.prefixChecked = true
            if !self.startsLikeStatusLine() {
                self.stopAtViolation()
                return bytes.count
            }
        }
        guard headEnd != nil else {
            if self.run.count > Self.maximumHeadBytes {
                // From the first byte past nginx's buffer to the first byte past the most held
                // (the same bytes however the stream was cut): what does not fit.
                findings.append(Finding(code: .headerTooLarge, severity: .fatal, evidence: [self.run.evidence(
                    at: Self.nginxHeadLimit, length: Self.maximumHeadBytes + 1 - Self.nginxHeadLimit,
                    note: "a response head still not complete after \(self.run.count) bytes (nginx's buffer is \(Self.nginxHeadLimit))")],
                    value: String(self.run.count)))
                self.state = .opaque
                self.run.reset()
                return bytes.count
            }
            return end
        }
        self.headEnd = HeadEndScanner()
        self.headEndFrame = window.frame
        let findingsBefore = findings.count
        let head = self.current
        self.headComplete(requests: &requests, findings: &findings)
        let fatal = findings[findingsBefore...].contains { $0.severity == .fatal }
        // The status as the head gave it (1xx heads clear it again: they are not parked).
        let status = self.current?.offset == head?.offset ? self.current?.status : nil
        switch self.state {
        case .idle, .contentLength, .untilClose:
            // The body (if any) is skipped by length: the head stays in the buffer until the next.
            let warned = findings[findingsBefore...].contains { $0.severity == .warning }
            self.parked = head != nil && !fatal && !warned && (status ?? 500) < 500 ? .healthy : .failing
        case .head, .chunked, .tunnel, .opaque, .desynced:
            self.parked = .none
        }
        if fatal, self.failingHead == nil, let head, !self.run.isEmpty {
            self.failingHead = self.copyHead(offset: head.offset, frame: head.frame, time: head.time, status: status)
        }
        if self.parked == .none { self.run.reset() }
        return end
    }

    /// The last head read, if the buffer still holds it and it was healthy: well-formed, with a
    /// status below 500. Copied only when asked.
    var parkedHealthyHead: UInt64? {
        guard self.parked == .healthy, let current = self.current, self.parkedValid else { return nil }
        return current.offset
    }

    /// Whether `run` still holds the parked head: `current`'s, until the next head begins.
    private var parkedValid: Bool {
        guard self.parked != .none, let current = self.current, !self.run.isEmpty, self.run.start == current.offset else { return false }
        if case .head = self.state { return false }
        return true
    }

    /// A copy of the parked head (healthy or not), if the buffer still holds it.
    func parkedHead(transaction: Int?) -> ResponseHead? {
        guard self.parkedValid, let current = self.current else { return nil }
        return self.copyHead(offset: current.offset, frame: current.frame, time: current.time, status: current.status, transaction: transaction)
    }

    private func copyHead(offset: UInt64, frame: FrameNumber?, time: Timestamp, status: Int?, transaction: Int? = nil) -> ResponseHead {
        let bytes = self.run.bytes.count > ResponseHead.maximumBytes ? Array(self.run.bytes.prefix(ResponseHead.maximumBytes)) : self.run.bytes
        return ResponseHead(
            bytes: self.redactsSecrets ? Redaction.masked(bytes) : bytes, offset: offset, frame: frame, time: time, status: status,
            transaction: transaction)
    }

    /// RFC 9112 §4: a response begins with its status line, whose HTTP-version begins "HTTP/"
    /// (any case here: the status-line parser reports a version in the wrong case).
    private func startsLikeStatusLine() -> Bool {
        let bytes = self.run.bytes
        if bytes.starts(with: Self.statusLinePrefix.prefix(5)) { return true }
        return bytes.count >= 5 && ASCII.equalsIgnoringCase(bytes, 0..<5, "http/")
    }

    /// A response that is not HTTP/1: the stream is not read further, and its first bytes are
    /// kept for whoever chose this parser to say what they are (`violation`).
    private mutating func stopAtViolation() {
        let location = self.run.location(of: 0)
        self.violation = ProtocolViolation(
            direction: .server, streamOffset: self.run.start, frame: location.frame, frameOffset: location.frameOffset,
            bytes: Array(self.run.bytes.prefix(ProtocolViolation.sampleLimit)))
        self.growing = nil
        self.state = .opaque
        self.run.reset()
    }

    /// Adds the bytes of `window` from `start` to the growing finding's first evidence, up to
    /// its limit, while they follow on from it.
    private mutating func grow(
        _ growing: (index: Int, limit: Int, valueBytes: Int), _ window: FeedWindow, from start: Int, findings: inout [Finding]
    ) {
        var evidence = findings[growing.index].evidence[0]
        let have = Int(evidence.length)
        guard have < growing.limit, evidence.bytes.count == have,
              window.offset &+ UInt64(start) == evidence.streamOffset &+ UInt64(have)
        else {
            self.growing = nil
            return
        }
        let more = UnsafeRawBufferPointer(rebasing: window.bytes[start...]).prefix(growing.limit - have)
        evidence.length += UInt64(more.count)
        evidence.bytes += more
        // Masked again as a whole: a credential's value may go on in the bytes added.
        if self.redactsSecrets { evidence.bytes = Redaction.masked(evidence.bytes) }
        findings[growing.index].evidence[0] = evidence
        if growing.valueBytes > 0 {
            findings[growing.index].value = String(decoding: evidence.bytes.prefix(growing.valueBytes), as: UTF8.self)
        }
    }

    private mutating func headComplete(requests: inout RequestQueue, findings: inout [Finding]) {
        let bytes = self.run.bytes
        var lines = HeadLines(bytes, end: bytes.count)
        guard let statusLine = lines.next() else { return }
        let headFindingsStart = findings.count
        let status = self.parseStatusLine(statusLine, findings: &findings)
        if let bareLF = statusLine.bareLF ? statusLine : HeadLines(bytes, end: bytes.count).first(where: { $0.bareLF }) {
            findings.append(Finding(code: .lineBareLF, severity: .lint, evidence: [self.run.evidence(
                at: bareLF.content.upperBound, length: 1, note: "a line ended by LF without CR (RFC 9112 §2.2: a recipient MAY accept it)")]))
        }
        let head = HeadParser.parseFields(self.run, lines: lines, isResponse: true, fieldLimit: self.fieldLimit, findings: &findings)
        let tooMany = findings[headFindingsStart...].firstIndex { $0.code == .headerTooMany }
        if let index = tooMany {
            // How many fields the head has: each gateway model judges it against its own limit.
            findings[index].value = String(head.fieldCount)
        }
        if bytes.count > Self.nginxHeadLimit {
            // What HAProxy needs for this head in its HTX buffer (measured with 2.6.12 against the
            // byte it starts refusing at, for heads of 32 and of 72 fields): 85 bytes of its own,
            // the status line's three parts, and each field's name and value with 8 bytes more.
            let statusParts = statusLine.content.count - min(statusLine.content.count, 2)
            let htx = 85 + statusParts + head.fieldBytes + 8 * head.fieldCount
            // From the first byte past nginx's buffer to the end of the head: what does not fit.
            findings.append(Finding(code: .headerTooLarge, severity: .fatal, evidence: [self.run.evidence(
                at: Self.nginxHeadLimit, length: bytes.count - Self.nginxHeadLimit,
                note: "a response head of \(bytes.count) bytes, past nginx's default proxy_buffer_size of 4096 bytes"
                    + " (HAProxy would need \(htx) of the 15360 bytes its buffer keeps for a head)")],
                value: "\(bytes.count) \(htx) \(head.longestFieldLine)"))
        }
        if head.fieldCount > HeadParser.maximumFieldCount, let index = tooMany {
            // HAProxy 2.6's `show errors` names where it stopped: past the 102nd field's line, or at
            // the end of the head when there are 101 (measured).
            let position = self.run.start &+ UInt64(head.firstFieldPastSlotsEnd ?? bytes.count)
            findings[index].evidence[0].note += " (HAProxy's show errors names position \(position))"
        }
        let headHadFatal = findings[headFindingsStart...].contains { $0.severity == .fatal }

        guard let status else {
            // No usable status line: the gateways stop here (or relay it as HTTP/0.9).
            self.state = .opaque
            self.current?.complete = false
            return
        }
        self.current?.status = status
        if status >= 500, status <= 599, !headHadFatal, self.first5xx == nil {
            self.first5xx = self.run.evidence(at: 0, length: statusLine.content.count, note: "a \(status) response from the upstream itself")
            self.first5xxStatus = status
        }

        // 1xx: interim, the final response follows (RFC 9110 §15.2); 101 switches protocols.
        if status >= 100 && status < 200 && status != 101 {
            self.noteDeclaredBody(head, status: status, findings: &findings)
            self.current?.interim.append(status)
            self.current?.status = nil
            self.state = .head
            self.headEnd = HeadEndScanner()
            self.prefixChecked = true
            self.run.reset()
            return
        }
        self.currentRequest = requests.popFirst()
        let request = self.currentRequest
        if status == 101 || (request?.isCONNECT == true && status >= 200 && status < 300) {
            // RFC 9110 §15.2.2, §9.3.6: the response is complete at the end of its head; the
            // bytes after it belong to the protocol switched to (or to the tunnel).
            self.current?.framing = .tunnel
            self.current?.complete = true
            self.state = .tunnel
            if let current = self.current { self.record(Transaction(request: request, response: current)) }
            self.responsesCompleted += 1
            return
        }
        if request?.isHEAD == true || status == 204 || status == 304 {
            if status == 204 { self.noteDeclaredBody(head, status: status, findings: &findings) }
            self.current?.framing = .none
            self.lastWasBodyless = true
            self.messageComplete(bodyless: true)
            return
        }
        self.lastWasBodyless = false
        self.bodyReceived = 0
        self.state = self.framing(head, findings: &findings)
        if case .contentLength(0) = self.state {
            self.messageComplete()
        }
    }

    /// RFC 9112 §4: `status-line = HTTP-version SP status-code SP [ reason-phrase ]`.
    private func parseStatusLine(_ line: HeadLine, findings: inout [Finding]) -> Int? {
        let bytes = self.run.bytes
        let range = line.content
        if let bareCR = ASCII.firstIndex(of: ASCII.cr, in: bytes, range) {
            findings.append(Finding(code: .lineBareCR, severity: .fatal, evidence: [self.run.evidence(
                at: bareCR, length: 1, note: "a CR not followed by LF inside the status line (RFC 9112 §2.2)")]))
        }
        // HTTP-version = "HTTP" "/" DIGIT "." DIGIT, exactly 8 bytes, then SP.
        let versionOK = range.count >= 9
            && bytes[range.lowerBound] == UInt8(ascii: "H") && bytes[range.lowerBound + 1] == UInt8(ascii: "T")
            && bytes[range.lowerBound + 2] == UInt8(ascii: "T") && bytes[range.lowerBound + 3] == UInt8(ascii: "P")
            && bytes[range.lowerBound + 4] == UInt8(ascii: "/")
            && ASCII.isDigit(bytes[range.lowerBound + 5]) && bytes[range.lowerBound + 6] == UInt8(ascii: ".")
            && ASCII.isDigit(bytes[range.lowerBound + 7]) && bytes[range.lowerBound + 8] == ASCII.space
        guard versionOK else {
            let spaceIndex = bytes[range].firstIndex(of: ASCII.space) ?? range.upperBound
            findings.append(Finding(code: .statusLineBadVersion, severity: .fatal, evidence: [self.run.evidence(
                at: range.lowerBound, length: max(1, spaceIndex - range.lowerBound),
                note: "a status line that does not start with HTTP/DIGIT.DIGIT and one space (RFC 9112 §2.3)")],
                value: String(decoding: bytes[range.lowerBound..<spaceIndex], as: UTF8.self)))
            return nil
        }
        var index = range.lowerBound + 9
        let codeStart = index
        while index < range.upperBound, ASCII.isDigit(bytes[index]) { index += 1 }
        let digits = index - codeStart
        let followedOK = index == range.upperBound || bytes[index] == ASCII.space
        guard digits == 3, followedOK else {
            var end = codeStart
            while end < range.upperBound, bytes[end] != ASCII.space { end += 1 }
            findings.append(Finding(code: .statusLineBadCode, severity: .fatal, evidence: [self.run.evidence(
                at: codeStart, length: max(1, end - codeStart), note: "a status code that is not exactly three digits (RFC 9112 §4)")],
                value: String(decoding: bytes[codeStart..<end], as: UTF8.self)))
            return nil
        }
        let status = bytes[codeStart..<index].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        if status < 100 || status > 599 {
            findings.append(Finding(code: .statusLineBadCode, severity: .fatal, evidence: [self.run.evidence(
                at: codeStart, length: 3, note: "status \(status), outside 100-599 (RFC 9110 §15)")], value: String(status)))
        }
        if index == range.upperBound {
            findings.append(Finding(code: .statusLineNoReasonSP, severity: .lint, evidence: [self.run.evidence(
                at: index, length: 0, note: "no space after the status code (RFC 9112 §4: the space is required even without a reason)")]))
        }
        return status
    }

    /// RFC 9110 §8.6/§6.4.1: a 1xx or 204 response must not announce a body. (HEAD and 304 may
    /// carry the Content-Length the full response would have; only bytes that follow count.)
    private func noteDeclaredBody(_ head: ParsedHead, status: Int, findings: inout [Finding]) {
        let declared = head.contentLengths.first { ($0.value ?? 1) > 0 }.map(\.field) ?? head.transferEncodings.first
        guard let field = declared else { return }
        findings.append(Finding(code: .bodyOnBodyless, severity: .warning, evidence: [self.run.evidence(
            at: field.line.lowerBound, length: field.line.count,
            note: "a body announced on a \(status) response, which has none (RFC 9110 §8.6, RFC 9112 §6.3 rule 1)")]))
    }

    /// RFC 9112 §6.3: how the body's length is determined, with findings for each anomaly.
    private mutating func framing(_ head: ParsedHead, findings: inout [Finding]) -> State {
        let bytes = self.run.bytes
        if !head.transferEncodings.isEmpty {
            // The codings named, counted in place: a chunked response allocates nothing here.
            var codingCount = 0
            var chunkedCount = 0
            var lastCoding: Range<Int>?
            var emptyElement: Range<Int>?
            for field in head.transferEncodings {
                HeadParser.forEachListElement(bytes, field.value) { element in
                    if element.isEmpty {
                        emptyElement = emptyElement ?? field.line
                    } else {
                        codingCount += 1
                        lastCoding = element
                        if ASCII.equalsIgnoringCase(bytes, element, "chunked") { chunkedCount += 1 }
                    }
                }
            }
            func teValue() -> String {
                head.transferEncodings.map { String(decoding: bytes[$0.value], as: UTF8.self) }.joined(separator: ", ")
            }
            if head.transferEncodings.count > 1 || chunkedCount > 1 || emptyElement != nil {
                let field = head.transferEncodings[head.transferEncodings.count > 1 ? 1 : 0]
                findings.append(Finding(code: .transferEncodingDuplicateOrEmpty, severity: .fatal, evidence: [self.run.evidence(
                    at: field.line.lowerBound, length: field.line.count,
                    note: head.transferEncodings.count > 1 ? "a second Transfer-Encoding field" : "chunked twice, or an empty element, in Transfer-Encoding")],
                    value: teValue()))
            }
            let finalChunked = lastCoding.map { ASCII.equalsIgnoringCase(bytes, $0, "chunked") } ?? false
            if !(codingCount == 1 && finalChunked) && !(chunkedCount > 1 && codingCount == chunkedCount) {
                let field = head.transferEncodings[0]
                findings.append(Finding(code: .transferEncodingNotChunked, severity: .fatal, evidence: [self.run.evidence(
                    at: field.value.lowerBound, length: field.value.count,
                    note: finalChunked ? "a coding other than chunked in Transfer-Encoding"
                        : "a Transfer-Encoding without chunked as its last coding, which makes the body run until the connection closes (RFC 9112 §6.3 rule 4)")],
                    value: teValue()))
            }
            if let cl = head.contentLengths.first {
                let field = cl.field
                findings.append(Finding(code: .transferEncodingWithContentLength, severity: .fatal, evidence: [self.run.evidence(
                    at: field.line.lowerBound, length: field.line.count,
                    note: "Content-Length together with Transfer-Encoding (RFC 9112 §6.3 rule 3: TE wins; ought to be an error)")]))
            }
            if finalChunked {
                self.current?.framing = .chunked
                return .chunked(ChunkedDecoder())
            }
            self.current?.framing = .close
            return .untilClose
        }
        if !head.contentLengths.isEmpty {
            if head.contentLengths.count > 1 {
                let field = head.contentLengths[1].field
                let values = head.contentLengths.map { String(decoding: bytes[$0.field.value], as: UTF8.self) }
                findings.append(Finding(code: .contentLengthDuplicate, severity: .fatal, evidence: [self.run.evidence(
                    at: field.line.lowerBound, length: field.line.count, note: "a second Content-Length field")],
                    value: values.joined(separator: ", ")))
            }
            var length: UInt64?
            for (value, field) in head.contentLengths {
                guard let value else {
                    let list = HeadParser.listElements(bytes, field.value)
                    let note = list.count > 1
                        ? "a comma list in Content-Length (RFC 9110 §8.6 lets a recipient accept identical values; nginx refuses it)"
                        : "a Content-Length value that is not a decimal number (RFC 9110 §8.6: Content-Length = 1*DIGIT)"
                    findings.append(Finding(code: .contentLengthInvalid, severity: .fatal, evidence: [self.run.evidence(
                        at: field.value.lowerBound, length: max(1, field.value.count), note: note)],
                        value: String(decoding: bytes[field.value], as: UTF8.self)))
                    // An identical list still frames the body (RFC 9110 §8.6); anything else cannot.
                    let values = list.map { HeadParser.contentLength(bytes, $0) }
                    if let first = values.first, let known = first, values.allSatisfy({ $0 == known }) {
                        length = length ?? known
                        continue
                    }
                    self.current?.framing = .close
                    return .untilClose
                }
                length = length ?? value
            }
            self.current?.framing = .contentLength
            return .contentLength(remaining: length ?? 0)
        }
        self.current?.framing = .close
        return .untilClose
    }

    // MARK: Messages

    private mutating func messageComplete(bodyless: Bool = false) {
        self.current?.complete = true
        if let current = self.current {
            self.record(Transaction(request: self.currentRequest, response: current))
        }
        self.responsesCompleted += 1
        self.currentRequest = nil
        self.state = .idle
    }

    private mutating func record(_ transaction: Transaction) {
        // Kept or not, each transaction is handed on once (client-hop correlation sees them all).
        self.recorded.append(transaction)
        if self.transactions.count < Self.maximumTransactionsKept {
            self.transactions.append(transaction)
        } else {
            self.transactionsDropped += 1
        }
    }

    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard needle.count <= bytes.count - start else { return nil }
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] {
                var match = true
                for k in 1..<needle.count where bytes[index + k] != needle[k] {
                    match = false
                    break
                }
                if match { return index }
            }
            index += 1
        }
        return nil
    }
}
