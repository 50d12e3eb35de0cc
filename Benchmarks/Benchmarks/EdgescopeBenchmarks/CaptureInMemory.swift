import CaptureModel
import PacketDecoding

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A classic pcap file read into memory once, so a benchmark measures analysis rather than disk.
///
/// Frames are handed out the way `PcapReader` hands them out (sized by `caplen`, nanosecond
/// timestamps, valid only during the call), but from memory instead of through libpcap. Like
/// libpcap, which `fread`s every record into its own buffer, each record is first copied into
/// a scratch buffer: walking a file-sized buffer in place is a chain of cache misses (where the
/// next record starts is in the one before), which costs more than the copy and would make the
/// benchmarks measure memory latency, not analysis. pcapng is not read: the generator writes
/// classic pcap only.
final class CaptureInMemory: @unchecked Sendable {
    /// Where it was read from.
    let path: String
    /// The file's bytes.
    let bytes: UnsafeMutableRawBufferPointer
    /// The link type from the file header.
    let linkType: LinkType
    /// Records in the file, counted when it was read.
    let packets: Int

    private let swapped: Bool
    private let nanosecondTimestamps: Bool
    /// Where each record is copied before it is handed out; as large as the largest record.
    private let scratch: UnsafeMutableRawBufferPointer

    /// Reads all of `path`; fails with a message a person understands.
    init(path: String) throws(BenchmarkSetupError) {
        self.path = path
        guard let file = fopen(path, "rb") else {
            throw BenchmarkSetupError("cannot open \(path): run Benchmarks/make-captures.sh first")
        }
        defer { fclose(file) }
        fseek(file, 0, SEEK_END)
        let size = ftell(file)
        fseek(file, 0, SEEK_SET)
        guard size >= 24 else { throw BenchmarkSetupError("\(path): too short for a pcap header") }
        self.bytes = .allocate(byteCount: size, alignment: 16)
        guard fread(self.bytes.baseAddress, 1, size, file) == size else {
            self.bytes.deallocate()
            throw BenchmarkSetupError("\(path): short read")
        }
        // Touch every page now so the first measured pass does not pay for page faults.
        var sum: UInt8 = 0
        for page in stride(from: 0, to: size, by: 4096) { sum &+= self.bytes[page] }
        blackHoleByte(sum)

        let magic = self.bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        switch magic {
        case 0xa1b2_c3d4: (self.swapped, self.nanosecondTimestamps) = (false, false)
        case 0xa1b2_3c4d: (self.swapped, self.nanosecondTimestamps) = (false, true)
        case 0xd4c3_b2a1: (self.swapped, self.nanosecondTimestamps) = (true, false)
        case 0x4d3c_b2a1: (self.swapped, self.nanosecondTimestamps) = (true, true)
        default:
            self.bytes.deallocate()
            throw BenchmarkSetupError("\(path): not a classic pcap file (magic \(String(magic, radix: 16)))")
        }
        let rawLinkType = self.bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self)
        self.linkType = LinkType(rawValue: Int32(bitPattern: (self.swapped ? rawLinkType.byteSwapped : rawLinkType) & 0x0fff_ffff))

        var count = 0
        var largest = 0
        var offset = 24
        while offset + 16 <= size {
            let caplen = Int(Self.field(self.bytes, offset + 8, swapped: self.swapped))
            guard offset + 16 + caplen <= size else { break }
            count += 1
            largest = max(largest, caplen)
            offset += 16 + caplen
        }
        self.packets = count
        self.scratch = .allocate(byteCount: max(largest, 1), alignment: 16)
    }

    deinit {
        self.bytes.deallocate()
        self.scratch.deallocate()
    }

    /// Bytes in the file.
    var byteCount: Int { self.bytes.count }

    @inline(__always)
    private func field(_ offset: Int) -> UInt32 {
        Self.field(self.bytes, offset, swapped: self.swapped)
    }

    @inline(__always)
    private static func field(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, swapped: Bool) -> UInt32 {
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? value.byteSwapped : value
    }

    /// Calls `body` with every record in file order. A record cut off by the end of the file
    /// ends the walk, as libpcap reports it.
    @inline(__always)
    func forEachFrame(_ body: (RawFrame) -> Void) {
        let base = UnsafeRawBufferPointer(self.bytes)
        let scratch = self.scratch
        let size = base.count
        let scale: Int64 = self.nanosecondTimestamps ? 1 : 1000
        var number: FrameNumber = 0
        var offset = 24
        while offset + 16 <= size {
            let seconds = Int64(self.field(offset))
            let fraction = Int64(self.field(offset + 4))
            let caplen = Int(self.field(offset + 8))
            let wireLength = Int(self.field(offset + 12))
            let start = offset + 16
            guard start + caplen <= size else { return }
            number &+= 1
            scratch.baseAddress!.copyMemory(from: base.baseAddress! + start, byteCount: caplen)
            body(RawFrame(
                number: number, timestamp: Timestamp(seconds: seconds, nanoseconds: fraction &* scale),
                wireLength: wireLength, bytes: UnsafeRawBufferPointer(start: scratch.baseAddress, count: caplen)))
            offset = start + caplen
        }
    }
}

/// A benchmark could not be set up (a missing or unreadable capture).
struct BenchmarkSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@inline(never)
func blackHoleByte(_ value: UInt8) {
    withExtendedLifetime(value) {}
}
