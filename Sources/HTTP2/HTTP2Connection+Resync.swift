import CaptureModel

// After a gap that took a frame boundary: the bytes that follow are held, in the chunks they came
// in, until a frame boundary is proven at the start of one of the capture frames (packets) among
// them, then read again from there. The HPACK state stays lost: header blocks after the gap are
// not judged (`uncheckedGaps` says so), and what the lost frames may have said (a response head, a
// stream the gateway opened, a window it granted) is not held against the frames that follow.
extension HTTP2Connection {
    /// One direction's bytes held after a gap took its framing.
    struct Resync {
        struct Chunk {
            var bytes: [UInt8]
            var offset: UInt64
            var frame: FrameNumber
            var frameOffset: Int?
            var time: Timestamp
        }

        var chunks: [Chunk] = []
        /// Bytes held in `chunks`.
        var held = 0

        /// The most bytes held while no boundary is proven: past it the oldest packets are let go.
        static let byteLimit = 1 << 20
        /// The most packet starts tried as a frame boundary at once.
        static let candidateLimit = 64
        /// The most frame headers a proof walks: a longer run is proof enough.
        static let walkLimit = 256
    }

    /// In-order bytes of `direction`, whose framing a gap took: held, and read again from the
    /// first packet start proven to be a frame boundary.
    mutating func resync(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        var state = self.takeResync(direction)
        // A new packet: the ones held are whole, so a run of frames ending with them can be judged.
        if let last = state.chunks.last, last.frame != frame, let start = self.provenStart(state, direction: direction) {
            let replay = Array(state.chunks[start...])
            self.resume(direction, at: replay[0])
            for chunk in replay {
                chunk.bytes.withUnsafeBytes {
                    self.feed($0, direction: direction, at: chunk.offset, frame: chunk.frame, frameOffset: chunk.frameOffset, time: chunk.time)
                }
            }
            self.feed(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
            return
        }
        state.chunks.append(Resync.Chunk(bytes: Array(bytes), offset: offset, frame: frame, frameOffset: frameOffset, time: time))
        state.held += bytes.count
        Self.trim(&state)
        if direction == .client { self.gatewayResync = state } else { self.upstreamResync = state }
    }

    /// The end of the capture (or a gap) after held bytes: they end with a whole packet, so a run
    /// of frames that ends with them is proven; read again from there. Returns whether it was.
    @discardableResult
    mutating func resyncAtEnd(_ direction: Direction) -> Bool {
        var state = self.takeResync(direction)
        guard let start = self.provenStart(state, direction: direction) else { return false }
        let replay = Array(state.chunks[start...])
        self.resume(direction, at: replay[0])
        for chunk in replay {
            chunk.bytes.withUnsafeBytes {
                self.feed($0, direction: direction, at: chunk.offset, frame: chunk.frame, frameOffset: chunk.frameOffset, time: chunk.time)
            }
        }
        return true
    }

    /// The held bytes of `direction`, moved out (an empty `Resync` left in their place).
    private mutating func takeResync(_ direction: Direction) -> Resync {
        var state = Resync()
        if direction == .client { swap(&state, &self.gatewayResync) } else { swap(&state, &self.upstreamResync) }
        return state
    }

    /// Keeps at most `byteLimit` bytes and `candidateLimit` packet starts, letting go of the oldest
    /// packets whole.
    private static func trim(_ state: inout Resync) {
        var starts = 0
        var first = state.chunks.count
        for index in state.chunks.indices.reversed() where index == 0 || state.chunks[index - 1].frame != state.chunks[index].frame {
            starts += 1
            first = index
            if starts == Resync.candidateLimit { break }
        }
        var drop = first
        var held = state.held - state.chunks[..<first].reduce(0) { $0 + $1.bytes.count }
        while held > Resync.byteLimit, drop < state.chunks.count - 1 {
            held -= state.chunks[drop].bytes.count
            drop += 1
        }
        // Never cut a packet in two: the first kept chunk starts one.
        while drop > 0, drop < state.chunks.count, state.chunks[drop - 1].frame == state.chunks[drop].frame {
            held += state.chunks[drop - 1].bytes.count
            drop -= 1
        }
        if drop > 0 {
            state.chunks.removeFirst(drop)
            state.held = held
        }
    }

    /// The index of the first held chunk that starts a packet from which frame headers chain,
    /// each plausible, to exactly the end of the held bytes (a packet's end); nil when none does.
    private func provenStart(_ state: Resync, direction: Direction) -> Int? {
        guard !state.chunks.isEmpty else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(state.held)
        var starts: [(chunk: Int, at: Int)] = []
        for (index, chunk) in state.chunks.enumerated() {
            if index == 0 || state.chunks[index - 1].frame != chunk.frame { starts.append((index, bytes.count)) }
            bytes += chunk.bytes
        }
        for start in starts where self.framesChain(bytes, from: start.at, direction: direction) {
            return start.chunk
        }
        return nil
    }

    /// Whether plausible frame headers (`isPlausibleHeader`) chain from `start` to exactly the end
    /// of `bytes`.
    private func framesChain(_ bytes: [UInt8], from start: Int, direction: Direction) -> Bool {
        var at = start
        var walked = 0
        while at + HTTP2Wire.frameHeaderLength <= bytes.count, walked < Resync.walkLimit {
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            let streamWord = UInt32(bytes[at + 5]) << 24 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 8 | UInt32(bytes[at + 8])
            guard self.isPlausibleHeader(length: length, type: bytes[at + 3], flags: bytes[at + 4], streamWord: streamWord, direction: direction)
            else { return false }
            at += HTTP2Wire.frameHeaderLength + length
            walked += 1
            if at == bytes.count { return true }
        }
        return walked == Resync.walkLimit && at <= bytes.count
    }

    /// Whether 9 bytes can be a frame header `direction` sends (RFC 9113 §4.1, §6): a known type,
    /// only the flags it defines, the reserved bit clear, a stream id its type allows (odd: the
    /// gateway opens the streams), a length within the receiver's maximum and its type's size.
    private func isPlausibleHeader(length: Int, type: UInt8, flags: UInt8, streamWord: UInt32, direction: Direction) -> Bool {
        guard streamWord & 0x8000_0000 == 0 else { return false }
        let stream = streamWord
        let maximum = direction == .server ? self.gatewayMaxFrameSize : 1 << 20
        guard length <= maximum, HTTP2Wire.sizeFault(type: type, flags: flags, length: length) == nil else { return false }
        let allowedFlags: UInt8
        let onStream: Bool?  // true: a stream's; false: stream 0's; nil: either
        switch type {
        case HTTP2Wire.data: (allowedFlags, onStream) = (HTTP2Wire.endStream | HTTP2Wire.padded, true)
        case HTTP2Wire.headers:
            (allowedFlags, onStream) = (HTTP2Wire.endStream | HTTP2Wire.endHeaders | HTTP2Wire.padded | HTTP2Wire.priorityFlag, true)
        case HTTP2Wire.priority, HTTP2Wire.rstStream: (allowedFlags, onStream) = (0, true)
        case HTTP2Wire.settings, HTTP2Wire.ping: (allowedFlags, onStream) = (HTTP2Wire.ack, false)
        case HTTP2Wire.pushPromise: (allowedFlags, onStream) = (HTTP2Wire.endHeaders | HTTP2Wire.padded, true)
        case HTTP2Wire.goaway: (allowedFlags, onStream) = (0, false)
        case HTTP2Wire.windowUpdate: (allowedFlags, onStream) = (0, nil)
        case HTTP2Wire.continuation: (allowedFlags, onStream) = (HTTP2Wire.endHeaders, true)
        default: return false
        }
        guard flags & ~allowedFlags == 0 else { return false }
        switch onStream {
        case true?: return stream & 1 == 1
        case false?: return stream == 0
        case nil: return stream == 0 || stream & 1 == 1
        }
    }

    /// Frames of `direction` are read again from `chunk`'s first byte, a proven frame boundary;
    /// header blocks stay unjudged (the HPACK state is lost).
    private mutating func resume(_ direction: Direction, at chunk: Resync.Chunk) {
        // RFC 7541 §4.2: with SETTINGS_HEADER_TABLE_SIZE 0 from the gateway (nginx) the upstream's
        // dynamic table holds nothing, so there is no HPACK state to lose.
        let tableless = direction == .server && self.gatewayHeaderTableSize == 0
        func restart(_ reader: inout Reader) {
            reader.phase = .header
            reader.have = 0
            reader.position = chunk.offset
            reader.blockOpen = false
            reader.block.removeAll()
            reader.hpackLost = !tableless
            if tableless { reader.decoder = nil }
        }
        if direction == .client { restart(&self.gateway) } else { restart(&self.upstream) }
        guard direction == .server else { return }
        // A response head may have been in the lost bytes: DATA without one is not h2.status.missing.
        for id in self.streams.keys where self.streams[id]!.finalStatus == nil { self.streams[id]!.headUnknown = true }
        if let last = self.uncheckedGaps.indices.last, self.uncheckedGaps[last].direction == .server {
            let blocks = tableless
                ? "header blocks are judged again: the gateway's SETTINGS_HEADER_TABLE_SIZE 0 leaves the upstream no HPACK state to lose"
                : "header blocks still are not judged"
            self.uncheckedGaps[last].note += "; frames are read again from stream offset \(chunk.offset) (frame \(chunk.frame)), where a run of frame headers chains to a packet's end (\(blocks))"
        }
    }
}
