import CaptureModel
import HTTP1
import NIOHPACK

/// Both directions of one HTTP/2 connection on the gateway-to-upstream hop (RFC 9113): frames,
/// HPACK, streams, and the upstream's responses judged per §8. Fed reassembled chunks of any
/// size, split anywhere (a frame header too), with gaps; returns findings as values and performs
/// no I/O.
///
/// The gateway's side is read for what judging the upstream needs: the settings it advertised
/// (SETTINGS_MAX_FRAME_SIZE, SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE), the
/// windows it opened (WINDOW_UPDATE), its requests (HEADERS: `:method`, `:path`, `:authority`)
/// and the streams it reset itself. The upstream's side is judged: every stream is a transaction
/// with its own findings (`h2.*`, `grpc.status.*`); DATA payloads are skipped by length, only a
/// gRPC message's 5-byte prefix is read.
///
/// A gap inside a frame's payload keeps the framing (the next header is where the length said);
/// a gap that reaches a frame header loses it, and the direction is read again from the first
/// packet start after it where plausible frame headers chain to a packet's end
/// (`HTTP2Connection+Resync.swift`). A gap in a header block, or across a frame boundary, loses
/// the direction's HPACK state: header blocks after it are not judged (`uncheckedGaps` says so).
public struct HTTP2Connection {
    /// Every finding, in the order found (each direction in stream order).
    public internal(set) var findings: [Finding] = []
    /// Gaps in the upstream's stream that hid bytes a check needed, in stream order.
    public internal(set) var uncheckedGaps: [Evidence] = []
    /// Streams finished, oldest first (at most `transactionLimit`; see `transactionsDropped`).
    public internal(set) var transactions: [Transaction] = []
    /// Streams finished but not kept.
    public internal(set) var transactionsDropped = 0
    /// Streams finished since the last `clearFinishedTransactions()`.
    public internal(set) var finishedTransactions: [Transaction] = []
    /// The first well-formed 5xx `:status` the upstream sent.
    public internal(set) var upstream5xx: (status: Int, evidence: Evidence)?

    /// Transactions kept, as HTTP/1 keeps them.
    public static let transactionLimit = 1000

    var gateway = Reader(direction: .client)
    var upstream = Reader(direction: .server)
    /// Open streams by id. A stream the gateway opened is removed once both sides closed it or
    /// either reset it; an id at or below `highestStream` that is not here is closed (§5.1.1).
    var streams: [UInt32: H2Stream] = [:]
    /// Streams a fatal finding ended (the gateway gave up on them there): their transactions are
    /// handed on at once, and later frames on them are not judged again.
    var deadStreams: Set<UInt32> = []
    /// The highest stream id the gateway opened.
    var highestStream: UInt32 = 0
    /// Streams the upstream finished (END_STREAM on a final response).
    var responsesCompleted = 0
    var requestsSeen = 0

    // What the gateway advertised (RFC 9113 §6.5.2), which the upstream's frames are judged against.
    var gatewayMaxFrameSize = HTTP2Wire.defaultMaxFrameSize
    var gatewayHeaderTableSize = HTTP2Wire.defaultHeaderTableSize
    var gatewayInitialWindow = HTTP2Wire.defaultWindow
    /// Whether the gateway sent its SETTINGS (its table size then governs the upstream's encoder).
    var gatewaySettingsSeen = false
    /// SETTINGS_ENABLE_PUSH as the gateway last set it (§6.5.2: 1 until it says otherwise).
    var gatewayPushEnabled = true
    /// What the upstream may still send on the connection (§6.9): the gateway's grants less DATA.
    var connectionWindow = HTTP2Wire.defaultWindow
    /// The GOAWAY the upstream sent, if any: its last stream id.
    var upstreamGoaway: UInt32?
    /// The table size the gateway's HEADERS are decoded with: the larger of the default and what
    /// the upstream advertised before the gateway's first header block.
    var gatewayTableSize = HTTP2Wire.defaultHeaderTableSize
    /// Whether the upstream's first frame was looked at (§3.4: it must be SETTINGS).
    var upstreamFirstFrameSeen = false
    /// Bytes held after a gap took a direction's framing, until a frame boundary is proven.
    var gatewayResync = Resync()
    var upstreamResync = Resync()
    /// Whether a gap took frames of the gateway's: a stream it opened there is unknown, so a
    /// frame on a stream not known is not `h2.stream.closed`.
    var gatewayFramingLost = false
    /// Whether a gap took frames (DATA, WINDOW_UPDATE, SETTINGS) that the windows count: flow
    /// control is not judged after it.
    var windowsUnknown = false

    /// A connection with nothing seen.
    public init() {}

    /// Feeds in-order bytes of one direction, starting at stream `offset`, whose first byte came
    /// from `frame` at `frameOffset` (nil when rebuilt from IP fragments).
    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        switch direction {
        case .client:
            // The gateway's stream opens with the 24-byte preface (§3.4), not a frame.
            var start = 0
            if offset < 24 {
                start = Int(min(UInt64(bytes.count), 24 - offset))
                if start == bytes.count { return }
            }
            self.read(UnsafeRawBufferPointer(rebasing: bytes[start...]), direction: .client, at: offset + UInt64(start), frame: frame,
                frameOffset: frameOffset.map { $0 + start }, time: time)
        case .server:
            self.read(bytes, direction: .server, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        }
    }

    /// Bytes of one direction that the capture lacks (`truncated`: cut by the snap length).
    public mutating func gap(_ range: Range<UInt64>, direction: Direction, frame: FrameNumber?, truncated: Bool) {
        if (direction == .client ? self.gateway.phase : self.upstream.phase) == .resync, !self.resyncAtEnd(direction) {
            // What was held before another gap cannot start a run of frames that goes past it.
            if direction == .client { self.gatewayResync = Resync() } else { self.upstreamResync = Resync() }
            return
        }
        let length = range.upperBound - range.lowerBound
        var reader = self.takeReader(direction)
        defer { self.putReader(&reader) }
        reader.position = range.upperBound
        guard length > 0 else { return }
        let why = truncated ? "bytes the snap length cut" : "bytes the capture lacks"
        switch reader.phase {
        case .payload where UInt64(reader.remaining) >= length && range.lowerBound >= 24:
            // Inside one frame's payload: the next header is still where the length said.
            reader.remaining -= Int(length)
            reader.payloadLost = true
            if reader.type == HTTP2Wire.data {
                if let id = Optional(reader.stream), self.streams[id] != nil { self.streams[id]!.bodyUnchecked = true }
                if reader.dataPadPending { reader.dataPadPending = false }
                reader.dataContent = max(0, reader.dataContent - Int(length))
            }
            if reader.isHeaderBlockFrame {
                reader.hpackLost = true
                if direction == .server {
                    self.uncheckedGaps.append(Evidence(
                        direction: .server, streamOffset: range.lowerBound, frame: frame, frameOffset: nil, length: length,
                        note: "\(why) inside a \(HTTP2Wire.typeName(reader.type)) frame's header block: the HPACK state is lost, so no header block after it is judged",
                        streamID: reader.stream == 0 ? nil : reader.stream))
                }
            }
            if reader.remaining == 0 { self.endFrame(&reader) }
        case .lost, .resync:
            break
        case .header, .payload:
            if direction == .client, range.upperBound <= 24 { return }  // inside the preface
            reader.phase = .resync
            reader.hpackLost = true
            reader.blockOpen = false
            self.windowsUnknown = true
            switch direction {
            case .client:
                self.gatewayFramingLost = true
            case .server:
                // Whatever the lost frames were, the first one is behind.
                self.upstreamFirstFrameSeen = true
                for id in self.streams.keys { self.streams[id]!.bodyUnchecked = true }
                self.uncheckedGaps.append(Evidence(
                    direction: .server, streamOffset: range.lowerBound, frame: frame, frameOffset: nil, length: length,
                    note: "\(why) across a frame boundary: the framing and the HPACK state are lost, so no header block after it is judged, and frames are read again only from a frame boundary proven after it"))
            }
        }
    }

    /// The connection's first FIN or RST: nothing more of either side will be framed.
    public mutating func ended() {}

    /// Nothing more will come: streams still open become transactions, in stream id order.
    public mutating func finish() {
        // The capture's end closes the last packet held: a run of frames ending there is proven.
        if self.gateway.phase == .resync { self.resyncAtEnd(.client) }
        if self.upstream.phase == .resync { self.resyncAtEnd(.server) }
        for id in self.streams.keys.sorted() { self.retire(id) }
    }

    /// Where the upstream's answer stood: the lowest open stream that has no complete response
    /// decides (no response byte yet: `idle` with it outstanding; inside its header block:
    /// `midHead`; inside its DATA: `midBody`).
    public var responseEnd: ResponseEnd {
        let open = self.streams.values.filter { $0.request != nil && !$0.upstreamClosed && !$0.gatewayReset && !$0.broken }
            .min { $0.id < $1.id }
        guard let stream = open else {
            return ResponseEnd(
                state: .idle, inProgress: nil, inProgressRequest: nil, outstanding: nil, responsesCompleted: self.responsesCompleted,
                requestsSeen: self.requestsSeen)
        }
        let state: ResponseEnd.State
        if stream.finalStatus != nil {
            state = .midBody(framing: .http2Frames, received: stream.dataReceived, expected: stream.contentLength)
        } else if (self.upstream.blockOpen && self.upstream.blockStream == stream.id)
            || (self.upstream.phase == .payload && self.upstream.stream == stream.id && self.upstream.isHeaderBlockFrame) {
            state = .midHead(bytes: self.upstream.block.count + HTTP2Wire.frameHeaderLength)
        } else if stream.response != nil {
            state = .midBody(framing: .http2Frames, received: stream.dataReceived, expected: stream.contentLength)
        } else {
            state = .idle
        }
        let outstanding = stream.response == nil ? stream.request : nil
        var end = ResponseEnd(
            state: state, inProgress: stream.response, inProgressRequest: stream.response == nil ? nil : stream.request,
            outstanding: outstanding, responsesCompleted: self.responsesCompleted, requestsSeen: self.requestsSeen)
        end.streamID = stream.id
        return end
    }

    /// Forgets `finishedTransactions` (they were handed on).
    public mutating func clearFinishedTransactions() {
        self.finishedTransactions.removeAll(keepingCapacity: true)
    }

    // MARK: Frames

    /// One direction's framing: a frame header (possibly split across segments), then its payload,
    /// kept only for frames whose payload is read (everything but DATA).
    struct Reader {
        enum Phase: Equatable {
            case header
            case payload
            /// Nothing more is framed (after a frame larger than the gateway allowed).
            case lost
            /// A gap took a frame boundary: bytes are held until a frame boundary is proven
            /// (`HTTP2Connection+Resync.swift`).
            case resync
        }

        let direction: Direction
        var phase = Phase.header
        /// The stream offset of the next byte expected.
        var position: UInt64 = 0
        /// Header bytes read of the current frame.
        var have = 0
        var length = 0
        var type: UInt8 = 0
        var flags: UInt8 = 0
        /// The stream id with its reserved bit (§4.1).
        var streamWord: UInt32 = 0
        var stream: UInt32 { self.streamWord & 0x7fff_ffff }
        /// Where the current frame's header began.
        var start = Mark(offset: 0, frame: 0, frameOffset: nil, time: .zero)
        /// Payload bytes still to come.
        var remaining = 0
        /// Whether the payload is being kept in `payload`.
        var collecting = false
        var payload: [UInt8] = []
        /// Whether a gap took part of the current payload.
        var payloadLost = false
        /// DATA: whether the pad-length byte is still to come, and how much content follows.
        var dataPadPending = false
        var dataContent = 0
        /// Frames read.
        var frames = 0

        // A header block (HEADERS or PUSH_PROMISE, then CONTINUATION) in progress.
        var block: [UInt8] = []
        /// Whether a header block waits for its CONTINUATION frames.
        var blockOpen = false
        /// The stream of the header block last begun.
        var blockStream: UInt32 = 0
        var blockStart = Mark(offset: 0, frame: 0, frameOffset: nil, time: .zero)
        var blockFirstLength = 0
        var blockEndStream = false
        var blockIsPush = false
        /// The first bytes of the block's first frame (header and payload), for evidence.
        var blockEvidence: [UInt8] = []
        /// HPACK state: lost after a gap or a decoding error (§4.3: a connection error).
        var hpackLost = false
        var decoder: HPACKDecoder?

        init(direction: Direction) {
            self.direction = direction
        }

        var isHeaderBlockFrame: Bool {
            self.type == HTTP2Wire.headers || self.type == HTTP2Wire.continuation || self.type == HTTP2Wire.pushPromise
        }

        /// The current frame's header as it came on the wire.
        var headerBytes: [UInt8] {
            [
                UInt8(truncatingIfNeeded: self.length >> 16), UInt8(truncatingIfNeeded: self.length >> 8),
                UInt8(truncatingIfNeeded: self.length), self.type, self.flags,
                UInt8(truncatingIfNeeded: self.streamWord >> 24), UInt8(truncatingIfNeeded: self.streamWord >> 16),
                UInt8(truncatingIfNeeded: self.streamWord >> 8), UInt8(truncatingIfNeeded: self.streamWord),
            ]
        }
    }

    /// Where a frame began: its stream offset, and the capture frame and time of its first byte.
    struct Mark {
        var offset: UInt64
        var frame: FrameNumber
        var frameOffset: Int?
        var time: Timestamp
    }

    /// The reader of `direction`, moved out of `self` (an empty one left in its place) so that
    /// its buffers are uniquely held while it reads and appending copies nothing.
    private mutating func takeReader(_ direction: Direction) -> Reader {
        var reader = Reader(direction: direction)
        if direction == .client { swap(&reader, &self.gateway) } else { swap(&reader, &self.upstream) }
        return reader
    }

    private mutating func putReader(_ reader: inout Reader) {
        if reader.direction == .client { swap(&reader, &self.gateway) } else { swap(&reader, &self.upstream) }
    }

    private mutating func read(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        if (direction == .client ? self.gateway.phase : self.upstream.phase) == .resync {
            return self.resync(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        }
        var reader = self.takeReader(direction)
        defer { self.putReader(&reader) }
        if offset > reader.position { reader.position = offset }
        var index = 0
        let count = bytes.count
        while index < count {
            switch reader.phase {
            case .lost, .resync:
                reader.position = offset + UInt64(count)
                return
            case .header:
                if reader.have == 0 {
                    reader.start = Mark(
                        offset: offset + UInt64(index), frame: frame, frameOffset: frameOffset.map { $0 + index }, time: time)
                    reader.length = 0
                    reader.streamWord = 0
                }
                while reader.have < HTTP2Wire.frameHeaderLength, index < count {
                    let byte = bytes[index]
                    switch reader.have {
                    case 0, 1, 2: reader.length = reader.length << 8 | Int(byte)
                    case 3: reader.type = byte
                    case 4: reader.flags = byte
                    default: reader.streamWord = reader.streamWord << 8 | UInt32(byte)
                    }
                    reader.have += 1
                    index += 1
                }
                if reader.have == HTTP2Wire.frameHeaderLength {
                    reader.have = 0
                    self.beginFrame(&reader)
                }
            case .payload:
                let take = min(reader.remaining, count - index)
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[index..<index + take])
                if reader.collecting {
                    reader.payload.append(contentsOf: chunk)
                } else if reader.type == HTTP2Wire.data {
                    self.dataChunk(chunk, reader: &reader)
                }
                reader.remaining -= take
                index += take
                if reader.remaining == 0 { self.endFrame(&reader) }
            }
        }
        reader.position = offset + UInt64(count)
    }

    /// The header is read: checks that need only it, then reads or skips the payload.
    private mutating func beginFrame(_ reader: inout Reader) {
        reader.frames += 1
        reader.payloadLost = false
        reader.payload.removeAll(keepingCapacity: true)
        reader.remaining = reader.length
        reader.phase = .payload
        if reader.direction == .server {
            if !self.upstreamFirstFrameSeen {
                self.upstreamFirstFrameSeen = true
                // RFC 9113 §3.4: the server's preface is a SETTINGS frame (an HTTP/1 answer is
                // the probe's proto.h1_response_to_h2 and never reaches here).
                if reader.type != HTTP2Wire.settings || reader.flags & HTTP2Wire.ack != 0 {
                    self.report(
                        .h2PrefaceBad, reader: reader, streamID: reader.stream,
                        note: "a \(HTTP2Wire.typeName(reader.type)) frame as the upstream's first frame, where its connection preface must be a SETTINGS frame (RFC 9113 §3.4)",
                        value: HTTP2Wire.typeName(reader.type))
                }
            }
            // RFC 9113 §4.2: larger than the gateway's SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR.
            if reader.length > self.gatewayMaxFrameSize {
                self.report(
                    .h2FrameTooLarge, reader: reader, streamID: reader.stream,
                    note: "a \(reader.length)-byte \(HTTP2Wire.typeName(reader.type)) frame, over the \(self.gatewayMaxFrameSize) bytes of SETTINGS_MAX_FRAME_SIZE the gateway advertised (RFC 9113 §4.2)",
                    value: String(reader.length))
                reader.phase = .lost
                return
            }
        }
        // RFC 9113 §6.10: a header block goes on in CONTINUATION frames of its stream, nothing between.
        if reader.blockOpen, reader.type != HTTP2Wire.continuation || reader.stream != reader.blockStream {
            if reader.direction == .server {
                self.report(
                    .h2HPACKError, reader: reader, streamID: reader.blockStream,
                    note: "a \(HTTP2Wire.typeName(reader.type)) frame inside the header block of stream \(reader.blockStream), where only its CONTINUATION frames may come (RFC 9113 §6.10)",
                    value: HTTP2Wire.typeName(reader.type))
            }
            // §4.3: a connection error; the stream is dead whatever follows.
            self.kill(reader.blockStream, at: reader.start.time)
            reader.blockOpen = false
            reader.block.removeAll(keepingCapacity: true)
            reader.hpackLost = true
        } else if !reader.blockOpen, !reader.hpackLost, reader.type == HTTP2Wire.continuation, reader.direction == .server {
            self.report(
                .h2HPACKError, reader: reader, streamID: reader.stream,
                note: "a CONTINUATION frame with no header block open (RFC 9113 §6.10)", value: "CONTINUATION")
            reader.hpackLost = true
        }
        switch reader.type {
        case HTTP2Wire.data:
            reader.collecting = false
            reader.dataPadPending = reader.flags & HTTP2Wire.padded != 0
            reader.dataContent = reader.dataPadPending ? 0 : reader.length
            self.beginData(&reader)
        default:
            // Control frames are small; header blocks are kept up to 1 MiB a frame.
            reader.collecting = reader.length <= 1 << 20
        }
        if reader.remaining == 0 { self.endFrame(&reader) }
    }

    /// The payload is complete (or as complete as the capture has it).
    mutating func endFrame(_ reader: inout Reader) {
        reader.phase = .header
        reader.position = reader.start.offset + UInt64(HTTP2Wire.frameHeaderLength + reader.length)
        if reader.type == HTTP2Wire.data {
            self.endData(&reader)
            return
        }
        if reader.direction == .server, let fault = HTTP2Wire.sizeFault(type: reader.type, flags: reader.flags, length: reader.length) {
            self.frameSizeError(fault, reader: reader)
            return
        }
        if reader.direction == .server, reader.type == HTTP2Wire.pushPromise, !self.gatewayPushEnabled {
            self.unexpectedPushPromise(reader)
        }
        guard reader.collecting, !reader.payloadLost else {
            if reader.isHeaderBlockFrame {
                reader.hpackLost = true
                reader.blockOpen = false
            }
            return
        }
        switch reader.type {
        case HTTP2Wire.headers, HTTP2Wire.pushPromise, HTTP2Wire.continuation: self.headerBlockFrame(&reader)
        case HTTP2Wire.settings: self.settingsFrame(reader)
        case HTTP2Wire.rstStream: self.rstStreamFrame(reader)
        case HTTP2Wire.goaway: self.goawayFrame(reader)
        case HTTP2Wire.windowUpdate: self.windowUpdateFrame(reader)
        default: break  // PING, PRIORITY and extension frames change nothing judged here (§5.5)
        }
    }

    /// RFC 9113 §4.2: a control frame of the wrong length is a FRAME_SIZE_ERROR, a connection
    /// error for all but PRIORITY (§6.3: a stream error); its payload is not read. Named on the
    /// frame's stream, or (a frame of the connection) the first open stream it ended.
    private mutating func frameSizeError(_ fault: String, reader: Reader) {
        let ended = reader.type == HTTP2Wire.priority ? [reader.stream].filter { self.streams[$0] != nil } : self.openStreams()
        let id = reader.stream != 0 ? reader.stream : ended.first
        if let id, reader.stream != 0, self.streams[id] == nil, self.deadStreams.contains(id) { return }
        let scope = reader.type == HTTP2Wire.priority ? "a stream error" : "a connection error"
        self.report(
            .h2FrameSizeError, reader: reader, streamID: id,
            note: "a \(fault.replacing("length", with: "frame of")) bytes, the wrong size for its type: a FRAME_SIZE_ERROR, \(scope) (RFC 9113 §4.2, §6)",
            value: fault)
        for stream in ended { self.kill(stream, at: reader.start.time) }
    }

    /// RFC 9113 §8.4: a PUSH_PROMISE after the gateway sent SETTINGS_ENABLE_PUSH 0 is a
    /// connection error (PROTOCOL_ERROR). Its header block is still decoded, for HPACK's state.
    private mutating func unexpectedPushPromise(_ reader: Reader) {
        let promised = reader.payload.count >= 4 && reader.flags & HTTP2Wire.padded == 0
            ? UInt32(reader.payload[0] & 0x7f) << 24 | UInt32(reader.payload[1]) << 16 | UInt32(reader.payload[2]) << 8 | UInt32(reader.payload[3])
            : nil
        let ended = self.openStreams()
        self.report(
            .h2PushPromiseUnexpected, reader: reader, streamID: reader.stream != 0 ? reader.stream : ended.first,
            note: "a PUSH_PROMISE frame on stream \(reader.stream)\(promised.map { " promising stream \($0)" } ?? ""), though the gateway sent SETTINGS_ENABLE_PUSH 0: a connection error (RFC 9113 §6.5.2, §8.4)",
            value: promised.map { "promised stream \($0)" })
        for stream in ended { self.kill(stream, at: reader.start.time) }
    }

    /// The streams the gateway opened that are still waiting on the upstream, lowest first.
    func openStreams() -> [UInt32] {
        self.streams.values.filter { $0.request != nil && !$0.upstreamClosed && !$0.gatewayReset && !$0.broken }.map(\.id).sorted()
    }

    // MARK: Findings and transactions

    /// Evidence for the current frame of `reader`: its header and the first of its payload.
    func evidence(_ reader: Reader, streamID: UInt32?, note: String) -> Evidence {
        var bytes = reader.headerBytes
        bytes += reader.payload.prefix(55)
        return Evidence(
            direction: reader.direction, streamOffset: reader.start.offset, frame: reader.start.frame,
            frameOffset: reader.start.frameOffset, length: UInt64(HTTP2Wire.frameHeaderLength + reader.length), bytes: bytes,
            context: bytes, contextOffset: reader.start.offset, note: note, streamID: streamID == 0 ? nil : streamID)
    }

    mutating func report(_ code: FindingCode, reader: Reader, streamID: UInt32?, note: String, value: String?, severity: Severity? = nil) {
        self.report(code, evidence: self.evidence(reader, streamID: streamID, note: note), value: value, severity: severity)
    }

    mutating func report(_ code: FindingCode, evidence: Evidence, value: String?, severity: Severity? = nil) {
        if let id = evidence.streamID, self.streams[id] != nil {
            if self.streams[id]!.findings >= 4 { return }  // a broken stream says what broke it, not every frame after
            self.streams[id]!.findings += 1
        }
        self.findings.append(Finding(code: code, severity: severity ?? code.cause.entry.severity, evidence: [evidence], value: value))
    }

    /// A fatal finding ended stream `id` for the gateway: it becomes a transaction now.
    mutating func kill(_ id: UInt32, at time: Timestamp) {
        guard self.streams[id] != nil else { return }
        self.streams[id]!.broken = true
        self.streams[id]!.ended = time
        if self.deadStreams.count < 100_000 { self.deadStreams.insert(id) }
        self.retire(id)
    }

    /// Closes the books on stream `id`: it becomes a transaction.
    mutating func retire(_ id: UInt32) {
        guard let stream = self.streams.removeValue(forKey: id) else { return }
        var transaction = Transaction(stream: id, request: stream.request, response: stream.response, ended: stream.ended)
        transaction.resetCode = stream.resetCode
        transaction.grpcStatus = stream.grpcStatus
        if self.transactions.count < Self.transactionLimit {
            self.transactions.append(transaction)
        } else {
            self.transactionsDropped += 1
        }
        if self.finishedTransactions.count < Self.transactionLimit { self.finishedTransactions.append(transaction) }
    }
}

/// One stream the gateway opened, as far as judging the upstream's answer needs it.
struct H2Stream {
    let id: UInt32
    var request: RequestInfo?
    var response: ResponseInfo?
    /// The final (non-1xx) `:status`, once its head was read.
    var finalStatus: Int?
    var contentLength: UInt64?
    var dataReceived: UInt64 = 0
    /// What the upstream may still send on it (§6.9).
    var window: Int64
    var gatewayEnded = false
    var gatewayReset = false
    /// The upstream sent END_STREAM or RST_STREAM.
    var upstreamClosed = false
    /// A gap took DATA of it: its length is not judged.
    var bodyUnchecked = false
    /// `content-type: application/grpc`.
    var isGRPC = false
    /// gRPC's length-prefixed messages (gRPC's PROTOCOL-HTTP2.md): prefix bytes still to read
    /// (the 5-byte prefix), then message bytes to skip.
    var grpcPrefixRead = 0
    var grpcPrefixLength: UInt32 = 0
    var grpcMessageLeft: UInt64 = 0
    var grpcMessages = 0
    /// Findings raised on it.
    var findings = 0
    /// A fatal finding ended what is judged of it (the gateway gave up on it there).
    var broken = false
    /// When it ended without a complete response (an RST_STREAM, a GOAWAY, a fatal finding).
    var ended: Timestamp?
    /// `h2.content_length.mismatch` was raised.
    var lengthReported = false
    /// The error code of the upstream's RST_STREAM on it, before its response was complete.
    var resetCode: UInt32?
    /// The non-OK grpc-status its trailers carried.
    var grpcStatus: Int?
    /// Its response head may have come in bytes the capture lacks (or that did not decode): DATA
    /// without a head seen is not `h2.status.missing`.
    var headUnknown = false

    init(id: UInt32, window: Int64) {
        self.id = id
        self.window = window
    }
}
