import CaptureModel
import PacketDecoding

/// Every TCP connection of a capture: finds a segment's connection, feeds its two streams, and
/// hands each connection to the sink when it ends.
/// When the flow table judges a connection and hands it to its sink.
public enum Judgment: Hashable, Sendable {
    /// When it has closed both ways (both FINs delivered in stream order) or at an RST from either
    /// side: its state is let go at once, and its late packets (the last ACK, a retransmitted FIN)
    /// are recognised for the linger time and dropped.
    case closedBothWays
    /// At the packet that closes it on the gateway's side (its FIN, or an RST from either side):
    /// a live capture's verdicts on time. Its late packets are dropped as above.
    case gatewayClose
    /// Once closed and quiet for the linger time (`ReassemblyLimits.closedLinger`), so its late
    /// packets count in its report; the closed connection keeps all its state meanwhile.
    case afterLinger
}

public struct FlowTable {
    /// The caps.
    public let limits: ReassemblyLimits
    /// Memory shared by every stream.
    public private(set) var budget: ReassemblyBudget
    /// The budget's pool of retention buffers (`ReassemblyBudget.pool` holds it unretained).
    let retentionPool = RetentionPool()
    /// Endpoints known to be servers (`--upstream`), so a connection picked up mid-stream gets its roles right.
    public var knownServers: Set<Endpoint> = []
    /// Bare addresses known to be servers (`--upstream ADDR` without a port).
    public var knownServerAddresses: Set<IPAddress> = []

    // Non-optional, so a field is read in place; a free slot holds an empty placeholder.
    @usableFromInline var slots: [Connection] = []
    @usableFromInline var freeSlots: [Int] = []
    @usableFromInline var index = FlowIndex()
    @usableFromInline var nextID: UInt32 = 1
    @usableFromInline var nextSweep: Int64 = .min
    /// Whether `process` starts a sweep once a capture-second; false after `sweepOnlyWhenAsked()`.
    var sweepsItself = true
    /// When a connection is judged (`Judgment`).
    public var judgment = Judgment.closedBothWays
    /// Whether the last segment `process` took belonged to a connection judged already (see
    /// `Judgment`): a late packet no report will name.
    public private(set) var lastSegmentWasLate = false

    /// What a judged connection leaves in the table until its linger ends, in place of its slot:
    /// its key (the index entry), its client's initial sequence number (a retransmitted SYN is
    /// late, a fresh one opens a new connection) and its last packet's time. The index holds
    /// `Self.lingeringTag` plus the entry's position for it.
    @usableFromInline struct Lingering {
        var key: FlowKey
        var clientISN: UInt32?
        var last: Timestamp
    }
    @usableFromInline var lingering: [Lingering] = []
    @usableFromInline var freeLingering: [Int] = []
    /// Added to a `lingering` position in the index: above any slot.
    @usableFromInline static let lingeringTag = 1 << 30

    /// Connections created so far.
    public var connectionsSeen: Int { Int(self.nextID) - 1 }
    /// Connections in the table now, not counting judged ones that linger.
    public var liveConnections: Int { self.index.count - self.lingeringCount }
    /// The first packet's time of the earliest connection in the table not judged yet; `nil`
    /// when there is none. A walk over the slots: for a caller that asks now and then.
    public var earliestLiveStart: Timestamp? {
        var earliest: Timestamp?
        for slot in self.slots.indices where self.slots[slot].id != 0 {
            let start = self.slots[slot].facts.first.time
            if earliest.map({ start < $0 }) ?? true { earliest = start }
        }
        return earliest
    }
    /// Judged connections lingering for their late packets.
    public var lingeringCount: Int { self.lingering.count - self.freeLingering.count }
    /// Connections ended early because the table was full.
    public private(set) var flowTableEvictions = 0

    /// An empty table.
    public init(limits: ReassemblyLimits = ReassemblyLimits()) {
        self.limits = limits
        self.budget = ReassemblyBudget(limits: limits)
        self.budget.pool = .passUnretained(self.retentionPool)
    }

    /// Feeds one TCP segment.
    public mutating func process<Sink: ConnectionSink>(
        _ segment: TCPSegment, frame: FrameNumber, time: Timestamp, sink: inout Sink
    ) {
        if time.nanoseconds >= self.nextSweep {
            self.sweep(now: time, sink: &sink)
        }
        let key = FlowKey(segment.source, segment.destination)
        let flags = segment.flags
        let mark = PacketMark(frame: frame, time: time)

        var slot = self.index[key]
        if let value = slot, value >= Self.lingeringTag {
            // Judged already: a late packet only keeps the linger going, unless a fresh SYN
            // reuses the ports.
            let at = value - Self.lingeringTag
            guard self.startsNewConnection(segment, lingering: at) else {
                self.lingering[at].last = time
                self.lastSegmentWasLate = true
                return
            }
            self.forget(lingering: at)
            slot = nil
        }
        if let existing = slot, self.startsNewConnection(segment, slot: existing) {
            self.end(slot: existing, as: .reused, at: time, sink: &sink)
            slot = nil
        }
        let s: Int
        if let slot {
            s = slot
        } else {
            s = self.create(key: key, segment: segment, mark: mark, sink: &sink)
        }
        self.lastSegmentWasLate = false

        let direction: Direction = self.slots[s].client == segment.source ? .client : .server
        var budget = self.budget
        defer { self.budget = budget }

        // Packet-level facts first: they do not depend on stream order.
        self.slots[s].note(segment, direction: direction, mark: mark)

        // SYN fixes the sender's offset 0 (its sequence number plus one: the SYN takes one).
        if flags.contains(.syn) {
            let isn = segment.sequence
            switch direction {
            case .client:
                if self.slots[s].clientISN == nil {
                    self.slots[s].clientISN = isn
                    if !self.slots[s].clientStream.isStarted {
                        self.slots[s].clientStream.start(atSequence: isn &+ 1, bySYN: true)
                    }
                }
            case .server:
                if self.slots[s].serverISN == nil {
                    self.slots[s].serverISN = isn
                    if !self.slots[s].serverStream.isStarted {
                        self.slots[s].serverStream.start(atSequence: isn &+ 1, bySYN: true)
                    }
                }
            }
        }

        // An ACK tells what the peer received: bytes the capture missed become gaps now.
        if flags.contains(.ack), !flags.contains(.rst) {
            switch direction {
            case .client:
                self.slots[s].serverStream.acknowledged(upTo: segment.acknowledgment, time: time, budget: &budget) {
                    sink.stream($0, direction: .server, slot: s)
                }
            case .server:
                self.slots[s].clientStream.acknowledged(upTo: segment.acknowledgment, time: time, budget: &budget) {
                    sink.stream($0, direction: .client, slot: s)
                }
            }
        }

        let fin = flags.contains(.fin)
        if segment.payloadWireLength > 0 || fin {
            // Data carried by a SYN (TCP Fast Open) starts after the SYN's own sequence number.
            let sequence = flags.contains(.syn) ? segment.sequence &+ 1 : segment.sequence
            switch direction {
            case .client:
                self.slots[s].clientStream.segment(
                    sequence: sequence, payload: segment.payload, wireLength: segment.payloadWireLength, fin: fin,
                    frame: frame, frameOffset: segment.payloadFrameOffset, time: time, budget: &budget
                ) { sink.stream($0, direction: .client, slot: s) }
            case .server:
                self.slots[s].serverStream.segment(
                    sequence: sequence, payload: segment.payload, wireLength: segment.payloadWireLength, fin: fin,
                    frame: frame, frameOffset: segment.payloadFrameOffset, time: time, budget: &budget
                ) { sink.stream($0, direction: .server, slot: s) }
            }
            self.slots[s].noteStreamHistory(direction)
        }

        if flags.contains(.rst), self.slots[s].facts[direction].rst?.frame == frame {
            sink.reset(by: direction, at: mark, slot: s)
        }
        // Closed: what lingers for late packets needs no retransmission memory.
        if fin || flags.contains(.rst), self.slots[s].isClosed {
            self.slots[s].clientStream.stopRetaining(budget: &budget)
            self.slots[s].serverStream.stopRetaining(budget: &budget)
        }
        let closesNow: Bool
        switch self.judgment {
        case .gatewayClose:
            closesNow = flags.contains(.rst) || (fin && direction == .client)
        case .closedBothWays:
            // Both FINs delivered (a FIN out of order waits for the bytes before it), or an RST.
            closesNow = flags.contains(.rst)
                || (self.slots[s].clientStream.finDelivered && self.slots[s].serverStream.finDelivered)
        case .afterLinger:
            closesNow = false
        }
        if closesNow {
            // `judge` spends from the table's budget: hand it the one this call holds, and take it back.
            self.budget = budget
            self.judgeAtClose(slot: s, at: time, key: key, sink: &sink)
            budget = self.budget
        }
    }

    /// Judges the connection in `slot` now, frees the slot, and leaves in the index what its
    /// linger needs (`Lingering`), so its late packets land there and are dropped.
    private mutating func judgeAtClose<Sink: ConnectionSink>(slot: Int, at time: Timestamp, key: FlowKey, sink: inout Sink) {
        var connection = Connection.vacant
        swap(&connection, &self.slots[slot])
        let remains = Lingering(key: key, clientISN: connection.clientISN, last: time)
        let at: Int
        if let free = self.freeLingering.popLast() {
            at = free
            self.lingering[at] = remains
        } else {
            at = self.lingering.count
            self.lingering.append(remains)
        }
        self.index[key] = Self.lingeringTag + at
        self.judge(&connection, slot: slot, as: .closed, at: time, sink: &sink)
        self.freeSlots.append(slot)
    }

    /// Drops a lingering connection's entry: its linger is over, or its ports were reused.
    private mutating func forget(lingering at: Int) {
        self.index[self.lingering[at].key] = nil
        self.freeLingering.append(at)
    }

    /// Records an ICMP destination-unreachable that quotes a segment from `source` to
    /// `destination`, on that connection if it is in the table.
    public mutating func noteUnreachable(
        quotedSource source: Endpoint, quotedDestination destination: Endpoint, mark: PacketMark, code: UInt8 = 0, isIPv6: Bool = false
    ) {
        self.noteICMP(ICMPUnreachable(isIPv6: isIPv6, code: code, quotedSource: source, quotedDestination: destination, quotedSequence: nil), mark: mark)
    }

    /// Records an ICMP error that quotes a segment of a connection in the table: the first
    /// destination unreachable or time exceeded, and every fragmentation needed / packet too big
    /// (counted, with the smallest MTU named).
    public mutating func noteICMP(_ icmp: ICMPUnreachable, mark: PacketMark) {
        // A connection judged already (lingering) takes nothing more.
        guard let slot = self.index[FlowKey(icmp.quotedSource, icmp.quotedDestination)], slot < Self.lingeringTag else { return }
        switch icmp.kind {
        case .unreachable, .timeExceeded:
            guard self.slots[slot].unreachable == nil else { return }
            self.slots[slot].unreachable = mark
            self.slots[slot].unreachableCode = icmp.code
            self.slots[slot].unreachableIsIPv6 = icmp.isIPv6
            self.slots[slot].unreachableKind = icmp.kind
        case .packetTooBig:
            if var messages = self.slots[slot].pathMTU {
                messages.count += 1
                if icmp.nextHopMTU != 0, messages.nextHopMTU == 0 || icmp.nextHopMTU < messages.nextHopMTU {
                    messages.nextHopMTU = icmp.nextHopMTU
                }
                self.slots[slot].pathMTU = messages
            } else {
                self.slots[slot].pathMTU = PathMTUMessages(
                    first: mark, count: 1, nextHopMTU: icmp.nextHopMTU,
                    direction: self.slots[slot].client == icmp.quotedSource ? .client : .server, isIPv6: icmp.isIPv6)
            }
        }
        self.slots[slot].facts.last = mark
    }

    /// Ends every connection still open (the capture is over), in order of their first packet.
    public mutating func finish<Sink: ConnectionSink>(at time: Timestamp, sink: inout Sink) {
        self.finish(slots: self.openSlots(), at: time, sink: &sink)
    }

    /// The slots of the connections still open, in order of their first packet: what `finish`
    /// ends, for a caller that ends them a batch at a time (`finish(slots:at:sink:)`).
    public func openSlots() -> [Int] {
        self.index.values.filter { $0 < Self.lingeringTag }.sorted { self.slots[$0].id < self.slots[$1].id }
    }

    /// Ends the connections in `slots`, taken from `openSlots()` with nothing processed since:
    /// the capture is over.
    public mutating func finish<Sink: ConnectionSink>(slots: some Sequence<Int>, at time: Timestamp, sink: inout Sink) {
        for slot in slots {
            self.end(slot: slot, as: .captureEnded, at: time, sink: &sink)
        }
    }

    /// From now on `process` never sweeps: the caller calls `sweep(now:sink:)` itself. For a
    /// table that sees only some of a capture's connections (one shard of several), whose
    /// sweeps must come when a table holding all of them would sweep: that depends on frames
    /// this table is not given.
    public mutating func sweepOnlyWhenAsked() {
        self.sweepsItself = false
        self.nextSweep = .max
    }

    /// Judges closed connections that have lingered, and evicts idle ones. Runs once a
    /// capture-second, so its cost is spread thin.
    public mutating func sweep<Sink: ConnectionSink>(now: Timestamp, sink: inout Sink) {
        self.nextSweep = self.sweepsItself ? now.nanoseconds &+ 1_000_000_000 : .max
        guard !self.index.isEmpty else { return }
        var ending: [(slot: Int, id: UInt32, end: ConnectionEnd)] = []
        var lingered: [Int] = []
        for slot in self.index.values {
            if slot >= Self.lingeringTag {
                let at = slot - Self.lingeringTag
                if now.nanoseconds(since: self.lingering[at].last) >= self.limits.closedLinger { lingered.append(at) }
                continue
            }
            let connection = self.slots[slot]
            let quiet = now.nanoseconds(since: connection.facts.last.time)
            if connection.isClosed, quiet >= self.limits.closedLinger {
                ending.append((slot, connection.id, .closed))
            } else if quiet >= self.limits.idleTimeout {
                ending.append((slot, connection.id, .idleEvicted))
            }
        }
        for at in lingered { self.forget(lingering: at) }
        ending.sort { $0.id < $1.id }
        for item in ending {
            self.end(slot: item.slot, as: item.end, at: now, sink: &sink)
        }
    }

    // MARK: Internals

    /// Whether `segment` opens a new connection on the ports of a judged one: a SYN that is not
    /// a retransmission of its first.
    private func startsNewConnection(_ segment: TCPSegment, lingering at: Int) -> Bool {
        guard segment.flags.contains(.syn), !segment.flags.contains(.ack) else { return false }
        guard let isn = self.lingering[at].clientISN else { return true }
        return isn != segment.sequence
    }

    private func startsNewConnection(_ segment: TCPSegment, slot: Int) -> Bool {
        // A fresh SYN (not a retransmission of the one we have) on a connection that is over,
        // or whose handshake used a different ISN: the ports were reused. Only SYNs get here,
        // so the connection is read (not copied) on the rare path.
        guard segment.flags.contains(.syn), !segment.flags.contains(.ack) else { return false }
        let isClosed = self.slots[slot].isClosed
        guard let isn = self.slots[slot].clientISN else {
            return isClosed || self.slots[slot].client != segment.source
        }
        return isn != segment.sequence && (isClosed || self.slots[slot].client == segment.source)
    }

    private mutating func create<Sink: ConnectionSink>(
        key: FlowKey, segment: TCPSegment, mark: PacketMark, sink: inout Sink
    ) -> Int {
        if self.liveConnections >= self.limits.maxConnections {
            self.makeRoom(now: mark.time, sink: &sink)
        }
        let (client, server) = self.roles(of: segment)
        let connection = Connection(id: self.nextID, client: client, server: server, first: mark)
        self.nextID &+= 1
        let free = self.freeSlots.popLast()
        let slot = free ?? self.slots.count
        // Announced before it is stored: the new connection is lent, then moved into its slot.
        // Lent from the slot, or after being stored, it was copied.
        sink.connectionStarted(connection, slot: slot)
        if free != nil {
            self.slots[slot] = connection
        } else {
            self.slots.append(connection)
        }
        self.index[key] = slot
        return slot
    }

    /// Who is client and who is server. A SYN says so; without one (a connection picked up
    /// mid-stream) the content decides first: the side that sends a status line or a TLS
    /// ServerHello is the server, the side that sends a request line or a ClientHello the client.
    /// Then `--upstream`; then the ports: a well-known port (below 1024) over a common server port
    /// (8080, 8443...) over another registered one over an ephemeral one (32768 and up); on a tie,
    /// the lower port (docs/design.md), the destination on equal ports.
    private func roles(of segment: TCPSegment) -> (client: Endpoint, server: Endpoint) {
        let source = segment.source
        let destination = segment.destination
        if segment.flags.contains(.syn) {
            return segment.flags.contains(.ack) ? (destination, source) : (source, destination)
        }
        switch Self.speaker(of: segment.payload) {
        case .server?: return (destination, source)
        case .client?: return (source, destination)
        case nil: break
        }
        if self.isKnownServer(destination) { return (source, destination) }
        if self.isKnownServer(source) { return (destination, source) }
        let (sourceRank, destinationRank) = (Self.serverRank(source.port), Self.serverRank(destination.port))
        if sourceRank != destinationRank { return sourceRank > destinationRank ? (destination, source) : (source, destination) }
        return source.port < destination.port ? (destination, source) : (source, destination)
    }

    /// Which side speaks first bytes like `payload`: `HTTP/` (RFC 9112 §4) or a TLS ServerHello
    /// (RFC 8446 §4: handshake type 2) is a server; a request line's method and a space, or a
    /// ClientHello (type 1), a client; `nil` when the bytes do not say.
    static func speaker(of payload: UnsafeRawBufferPointer) -> Direction? {
        guard payload.count >= 6 else { return nil }
        if payload[0] == 0x16, payload[1] == 0x03, payload[2] <= 0x04 {
            switch payload[5] {
            case 1: return .client
            case 2: return .server
            default: return nil
            }
        }
        if payload.starts(with: "HTTP/".utf8) { return .server }
        for method in self.requestMethods where payload.count > method.count && payload.starts(with: method) {
            return .client
        }
        return nil
    }

    /// Request methods (RFC 9110 §9), each with the space that ends it.
    private static let requestMethods: [[UInt8]] = ["GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "]
        .map { Array($0.utf8) }

    /// Ports servers listen on besides the well-known ones, for HTTP behind gateways.
    private static let commonServerPorts: Set<UInt16> = [3000, 4000, 5000, 8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000, 9080, 9090, 9443]

    /// How likely `port` is a server's: well-known 3, a common server port 2, another below the
    /// ephemeral range 1, ephemeral (Linux's range starts at 32768) 0.
    public static func serverRank(_ port: UInt16) -> Int {
        if port > 0, port < 1024 { return 3 }
        if self.commonServerPorts.contains(port) { return 2 }
        return port < 32768 ? 1 : 0
    }

    private func isKnownServer(_ endpoint: Endpoint) -> Bool {
        self.knownServers.contains(endpoint) || self.knownServerAddresses.contains(endpoint.address)
    }

    /// The table is full: end the quietest sixteenth of it (at least one connection), in
    /// order of id. Making room in batches keeps a flood linear: one scan of the table buys
    /// room for many new connections, where ending one at a time would scan it for each.
    private mutating func makeRoom<Sink: ConnectionSink>(now: Timestamp, sink: inout Sink) {
        var candidates: [(slot: Int, last: Timestamp, id: UInt32)] = []
        candidates.reserveCapacity(self.index.count)
        for slot in self.index.values where slot < Self.lingeringTag {
            candidates.append((slot, self.slots[slot].facts.last.time, self.slots[slot].id))
        }
        let count = max(1, candidates.count / 16)
        candidates.sort { $0.last != $1.last ? $0.last < $1.last : $0.id < $1.id }
        let quietest = candidates.prefix(count).sorted { $0.id < $1.id }
        for candidate in quietest {
            self.flowTableEvictions += 1
            self.end(slot: candidate.slot, as: .flowTableFull, at: now, sink: &sink)
        }
    }

    private mutating func end<Sink: ConnectionSink>(slot: Int, as reason: ConnectionEnd, at time: Timestamp, sink: inout Sink) {
        // Moved out, the vacant placeholder in its place: no copy of the slot, no retain of its buffers.
        var connection = Connection.vacant
        swap(&connection, &self.slots[slot])
        self.index[FlowKey(connection.client, connection.server)] = nil
        self.freeSlots.append(slot)
        self.judge(&connection, slot: slot, as: reason, at: time, sink: &sink)
    }

    /// Flushes `connection`'s streams and hands it to the sink, judged.
    private mutating func judge<Sink: ConnectionSink>(
        _ connection: inout Connection, slot: Int, as reason: ConnectionEnd, at time: Timestamp, sink: inout Sink
    ) {
        var budget = self.budget
        connection.clientStream.finish(time: time, budget: &budget) { sink.stream($0, direction: .client, slot: slot) }
        connection.serverStream.finish(time: time, budget: &budget) { sink.stream($0, direction: .server, slot: slot) }
        self.budget = budget
        connection.end = reason
        switch reason {
        case .idleEvicted:
            connection.findings.append(Finding(
                code: .tcpIdleEvicted, severity: .warning,
                evidence: [Evidence(
                    direction: .client, streamOffset: 0, frame: connection.facts.last.frame, frameOffset: nil, length: 0,
                    note: "no packet for \(self.limits.idleTimeout / 1_000_000_000) s after this frame; judged with what was seen")]))
        case .flowTableFull:
            connection.findings.append(Finding(
                code: .limitFlowTable, severity: .warning,
                evidence: [Evidence(
                    direction: .client, streamOffset: 0, frame: connection.facts.last.frame, frameOffset: nil, length: 0,
                    note: "flow table full (\(self.limits.maxConnections) connections); this one was ended early")]))
        case .closed, .reused, .captureEnded:
            break
        }
        sink.connectionEnded(&connection, slot: slot)
    }
}

extension Connection {
    /// Adds `T` (retransmission) and `G` (gap) to the history once a stream has shown them.
    @usableFromInline
    mutating func noteStreamHistory(_ direction: Direction) {
        let (retransmitted, gaps) = direction == .client
            ? (self.clientStream.retransmittedSegments, self.clientStream.gapBytes)
            : (self.serverStream.retransmittedSegments, self.serverStream.gapBytes)
        if retransmitted > 0 { self.facts.noteHistory(UInt8(ascii: "T"), by: direction) }
        if gaps > 0 { self.facts.noteHistory(UInt8(ascii: "G"), by: direction) }
    }

    /// Records the packet-level facts of one segment.
    @usableFromInline
    mutating func note(_ segment: TCPSegment, direction: Direction, mark: PacketMark) {
        let flags = segment.flags
        self.facts.last = mark
        self.facts[direction].packets += 1
        self.facts.ladder.record(LadderPacket(
            time: mark.time, frame: mark.frame, direction: direction, flags: UInt8(truncatingIfNeeded: flags.rawValue),
            sequence: segment.sequence, acknowledgment: segment.acknowledgment,
            payloadLength: UInt16(clamping: segment.payloadWireLength)))
        if flags.contains(.syn) {
            if let mss = segment.maximumSegmentSize { self.facts[direction].maximumSegmentSize = mss }
            if flags.contains(.ack) {
                if self.facts.synAck == nil { self.facts.synAck = mark }
                self.facts.noteHistory(UInt8(ascii: "H"), by: direction)
            } else {
                if self.facts.syn == nil {
                    self.facts.syn = mark
                    self.facts.opener = direction
                }
                self.facts.synCount += 1
                if self.facts.synCount > 1 { self.facts.noteHistory(UInt8(ascii: "T"), by: direction) }
                self.facts.noteHistory(UInt8(ascii: "S"), by: direction)
            }
        } else if flags.contains(.ack), self.facts.synAck != nil, self.facts.handshakeACK == nil,
                  direction == .client, segment.acknowledgment == self.serverISN.map({ $0 &+ 1 })
        {
            self.facts.handshakeACK = mark
        }
        if segment.payloadWireLength > 0 {
            self.facts[direction].payloadBytesOnWire &+= UInt64(segment.payloadWireLength)
            if self.facts[direction].firstPayload == nil { self.facts[direction].firstPayload = mark }
            self.facts[direction].lastPayload = mark
            self.facts.noteHistory(UInt8(ascii: "D"), by: direction)
            let peerWindow = direction == .client ? self.lastWindow.server : self.lastWindow.client
            if peerWindow == 0, segment.payloadWireLength == 1 {
                self.facts[direction].zeroWindowProbes += 1
            }
        } else if flags == .ack {
            self.facts.noteHistory(UInt8(ascii: "A"), by: direction)
        }
        if flags.contains(.fin) {
            if self.facts[direction].fin == nil {
                self.facts[direction].fin = mark
                if flags.contains(.ack) { self.facts[direction].finAcknowledged = self.peerOffset(acknowledgedBy: segment, from: direction) }
                // RFC 9293 §3.6 simultaneous close: this FIN does not acknowledge the peer's FIN
                // already sent, so each side closed before learning of the other's close.
                let peerFIN = direction == .client ? self.serverStream.finOffset : self.clientStream.finOffset
                let peerAcked = self.peerOffset(acknowledgedBy: segment, from: direction)
                if self.facts[direction.reversed].fin != nil, let peerFIN,
                   !flags.contains(.ack) || peerAcked <= Int64(peerFIN)
                {
                    self.facts.simultaneousClose = true
                }
            }
            self.facts.noteHistory(UInt8(ascii: "F"), by: direction)
        }
        if flags.contains(.rst) {
            if self.facts[direction].rst == nil {
                self.facts[direction].rst = mark
                if flags.contains(.ack) { self.facts[direction].rstAcknowledged = self.peerOffset(acknowledgedBy: segment, from: direction) }
            }
            self.facts.noteHistory(UInt8(ascii: "R"), by: direction)
        } else {
            if segment.window == 0 && !flags.contains(.syn) {
                self.facts[direction].zeroWindowAdvertisements += 1
                self.facts.noteHistory(UInt8(ascii: "W"), by: direction)
            }
            switch direction {
            case .client: self.lastWindow.client = segment.window
            case .server: self.lastWindow.server = segment.window
            }
        }
    }

    /// The offset in the peer's stream that `segment`'s acknowledgment number stands for.
    private func peerOffset(acknowledgedBy segment: TCPSegment, from direction: Direction) -> Int64 {
        direction == .client
            ? self.serverStream.offset(ofSequence: segment.acknowledgment)
            : self.clientStream.offset(ofSequence: segment.acknowledgment)
    }
}
