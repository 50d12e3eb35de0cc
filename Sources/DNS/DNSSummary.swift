import CaptureModel

/// How a DNS message travelled.
public enum DNSTransport: String, Hashable, Sendable {
    case udp
    case tcp
}

/// One response the resolver got for a name.
public struct DNSAnswer: Hashable, Sendable {
    /// When it was captured.
    public var time: Timestamp
    /// The frame that carried it (for TCP, the frame that completed the message).
    public var frame: FrameNumber
    /// The query it answers, when the capture holds it.
    public var queryFrame: FrameNumber?
    /// The question's type (1 = A, 28 = AAAA).
    public var type: UInt16
    /// The response code.
    public var responseCode: DNSMessage.ResponseCode
    /// The A and AAAA addresses it carried, in order.
    public var addresses: [IPAddress]
    /// The smallest TTL of those records.
    public var ttl: UInt32?
    /// TC: cut to fit UDP; the resolver asks again over TCP.
    public var isTruncated: Bool
    /// UDP or TCP.
    public var transport: DNSTransport
    /// The EDNS payload size the server advertised, when it sent an OPT record.
    public var ednsPayloadSize: UInt16?
}

/// A query that got no answer in the capture (or whose answer came only after a failure it
/// explains).
public struct DNSQuery: Hashable, Sendable {
    /// When it was sent.
    public var time: Timestamp
    /// Its frame.
    public var frame: FrameNumber
    /// The question's type.
    public var type: UInt16
    /// UDP or TCP.
    public var transport: DNSTransport
    /// The resolver.
    public var client: Endpoint
    /// The DNS server.
    public var server: Endpoint
    /// When its answer came, if it ever did.
    public var answerTime: Timestamp?
}

/// A change of a name's address set: the answer that brought it.
public struct DNSAnswerChange: Hashable, Sendable {
    /// When the new set came.
    public var time: Timestamp
    /// The answer's frame.
    public var frame: FrameNumber
    /// The question's type (A or AAAA).
    public var type: UInt16
    /// The addresses before and after.
    public var before: [IPAddress]
    public var after: [IPAddress]

    /// The addresses that entered the answers.
    public var added: [IPAddress] { self.after.filter { !self.before.contains($0) } }
    /// The addresses that left them.
    public var removed: [IPAddress] { self.before.filter { !self.after.contains($0) } }
}

/// What the capture shows of one name the gateway resolved.
public struct DNSNameHistory: Sendable {
    /// The name, lowercased, without the trailing dot.
    public var name: String
    /// Queries sent for it (both types, both transports).
    public var queries: Int
    /// Every response, in capture order (at most `DNSTracker.Limits.answersPerName`).
    public var answers: [DNSAnswer]
    /// Responses counted but not kept.
    public var answersNotKept: Int
    /// Queries no response ever answered.
    public var unanswered: [DNSQuery]
    /// Every change of its address set, per type.
    public var changes: [DNSAnswerChange]

    /// Responses with each failing code.
    public func count(_ code: DNSMessage.ResponseCode) -> Int {
        self.answers.filter { $0.responseCode == code }.count
    }
}

/// A DNS finding: a failure of one name (all its occurrences), or an address that entered the
/// answers and whose connections failed.
public struct DNSFinding: Sendable {
    /// `dns.nxdomain`, `dns.servfail`, `dns.refused`, `dns.timeout` or `dns.drift`.
    public var code: FindingCode
    /// The name.
    public var name: String
    /// How many answers (queries, for a timeout) it covers.
    public var count: Int
    /// Their frames (the answers; the unanswered queries), the first `framesKept`.
    public var frames: [FrameNumber]
    /// When the first and the last happened.
    public var firstTime: Timestamp
    public var lastTime: Timestamp
    /// For `dns.drift`: the address that entered the answers.
    public var address: IPAddress?
    /// For `dns.drift`: the connections to it from then on, and those of them that failed (by
    /// report id).
    public var connections: Int = 0
    public var failedConnections: [UInt32] = []
    /// One sentence a person on call understands.
    public var summary: String

    /// Frames a finding lists.
    public static let framesKept = 16
}

/// Everything the capture shows of the gateway's DNS traffic.
public struct DNSSummary: Sendable {
    /// The names resolved, in order of first query (or first answer).
    public var names: [DNSNameHistory]
    /// Failures and drifts, in order of first occurrence.
    public var findings: [DNSFinding]
    /// DNS messages read (UDP datagrams and TCP messages).
    public var messages: Int
    /// Of them over TCP.
    public var tcpMessages: Int
    /// Messages that do not parse, and the first such frame.
    public var malformed: Int
    public var firstMalformedFrame: FrameNumber?
    /// UDP payloads the snap length cut, so not read.
    public var cutBySnapLength: Int
    /// TCP directions abandoned at a hole in the capture.
    public var tcpGaps: Int
    /// Names past `DNSTracker.Limits.names`, counted but not followed.
    public var namesNotFollowed: Int
}
