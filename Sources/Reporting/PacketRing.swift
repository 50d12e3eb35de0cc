import CaptureModel
import Engine
import PacketDecoding
import TCPReassembly

/// The recent packets of each connection of a live capture, kept so a connection's pcap slice
/// can be written when its verdict lands: a live capture cannot read the file a second time.
///
/// Bounded twice. Per connection, the first `perConnectionBytes / 2` bytes of packets are kept
/// (the handshake, the request and the response head: where evidence usually is) and the last
/// `perConnectionBytes / 2` (where the connection ended); packets in between are counted, not
/// kept. Across connections, past `totalBytes` the connections that were quiet longest lose
/// their packets; a slice written later for one of them says it is incomplete.
public struct PacketRing {
    /// One captured packet, copied out of libpcap's buffer.
    public struct Packet {
        public var number: FrameNumber
        public var timestamp: Timestamp
        public var wireLength: Int
        public var bytes: [UInt8]

        /// Calls `body` with the packet as a frame, as the slice writer takes it.
        public func withFrame<R>(_ body: (RawFrame) throws -> R) rethrows -> R {
            try self.bytes.withUnsafeBytes { raw in
                try body(RawFrame(number: self.number, timestamp: self.timestamp, wireLength: self.wireLength, bytes: raw))
            }
        }
    }

    /// What is kept of one connection.
    public struct Slice {
        /// Its packets, in capture order.
        public var packets: [Packet]
        /// Packets of the connection that were not kept (the middle of a long one).
        public var omitted: Int
        /// Whether every packet of the connection is here.
        public var complete: Bool
    }

    struct Entry {
        var head: [Packet] = []
        var headBytes = 0
        /// The tail ring: `tail[tailStart...]`, oldest first.
        var tail: [Packet] = []
        var tailStart = 0
        var tailBytes = 0
        var omitted = 0
        var lastTime: Timestamp = .zero
        var lastFrame: FrameNumber = 0
        var bytes: Int { self.headBytes + self.tailBytes }
        var packets: [Packet] { self.head + self.tail[self.tailStart...] }
    }

    /// The bytes of packets kept per connection.
    public let perConnectionBytes: Int
    /// The bytes of packets kept across all connections.
    public let totalBytes: Int
    /// Bytes of packets held now.
    public private(set) var bytesHeld = 0
    /// Connections whose packets were dropped to stay within `totalBytes`.
    public private(set) var connectionsEvicted = 0

    private var entries: [FlowKey: Entry] = [:]
    /// Per-packet bookkeeping, so a small packet still counts against the caps.
    private static let overhead = 64

    /// A ring keeping `perConnectionBytes` per connection and `totalBytes` in all.
    public init(perConnectionBytes: Int = 1 << 20, totalBytes: Int = 64 << 20) {
        self.perConnectionBytes = max(perConnectionBytes, 2 * 65_536)
        self.totalBytes = max(totalBytes, self.perConnectionBytes)
    }

    /// Connections with packets held.
    public var connections: Int { self.entries.count }

    /// Keeps `frame` if it belongs to a TCP connection (or is an ICMP error about one).
    public mutating func record(_ frame: RawFrame, decoded: DecodedFrame) {
        let key: FlowKey
        switch decoded {
        case .tcp(let segment): key = FlowKey(segment.source, segment.destination)
        case .icmpUnreachable(let icmp): key = FlowKey(icmp.quotedSource, icmp.quotedDestination)
        case .udp, .fragmentHeld, .notTCP, .truncated, .malformed: return
        }
        let packet = Packet(number: frame.number, timestamp: frame.timestamp, wireLength: frame.wireLength, bytes: Array(frame.bytes))
        let size = packet.bytes.count + Self.overhead
        let half = self.perConnectionBytes / 2
        var entry = self.entries.removeValue(forKey: key) ?? Entry()
        entry.lastTime = frame.timestamp
        entry.lastFrame = frame.number
        self.bytesHeld += size
        if entry.tail.isEmpty, entry.headBytes + size <= half {
            entry.head.append(packet)
            entry.headBytes += size
        } else {
            entry.tail.append(packet)
            entry.tailBytes += size
            // The oldest of the tail makes room; the newest packet always stays.
            while entry.tailBytes > half, entry.tail.count - entry.tailStart > 1 {
                let dropped = entry.tail[entry.tailStart].bytes.count + Self.overhead
                entry.tailStart += 1
                entry.tailBytes -= dropped
                entry.omitted += 1
                self.bytesHeld -= dropped
            }
            if entry.tailStart >= 64, entry.tailStart * 2 >= entry.tail.count {
                entry.tail.removeFirst(entry.tailStart)
                entry.tailStart = 0
            }
        }
        self.entries[key] = entry
        self.evictIfNeeded()
    }

    /// Removes and returns the packets of the connection `report` describes: those of its
    /// endpoints up to its last frame. Packets after it (a new connection reusing the same
    /// ports) stay.
    public mutating func take(_ report: ConnectionReport) -> Slice {
        let key = FlowKey(report.client, report.server)
        guard let entry = self.entries.removeValue(forKey: key) else {
            return Slice(packets: [], omitted: 0, complete: false)
        }
        self.bytesHeld -= entry.bytes
        let frames = report.frames
        let all = entry.packets
        let mine = all.filter { frames.contains($0.number) }
        let later = all.filter { $0.number > frames.upperBound }
        if !later.isEmpty {
            var rest = Entry()
            for packet in later {
                rest.head.append(packet)
                rest.headBytes += packet.bytes.count + Self.overhead
            }
            rest.lastTime = entry.lastTime
            rest.lastFrame = entry.lastFrame
            self.bytesHeld += rest.bytes
            self.entries[key] = rest
        }
        // Whole when it starts at the connection's first frame and nothing in between was let go.
        let complete = mine.first?.number == frames.lowerBound && entry.omitted == 0
        return Slice(packets: mine, omitted: entry.omitted, complete: complete)
    }

    /// Drops the packets of connections with no packet since `cutoff`: ones the flow table
    /// never tracked (a stray segment), so nothing will take them.
    public mutating func expire(before cutoff: Timestamp) {
        let stale = self.entries.filter { $0.value.lastTime < cutoff }
        for (key, entry) in stale {
            self.entries[key] = nil
            self.bytesHeld -= entry.bytes
        }
    }

    /// Past the total cap, lets go of the connections quiet longest until a tenth is free.
    private mutating func evictIfNeeded() {
        guard self.bytesHeld > self.totalBytes else { return }
        let goal = self.totalBytes - self.totalBytes / 10
        for (key, entry) in self.entries.sorted(by: { $0.value.lastFrame < $1.value.lastFrame }) {
            guard self.bytesHeld > goal else { break }
            self.entries[key] = nil
            self.bytesHeld -= entry.bytes
            self.connectionsEvicted += 1
        }
    }
}
