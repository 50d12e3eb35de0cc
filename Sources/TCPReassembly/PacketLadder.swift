import CaptureModel

/// One packet as a ladder diagram draws it: who sent it, when, and its TCP header.
public struct LadderPacket: Hashable, Sendable {
    /// Its capture time.
    public var time: Timestamp
    /// The frame number (1-based).
    public var frame: FrameNumber
    /// The raw sequence number.
    public var sequence: UInt32
    /// The raw acknowledgment number (meaningful when `flags` has ACK, 0x10).
    public var acknowledgment: UInt32
    /// Payload bytes sent, from the IP lengths (saturated at 65535).
    public var payloadLength: UInt16
    /// The low eight TCP flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    public var flags: UInt8
    /// The sender.
    public var direction: Direction

    /// A packet from its parts.
    public init(
        time: Timestamp, frame: FrameNumber, direction: Direction, flags: UInt8, sequence: UInt32, acknowledgment: UInt32,
        payloadLength: UInt16
    ) {
        self.time = time
        self.frame = frame
        self.direction = direction
        self.flags = flags
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.payloadLength = payloadLength
    }
}

/// The first `headCapacity` and the last `tailCapacity` packets of a connection, for the
/// report's ladder diagram. Storage is fixed: at most two allocations per connection, none per
/// packet, however long the connection runs.
public struct PacketLadder: Hashable, Sendable {
    /// Packets kept from the start.
    public static let headCapacity = 24
    /// Packets kept from the end.
    public static let tailCapacity = 8

    /// The first packets, in capture order.
    public private(set) var head: [LadderPacket] = []
    /// The last packets once `head` is full: a ring whose oldest entry is at `ringStart` when full.
    private var ring: [LadderPacket] = []
    private var ringStart = 0
    /// Packets recorded, kept or not.
    public private(set) var count = 0
    /// Where each side's relative sequence numbers count from: its ISN when its SYN was seen
    /// first, else the first sequence number it sent (as Wireshark does for a mid-stream pickup).
    public private(set) var clientBase: UInt32?
    /// The server's base.
    public private(set) var serverBase: UInt32?

    /// An empty ladder.
    public init() {}

    /// Records one packet.
    public mutating func record(_ packet: LadderPacket) {
        self.count &+= 1
        switch packet.direction {
        case .client: if self.clientBase == nil { self.clientBase = packet.sequence }
        case .server: if self.serverBase == nil { self.serverBase = packet.sequence }
        }
        if self.head.count < Self.headCapacity {
            // Room for a one-request connection's packets first (handshake, request, response,
            // close: about a dozen); a longer one grows it once to the full head.
            if self.head.isEmpty { self.head.reserveCapacity(Self.headCapacity / 2) }
            else if self.head.count == self.head.capacity { self.head.reserveCapacity(Self.headCapacity) }
            self.head.append(packet)
        } else if self.ring.count < Self.tailCapacity {
            if self.ring.isEmpty { self.ring.reserveCapacity(Self.tailCapacity) }
            self.ring.append(packet)
        } else {
            self.ring[self.ringStart] = packet
            self.ringStart = (self.ringStart + 1) % Self.tailCapacity
        }
    }

    /// The last packets after `head`, in capture order (empty while `head` holds them all).
    public var tail: [LadderPacket] {
        Array(self.ring[self.ringStart...] + self.ring[..<self.ringStart])
    }

    /// Packets between `head` and `tail` that were not kept.
    public var omitted: Int { self.count - self.head.count - self.ring.count }

    /// `packet`'s sequence number relative to its sender's base (0 for a SYN).
    public func relativeSequence(of packet: LadderPacket) -> UInt32 {
        packet.sequence &- (self.base(packet.direction) ?? packet.sequence)
    }

    /// `packet`'s acknowledgment number relative to the peer's base, or `nil` without ACK or
    /// before the peer sent anything.
    public func relativeAcknowledgment(of packet: LadderPacket) -> UInt32? {
        guard packet.flags & 0x10 != 0, let base = self.base(packet.direction.reversed) else { return nil }
        return packet.acknowledgment &- base
    }

    private func base(_ direction: Direction) -> UInt32? {
        switch direction {
        case .client: return self.clientBase
        case .server: return self.serverBase
        }
    }

    // Hashable over what the ladder shows, not how the ring happens to be rotated.
    public static func == (lhs: PacketLadder, rhs: PacketLadder) -> Bool {
        lhs.count == rhs.count && lhs.head == rhs.head && lhs.tail == rhs.tail
            && lhs.clientBase == rhs.clientBase && lhs.serverBase == rhs.serverBase
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.count)
        hasher.combine(self.head)
        hasher.combine(self.tail)
    }
}
