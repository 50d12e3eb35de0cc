import CaptureModel
import Diagnosis
import FastCGI
import HTTP1
import HTTP2
import TCPReassembly

/// The door a connection's bytes come through (or a TLS session's decrypted bytes): the
/// `ProtocolProbe` in front, the analyzer it picked behind. Every byte is shown to the probe
/// until it has decided both directions, then goes straight to the analyzer; the probe's
/// findings (`proto.*`) and the analyzer's come out together (`findings`, `view(end:)`).
///
/// A TLS handshake at the gateway's first byte is the owner's to read (`feed` returns true):
/// the engine starts a `TLSAnalyzer`, whose decrypted bytes come through a door of their own.
struct ConnectionAnalysis {
    /// Decides the protocols and raises the mismatches.
    private(set) var probe: ProtocolProbe
    /// The HTTP/1 analyzer: what reads the connection unless the probe picked another (kept
    /// inline: nearly every connection is HTTP/1).
    private(set) var http: HTTP1Connection
    /// The HTTP/2 analyzer, when the probe picked HTTP/2 (out of line: most connections are HTTP/1).
    @Indirect private(set) var http2: HTTP2Connection? = nil
    /// The stand-in for protocols not analysed yet (out of line: seldom needed).
    @Indirect private(set) var unanalysed: UnanalysedStream? = nil
    /// The FastCGI analyzer, when the probe picked FastCGI (out of line: most hops are HTTP).
    @Indirect private(set) var fastCGI: FCGIConnection? = nil
    /// Whether the HTTP/1 analyzer's violation went to the probe.
    private var violationJudged = false
    /// Whether the gateway's stream start was looked at for a PROXY protocol header.
    private var proxyDecided = false
    /// The gateway's first bytes while they may be a PROXY header (out of line: seldom needed).
    @Indirect private var proxyReader: ProxyHeaderReader? = nil
    /// The PROXY protocol header the gateway sent before its first request, if it sent one.
    @Indirect private(set) var proxyHeader: ProxyHeader? = nil
    /// Whether `proxyHeader` is there, asked without reading it.
    var hasProxyHeader: Bool { self.$proxyHeader }
    /// The gateway's bytes from the start of a TLS handshake that followed a PROXY header, held
    /// for the owner's `TLSAnalyzer` (`takeTLSStart`); nil when `feed`'s bytes are the TLS start.
    private var tlsStart: [ProtocolProbe.HeldBytes]? = nil

    /// A door with nothing seen. `negotiated`: the protocol TLS's ALPN chose for these bytes.
    /// `canStartTLS`: whether a TLS handshake at the start is handed to the owner (not inside TLS).
    /// `fieldLimit`: the most header fields a response head may have before `http.header.too_many`.
    init(negotiated: ApplicationProtocol? = nil, canStartTLS: Bool, redactsSecrets: Bool = true, fieldLimit: Int = HTTP1Connection.defaultFieldLimit) {
        self.probe = ProtocolProbe(negotiated: negotiated, canStartTLS: canStartTLS, redactsSecrets: redactsSecrets)
        self.http = HTTP1Connection(redactsSecrets: redactsSecrets, fieldLimit: fieldLimit)
    }

    /// Which analyzer reads the bytes.
    enum Route: Equatable {
        case http1
        case http2
        case fastCGI
        case unanalysed
    }

    /// The analyzer for the gateway's protocol; HTTP/1 while it is not known yet (the upstream
    /// may speak first, and this is the hop of an HTTP gateway). The place a new analyzer plugs in.
    @inline(__always)
    var route: Route {
        switch self.probe.gateway {
        case nil, .http1: return .http1
        case .http2: return .http2
        // TLS here is TLS the engine could not frame (picked up mid-stream, or inside TLS).
        case .fastCGI: return .fastCGI
        case .tls: return .unanalysed
        }
    }

    /// Feeds in-order bytes of one direction. Returns true when they open a TLS handshake the
    /// owner is to read: these bytes and all that follow go to its `TLSAnalyzer`, not here.
    mutating func feed(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) -> Bool {
        if direction == .client, !self.proxyDecided, !bytes.isEmpty {
            // A PROXY header can only open the stream: anything but the start of `PROXY ` or of
            // the version 2 signature there settles it.
            if self.$proxyReader || (offset == 0 && ProxyHeaderReader.mayStart(bytes)) {
                return self.readProxyHeader(bytes, at: offset, frame: frame, frameOffset: frameOffset, time: time)
            }
            self.proxyDecided = true
        }
        return self.feedPastProxyHeader(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
    }

    /// The gateway's bytes while they may be a PROXY header: held until it is decided, then the
    /// bytes after a header (or all of them, when there is none) go on in their own chunks.
    private mutating func readProxyHeader(
        _ bytes: UnsafeRawBufferPointer, at offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp
    ) -> Bool {
        if !self.$proxyReader { self.proxyReader = ProxyHeaderReader() }
        switch self.proxyReader!.inspect(bytes, at: offset, frame: frame, frameOffset: frameOffset, time: time) {
        case .hold:
            return false
        case .notProxy:
            return self.releaseProxyHeld()
        case .header(let header):
            self.proxyHeader = header
            self.probe.gatewayStart = UInt32(header.length)
            return self.releaseProxyHeld()
        }
    }

    /// Hands on what the PROXY header reader held (all of it, or what followed a header).
    @discardableResult
    private mutating func releaseProxyHeld() -> Bool {
        self.proxyDecided = true
        guard self.$proxyReader else { return false }
        let held = self.proxyReader!.held
        self.proxyReader = nil
        for (index, chunk) in held.enumerated() where !chunk.bytes.isEmpty {
            let startsTLS = chunk.bytes.withUnsafeBytes { raw in
                self.feedPastProxyHeader(
                    raw, direction: .client, at: chunk.offset, frame: chunk.frame, frameOffset: chunk.frameOffset, time: chunk.time)
            }
            if startsTLS {
                // A TLS handshake after the PROXY header: it and all that follows are the TLS
                // analyzer's, which the owner starts.
                self.tlsStart = Array(held[index...])
                return true
            }
        }
        return false
    }

    /// The bytes a `TLSAnalyzer` starts from when `feed` said a TLS handshake starts: those after
    /// a PROXY header, in their own chunks; nil when they are the bytes `feed` was given.
    mutating func takeTLSStart() -> [ProtocolProbe.HeldBytes]? {
        defer { self.tlsStart = nil }
        return self.tlsStart
    }

    private mutating func feedPastProxyHeader(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) -> Bool {
        if !self.probe.isSettled {
            switch self.probe.inspect(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time) {
            case .hold:
                return false
            case .releaseUpstream:
                self.releaseUpstreamHeld()
                return false
            case .deliverHeldFirst:
                // The upstream's held bytes came before the gateway's held ones were let go.
                if self.probe.releasesUpstream { self.releaseUpstreamHeld() }
                self.deliverHeld()
            case .deliver:
                if self.probe.releasesUpstream { self.releaseUpstreamHeld() }
            }
            if self.probe.startsTLS { return true }
        }
        self.deliver(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        if direction == .server, self.probe.isGrowing { self.probe.grow(bytes, at: offset) }
        return false
    }

    private mutating func deliver(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) {
        switch self.route {
        case .http1:
            self.http.feed(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
            if !self.violationJudged, self.http.hasViolation { self.judgeViolation() }
        case .http2:
            // An upstream the probe found speaking another protocol (proto.h1_response_to_h2) is
            // not read as frames: its `HTTP/1.1` would be a 4740180-byte frame.
            if direction == .server, self.probe.mismatch != nil { return }
            if !self.$http2 { self.http2 = HTTP2Connection() }
            self.http2!.feed(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        case .fastCGI:
            self.startFastCGI()
            self.fastCGI!.feed(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        case .unanalysed:
            if !self.$unanalysed { self.unanalysed = UnanalysedStream() }
            self.unanalysed!.feed(bytes, direction: direction, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        }
    }

    /// Starts the FastCGI analyzer with the HTTP/1 analyzer's settings (not stored twice: every
    /// connection carries this door).
    private mutating func startFastCGI() {
        if !self.$fastCGI {
            self.fastCGI = FCGIConnection(redactsSecrets: self.probe.redactsSecrets, fieldLimit: self.http.fieldLimit)
        }
    }

    /// The gateway's bytes the probe held (they were not the HTTP/2 preface), in their own chunks.
    private mutating func deliverHeld() {
        for held in self.probe.held {
            held.bytes.withUnsafeBytes { raw in
                self.deliver(raw, direction: .client, at: held.offset, frame: held.frame, frameOffset: held.frameOffset, time: held.time)
            }
        }
        self.probe.releaseHeld()
    }

    /// The upstream's bytes the probe held while the gateway's protocol was not known, in their
    /// own chunks, each shown to the probe as it would have been when it came.
    private mutating func releaseUpstreamHeld() {
        for chunk in self.probe.takeUpstreamHeld() {
            chunk.bytes.withUnsafeBytes { raw in
                if !self.probe.isSettled {
                    _ = self.probe.inspect(
                        raw, direction: .server, at: chunk.offset, frame: chunk.frame, frameOffset: chunk.frameOffset, time: chunk.time)
                }
                self.deliver(raw, direction: .server, at: chunk.offset, frame: chunk.frame, frameOffset: chunk.frameOffset, time: chunk.time)
                if self.probe.isGrowing { self.probe.grow(raw, at: chunk.offset) }
            }
        }
    }

    private mutating func judgeViolation() {
        self.violationJudged = true
        if let violation = self.http.violation { self.probe.judge(violation) }
    }

    /// Bytes of one direction the capture lacks.
    mutating func gap(_ range: Range<UInt64>, direction: Direction, reason: GapReason) {
        if direction == .client, !self.proxyDecided { self.releaseProxyHeld() }
        if !self.probe.isSettled {
            switch direction {
            case .client:
                let deliversHeld = self.probe.gatewayGap()
                if self.probe.releasesUpstream { self.releaseUpstreamHeld() }
                if deliversHeld { self.deliverHeld() }
            case .server:
                if self.probe.holdsUpstream { self.releaseUpstreamHeld() }
                self.probe.upstreamGap()
            }
        }
        switch self.route {
        case .http1:
            self.http.gap(range, direction: direction, reason: reason)
        case .http2:
            if !self.$http2 { self.http2 = HTTP2Connection() }
            self.http2!.gap(range, direction: direction, reason: reason)
        case .fastCGI:
            self.startFastCGI()
            self.fastCGI!.gap(range, direction: direction, reason: reason)
        case .unanalysed:
            if !self.$unanalysed { self.unanalysed = UnanalysedStream() }
            self.unanalysed!.gap(range, direction: direction, reason: reason)
        }
    }

    /// The connection's first FIN or RST. Returns where the upstream's answer stood then.
    @discardableResult
    mutating func close(_ close: StreamClose) -> ResponseEnd {
        if !self.proxyDecided { self.releaseProxyHeld() }
        if self.probe.holdsUpstream { self.releaseUpstreamHeld() }
        if self.probe.close() { self.deliverHeld() }
        switch self.route {
        case .http1:
            self.http.close(close)
            if !self.violationJudged, self.http.hasViolation { self.judgeViolation() }
        case .http2:
            self.http2?.close(close)
        case .fastCGI:
            self.fastCGI?.close(close)
        case .unanalysed:
            self.unanalysed?.close(close)
        }
        return self.responseEnd
    }

    /// What the verdict and the report take from the analysis when it has seen everything.
    struct Outcome {
        var view: ConnectionDiagnosis.HTTPView
        var transactions: [Transaction]
        var transactionsDropped: Int
        /// Transactions `finish` closed (unanswered requests, a cut response): handed on when
        /// the connection is judged.
        var closedAtFinish: [Transaction]
        /// The PROXY protocol header the gateway sent, with the status that answered it.
        var proxyHeader: ProxyHeader? = nil
        /// The failing response's head (HTTP/1), for the comparison with a healthy one.
        var failingHead: ResponseHead? = nil
    }

    /// Nothing more will come: closes the books and takes the outcome, with the upstream's
    /// answer standing where it stood at `endedAt` (the first FIN or RST), or now. Mutating so
    /// that the analysis is read in place, never copied (it is large, a retain per buffer).
    @inline(__always)
    mutating func finish(endedAt: ResponseEnd?) -> Outcome {
        if self.probe.holdsUpstream { self.releaseUpstreamHeld() }
        let end = endedAt ?? self.responseEnd
        switch self.route {
        case .http1: self.http.finish()
        case .http2: self.http2?.finish()
        case .fastCGI: self.fastCGI?.finish()
        case .unanalysed: self.unanalysed?.finish()
        }
        var proxyHeader = self.$proxyHeader ? self.proxyHeader : nil
        proxyHeader?.answeredWith = self.transactions.first?.response?.status
        return Outcome(
            view: self.view(end: end), transactions: self.transactions, transactionsDropped: self.transactionsDropped,
            closedAtFinish: self.finishedTransactions, proxyHeader: proxyHeader,
            failingHead: self.route == .http1 ? self.http.failingHead : nil)
    }

    /// A copy of the last HTTP/1 response head read, numbered as the connection's transaction
    /// it answered (the last one recorded), while its bytes are at hand.
    func parkedHead() -> ResponseHead? {
        guard self.route == .http1 else { return nil }
        return self.http.parkedHead(transaction: self.http.transactions.count + self.http.transactionsDropped)
    }

    /// The last HTTP/1 response head read, when healthy and still at hand: its stream offset.
    var parkedHealthyHead: UInt64? {
        self.route == .http1 ? self.http.parkedHealthyHead : nil
    }

    /// The probe's findings and the analyzer's, in the order found: bytes before the gateway
    /// spoke come first, and a mismatch ends what the analyzer read.
    @inline(__always)
    var findings: [Finding] {
        let analyzer: [Finding]
        switch self.route {
        case .http1: analyzer = self.http.findings
        case .http2: analyzer = self.http2?.findings ?? []
        case .fastCGI:
            // An HTTP answer is the probe's `proto.http_response_to_fcgi`, not a bad record version too.
            let mismatchAt = self.probe.mismatch?.finding.evidence.first?.streamOffset
            analyzer = (self.fastCGI?.findings ?? []).filter {
                mismatchAt == nil || !($0.code == .fcgiRecordBadVersion && $0.evidence.first?.streamOffset == mismatchAt)
            }
        case .unanalysed: analyzer = self.unanalysed?.findings ?? []
        }
        guard self.probe.serverSpokeFirst != nil || self.probe.mismatch != nil else { return analyzer }
        return (self.probe.serverSpokeFirst.map { [$0.finding] } ?? []) + analyzer + (self.probe.mismatch.map { [$0.finding] } ?? [])
    }

    /// Where the upstream's answer stood (before `finish`).
    @inline(__always)
    var responseEnd: ResponseEnd {
        switch self.route {
        case .http1: return self.http.responseEnd
        case .http2:
            // Before any frame (or after a mismatch) the upstream's answer stands as the probe saw it.
            guard let http2 = self.http2, self.probe.mismatch == nil else {
                return UnanalysedStream().end(upstreamJudged: self.probe.upstreamJudged)
            }
            return http2.responseEnd
        case .fastCGI:
            return self.fastCGI?.responseEnd
                ?? ResponseEnd(state: .idle, inProgress: nil, inProgressRequest: nil, outstanding: nil, responsesCompleted: 0, requestsSeen: 0)
        case .unanalysed: return (self.unanalysed ?? UnanalysedStream()).end(upstreamJudged: self.probe.upstreamJudged)
        }
    }

    /// What the diagnosis reads, with the upstream's answer standing at `end`.
    @inline(__always)
    private func view(end: ResponseEnd) -> ConnectionDiagnosis.HTTPView {
        switch self.route {
        case .http1:
            var withHead = self.http.findingsArrivedWithHead
            if self.probe.serverSpokeFirst != nil, !withHead.isEmpty { withHead = Set(withHead.map { $0 + 1 }) }
            var findings = self.findings
            if self.$proxyHeader, let unexpected = self.unexpectedProxyHeader { findings.append(unexpected) }
            return ConnectionDiagnosis.HTTPView(
                findings: findings, uncheckedGaps: self.http.uncheckedGaps, end: end, upstream5xx: self.http.upstream5xx,
                gatewaySpeaksHTTP1: self.http.gatewaySpeaksHTTP1, arrivedWithHead: withHead)
        case .http2:
            // `gatewaySpeaksHTTP1`: the gateway spoke HTTP (here /2), so how the streams ended is judged.
            return ConnectionDiagnosis.HTTPView(
                findings: self.findings, uncheckedGaps: self.http2?.uncheckedGaps ?? [], end: end,
                upstream5xx: self.probe.mismatch == nil ? self.http2?.upstream5xx : nil, gatewaySpeaksHTTP1: true)
        case .fastCGI:
            let fastCGI = self.fastCGI
            var view = ConnectionDiagnosis.HTTPView(
                findings: self.findings, uncheckedGaps: fastCGI?.uncheckedGaps ?? [], end: end, upstream5xx: fastCGI?.upstream5xx,
                gatewaySpeaksHTTP1: fastCGI?.gatewaySpeaksFastCGI ?? false)
            view.isFastCGI = true
            view.applicationStderr = fastCGI?.stderr
            return view
        case .unanalysed:
            return ConnectionDiagnosis.HTTPView(
                findings: self.findings, uncheckedGaps: [], end: end, upstream5xx: nil, gatewaySpeaksHTTP1: false)
        }
    }

    /// `proto.proxy_header_unexpected`: the gateway's PROXY header was answered with 400 as the
    /// first response (an upstream without the PROXY protocol reads the header as a request line
    /// and refuses it; nginx logs "client sent invalid request"). Its evidence is the header,
    /// then the 400's status line.
    private var unexpectedProxyHeader: Finding? {
        guard let header = self.proxyHeader, let first = self.http.transactions.first, let response = first.response,
              response.status == 400
        else { return nil }
        let headerEvidence = Evidence(
            direction: .client, streamOffset: 0, frame: header.frame, frameOffset: header.frameOffset, length: UInt64(header.length),
            bytes: Array(header.bytes.prefix(header.length)), context: header.bytes, contextOffset: 0,
            note: "a \(header.description) header where the upstream expected a request line")
        let answer = Evidence(
            direction: .server, streamOffset: response.offset, frame: response.frame, frameOffset: nil, length: 12,
            note: "the upstream's 400 to it")
        return Finding(code: .protoProxyHeaderUnexpected, severity: .fatal, evidence: [headerEvidence, answer], value: header.description)
    }

    /// Exchanges in order (at most 1000 kept; see `transactionsDropped`).
    var transactions: [Transaction] {
        switch self.route {
        case .http1: return self.http.transactions
        case .http2: return self.http2?.transactions ?? []
        case .fastCGI: return self.fastCGI?.transactions ?? []
        case .unanalysed: return self.unanalysed?.transactions ?? []
        }
    }
    /// Exchanges counted but not kept.
    var transactionsDropped: Int {
        switch self.route {
        case .http1: return self.http.transactionsDropped
        case .http2: return self.http2?.transactionsDropped ?? 0
        case .fastCGI: return self.fastCGI?.transactionsDropped ?? 0
        case .unanalysed: return 0
        }
    }
    /// Exchanges finished since the last `clearFinishedTransactions()`.
    var finishedTransactions: [Transaction] {
        switch self.route {
        case .http1: return self.http.finishedTransactions
        case .http2: return self.http2?.finishedTransactions ?? []
        case .fastCGI: return self.fastCGI?.finishedTransactions ?? []
        case .unanalysed: return []
        }
    }
    /// Whether `finishedTransactions` has any, asked per packet without building it.
    var hasFinishedTransactions: Bool {
        switch self.route {
        case .http1: return self.http.hasFinishedTransactions
        case .http2: return self.$http2 && !self.http2!.finishedTransactions.isEmpty
        case .fastCGI: return self.fastCGI?.finishedTransactions.isEmpty == false
        case .unanalysed: return false
        }
    }
    /// `hasFinishedTransactions`, read in place. Asked through a getter of an element of the
    /// collector's pool, the whole analysis was copied out and destroyed again (a retain and a
    /// release of every buffer it holds) for every packet.
    mutating func checkFinishedTransactions() -> Bool { self.hasFinishedTransactions }
    /// `hasProxyHeader`, `parkedHealthyHead` and `parkedHead()` read in place, for the same reason.
    mutating func checkProxyHeader() -> Bool { self.hasProxyHeader }
    mutating func checkParkedHealthyHead() -> UInt64? { self.parkedHealthyHead }
    mutating func copyParkedHead() -> ResponseHead? { self.parkedHead() }
    /// `finishedTransactions`, taken in place and forgotten (`clearFinishedTransactions`).
    mutating func takeFinishedTransactions() -> [Transaction] {
        let transactions = self.finishedTransactions
        self.clearFinishedTransactions()
        return transactions
    }
    /// Forgets `finishedTransactions` (they were handed on).
    mutating func clearFinishedTransactions() {
        switch self.route {
        case .http1: self.http.clearFinishedTransactions()
        case .http2: if self.$http2 { self.http2!.clearFinishedTransactions() }
        case .fastCGI: self.fastCGI?.clearFinishedTransactions()
        case .unanalysed: break
        }
    }
}
