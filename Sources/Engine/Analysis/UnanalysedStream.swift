import CaptureModel
import HTTP1
import TCPReassembly

/// The analyzer of a protocol the probe recognises but nothing reads yet (HTTP/2, TLS
/// picked up mid-stream; see `ApplicationProtocol`): it parses nothing and finds nothing, and
/// keeps what the verdict needs of the upstream's side, where its answer began and how much of
/// it came, so the connection is judged on TCP and the probe's findings. When an analyzer for
/// the protocol exists, `ConnectionAnalysis.route` sends the bytes there instead.
struct UnanalysedStream: StreamAnalyzer {
    /// The upstream's first byte, as the start of an answer of unknown status.
    private(set) var answer: ResponseInfo?
    /// The upstream's bytes seen (delivered or gapped).
    private(set) var serverBytes: UInt64 = 0

    mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        guard direction == .server, !bytes.isEmpty else { return }
        if self.answer == nil {
            self.answer = ResponseInfo(status: nil, offset: offset, frame: frame, time: time, framing: .none, complete: false, interim: [])
        }
        self.serverBytes &+= UInt64(bytes.count)
    }

    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason) {
        if direction == .server { self.serverBytes &+= range.upperBound - range.lowerBound }
    }

    mutating func close(_ close: StreamClose) {}

    mutating func finish() {}

    var findings: [Finding] { [] }

    var transactions: [Transaction] { [] }

    /// Where the upstream's answer stood: not read (`opaque`) once the probe judged its first
    /// bytes, a head of unknown length before that, nothing when it sent nothing.
    func end(upstreamJudged: Bool) -> ResponseEnd {
        let state: ResponseEnd.State =
            self.answer == nil ? .idle : upstreamJudged ? .opaque : .midHead(bytes: Int(clamping: self.serverBytes))
        return ResponseEnd(
            state: state, inProgress: self.answer, inProgressRequest: nil, outstanding: nil, responsesCompleted: 0, requestsSeen: 0)
    }
}
