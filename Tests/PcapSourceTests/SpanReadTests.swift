import CaptureModel
import Foundation
import PcapSource
import Testing
import TestSupport

/// The second reading (`MergedPcapReader.forEachFrame(in:)`, for the slices): only the records in
/// the spans, numbered and filled as the first reading had them, and with a plain classic pcap
/// file the records between spans mostly not read at all (`PcapReader.skip`, through the
/// checkpoints the first reading noted).
struct SpanReadTests {
    /// 20,000 records of 60 to 1,500 bytes, each holding its own number.
    static func capture(_ format: PcapFileBuilder.Format) throws -> String {
        var builder = PcapFileBuilder(format: format)
        for number in 1...20_000 {
            var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: number), count: 60 + (number * 37) % 1_440)
            withUnsafeBytes(of: UInt32(number).littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
            builder.records.append(PcapFileBuilder.Record(timestamp: Timestamp(nanoseconds: 1_700_000_000_000_000_000 + Int64(number) * 1_000), bytes: bytes))
        }
        let path = Paths.temporaryDirectory("span-read") + "/spans-\(format).pcap"
        try builder.write(to: path)
        return path
    }

    static let spans: [ClosedRange<FrameNumber>] = [3...5, 4_095...4_098, 9_000...9_000, 12_289...12_300, 19_990...20_010]

    static func read(_ path: String) throws -> (frames: [(number: FrameNumber, stored: UInt32, count: Int)], read: FrameNumber) {
        let first = MergedPcapReader(readers: [try PcapReader(path: path)])
        try first.forEachFrame { _, _ in }
        let again = try first.rewound()
        var frames: [(number: FrameNumber, stored: UInt32, count: Int)] = []
        try again.forEachFrame(in: Self.spans) { frame, file in
            #expect(file == 0)
            frames.append((frame.number, frame.bytes.loadUnaligned(as: UInt32.self), frame.bytes.count))
        }
        return (frames, again.readers[0].framesReadInBlocks)
    }

    @Test(arguments: [PcapFileBuilder.Format.pcapMicroseconds, .pcapNanoseconds, .pcapng(timestampDigits: 9)])
    func theSpansRecordsAreTheFirstReadingsOnes(format: PcapFileBuilder.Format) throws {
        let (frames, _) = try Self.read(try Self.capture(format))
        let expected = Self.spans.flatMap { span in span.filter { $0 <= 20_000 } }
        #expect(frames.map(\.number) == expected)
        #expect(frames.allSatisfy { FrameNumber($0.stored) == $0.number })
        #expect(frames.allSatisfy { $0.count == 60 + (Int($0.number) * 37) % 1_440 })
    }

    /// A plain classic pcap file: jumped over between checkpoints (every 4,096th record), so
    /// far fewer records are read than the last span's end.
    @Test func aClassicPcapFileIsReadOnlyNearTheSpans() throws {
        let (_, read) = try Self.read(try Self.capture(.pcapNanoseconds))
        // Checkpoints at 1, 4,097, 8,193, 12,289 and 16,385: records 1-5, then 6-4,098 (no
        // checkpoint between), 8,193-9,000, 12,289-12,300 and 16,385-20,000; 8,534 of 20,000.
        #expect(read == 5 + 4_093 + 808 + 12 + 3_616)
    }
}
