import CaptureModel
@testable import TCPReassembly
import Testing

/// The flow table's own index (issue 16: `Dictionary`'s SipHash was paid on every packet) must
/// find what a `Dictionary` finds through inserts, overwrites and removals, across its growth,
/// for IPv4, IPv6 and mixed pairs, either way round.
@Test func flowIndexFindsWhatADictionaryFinds() {
    var generator = IndexRandom(state: 16)
    func endpoint(_ n: UInt64) -> Endpoint {
        switch n % 3 {
        case 0: return Endpoint(address: .v4(0x0a00_0000 | UInt32(n & 0xff)), port: UInt16(truncatingIfNeeded: n >> 8))
        case 1: return Endpoint(address: .v6(high: 0x2001_0db8 << 32, low: n & 0xff), port: UInt16(truncatingIfNeeded: n >> 8))
        default: return Endpoint(address: .v4(0x7f00_0001), port: UInt16(truncatingIfNeeded: n))
        }
    }
    var index = FlowIndex()
    var expected: [FlowKey: Int] = [:]
    var keys: [FlowKey] = []
    for step in 0..<60_000 {
        let roll = generator.next()
        if roll % 4 != 0 || keys.isEmpty {
            let a = endpoint(generator.next() % 50_000)
            let b = endpoint(generator.next() % 50_000)
            let key = FlowKey(a, b)
            if expected[key] == nil { keys.append(key) }
            index[FlowKey(b, a)] = step  // either way round is the same key
            expected[key] = step
        } else {
            let at = Int(generator.next() % UInt64(keys.count))
            let key = keys.remove(at: at)
            index[key] = nil
            expected[key] = nil
        }
        if step % 997 == 0 {
            #expect(index.count == expected.count)
            #expect(keys.allSatisfy { index[$0] == expected[$0] })
        }
    }
    #expect(index.count == expected.count)
    #expect(index.values.sorted() == expected.values.sorted())
    for key in keys { #expect(index[key] == expected[key]) }
    // Removing what is absent changes nothing.
    index[FlowKey(endpoint(1), endpoint(1))] = nil
    #expect(index.count == expected.count)
}

private struct IndexRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        return FlowIndex.mix(self.state)
    }
}
