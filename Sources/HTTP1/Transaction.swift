import CaptureModel

/// How a response's body length is known (RFC 9112 §6.3).
public enum BodyFraming: String, Hashable, Sendable {
    case contentLength = "content-length"
    case chunked
    case close
    case none
    case tunnel
}

/// A request the gateway sent, as the response pairing needs it.
public struct RequestInfo: Hashable, Sendable {
    /// The method, e.g. `GET`.
    public var method: String
    /// The request target.
    public var target: String
    /// The Host field, if any.
    public var host: String?
    /// `X-Request-Id`, if any.
    public var requestID: String?
    /// `X-Correlation-Id`, if any.
    public var correlationID: String?
    /// The trace-id of a W3C `traceparent` field, if any (the part every hop keeps).
    public var traceID: String?
    /// Stream offset of its first byte (client direction).
    public var offset: UInt64
    /// The frame of its first byte.
    public var frame: FrameNumber
    /// When its first byte was captured.
    public var time: Timestamp
    /// Whether it asked to switch protocols (`Connection: upgrade`).
    public var upgrade: Bool

    /// Whether its response has no body whatever the head says (RFC 9112 §6.3 rule 1).
    public var isHEAD: Bool { self.method == "HEAD" }
    /// Whether a 2xx response makes the connection a tunnel (RFC 9112 §6.3 rule 2).
    public var isCONNECT: Bool { self.method == "CONNECT" }
}

/// The upstream's answer, as far as it got.
public struct ResponseInfo: Hashable, Sendable {
    /// The status code, when the status line parsed.
    public var status: Int?
    /// Stream offset of its first byte (server direction).
    public var offset: UInt64
    /// The frame of its first byte.
    public var frame: FrameNumber?
    /// When its first byte was captured.
    public var time: Timestamp
    /// How its body length was known.
    public var framing: BodyFraming
    /// Whether the message ended where its framing says.
    public var complete: Bool
    /// Interim (1xx) responses that came before it.
    public var interim: [Int]
}

/// One request and its response.
public struct Transaction: Hashable, Sendable {
    /// The request, when seen.
    public var request: RequestInfo?
    /// The response, when one started.
    public var response: ResponseInfo?
}
