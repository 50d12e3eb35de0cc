import CaptureModel
import HTTP2
import GatewayLog

/// What a client saw go wrong: an error status, or a response that never came whole.
public enum ClientFailure: String, Sendable {
    /// A complete 500, 502, 503 or 504 response.
    case errorStatus = "error_status"
    /// The gateway closed the connection without sending a byte of the response.
    case emptyReply = "empty_reply"
    /// The gateway reset the connection before the response was complete (or began).
    case reset
    /// The gateway closed the connection before the body its framing announced was complete
    /// (HTTP/2: ended the stream short of its content-length).
    case cutBody = "cut_body"
    /// HTTP/2 gRPC: a response whose trailers carry a grpc-status other than OK (its status is 200).
    case grpcStatus = "grpc_status"

    /// How a report names it.
    public var phrase: String {
        switch self {
        case .errorStatus: return "error status"
        case .emptyReply: return "empty reply"
        case .reset: return "reset"
        case .cutBody: return "cut body"
        case .grpcStatus: return "gRPC error status"
        }
    }
}

/// A failure one of the gateway's clients saw, and the upstream connection behind it: a 500, 502,
/// 503 or 504, or a response that never came whole (an empty reply, a reset, a cut body) whatever its
/// status.
public struct ClientError: Sendable {
    /// Who made the status.
    public enum Origin: String, Sendable {
        /// The gateway made it (an upstream failed, or nothing upstream was asked).
        case gateway
        /// The upstream itself answered that status and the gateway relayed it (`http.upstream_5xx`).
        case upstream
    }

    /// The statuses listed: the gateway's error pages (502, 503, 504) and 500, which a FastCGI
    /// application's fatal error gives (nginx and Apache relay php-fpm's 500; Apache makes its own
    /// for a bad CGI head).
    public static let statuses: ClosedRange<Int> = 500...504

    /// The client's side of the client-to-gateway connection.
    public var client: Endpoint
    /// The gateway's listener it was sent from.
    public var gateway: Endpoint
    /// The client-to-gateway connection (its id counts among every connection's).
    public var clientConnection: UInt32
    /// The status the client got: 500, 502, 503 or 504 for an error status; the status of a cut
    /// response; `nil` when no status line came (an empty reply, a reset before the response).
    public var status: Int?
    /// What the client saw.
    public var failure: ClientFailure
    /// When the response's first byte was captured.
    public var time: Timestamp
    /// The frame of the response's first byte.
    public var frame: FrameNumber?
    /// The frame of the request's first byte.
    public var requestFrame: FrameNumber
    /// The request's method.
    public var method: String
    /// The request's target.
    public var target: String
    /// The request's Host field.
    public var host: String?
    /// The request's `X-Request-Id` (else `X-Correlation-Id`, else the `traceparent` trace-id).
    public var requestID: String?
    /// Who made the status.
    public var generatedBy: Origin
    /// The upstream connection that caused it: the last one that carried the request, or the
    /// last failed connection attempt in its time; `nil` when none explains it.
    public var upstreamConnection: UInt32?
    /// That connection's upstream.
    public var upstreamServer: Endpoint?
    /// That connection's verdict code, or `http.upstream_5xx` when relayed; `nil` without one.
    public var cause: FindingCode?
    /// Earlier upstream connections the gateway tried for the same request and that failed too
    /// (nginx `proxy_next_upstream`, HAProxy `retries`, Envoy retry policy), oldest first.
    public var earlierUpstreamConnections: [UInt32]
    /// What tied the request to the upstream connection: `request_id`, `method`, `target`,
    /// `host`, or `timing` alone (a connection that failed before any request).
    public var matchedBy: [String]

    /// HTTP/2: the client's stream that carried the request (on the client hop).
    public var streamID: UInt32? = nil
    /// HTTP/2: the error code of the RST_STREAM the gateway sent on that stream (`reset`).
    public var resetCode: UInt32? = nil
    /// HTTP/2: the stream of `upstreamConnection` that carried the request upstream.
    public var upstreamStreamID: UInt32? = nil
    /// RFC 9113 §7: `resetCode`'s name (`REFUSED_STREAM`).
    public var resetError: String? { self.resetCode.map(HTTP2Wire.errorName) }

    /// For `gateway.no_live_upstreams`: the last failed connection to each upstream the gateway's
    /// host reached before it, the failures that had the members marked down, oldest first.
    public var disabledBy: [UInt32] = []

    /// For a `dns.*` cause (no upstream connection: the name did not resolve), the frame of the
    /// failing answer or of the unanswered query, and the name.
    public var dnsFrame: FrameNumber? = nil
    /// The name that did not resolve.
    public var dnsName: String? = nil
    /// The gateway's log lines about it (`--gateway-log`); `nil` when no log was given.
    public var gatewayLog: [GatewayLogNote]? = nil

    /// `GET /v1/report`.
    public var request: String { "\(self.method) \(self.target)" }
    /// Whether an upstream connection explains it, or the members' earlier failures do (no live upstreams).
    public var isExplained: Bool { self.upstreamConnection != nil || self.cause == .gatewayNoLiveUpstreams || self.dnsFrame != nil }
}

/// What the capture shows of the client-to-gateway hop, when it holds that hop too.
public struct ClientHopSummary: Sendable {
    /// One listener of the gateway.
    public struct Listener: Sendable {
        /// Where the gateway listens.
        public var endpoint: Endpoint
        /// Whether `--gateway-address` named it (else it was inferred from the requests).
        public var given: Bool
        /// Client connections to it.
        public var connections: Int
        /// Requests its clients sent.
        public var requests: Int
    }

    /// The gateway's listeners, in order of first connection.
    public var listeners: [Listener]
    /// Client-to-gateway connections, excluded from the connections and upstreams.
    public var connections: Int
    /// Requests on them.
    public var requests: Int
    /// Every failure clients saw (500, 502, 503 and 504, empty replies, resets, cut bodies), in time
    /// order (at most `ClientHopLimits.listedErrors`).
    public var errors: [ClientError]
    /// Client errors counted (listed or not).
    public var errorCount: Int
    /// Those an upstream connection explains.
    public var explained: Int
    /// Client errors counted but not listed.
    public var errorsNotListed: Int

    /// Client errors no upstream connection explains.
    public var unexplained: Int { self.errorCount - self.explained }
}
