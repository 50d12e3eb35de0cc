import CaptureModel
import PacketDecoding

/// A `DecodedFrame` that owns copies of its bytes and strings, so tests can keep it and
/// compare it with `==` after the frame is gone.
public enum DecodedFrameSnapshot: Hashable, Sendable, CustomStringConvertible {
    /// A TCP segment.
    case tcp(TCPSegmentSnapshot)
    /// An ICMP error about a TCP segment.
    case icmpUnreachable(ICMPUnreachable)
    /// A DNS datagram: its endpoints and payload.
    case udp(source: Endpoint, destination: Endpoint, payload: [UInt8], payloadWireLength: Int)
    /// A fragment held for reassembly.
    case fragmentHeld
    /// Not TCP.
    case notTCP
    /// The headers were cut at `layer`.
    case truncated(layer: String)
    /// A header at `layer` cannot be right, for `reason`.
    case malformed(layer: String, reason: String)

    /// A snapshot of `decoded`; call it while the frame's bytes are still lent.
    public init(_ decoded: DecodedFrame) {
        switch decoded {
        case .tcp(let segment): self = .tcp(TCPSegmentSnapshot(segment))
        case .icmpUnreachable(let unreachable): self = .icmpUnreachable(unreachable)
        case .udp(let datagram):
            self = .udp(source: datagram.source, destination: datagram.destination, payload: Array(datagram.payload), payloadWireLength: datagram.payloadWireLength)
        case .fragmentHeld: self = .fragmentHeld
        case .notTCP: self = .notTCP
        case .truncated(let layer): self = .truncated(layer: layer.description)
        case .malformed(let layer, let reason): self = .malformed(layer: layer.description, reason: reason.description)
        }
    }

    /// The segment, when this is `.tcp`.
    public var segment: TCPSegmentSnapshot? {
        if case .tcp(let segment) = self { return segment }
        return nil
    }

    /// The ICMP error, when this is `.icmpUnreachable`.
    public var unreachable: ICMPUnreachable? {
        if case .icmpUnreachable(let unreachable) = self { return unreachable }
        return nil
    }

    /// A one-line summary for test failure messages.
    public var description: String {
        switch self {
        case .tcp(let segment): return "tcp(\(segment))"
        case .icmpUnreachable(let unreachable): return "icmpUnreachable(\(unreachable))"
        case .udp(let source, let destination, let payload, _): return "udp(\(source) > \(destination), \(payload.count) bytes)"
        case .fragmentHeld: return "fragmentHeld"
        case .notTCP: return "notTCP"
        case .truncated(let layer): return "truncated(\(layer))"
        case .malformed(let layer, let reason): return "malformed(\(layer): \(reason))"
        }
    }
}
