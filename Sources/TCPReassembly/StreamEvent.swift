import CaptureModel

/// Why a range of a stream was not delivered.
public enum GapReason: Hashable, Sendable {
    /// No frame in the capture carried these bytes (the peer's ACK, a later segment, or the
    /// end of the capture showed they were sent): `capture.gap`.
    case notCaptured
    /// A frame carried them but the snap length cut them off: `capture.truncated`.
    case snapLength(frame: FrameNumber)
    /// The out-of-order buffer hit its cap before the bytes arrived: `limit.reassembly_buffer`.
    case bufferLimit
}

/// Bytes delivered in stream order, borrowed for the duration of the call that receives them.
public struct StreamData {
    /// The bytes.
    public var bytes: UnsafeRawBufferPointer
    /// Stream offset of `bytes[0]` (0 is the direction's first payload byte).
    public var offset: UInt64
    /// The frame `bytes[0]` came from.
    public var frame: FrameNumber
    /// Offset of `bytes[0]` in that frame, or `nil` when it was rebuilt from IP fragments.
    public var frameOffset: Int?
    /// When that frame was captured.
    public var time: Timestamp

    /// Data from its parts.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer, offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp) {
        self.bytes = bytes
        self.offset = offset
        self.frame = frame
        self.frameOffset = frameOffset
        self.time = time
    }

    /// The frame and offset in frame of the byte at stream offset `streamOffset`, which must lie
    /// within this chunk: every byte of a chunk came from the same frame.
    @inlinable
    public func frameOffset(of streamOffset: UInt64) -> Int? {
        self.frameOffset.map { $0 + Int(streamOffset &- self.offset) }
    }
}

/// What one direction's reassembler hands its consumer, in stream order.
public enum StreamEvent {
    /// In-order bytes.
    case data(StreamData)
    /// Bytes that will never be delivered; the stream continues at `range.upperBound`.
    case gap(range: Range<UInt64>, reason: GapReason, time: Timestamp)
    /// The sender's FIN, reached in order: no bytes follow.
    case fin(offset: UInt64, frame: FrameNumber, time: Timestamp)
}
