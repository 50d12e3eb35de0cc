import CaptureModel
import PacketDecoding
import TCPReassembly

/// A stream event with its bytes copied, so tests can compare them after the call.
enum Recorded: Equatable, CustomStringConvertible {
    case data([UInt8], offset: UInt64, frame: FrameNumber, frameOffset: Int?)
    case gap(Range<UInt64>, GapReason)
    case fin(offset: UInt64, frame: FrameNumber)

    init(_ event: StreamEvent) {
        switch event {
        case .data(let data): self = .data([UInt8](data.bytes), offset: data.offset, frame: data.frame, frameOffset: data.frameOffset)
        case .gap(let range, let reason, _): self = .gap(range, reason)
        case .fin(let offset, let frame, _): self = .fin(offset: offset, frame: frame)
        }
    }

    var description: String {
        switch self {
        case .data(let bytes, let offset, let frame, _): return "data(\(offset)+\(bytes.count) f\(frame))"
        case .gap(let range, let reason): return "gap(\(range) \(reason))"
        case .fin(let offset, let frame): return "fin(\(offset) f\(frame))"
        }
    }
}

/// One direction's reassembler driven with byte arrays.
struct StreamHarness {
    var stream = StreamReassembler(direction: .server)
    var budget: ReassemblyBudget
    var events: [Recorded] = []

    init(isn: UInt32 = 1000, limits: ReassemblyLimits = ReassemblyLimits()) {
        self.budget = ReassemblyBudget(limits: limits)
        self.stream.start(atSequence: isn &+ 1, bySYN: true)
    }

    mutating func send(seq: UInt32, _ bytes: [UInt8], frame: FrameNumber, wireLength: Int? = nil, fin: Bool = false) {
        var events: [Recorded] = []
        bytes.withUnsafeBytes { raw in
            self.stream.segment(
                sequence: seq, payload: raw, wireLength: wireLength ?? bytes.count, fin: fin, frame: frame,
                frameOffset: 54, time: Timestamp(nanoseconds: Int64(frame) * 1000), budget: &self.budget
            ) { events.append(Recorded($0)) }
        }
        self.events += events
    }

    mutating func ack(_ seq: UInt32, frame: FrameNumber) {
        var events: [Recorded] = []
        self.stream.acknowledged(upTo: seq, time: Timestamp(nanoseconds: Int64(frame) * 1000), budget: &self.budget) {
            events.append(Recorded($0))
        }
        self.events += events
    }

    mutating func finish() {
        var events: [Recorded] = []
        self.stream.finish(time: .zero, budget: &self.budget) { events.append(Recorded($0)) }
        self.events += events
    }

    /// The stream as delivered: bytes, with `nil` for every byte of a gap.
    var contents: [UInt8?] {
        var out: [UInt8?] = []
        for event in self.events {
            switch event {
            case .data(let bytes, let offset, _, _):
                precondition(offset == UInt64(out.count), "data out of order: \(self.events)")
                out += bytes.map { $0 }
            case .gap(let range, _):
                precondition(range.lowerBound == UInt64(out.count), "gap out of order: \(self.events)")
                out += Array(repeating: nil, count: Int(range.upperBound - range.lowerBound))
            case .fin:
                break
            }
        }
        return out
    }
}

/// A flow-table sink that keeps everything.
struct RecordingSink: ConnectionSink {
    var started: [UInt32] = []
    var events: [(slot: Int, direction: Direction, event: Recorded)] = []
    var resets: [(Direction, FrameNumber)] = []
    var ended: [Connection] = []

    mutating func connectionStarted(_ connection: Connection, slot: Int) { self.started.append(connection.id) }
    mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int) {
        self.events.append((slot, direction, Recorded(event)))
    }
    mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int) { self.resets.append((direction, mark.frame)) }
    mutating func connectionEnded(_ connection: inout Connection, slot: Int) { self.ended.append(connection) }
}

/// Builds segments between a gateway and an upstream and feeds them to a flow table.
struct FlowHarness {
    var table: FlowTable
    var sink = RecordingSink()
    var frame: FrameNumber = 0
    let gateway: Endpoint
    let upstream: Endpoint

    init(
        gateway: Endpoint = Endpoint(address: .v4(0x0a00_0005), port: 51234),
        upstream: Endpoint = Endpoint(address: .v4(0x0a00_0318), port: 8080),
        limits: ReassemblyLimits = ReassemblyLimits()
    ) {
        self.table = FlowTable(limits: limits)
        self.gateway = gateway
        self.upstream = upstream
    }

    /// Sends a segment; `fromGateway` picks the direction. Time is the frame number in milliseconds unless given.
    mutating func send(
        fromGateway: Bool, seq: UInt32, ack: UInt32 = 0, flags: TCPFlags, _ payload: [UInt8] = [],
        window: UInt16 = 512, at milliseconds: Int64? = nil
    ) {
        self.frame += 1
        let source = fromGateway ? self.gateway : self.upstream
        let destination = fromGateway ? self.upstream : self.gateway
        let frame = self.frame
        let time = Timestamp(nanoseconds: (milliseconds ?? Int64(frame)) * 1_000_000)
        payload.withUnsafeBytes { raw in
            let segment = TCPSegment(
                source: source, destination: destination, sequence: seq, acknowledgment: ack, flags: flags,
                window: window, payload: raw, payloadFrameOffset: 54, payloadWireLength: payload.count)
            self.table.process(segment, frame: frame, time: time, sink: &self.sink)
        }
    }

    mutating func finish(at milliseconds: Int64 = 1_000_000) {
        self.table.finish(at: Timestamp(nanoseconds: milliseconds * 1_000_000), sink: &self.sink)
    }
}
