import CaptureModel
import Foundation
import PcapSource
import Testing
import TestSupport

/// `PcapReader` reads a capture from a pipe, and compressed (gzip, zstd, xz, told by their magic
/// bytes), exactly as from the plain file: the same frames, the same error, read in blocks, and
/// the input opened once.
struct StreamReadTests {
    /// Every frame as a line that shows what differs, and the error that ended the reading.
    struct Reading: Equatable {
        var frames: [String] = []
        var error: String?
        var code: CaptureError.Code?
        var inBlocks: FrameNumber = 0
    }

    static func read(_ reader: PcapReader) -> Reading {
        var reading = Reading()
        do {
            try reader.forEachFrame { frame in
                var hasher = Hasher()
                hasher.combine(bytes: frame.bytes)
                reading.frames.append("\(frame.number) \(frame.timestamp.nanoseconds) \(frame.wireLength) \(frame.bytes.count) \(hasher.finalize())")
            }
        } catch {
            reading.error = error.reason
            reading.code = error.code
        }
        reading.inBlocks = reader.framesReadInBlocks
        return reading
    }

    /// A 3 MiB classic pcap of records of many lengths: three of `CaptureInput`'s windows, and
    /// records that straddle their edges.
    static func capture(snapLength: UInt32 = 2000) -> (bytes: [UInt8], frames: Int) {
        var file = PcapFileBuilder(format: .pcapNanoseconds, snapLength: snapLength)
        var size = 0
        var index = 0
        while size < 3 << 20 {
            let length = 14 + (index * 7919) % 1986
            file.append((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }, at: Timestamp(nanoseconds: Int64(index) * 1_000_001))
            size += 16 + length
            index += 1
        }
        return (file.build(), index)
    }

    /// `bytes` through a pipe written by another thread; the reader opens `/dev/fd/N` as a shell's
    /// process substitution gives it.
    static func throughPipe<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        // A reading that stops early closes the pipe under the writer: EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
        let pipe = Pipe()
        let writer = Thread {
            try? pipe.fileHandleForWriting.write(contentsOf: Data(bytes))
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        defer { try? pipe.fileHandleForReading.close() }
        return try body("/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
    }

    /// `bytes` compressed by the command-line tool (`gzip`, `zstd`, `xz`).
    static func compressed(_ bytes: [UInt8], with tool: String, cut: Int = 0, corruptAt: Int? = nil) throws -> String {
        let directory = Paths.temporaryDirectory("stream-read")
        let plain = directory + "/capture.pcap"
        try Data(bytes).write(to: URL(fileURLWithPath: plain))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool, "-q", "-k", plain]
        try process.run()
        process.waitUntilExit()
        let path = plain + ["gzip": ".gz", "zstd": ".zst", "xz": ".xz"][tool]!
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        if let corruptAt {
            for index in corruptAt..<(corruptAt + 64) { data[index] ^= 0x5a }
        }
        // Named as plain captures: the format is told by the magic bytes, never the name.
        let out = directory + "/renamed-\(tool).pcap"
        try Data(data.dropLast(cut)).write(to: URL(fileURLWithPath: out))
        return out
    }

    @Test func aPipeReadsAsTheFileInBlocks() throws {
        let (bytes, count) = Self.capture()
        let path = Paths.temporaryDirectory("stream-read") + "/capture.pcap"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let file = Self.read(try PcapReader(path: path))
        let piped = try Self.throughPipe(bytes) { Self.read(try PcapReader(path: $0)) }
        #expect(file.frames.count == count)
        #expect(piped == file)
        #expect(piped.inBlocks == FrameNumber(count))
        #expect(piped.error == nil)
    }

    /// A record of an impossible length in the middle: libpcap takes over at that record, from the
    /// pipe, with nothing skipped or read twice, and says what libpcap says of the file.
    @Test func libpcapTakesOverFromAPipeWhereTheBlocksStop() throws {
        var (bytes, count) = Self.capture()
        var offset = 24
        for _ in 0..<(count / 2 - 1) {
            offset += 16 + (Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8)
        }
        (bytes[offset + 8], bytes[offset + 9], bytes[offset + 10], bytes[offset + 11]) = (0, 0xff, 0xff, 0xff)
        let path = Paths.temporaryDirectory("stream-read") + "/odd.pcap"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let libpcap = Self.read(try PcapReader(path: path, readsInBlocks: false))
        let piped = try Self.throughPipe(bytes) { Self.read(try PcapReader(path: $0)) }
        #expect(piped.frames == libpcap.frames)
        #expect(piped.error == libpcap.error)
        #expect(piped.frames.count == count / 2 - 1)
        #expect(piped.error?.contains("invalid packet capture length 4294967040") == true, "\(piped.error ?? "")")
        #expect(piped.inBlocks == FrameNumber(count / 2 - 1))
    }

    @Test(arguments: ["gzip", "zstd", "xz"])
    func aCompressedCaptureReadsAsThePlainOne(tool: String) throws {
        let (bytes, count) = Self.capture()
        let path = try Self.compressed(bytes, with: tool)
        let plain = Self.read(try PcapReader(path: URL(fileURLWithPath: path).deletingLastPathComponent().path + "/capture.pcap"))
        let reader = try PcapReader(path: path)
        #expect(reader.compression == tool)
        let fromFile = Self.read(reader)
        let fromPipe = try Self.throughPipe(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) { Self.read(try PcapReader(path: $0)) }
        #expect(plain.frames.count == count)
        #expect(fromFile == plain)
        #expect(fromPipe == plain)
        #expect(fromPipe.inBlocks == FrameNumber(count))
    }

    /// Compressed data cut short, or corrupt: every frame before the break, then an error that
    /// names the format and says which (`cutShort` or `readFailed`).
    @Test(arguments: ["gzip", "zstd", "xz"])
    func aCompressedCaptureCutShortOrCorruptStopsWithTheReason(tool: String) throws {
        let (bytes, count) = Self.capture()
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Self.compressed(bytes, with: tool))))
        let plain = Self.read(try PcapReader(path: try Self.compressed(bytes, with: tool)))

        let cut = Self.read(try PcapReader(path: try Self.compressed(bytes, with: tool, cut: whole.count / 2)))
        #expect(cut.code == .cutShort)
        #expect(cut.error?.hasSuffix("the \(tool) data is cut short (the compressed stream ends before its end)") == true, "\(cut.error ?? "")")
        #expect(cut.frames.count > 0 && cut.frames.count < count)
        #expect(cut.frames == Array(plain.frames.prefix(cut.frames.count)))

        let corrupt = Self.read(try PcapReader(path: try Self.compressed(bytes, with: tool, corruptAt: whole.count / 2)))
        #expect(corrupt.code == .readFailed)
        // zstd and xz check each block before handing it out; zlib checks a member's CRC only
        // at its end, so libpcap may meet the garbage first (an impossible record length).
        let said = tool == "gzip" ? "(in gzip-compressed data: `gzip -t` checks the file)" : "the \(tool) data is corrupt ("
        #expect(corrupt.error?.contains(said) == true, "\(corrupt.error ?? "")")
        #expect(corrupt.frames.count < count)
        #expect(corrupt.frames == Array(plain.frames.prefix(corrupt.frames.count)))
    }

    /// A pipe is read once: a second reading comes from the copy kept in an unlinked file
    /// (still compressed), and without a copy it is refused, never a silent empty reading.
    @Test(arguments: [nil, "gzip"])
    func aPipeReadAgainComesFromItsKeptCopy(tool: String?) throws {
        let (bytes, count) = Self.capture()
        let input = try tool.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Self.compressed(bytes, with: $0)))) } ?? bytes
        let directory = Paths.temporaryDirectory("stream-read-copy")
        let (first, again) = try Self.throughPipe(input) { path in
            let reader = try PcapReader(path: path, keepsCopy: true)
            try reader.keepCopy(in: directory)
            let first = Self.read(reader)
            return (first, Self.read(try reader.rewound()))
        }
        #expect(first.frames.count == count)
        #expect(again == first)
        // Unlinked at once: nothing is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)

        let refused = try Self.throughPipe(bytes) { path -> CaptureError? in
            let reader = try PcapReader(path: path)
            _ = Self.read(reader)
            do { _ = try reader.rewound() } catch { return error as? CaptureError }
            return nil
        }
        #expect(refused?.reason == "a pipe cannot be read twice")
    }

    /// A regular file is read again through a duplicate of the descriptor opened first: after
    /// the path is gone, the second reading still has every frame.
    @Test func aFileIsReadAgainWithoutOpeningItAgain() throws {
        let (bytes, count) = Self.capture()
        let path = Paths.temporaryDirectory("stream-read") + "/capture.pcap.gz"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reader = try PcapReader(path: path)
        let first = Self.read(reader)
        try FileManager.default.removeItem(atPath: path)
        let again = Self.read(try reader.rewound())
        #expect(first.frames.count == count)
        #expect(again == first)
    }
}
