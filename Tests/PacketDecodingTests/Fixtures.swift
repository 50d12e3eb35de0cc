import CaptureModel
import PacketDecoding
import TestSupport

/// The gateway, as an IPv4 client: 10.0.0.1:40000.
let client4 = Endpoint(address: .v4(0x0a00_0001), port: 40_000)
/// The upstream, as an IPv4 server: 10.0.0.2:8080.
let server4 = Endpoint(address: .v4(0x0a00_0002), port: 8080)
/// The gateway, as an IPv6 client: [2001:db8::1]:40000.
let client6 = Endpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 1), port: 40_000)
/// The upstream, as an IPv6 server: [2001:db8::2]:443.
let server6 = Endpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 2), port: 443)
/// A short request line, as payload.
let request: [UInt8] = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
/// 0, 1, 2, … as payload whose every byte is distinguishable by position.
func counting(_ count: Int, from start: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: start + $0) }
}

/// Every link type the decoder reads, with the length of the header `FrameBuilder` writes.
let ipv4LinkTypes: [(LinkType, Int)] = [
    (.ethernet, 14), (.linuxSLL, 16), (.linuxSLL2, 20), (.null, 4), (.loop, 4),
    (.raw, 0), (.rawAlternate, 0), (LinkType(rawValue: 101), 0), (.ipv4, 0),
]
/// The link types that carry IPv6, with their header lengths.
let ipv6LinkTypes: [(LinkType, Int)] = [
    (.ethernet, 14), (.linuxSLL, 16), (.linuxSLL2, 20), (.null, 4), (.loop, 4),
    (.raw, 0), (.rawAlternate, 0), (LinkType(rawValue: 101), 0), (.ipv6, 0),
]
