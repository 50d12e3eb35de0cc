import CaptureModel
import HTTP1
import TCPReassembly
import TLSRecords

/// TLS behind the stream-analyzer interface: records and handshakes read by `TLSConnection`,
/// and, when the key log opens them, the decrypted bytes read through a `ConnectionAnalysis`
/// of their own, whose probe starts from the ALPN the handshake settled on (`h2`: HTTP/2, not
/// analysed yet; otherwise HTTP/1, the first bytes deciding).
///
/// The handshake's findings are made when the connection is judged (`TLSDiagnosis`, from the
/// record facts and the certificate chain); `findings` and `transactions` are the inner ones.
struct TLSAnalyzer: StreamAnalyzer {
    /// The records and handshakes.
    private(set) var connection: TLSConnection
    /// The decrypted bytes' analysis, from the first of them (or the first early data the key
    /// log could not open).
    private(set) var inner: ConnectionAnalysis?
    private let decrypts: Bool
    private let redactsSecrets: Bool

    /// A TLS connection with nothing seen; with `decryption`, records the key log has secrets
    /// for are decrypted and analysed.
    /// The most header fields a decrypted response head may have (`ConnectionAnalysis`).
    private let fieldLimit: Int

    init(decryption: TLSConnection.Decryption?, redactsSecrets: Bool, fieldLimit: Int = HTTP1Connection.defaultFieldLimit) {
        self.fieldLimit = fieldLimit
        self.connection = TLSConnection(decryption: decryption)
        self.decrypts = decryption != nil
        self.redactsSecrets = redactsSecrets
    }

    mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        self.connection.feed(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        if self.decrypts { self.deliverDecrypted() }
    }

    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason) {
        self.connection.gap(length: range.upperBound - range.lowerBound, direction: direction)
    }

    /// Nothing to do: decrypted records may still come after the close (a live capture's key
    /// log can bring their secrets later), so the inner analysis is judged as it stands when
    /// the connection is.
    mutating func close(_ close: StreamClose) {}

    mutating func finish() {
        _ = self.inner?.finish(endedAt: nil)
    }

    var findings: [Finding] { self.inner?.findings ?? [] }

    var transactions: [Transaction] { self.inner?.transactions ?? [] }

    /// Whether the inner analysis has transactions to hand on.
    var hasFinishedTransactions: Bool { self.inner?.hasFinishedTransactions == true }

    /// Forgets the inner analysis's finished transactions (they were handed on).
    mutating func clearFinishedTransactions() {
        self.inner?.clearFinishedTransactions()
    }

    /// The key log grew: records waiting for it are read again, and what they decrypt is analysed.
    mutating func keysUpdated(_ keyLog: KeyLog) {
        self.connection.keysUpdated(keyLog)
        self.deliverDecrypted()
    }

    /// Feeds what was decrypted since the last call to the inner analysis. Its offsets are the
    /// decrypted stream's, its frame the record's.
    private mutating func deliverDecrypted() {
        // Early data the key log could not open: a gap in the gateway's stream, before the rest.
        for unreadable in self.connection.takeUnreadable() {
            self.startInner()
            self.inner!.gap(unreadable.range, direction: unreadable.direction, reason: .notCaptured)
        }
        for item in self.connection.takeDecrypted() {
            self.startInner()
            item.bytes.withUnsafeBytes { raw in
                // Inside TLS no TLS analyzer is started: the door never hands the bytes back.
                _ = self.inner!.feed(
                    raw, direction: item.direction, at: item.offset, frame: item.location.frame, frameOffset: nil,
                    time: item.location.time)
            }
        }
    }

    private mutating func startInner() {
        guard self.inner == nil else { return }
        let negotiated = self.connection.serverHello?.alpn.flatMap(ApplicationProtocol.init(alpn:))
        self.inner = ConnectionAnalysis(negotiated: negotiated, canStartTLS: false, redactsSecrets: self.redactsSecrets, fieldLimit: self.fieldLimit)
    }
}
