/// An IPv4 or IPv6 address, stored by value so flow keys hash without allocating.
public enum IPAddress: Hashable, Sendable {
    /// An IPv4 address in host byte order (`127.0.0.1` is `0x7f00_0001`).
    case v4(UInt32)
    /// An IPv6 address as its high and low 64 bits, host byte order.
    case v6(high: UInt64, low: UInt64)

    /// Dotted-quad for IPv4; RFC 5952 text for IPv6 (lower case, longest zero run compressed).
    public var text: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
        case .v6(let high, let low):
            var groups = [UInt16]()
            groups.reserveCapacity(8)
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16((high >> UInt64(shift)) & 0xffff)) }
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16((low >> UInt64(shift)) & 0xffff)) }
            return IPAddress.rfc5952(groups)
        }
    }

    /// Parses dotted-quad IPv4 or IPv6 text (with `::`), or returns `nil`.
    public init?(parsing text: Substring) {
        // Dotted-quad digits, the common case (a log has one per line), read from the bytes.
        if let value = text.utf8.withContiguousStorageIfAvailable({ Self.dottedQuad($0) }), let value {
            self = .v4(value)
            return
        }
        if text.contains(":") {
            guard let groups = IPAddress.parseIPv6Groups(text) else { return nil }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<4 { high = high << 16 | UInt64(groups[index]) }
            for index in 4..<8 { low = low << 16 | UInt64(groups[index]) }
            self = .v6(high: high, low: low)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var value: UInt32 = 0
            for part in parts {
                guard !part.isEmpty, part.count <= 3, let octet = UInt32(part), octet <= 255 else { return nil }
                value = value << 8 | octet
            }
            self = .v4(value)
        }
    }

    /// Four groups of one to three digits, each at most 255, joined by dots; `nil` otherwise.
    static func dottedQuad(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else {
                let digit = UInt32(byte) &- 0x30
                guard digit <= 9, digits < 3 else { return nil }
                octet = octet * 10 + digit
                guard octet <= 255 else { return nil }
                digits += 1
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    private static func parseIPv6Groups(_ text: Substring) -> [UInt16]? {
        // Split at the one "::" allowed (RFC 4291 §2.2); a second one makes the text ambiguous.
        var halves: [Substring] = []
        if let range = text.firstRange(of: "::") {
            halves = [text[..<range.lowerBound], text[range.upperBound...]]
            if halves[1].contains("::") { return nil }
        } else {
            halves = [text]
        }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result = [UInt16]()
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 {
            return head.count == 8 ? head : nil
        }
        guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
        return head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
    }

    private static func rfc5952(_ groups: [UInt16]) -> String {
        // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first if tied.
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < groups.count {
            if groups[index] == 0 {
                var end = index
                while end < groups.count && groups[end] == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ slice: ArraySlice<UInt16>) -> String {
            slice.map { String($0, radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 {
            return hex(groups[...])
        }
        return hex(groups[..<bestStart]) + "::" + hex(groups[(bestStart + bestLength)...])
    }
}

/// One side of a TCP connection: an address and a port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The IP address.
    public var address: IPAddress
    /// The TCP port.
    public var port: UInt16

    /// An endpoint from an address and a port.
    @inlinable
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `10.0.3.24:8080`, or `[2001:db8::1]:443` for IPv6, as the JSON report writes it.
    public var description: String {
        switch self.address {
        case .v4: return "\(self.address.text):\(self.port)"
        case .v6: return "[\(self.address.text)]:\(self.port)"
        }
    }

    /// Parses `ADDR:PORT`, `[V6]:PORT`, or (when `defaultPort` is given) a bare address.
    public init?(parsing text: Substring, defaultPort: UInt16? = nil) {
        // `10.0.3.12:8080`, the common case (an access log has one per line), read from the
        // bytes: Character by Character, it cost as much as the rest of the line.
        if let read = text.utf8.withContiguousStorageIfAvailable({ Self.dottedQuadAndPort($0) }), let (address, port) = read {
            self.init(address: .v4(address), port: port)
            return
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  let address = IPAddress(parsing: text[text.index(after: text.startIndex)..<close])
            else { return nil }
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                guard let defaultPort else { return nil }
                self.init(address: address, port: defaultPort)
            } else {
                guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
                self.init(address: address, port: port)
            }
            return
        }
        if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
            guard let address = IPAddress(parsing: text[..<colon]),
                  let port = UInt16(text[text.index(after: colon)...])
            else { return nil }
            self.init(address: address, port: port)
            return
        }
        guard let defaultPort, let address = IPAddress(parsing: text) else { return nil }
        self.init(address: address, port: defaultPort)
    }

    /// A dotted quad (`IPAddress.dottedQuad`), a colon, and one to five digits up to 65535;
    /// `nil` for anything else, which `init(parsing:)` reads by its parts.
    private static func dottedQuadAndPort(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt32, UInt16)? {
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")), (1...5).contains(bytes.count - colon - 1),
              let address = IPAddress.dottedQuad(UnsafeBufferPointer(rebasing: bytes[..<colon]))
        else { return nil }
        var port: UInt32 = 0
        for byte in bytes[(colon + 1)...] {
            let digit = UInt32(byte) &- 0x30
            guard digit <= 9 else { return nil }
            port = port * 10 + digit
        }
        guard port <= 65535 else { return nil }
        return (address, UInt16(port))
    }
}
