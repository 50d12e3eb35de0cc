import CaptureModel

/// Bytes of one direction copied out of the stream (a response head, a chunk-size line), with
/// the frame each run of them came from, so a finding can name the frame of any byte.
struct ByteRun {
    /// Who sent them.
    let direction: Direction
    /// The bytes.
    private(set) var bytes: [UInt8] = []
    /// Stream offset of `bytes[0]`.
    private(set) var start: UInt64 = 0
    private var marks: [(offset: UInt64, frame: FrameNumber, frameOffset: Int?)] = []

    /// An empty run. Storage comes with the first bytes, sized to them (and is kept when the
    /// run is reset): a connection that never sends a head holds none.
    init(direction: Direction) {
        self.direction = direction
    }

    var isEmpty: Bool { self.bytes.isEmpty }
    var count: Int { self.bytes.count }
    /// Stream offset just past the last byte.
    var end: UInt64 { self.start &+ UInt64(self.bytes.count) }

    /// Appends `chunk`, which starts at stream offset `offset` in `frame`.
    mutating func append(_ chunk: UnsafeRawBufferPointer, offset: UInt64, frame: FrameNumber, frameOffset: Int?) {
        if self.bytes.isEmpty {
            self.start = offset
            self.marks.removeAll(keepingCapacity: true)
        }
        self.marks.append((offset, frame, frameOffset))
        self.bytes.append(contentsOf: chunk)
    }

    /// Empties the run, keeping its storage.
    mutating func reset() {
        self.bytes.removeAll(keepingCapacity: true)
        self.marks.removeAll(keepingCapacity: true)
    }

    /// Drops the first `count` bytes (consumed), keeping the marks that still apply.
    mutating func removeFirst(_ count: Int) {
        guard count > 0 else { return }
        self.bytes.removeFirst(count)
        self.start &+= UInt64(count)
        while self.marks.count > 1, self.marks[1].offset <= self.start {
            self.marks.removeFirst()
        }
    }

    /// The frame and offset in frame of the byte at `index`.
    func location(of index: Int) -> (frame: FrameNumber?, frameOffset: Int?) {
        let offset = self.start &+ UInt64(index)
        var found: (offset: UInt64, frame: FrameNumber, frameOffset: Int?)?
        for mark in self.marks {
            if mark.offset <= offset { found = mark } else { break }
        }
        guard let found else { return (nil, nil) }
        return (found.frame, found.frameOffset.map { $0 + Int(offset &- found.offset) })
    }

    /// Whether evidence masks the values of credential fields (see `Redaction`).
    var redactsSecrets = true

    /// Evidence for `length` bytes at `index`, with up to 24 bytes of context each side.
    func evidence(at index: Int, length: Int, note: String) -> Evidence {
        let index = max(0, min(index, self.bytes.count))
        let length = max(0, min(length, self.bytes.count - index))
        let location = self.location(of: index)
        let shown = min(length, 64)
        let contextStart = max(0, index - 24)
        let contextEnd = min(self.bytes.count, index + shown + 24)
        let visible = self.redactsSecrets ? Redaction.masked(self.bytes) : self.bytes
        return Evidence(
            direction: self.direction, streamOffset: self.start &+ UInt64(index), frame: location.frame,
            frameOffset: location.frameOffset, length: UInt64(length),
            bytes: Array(visible[index..<(index + shown)]), context: Array(visible[contextStart..<contextEnd]),
            contextOffset: self.start &+ UInt64(contextStart), note: note)
    }
}

/// One in-place chunk being fed: the bytes and where they sit, for evidence about body bytes.
struct FeedWindow {
    let direction: Direction
    let bytes: UnsafeRawBufferPointer
    let offset: UInt64
    let frame: FrameNumber
    let frameOffset: Int?

    func evidence(at index: Int, length: Int, note: String) -> Evidence {
        let index = max(0, min(index, self.bytes.count))
        let shown = min(max(0, min(length, self.bytes.count - index)), 64)
        let contextStart = max(0, index - 24)
        let contextEnd = min(self.bytes.count, index + shown + 24)
        return Evidence(
            direction: self.direction, streamOffset: self.offset &+ UInt64(index), frame: self.frame,
            frameOffset: self.frameOffset.map { $0 + index }, length: UInt64(length),
            bytes: Array(self.bytes[index..<(index + shown)]), context: Array(self.bytes[contextStart..<contextEnd]),
            contextOffset: self.offset &+ UInt64(contextStart), note: note)
    }
}
