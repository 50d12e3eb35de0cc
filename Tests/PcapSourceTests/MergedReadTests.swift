import PcapSource
import Testing
import TestSupport

/// `MergedPcapReader`: the two hops of `nginx/client-hop-cut.pcap`, cut into two files of
/// different formats, precisions and link types (captures/multi/README.md), read back as one.
struct MergedReadTests {
    static let whole = Paths.captures + "/nginx/client-hop-cut.pcap"
    static let clientSide = Paths.captures + "/multi/client-hop-cut.client-side.pcap"
    static let upstreamSide = Paths.captures + "/multi/client-hop-cut.upstream-side.pcapng"

    @Test func twoFilesMergeInTheOriginalOrder() throws {
        var original: [(Int64, Int)] = []
        try PcapReader(path: Self.whole).forEachFrame { original.append(($0.timestamp.nanoseconds, $0.wireLength)) }
        let merged = MergedPcapReader(readers: [try PcapReader(path: Self.upstreamSide), try PcapReader(path: Self.clientSide)])
        var read: [(number: UInt32, time: Int64, wire: Int, file: Int)] = []
        try merged.forEachFrame { frame, file in read.append((frame.number, frame.timestamp.nanoseconds, frame.wireLength, file)) }
        #expect(read.count == 95)
        #expect(read.map(\.number) == Array(1...95))
        #expect(read.map(\.time) == original.map(\.0))
        // The raw-IP file's records lack the 14-byte Ethernet header.
        #expect(read.map { $0.wire + ($0.file == 0 ? 14 : 0) } == original.map(\.1))
        #expect(merged.linkTypes.map(\.description) == ["RAW", "EN10MB"])
        // Each merged record is found again in its file, numbered as Wireshark numbers it there.
        let origins = try #require(merged.origins)
        var perFile = [0, 0]
        for record in read {
            perFile[record.file] += 1
            let located = origins.locate(record.number)
            #expect(located.file == record.file && Int(located.frame) == perFile[record.file])
        }
        #expect(perFile == [47, 48])
        #expect(merged.stopped.allSatisfy { $0 == nil })
    }

    @Test func theMergeStopsWhereAskedAndRewindsToTheSameNumbers() throws {
        let merged = MergedPcapReader(readers: [try PcapReader(path: Self.clientSide), try PcapReader(path: Self.upstreamSide)])
        var first: [(UInt32, Int64, Int)] = []
        try merged.forEachFrame(through: 30) { frame, file in first.append((frame.number, frame.timestamp.nanoseconds, file)) }
        #expect(first.count == 30)
        var again: [(UInt32, Int64, Int)] = []
        try merged.rewound().forEachFrame(through: 30) { frame, file in again.append((frame.number, frame.timestamp.nanoseconds, file)) }
        #expect(again.map(\.0) == first.map(\.0) && again.map(\.1) == first.map(\.1) && again.map(\.2) == first.map(\.2))
    }

    @Test func oneFileIsReadAsItsOwnReaderReadsIt() throws {
        let merged = MergedPcapReader(readers: [try PcapReader(path: Self.whole)])
        #expect(merged.origins == nil)
        var numbers: [UInt32] = []
        try merged.forEachFrame { frame, file in
            #expect(file == 0)
            numbers.append(frame.number)
        }
        #expect(numbers == Array(1...95))
        #expect(merged.framesRead == 95)
    }
}
