import CaptureModel

/// FastCGI 1.0 record types (§8).
enum RecordType {
    static let beginRequest: UInt8 = 1
    static let abortRequest: UInt8 = 2
    static let endRequest: UInt8 = 3
    static let params: UInt8 = 4
    static let stdin: UInt8 = 5
    static let stdout: UInt8 = 6
    static let stderr: UInt8 = 7
    static let data: UInt8 = 8
    static let getValuesResult: UInt8 = 10
    static let unknownType: UInt8 = 11

    /// The name the specification gives a type, for notes.
    static func name(_ type: UInt8) -> String {
        switch type {
        case 1: return "FCGI_BEGIN_REQUEST"
        case 2: return "FCGI_ABORT_REQUEST"
        case 3: return "FCGI_END_REQUEST"
        case 4: return "FCGI_PARAMS"
        case 5: return "FCGI_STDIN"
        case 6: return "FCGI_STDOUT"
        case 7: return "FCGI_STDERR"
        case 8: return "FCGI_DATA"
        case 9: return "FCGI_GET_VALUES"
        case 10: return "FCGI_GET_VALUES_RESULT"
        case 11: return "FCGI_UNKNOWN_TYPE"
        default: return "type \(type)"
        }
    }
}

/// Where a byte of a stream came from.
struct StreamMark: Equatable {
    var offset: UInt64
    var frame: FrameNumber
    var frameOffset: Int?
    var time: Timestamp

    /// The mark of the byte `delta` bytes further in the same chunk.
    func advanced(by delta: Int) -> StreamMark {
        StreamMark(offset: self.offset &+ UInt64(delta), frame: self.frame, frameOffset: self.frameOffset.map { $0 + delta }, time: self.time)
    }
}

/// A record header (FastCGI 1.0 §3.3): `version`, `type`, `requestId` (2 bytes), `contentLength`
/// (2 bytes), `paddingLength`, a reserved byte; with where its first three bytes came from.
struct RecordHeader {
    var version: UInt8
    var type: UInt8
    var requestID: UInt16
    var contentLength: Int
    var paddingLength: Int
    /// The version byte's place (the record's start).
    var start: StreamMark
    /// The type byte's place.
    var typeMark: StreamMark
    /// The first request-id byte's place.
    var requestIDMark: StreamMark

    /// Bytes the whole record takes.
    var totalLength: Int { 8 + self.contentLength + self.paddingLength }
}

/// What a `RecordReader` met in the bytes it was fed.
enum RecordEvent {
    /// A complete header: its content follows.
    case header(RecordHeader)
    /// Bytes of `header`'s record's content, at `mark`, the first being `index` bytes into it.
    case content(UnsafeRawBufferPointer, mark: StreamMark, index: Int, header: RecordHeader)
    /// The current record ended (content and padding all came).
    case end(RecordHeader)
}

/// One direction's records, read across feeds of any size: the 8-byte header (copied only when
/// split), then content and padding skipped or handed on by length.
struct RecordReader {
    enum State: Equatable {
        /// Reading a header: `have` of its 8 bytes held.
        case header(have: Int)
        case content(remaining: Int)
        case padding(remaining: Int)
        /// Stopped: the bytes are not records the reader can frame (a bad version, a gap).
        case stopped
    }

    private(set) var state: State = .header(have: 0)
    private(set) var current: RecordHeader?
    private var held: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var heldMarks: (StreamMark?, StreamMark?, StreamMark?) = (nil, nil, nil)

    /// Whether the reader is between records.
    var isBetweenRecords: Bool { self.state == .header(have: 0) }

    /// Stops reading (what follows is not framed).
    mutating func stop() {
        self.state = .stopped
    }

    /// Reads `bytes`, whose first byte is at `mark`, calling `handle` for each event.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, mark: StreamMark, _ handle: (RecordEvent) -> Bool) {
        var index = 0
        while index < bytes.count {
            switch self.state {
            case .stopped:
                return
            case .header(let have):
                if have == 0, bytes.count - index >= 8 {
                    // The whole header in this chunk (nearly always): read in place.
                    let header = RecordHeader(
                        version: bytes[index], type: bytes[index + 1],
                        requestID: UInt16(bytes[index + 2]) << 8 | UInt16(bytes[index + 3]),
                        contentLength: Int(bytes[index + 4]) << 8 | Int(bytes[index + 5]), paddingLength: Int(bytes[index + 6]),
                        start: mark.advanced(by: index), typeMark: mark.advanced(by: index + 1), requestIDMark: mark.advanced(by: index + 2))
                    index += 8
                    if !self.begin(header, handle) { return }
                    continue
                }
                var count = have
                while count < 8, index < bytes.count {
                    self.hold(bytes[index], at: count, mark: mark.advanced(by: index))
                    count += 1
                    index += 1
                }
                guard count == 8 else {
                    self.state = .header(have: count)
                    return
                }
                let h = self.held
                let header = RecordHeader(
                    version: h.0, type: h.1, requestID: UInt16(h.2) << 8 | UInt16(h.3), contentLength: Int(h.4) << 8 | Int(h.5),
                    paddingLength: Int(h.6), start: self.heldMarks.0!, typeMark: self.heldMarks.1!, requestIDMark: self.heldMarks.2!)
                if !self.begin(header, handle) { return }
            case .content(let remaining):
                let take = min(remaining, bytes.count - index)
                let header = self.current!
                let slice = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])
                index += take
                let left = remaining - take
                self.state = left > 0 ? .content(remaining: left) : header.paddingLength > 0 ? .padding(remaining: header.paddingLength) : .header(have: 0)
                if !handle(.content(slice, mark: mark.advanced(by: index - take), index: header.contentLength - remaining, header: header)) {
                    self.state = .stopped
                    return
                }
                if left == 0, header.paddingLength == 0, !self.endRecord(handle) { return }
            case .padding(let remaining):
                let take = min(remaining, bytes.count - index)
                index += take
                if take == remaining {
                    self.state = .header(have: 0)
                    if !self.endRecord(handle) { return }
                } else {
                    self.state = .padding(remaining: remaining - take)
                }
            }
        }
    }

    /// Bytes of the stream the capture lacks. Returns whether the reader could carry over them
    /// (they lay inside one record's content or padding: its length says where the next begins).
    mutating func skip(_ length: UInt64) -> Bool {
        switch self.state {
        case .content(let remaining) where length < UInt64(remaining):
            self.state = .content(remaining: remaining - Int(length))
            return true
        case .content(let remaining) where length <= UInt64(remaining + self.current!.paddingLength):
            let rest = remaining + self.current!.paddingLength - Int(length)
            self.state = rest > 0 ? .padding(remaining: rest) : .header(have: 0)
            return true
        case .padding(let remaining) where length <= UInt64(remaining):
            self.state = UInt64(remaining) == length ? .header(have: 0) : .padding(remaining: remaining - Int(length))
            return true
        case .stopped:
            return false
        default:
            // The gap holds a header, or runs past the record: where records begin after it
            // cannot be known (record bytes have no marker to find again).
            self.state = .stopped
            return false
        }
    }

    /// Where the record being read began and how many of its bytes came, when one was cut.
    var partial: (start: StreamMark?, got: Int, expected: Int?)? {
        switch self.state {
        case .header(let have):
            return have == 0 ? nil : (self.heldMarks.0, have, nil)
        case .content(let remaining):
            let header = self.current!
            return (header.start, 8 + header.contentLength - remaining, header.totalLength)
        case .padding(let remaining):
            let header = self.current!
            return (header.start, header.totalLength - remaining, header.totalLength)
        case .stopped:
            return nil
        }
    }

    private mutating func begin(_ header: RecordHeader, _ handle: (RecordEvent) -> Bool) -> Bool {
        self.current = header
        self.state = header.contentLength > 0 ? .content(remaining: header.contentLength)
            : header.paddingLength > 0 ? .padding(remaining: header.paddingLength) : .header(have: 0)
        guard handle(.header(header)) else {
            self.state = .stopped
            return false
        }
        if header.contentLength == 0, header.paddingLength == 0 { return self.endRecord(handle) }
        return true
    }

    private mutating func endRecord(_ handle: (RecordEvent) -> Bool) -> Bool {
        guard handle(.end(self.current!)) else {
            self.state = .stopped
            return false
        }
        return true
    }

    private mutating func hold(_ byte: UInt8, at index: Int, mark: StreamMark) {
        switch index {
        case 0:
            self.held.0 = byte
            self.heldMarks = (mark, nil, nil)
        case 1:
            self.held.1 = byte
            self.heldMarks.1 = mark
        case 2:
            self.held.2 = byte
            self.heldMarks.2 = mark
        case 3: self.held.3 = byte
        case 4: self.held.4 = byte
        case 5: self.held.5 = byte
        case 6: self.held.6 = byte
        default: self.held.7 = byte
        }
    }
}
