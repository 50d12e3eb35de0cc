import CaptureModel

/// How a response's body length is known (RFC 9112 §6.3).
public enum BodyFraming: String, Hashable, Sendable {
    case contentLength = "content-length"
    case chunked
    case close
    case none
    case tunnel
    /// HTTP/2: the stream's DATA frames, ended by a frame with END_STREAM (RFC 9113 §8.1).
    case http2Frames = "http2"
    /// Carried in FastCGI FCGI_STDOUT records: the body ends with the request's FCGI_END_REQUEST.
    case fastCGI = "fastcgi"
}

/// A request the gateway sent, as the response pairing needs it.
///
/// Its text (method, target, identifiers) is kept in one shared object: a request is copied
/// into the queue, the transaction, the client-hop correlation and the report, and each copy
/// then costs one retain, not one per string.
public struct RequestInfo: Hashable, Sendable {
    final class Text: Sendable {
        let method: String
        let target: String
        let host: String?
        let requestID: String?
        let correlationID: String?
        let traceID: String?

        init(method: String, target: String, host: String?, requestID: String?, correlationID: String?, traceID: String?) {
            self.method = method
            self.target = target
            self.host = host
            self.requestID = requestID
            self.correlationID = correlationID
            self.traceID = traceID
        }
    }

    private let text: Text
    /// The method, e.g. `GET`.
    public var method: String { self.text.method }
    /// The request target.
    public var target: String { self.text.target }
    /// The Host field, if any.
    public var host: String? { self.text.host }
    /// `X-Request-Id`, if any.
    public var requestID: String? { self.text.requestID }
    /// `X-Correlation-Id`, if any.
    public var correlationID: String? { self.text.correlationID }
    /// The trace-id of a W3C `traceparent` field, if any (the part every hop keeps).
    public var traceID: String? { self.text.traceID }
    /// Stream offset of its first byte (client direction).
    public var offset: UInt64
    /// The frame of its first byte.
    public var frame: FrameNumber
    /// When its first byte was captured.
    public var time: Timestamp
    /// Whether it asked to switch protocols (`Connection: upgrade`).
    public var upgrade: Bool

    /// A request from its parts.
    public init(
        method: String, target: String, host: String?, requestID: String?, correlationID: String?, traceID: String?,
        offset: UInt64, frame: FrameNumber, time: Timestamp, upgrade: Bool
    ) {
        self.text = Text(
            method: method, target: target, host: host, requestID: requestID, correlationID: correlationID, traceID: traceID)
        self.offset = offset
        self.frame = frame
        self.time = time
        self.upgrade = upgrade
    }

    /// Whether its response has no body whatever the head says (RFC 9112 §6.3 rule 1).
    public var isHEAD: Bool { self.method == "HEAD" }
    /// Whether a 2xx response makes the connection a tunnel (RFC 9112 §6.3 rule 2).
    public var isCONNECT: Bool { self.method == "CONNECT" }

    public static func == (a: RequestInfo, b: RequestInfo) -> Bool {
        a.offset == b.offset && a.frame == b.frame && a.time == b.time && a.upgrade == b.upgrade
            && (a.text === b.text
                || (a.method == b.method && a.target == b.target && a.host == b.host && a.requestID == b.requestID
                    && a.correlationID == b.correlationID && a.traceID == b.traceID))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.method)
        hasher.combine(self.target)
        hasher.combine(self.host)
        hasher.combine(self.requestID)
        hasher.combine(self.correlationID)
        hasher.combine(self.traceID)
        hasher.combine(self.offset)
        hasher.combine(self.frame)
        hasher.combine(self.time)
        hasher.combine(self.upgrade)
    }
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

    /// A response from its parts.
    public init(status: Int?, offset: UInt64, frame: FrameNumber?, time: Timestamp, framing: BodyFraming, complete: Bool, interim: [Int]) {
        self.status = status
        self.offset = offset
        self.frame = frame
        self.time = time
        self.framing = framing
        self.complete = complete
        self.interim = interim
    }
}

/// One request and its response (on HTTP/2, one stream).
public struct Transaction: Hashable, Sendable {
    /// The request, when seen.
    public var request: RequestInfo?
    /// The response, when one started.
    public var response: ResponseInfo?
    /// The HTTP/2 stream that carried them (RFC 9113 §5.1.1); `nil` on HTTP/1.
    public var streamID: UInt32? = nil
    /// HTTP/2: when the stream ended without a complete response (an RST_STREAM, a GOAWAY, a
    /// frame the gateway could not take), for the client-hop correlation; `nil` otherwise.
    public var ended: Timestamp? = nil
    /// HTTP/2: the error code of the RST_STREAM the server sent on the stream before its response
    /// was complete (on the client hop, the gateway's: REFUSED_STREAM behind HAProxy, INTERNAL_ERROR
    /// behind nginx once the head went out); `nil` otherwise.
    public var resetCode: UInt32? = nil
    /// HTTP/2 gRPC: the grpc-status its trailers carried when it is not OK (0); `nil` otherwise.
    public var grpcStatus: Int? = nil

    /// A transaction from its parts.
    public init(request: RequestInfo?, response: ResponseInfo?) {
        self.request = request
        self.response = response
    }
}

extension Transaction {
    /// An HTTP/2 stream's transaction.
    public init(stream streamID: UInt32, request: RequestInfo?, response: ResponseInfo?, ended: Timestamp? = nil) {
        self.request = request
        self.response = response
        self.streamID = streamID
        self.ended = ended
    }
}
