import CaptureModel
import FastCGI
import HTTP1
import HTTP2
import TCPReassembly

/// How a connection's bytes stop coming: the first FIN or RST of either side. What was in
/// flight then has had its answer or never will.
enum StreamClose: Equatable {
    /// `Direction` sent a FIN.
    case fin(Direction)
    /// The connection was reset.
    case reset
}

/// One application protocol's reader of a TCP connection's two byte streams: the one door
/// every protocol comes through. The engine hands it what the reassembler delivers, in stream
/// order per direction: bytes at a stream offset, the ranges the capture lacks, the close; it
/// returns findings and transactions as values and performs no I/O (Zeek's analyzers and
/// Suricata's app-layer parsers have the same shape).
///
/// Which analyzer reads a connection is the `ProtocolProbe`'s choice (see `ApplicationProtocol`
/// for the protocols known and where the next ones plug in); no analyzer sniffs for another
/// protocol inside its own parser. Conformers: `HTTP1Connection` (requests and responses),
/// `TLSAnalyzer` (records and handshakes, with an inner `ConnectionAnalysis` for the decrypted
/// bytes), `FCGIConnection` (FastCGI records, php-fpm's hop), `UnanalysedStream` (the stand-in for protocols recognised but not analysed yet).
protocol StreamAnalyzer {
    /// In-order bytes of `direction`, starting at stream `offset`, whose first byte came from
    /// `frame` at `frameOffset` (nil when rebuilt from IP fragments). The bytes are borrowed for
    /// the call: a conformer copies only what it must keep.
    mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp)
    /// Bytes of `direction` the capture lacks: the stream goes on at `range.upperBound`.
    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason)
    /// The connection's first FIN or RST (later ones change nothing an analyzer reads).
    mutating func close(_ close: StreamClose)
    /// Nothing more will come: unanswered requests and a cut message become transactions.
    mutating func finish()
    /// What the analyzer found, in the order found.
    var findings: [Finding] { get }
    /// Exchanges seen, in order.
    var transactions: [Transaction] { get }
}

extension GapReason {
    /// The frame that held the bytes when the snap length cut them, and whether it did.
    var truncation: (frame: FrameNumber?, truncated: Bool) {
        switch self {
        case .snapLength(let frame): return (frame, true)
        case .notCaptured, .bufferLimit: return (nil, false)
        }
    }
}

extension HTTP1Connection: StreamAnalyzer {
    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason) {
        let (frame, truncated) = reason.truncation
        self.gap(range, direction: direction, frame: frame, truncated: truncated)
    }

    /// The first FIN or RST: a FIN from the upstream completes a read-until-close body, and a
    /// response head too short for the status-line check gets it now.
    mutating func close(_ close: StreamClose) {
        if close == .fin(.server) { self.serverFIN() }
        self.ended()
    }
}

extension HTTP2Connection: StreamAnalyzer {
    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason) {
        let (frame, truncated) = reason.truncation
        self.gap(range, direction: direction, frame: frame, truncated: truncated)
    }

    /// The first FIN or RST: open streams are then judged by how the connection ended.
    mutating func close(_ close: StreamClose) {
        self.ended()
    }
}

extension FCGIConnection: StreamAnalyzer {
    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason) {
        let (frame, truncated) = reason.truncation
        self.gap(range, direction: direction, frame: frame, truncated: truncated)
    }

    /// The first FIN or RST: a record the application left cut then was cut by it (a FIN of its
    /// own, or a reset).
    mutating func close(_ close: StreamClose) {
        self.close(byPeer: close != .fin(.client))
    }
}
