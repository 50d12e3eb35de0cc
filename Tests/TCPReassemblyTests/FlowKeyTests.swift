import CaptureModel
import TCPReassembly
import Testing

/// `FlowKey` hashes packed words, not the synthesized enum-by-enum hash: both directions, and
/// IPv4 and IPv6, must still find one entry each, and different connections different ones.
@Test func flowKeyFindsOneEntryPerConnectionEitherWay() {
    let gateway = Endpoint(address: .v4(0x0a00_0001), port: 40_000)
    let upstream = Endpoint(address: .v4(0x0a00_030a), port: 8080)
    let v6Gateway = Endpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 1), port: 40_000)
    let v6Upstream = Endpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 2), port: 8080)
    var table: [FlowKey: Int] = [:]
    table[FlowKey(gateway, upstream)] = 1
    table[FlowKey(v6Gateway, v6Upstream)] = 2
    table[FlowKey(gateway, v6Upstream)] = 3
    table[FlowKey(Endpoint(address: .v4(0x0a00_0001), port: 40_001), upstream)] = 4
    #expect(table.count == 4)
    #expect(table[FlowKey(upstream, gateway)] == 1)
    #expect(table[FlowKey(v6Upstream, v6Gateway)] == 2)
    #expect(table[FlowKey(v6Upstream, gateway)] == 3)
    #expect(FlowKey(upstream, gateway).hashValue == FlowKey(gateway, upstream).hashValue)
    // Swapped ports between the same two addresses are another connection.
    #expect(table[FlowKey(Endpoint(address: .v4(0x0a00_0001), port: 8080), Endpoint(address: .v4(0x0a00_030a), port: 40_000))] == nil)
}
