/// How much a finding matters to the gateway.
public enum Severity: String, Hashable, Sendable, Comparable {
    /// The gateway cannot use the response: it answers 502/503/504 or truncates.
    case fatal
    /// Suspicious or lossy, but not by itself the reason for an error.
    case warning
    /// A deviation from the RFC that the gateways tolerate.
    case lint

    private var rank: Int {
        switch self {
        case .fatal: return 0
        case .warning: return 1
        case .lint: return 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// The raw bytes that prove a finding: where they are in the stream and in the capture.
public struct Evidence: Hashable, Sendable {
    /// Who sent the bytes.
    public var direction: Direction
    /// Offset of the first byte from the first payload byte of that direction (0).
    public var streamOffset: UInt64
    /// The frame the first byte came from (1-based), or `nil` when no frame carries it (a gap).
    public var frame: FrameNumber?
    /// Offset of the first byte inside that frame, counted from the start of the link-layer header.
    public var frameOffset: Int?
    /// How many bytes the evidence covers.
    public var length: UInt64
    /// The offending bytes themselves (capped by the producer), empty when not seen.
    public var bytes: [UInt8]
    /// Some bytes around them, for a person reading a hexdump.
    public var context: [UInt8]
    /// Stream offset of `context[0]`.
    public var contextOffset: UInt64
    /// A short explanation a person understands.
    public var note: String
    /// The HTTP/2 stream the bytes belong to (RFC 9113 §5.1.1), when they are an HTTP/2 frame
    /// of one; `nil` for HTTP/1 and for frames of the whole connection (stream 0).
    public var streamID: UInt32?
    /// For bytes carried inside another protocol's records (the CGI response in FastCGI's
    /// FCGI_STDOUT), the offset of the first byte in that content, counted from the content's
    /// first byte; `streamOffset` is still the byte's place in the TCP stream. `nil` otherwise.
    public var contentOffset: UInt64? = nil

    /// Evidence from its parts.
    public init(
        direction: Direction, streamOffset: UInt64, frame: FrameNumber?, frameOffset: Int?,
        length: UInt64, bytes: [UInt8] = [], context: [UInt8] = [], contextOffset: UInt64? = nil, note: String,
        streamID: UInt32? = nil
    ) {
        self.streamID = streamID
        self.direction = direction
        self.streamOffset = streamOffset
        self.frame = frame
        self.frameOffset = frameOffset
        self.length = length
        self.bytes = bytes
        self.context = context
        self.contextOffset = contextOffset ?? streamOffset
        self.note = note
    }
}

/// Something edgescope found on a connection, with the evidence behind it.
public struct Finding: Hashable, Sendable {
    /// The stable code.
    public var code: FindingCode
    /// How much it matters.
    public var severity: Severity
    /// The bytes (or packets) that prove it; a finding about packets (an RST) points at the frame.
    public var evidence: [Evidence]
    /// The offending token as text, where what a gateway does depends on it (the Content-Length
    /// value `5, 5`, the version token `HTTP/1.10`, the status code `2000`).
    public var value: String?

    /// A finding from its parts.
    public init(code: FindingCode, severity: Severity, evidence: [Evidence], value: String? = nil) {
        self.code = code
        self.severity = severity
        self.evidence = evidence
        self.value = value
    }
}

extension Finding {
    /// The value of an `http.chunked.bad_ext` finding whose extension has no name (`2;`): gateways
    /// that screen extension bytes rather than their grammar pass it.
    public static let missingChunkExtensionName = ";"
}
