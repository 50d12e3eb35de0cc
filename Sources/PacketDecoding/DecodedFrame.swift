import CaptureModel

/// A link-layer header type, numbered as libpcap's `pcap_datalink()` returns it (DLT_ values).
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The DLT_ value.
    public var rawValue: Int32

    /// A link type from its DLT_ value.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    public static let null = LinkType(rawValue: 0)
    /// Ethernet II / 802.3, with any stack of 802.1Q and 802.1ad tags.
    public static let ethernet = LinkType(rawValue: 1)
    /// Raw IP on Linux (DLT_RAW is 12 here; files say LINKTYPE_RAW 101 and libpcap maps it).
    public static let raw = LinkType(rawValue: 12)
    /// Raw IP as some other systems number DLT_RAW.
    public static let rawAlternate = LinkType(rawValue: 14)
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    public static let loop = LinkType(rawValue: 108)
    /// Linux cooked capture v1 (`tcpdump -i any` on older libpcap).
    public static let linuxSLL = LinkType(rawValue: 113)
    /// Raw IPv4.
    public static let ipv4 = LinkType(rawValue: 228)
    /// Raw IPv6.
    public static let ipv6 = LinkType(rawValue: 229)
    /// Linux cooked capture v2 (`tcpdump -i any` on libpcap 1.10 and later).
    public static let linuxSLL2 = LinkType(rawValue: 276)

    /// Whether the decoder understands this link type.
    public var isSupported: Bool {
        switch self.rawValue {
        case 0, 1, 12, 14, 101, 108, 113, 228, 229, 276: return true
        default: return false
        }
    }

    /// The libpcap name (`EN10MB`, `LINUX_SLL2`), or `DLT <n>` for one we do not know.
    public var description: String {
        switch self.rawValue {
        case 0: return "NULL"
        case 1: return "EN10MB"
        case 12, 14, 101: return "RAW"
        case 108: return "LOOP"
        case 113: return "LINUX_SLL"
        case 228: return "IPV4"
        case 229: return "IPV6"
        case 276: return "LINUX_SLL2"
        default: return "DLT \(self.rawValue)"
        }
    }
}

/// One record of a capture, borrowed from the reader: valid only during the call that receives it.
public struct RawFrame {
    /// 1-based number of the record in its file, as Wireshark numbers frames.
    public var number: FrameNumber
    /// When it was captured.
    public var timestamp: Timestamp
    /// The length of the packet on the wire (`len`); may exceed `bytes.count`.
    public var wireLength: Int
    /// The captured bytes (`caplen` of them), starting at the link-layer header.
    public var bytes: UnsafeRawBufferPointer

    /// A frame from its parts.
    @inlinable
    public init(number: FrameNumber, timestamp: Timestamp, wireLength: Int, bytes: UnsafeRawBufferPointer) {
        self.number = number
        self.timestamp = timestamp
        self.wireLength = wireLength
        self.bytes = bytes
    }
}

/// TCP header flags (RFC 9293 §3.1, plus ECE/CWR of RFC 3168).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
}

/// A decoded TCP segment, borrowing its payload from the frame (or from the fragment reassembler).
///
/// `payload` is valid only until the next call to the decoder: consumers that keep bytes copy them.
public struct TCPSegment {
    /// The sender.
    public var source: Endpoint
    /// The receiver.
    public var destination: Endpoint
    /// Sequence number of the first payload byte (or of the SYN/FIN).
    public var sequence: UInt32
    /// Acknowledgment number (meaningful when `flags` contains `.ack`).
    public var acknowledgment: UInt32
    /// The header flags.
    public var flags: TCPFlags
    /// The raw window field (unscaled).
    public var window: UInt16
    /// The window-scale shift from a SYN's option (RFC 7323 §2), if present.
    public var windowScale: UInt8?
    /// The MSS option of a SYN, if present.
    public var maximumSegmentSize: UInt16?
    /// The captured payload bytes (possibly fewer than were sent, see `payloadWireLength`).
    public var payload: UnsafeRawBufferPointer
    /// Offset of the first payload byte from the start of the frame, or `nil` when the payload
    /// was rebuilt from IP fragments and lies in no single frame.
    public var payloadFrameOffset: Int?
    /// How many payload bytes the sender sent, from the IP length fields. Larger than
    /// `payload.count` when the frame was cut by the snap length.
    public var payloadWireLength: Int

    /// A segment from its parts.
    public init(
        source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgment: UInt32,
        flags: TCPFlags, window: UInt16, windowScale: UInt8? = nil, maximumSegmentSize: UInt16? = nil,
        payload: UnsafeRawBufferPointer, payloadFrameOffset: Int?, payloadWireLength: Int
    ) {
        self.source = source
        self.destination = destination
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.window = window
        self.windowScale = windowScale
        self.maximumSegmentSize = maximumSegmentSize
        self.payload = payload
        self.payloadFrameOffset = payloadFrameOffset
        self.payloadWireLength = payloadWireLength
    }

    /// Whether the snap length cut some of the payload.
    @inlinable
    public var isPayloadTruncated: Bool { self.payload.count < self.payloadWireLength }
}

/// An ICMP or ICMPv6 error quoting a TCP segment: a destination unreachable (for a gateway, a
/// refused or unreachable connection attempt), a fragmentation needed / packet too big (the path
/// MTU is smaller than a segment the sender sent), or a time exceeded.
public struct ICMPUnreachable: Hashable, Sendable {
    /// ICMPv6 rather than ICMPv4.
    public var isIPv6: Bool
    /// The ICMP type: 3 (destination unreachable) or 11 (time exceeded) for IPv4; 1 (destination
    /// unreachable), 2 (packet too big) or 3 (time exceeded) for IPv6.
    public var type: UInt8
    /// The ICMP code (3 = port unreachable for IPv4; 4 for IPv6; 4 = fragmentation needed for IPv4).
    public var code: UInt8
    /// The quoted segment's sender (the one the error is about).
    public var quotedSource: Endpoint
    /// The quoted segment's destination (the unreachable one).
    public var quotedDestination: Endpoint
    /// The quoted segment's sequence number, when the quote is long enough.
    public var quotedSequence: UInt32?
    /// The next hop's MTU a fragmentation needed (RFC 1191 §4) or packet too big (RFC 4443 §3.2)
    /// names; 0 when a router sent the old form without it.
    public var nextHopMTU: UInt32

    /// An ICMP error from its parts (the memberwise initializer is internal to this module);
    /// `type` nil is a destination unreachable.
    public init(
        isIPv6: Bool, code: UInt8, quotedSource: Endpoint, quotedDestination: Endpoint, quotedSequence: UInt32?,
        type: UInt8? = nil, nextHopMTU: UInt32 = 0
    ) {
        self.isIPv6 = isIPv6
        self.type = type ?? (isIPv6 ? 1 : 3)
        self.code = code
        self.quotedSource = quotedSource
        self.quotedDestination = quotedDestination
        self.quotedSequence = quotedSequence
        self.nextHopMTU = nextHopMTU
    }

    /// What kind of error it is, for the TCP layer.
    public var kind: ICMPErrorKind {
        if self.isIPv6 {
            switch self.type {
            case 2: return .packetTooBig
            case 3: return .timeExceeded
            default: return .unreachable
            }
        }
        switch self.type {
        case 11: return .timeExceeded
        default: return self.code == 4 ? .packetTooBig : .unreachable
        }
    }
}

/// The ICMP errors about a TCP segment that the analysis tells apart.
public enum ICMPErrorKind: UInt8, Hashable, Sendable {
    /// Destination unreachable, other than fragmentation needed (RFC 792, RFC 4443 §3.1).
    case unreachable
    /// IPv4 fragmentation needed and DF set (type 3 code 4, RFC 1191) or ICMPv6 packet too big
    /// (type 2, RFC 4443 §3.2): a segment was larger than the path allows.
    case packetTooBig
    /// Time exceeded in transit (IPv4 type 11, ICMPv6 type 3): the TTL or hop limit ran out.
    case timeExceeded
}

/// A UDP datagram to or from port 53: DNS, the one UDP protocol the analysis reads (the
/// gateway resolving its upstream's name). Its payload borrows from the frame.
public struct UDPDatagram {
    /// The sender.
    public var source: Endpoint
    /// The receiver.
    public var destination: Endpoint
    /// The captured payload bytes (fewer than `payloadWireLength` when the snap length cut them).
    public var payload: UnsafeRawBufferPointer
    /// Offset of the first payload byte from the start of the frame.
    public var payloadFrameOffset: Int
    /// How many payload bytes the sender sent, from the UDP length field.
    public var payloadWireLength: Int

    /// A datagram from its parts.
    public init(source: Endpoint, destination: Endpoint, payload: UnsafeRawBufferPointer, payloadFrameOffset: Int, payloadWireLength: Int) {
        self.source = source
        self.destination = destination
        self.payload = payload
        self.payloadFrameOffset = payloadFrameOffset
        self.payloadWireLength = payloadWireLength
    }

    /// The DNS port.
    public static let dnsPort: UInt16 = 53
}

/// What the decoder made of one frame. No case allocates.
public enum DecodedFrame {
    /// A TCP segment.
    case tcp(TCPSegment)
    /// An ICMP error about a TCP segment (destination unreachable, packet too big, time exceeded).
    case icmpUnreachable(ICMPUnreachable)
    /// A UDP datagram to or from port 53 (DNS).
    case udp(UDPDatagram)
    /// An IPv4 fragment held until the rest of its datagram arrives (or evicted).
    case fragmentHeld
    /// Not TCP (ARP, UDP other than DNS, other ICMP, other EtherTypes): ignored by the analysis.
    case notTCP
    /// The frame ends (caplen) before the headers it announces: `capture.truncated`.
    case truncated(layer: StaticString)
    /// Header fields that cannot be right (IPv4 IHL < 5, TCP data offset < 5, lengths that contradict).
    case malformed(layer: StaticString, reason: StaticString)
}
