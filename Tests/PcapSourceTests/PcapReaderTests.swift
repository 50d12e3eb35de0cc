import CaptureModel
import PacketDecoding
import PcapSource
import Testing
import TestSupport

private let gateway = Endpoint(address: .v4(0x0a00_0005), port: 40000)
private let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)
private let gateway6 = Endpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 5), port: 40000)
private let upstream6 = Endpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 0x24), port: 8080)

private func roundTrip(_ file: PcapFileBuilder) throws -> (LinkType, [(FrameNumber, Timestamp, Int, [UInt8])]) {
    let path = Paths.temporaryDirectory("reader") + "/capture"
    try file.write(to: path)
    let reader = try PcapReader(path: path)
    var frames: [(FrameNumber, Timestamp, Int, [UInt8])] = []
    try reader.forEachFrame { frames.append(($0.number, $0.timestamp, $0.wireLength, [UInt8]($0.bytes))) }
    return (reader.linkType, frames)
}

@Test(arguments: [LinkType.ethernet, .linuxSLL, .linuxSLL2, .null, .loop, .raw, .ipv4, .ipv6])
func everyLinkTypeReadsThroughLibpcapAndDecodes(link: LinkType) throws {
    let v6 = link == .ipv6
    let (from, to) = v6 ? (gateway6, upstream6) : (gateway, upstream)
    var file = PcapFileBuilder(format: .pcapNanoseconds, linkType: link)
    file.append(FrameBuilder.tcp(from: from, to: to, seq: 41, flags: .syn, link: link), at: Timestamp(nanoseconds: 1_776_075_462_123_456_789))
    let (linkType, frames) = try roundTrip(file)
    #expect(linkType == link || (link == .raw && linkType.description == "RAW"))
    #expect(frames.count == 1)
    var decoder = PacketDecoder(linkType: linkType)
    let snapshot = decoder.decodeSnapshot(frames[0].3)
    let segment = try #require(snapshot.segment)
    #expect(segment.source == from)
    #expect(segment.destination == to)
    #expect(segment.sequence == 41)
}

@Test(arguments: [
    PcapFileBuilder.Format.pcapMicroseconds, .pcapNanoseconds, .pcapng(timestampDigits: 6), .pcapng(timestampDigits: 9),
])
func timestampsKeepTheirPrecision(format: PcapFileBuilder.Format) throws {
    var file = PcapFileBuilder(format: format)
    let time = Timestamp(nanoseconds: 1_776_075_462_123_456_789)
    file.append(FrameBuilder.tcp(from: gateway, to: upstream, flags: .syn), at: time)
    let (_, frames) = try roundTrip(file)
    let expected: Int64
    switch format {
    case .pcapMicroseconds, .pcapng(timestampDigits: 6): expected = 1_776_075_462_123_456_000
    default: expected = 1_776_075_462_123_456_789
    }
    #expect(frames.first?.1.nanoseconds == expected)
}

@Test func bigEndianFilesRead() throws {
    var file = PcapFileBuilder(format: .pcapMicroseconds, byteOrder: .bigEndian)
    file.append(FrameBuilder.tcp(from: gateway, to: upstream, flags: .syn), at: Timestamp(nanoseconds: 5_000_000_000))
    let (link, frames) = try roundTrip(file)
    #expect(link == .ethernet)
    #expect(frames.first?.1.nanoseconds == 5_000_000_000)
}

@Test func caplenBoundsTheBytesAndWireLengthIsKept() throws {
    var file = PcapFileBuilder(format: .pcapMicroseconds)
    let frame = FrameBuilder.tcp(from: gateway, to: upstream, flags: [.psh, .ack], payload: Array(repeating: 0x41, count: 100))
    file.append(frame, at: .zero, capturedLength: 60, wireLength: frame.count)
    let (_, frames) = try roundTrip(file)
    #expect(frames.first?.3.count == 60)
    #expect(frames.first?.2 == frame.count)
}

@Test func framesAreNumberedFromOneAcrossTheFile() throws {
    var file = PcapFileBuilder(format: .pcapng(timestampDigits: 9))
    for index in 0..<5 {
        file.append(FrameBuilder.tcp(from: gateway, to: upstream, seq: UInt32(index), flags: .ack), at: Timestamp(nanoseconds: Int64(index)))
    }
    let (_, frames) = try roundTrip(file)
    #expect(frames.map(\.0) == [1, 2, 3, 4, 5])
}

@Test func sliceWriterRoundTripsFramesExactly() throws {
    let directory = Paths.temporaryDirectory("slice")
    var file = PcapFileBuilder(format: .pcapNanoseconds, linkType: .linuxSLL2)
    let times = [Timestamp(nanoseconds: 1_000_000_001), Timestamp(nanoseconds: 1_000_000_999)]
    for (index, time) in times.enumerated() {
        file.append(FrameBuilder.tcp(from: gateway, to: upstream, seq: UInt32(index), flags: .ack, link: .linuxSLL2), at: time)
    }
    try file.write(to: directory + "/in.pcap")
    let reader = try PcapReader(path: directory + "/in.pcap")
    let writer = try SliceWriter(linkType: reader.linkType, snapLength: reader.snapLength, maximumOpenFiles: 1)
    var originals: [[UInt8]] = []
    try reader.forEachFrame { frame in
        originals.append([UInt8](frame.bytes))
        // Alternate between two slices with one file open at a time: each reopens for appending.
        try? writer.write(frame, to: directory + "/a.pcap")
        try? writer.write(frame, to: directory + "/b.pcap")
    }
    writer.closeAll()
    for name in ["a.pcap", "b.pcap"] {
        let slice = try PcapReader(path: directory + "/" + name)
        #expect(slice.linkType == .linuxSLL2)
        var read: [([UInt8], Timestamp)] = []
        try slice.forEachFrame { read.append(([UInt8]($0.bytes), $0.timestamp)) }
        #expect(read.map(\.0) == originals)
        #expect(read.map(\.1) == times)
    }
}
