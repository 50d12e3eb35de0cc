extension Array where Element == UInt8 {
    /// Appends `value` most significant byte first, as network headers store integers.
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { self.append(contentsOf: $0) }
    }

    /// Appends `value` least significant byte first, as pcap files written on x86 store integers.
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { self.append(contentsOf: $0) }
    }

    /// Appends `value` in `order`.
    mutating func append<T: FixedWidthInteger>(_ value: T, order: ByteOrder) {
        switch order {
        case .bigEndian: self.appendBigEndian(value)
        case .littleEndian: self.appendLittleEndian(value)
        }
    }

    /// Overwrites two bytes at `offset` with `value`, most significant first.
    mutating func setBigEndian(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(value >> 8)
        self[offset + 1] = UInt8(value & 0xff)
    }
}

/// The order of bytes in a multi-byte integer, for link headers and files written by a host.
public enum ByteOrder: Hashable, Sendable {
    /// Most significant byte first (network order; SPARC, PowerPC hosts).
    case bigEndian
    /// Least significant byte first (x86 and ARM hosts).
    case littleEndian
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
func internetChecksum(_ chunks: [UInt8]...) -> UInt16 {
    var sum: UInt32 = 0
    for chunk in chunks {
        var index = 0
        while index + 1 < chunk.count {
            sum &+= UInt32(chunk[index]) << 8 | UInt32(chunk[index + 1])
            index += 2
        }
        if index < chunk.count { sum &+= UInt32(chunk[index]) << 8 }
    }
    while sum > 0xffff { sum = (sum & 0xffff) &+ (sum >> 16) }
    return ~UInt16(sum)
}
