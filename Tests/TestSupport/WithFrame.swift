import CaptureModel
import PacketDecoding

/// Lends `bytes` to `body` as a `RawFrame`, the way a capture reader does.
///
/// - Parameters:
///   - capturedLength: keep only this many bytes, as a snap length would; the wire length
///     stays `bytes.count` unless `wireLength` says otherwise.
///   - wireLength: the frame's length on the wire (`len`); by default `bytes.count`.
@discardableResult
public func withFrame<Result>(
    _ bytes: [UInt8], number: FrameNumber = 1, timestamp: Timestamp = .zero,
    capturedLength: Int? = nil, wireLength: Int? = nil,
    _ body: (RawFrame) throws -> Result
) rethrows -> Result {
    let captured = Array(bytes.prefix(capturedLength ?? bytes.count))
    return try captured.withUnsafeBytes { buffer in
        try body(RawFrame(number: number, timestamp: timestamp, wireLength: wireLength ?? bytes.count, bytes: buffer))
    }
}

extension PacketDecoder {
    /// Decodes `bytes` as one frame (see `withFrame`) and snapshots the result.
    public mutating func decodeSnapshot(
        _ bytes: [UInt8], number: FrameNumber = 1, timestamp: Timestamp = .zero,
        capturedLength: Int? = nil, wireLength: Int? = nil
    ) -> DecodedFrameSnapshot {
        withFrame(bytes, number: number, timestamp: timestamp, capturedLength: capturedLength, wireLength: wireLength) {
            DecodedFrameSnapshot(self.decode($0))
        }
    }
}
