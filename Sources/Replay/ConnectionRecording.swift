import CaptureModel
import TCPReassembly

/// One connection's two streams as the capture delivered them: each direction's in-order
/// bytes with the packet that delivered them, its closes, in frame order.
///
/// It is a `ConnectionSink` for a flow table of its own that sees the same segments as the
/// engine's, so its connection ids are the engine's (`c<id>`); it keeps the bytes of one
/// connection only.
public struct ConnectionRecording {
    /// What one packet delivered or ended, in the order of the frames.
    public enum Event: Equatable, Sendable {
        /// In-order stream bytes of one direction, at their stream offset.
        case data(Direction, bytes: [UInt8], offset: UInt64, frame: FrameNumber, time: Timestamp)
        /// Bytes the capture lacks (the replay sends nothing for them).
        case gap(Direction, length: UInt64, frame: FrameNumber, time: Timestamp)
        /// That side's FIN, reached in order.
        case fin(Direction, frame: FrameNumber, time: Timestamp)
        /// That side's first RST.
        case reset(Direction, frame: FrameNumber, time: Timestamp)

        /// The frame that carried it (for a gap, the one that revealed it).
        public var frame: FrameNumber {
            switch self {
            case .data(_, _, _, let frame, _), .gap(_, _, let frame, _), .fin(_, let frame, _), .reset(_, let frame, _): frame
            }
        }
    }

    /// The connection to keep, by id (`c7` is 7).
    public let id: UInt32
    /// Its events, in frame order once `finished`.
    public private(set) var events: [Event] = []
    /// The connection as the flow table ended it (endpoints, facts), once it has.
    public private(set) var connection: Connection?
    /// Its slot while it is in the table.
    private var slot: Int?

    /// A recording of connection `id`.
    public init(id: UInt32) {
        self.id = id
    }

    /// Events in frame order (stream events of one direction come in stream order; an
    /// out-of-order segment is delivered with the frame that filled the hole before it).
    public var orderedEvents: [Event] {
        // A stable sort: equal frames keep their delivery order.
        self.events.enumerated().sorted { ($0.element.frame, $0.offset) < ($1.element.frame, $1.offset) }.map(\.element)
    }
}

extension ConnectionRecording: ConnectionSink {
    public mutating func connectionStarted(_ connection: Connection, slot: Int) {
        if connection.id == self.id, self.connection == nil { self.slot = slot }
    }

    public mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int) {
        guard slot == self.slot else { return }
        switch event {
        case .data(let data):
            self.events.append(.data(direction, bytes: Array(data.bytes), offset: data.offset, frame: data.frame, time: data.time))
        case .gap(let range, _, let time):
            let frame = self.events.last?.frame ?? 0
            self.events.append(.gap(direction, length: range.upperBound - range.lowerBound, frame: frame, time: time))
        case .fin(_, let frame, let time):
            self.events.append(.fin(direction, frame: frame, time: time))
        }
    }

    public mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int) {
        guard slot == self.slot else { return }
        self.events.append(.reset(direction, frame: mark.frame, time: mark.time))
    }

    public mutating func connectionEnded(_ connection: inout Connection, slot: Int) {
        guard slot == self.slot else { return }
        self.connection = connection
        self.slot = nil
    }
}
