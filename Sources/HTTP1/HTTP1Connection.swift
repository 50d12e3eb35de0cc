import CaptureModel

/// Both directions of one HTTP/1.x connection on the gateway-to-upstream hop: requests parsed to
/// pair responses, responses validated. Fed reassembled chunks of any size, split anywhere, with
/// gaps; returns findings as values and performs no I/O.
///
/// HTTP/1 only: which protocol each side speaks is the protocol probe's question (Engine's
/// `ProtocolProbe`), asked before bytes come here. Bytes that cannot be HTTP/1 (a response that
/// does not begin with a status line) stop the stream they are in and are handed back as a
/// `violation`, for the probe to name.
public struct HTTP1Connection {
    private var requestParser = RequestParser()
    private var responseParser = ResponseParser()
    private var requests = RequestQueue()
    private var requestsSeen = 0

    /// Every violation found, in the order found (each direction in stream order).
    public private(set) var findings: [Finding] = []
    /// Gaps in the upstream's stream that hid bytes a check needed, in stream order.
    public private(set) var uncheckedGaps: [Evidence] = []

    /// Past this many header fields a response head gets `http.header.too_many` unless a lower
    /// limit is given: HAProxy's `tune.http.maxhdr` (101 with the start line), Envoy's 100.
    public static let defaultFieldLimit = 100

    /// A connection with nothing seen. With `redactsSecrets` (the default), evidence bytes
    /// show credential fields' values masked (`Redaction`). A response head with more than
    /// `fieldLimit` fields gets `http.header.too_many`.
    public init(redactsSecrets: Bool = true, fieldLimit: Int = HTTP1Connection.defaultFieldLimit) {
        self.requestParser.redactsSecrets = redactsSecrets
        self.responseParser.redactsSecrets = redactsSecrets
        self.responseParser.fieldLimit = fieldLimit
    }

    /// Past this many header fields a response head gets `http.header.too_many`.
    public var fieldLimit: Int { self.responseParser.fieldLimit }

    /// Feeds in-order bytes of one direction, starting at stream `offset`, whose first byte came
    /// from `frame` at `frameOffset` (nil when rebuilt from IP fragments).
    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        let window = FeedWindow(direction: direction, bytes: bytes, offset: offset, frame: frame, frameOffset: frameOffset)
        switch direction {
        case .client:
            self.requestParser.feed(window, time: time) { request in
                self.requests.append(request)
                self.requestsSeen += 1
            }
        case .server:
            self.responseParser.feed(window, time: time, requests: &self.requests, findings: &self.findings)
            if !self.hasViolation, self.responseParser.violation != nil { self.hasViolation = true }
        }
    }

    /// Bytes of one direction that the capture lacks (`truncated`: cut by the snap length).
    public mutating func gap(_ range: Range<UInt64>, direction: Direction, frame: FrameNumber?, truncated: Bool) {
        switch direction {
        case .client:
            self.requestParser.gap(length: range.upperBound - range.lowerBound)
        case .server:
            let note = truncated
                ? "\(range.count) \(range.count == 1 ? "byte" : "bytes") cut from frame \(frame.map(String.init) ?? "?") by the snap length, which could not be checked"
                : "\(range.count) \(range.count == 1 ? "byte" : "bytes") the upstream sent that are missing from the capture and could not be checked"
            if let evidence = self.responseParser.gap(range: range, frame: frame, note: note) {
                self.uncheckedGaps.append(evidence)
            }
        }
    }

    /// The upstream's stream ended with a FIN (a read-until-close body ends there).
    public mutating func serverFIN() {
        self.responseParser.closedByFIN()
        if !self.hasViolation, self.responseParser.violation != nil { self.hasViolation = true }
    }

    /// Either side closed or reset: a response head too short for the status-line check gets it now.
    public mutating func ended() {
        self.responseParser.checkPendingStart()
        if !self.hasViolation, self.responseParser.violation != nil { self.hasViolation = true }
    }

    /// Where the upstream's stream stopped being HTTP/1 (a response that did not begin with a
    /// status line), if it did: the parser read no further.
    public var violation: ProtocolViolation? { self.responseParser.violation }
    /// Whether `violation` is set: stored, so that asking it per packet reads one byte.
    public private(set) var hasViolation = false

    /// Where the upstream's response stood when its stream ended. Call before `finish()`.
    public var responseEnd: ResponseEnd {
        ResponseEnd(
            state: self.responseParser.endState, inProgress: self.responseParser.inProgress,
            inProgressRequest: self.responseParser.inProgressRequest, outstanding: self.requests.first,
            responsesCompleted: self.responseParser.responsesCompleted, requestsSeen: self.requestsSeen)
    }

    /// Closes the books: unanswered requests and a cut response become transactions.
    public mutating func finish() {
        self.responseParser.finish(requests: &self.requests)
    }

    /// Transactions in order (at most 1000 kept; see `transactionsDropped`).
    public var transactions: [Transaction] { self.responseParser.transactions }
    /// Transactions counted but not kept.
    public var transactionsDropped: Int { self.responseParser.transactionsDropped }
    /// Transactions finished since the last `clearFinishedTransactions()`, whether `transactions`
    /// keeps them or not: for a consumer that wants each once, as it finishes.
    public var finishedTransactions: [Transaction] { self.responseParser.recorded }
    /// Whether there are `finishedTransactions`, asked per packet without handing out the array.
    public var hasFinishedTransactions: Bool { !self.responseParser.recorded.isEmpty }
    /// Forgets `finishedTransactions` (they were handed on).
    public mutating func clearFinishedTransactions() {
        // Capacity not kept: a connection holds no buffer between transactions, and a gateway
        // host can have a million of them open.
        self.responseParser.recorded.removeAll()
    }
    /// The first well-formed 5xx the upstream sent, with its status line as evidence.
    public var upstream5xx: (status: Int, evidence: Evidence)? {
        guard let status = self.responseParser.first5xxStatus, let evidence = self.responseParser.first5xx else { return nil }
        return (status, evidence)
    }
    /// Indexes into `findings` of body findings that came in the same frame as their response's head.
    public var findingsArrivedWithHead: Set<Int> { self.responseParser.arrivedWithHead }
    /// The head of the first response with a fatal finding, or of a response cut in its body
    /// (copied when that happened; `nil` on a healthy connection).
    public var failingHead: ResponseHead? { self.responseParser.failingHead }
    /// The stream offset of the last response head read, when it was healthy and its bytes are
    /// still at hand (its body was skipped by length, and no head came after it).
    public var parkedHealthyHead: UInt64? { self.responseParser.parkedHealthyHead }
    /// A copy of the last response head read, numbered as the connection's transaction
    /// `transaction`, while its bytes are still at hand.
    public func parkedHead(transaction: Int?) -> ResponseHead? { self.responseParser.parkedHead(transaction: transaction) }
    /// The first byte the upstream sent.
    public var firstResponseByte: (offset: UInt64, frame: FrameNumber, time: Timestamp)? { self.responseParser.firstByte }
    /// Whether the gateway's first byte could begin a request line (as opposed to another
    /// protocol's bytes, or nothing yet).
    public var gatewaySpeaksHTTP1: Bool { self.requestParser.proto == .http1 }
}

/// The state of the upstream's response when its stream ended.
public struct ResponseEnd: Sendable {
    /// Where the framing stood.
    public enum State: Equatable, Sendable {
        /// Between messages.
        case idle
        /// Inside a response head, with this many bytes of it seen.
        case midHead(bytes: Int)
        /// Inside a body.
        case midBody(framing: BodyFraming, received: UInt64, expected: UInt64?)
        /// Not HTTP/1, a tunnel, or stopped at a framing error.
        case opaque
        /// Framing lost after a gap.
        case desynced
    }

    public var state: State
    /// The response being received, if any.
    public var inProgress: ResponseInfo?
    /// The request it answers.
    public var inProgressRequest: RequestInfo?
    /// The oldest request with no response byte yet.
    public var outstanding: RequestInfo?
    /// Final responses completed.
    public var responsesCompleted: Int
    /// Requests seen.
    public var requestsSeen: Int
    /// HTTP/2: the stream of `inProgressRequest` (or `outstanding`); `nil` on HTTP/1.
    public var streamID: UInt32? = nil

    /// An end from its parts.
    public init(state: State, inProgress: ResponseInfo?, inProgressRequest: RequestInfo?, outstanding: RequestInfo?,
                responsesCompleted: Int, requestsSeen: Int) {
        self.state = state
        self.inProgress = inProgress
        self.inProgressRequest = inProgressRequest
        self.outstanding = outstanding
        self.responsesCompleted = responsesCompleted
        self.requestsSeen = requestsSeen
    }
}

extension ResponseEnd.State {
    init(_ state: ResponseParser.EndState) {
        switch state {
        case .idle: self = .idle
        case .midHead(let bytes): self = .midHead(bytes: bytes)
        case .midBody(let framing, let received, let expected): self = .midBody(framing: framing, received: received, expected: expected)
        case .opaque: self = .opaque
        case .desynced: self = .desynced
        }
    }
}

extension ResponseEnd {
    init(state: ResponseParser.EndState, inProgress: ResponseInfo?, inProgressRequest: RequestInfo?, outstanding: RequestInfo?,
         responsesCompleted: Int, requestsSeen: Int) {
        self.init(state: State(state) as State, inProgress: inProgress, inProgressRequest: inProgressRequest, outstanding: outstanding,
                  responsesCompleted: responsesCompleted, requestsSeen: requestsSeen)
    }
}
