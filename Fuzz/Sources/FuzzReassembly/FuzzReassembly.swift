// The flow table and reassembler (FlowTable, StreamReassembler), with small caps so they are hit.
//
// Input: records, each
//   [flags: 1 (FIN 01 SYN 02 RST 04 PSH 08 ACK 10)]
//   [select: 1 (bits 0-1 flow of three, bit 2 server's segment, bit 3 absolute numbers,
//               bit 4 payload rebuilt from fragments: no frame offset, bit 5 snap-length cut)]
//   absolute: [seq: 4][ack: 4]  relative: [seq delta: 2][ack delta: 2] (to the sender's and the peer's next)
//   [length: 1][cut: 1][time step: 1 (ff: 400 s later, fe: 1 s back)][payload]
//
// Invariants: each stream's events are contiguous from offset 0 (data and gaps in order, each
// starting where the last ended, nothing after the FIN); delivered bytes are the bytes of the
// frame and frame offset they name, with that frame's time; overlap evidence matches its
// frames; every connection that starts ends once, with the offsets and gap counts its events
// add up to; the buffered and retained bytes never pass their caps, per direction and in all,
// and are all released when the table finishes; the table never holds more than its cap.
@testable import TCPReassembly
import CaptureModel
import FuzzSupport
import PacketDecoding

/// Every frame made so far, by number, for checking what the streams deliver.
final class Frames {
    var bytes: [[UInt8]] = []
    var times: [Timestamp] = []
    subscript(number: FrameNumber) -> [UInt8] { self.bytes[Int(number) - 1] }
}

struct StreamCheck {
    var next: UInt64 = 0
    var finished = false
    var gapBytes: UInt64 = 0
}

struct Checker: ConnectionSink {
    let frames: Frames
    var open: [Int: (id: UInt32, client: StreamCheck, server: StreamCheck)] = [:]
    var started = 0
    var ended = 0

    mutating func connectionStarted(_ connection: Connection, slot: Int) {
        require(self.open[slot] == nil, "slot \(slot) started twice")
        self.open[slot] = (connection.id, StreamCheck(), StreamCheck())
        self.started += 1
    }

    mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int) {
        require(self.open[slot] != nil, "event on slot \(slot), which is not open")
        var check = direction == .client ? self.open[slot]!.client : self.open[slot]!.server
        require(!check.finished, "\(direction.name) event after the FIN: \(event)")
        switch event {
        case .data(let data):
            require(data.offset == check.next, "\(direction.name) data at \(data.offset), expected \(check.next)")
            require(!data.bytes.isEmpty, "empty data event")
            check.next += UInt64(data.bytes.count)
            require(data.frame >= 1 && Int(data.frame) <= self.frames.bytes.count, "data names frame \(data.frame)")
            require(data.time == self.frames.times[Int(data.frame) - 1], "data time is not its frame's")
            if let frameOffset = data.frameOffset {
                let frame = self.frames[data.frame]
                require(frameOffset >= 0 && frameOffset + data.bytes.count <= frame.count,
                        "data \(frameOffset)+\(data.bytes.count) outside frame \(data.frame) of \(frame.count) bytes")
                require(Array(frame[frameOffset..<(frameOffset + data.bytes.count)]) == Array(data.bytes),
                        "delivered bytes differ from frame \(data.frame) at \(frameOffset)")
            }
        case .gap(let range, _, _):
            require(range.lowerBound == check.next && range.upperBound > range.lowerBound, "\(direction.name) gap \(range), expected from \(check.next)")
            check.next = range.upperBound
            check.gapBytes += UInt64(range.count)
        case .fin(let offset, _, _):
            require(offset == check.next, "\(direction.name) FIN at \(offset), stream at \(check.next)")
            check.finished = true
        }
        if direction == .client { self.open[slot]!.client = check } else { self.open[slot]!.server = check }
    }

    mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int) {
        require(self.open[slot] != nil, "reset on slot \(slot), which is not open")
    }

    mutating func connectionEnded(_ connection: inout Connection, slot: Int) {
        guard let state = self.open.removeValue(forKey: slot) else {
            require(false, "slot \(slot) ended but was not open")
            return
        }
        self.ended += 1
        require(state.id == connection.id, "slot \(slot) ended connection \(connection.id), started \(state.id)")
        for (stream, check) in [(connection.clientStream, state.client), (connection.serverStream, state.server)] {
            require(stream.nextOffset == check.next, "\(stream.direction.name) stream ended at \(stream.nextOffset), events reached \(check.next)")
            require(stream.gapBytes == check.gapBytes, "\(stream.direction.name) gap bytes \(stream.gapBytes), events had \(check.gapBytes)")
            require(stream.pending.isEmpty && stream.pendingBytes == 0, "\(stream.direction.name) stream ended holding \(stream.pendingBytes) bytes")
        }
        for finding in connection.allFindings {
            for evidence in finding.evidence {
                guard let frame = evidence.frame, let frameOffset = evidence.frameOffset, !evidence.bytes.isEmpty else { continue }
                require(frame >= 1 && Int(frame) <= self.frames.bytes.count, "evidence names frame \(frame)")
                let bytes = self.frames[frame]
                require(frameOffset >= 0 && frameOffset < bytes.count, "evidence frame offset \(frameOffset) outside frame \(frame) of \(bytes.count) bytes: \(evidence)")
                let shown = min(evidence.bytes.count, bytes.count - frameOffset)
                require(Array(bytes[frameOffset..<(frameOffset + shown)]) == Array(evidence.bytes.prefix(shown)),
                        "evidence bytes are not frame \(frame)'s at \(frameOffset): \(evidence)")
            }
        }
    }
}

let limits = ReassemblyLimits(
    maxBufferedBytesPerDirection: 300, maxBufferedBytesTotal: 700, retainedBytesPerDirection: 64, retainedBytesTotal: 256,
    maxConnections: 2, idleTimeout: 60_000_000_000, closedLinger: 1_000_000_000)

func checkBudget(_ table: FlowTable) {
    let budget = table.budget
    require(budget.bufferedBytes >= 0 && budget.bufferedBytes <= limits.maxBufferedBytesTotal, "buffered bytes \(budget.bufferedBytes)")
    require(budget.retainedBytes >= 0 && budget.retainedBytes <= limits.retainedBytesTotal, "retained bytes \(budget.retainedBytes)")
    require(table.liveConnections <= limits.maxConnections, "\(table.liveConnections) connections live")
    var buffered = 0
    var retained = 0
    // Open connections only: a judged connection's key lingers in the index as a tag, not a slot.
    for slot in table.openSlots() {
        for stream in [table.slots[slot].clientStream, table.slots[slot].serverStream] {
            require(stream.pendingBytes <= limits.maxBufferedBytesPerDirection, "a stream holds \(stream.pendingBytes) out-of-order bytes")
            require(stream.pendingBytes == stream.pending.reduce(0) { $0 + $1.bytes.count }, "pendingBytes disagrees with the held segments")
            require(stream.retained.count <= stream.retained.capacity, "ring holds more than its capacity")
            buffered += stream.pendingBytes
            retained += stream.retained.capacity
        }
    }
    require(buffered == budget.bufferedBytes, "budget says \(budget.bufferedBytes) buffered, streams hold \(buffered)")
    require(retained == budget.retainedBytes, "budget says \(budget.retainedBytes) retained, streams hold \(retained)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    let frames = Frames()
    var checker = Checker(frames: frames)
    var table = FlowTable(limits: limits)
    let server = Endpoint(address: .v4(0x0a00_0002), port: 80)
    let clients = (0..<3).map { Endpoint(address: .v4(0x0a00_0001), port: UInt16(40_000 + $0)) }
    // The next sequence number each side of each flow would send, for relative records.
    var next: [[UInt32]] = [[1000, 0xffff_ff00], [0x7fff_fff0, 5], [0, 0xffff_fffe]]
    var time: Int64 = 1_700_000_000_000_000_000
    while !input.isAtEnd {
        let flagBits = input.u8()
        let select = input.u8()
        let flow = Int(select & 3) % 3
        let fromServer = select & 4 != 0
        let sender = fromServer ? 1 : 0
        var sequence: UInt32
        var acknowledgment: UInt32
        if select & 8 != 0 {
            sequence = input.u32()
            acknowledgment = input.u32()
        } else {
            sequence = next[flow][sender] &+ UInt32(bitPattern: Int32(Int16(bitPattern: input.u16())))
            acknowledgment = next[flow][1 - sender] &+ UInt32(bitPattern: Int32(Int16(bitPattern: input.u16())))
        }
        let length = Int(input.u8())
        let cut = Int(input.u8())
        let step = input.u8()
        switch step {
        case 0xff: time &+= 400_000_000_000
        case 0xfe: time &-= 1_000_000_000
        default: time &+= Int64(step) * 10_000_000
        }
        let payload = input.take(length)
        var flags = TCPFlags(rawValue: UInt16(flagBits & 0x1f))
        next[flow][sender] = sequence &+ (flags.contains(.syn) ? 1 : 0) &+ UInt32(payload.count)
        if flags.contains(.fin) { next[flow][sender] &+= 1 }
        if flagBits & 0x80 != 0 { flags.insert(.ack) }

        // The frame: 66 bytes of headers (contents do not matter here), then the payload.
        let frameBytes = [UInt8](repeating: 0, count: Piece.payloadOffset) + payload
        frames.bytes.append(frameBytes)
        frames.times.append(Timestamp(nanoseconds: time))
        let number = FrameNumber(frames.bytes.count)
        // A snap-length cut keeps only the first `captured` bytes of what the sender sent.
        let captured = select & 0x20 != 0 ? payload.count - min(payload.count, cut) : payload.count
        let wire = payload.count
        frames.bytes[frames.bytes.count - 1].withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[Piece.payloadOffset..<(Piece.payloadOffset + captured)])
            let segment = TCPSegment(
                source: fromServer ? server : clients[flow], destination: fromServer ? clients[flow] : server,
                sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: UInt16(cut),
                payload: body, payloadFrameOffset: select & 0x10 != 0 ? nil : Piece.payloadOffset, payloadWireLength: wire)
            table.process(segment, frame: number, time: Timestamp(nanoseconds: time), sink: &checker)
        }
        checkBudget(table)
    }
    table.finish(at: Timestamp(nanoseconds: time), sink: &checker)
    require(checker.open.isEmpty, "\(checker.open.count) connections never ended")
    require(checker.started == checker.ended, "\(checker.started) started, \(checker.ended) ended")
    require(table.budget.bufferedBytes == 0 && table.budget.retainedBytes == 0,
            "after finish: \(table.budget.bufferedBytes) buffered, \(table.budget.retainedBytes) retained")
    return 0
}
