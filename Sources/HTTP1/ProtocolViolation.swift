import CaptureModel

/// Where a stream stopped being HTTP/1: a response that does not begin with a status line. The
/// HTTP/1 parser knows only that these bytes are not HTTP/1 and reads no further; what they are
/// instead (TLS, HTTP/2, something else) is for the protocol probe that chose the parser to say.
public struct ProtocolViolation: Sendable, Equatable {
    /// Who sent the bytes.
    public var direction: Direction
    /// Stream offset of the message's first byte.
    public var streamOffset: UInt64
    /// The frame of the first byte, and its offset in that frame (nil when rebuilt from IP fragments).
    public var frame: FrameNumber?
    public var frameOffset: Int?
    /// The message's first bytes as the parser held them when it gave up, unmasked: at most
    /// `sampleLimit`, and none past the end of the head when the head ended first.
    public var bytes: [UInt8]

    /// Enough for 16 bytes of evidence and 24 of context after them.
    public static let sampleLimit = 40

    /// A violation from its parts.
    public init(direction: Direction, streamOffset: UInt64, frame: FrameNumber?, frameOffset: Int?, bytes: [UInt8]) {
        self.direction = direction
        self.streamOffset = streamOffset
        self.frame = frame
        self.frameOffset = frameOffset
        self.bytes = bytes
    }
}
