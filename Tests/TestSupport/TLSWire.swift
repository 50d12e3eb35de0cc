/// Builders for TLS bytes in tests (RFC 8446 §4, RFC 5246 §7.4): records, hellos, certificates.
public enum TLSWire {
    public static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    public static func u24(_ v: Int) -> [UInt8] { [UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    public static func record(_ type: UInt8, _ body: [UInt8], version: Int = 0x0303) -> [UInt8] { [type] + Self.u16(version) + Self.u16(body.count) + body }
    public static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type] + u24(body.count) + body }
    public static func ext(_ type: Int, _ data: [UInt8]) -> [UInt8] { Self.u16(type) + Self.u16(data.count) + data }

    public static func clientHello(sni: String?, alpn: [String] = ["http/1.1"], versions: [Int] = [0x0304, 0x0303]) -> [UInt8] {
        var extensions: [UInt8] = []
        if let sni {
            let name = Array(sni.utf8)
            let entry = [UInt8(0)] + Self.u16(name.count) + name
            extensions += ext(0, Self.u16(entry.count) + entry)
        }
        let protocols = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        extensions += ext(16, Self.u16(protocols.count) + protocols)
        let list = versions.flatMap(u16)
        extensions += ext(43, [UInt8(list.count)] + list)
        extensions += ext(10, Self.u16(4) + Self.u16(0x001d) + Self.u16(0x0017))
        let suites = [0x1301, 0x1302, 0xc02f].flatMap(u16)
        let body = Self.u16(0x0303) + [UInt8](repeating: 0xaa, count: 32) + [0] + Self.u16(suites.count) + suites + [1, 0]
            + Self.u16(extensions.count) + extensions
        return handshake(1, body)
    }

    public static func serverHello(version: Int? = nil, cipher: Int = 0xc02f, random: [UInt8] = [UInt8](repeating: 0xbb, count: 32)) -> [UInt8] {
        var extensions: [UInt8] = []
        if let version { extensions += ext(43, Self.u16(version)) }
        let body = Self.u16(0x0303) + random + [0] + Self.u16(cipher) + [0] + Self.u16(extensions.count) + extensions
        return handshake(2, body)
    }

    public static func certificate(_ chain: [[UInt8]]) -> [UInt8] {
        let list = chain.flatMap { u24($0.count) + $0 }
        return handshake(11, u24(list.count) + list)
    }
}

