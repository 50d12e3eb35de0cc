import CaptureModel
import CPcap
import PacketDecoding
#if canImport(Glibc)
import Glibc
#endif

/// Writes frames into per-connection pcap files ("slices") in the capture's own link type, with
/// nanosecond timestamps, so a failing connection opens in Wireshark on its own.
///
/// Keeps at most `maximumOpenFiles` files open; a slice closed to make room is reopened for appending.
public final class SliceWriter {
    /// Files open at once, at most.
    public let maximumOpenFiles: Int

    private let dead: OpaquePointer
    private var open: [String: OpaquePointer] = [:]
    private var order: [String] = []
    private var created: Set<String> = []

    /// A writer for frames of `linkType` with snap length `snapLength`.
    public init(linkType: LinkType, snapLength: Int, maximumOpenFiles: Int = 128) throws(CaptureError) {
        guard let dead = pcap_open_dead_with_tstamp_precision(
            linkType.rawValue, Int32(clamping: max(snapLength, 1)), UInt32(PCAP_TSTAMP_PRECISION_NANO))
        else {
            throw CaptureError(code: .cannotWrite, path: "", reason: "libpcap could not make a writer for \(linkType)")
        }
        self.dead = dead
        self.maximumOpenFiles = max(1, maximumOpenFiles)
    }

    deinit {
        self.closeAll()
        pcap_close(self.dead)
    }

    /// Appends `frame` to the slice at `path` (created, or truncated, on first use).
    public func write(_ frame: RawFrame, to path: String) throws(CaptureError) {
        let dumper = try self.dumper(for: path)
        var header = pcap_pkthdr()
        let seconds = frame.timestamp.nanoseconds / 1_000_000_000
        var fraction = frame.timestamp.nanoseconds % 1_000_000_000
        var whole = seconds
        if fraction < 0 {
            fraction += 1_000_000_000
            whole -= 1
        }
        header.ts.tv_sec = Int(whole)
        header.ts.tv_usec = Int(fraction)  // nanoseconds, as the writer was opened with NANO precision
        header.caplen = UInt32(frame.bytes.count)
        header.len = UInt32(clamping: frame.wireLength)
        let base = frame.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        withUnsafePointer(to: &header) { headerPointer in
            pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), headerPointer, base)
        }
    }

    /// Flushes and closes every slice.
    public func closeAll() {
        for dumper in self.open.values {
            pcap_dump_close(dumper)
        }
        self.open.removeAll()
        self.order.removeAll()
    }

    /// A new file at `path`, 0600: a file left there by an earlier run is replaced, and a
    /// symbolic link is removed, never written through (O_EXCL|O_NOFOLLOW after the unlink).
    private static func create(_ path: String, dead: OpaquePointer) throws(CaptureError) -> OpaquePointer? {
        if unlink(path) != 0, errno != ENOENT {
            throw CaptureError(code: .cannotWrite, path: path, reason: String(cString: strerror(errno)))
        }
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CaptureError(code: .cannotWrite, path: path, reason: String(cString: strerror(errno)))
        }
        guard let file = fdopen(descriptor, "w") else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw CaptureError(code: .cannotWrite, path: path, reason: reason)
        }
        // On success the dumper owns the FILE (pcap_dump_close closes it); on failure it does not.
        guard let dumper = pcap_dump_fopen(dead, file) else {
            fclose(file)
            return nil
        }
        return dumper
    }

    private func dumper(for path: String) throws(CaptureError) -> OpaquePointer {
        if let dumper = self.open[path] { return dumper }
        if self.open.count >= self.maximumOpenFiles, let oldest = self.order.first {
            self.order.removeFirst()
            if let dumper = self.open.removeValue(forKey: oldest) { pcap_dump_close(dumper) }
        }
        let dumper: OpaquePointer?
        if self.created.contains(path) {
            // Made by this writer with O_EXCL in a directory only its owner can write to.
            dumper = pcap_dump_open_append(self.dead, path)
        } else {
            dumper = try Self.create(path, dead: self.dead)
        }
        guard let dumper else {
            throw CaptureError(code: .cannotWrite, path: path, reason: String(cString: pcap_geterr(self.dead)))
        }
        self.created.insert(path)
        self.open[path] = dumper
        self.order.append(path)
        return dumper
    }
}
