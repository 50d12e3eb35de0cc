import CaptureModel

/// A response head's bytes, copied out of the stream only when a comparison may need them: the
/// head of a failing response, or a healthy one kept as its neighbour. The parser holds a head
/// only while it is being read (and, between a head and the next one, in the buffer it already
/// has); this copy is made on demand, never per response.
public final class ResponseHead: Sendable {
    /// The head's bytes, from the status line to the empty line that ends it; credential
    /// values masked unless `--no-redact`.
    public let bytes: [UInt8]
    /// Stream offset of its first byte (server direction).
    public let offset: UInt64
    /// The frame of its first byte.
    public let frame: FrameNumber?
    /// When its first byte was captured.
    public let time: Timestamp
    /// The status code, when the status line parsed.
    public let status: Int?
    /// Its transaction's place on the connection (1-based), when known.
    public let transaction: Int?

    /// Heads longer than this are kept cut here: twice nginx's default buffer, so the first
    /// byte past it (`http.header.too_large`) is still shown.
    public static let maximumBytes = 8 << 10

    /// A head from its parts (at most `maximumBytes` of `bytes` are kept).
    public init(bytes: [UInt8], offset: UInt64, frame: FrameNumber?, time: Timestamp, status: Int?, transaction: Int?) {
        self.bytes = bytes.count > Self.maximumBytes ? Array(bytes.prefix(Self.maximumBytes)) : bytes
        self.offset = offset
        self.frame = frame
        self.time = time
        self.status = status
        self.transaction = transaction
    }

    /// The same head with its transaction's place known.
    public func numbered(_ transaction: Int?) -> ResponseHead {
        ResponseHead(bytes: self.bytes, offset: self.offset, frame: self.frame, time: self.time, status: self.status, transaction: transaction)
    }
}
