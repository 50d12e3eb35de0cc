import CaptureModel

/// A packet worth remembering: which frame, and when.
public struct PacketMark: Hashable, Sendable {
    /// The frame number.
    public var frame: FrameNumber
    /// Its capture time.
    public var time: Timestamp

    /// A mark from its parts.
    public init(frame: FrameNumber, time: Timestamp) {
        self.frame = frame
        self.time = time
    }
}

/// What one side of a connection did, as counted from its packets.
public struct DirectionFacts: Hashable, Sendable {
    /// Packets sent.
    public var packets = 0
    /// The MSS its SYN announced (RFC 9293 §3.7.1), if it sent one with the option.
    public var maximumSegmentSize: UInt16?
    /// Payload bytes sent, counting every copy (retransmissions included), from the IP lengths.
    public var payloadBytesOnWire: UInt64 = 0
    /// The first packet carrying payload.
    public var firstPayload: PacketMark?
    /// The last packet carrying payload.
    public var lastPayload: PacketMark?
    /// The first FIN.
    public var fin: PacketMark?
    /// The first RST.
    public var rst: PacketMark?
    /// How far into the peer's stream the first FIN acknowledged (the peer's bytes this side had
    /// received when it closed); `nil` when that FIN carried no ACK.
    public var finAcknowledged: Int64?
    /// How far into the peer's stream the first RST acknowledged; `nil` when it carried no ACK
    /// (a reset sent for a segment that reached a closed socket carries none).
    public var rstAcknowledged: Int64?
    /// Packets advertising a zero receive window.
    public var zeroWindowAdvertisements = 0
    /// One-byte probes sent into the peer's zero window (RFC 9293 §3.8.6.1).
    public var zeroWindowProbes = 0

    /// Nothing seen yet.
    public init() {}
}

/// Everything the TCP layer knows about one connection, without looking at what it carries.
public struct ConnectionFacts: Hashable, Sendable {
    /// Who sent the first SYN, or `nil` when the capture picked the connection up mid-stream.
    public var opener: Direction?
    /// The first packet of the connection in the capture.
    public var first: PacketMark
    /// The last packet.
    public var last: PacketMark
    /// The client's first SYN.
    public var syn: PacketMark?
    /// How many SYNs the client sent (more than one: retransmitted).
    public var synCount = 0
    /// The server's first SYN-ACK.
    public var synAck: PacketMark?
    /// The client's ACK that completed the three-way handshake.
    public var handshakeACK: PacketMark?
    /// Per side.
    public var client = DirectionFacts()
    /// Per side.
    public var server = DirectionFacts()
    /// RFC 9293 §3.5 simultaneous close: both sides sent FIN before seeing the other's.
    public var simultaneousClose = false
    /// The first and last packets, for a ladder diagram (bounded).
    public var ladder = PacketLadder()

    /// Zeek-style history letters in order of first occurrence; upper case is the client.
    public var history: String {
        String(decoding: self.historyBytes, as: UTF8.self)
    }
    @usableFromInline var historyBytes: [UInt8] = []
    @usableFromInline var historySeen: UInt64 = 0

    /// Facts of a connection whose first packet is `first`.
    public init(first: PacketMark) {
        self.first = first
        self.last = first
    }

    /// One side's facts.
    public subscript(direction: Direction) -> DirectionFacts {
        get {
            switch direction {
            case .client: return self.client
            case .server: return self.server
            }
        }
        set {
            switch direction {
            case .client: self.client = newValue
            case .server: self.server = newValue
            }
        }
    }

    /// Time from the SYN to the SYN-ACK as seen where the capture was taken, in nanoseconds.
    public var handshakeRTT: Int64? {
        guard let syn, let synAck else { return nil }
        return synAck.time.nanoseconds(since: syn.time)
    }

    /// The side that sent the first FIN, if any.
    public var firstToClose: Direction? {
        Self.earlier(self.client.fin, self.server.fin)
    }

    /// The side that sent the first RST, if any.
    public var firstToReset: Direction? {
        Self.earlier(self.client.rst, self.server.rst)
    }

    private static func earlier(_ client: PacketMark?, _ server: PacketMark?) -> Direction? {
        switch (client, server) {
        case (nil, nil): return nil
        case (.some, nil): return .client
        case (nil, .some): return .server
        case (.some(let c), .some(let s)): return c.frame <= s.frame ? .client : .server
        }
    }

    /// Adds a history letter (`S` SYN, `H` SYN-ACK, `A` pure ACK, `D` data, `F` FIN, `R` RST,
    /// `T` retransmission, `W` zero window, `G` content gap), once per side, as Zeek does.
    @inlinable
    public mutating func noteHistory(_ letter: UInt8, by direction: Direction) {
        let character = direction == .client ? letter : letter | 0x20
        let bit = UInt64(1) << UInt64(character & 0x3f)
        guard self.historySeen & bit == 0 else { return }
        self.historySeen |= bit
        self.historyBytes.append(character)
    }
}
