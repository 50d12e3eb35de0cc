import CaptureModel

/// Turns captured frames into TCP segments, ICMP errors about TCP, DNS datagrams (UDP port 53),
/// or the reason it could not.
///
/// Every read is checked against the captured length (`frame.bytes.count`, libpcap's `caplen`),
/// never against the wire length. The IP length fields bound the transport bytes, so Ethernet
/// padding never becomes payload. A TCP segment over IPv4 or IPv6 in one frame is decoded in place:
/// no allocation, no `String`, no existential.
///
/// The layer names in `.truncated(layer:)` and `.malformed(layer:reason:)` are stable:
/// `link`, `ip` (a raw-IP frame too short for its version nibble), `ipv4`, `ipv6`, `tcp`, `icmp`,
/// `icmpv6`, `udp`. A payload cut by the snap length is not truncation: the segment decodes with
/// `payload.count < payloadWireLength`. Only headers the frame announces but lacks are.
///
/// IPv4 fragments of TCP datagrams are reassembled in a bounded table (see `Limits`); IPv6
/// fragments other than atomic ones (RFC 6946) are not reassembled and come back as
/// `.fragmentHeld`, counted in `FragmentCounters.ipv6FragmentsNotReassembled`.
public struct PacketDecoder: Sendable {
    /// Bounds on the memory the IPv4 fragment table may hold.
    public struct Limits: Hashable, Sendable {
        /// How many IPv4 datagrams may be in reassembly at once; the oldest is evicted past it.
        public var maximumFragmentedDatagrams: Int
        /// How many payload bytes the datagrams in reassembly may hold together; the oldest
        /// datagrams are evicted past it.
        public var maximumFragmentBytes: Int
        /// How long, in capture time, a datagram may wait for its missing fragments
        /// (Linux's `ipfrag_time` is 30 s) before it is evicted.
        public var fragmentTimeoutNanoseconds: Int64

        /// Limits from their parts; the defaults are Linux's (`ipfrag_high_thresh` 4 MiB,
        /// `ipfrag_time` 30 s) plus a cap on datagrams that keeps the table's search short.
        public init(
            maximumFragmentedDatagrams: Int = 64,
            maximumFragmentBytes: Int = 4 << 20,
            fragmentTimeoutNanoseconds: Int64 = 30_000_000_000
        ) {
            self.maximumFragmentedDatagrams = maximumFragmentedDatagrams
            self.maximumFragmentBytes = maximumFragmentBytes
            self.fragmentTimeoutNanoseconds = fragmentTimeoutNanoseconds
        }

        /// 64 datagrams, 4 MiB, 30 seconds.
        public static let `default` = Limits()
    }

    /// What the decoder did with IP fragments, for the engine's `ip.fragmented` finding.
    ///
    /// A `.tcp` result whose `payloadFrameOffset` is `nil` is a reassembled datagram: it is the
    /// frame whose fragment completed it.
    public struct FragmentCounters: Hashable, Sendable {
        /// IPv4 fragments of TCP datagrams seen (first, middle and last, duplicates included).
        public var ipv4FragmentsSeen: UInt64 = 0
        /// IPv4 datagrams rebuilt from all their fragments and decoded.
        public var ipv4DatagramsReassembled: UInt64 = 0
        /// IPv4 datagrams dropped incomplete by a limit: table full, bytes held, or timeout.
        public var ipv4DatagramsEvicted: UInt64 = 0
        /// IPv4 datagrams dropped because a fragment contradicted the others or was cut by the
        /// snap length, so the datagram could never be rebuilt from the capture.
        public var ipv4DatagramsDiscarded: UInt64 = 0
        /// IPv4 fragments that overlapped bytes already held (the first copy is kept).
        public var ipv4OverlappingFragments: UInt64 = 0
        /// IPv6 fragments (other than atomic ones) of TCP datagrams, which are not reassembled.
        public var ipv6FragmentsNotReassembled: UInt64 = 0

        /// All counters zero.
        public init() {}
    }

    /// The link type frames are decoded as (`decodeLinks(as:)` changes it).
    public private(set) var linkType: LinkType
    /// The bounds on fragment reassembly.
    public let limits: Limits
    /// What happened to IP fragments so far.
    public var fragmentCounters: FragmentCounters { self.fragments.counters }

    var link: LinkDecoding
    var fragments: IPv4FragmentTable

    /// A decoder for frames of one link type. An unsupported type decodes every frame as `.notTCP`:
    /// check `linkType.isSupported` first.
    public init(linkType: LinkType, limits: Limits = .default) {
        self.linkType = linkType
        self.limits = limits
        self.link = LinkDecoding(linkType)
        self.fragments = IPv4FragmentTable(limits: limits)
    }

    /// Decodes the frames that follow as `linkType`, keeping the IPv4 datagrams in reassembly:
    /// several capture files read as one may each have their own link type.
    public mutating func decodeLinks(as linkType: LinkType) {
        self.linkType = linkType
        self.link = LinkDecoding(linkType)
    }

    /// Decodes one frame.
    ///
    /// The returned segment's `payload` borrows from `frame.bytes`, or, for a reassembled IPv4
    /// datagram, from the decoder's own buffer: either way it is valid only until the next call.
    public mutating func decode(_ frame: RawFrame) -> DecodedFrame {
        // The previous call's reassembled datagram is no longer borrowed by anyone.
        self.fragments.releaseCompleted()
        let bytes = frame.bytes
        // A file whose `len` is below `caplen` is broken; trust the bytes we hold.
        let wireEnd = max(frame.wireLength, bytes.count)
        switch self.link {
        case .ethernet:
            // Destination and source MAC (6 + 6), then the EtherType.
            var cursor = ByteCursor(bytes)
            guard cursor.skip(12), let etherType = cursor.readInteger(as: UInt16.self) else {
                return .truncated(layer: "link")
            }
            return self.decodeEtherType(etherType, after: cursor, frame: frame, wireEnd: wireEnd)
        case .linuxSLL:
            // packet type, ARPHRD type, address length, 8 address bytes, then the protocol.
            var cursor = ByteCursor(bytes)
            guard cursor.skip(14), let proto = cursor.readInteger(as: UInt16.self) else {
                return .truncated(layer: "link")
            }
            return self.decodeEtherType(proto, after: cursor, frame: frame, wireEnd: wireEnd)
        case .linuxSLL2:
            // The protocol comes first; reserved, ifindex, ARPHRD, packet type, address follow.
            var cursor = ByteCursor(bytes)
            guard let proto = cursor.peekInteger(as: UInt16.self), cursor.skip(20) else {
                return .truncated(layer: "link")
            }
            return self.decodeEtherType(proto, after: cursor, frame: frame, wireEnd: wireEnd)
        case .addressFamily:
            var cursor = ByteCursor(bytes)
            guard let raw = cursor.readInteger(as: UInt32.self) else { return .truncated(layer: "link") }
            // DLT_NULL stores the family in the capturing host's byte order and families are
            // small numbers, so a value with high bits set was written little-endian.
            let family = raw > 0xffff ? raw.byteSwapped : raw
            switch family {
            case 2:
                return self.decodeIPv4(frame, at: cursor.index, wireEnd: wireEnd)
            case 10, 24, 28, 30:
                // AF_INET6 on Linux, NetBSD/OpenBSD/BSD/OS, FreeBSD and Darwin.
                return self.decodeIPv6(frame, at: cursor.index, wireEnd: wireEnd)
            default:
                return .notTCP
            }
        case .rawIP:
            guard let first = ByteCursor(bytes).peekInteger(as: UInt8.self) else { return .truncated(layer: "ip") }
            switch first >> 4 {
            case 4: return self.decodeIPv4(frame, at: 0, wireEnd: wireEnd)
            case 6: return self.decodeIPv6(frame, at: 0, wireEnd: wireEnd)
            default: return .malformed(layer: "ip", reason: "version is neither 4 nor 6")
            }
        case .ipv4:
            return self.decodeIPv4(frame, at: 0, wireEnd: wireEnd)
        case .ipv6:
            return self.decodeIPv6(frame, at: 0, wireEnd: wireEnd)
        case .unsupported:
            return .notTCP
        }
    }

    /// Follows an EtherType past any stack of VLAN tags to IPv4 or IPv6.
    mutating func decodeEtherType(
        _ etherType: UInt16, after cursor: ByteCursor, frame: RawFrame, wireEnd: Int
    ) -> DecodedFrame {
        var cursor = cursor
        var type = etherType
        // 802.1Q, 802.1ad (QinQ) and the pre-standard 0x9100: each tag is a TCI and the next type.
        while type == 0x8100 || type == 0x88a8 || type == 0x9100 {
            guard cursor.skip(2), let inner = cursor.readInteger(as: UInt16.self) else {
                return .truncated(layer: "link")
            }
            type = inner
        }
        switch type {
        case 0x0800: return self.decodeIPv4(frame, at: cursor.index, wireEnd: wireEnd)
        case 0x86dd: return self.decodeIPv6(frame, at: cursor.index, wireEnd: wireEnd)
        default: return .notTCP
        }
    }
}

/// How a link type's header is taken apart, chosen once per decoder.
enum LinkDecoding: Sendable {
    case ethernet
    case linuxSLL
    case linuxSLL2
    /// DLT_NULL and DLT_LOOP: a 4-byte address family.
    case addressFamily
    /// DLT_RAW: the IP version nibble decides.
    case rawIP
    case ipv4
    case ipv6
    case unsupported

    init(_ linkType: LinkType) {
        switch linkType.rawValue {
        case 0, 108: self = .addressFamily
        case 1: self = .ethernet
        case 12, 14, 101: self = .rawIP
        case 113: self = .linuxSLL
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 276: self = .linuxSLL2
        default: self = .unsupported
        }
    }
}
