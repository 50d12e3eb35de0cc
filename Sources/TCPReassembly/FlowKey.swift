import CaptureModel

/// The two endpoints of a connection in a fixed order, so both directions find the same entry.
public struct FlowKey: Hashable, Sendable {
    /// The endpoint that sorts first.
    public let lower: Endpoint
    /// The endpoint that sorts second.
    public let upper: Endpoint

    /// The key of the connection between `a` and `b`, in either direction.
    @inlinable
    public init(_ a: Endpoint, _ b: Endpoint) {
        if FlowKey.sortsBefore(a, b) {
            self.lower = a
            self.upper = b
        } else {
            self.lower = b
            self.upper = a
        }
    }

    // Hashed once per packet: two words for an IPv4 pair (addresses, then ports), where the
    // synthesized hash fed each endpoint's enum case, payload and port separately.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        switch (self.lower.address, self.upper.address) {
        case (.v4(let a), .v4(let b)):
            hasher.combine(UInt64(a) << 32 | UInt64(b))
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            hasher.combine(ah)
            hasher.combine(al)
            hasher.combine(bh)
            hasher.combine(bl)
        case (.v4(let a), .v6(let bh, let bl)):
            hasher.combine(UInt64(a))
            hasher.combine(bh)
            hasher.combine(bl)
        case (.v6(let ah, let al), .v4(let b)):
            hasher.combine(ah)
            hasher.combine(al)
            hasher.combine(UInt64(b))
        }
        hasher.combine(UInt32(self.lower.port) << 16 | UInt32(self.upper.port))
    }

    @inlinable
    static func sortsBefore(_ a: Endpoint, _ b: Endpoint) -> Bool {
        switch (a.address, b.address) {
        case (.v4(let x), .v4(let y)):
            return x != y ? x < y : a.port < b.port
        case (.v4, .v6):
            return true
        case (.v6, .v4):
            return false
        case (.v6(let xh, let xl), .v6(let yh, let yl)):
            if xh != yh { return xh < yh }
            if xl != yl { return xl < yl }
            return a.port < b.port
        }
    }
}
