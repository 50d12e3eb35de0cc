import CaptureModel
import Engine
import PacketDecoding
import PcapSource
import Testing
import TestSupport

/// Frames of real captures with bytes flipped, inserted and cut, fed to the whole engine:
/// it must not trap, and every connection must still get a verdict.
@Test(arguments: ["nginx/healthy-keepalive.pcap", "nginx/tls-healthy-1.2.pcap", "nginx/http-chunked-bad-size.pcap", "nginx/any-mixed.pcap"])
func mutatedCapturesNeverTrapTheEngine(capture: String) throws {
    let reader = try PcapReader(path: Paths.captures + "/" + capture)
    var frames: [(bytes: [UInt8], time: Timestamp, wire: Int)] = []
    try reader.forEachFrame { frames.append(([UInt8]($0.bytes), $0.timestamp, $0.wireLength)) }
    var random = SplitMix(seed: UInt64(capture.utf8.count))
    for round in 0..<100 {
        var engine = Engine(linkType: reader.linkType)
        for (index, frame) in frames.enumerated() {
            var bytes = frame.bytes
            let mutations = Int(random.next() % 4)
            for _ in 0..<mutations where !bytes.isEmpty {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.removeSubrange(position...)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                default: bytes[position] ^= 0xff
                }
            }
            // Sometimes drop or repeat a frame, as a lossy capture would.
            let copies = round % 3 == 0 ? Int(random.next() % 3) : 1
            for _ in 0..<copies {
                withFrame(bytes, number: FrameNumber(index + 1), timestamp: frame.time, wireLength: max(frame.wire, bytes.count)) {
                    engine.process($0)
                }
            }
        }
        let result = engine.finish()
        for connection in result.connections {
            #expect(!connection.verdict.summary.isEmpty)
            for finding in connection.findings {
                for evidence in finding.evidence {
                    #expect(evidence.bytes.count <= 64)
                    if let frame = evidence.frame { #expect(frame >= 1 && Int(frame) <= frames.count) }
                }
            }
        }
    }
}

/// SplitMix64: a tiny deterministic generator for the mutations.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
