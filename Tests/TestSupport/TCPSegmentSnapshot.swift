import CaptureModel
import PacketDecoding

/// A `TCPSegment` with its payload copied out of the frame.
public struct TCPSegmentSnapshot: Hashable, Sendable, CustomStringConvertible {
    /// The sender.
    public var source: Endpoint
    /// The receiver.
    public var destination: Endpoint
    /// The sequence number.
    public var sequence: UInt32
    /// The acknowledgment number.
    public var acknowledgment: UInt32
    /// The flags.
    public var flags: TCPFlags
    /// The raw window field.
    public var window: UInt16
    /// The window-scale option of a SYN.
    public var windowScale: UInt8?
    /// The MSS option of a SYN.
    public var maximumSegmentSize: UInt16?
    /// The captured payload bytes.
    public var payload: [UInt8]
    /// Where the payload starts in the frame, `nil` for a reassembled datagram.
    public var payloadFrameOffset: Int?
    /// How many payload bytes were sent.
    public var payloadWireLength: Int

    /// A snapshot from its parts, to compare a decoded segment with in one `#expect`.
    public init(
        source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgment: UInt32 = 0,
        flags: TCPFlags = .ack, window: UInt16 = 65_535, windowScale: UInt8? = nil,
        maximumSegmentSize: UInt16? = nil, payload: [UInt8] = [], payloadFrameOffset: Int?,
        payloadWireLength: Int? = nil
    ) {
        self.source = source
        self.destination = destination
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.window = window
        self.windowScale = windowScale
        self.maximumSegmentSize = maximumSegmentSize
        self.payload = payload
        self.payloadFrameOffset = payloadFrameOffset
        self.payloadWireLength = payloadWireLength ?? payload.count
    }

    /// Copies `segment`, payload included.
    public init(_ segment: TCPSegment) {
        self.source = segment.source
        self.destination = segment.destination
        self.sequence = segment.sequence
        self.acknowledgment = segment.acknowledgment
        self.flags = segment.flags
        self.window = segment.window
        self.windowScale = segment.windowScale
        self.maximumSegmentSize = segment.maximumSegmentSize
        self.payload = Array(segment.payload)
        self.payloadFrameOffset = segment.payloadFrameOffset
        self.payloadWireLength = segment.payloadWireLength
    }

    /// `src > dst seq=… ack=… flags=0x… len=captured/wire @offset`.
    public var description: String {
        "\(self.source) > \(self.destination) seq=\(self.sequence) ack=\(self.acknowledgment) "
            + "flags=0x\(String(self.flags.rawValue, radix: 16)) win=\(self.window) "
            + "len=\(self.payload.count)/\(self.payloadWireLength) @\(self.payloadFrameOffset.map(String.init) ?? "-")"
    }
}
