import CaptureModel
import CPcap
import PacketDecoding

/// Captures live on a network interface through libpcap: a kernel buffer sized for bursts,
/// packets delivered within `batchMilliseconds` (or at once in immediate mode), non-blocking
/// reads driven by the caller's poll(2) on `selectableDescriptor`.
///
/// Batched delivery is the default because on Linux it is what lets libpcap use TPACKET_V3,
/// whose blocks hold packets at their own size; immediate mode falls back to TPACKET_V2, whose
/// ring has one slot of the snap length per packet (a 64 KiB snap length makes a 1,500-byte
/// packet take 128 KiB of the buffer). Replaying 300 MB at 1 Gbit/s onto a veth pair, batched
/// delivery took half the CPU and dropped nothing with a quarter of the buffer.
///
/// The only file that calls libpcap's live-capture API. Frames are handed out in place (the
/// bytes belong to libpcap until the callback returns), numbered from 1 across calls, as a
/// file's records are, so a frame number in a live report means what it does in a file.
public final class LiveCapture {
    /// The interface captured on.
    public let interface: String
    /// The interface's link type.
    public let linkType: LinkType
    /// The snap length in effect (libpcap may lower the one asked for).
    public let snapLength: Int
    /// Frames handed out so far.
    public private(set) var framesRead: FrameNumber = 0

    private let handle: OpaquePointer
    private let nanosecondTimestamps: Bool

    /// Opens `interface` for capture and installs `filter` (a BPF expression; `nil` captures
    /// everything). A missing interface, a missing permission or an unsupported link type
    /// is `.cannotOpen`/`.unsupportedLinkType`; a filter libpcap rejects is `.cannotOpen`
    /// with a reason starting `bad filter` (use `init(interface:snapLength:bufferSize:promiscuous:)`
    /// and `setFilter(_:)` to tell the two apart).
    public convenience init(
        interface: String, snapLength: Int, bufferSize: Int, promiscuous: Bool, batchMilliseconds: Int? = 100, filter: String?
    ) throws(CaptureError) {
        try self.init(
            interface: interface, snapLength: snapLength, bufferSize: bufferSize, promiscuous: promiscuous, batchMilliseconds: batchMilliseconds)
        if let filter {
            try self.setFilter(filter)
        }
    }

    /// Opens and activates `interface` with no filter. Packets reach `dispatch` at most
    /// `batchMilliseconds` after they arrive; `nil` is immediate mode (each packet at once).
    public init(interface: String, snapLength: Int, bufferSize: Int, promiscuous: Bool, batchMilliseconds: Int? = 100) throws(CaptureError) {
        self.interface = interface
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let handle = pcap_create(interface, &errorBuffer) else {
            throw CaptureError(code: .cannotOpen, path: interface, reason: LiveCapture.text(errorBuffer))
        }
        // Settings only fail on an already-activated handle, which this one is not.
        _ = pcap_set_snaplen(handle, Int32(clamping: snapLength))
        _ = pcap_set_promisc(handle, promiscuous ? 1 : 0)
        if let batchMilliseconds {
            // The kernel hands over a block when it fills or when this much time has passed,
            // so a quiet interface holds a packet back by at most this long.
            _ = pcap_set_timeout(handle, Int32(clamping: max(1, batchMilliseconds)))
        } else {
            _ = pcap_set_immediate_mode(handle, 1)
        }
        _ = pcap_set_buffer_size(handle, Int32(clamping: bufferSize))
        // Nanoseconds where the kernel gives them; microseconds otherwise, scaled below.
        _ = pcap_set_tstamp_precision(handle, Int32(PCAP_TSTAMP_PRECISION_NANO))

        let status = pcap_activate(handle)
        if status < 0 {
            let detail = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            throw CaptureError(code: .cannotOpen, path: interface, reason: LiveCapture.explainActivation(status, detail: detail))
        }
        self.handle = handle
        self.nanosecondTimestamps = pcap_get_tstamp_precision(handle) == Int32(PCAP_TSTAMP_PRECISION_NANO)
        self.linkType = LinkType(rawValue: pcap_datalink(handle))
        self.snapLength = Int(pcap_snapshot(handle))
        // Every stored property is set from here on, so deinit closes the handle on a throw.
        guard self.linkType.isSupported else {
            let name = pcap_datalink_val_to_name(self.linkType.rawValue).map { String(cString: $0) } ?? "DLT \(self.linkType.rawValue)"
            throw CaptureError(
                code: .unsupportedLinkType, path: interface,
                reason: "unsupported link type \(name) (\(self.linkType.rawValue)); edgescope reads EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPV4 and IPV6")
        }
        if pcap_setnonblock(handle, 1, &errorBuffer) != 0 {
            throw CaptureError(code: .cannotOpen, path: interface, reason: "cannot make the capture non-blocking: \(LiveCapture.text(errorBuffer))")
        }
    }

    deinit {
        pcap_close(self.handle)
    }

    /// Installs a BPF filter; one libpcap rejects is `.cannotOpen`, the reason naming the
    /// filter and libpcap's complaint.
    public func setFilter(_ filter: String) throws(CaptureError) {
        var program = bpf_program()
        // Netmask unknown: only matters for `ip broadcast`, which no upstream filter uses.
        guard pcap_compile(self.handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError(
                code: .cannotOpen, path: self.interface,
                reason: "bad filter '\(filter)': \(String(cString: pcap_geterr(self.handle)))")
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(self.handle, &program) == 0 else {
            throw CaptureError(
                code: .cannotOpen, path: self.interface,
                reason: "cannot install filter '\(filter)': \(String(cString: pcap_geterr(self.handle)))")
        }
    }

    /// A descriptor that poll(2) reports readable when frames wait; `nil` where libpcap has none.
    public var selectableDescriptor: Int32? {
        let fd = pcap_get_selectable_fd(self.handle)
        return fd >= 0 ? fd : nil
    }

    /// Hands every frame waiting now to `body` and returns how many there were (0 when none
    /// wait: the handle never blocks). Throws `.readFailed` when the interface fails
    /// (it went down, it was removed).
    public func dispatch(_ body: (RawFrame) -> Void) throws(CaptureError) -> Int {
        let count = withoutActuallyEscaping(body) { escapable in
            var context = DispatchContext(body: escapable, next: self.framesRead, nanoseconds: self.nanosecondTimestamps)
            let count = withUnsafeMutablePointer(to: &context) { pointer in
                pointer.withMemoryRebound(to: UInt8.self, capacity: 1) { user in
                    pcap_dispatch(self.handle, -1, { user, header, data in
                        guard let user, let header, let data else { return }
                        user.withMemoryRebound(to: DispatchContext.self, capacity: 1) { context in
                            context.pointee.deliver(header.pointee, data)
                        }
                    }, user)
                }
            }
            self.framesRead = context.next
            return count
        }
        if count >= 0 || count == PCAP_ERROR_BREAK {
            return max(Int(count), 0)
        }
        throw CaptureError(
            code: .readFailed, path: self.interface,
            reason: "capture failed after frame \(self.framesRead): \(String(cString: pcap_geterr(self.handle)))")
    }

    /// Packets the kernel received, dropped for lack of buffer space, and dropped by the
    /// interface or its driver, as pcap_stats counts them since activation; `nil` when
    /// libpcap cannot say.
    public func statistics() -> (received: UInt32, droppedByKernel: UInt32, droppedByInterface: UInt32)? {
        var stats = pcap_stat()
        guard pcap_stats(self.handle, &stats) == 0 else { return nil }
        return (stats.ps_recv, stats.ps_drop, stats.ps_ifdrop)
    }

    /// What the C callback needs, passed through pcap_dispatch's user pointer.
    private struct DispatchContext {
        var body: (RawFrame) -> Void
        var next: FrameNumber
        var nanoseconds: Bool

        mutating func deliver(_ record: pcap_pkthdr, _ data: UnsafePointer<UInt8>) {
            self.next &+= 1
            // With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds.
            let fraction = Int64(record.ts.tv_usec) * (self.nanoseconds ? 1 : 1000)
            self.body(RawFrame(
                number: self.next, timestamp: Timestamp(seconds: Int64(record.ts.tv_sec), nanoseconds: fraction),
                wireLength: Int(record.len), bytes: UnsafeRawBufferPointer(start: data, count: Int(record.caplen))))
        }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// pcap_activate's failures in words for someone on call.
    static func explainActivation(_ status: Int32, detail: String) -> String {
        switch status {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return "no such interface (see `ip link` for the interfaces of this host)"
        case PCAP_ERROR_PERM_DENIED:
            return "permission denied: capturing needs root or the CAP_NET_RAW and CAP_NET_ADMIN capabilities"
        case PCAP_ERROR_PROMISC_PERM_DENIED:
            return "permission denied for promiscuous mode: run without --promiscuous or with CAP_NET_ADMIN"
        case PCAP_ERROR_IFACE_NOT_UP:
            return "the interface is down"
        default:
            return detail.isEmpty ? "libpcap error \(status)" : detail
        }
    }
}
