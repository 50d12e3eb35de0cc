#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaptureModel
import PacketDecoding

/// Writes capture files for tests: classic pcap with microsecond or nanosecond timestamps, or a
/// minimal pcapng (one section, one interface, enhanced packet blocks).
///
/// Records may be cut (`capturedLength`) or claim a longer wire length, as snap lengths make
/// them. A file cut mid-record (`capture.file_truncated`) is `Array(builder.build().dropLast(n))`.
public struct PcapFileBuilder: Sendable {
    /// The file format and its timestamp resolution.
    public enum Format: Hashable, Sendable {
        /// Classic pcap, magic 0xa1b2c3d4: microsecond timestamps.
        case pcapMicroseconds
        /// Classic pcap, magic 0xa1b23c4d: nanosecond timestamps.
        case pcapNanoseconds
        /// pcapng whose interface has `if_tsresol` 10^-`timestampDigits` seconds (6 or 9 usually).
        case pcapng(timestampDigits: UInt8)
    }

    /// One packet record.
    public struct Record: Hashable, Sendable {
        /// When it was captured.
        public var timestamp: Timestamp
        /// The whole frame as it was on the wire.
        public var bytes: [UInt8]
        /// How many of `bytes` the file keeps (`caplen`); all by default.
        public var capturedLength: Int?
        /// The wire length the record claims (`len`); `bytes.count` by default.
        public var wireLength: Int?

        /// A record from its parts.
        public init(timestamp: Timestamp, bytes: [UInt8], capturedLength: Int? = nil, wireLength: Int? = nil) {
            self.timestamp = timestamp
            self.bytes = bytes
            self.capturedLength = capturedLength
            self.wireLength = wireLength
        }
    }

    /// The format written.
    public var format: Format
    /// The link type of every record.
    public var linkType: LinkType
    /// The snap length the header announces.
    public var snapLength: UInt32
    /// The byte order of the file's integers (readers swap a big-endian file's fields).
    public var byteOrder: ByteOrder
    /// The records, in file order.
    public var records: [Record]

    /// An empty capture.
    public init(
        format: Format = .pcapMicroseconds, linkType: LinkType = .ethernet, snapLength: UInt32 = 262_144,
        byteOrder: ByteOrder = .littleEndian, records: [Record] = []
    ) {
        self.format = format
        self.linkType = linkType
        self.snapLength = snapLength
        self.byteOrder = byteOrder
        self.records = records
    }

    /// Adds a record of `bytes` captured at `timestamp`.
    public mutating func append(
        _ bytes: [UInt8], at timestamp: Timestamp, capturedLength: Int? = nil, wireLength: Int? = nil
    ) {
        self.records.append(Record(timestamp: timestamp, bytes: bytes, capturedLength: capturedLength, wireLength: wireLength))
    }

    /// The LINKTYPE_ number a file stores for `linkType`: DLT_RAW (12 or 14) is LINKTYPE_RAW
    /// 101 in files, and libpcap maps it back; the others are stored as their DLT_ value.
    public static func fileLinkType(_ linkType: LinkType) -> UInt32 {
        switch linkType.rawValue {
        case 12, 14: return 101
        default: return UInt32(bitPattern: linkType.rawValue)
        }
    }

    /// The file's bytes.
    public func build() -> [UInt8] {
        switch self.format {
        case .pcapMicroseconds: return self.buildPcap(magic: 0xa1b2_c3d4, unitsPerSecond: 1_000_000)
        case .pcapNanoseconds: return self.buildPcap(magic: 0xa1b2_3c4d, unitsPerSecond: 1_000_000_000)
        case .pcapng(let digits): return self.buildPcapng(timestampDigits: digits)
        }
    }

    /// Writes the file to `path`, replacing it.
    public func write(to path: String) throws {
        let bytes = self.build()
        guard let file = fopen(path, "wb") else { throw PcapFileBuilderError(path: path, code: errno) }
        defer { fclose(file) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == bytes.count else { throw PcapFileBuilderError(path: path, code: errno) }
    }

    private func buildPcap(magic: UInt32, unitsPerSecond: Int64) -> [UInt8] {
        let order = self.byteOrder
        var file: [UInt8] = []
        // pcap global header: magic, version 2.4, thiszone, sigfigs, snaplen, network.
        file.append(magic, order: order)
        file.append(UInt16(2), order: order)
        file.append(UInt16(4), order: order)
        file.append(Int32(0), order: order)
        file.append(UInt32(0), order: order)
        file.append(self.snapLength, order: order)
        file.append(Self.fileLinkType(self.linkType), order: order)
        for record in self.records {
            let (seconds, fraction) = Self.split(record.timestamp, unitsPerSecond: unitsPerSecond)
            let captured = min(record.capturedLength ?? record.bytes.count, record.bytes.count)
            file.append(UInt32(truncatingIfNeeded: seconds), order: order)
            file.append(UInt32(truncatingIfNeeded: fraction), order: order)
            file.append(UInt32(captured), order: order)
            file.append(UInt32(record.wireLength ?? record.bytes.count), order: order)
            file += record.bytes.prefix(captured)
        }
        return file
    }

    private func buildPcapng(timestampDigits: UInt8) -> [UInt8] {
        precondition(timestampDigits <= 9, "PcapFileBuilder: timestamps are kept to the nanosecond")
        let order = self.byteOrder
        var file: [UInt8] = []
        // Section header block: byte-order magic, version 1.0, section length unknown (-1).
        var section: [UInt8] = []
        section.append(UInt32(0x1a2b_3c4d), order: order)
        section.append(UInt16(1), order: order)
        section.append(UInt16(0), order: order)
        section.append(Int64(-1), order: order)
        file += Self.block(type: 0x0a0d_0d0a, body: section, order: order)
        // Interface description block: link type, reserved, snap length, if_tsresol (9), end.
        var interface: [UInt8] = []
        interface.append(UInt16(truncatingIfNeeded: Self.fileLinkType(self.linkType)), order: order)
        interface.append(UInt16(0), order: order)
        interface.append(self.snapLength, order: order)
        interface.append(UInt16(9), order: order)
        interface.append(UInt16(1), order: order)
        interface += [timestampDigits, 0, 0, 0]
        interface.append(UInt32(0), order: order)
        file += Self.block(type: 1, body: interface, order: order)
        var unitsPerSecond: Int64 = 1
        for _ in 0..<timestampDigits { unitsPerSecond *= 10 }
        for record in self.records {
            let (seconds, fraction) = Self.split(record.timestamp, unitsPerSecond: unitsPerSecond)
            let units = UInt64(bitPattern: seconds &* unitsPerSecond &+ fraction)
            let captured = min(record.capturedLength ?? record.bytes.count, record.bytes.count)
            // Enhanced packet block: interface 0, timestamp high and low words, lengths, data.
            var packet: [UInt8] = []
            packet.append(UInt32(0), order: order)
            packet.append(UInt32(truncatingIfNeeded: units >> 32), order: order)
            packet.append(UInt32(truncatingIfNeeded: units), order: order)
            packet.append(UInt32(captured), order: order)
            packet.append(UInt32(record.wireLength ?? record.bytes.count), order: order)
            packet += record.bytes.prefix(captured)
            while packet.count % 4 != 0 { packet.append(0) }
            file += Self.block(type: 6, body: packet, order: order)
        }
        return file
    }

    /// A pcapng block: type, total length, body, total length again.
    private static func block(type: UInt32, body: [UInt8], order: ByteOrder) -> [UInt8] {
        var block: [UInt8] = []
        block.append(type, order: order)
        block.append(UInt32(12 + body.count), order: order)
        block += body
        block.append(UInt32(12 + body.count), order: order)
        return block
    }

    /// Whole seconds and the fraction in `unitsPerSecond`, flooring toward earlier times.
    private static func split(_ timestamp: Timestamp, unitsPerSecond: Int64) -> (Int64, Int64) {
        var seconds = timestamp.nanoseconds / 1_000_000_000
        var nanoseconds = timestamp.nanoseconds % 1_000_000_000
        if nanoseconds < 0 {
            nanoseconds += 1_000_000_000
            seconds -= 1
        }
        return (seconds, nanoseconds / (1_000_000_000 / unitsPerSecond))
    }
}

/// Writing a capture file failed.
public struct PcapFileBuilderError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file that could not be written.
    public var path: String
    /// The `errno` value.
    public var code: Int32

    /// `cannot write PATH (errno N)`.
    public var description: String { "cannot write \(self.path) (errno \(self.code))" }
}
