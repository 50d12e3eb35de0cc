import CaptureModel
import PacketDecoding

/// How a connection left the flow table.
public enum ConnectionEnd: Hashable, Sendable {
    /// Closed (FINs both ways, or an RST) and quiet for the linger time.
    case closed
    /// Idle for the idle timeout: judged with what was seen (`tcp.idle_evicted`).
    case idleEvicted
    /// Pushed out because the flow table was full (`limit.flow_table`).
    case flowTableFull
    /// A new connection (a fresh SYN) reused the same addresses and ports.
    case reused
    /// The capture ended while it was open.
    case captureEnded
}

/// One TCP connection: its two streams and what is known about it.
public struct Connection {
    /// 1-based, in order of the connection's first packet: `c<id>` in reports.
    public let id: UInt32
    /// The side that opened it (the gateway).
    public let client: Endpoint
    /// The side that was connected to (the upstream).
    public let server: Endpoint
    /// Packet-level facts.
    public var facts: ConnectionFacts
    /// Client-to-server bytes.
    public var clientStream: StreamReassembler
    /// Server-to-client bytes.
    public var serverStream: StreamReassembler
    /// Findings about the connection as a whole (eviction, limits).
    public var findings: [Finding] = []
    /// The first ICMP destination-unreachable or time exceeded quoting this connection's
    /// segment, if one was seen.
    public var unreachable: PacketMark?
    /// Its ICMP code, and whether it was ICMPv6 (the codes differ: RFC 792, RFC 4443 §3.1).
    public var unreachableCode: UInt8 = 0
    public var unreachableIsIPv6 = false
    /// Whether it was a destination unreachable or a time exceeded.
    public var unreachableKind: ICMPErrorKind = .unreachable
    /// ICMP fragmentation needed / packet too big messages quoting this connection's segments.
    public var pathMTU: PathMTUMessages?
    /// Why it left the table, once it has.
    public var end: ConnectionEnd?

    @usableFromInline var clientISN: UInt32?
    @usableFromInline var serverISN: UInt32?
    @usableFromInline var lastWindow: (client: UInt16, server: UInt16) = (1, 1)

    /// A connection seen first at `first`.
    public init(id: UInt32, client: Endpoint, server: Endpoint, first: PacketMark) {
        self.id = id
        self.client = client
        self.server = server
        self.facts = ConnectionFacts(first: first)
        self.clientStream = StreamReassembler(direction: .client)
        self.serverStream = StreamReassembler(direction: .server)
    }

    /// What a free flow-table slot holds.
    static var vacant: Connection {
        Connection(
            id: 0, client: Endpoint(address: .v4(0), port: 0), server: Endpoint(address: .v4(0), port: 0),
            first: PacketMark(frame: 0, time: .zero))
    }

    /// The report name, `c17`.
    public var name: String { "c\(self.id)" }

    /// Whether no more data can flow: an RST was sent, or both sides sent FIN.
    public var isClosed: Bool {
        self.facts.client.rst != nil || self.facts.server.rst != nil
            || (self.facts.client.fin != nil && self.facts.server.fin != nil)
    }

    /// Every finding of the connection and its two streams, in a stable order.
    public var allFindings: [Finding] {
        self.findings + self.clientStream.findings + self.serverStream.findings
    }
}

/// The ICMP fragmentation needed (RFC 1191) or packet too big (RFC 4443 §3.2) messages that
/// quoted one connection's segments: a router on the path could not forward them whole.
public struct PathMTUMessages: Hashable, Sendable {
    /// The first one.
    public var first: PacketMark
    /// How many came.
    public var count: Int
    /// The smallest next-hop MTU they named (0: a router that did not say).
    public var nextHopMTU: UInt32
    /// Whose segments they quoted.
    public var direction: Direction
    /// ICMPv6 rather than ICMPv4.
    public var isIPv6: Bool
}

/// Receives what the flow table finds, frame by frame. Generic, so calls are direct.
public protocol ConnectionSink {
    /// A connection was created in `slot` (slots are reused after `connectionEnded`).
    mutating func connectionStarted(_ connection: Connection, slot: Int)
    /// An event of one direction's stream, in that stream's order.
    mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int)
    /// One side sent an RST (the first from that side).
    mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int)
    /// The connection left the table; its streams have been flushed. The slot is free afterwards.
    /// Lent `inout` so the sink can take what it keeps (its facts) without copying it: the table
    /// lets the connection go right after.
    mutating func connectionEnded(_ connection: inout Connection, slot: Int)
}
