import CaptureModel
import HTTP1

/// Feeds a request and a response to an `HTTP1Connection`, cut at the given points.
struct Exchange {
    var connection = HTTP1Connection()
    var frame: FrameNumber = 0
    var clientOffset: UInt64 = 0
    var serverOffset: UInt64 = 0

    mutating func client(_ bytes: [UInt8], cuts: [Int] = []) {
        for piece in Self.pieces(bytes, cuts: cuts) {
            self.frame += 1
            piece.withUnsafeBytes { raw in
                self.connection.feed(raw, direction: .client, at: self.clientOffset, frame: self.frame, frameOffset: 66,
                                     time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            self.clientOffset += UInt64(piece.count)
        }
    }

    mutating func server(_ bytes: [UInt8], cuts: [Int] = []) {
        for piece in Self.pieces(bytes, cuts: cuts) {
            self.frame += 1
            piece.withUnsafeBytes { raw in
                self.connection.feed(raw, direction: .server, at: self.serverOffset, frame: self.frame, frameOffset: 66,
                                     time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            self.serverOffset += UInt64(piece.count)
        }
    }

    mutating func serverGap(_ length: UInt64) {
        self.connection.gap(self.serverOffset..<(self.serverOffset + length), direction: .server, frame: nil, truncated: false)
        self.serverOffset += length
    }

    static func pieces(_ bytes: [UInt8], cuts: [Int]) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts.sorted() where cut > start && cut < bytes.count {
            pieces.append(Array(bytes[start..<cut]))
            start = cut
        }
        pieces.append(Array(bytes[start...]))
        return pieces
    }

    /// Code, stream offset, severity and direction of each finding: what must not depend on the split.
    var summary: [String] {
        self.connection.findings.map { finding in
            let evidence = finding.evidence.first
            return "\(finding.code)@\(evidence?.streamOffset ?? 999_999)/\(finding.severity.rawValue)/\(evidence?.direction.name ?? "-")"
        }
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

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
