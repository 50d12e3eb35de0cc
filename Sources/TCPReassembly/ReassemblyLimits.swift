/// The caps that keep reassembly's memory bounded. Each one, when hit, becomes a finding.
public struct ReassemblyLimits: Sendable {
    /// Out-of-order bytes buffered per direction before the missing range is declared a gap.
    public var maxBufferedBytesPerDirection: Int
    /// Out-of-order bytes buffered across all connections.
    public var maxBufferedBytesTotal: Int
    /// Recently delivered bytes kept per direction so a retransmission can be compared with the
    /// first copy (an overlap whose bytes differ is a finding).
    public var retainedBytesPerDirection: Int
    /// Retained bytes across all connections; past it, new retransmissions are not compared.
    public var retainedBytesTotal: Int
    /// Connections tracked at once.
    public var maxConnections: Int
    /// Capture-time nanoseconds without a packet after which a connection is evicted with `tcp.idle_evicted`.
    public var idleTimeout: Int64
    /// Capture-time nanoseconds a closed (FIN both ways, or RST) connection lingers for late
    /// retransmissions and ACKs before it is judged.
    public var closedLinger: Int64

    /// The defaults: generous for a gateway host, bounded for a flood.
    public init(
        maxBufferedBytesPerDirection: Int = 4 << 20,
        maxBufferedBytesTotal: Int = 256 << 20,
        retainedBytesPerDirection: Int = 16 << 10,
        retainedBytesTotal: Int = 64 << 20,
        maxConnections: Int = 1_000_000,
        idleTimeout: Int64 = 300 * 1_000_000_000,
        closedLinger: Int64 = 5 * 1_000_000_000
    ) {
        self.maxBufferedBytesPerDirection = maxBufferedBytesPerDirection
        self.maxBufferedBytesTotal = maxBufferedBytesTotal
        self.retainedBytesPerDirection = retainedBytesPerDirection
        self.retainedBytesTotal = retainedBytesTotal
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.closedLinger = closedLinger
    }
}

/// Memory shared by every stream of a flow table, so per-direction caps add up to a global one.
public struct ReassemblyBudget: Sendable {
    /// Out-of-order bytes buffered now, across all streams.
    public internal(set) var bufferedBytes: Int = 0
    /// Retained (already delivered) bytes held now, across all streams.
    public internal(set) var retainedBytes: Int = 0
    /// The caps.
    public let limits: ReassemblyLimits
    /// Where streams that stop retaining leave their buffers for the next ones: the flow
    /// table's, which keeps it alive (unretained here, so a copy of the budget costs no
    /// reference counting); `nil` allocates every time.
    var pool: Unmanaged<RetentionPool>? = nil

    /// A budget with nothing spent.
    public init(limits: ReassemblyLimits) {
        self.limits = limits
    }
}
