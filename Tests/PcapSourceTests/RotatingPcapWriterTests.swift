import CaptureModel
import PacketDecoding
import PcapSource
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private let gateway = Endpoint(address: .v4(0x0a00_0005), port: 40000)
private let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)

/// An Ethernet TCP frame exactly `length` bytes long, its sequence number `index`.
private func frame(_ index: Int, length: Int = 100) -> [UInt8] {
    let bare = FrameBuilder.tcp(from: gateway, to: upstream, seq: UInt32(index), flags: .ack)
    return FrameBuilder.tcp(
        from: gateway, to: upstream, seq: UInt32(index), flags: [.psh, .ack],
        payload: Array(repeating: UInt8(truncatingIfNeeded: index), count: length - bare.count))
}

/// What a frame is once read back: bytes, time, wire length.
private struct Record: Equatable {
    var bytes: [UInt8]
    var nanoseconds: Int64
    var wireLength: Int
}

private func write(_ records: [Record], to writer: RotatingPcapWriter) throws {
    for (index, record) in records.enumerated() {
        try withFrame(
            record.bytes, number: FrameNumber(index + 1), timestamp: Timestamp(nanoseconds: record.nanoseconds),
            wireLength: record.wireLength
        ) { try writer.write($0) }
    }
}

private func read(_ path: String) throws -> (reader: PcapReader, records: [Record]) {
    let reader = try PcapReader(path: path)
    var records: [Record] = []
    try reader.forEachFrame { records.append(Record(bytes: [UInt8]($0.bytes), nanoseconds: $0.timestamp.nanoseconds, wireLength: $0.wireLength)) }
    return (reader, records)
}

private func names(in directory: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

private func fileStatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

private let recordBytes = 16 + 100
private let headerBytes = 24

@Suite struct RotatingPcapWriterTests {
    @Test(arguments: [
        // Three 116-byte records fill a 372-byte file exactly: a file may reach the limit.
        (limit: headerBytes + 3 * recordBytes, framesPerFile: [3, 3, 3, 1]),
        // One byte less and the third record would exceed it.
        (limit: headerBytes + 3 * recordBytes - 1, framesPerFile: [2, 2, 2, 2, 2]),
    ])
    func rotatesAtTheSizeLimit(limit: Int, framesPerFile: [Int]) throws {
        let directory = Paths.temporaryDirectory("rotate")
        let writer = try RotatingPcapWriter(
            prefix: directory + "/edge", linkType: .ethernet, snapLength: 65_535, maximumFileBytes: limit, filesKept: 0)
        let records = (0..<10).map { Record(bytes: frame($0), nanoseconds: Int64($0), wireLength: 100) }
        try write(records, to: writer)
        try writer.close()

        let expectedNames = (1...framesPerFile.count).map { "edge.00000\($0).pcap" }
        #expect(names(in: directory) == expectedNames)
        for (name, frames) in zip(expectedNames, framesPerFile) {
            let path = directory + "/" + name
            #expect(try read(path).records.count == frames, "\(name)")
            #expect(fileStatus(path).map { Int($0.st_size) } == headerBytes + frames * recordBytes, "\(name)")
        }
        #expect(writer.fileNumber == framesPerFile.count)
    }

    @Test func aFrameLargerThanTheLimitIsWrittenAloneInItsFile() throws {
        let directory = Paths.temporaryDirectory("rotate")
        let writer = try RotatingPcapWriter(
            prefix: directory + "/edge", linkType: .ethernet, snapLength: 65_535, maximumFileBytes: 200, filesKept: 0)
        let records = [100, 1000, 100].enumerated().map { Record(bytes: frame($0.offset, length: $0.element), nanoseconds: 0, wireLength: $0.element) }
        try write(records, to: writer)
        try writer.close()
        #expect(names(in: directory) == ["edge.000001.pcap", "edge.000002.pcap", "edge.000003.pcap"])
        #expect(try read(directory + "/edge.000002.pcap").records == [records[1]])
    }

    @Test func keepingTwoDeletesTheOldestAndNothingElse() throws {
        let directory = Paths.temporaryDirectory("rotate")
        // Names the writer never makes, one of them in its own pattern: these must survive.
        for stranger in ["edge.000000.pcap", "edge.000099.pcap", "other.pcap"] {
            let fd = open(directory + "/" + stranger, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            #expect(fd >= 0)
            close(fd)
        }
        let writer = try RotatingPcapWriter(
            prefix: directory + "/edge", linkType: .ethernet, snapLength: 65_535,
            maximumFileBytes: headerBytes + 3 * recordBytes, filesKept: 2)
        let records = (0..<10).map { Record(bytes: frame($0), nanoseconds: Int64($0), wireLength: 100) }
        try write(records, to: writer)
        try writer.close()
        #expect(names(in: directory) == ["edge.000000.pcap", "edge.000003.pcap", "edge.000004.pcap", "edge.000099.pcap", "other.pcap"])
        #expect(try read(directory + "/edge.000003.pcap").records == Array(records[6..<9]))
        #expect(try read(directory + "/edge.000004.pcap").records == [records[9]])
    }

    @Test func framesReadBackExactlyAcrossFiles() throws {
        let directory = Paths.temporaryDirectory("rotate")
        let writer = try RotatingPcapWriter(
            prefix: directory + "/edge", linkType: .linuxSLL2, snapLength: 80, maximumFileBytes: 300, filesKept: 0)
        let fractions: [Int64] = [0, 1, 999_999_999, 123_456_789, 500_000_000, 7, 999_999_000]
        let records = fractions.enumerated().map { index, fraction -> Record in
            let bytes = FrameBuilder.tcp(
                from: gateway, to: upstream, seq: UInt32(index), flags: .ack,
                payload: Array(repeating: 0x41, count: index * 7), link: .linuxSLL2)
            // Cut at the snap length, as the capture would have: the wire length stays whole.
            return Record(bytes: Array(bytes.prefix(80)), nanoseconds: (1_776_075_462 + Int64(index)) * 1_000_000_000 + fraction, wireLength: bytes.count)
        }
        try write(records, to: writer)
        try writer.flush()
        // Flushed, not closed: the files read as they are while the capture runs.
        var readBack: [Record] = []
        for number in 1...writer.fileNumber {
            let (reader, records) = try read(writer.path(ofFile: number))
            #expect(reader.linkType == .linuxSLL2)
            #expect(reader.snapLength == 80)
            readBack += records
        }
        #expect(writer.fileNumber > 1)
        #expect(readBack == records)
        try writer.close()
    }

    @Test func aSymbolicLinkAtTheNextNameIsRefused() throws {
        let directory = Paths.temporaryDirectory("rotate")
        let target = directory + "/target"
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        close(fd)
        #expect(symlink(target, directory + "/edge.000002.pcap") == 0)
        let writer = try RotatingPcapWriter(
            prefix: directory + "/edge", linkType: .ethernet, snapLength: 65_535,
            maximumFileBytes: headerBytes + recordBytes, filesKept: 0)
        try withFrame(frame(0)) { try writer.write($0) }
        let refusal = CaptureError(
            code: .cannotWrite, path: directory + "/edge.000002.pcap",
            reason: "a symbolic link is at this name; refusing to write through it")
        #expect(throws: refusal) { try withFrame(frame(1)) { try writer.write($0) } }
        // Stopped for good: the failure again, not a write to some later name.
        #expect(throws: refusal) { try withFrame(frame(2)) { try writer.write($0) } }
        #expect(throws: refusal) { try writer.flush() }
        #expect(fileStatus(target)?.st_size == 0)
        #expect(names(in: directory) == ["edge.000001.pcap", "edge.000002.pcap", "target"])
        #expect(try read(directory + "/edge.000001.pcap").records.count == 1)
    }

    @Test func anExistingFileAtTheFirstNameIsRefused() throws {
        let directory = Paths.temporaryDirectory("rotate")
        let fd = open(directory + "/edge.000001.pcap", O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(Glibc.write(fd, "keep", 4) == 4)
        close(fd)
        #expect(throws: CaptureError(
            code: .cannotWrite, path: directory + "/edge.000001.pcap", reason: "the file already exists; refusing to overwrite it")
        ) {
            _ = try RotatingPcapWriter(prefix: directory + "/edge", linkType: .ethernet, snapLength: 65_535, maximumFileBytes: 1 << 20, filesKept: 0)
        }
        #expect(fileStatus(directory + "/edge.000001.pcap")?.st_size == 4)
    }

    @Test func aMissingDirectoryIsCannotWriteWithTheReason() throws {
        let path = Paths.temporaryDirectory("rotate") + "/absent/edge.000001.pcap"
        #expect(throws: CaptureError(code: .cannotWrite, path: path, reason: "cannot create: No such file or directory")) {
            _ = try RotatingPcapWriter(
                prefix: String(path.dropLast(".000001.pcap".count)), linkType: .ethernet, snapLength: 65_535,
                maximumFileBytes: 1 << 20, filesKept: 0)
        }
    }

    @Test func filesAreOwnerOnly() throws {
        let directory = Paths.temporaryDirectory("rotate")
        let writer = try RotatingPcapWriter(
            prefix: directory + "/edge", linkType: .ethernet, snapLength: 65_535,
            maximumFileBytes: headerBytes + recordBytes, filesKept: 0)
        for index in 0..<3 {
            try withFrame(frame(index)) { try writer.write($0) }
        }
        try writer.close()
        let modes = names(in: directory).map { fileStatus(directory + "/" + $0).map { $0.st_mode & 0o7777 } }
        #expect(modes == [0o600, 0o600, 0o600])
    }
}
