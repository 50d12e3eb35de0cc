import CaptureModel

/// What the upstream of one captured connection did, as steps a replay server performs for
/// each client: wait for the client's requests (or its close), then send one captured
/// segment or end the connection as the upstream ended it.
///
/// Built from a `ConnectionRecording`'s events; performs no I/O.
public struct ReplayScript: Hashable, Sendable {
    /// How the client's bytes are counted while waiting.
    public enum Framing: String, Hashable, Sendable {
        /// HTTP/1 requests: a head, then the body its `Content-Length` or chunked framing says
        /// (RFC 9112 §6), after any PROXY protocol header.
        case http1
        /// No request framing known (TLS read without keys, HTTP/2, another protocol): each
        /// burst of client bytes counts as one (a TLS burst ends on a record boundary).
        case opaque
    }

    /// What must have come from the client before a step.
    public struct Requirement: Hashable, Sendable {
        /// Requests (or bursts, `Framing.opaque`) read in full.
        public var requests: Int
        /// Whether the client must have closed its side (FIN or RST).
        public var clientClosed: Bool

        /// A requirement from its parts.
        public init(requests: Int, clientClosed: Bool) {
            self.requests = requests
            self.clientClosed = clientClosed
        }
    }

    /// How the upstream closed.
    public enum Close: String, Hashable, Sendable {
        /// A FIN: `shutdown(SHUT_WR)`, then a close once the client has closed too.
        case fin
        /// An RST: `SO_LINGER` 0 and `close`.
        case reset
    }

    /// What one step does.
    public enum Action: Hashable, Sendable {
        /// One write of one captured segment's bytes.
        case send([UInt8])
        /// The end of the connection.
        case close(Close)
    }

    /// One step: wait for `after`, then `delay` nanoseconds (the captured gap since the event
    /// before it, with `--timing original`), then `action`.
    public struct Step: Hashable, Sendable {
        /// What must have come from the client first.
        public var after: Requirement
        /// The captured time since the previous event of the connection, either side, in nanoseconds.
        public var delay: Int64
        /// What to do.
        public var action: Action

        /// A step from its parts.
        public init(after: Requirement, delay: Int64, action: Action) {
            self.after = after
            self.delay = delay
            self.action = action
        }
    }

    /// The connection's report name, `c7`.
    public var connection: String
    /// The gateway's endpoint in the capture.
    public var client: Endpoint
    /// The upstream's endpoint in the capture.
    public var server: Endpoint
    /// How the client's bytes are counted.
    public var framing: Framing
    /// The steps, the last one a close.
    public var steps: [Step]
    /// Requests (or bursts) the captured client sent in all.
    public var requests: Int
    /// Captured upstream bytes the capture lacked (not sent).
    public var missingBytes: UInt64

    /// The script of a connection whose events (in frame order) are `events`. `requestOffsets`:
    /// the client-stream offsets where its HTTP/1 requests start, or `nil` when the requests
    /// cannot be told apart (`Framing.opaque`: bursts of client bytes are counted instead).
    public init(connection: String, client: Endpoint, server: Endpoint, events: [ConnectionRecording.Event], requestOffsets: [UInt64]?) {
        self.connection = connection
        self.client = client
        self.server = server
        self.framing = requestOffsets == nil ? .opaque : .http1
        self.missingBytes = 0
        var clientEnd: UInt64 = 0
        var bursts = 0
        var inBurst = false
        var clientClosed = false
        var lastTime: Timestamp?
        var steps: [Step] = []
        func requirement() -> Requirement {
            let count = requestOffsets.map { offsets in offsets.count { $0 < clientEnd } } ?? bursts
            return Requirement(requests: count, clientClosed: clientClosed)
        }
        func delay(_ time: Timestamp) -> Int64 { max(0, time.nanoseconds(since: lastTime ?? time)) }
        events: for event in events {
            switch event {
            case .data(.client, let bytes, let offset, _, let time):
                clientEnd = max(clientEnd, offset + UInt64(bytes.count))
                if !inBurst { bursts += 1 }
                inBurst = true
                lastTime = time
            case .gap(.client, let length, _, _):
                clientEnd += length
            case .fin(.client, _, let time), .reset(.client, _, let time):
                clientClosed = true
                inBurst = false
                lastTime = time
            case .data(.server, let bytes, _, _, let time):
                steps.append(Step(after: requirement(), delay: delay(time), action: .send(bytes)))
                inBurst = false
                lastTime = time
            case .gap(.server, let length, _, _):
                self.missingBytes += length
            case .fin(.server, _, let time):
                steps.append(Step(after: requirement(), delay: delay(time), action: .close(.fin)))
                break events
            case .reset(.server, _, let time):
                steps.append(Step(after: requirement(), delay: delay(time), action: .close(.reset)))
                break events
            }
        }
        let total = Requirement(requests: requestOffsets?.count ?? bursts, clientClosed: true)
        if case .close = steps.last?.action {
        } else {
            // The upstream never closed first: it stayed silent until the gateway gave up.
            steps.append(Step(after: Requirement(requests: min(total.requests, requirement().requests), clientClosed: true), delay: 0, action: .close(.fin)))
        }
        self.steps = steps
        self.requests = total.requests
    }

    /// The upstream's segments, in order.
    public var segments: [[UInt8]] {
        self.steps.compactMap { step in
            if case .send(let bytes) = step.action { return bytes }
            return nil
        }
    }

    /// How the connection ends: the close, and whether the upstream waited for the client's
    /// close first (it kept silent until the gateway gave up or closed).
    public var ending: (close: Close, afterClientClosed: Bool) {
        guard let last = self.steps.last, case .close(let close) = last.action else {
            preconditionFailure("a replay script always ends with a close")
        }
        return (close, last.after.clientClosed)
    }

    /// One line: `c3 127.0.0.1:54294 -> 127.0.0.1:18090: 1 request, 81 bytes in 1 segment, then FIN`.
    public var summary: String {
        let segments = self.segments
        let bytes = segments.reduce(0) { $0 + $1.count }
        let unit = self.framing == .http1 ? "request" : "client burst"
        let ending: String
        switch self.ending {
        case (.fin, false): ending = "then FIN"
        case (.reset, false): ending = "then RST"
        case (.fin, true): ending = "then silence until the client closes (then FIN)"
        case (.reset, true): ending = "then silence until the client closes (then RST)"
        }
        return "\(self.connection) \(self.client) -> \(self.server): \(Self.count(self.requests, unit)), "
            + "\(Self.count(bytes, "byte")) in \(Self.count(segments.count, "segment")), \(ending)"
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}
