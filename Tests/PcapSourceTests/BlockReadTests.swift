import CaptureModel
import Foundation
import PcapSource
import Testing
import TestSupport

/// `PcapReader` reads classic pcap records in 1 MiB blocks and leaves libpcap to go on from the
/// first record it does not plainly understand. Whatever the file, the frames and the error
/// must be exactly libpcap's own.
struct BlockReadTests {
    struct Reading: Equatable, CustomStringConvertible {
        var frames: [String] = []
        var error: String?
        var inBlocks: FrameNumber = 0

        var description: String { "\(self.frames.count) frames, error \(self.error ?? "none")" }

        static func == (a: Reading, b: Reading) -> Bool { a.frames == b.frames && a.error == b.error }
    }

    static func read(_ path: String, inBlocks: Bool, through last: FrameNumber? = nil) -> Reading {
        var reading = Reading()
        do {
            let reader = try PcapReader(path: path, readsInBlocks: inBlocks)
            do {
                try reader.forEachFrame(through: last) { frame in
                    // Every field and every byte, in a line that shows what differs.
                    var hasher = Hasher()
                    hasher.combine(bytes: frame.bytes)
                    reading.frames.append(
                        "\(frame.number) \(frame.timestamp.nanoseconds) \(frame.wireLength) \(frame.bytes.count) \(hasher.finalize())")
                }
            } catch {
                reading.error = error.description
            }
            reading.inBlocks = reader.framesReadInBlocks
        } catch {
            reading.error = "open: \(error.description)"
        }
        return reading
    }

    static func expectSame(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> Reading {
        let blocks = Self.read(path, inBlocks: true)
        let libpcap = Self.read(path, inBlocks: false)
        #expect(blocks == libpcap, "\(path): blocks \(blocks), libpcap \(libpcap)", sourceLocation: sourceLocation)
        #expect(libpcap.inBlocks == 0, sourceLocation: sourceLocation)
        return blocks
    }

    @Test func everySampleCaptureReadsAsLibpcapReadsIt() throws {
        let names = Paths.sampleCaptureFiles(endingWith: [".pcap", ".pcapng"])
        #expect(names.count > 100)
        var classic = 0
        for name in names {
            let reading = Self.expectSame(Paths.captures + "/" + name)
            if name.hasSuffix(".pcap") {
                // The fast path took every record of these whole, well-formed files.
                #expect(reading.inBlocks == FrameNumber(reading.frames.count), "\(name)")
                classic += 1
            } else {
                #expect(reading.inBlocks == 0, "\(name)")
            }
        }
        #expect(classic > 100)
    }

    @Test func everyBrokenCaptureReadsAsLibpcapReadsIt() throws {
        let directory = try BrokenCaptureCorpus.write("block-read-broken")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasSuffix(".json") }.sorted()
        #expect(names.count >= 14)
        var handedOver = 0
        for name in names {
            let reading = Self.expectSame(directory + "/" + name)
            if reading.error != nil, reading.inBlocks > 0 { handedOver += 1 }
        }
        // Some files break after good records: those were read in blocks, then libpcap met the break.
        #expect(handedOver > 0)
    }

    /// Records of every size across several blocks, so records straddle block ends; a record
    /// longer than the snap length in the middle; a cut record at the end.
    @Test func oddRecordsAndBlockEdgesGoToLibpcap() throws {
        let path = Paths.temporaryDirectory("block-read") + "/edges.pcap"
        var file = PcapFileBuilder(format: .pcapNanoseconds, snapLength: 2000)
        var size = 0
        var index = 0
        while size < 3 << 20 {
            let length = 14 + (index * 7919) % 1986
            file.append((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }, at: Timestamp(nanoseconds: Int64(index) * 1_000_001))
            size += 16 + length
            index += 1
        }
        var bytes = file.build()
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let whole = Self.expectSame(path)
        #expect(whole.error == nil)
        #expect(whole.inBlocks == FrameNumber(index))
        #expect(Self.read(path, inBlocks: true, through: 1000).frames == Array(whole.frames.prefix(1000)))
        #expect(index > 2000)

        // A record in the middle claims 4000 captured bytes, past the snap length of 2000: libpcap's call.
        #expect(index > 2000)
        let middle = index / 2
        var offset = 24
        for _ in 0..<(middle - 1) {
            let captured = Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8
            offset += 16 + captured
        }
        let oddLength = Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8
        bytes[offset + 8] = UInt8(4000 & 0xff)
        bytes[offset + 9] = UInt8(4000 >> 8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let odd = Self.expectSame(path)
        #expect(odd.inBlocks == FrameNumber(middle - 1))
        #expect(odd.frames.count >= middle - 1)
        #expect(oddLength < 2000)

        // Cut in the middle of the last record.
        try Data(file.build().dropLast(5)).write(to: URL(fileURLWithPath: path))
        let cut = Self.expectSame(path)
        #expect(cut.frames.count == index - 1)
        #expect(cut.error?.contains("cut off") == true)
        #expect(cut.inBlocks == FrameNumber(index - 1))
    }

    /// Both byte orders, microsecond and nanosecond files: read in blocks, as libpcap reads them.
    @Test(arguments: [PcapFileBuilder.Format.pcapMicroseconds, .pcapNanoseconds], [ByteOrder.littleEndian, .bigEndian])
    func everyClassicVariantReadsInBlocks(format: PcapFileBuilder.Format, order: ByteOrder) throws {
        let path = Paths.temporaryDirectory("block-read-variants") + "/capture.pcap"
        var file = PcapFileBuilder(format: format, byteOrder: order)
        for index in 0..<50 {
            file.append(
                (0..<(60 + index)).map { UInt8(truncatingIfNeeded: $0 ^ index) },
                at: Timestamp(nanoseconds: 1_776_075_462_123_456_789 + Int64(index) * 1_001_001), wireLength: 1500)
        }
        try file.write(to: path)
        let reading = Self.expectSame(path)
        #expect(reading.error == nil)
        #expect(reading.frames.count == 50)
        #expect(reading.inBlocks == 50)
    }
}
