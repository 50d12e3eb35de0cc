import CaptureModel

/// The gateway's side of the connection: requests, parsed just enough to pair responses with
/// them (method, target, framing of request bodies).
struct RequestParser {
    /// Whether the gateway's stream can be HTTP/1 at all, from its first byte.
    enum WireProtocol: Equatable {
        case unknown
        case http1
        /// A first byte that cannot begin a request line: the stream is not read.
        case other
    }

    enum State {
        case head
        case contentLength(remaining: UInt64)
        case chunked(ChunkedDecoder)
        case opaque
        case desynced
    }

    static let maximumHeadBytes = 64 << 10

    private(set) var state: State = .head
    private(set) var proto: WireProtocol = .unknown
    private var run = ByteRun(direction: .client)
    /// Whether evidence masks credential values (`Redaction`).
    var redactsSecrets = true {
        didSet { self.run.redactsSecrets = self.redactsSecrets }
    }
    private var headEnd = HeadEndScanner()
    private var messageTime: Timestamp = .zero
    /// The last request: its strings are reused by the next when they are the same text.
    private var previous: RequestInfo?
    /// Bytes of the client stream seen (delivered or gapped).
    private(set) var bytesSeen: UInt64 = 0

    /// Feeds in-order client bytes; each complete request head is handed to `request`.
    mutating func feed(_ window: FeedWindow, time: Timestamp, request: (RequestInfo) -> Void) {
        self.bytesSeen &+= UInt64(window.bytes.count)
        if self.proto == .unknown {
            self.detectProtocol(window)
        }
        var index = 0
        let bytes = window.bytes
        while index < bytes.count {
            switch self.state {
            case .opaque, .desynced:
                return
            case .head:
                index = self.collectHead(window, from: index, time: time, request: request)
            case .contentLength(let remaining):
                let run = min(UInt64(bytes.count - index), remaining)
                index += Int(run)
                self.state = run == remaining ? .head : .contentLength(remaining: remaining - run)
            case .chunked(var decoder):
                var ignored: [Finding] = []
                let outcome = decoder.feed(window, from: index, line: &self.run, findings: &ignored)
                switch outcome {
                case .needMore:
                    self.state = .chunked(decoder)
                    index = bytes.count
                case .complete(let next):
                    self.state = .head
                    index = next
                case .failed:
                    self.state = .desynced
                    self.run.reset()
                    return
                }
            }
        }
    }

    /// Bytes of the gateway's stream missing from the capture.
    mutating func gap(length: UInt64) {
        self.bytesSeen &+= length
        switch self.state {
        case .contentLength(let remaining) where length <= remaining:
            self.state = length == remaining ? .head : .contentLength(remaining: remaining - length)
        case .chunked(var decoder):
            if decoder.skip(length) {
                self.state = .chunked(decoder)
            } else {
                self.run.reset()
                self.state = .desynced
            }
        case .opaque:
            break
        case .head, .contentLength, .desynced:
            self.run.reset()
            self.headEnd = HeadEndScanner()
            self.state = .desynced
        }
    }

    /// RFC 9112 §3: a request line begins with its method, a token. Decided on one byte so any
    /// split of the stream gives the same answer.
    private mutating func detectProtocol(_ window: FeedWindow) {
        let bytes = window.bytes
        guard let first = bytes.first else { return }
        if ASCII.isTokenCharacter(first) {
            self.proto = .http1
        } else {
            self.proto = .other
            self.state = .opaque
        }
    }

    private mutating func collectHead(_ window: FeedWindow, from start: Int, time: Timestamp, request: (RequestInfo) -> Void) -> Int {
        let bytes = window.bytes
        let headEnd = self.headEnd.scan(bytes, from: start)
        let end = headEnd ?? bytes.count
        if self.run.isEmpty { self.messageTime = time }
        self.run.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), offset: window.offset &+ UInt64(start),
                        frame: window.frame, frameOffset: window.frameOffset.map { $0 + start })
        guard headEnd != nil else {
            if self.run.count > Self.maximumHeadBytes { self.state = .desynced }
            return end
        }
        self.headEnd = HeadEndScanner()
        self.headComplete(request: request)
        self.run.reset()
        return end
    }

    private mutating func headComplete(request: (RequestInfo) -> Void) {
        let bytes = self.run.bytes
        var lines = HeadLines(bytes, end: bytes.count)
        // RFC 9112 §2.2: a server SHOULD ignore empty lines before a request line.
        var first = lines.next()
        while let line = first, line.content.isEmpty, let next = lines.next() { first = next }
        guard let requestLine = first else { return }
        // The method and the target: the first two runs of bytes between spaces.
        let (methodRange, targetRange) = Self.firstTwoTokens(bytes, requestLine.content)
        let method = HeadParser.string(bytes, methodRange, reusing: self.previous?.method)
        let target = HeadParser.string(bytes, targetRange, reusing: self.previous?.target)
        // What the gateway sent is not judged: its head is read for framing and identifiers only.
        var ignored: [Finding] = []
        let head = HeadParser.parseFields(self.run, lines: lines, isResponse: false, checksBytes: false, findings: &ignored)
        let location = self.run.location(of: requestLine.content.lowerBound)
        let host = head.hostValue.map { HeadParser.identifier(bytes, $0, reusing: self.previous?.host) }
        let info = RequestInfo(
            method: method, target: target, host: host, requestID: head.requestID, correlationID: head.correlationID,
            traceID: head.traceID,
            offset: self.run.start &+ UInt64(requestLine.content.lowerBound), frame: location.frame ?? 0,
            time: self.messageTime, upgrade: head.upgrade)
        self.previous = info
        request(info)
        // RFC 9112 §6.3: a request body is chunked, or Content-Length long, or absent.
        let chunked = head.transferEncodings.contains { field in
            ASCII.equalsIgnoringCase(bytes, HeadParser.lastListElement(bytes, field.value), "chunked")
        }
        if chunked {
            self.state = .chunked(ChunkedDecoder())
        } else if let length = head.contentLengths.first?.value, length > 0 {
            self.state = .contentLength(remaining: length)
        } else if method == "CONNECT" {
            self.state = .opaque
        } else {
            self.state = .head
        }
    }

    /// The first two runs of non-space bytes in `bytes[range]` (empty ranges when missing): what
    /// splitting the request line at spaces, omitting empty pieces, gives first.
    static func firstTwoTokens(_ bytes: [UInt8], _ range: Range<Int>) -> (Range<Int>, Range<Int>) {
        func token(from start: Int) -> Range<Int> {
            var lower = start
            while lower < range.upperBound, bytes[lower] == ASCII.space { lower += 1 }
            var upper = lower
            while upper < range.upperBound, bytes[upper] != ASCII.space { upper += 1 }
            return lower..<upper
        }
        let first = token(from: range.lowerBound)
        return (first, token(from: first.upperBound))
    }
}
