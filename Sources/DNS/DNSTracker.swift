import CaptureModel
import PacketDecoding

/// Follows the gateway's DNS traffic frame by frame: queries and answers per name, failures,
/// unanswered queries and every change of a name's address set; at the end it says which DNS
/// failure explains a client error and which new addresses the failing connections went to.
///
/// It holds nothing until the first DNS message: with no DNS in a capture it costs one port
/// comparison per TCP segment (the engine's) and nothing else.
public struct DNSTracker {
    /// Bounds on what it keeps.
    public struct Limits: Hashable, Sendable {
        /// Names followed; more are counted.
        public var names = 4096
        /// Responses kept per name (older ones stay counted).
        public var answersPerName = 4096
        /// Queries kept for matching and timeouts.
        public var queries = 65536
        /// TCP connections to port 53 followed at once; the oldest is dropped past it.
        public var tcpStreams = 256
        /// How long before a client error a DNS failure may have happened and still explain it
        /// (nginx's `resolver_timeout` is 30 s by default; a negative answer cached for `valid=`).
        public var explanationWindowNanoseconds: Int64 = 60_000_000_000
        /// How long after an address entered the answers its connections count for `dns.drift`.
        public var driftWindowNanoseconds: Int64 = 300_000_000_000

        /// The defaults.
        public init() {}
    }

    /// A DNS failure that explains a client error: the code and the frame that shows it.
    public struct Explanation: Hashable, Sendable {
        /// `dns.nxdomain`, `dns.servfail`, `dns.refused` or `dns.timeout`.
        public var code: FindingCode
        /// The name that failed.
        public var name: String
        /// The failing answer's frame, or the unanswered query's.
        public var frame: FrameNumber
        /// When.
        public var time: Timestamp
    }

    struct QueryKey: Hashable {
        var client: Endpoint
        var server: Endpoint
        var id: UInt16
    }

    struct StreamKey: Hashable {
        var client: Endpoint
        var server: Endpoint
    }

    struct NameState {
        var history: DNSNameHistory
        /// The last non-empty address set per question type.
        var current: [UInt16: [IPAddress]] = [:]
    }

    public let limits: Limits
    var names: [String: Int] = [:]
    var states: [NameState] = []
    var queries: [DNSQuery] = []
    var queryNames: [Int] = []
    var pending: [QueryKey: Int] = [:]
    var streams: [StreamKey: DNSStream] = [:]
    var messages = 0
    var tcpMessages = 0
    var malformed = 0
    var firstMalformedFrame: FrameNumber?
    var cutBySnapLength = 0
    var tcpGaps = 0
    var namesNotFollowed = 0
    var queriesNotKept = 0
    /// For each address change, the connections to the new address judged so far and the ids
    /// of those that failed.
    var driftTally: [Appearance: (connections: Int, failed: [UInt32])] = [:]

    /// A tracker that keeps what `limits` allow.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether it has seen any DNS at all.
    public var isEmpty: Bool { self.messages == 0 && self.malformed == 0 && self.cutBySnapLength == 0 && self.streams.isEmpty }

    /// Whether a TCP segment is DNS's (either port 53): the engine's whole cost when there is none.
    @inlinable
    public static func isDNS(_ segment: TCPSegment) -> Bool {
        segment.source.port == UDPDatagram.dnsPort || segment.destination.port == UDPDatagram.dnsPort
    }

    /// Reads one DNS datagram.
    public mutating func feed(_ datagram: UDPDatagram, frame: FrameNumber, time: Timestamp) {
        guard datagram.payload.count >= datagram.payloadWireLength else {
            self.cutBySnapLength += 1
            return
        }
        self.read(datagram.payload, source: datagram.source, destination: datagram.destination, transport: .udp, frame: frame, time: time)
    }

    /// Reads one TCP segment of a connection to port 53.
    public mutating func feed(_ segment: TCPSegment, frame: FrameNumber, time: Timestamp) {
        let fromClient = segment.destination.port == UDPDatagram.dnsPort
        let key = fromClient ? StreamKey(client: segment.source, server: segment.destination) : StreamKey(client: segment.destination, server: segment.source)
        if segment.flags.contains(.rst) {
            self.streams[key] = nil
            return
        }
        if self.streams[key] == nil {
            if self.streams.count >= self.limits.tcpStreams, let oldest = self.streams.min(by: { $0.value.lastTime < $1.value.lastTime })?.key {
                self.streams[oldest] = nil
            }
            self.streams[key] = DNSStream(client: key.client, server: key.server, lastTime: time)
        }
        let flags = (syn: segment.flags.contains(.syn), fin: segment.flags.contains(.fin))
        let result: (messages: [[UInt8]], gap: Bool)
        if fromClient {
            result = self.streams[key]!.fromClient.feed(sequence: segment.sequence, flags: flags, payload: segment.payload)
        } else {
            result = self.streams[key]!.fromServer.feed(sequence: segment.sequence, flags: flags, payload: segment.payload)
        }
        self.streams[key]!.lastTime = time
        if result.gap { self.tcpGaps += 1 }
        for message in result.messages {
            self.tcpMessages += 1
            message.withUnsafeBytes { bytes in
                self.read(bytes, source: segment.source, destination: segment.destination, transport: .tcp, frame: frame, time: time)
            }
        }
        if let stream = self.streams[key], stream.fromClient.finished, stream.fromServer.finished {
            self.streams[key] = nil
        }
    }

    /// Records one message.
    mutating func read(
        _ bytes: UnsafeRawBufferPointer, source: Endpoint, destination: Endpoint, transport: DNSTransport, frame: FrameNumber, time: Timestamp
    ) {
        let message: DNSMessage
        switch DNSMessage.parse(bytes) {
        case .success(let parsed): message = parsed
        case .failure:
            self.malformed += 1
            if self.firstMalformedFrame == nil { self.firstMalformedFrame = frame }
            return
        }
        self.messages += 1
        // Only standard queries (opcode 0) about one name mean "resolve this".
        guard message.opcode == 0, message.questionCount >= 1 else { return }
        guard let index = self.state(for: message.questionName) else { return }
        if !message.isResponse {
            self.states[index].history.queries += 1
            guard self.queries.count < self.limits.queries else {
                self.queriesNotKept += 1
                return
            }
            let key = QueryKey(client: source, server: destination, id: message.id)
            self.pending[key] = self.queries.count
            self.queryNames.append(index)
            self.queries.append(DNSQuery(
                time: time, frame: frame, type: message.questionType, transport: transport, client: source, server: destination, answerTime: nil))
            return
        }
        var queryFrame: FrameNumber?
        if let position = self.pending.removeValue(forKey: QueryKey(client: destination, server: source, id: message.id)) {
            self.queries[position].answerTime = time
            queryFrame = self.queries[position].frame
        }
        let addresses = message.addresses
        let answer = DNSAnswer(
            time: time, frame: frame, queryFrame: queryFrame, type: message.questionType, responseCode: message.responseCode,
            addresses: addresses, ttl: message.minimumTTL, isTruncated: message.isTruncated, transport: transport,
            ednsPayloadSize: message.edns?.udpPayloadSize)
        if self.states[index].history.answers.count < self.limits.answersPerName {
            self.states[index].history.answers.append(answer)
        } else {
            self.states[index].history.answersNotKept += 1
        }
        guard message.responseCode == .noError, !message.isTruncated, !addresses.isEmpty else { return }
        // RFC 2181 §5: the answer is a set; order carries no meaning.
        let sorted = addresses.sorted { $0.text < $1.text }
        let before = self.states[index].current[message.questionType]
        if let before, before != sorted {
            self.states[index].history.changes.append(DNSAnswerChange(
                time: time, frame: frame, type: message.questionType, before: before, after: sorted))
        }
        self.states[index].current[message.questionType] = sorted
    }

    /// The index of a name's state, made on first sight; `nil` past the limit.
    mutating func state(for name: String) -> Int? {
        if let index = self.names[name] { return index }
        guard self.states.count < self.limits.names else {
            self.namesNotFollowed += 1
            return nil
        }
        self.names[name] = self.states.count
        self.states.append(NameState(history: DNSNameHistory(
            name: name, queries: 0, answers: [], answersNotKept: 0, unanswered: [], changes: [])))
        return self.states.count - 1
    }

    /// The DNS failure that explains a client error the gateway answered at `time` without any
    /// upstream connection: the latest failing answer (NXDOMAIN, SERVFAIL, REFUSED) no success
    /// for its name followed before `time`, or the latest query still unanswered at `time`,
    /// within `Limits.explanationWindowNanoseconds`.
    public func explanation(at time: Timestamp) -> Explanation? {
        var best: Explanation?
        func consider(_ candidate: Explanation) {
            if best == nil || candidate.time > best!.time { best = candidate }
        }
        for state in self.states {
            // A success since the failure means the name resolved again.
            for answer in state.history.answers.reversed() where answer.time <= time {
                guard time.nanoseconds(since: answer.time) <= self.limits.explanationWindowNanoseconds else { break }
                if answer.responseCode == .noError, !answer.addresses.isEmpty { break }
                if let code = Self.code(for: answer.responseCode) {
                    consider(Explanation(code: code, name: state.history.name, frame: answer.frame, time: answer.time))
                    break
                }
            }
        }
        // Newest first, by index: no copy of the queries per client error.
        var position = self.queries.count
        while position > 0 {
            position -= 1
            let query = self.queries[position]
            guard query.time <= time else { continue }
            guard time.nanoseconds(since: query.time) <= self.limits.explanationWindowNanoseconds else { break }
            if let answered = query.answerTime, answered <= time { continue }
            let state = self.states[self.queryNames[position]]
            // A later success for the name (a retry answered) means it did resolve.
            if state.history.answers.contains(where: { $0.time > query.time && $0.time <= time && $0.responseCode == .noError && !$0.addresses.isEmpty }) {
                continue
            }
            consider(Explanation(code: .dnsTimeout, name: state.history.name, frame: query.frame, time: query.time))
        }
        return best
    }

    /// Where an address came from, for `dns.drift`: the name whose answers it entered, and the
    /// answer that brought it.
    public struct Appearance: Hashable, Sendable {
        public var name: String
        public var address: IPAddress
        public var frame: FrameNumber
        public var time: Timestamp

        /// `127.0.0.9 appeared in the answers for api.internal at 10:16:02 (frame 296)`.
        public var sentence: String {
            "\(self.address.text) appeared in the answers for \(self.name) at \(DNSTracker.clock(self.time)) (frame \(self.frame))"
        }
    }

    /// The latest change of a name's answers that brought `address` in, at most
    /// `Limits.driftWindowNanoseconds` before `start`, when the address was still in those
    /// answers at `start`; `nil` for an address no change brought (a name's first answer is no
    /// change).
    public func appearance(of address: IPAddress, before start: Timestamp) -> Appearance? {
        var best: Appearance?
        for state in self.states where !state.history.changes.isEmpty {
            let changes = state.history.changes
            var position = changes.count
            while position > 0 {
                position -= 1
                let change = changes[position]
                guard change.time <= start else { continue }
                guard start.nanoseconds(since: change.time) <= self.limits.driftWindowNanoseconds else { break }
                guard change.added.contains(address) else { continue }
                let removed = changes[(position + 1)...].contains { $0.time <= start && $0.type == change.type && $0.removed.contains(address) }
                if !removed, best == nil || change.time > best!.time {
                    best = Appearance(name: state.history.name, address: address, frame: change.frame, time: change.time)
                }
                break
            }
        }
        return best
    }

    /// Counts a judged connection toward `dns.drift` when its address had just entered a name's
    /// answers; returns that appearance when the connection failed (its report gets the finding).
    public mutating func noteConnection(id: UInt32, server: IPAddress, start: Timestamp, failed: Bool) -> Appearance? {
        guard let appearance = self.appearance(of: server, before: start) else { return nil }
        var tally = self.driftTally[appearance] ?? (0, [])
        tally.connections += 1
        if failed { tally.failed.append(id) }
        self.driftTally[appearance] = tally
        return failed ? appearance : nil
    }

    /// The code of a failing response code, or `nil` for one that is not a failure to resolve.
    public static func code(for responseCode: DNSMessage.ResponseCode) -> FindingCode? {
        switch responseCode {
        case .nameError: return .dnsNXDOMAIN
        case .serverFailure: return .dnsSERVFAIL
        case .refused: return .dnsREFUSED
        case .noError, .formatError, .notImplemented, .other: return nil
        }
    }

    /// Ends the capture: the names and the findings (`dns.drift` for an address most of whose
    /// connections, as `noteConnection` counted them, failed).
    public func finish() -> DNSSummary {
        var histories = self.states.map(\.history)
        for (position, query) in self.queries.enumerated() where query.answerTime == nil {
            histories[self.queryNames[position]].unanswered.append(query)
        }
        var findings: [(order: Timestamp, finding: DNSFinding)] = []
        for history in histories {
            var failures: [FindingCode: [DNSAnswer]] = [:]
            for answer in history.answers {
                if let code = Self.code(for: answer.responseCode) { failures[code, default: []].append(answer) }
            }
            for (code, answers) in failures.sorted(by: { $0.value[0].time < $1.value[0].time }) {
                let rcode = answers[0].responseCode
                findings.append((answers[0].time, DNSFinding(
                    code: code, name: history.name, count: answers.count, frames: Array(answers.prefix(DNSFinding.framesKept).map(\.frame)),
                    firstTime: answers[0].time, lastTime: answers[answers.count - 1].time,
                    summary: "\(history.name) was answered \(rcode) \(Self.times(answers.count)) (first in frame \(answers[0].frame))")))
            }
            if let first = history.unanswered.first, let last = history.unanswered.last {
                findings.append((first.time, DNSFinding(
                    code: .dnsTimeout, name: history.name, count: history.unanswered.count,
                    frames: Array(history.unanswered.prefix(DNSFinding.framesKept).map(\.frame)), firstTime: first.time, lastTime: last.time,
                    summary: "\(Self.count(history.unanswered.count, "query", "queries")) for \(history.name) never answered (first in frame \(first.frame))")))
            }
        }
        for (appearance, tally) in self.driftTally where !tally.failed.isEmpty && tally.failed.count * 2 > tally.connections {
            findings.append((appearance.time, DNSFinding(
                code: .dnsDrift, name: appearance.name, count: 1, frames: [appearance.frame], firstTime: appearance.time, lastTime: appearance.time,
                address: appearance.address, connections: tally.connections, failedConnections: tally.failed.sorted(),
                summary: "\(appearance.sentence); \(tally.failed.count) of its \(Self.count(tally.connections, "connection", "connections")) failed")))
        }
        return DNSSummary(
            names: histories, findings: findings.sorted { ($0.order, $0.finding.name) < ($1.order, $1.finding.name) }.map(\.finding), messages: self.messages,
            tcpMessages: self.tcpMessages, malformed: self.malformed, firstMalformedFrame: self.firstMalformedFrame,
            cutBySnapLength: self.cutBySnapLength, tcpGaps: self.tcpGaps, namesNotFollowed: self.namesNotFollowed)
    }

    static func count(_ n: Int, _ one: String, _ many: String) -> String {
        "\(n) \(n == 1 ? one : many)"
    }

    static func times(_ n: Int) -> String {
        n == 1 ? "once" : "\(n) times"
    }

    /// `10:16:02`, UTC, from an RFC 3339 time.
    static func clock(_ time: Timestamp) -> String {
        let text = time.rfc3339
        guard let t = text.firstIndex(of: "T") else { return text }
        return String(text[text.index(after: t)...].prefix(8))
    }
}
