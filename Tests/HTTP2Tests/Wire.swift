import CaptureModel
import HTTP2

// HTTP/2 bytes built by hand (RFC 9113 §4.1, RFC 7541 §6), so that the tests do not share the
// decoder they check.

let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// A frame: 9-byte header (RFC 9113 §4.1), then the payload.
func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
    let length = payload.count
    return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
        + [UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
}

func settings(_ pairs: [(UInt16, UInt32)] = [], stream: UInt32 = 0) -> [UInt8] {
    frame(0x4, stream: stream, pairs.flatMap { id, value in [UInt8(id >> 8), UInt8(id & 0xff)] + be32(value) })
}

let settingsAck = frame(0x4, flags: 0x1, stream: 0)

func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
}

/// RFC 7541 §6.2.2: a literal field without indexing, new name, no Huffman (strings under 127 bytes).
func literal(_ name: String, _ value: String) -> [UInt8] {
    [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
}

/// RFC 7541 §6.2.1: a literal field with incremental indexing, new name.
func indexedLiteral(_ name: String, _ value: String) -> [UInt8] {
    [0x40, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
}

/// RFC 7541 Appendix A: `:status: 200` is static index 8.
let status200: [UInt8] = [0x88]

func headers(stream: UInt32, endStream: Bool = false, endHeaders: Bool = true, _ block: [UInt8]) -> [UInt8] {
    frame(0x1, flags: (endStream ? 0x1 : 0) | (endHeaders ? 0x4 : 0), stream: stream, block)
}

func data(stream: UInt32, endStream: Bool = false, _ payload: [UInt8]) -> [UInt8] {
    frame(0x0, flags: endStream ? 0x1 : 0, stream: stream, payload)
}

func rstStream(stream: UInt32, error: UInt32) -> [UInt8] { frame(0x3, stream: stream, be32(error)) }

func goaway(last: UInt32, error: UInt32) -> [UInt8] { frame(0x7, stream: 0, be32(last) + be32(error)) }

func windowUpdate(stream: UInt32, _ increment: UInt32) -> [UInt8] { frame(0x8, stream: stream, be32(increment)) }

/// nginx grpc_pass's opening (ngx_http_grpc_module.c): preface, SETTINGS (table 0, no push, window
/// 2^31-1), WINDOW_UPDATE.
let nginxOpening = preface + settings([(1, 0), (2, 0), (4, 0x7fff_ffff)]) + windowUpdate(stream: 0, 0x7fff_0000)

/// A request on `stream`: `GET /path` for `example.test`.
func request(stream: UInt32, path: String = "/", method: String = "GET", endStream: Bool = true) -> [UInt8] {
    headers(stream: stream, endStream: endStream,
        literal(":method", method) + literal(":scheme", "http") + literal(":path", path) + literal(":authority", "example.test"))
}

/// The connection fed message by message, each message one capture frame (numbered from 1),
/// cut into pieces at `cuts` (offsets into the message).
struct H2Exchange {
    var connection = HTTP2Connection()
    var frame: FrameNumber = 0
    var offsets: [Direction: UInt64] = [.client: 0, .server: 0]

    mutating func send(_ direction: Direction, _ bytes: [UInt8], cuts: [Int] = []) {
        self.frame += 1
        var start = 0
        for cut in (cuts.sorted() + [bytes.count]) where cut > start && cut <= bytes.count {
            let piece = Array(bytes[start..<cut])
            piece.withUnsafeBytes { raw in
                self.connection.feed(
                    raw, direction: direction, at: self.offsets[direction]! + UInt64(start), frame: self.frame,
                    frameOffset: 66 + start, time: Timestamp(nanoseconds: Int64(self.frame)))
            }
            start = cut
        }
        self.offsets[direction]! += UInt64(bytes.count)
    }

    mutating func gateway(_ bytes: [UInt8], cuts: [Int] = []) { self.send(.client, bytes, cuts: cuts) }
    mutating func upstream(_ bytes: [UInt8], cuts: [Int] = []) { self.send(.server, bytes, cuts: cuts) }

    mutating func upstreamGap(_ length: UInt64) {
        let at = self.offsets[.server]!
        self.connection.gap(at..<(at + length), direction: .server, frame: nil, truncated: false)
        self.offsets[.server]! += length
    }

    /// Code, value, stream id, offset, frame and frame offset of each finding.
    var summary: [String] {
        self.connection.findings.map { finding in
            let e = finding.evidence[0]
            return "\(finding.code) \(finding.value ?? "-") stream=\(e.streamID.map(String.init) ?? "-") @\(e.streamOffset) frame=\(e.frame.map(String.init) ?? "-")+\(e.frameOffset.map(String.init) ?? "-") \(e.bytes)"
        }
    }
}
