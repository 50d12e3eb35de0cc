import CaptureModel

#if canImport(Glibc)
import Glibc
#endif

/// Reads a fuzzer's input as a little program: integers, flags and byte runs. Reads past the
/// end return zeros and empty runs, so every input is a valid program.
public struct FuzzReader {
    public let bytes: [UInt8]
    public private(set) var index = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ data: UnsafePointer<UInt8>, _ size: Int) {
        self.bytes = Array(UnsafeBufferPointer(start: data, count: size))
    }

    public var isAtEnd: Bool { self.index >= self.bytes.count }
    public var remaining: Int { max(0, self.bytes.count - self.index) }

    public mutating func u8() -> UInt8 {
        guard self.index < self.bytes.count else { return 0 }
        defer { self.index += 1 }
        return self.bytes[self.index]
    }

    public mutating func u16() -> UInt16 { UInt16(self.u8()) << 8 | UInt16(self.u8()) }
    public mutating func u32() -> UInt32 { UInt32(self.u16()) << 16 | UInt32(self.u16()) }
    public mutating func u64() -> UInt64 { UInt64(self.u32()) << 32 | UInt64(self.u32()) }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func take(_ count: Int) -> [UInt8] {
        let end = min(self.bytes.count, self.index + max(0, count))
        defer { self.index = end }
        return Array(self.bytes[min(self.index, end)..<end])
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] { self.take(self.remaining) }
}

/// A small deterministic generator (SplitMix64), so split points follow from a seed in the
/// input rather than from the bytes being split.
public struct SplitMix {
    public var state: UInt64
    public init(seed: UInt64) { self.state = seed }
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A number in `0..<bound` (0 when `bound` is 0).
    public mutating func below(_ bound: Int) -> Int {
        bound <= 0 ? 0 : Int(self.next() % UInt64(bound))
    }
}

/// Traps (a libFuzzer crash, with the input saved) when an invariant does not hold.
@inline(never)
public func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() {
        let text = "edgescope-fuzz: invariant broken at \(file):\(line): \(message())\n"
        var bytes = Array(text.utf8)
        _ = write(2, &bytes, bytes.count)
        abort()
    }
}

/// One piece of a direction's stream, as the targets feed it: the bytes `start..<end` of
/// `direction`, carried by `frame` at offset `frameOffset + (start - frameStart)`.
public struct Piece: Equatable {
    public var direction: Direction
    public var start: Int
    public var end: Int
    public var frame: FrameNumber
    public var frameStart: Int
    public var time: Timestamp
    /// Where the frame's payload starts in the frame (as a TCP/IPv4/Ethernet frame's would).
    public static let payloadOffset = 66
    public var frameOffset: Int { Piece.payloadOffset + (self.start - self.frameStart) }
}

/// How two streams are cut into frames, interleaved, and how each frame is cut again into
/// the pieces a reassembler might hand on. Feeding `frames` and feeding `pieces` must give the
/// same findings, evidence (offsets, frames, frame offsets) and state: the split test.
public struct SplitPlan {
    public var frames: [Piece] = []
    public var pieces: [Piece] = []

    /// Cuts `clientCount` and `serverCount` bytes into frames of at most `maximumFrame` bytes
    /// (sizes drawn from `random`), interleaved at random, each frame then cut at up to three points.
    public init(clientCount: Int, serverCount: Int, random: inout SplitMix, maximumFrame: Int = 1500) {
        var cuts: [Direction: [(Int, Int)]] = [:]
        for (direction, count) in [(Direction.client, clientCount), (.server, serverCount)] {
            var runs: [(Int, Int)] = []
            var start = 0
            while start < count {
                // Mostly small frames (they hit more boundaries), sometimes big ones.
                let size = random.below(4) == 0 ? 1 + random.below(maximumFrame) : 1 + random.below(24)
                let end = min(count, start + size)
                runs.append((start, end))
                start = end
            }
            cuts[direction] = runs
        }
        var client = cuts[.client]![...]
        var server = cuts[.server]![...]
        var number: FrameNumber = 0
        while !client.isEmpty || !server.isEmpty {
            // Client first more often, as a gateway sends its request first.
            let takeClient = server.isEmpty || (!client.isEmpty && random.below(3) != 0)
            let direction: Direction = takeClient ? .client : .server
            let (start, end) = takeClient ? client.removeFirst() : server.removeFirst()
            number += 1
            let frame = Piece(direction: direction, start: start, end: end, frame: number, frameStart: start,
                              time: Timestamp(nanoseconds: 1_700_000_000_000_000_000 + Int64(number) * 1000))
            self.frames.append(frame)
            var points = (0..<random.below(4)).map { _ in start + random.below(end - start) }.filter { $0 > start }
            points = Array(Set(points)).sorted()
            var from = start
            for point in points + [end] {
                var piece = frame
                piece.start = from
                piece.end = point
                self.pieces.append(piece)
                from = point
            }
        }
    }

    /// The frame carrying stream byte `offset` of `direction`, if any.
    public func frame(of direction: Direction, containing offset: Int) -> Piece? {
        self.frames.first { $0.direction == direction && $0.start <= offset && offset < $0.end }
    }
}

/// Checks one piece of evidence against the streams it came from: its first byte lies in the
/// frame it names, at the offset it names, its bytes are the stream's (or the redaction mask),
/// and it ends within the bytes fed.
public func checkEvidence(
    _ evidence: Evidence, streams: [Direction: [UInt8]], plan: SplitPlan, gapAllowed: Bool = false, context: String
) {
    let stream = streams[evidence.direction] ?? []
    require(evidence.streamOffset <= UInt64(stream.count) || gapAllowed, "\(context): evidence starts at \(evidence.streamOffset), past the \(stream.count) bytes fed: \(evidence)")
    if let frame = evidence.frame, let frameOffset = evidence.frameOffset, evidence.streamOffset < UInt64(stream.count) {
        let carrying = plan.frame(of: evidence.direction, containing: Int(evidence.streamOffset))
        require(carrying?.frame == frame, "\(context): evidence at stream offset \(evidence.streamOffset) names frame \(frame), but frame \(carrying.map { String($0.frame) } ?? "none") carries that byte: \(evidence)")
        if let carrying {
            let expected = Piece.payloadOffset + Int(evidence.streamOffset) - carrying.frameStart
            require(frameOffset == expected, "\(context): evidence frame offset \(frameOffset), expected \(expected): \(evidence)")
        }
    }
    if !evidence.bytes.isEmpty, evidence.streamOffset < UInt64(stream.count) {
        let start = Int(evidence.streamOffset)
        let end = start + evidence.bytes.count
        require(end <= stream.count, "\(context): evidence bytes run past the \(stream.count) bytes fed: \(evidence)")
        for (index, byte) in evidence.bytes.enumerated() where byte != stream[start + index] && byte != UInt8(ascii: "*") {
            require(false, "\(context): evidence byte \(index) is \(byte), the stream has \(stream[start + index]): \(evidence)")
        }
    }
}

/// A finding as the split test compares it: code, severity, value, and each evidence's
/// direction, stream offset, length, frame and frame offset. The bytes shown and the context
/// around them are what the parser held when it found the problem, so they may be shorter
/// when the stream was cut finer; `checkEvidence` checks they are the stream's bytes.
public func describe(_ finding: Finding) -> String {
    var text = "\(finding.code) \(finding.severity.rawValue) value=\(finding.value ?? "-")"
    for evidence in finding.evidence {
        text += " [\(evidence.direction.name) @\(evidence.streamOffset)+\(evidence.length) frame=\(evidence.frame.map(String.init) ?? "-")"
        text += "/\(evidence.frameOffset.map(String.init) ?? "-")]"
    }
    return text
}

extension SplitPlan {
    /// A server-stream offset where a frame starts (or the end), so a gap put there comes
    /// between the same two feeds whether frames are fed whole or in pieces.
    public func serverFrameBoundary(_ random: inout SplitMix, serverCount: Int) -> Int {
        let starts = self.frames.filter { $0.direction == .server }.map(\.start) + [serverCount]
        return starts[random.below(starts.count)]
    }
}
