@testable import Engine
import Testing

/// `HeadIndex` answers as a `[Int: Int]` would, whatever the keys (colliding homes, negative
/// keys, zero) and however insertions and removals interleave.
@Suite struct HeadIndexTests {
    @Test(arguments: [1, 2, 3])
    func itAgreesWithADictionaryOverRandomUpdatesAndRemovals(seed: UInt64) {
        var numbers = SplitMix(seed: seed)
        var index = HeadIndex()
        var reference: [Int: Int] = [:]
        // Few distinct keys (runs collide and wrap), some negative, and zero.
        let keys = (0..<300).map { $0 % 7 == 0 ? -Int($0) : Int(truncatingIfNeeded: numbers.next()) } + [0, Int.min, Int.max]
        for step in 0..<20_000 {
            let key = keys[Int(numbers.next() % UInt64(keys.count))]
            switch numbers.next() % 3 {
            case 0, 1:
                let value = step
                let replaced = index.updateValue(value, forKey: key)
                #expect(replaced == reference.updateValue(value, forKey: key))
            default:
                // Removed only when it holds the value given, as the ring's oldest leaves.
                let held = reference[key]
                let asked = held != nil && numbers.next() % 2 == 0 ? held! : 1_000_000 + step
                let removed = index.remove(key, ifValueIs: asked)
                #expect(removed == (held == asked))
                if held == asked { reference[key] = nil }
            }
            #expect(index.count == reference.count)
            let probe = keys[Int(numbers.next() % UInt64(keys.count))]
            #expect(index[probe] == reference[probe])
        }
        for key in keys { #expect(index[key] == reference[key]) }
    }

    @Test func aRemovalKeepsTheRestOfItsRunFindable() {
        var index = HeadIndex()
        // Thirty keys in a table that grows to 64 slots: runs form and wrap.
        for key in 0..<30 { index.updateValue(key * 10, forKey: key * 1_000_003) }
        for key in stride(from: 0, to: 30, by: 3) {
            let removed = index.remove(key * 1_000_003, ifValueIs: key * 10)
            #expect(removed)
        }
        for key in 0..<30 {
            #expect(index[key * 1_000_003] == (key % 3 == 0 ? nil : key * 10))
        }
        #expect(index.count == 20)
        // A removal with another value leaves the key.
        let removed = index.remove(1_000_003, ifValueIs: 11)
        #expect(!removed)
        #expect(index[1_000_003] == 10)
    }
}
