import CaptureModel
import HTTP1

/// Decides, from the first bytes of each direction, which protocol a connection speaks and so
/// which analyzer reads it (`ConnectionAnalysis.route`), and raises the protocol mismatches
/// (`proto.*`) as its own findings: the analyzers behind it parse their protocol only. Zeek's
/// dynamic protocol detection and Suricata's probing parsers work the same way; so does their
/// second look when an analyzer reports bytes it cannot parse (`judge(_:)`).
///
/// - The gateway's side (the client's): its first byte, and for a possible HTTP/2 preface its
///   first 24 bytes, held until they decide (`inspectGateway`). Inside TLS the ALPN the
///   handshake settled on decides before any byte (`init(negotiated:...)`).
/// - The upstream's side: its first response, judged against the gateway's protocol once it has
///   9 bytes (an HTTP/1 status line's version and space), or its first line is empty, or the
///   connection closes (`judgeUpstream`). Bytes before the gateway sent any are
///   `proto.server_speaks_first`, unless they are an HTTP/2 server's SETTINGS frame and the
///   gateway's first bytes are the HTTP/2 preface: while the gateway's protocol is not known,
///   upstream bytes that may open with a SETTINGS frame header are held (`upstreamHeld`) and
///   handed on once it is (grpcio's server sends its SETTINGS before the preface reaches it).
///
/// Every finding's evidence grows with the bytes that follow, up to a fixed length, so it does
/// not depend on how the stream was cut into segments.
struct ProtocolProbe {
    /// The gateway's protocol, once its first bytes (or the ALPN) said; nil before.
    private(set) var gateway: ApplicationProtocol?
    /// Set when the gateway's first record is a TLS handshake at the stream's start and the
    /// owner may start a `TLSAnalyzer` for it (`canStartTLS`).
    private(set) var startsTLS = false
    /// Where the gateway's protocol starts in its stream: 0, or the length of the PROXY protocol
    /// header before it (HAProxy's `ssl send-proxy-v2`: the header, then the ClientHello).
    var gatewayStart: UInt32 = 0
    /// Whether nothing is left to decide or hold: the common case, asked per packet.
    private(set) var isSettled = false
    /// Whether a finding's evidence still takes the upstream's next bytes (asked per packet).
    private(set) var isGrowing = false

    /// `proto.server_speaks_first`, when the upstream sent bytes before the gateway.
    var serverSpokeFirst: GrowingFinding? { self.$rare ? self.rare!.serverSpokeFirst : nil }
    /// The mismatch between the gateway's protocol and the upstream's answer, when there is one
    /// (at most one: the analyzer reads no further after it).
    var mismatch: GrowingFinding? { self.$rare ? self.rare!.mismatch : nil }
    /// The gateway's bytes held while they may be the HTTP/2 preface.
    var held: [HeldBytes] { self.$rare ? self.rare!.held : [] }
    /// The upstream's first bytes, held while the gateway's protocol is not known and they may
    /// open with an HTTP/2 SETTINGS frame header (`holdsUpstream`).
    var upstreamHeld: [HeldBytes] { self.$rare ? self.rare!.upstreamHeld : [] }
    /// Whether `upstreamHeld` holds bytes.
    private(set) var holdsUpstream = false
    /// Whether the upstream's held bytes are to be handed on now: the gateway's protocol is known,
    /// or they proved not to be a SETTINGS frame header.
    var releasesUpstream: Bool { self.holdsUpstream && (self.gateway != nil || self.upstreamHeldDecided) }
    /// Whether the upstream's first response was judged (its first bytes were all there).
    private(set) var upstreamJudged = false

    private let canStartTLS: Bool
    /// Whether evidence masks credential values (`Redaction`).
    let redactsSecrets: Bool
    private var clientSeen = false
    private var clientHadGap = false
    private var serverSeen = false
    /// Whether the upstream's first bytes were looked at for a SETTINGS frame header to hold.
    private var upstreamHoldTried = false
    /// Whether the held upstream bytes proved not to be a SETTINGS frame header (or grew too long to hold).
    private var upstreamHeldDecided = false
    /// Whether the upstream's held bytes came before any of the gateway's (so before the gateway spoke).
    private var upstreamCameFirst = false
    /// How many of the gateway's first bytes matched the HTTP/2 preface.
    private var prefaceMatched = 0
    /// Where the message the probe judged began (an analyzer's violation there is the same one).
    private var judgedOffset: UInt64?
    /// What few connections need, out of line so that the probe beside every connection's
    /// HTTP/1 analyzer stays small: findings, held bytes, a first response too short to judge.
    @Indirect private var rare: Rare? = nil

    private struct Rare {
        var serverSpokeFirst: GrowingFinding?
        var mismatch: GrowingFinding?
        var held: [HeldBytes] = []
        var upstreamHeld: [HeldBytes] = []
        /// How many upstream bytes are held.
        var upstreamHeldCount = 0
        /// The upstream's first response while too short to judge.
        var sample: FirstBytes?
    }

    private mutating func modifyRare(_ body: (inout Rare) -> Void) {
        if !self.$rare { self.rare = Rare() }
        body(&self.rare!)
    }

    /// Whether `rare` holds a first response too short to judge, asked without reading `rare`.
    private var hasSample = false
    /// Whether `rare` holds bytes that may be the HTTP/2 preface.
    private var holding = false

    /// RFC 9113 §3.4: the client connection preface.
    static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// The most upstream bytes held while the gateway has not spoken: past it they are handed on
    /// (and spoke first) whatever the gateway says later.
    static let upstreamHoldLimit = 65_536

    /// A probe with nothing seen. `negotiated`: the protocol the TLS handshake's ALPN chose for
    /// these bytes (inside TLS). `canStartTLS`: whether a TLS handshake at the gateway's first
    /// byte starts a `TLSAnalyzer` (false inside TLS: records in records are not framed).
    init(negotiated: ApplicationProtocol? = nil, canStartTLS: Bool, redactsSecrets: Bool) {
        self.gateway = negotiated
        self.canStartTLS = canStartTLS
        self.redactsSecrets = redactsSecrets
    }

    /// Bytes held back while they may be the HTTP/2 preface, with where they came from.
    struct HeldBytes {
        var bytes: [UInt8]
        var offset: UInt64
        var frame: FrameNumber
        var frameOffset: Int?
        var time: Timestamp
    }

    /// What the caller does with the bytes it just showed the probe.
    enum Step: Equatable {
        /// Hand them to the analyzer `route` names.
        case deliver
        /// Nothing: the probe holds them (a possible HTTP/2 preface).
        case hold
        /// Hand `held` to the analyzer first (then empty it with `releaseHeld()`), then these.
        case deliverHeldFirst
        /// The upstream's bytes joined `upstreamHeld`, which is to be handed on now
        /// (`takeUpstreamHeld()`): each chunk shown to the probe again, then to the analyzer.
        case releaseUpstream
    }

    // MARK: The gateway's side

    /// Shows the probe in-order bytes of `direction` before any analyzer sees them.
    mutating func inspect(
        _ bytes: UnsafeRawBufferPointer, direction: Direction, at offset: UInt64, frame: FrameNumber, frameOffset: Int?,
        time: Timestamp
    ) -> Step {
        defer { self.updateSettled() }
        switch direction {
        case .client:
            return self.inspectGateway(bytes, at: offset, frame: frame, frameOffset: frameOffset, time: time)
        case .server:
            if self.holdsUpstream || self.mayHoldUpstream(bytes, at: offset) {
                return self.holdUpstream(bytes, at: offset, frame: frame, frameOffset: frameOffset, time: time)
            }
            self.inspectUpstream(bytes, at: offset, frame: frame, frameOffset: frameOffset)
            return .deliver
        }
    }

    private mutating func inspectGateway(
        _ bytes: UnsafeRawBufferPointer, at offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp
    ) -> Step {
        guard let first = bytes.first else { return .deliver }
        let wasHolding = self.holding
        if !self.clientSeen {
            self.clientSeen = true
            if self.gateway != nil { return .deliver }  // the ALPN said
            if first == 0x16 {
                // RFC 8446 §5.1: a handshake record (type 22) opens every TLS connection. Decided
                // on one byte so any split of the stream gives the same answer.
                self.gateway = .tls
                self.startsTLS = offset == UInt64(self.gatewayStart) && self.canStartTLS
                return .deliver
            }
            if first == 0x01, offset == UInt64(self.gatewayStart) {
                // FastCGI 1.0 §3.3: FCGI_VERSION_1, the first byte of every record; no request
                // line starts with it.
                self.gateway = .fastCGI
                return .deliver
            }
            guard offset == UInt64(self.gatewayStart), first == Self.http2Preface[0] else {
                self.gateway = .http1
                return .deliver
            }
        } else if self.gateway != nil {
            return .deliver
        }
        // Possibly the HTTP/2 preface: compare as far as these bytes go.
        var index = 0
        while index < bytes.count, self.prefaceMatched < Self.http2Preface.count {
            guard bytes[index] == Self.http2Preface[self.prefaceMatched] else {
                self.gateway = .http1
                return wasHolding ? .deliverHeldFirst : .deliver
            }
            self.prefaceMatched += 1
            index += 1
        }
        if self.prefaceMatched == Self.http2Preface.count {
            self.gateway = .http2
            return wasHolding ? .deliverHeldFirst : .deliver
        }
        self.modifyRare { $0.held.append(HeldBytes(bytes: Array(bytes), offset: offset, frame: frame, frameOffset: frameOffset, time: time)) }
        self.holding = true
        return .hold
    }

    /// Empties `held` once the caller has handed it on.
    mutating func releaseHeld() {
        if self.holding { self.rare!.held = [] }
        self.holding = false
        self.updateSettled()
    }

    /// A gap in the gateway's stream: what is held cannot be the preface (HTTP/1 then).
    /// Returns whether `held` is to be handed on first.
    mutating func gatewayGap() -> Bool {
        self.clientHadGap = true
        return self.stopHolding()
    }

    /// Bytes held while they might be the preface go to HTTP/1 when the stream stops short of it.
    private mutating func stopHolding() -> Bool {
        defer { self.updateSettled() }
        guard self.gateway == nil, self.holding else { return false }
        self.gateway = .http1
        return true
    }

    // MARK: The upstream's side

    /// Whether the upstream's first bytes come while the gateway's protocol is not known: they
    /// are held while they may be an HTTP/2 server's connection preface. Asked once.
    private mutating func mayHoldUpstream(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
        guard !self.upstreamHoldTried, !bytes.isEmpty else { return false }
        self.upstreamHoldTried = true
        self.upstreamCameFirst = !self.clientSeen && !self.clientHadGap
        return self.gateway == nil && !self.serverSeen && !self.clientHadGap && offset == 0
    }

    /// Holds the upstream's bytes while its first 9 may be a SETTINGS frame header (RFC 9113
    /// §3.4, §6.5: type 4, flags 0, stream 0), decided byte by byte so that any split of the
    /// stream decides alike.
    private mutating func holdUpstream(
        _ bytes: UnsafeRawBufferPointer, at offset: UInt64, frame: FrameNumber, frameOffset: Int?, time: Timestamp
    ) -> Step {
        let heldBefore = self.$rare ? self.rare!.upstreamHeldCount : 0
        var index = 0
        while !self.upstreamHeldDecided, index < bytes.count, heldBefore + index < 9 {
            let at = heldBefore + index
            // Bytes 0-2 are the length; 3 the type (SETTINGS); 4 the flags; 5-8 the stream id.
            if at >= 3, bytes[index] != (at == 3 ? 0x04 : 0) { self.upstreamHeldDecided = true }
            index += 1
        }
        if heldBefore + bytes.count > Self.upstreamHoldLimit { self.upstreamHeldDecided = true }
        self.modifyRare {
            $0.upstreamHeld.append(HeldBytes(bytes: Array(bytes), offset: offset, frame: frame, frameOffset: frameOffset, time: time))
            $0.upstreamHeldCount += bytes.count
        }
        self.holdsUpstream = true
        return self.upstreamHeldDecided ? .releaseUpstream : .hold
    }

    /// Takes the upstream's held bytes to be handed on, in their own chunks: the caller shows
    /// each to the probe (`inspect`) and then to the analyzer. An HTTP/2 server's SETTINGS
    /// before the gateway's preface reached it did not speak out of turn.
    mutating func takeUpstreamHeld() -> [HeldBytes] {
        guard self.holdsUpstream else { return [] }
        let held = self.rare!.upstreamHeld
        self.rare!.upstreamHeld = []
        self.holdsUpstream = false
        if self.gateway == .http2, !self.upstreamHeldDecided { self.upstreamCameFirst = false }
        self.updateSettled()
        return held
    }

    private mutating func inspectUpstream(_ bytes: UnsafeRawBufferPointer, at offset: UInt64, frame: FrameNumber, frameOffset: Int?) {
        guard !bytes.isEmpty else { return }
        var sample: FirstBytes
        if !self.serverSeen {
            self.serverSeen = true
            // RFC 9112 §9.3 has the client speak first; bytes before any request are unsolicited.
            let cameFirst = self.upstreamHoldTried ? self.upstreamCameFirst : !self.clientSeen && !self.clientHadGap
            if cameFirst, offset == 0 {
                let shown = min(bytes.count, 64)
                let length = min(bytes.count, 32)
                let contextEnd = min(bytes.count, length + 24)
                let evidence = Evidence(
                    direction: .server, streamOffset: offset, frame: frame, frameOffset: frameOffset, length: UInt64(length),
                    bytes: Array(bytes[0..<min(length, shown)]), context: Array(bytes[0..<contextEnd]), contextOffset: offset,
                    note: "bytes before the gateway sent anything")
                let finding = Finding(
                    code: .protoServerSpeaksFirst, severity: .fatal, evidence: [evidence],
                    value: String(decoding: bytes.prefix(16), as: UTF8.self))
                // The first 32 bytes (the value the first 16) are the evidence however the stream was cut.
                self.modifyRare { $0.serverSpokeFirst = GrowingFinding(finding, limit: 32, valueBytes: 16, masks: false) }
                self.updateGrowing()
            }
            // A first response cut by a gap before it is not judged (its analyzer lost its start too).
            guard offset == 0 else { return }
            sample = FirstBytes(start: offset, frame: frame, frameOffset: frameOffset)
        } else {
            guard self.hasSample else { return }
            sample = self.rare!.sample!
        }
        // Where the head ends is looked for up to its ninth byte, which is all the rules read;
        // further (to 40) only for a mismatch's evidence, which shows the bytes up to there.
        let looked = min(bytes.count, max(0, 9 - sample.total))
        var end = sample.findEnd(bytes, from: 0, to: looked) ?? bytes.count
        guard sample.headEnded || sample.total + end >= 9 else {
            sample.keep(bytes, upTo: end)
            self.modifyRare { $0.sample = sample }
            self.hasSample = true
            return
        }
        if self.hasSample {
            self.rare!.sample = nil
            self.hasSample = false
        }
        self.upstreamJudged = true
        self.judgedOffset = sample.start
        if sample.bytes.isEmpty {
            // The head's start came in these bytes (the usual case): judged in place.
            let judgement = Self.judgeUpstream(UnsafeRawBufferPointer(rebasing: bytes[0..<min(end, 9)]), gateway: self.gateway)
            guard case .mismatch = judgement else { return }
        }
        if !sample.headEnded {
            end = sample.findEnd(bytes, from: looked, to: min(bytes.count, ProtocolViolation.sampleLimit - sample.total)) ?? bytes.count
        }
        sample.keep(bytes, upTo: end)
        sample.bytes.withUnsafeBytes { self.judge(sample, $0) }
    }

    /// A gap in the upstream's stream: a first response it cut is not judged (its analyzer
    /// loses its framing there too).
    mutating func upstreamGap() {
        self.serverSeen = true
        if self.hasSample {
            self.rare!.sample = nil
            self.hasSample = false
        }
        self.updateSettled()
    }

    /// The connection's first FIN or RST: a first response too short to judge so far is judged
    /// on what came. Returns whether `held` is to be handed on first (it was not the preface).
    mutating func close() -> Bool {
        if self.hasSample { self.judgeSample() }
        return self.stopHolding()
    }

    /// The upstream's bytes (at stream `offset`), for the evidence that still grows: whatever
    /// of them continues it. Showing the same bytes twice adds nothing.
    mutating func grow(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        guard self.$rare else { return }
        self.rare!.serverSpokeFirst?.extend(bytes, at: offset)
        self.rare!.mismatch?.extend(bytes, at: offset)
        self.updateGrowing()
    }

    private mutating func judgeSample() {
        guard self.hasSample, let sample = self.rare!.sample else { return }
        self.rare!.sample = nil
        self.hasSample = false
        sample.bytes.withUnsafeBytes { self.judge(sample, $0) }
    }

    /// Judges the upstream's first response, whose first bytes (up to 40) are `bytes`.
    private mutating func judge(_ sample: FirstBytes, _ bytes: UnsafeRawBufferPointer) {
        self.upstreamJudged = true
        self.judgedOffset = sample.start
        self.record(
            Self.judgeUpstream(bytes, gateway: self.gateway), bytes: bytes, start: sample.start, frame: sample.frame,
            frameOffset: sample.frameOffset)
    }

    /// What an analyzer could not parse (a later response that is not HTTP/1): judged as the
    /// first response is, unless it is the first response, judged already. Returns whether a
    /// finding was made.
    @discardableResult
    mutating func judge(_ violation: ProtocolViolation) -> Bool {
        guard violation.streamOffset != self.judgedOffset, self.mismatch == nil else { return false }
        self.judgedOffset = violation.streamOffset
        violation.bytes.withUnsafeBytes { bytes in
            self.record(
                Self.judgeUpstream(bytes, gateway: self.gateway), bytes: bytes, start: violation.streamOffset,
                frame: violation.frame, frameOffset: violation.frameOffset)
        }
        return self.mismatch != nil
    }

    private mutating func record(
        _ judgement: UpstreamJudgement, bytes: UnsafeRawBufferPointer, start: UInt64, frame: FrameNumber?, frameOffset: Int?
    ) {
        guard case .mismatch(let code, let limit, let valueBytes, let note) = judgement, self.mismatch == nil else { return }
        let length = min(bytes.count, limit)
        let visible = self.redactsSecrets ? Redaction.masked(Array(bytes)) : Array(bytes)
        let evidence = Evidence(
            direction: .server, streamOffset: start, frame: frame, frameOffset: frameOffset, length: UInt64(length),
            bytes: Array(visible[0..<length]), context: Array(visible[0..<min(bytes.count, length + 24)]), contextOffset: start,
            note: note)
        // The value from the evidence's bytes: credentials in them are masked there too.
        let value = valueBytes > 0 ? String(decoding: evidence.bytes.prefix(valueBytes), as: UTF8.self) : nil
        let mismatch = GrowingFinding(
            Finding(code: code, severity: .fatal, evidence: [evidence], value: value), limit: limit, valueBytes: valueBytes,
            masks: self.redactsSecrets)
        self.modifyRare { $0.mismatch = mismatch }
        self.updateGrowing()
    }

    private mutating func updateGrowing() {
        self.isGrowing = self.$rare && (self.rare!.serverSpokeFirst?.isGrowing == true || self.rare!.mismatch?.isGrowing == true)
    }

    private mutating func updateSettled() {
        self.isSettled = self.gateway != nil && self.serverSeen && !self.holding && !self.hasSample && !self.holdsUpstream
    }

    // MARK: Rules

    /// How the upstream's first bytes of a response sit with the gateway's protocol.
    enum UpstreamJudgement: Equatable {
        /// They are what the gateway speaks.
        case agrees
        /// They are another protocol's: `code`, with evidence of up to `limit` bytes (the value
        /// their first `valueBytes`, when not 0).
        case mismatch(FindingCode, limit: Int, valueBytes: Int, note: String)
        /// Not read here: the analyzer of the gateway's protocol judges them.
        case notRead
    }

    /// The rules, in the order asked. `bytes`: the response's first bytes, up to 40.
    static func judgeUpstream(_ bytes: UnsafeRawBufferPointer, gateway: ApplicationProtocol?) -> UpstreamJudgement {
        let startsHTTP = bytes.count >= 5 && bytes[0] == 0x48 && bytes[1] == 0x54 && bytes[2] == 0x54 && bytes[3] == 0x50 && bytes[4] == 0x2f
        switch gateway {
        case .tls:
            // Records are the TLS analyzer's to read; only plain HTTP is named here.
            return startsHTTP
                ? .mismatch(.protoTLSToPlainPort, limit: 16, valueBytes: 0, note: "plain HTTP in answer to the gateway's TLS ClientHello")
                : .notRead
        case .fastCGI:
            // Records are the FastCGI analyzer's to read; an HTTP status line is named here (nginx:
            // "upstream sent unsupported FastCGI protocol version: 72").
            return startsHTTP
                ? .mismatch(.protoHTTPResponseToFCGI, limit: 16, valueBytes: 16, note: "an HTTP response in answer to the gateway's FastCGI request")
                : .notRead
        case .http1, .http2, nil:
            break
        }
        // RFC 8446 §5.1: an alert (21) or handshake (22) record of version 3.x.
        if bytes.count >= 2, bytes[0] == 0x15 || bytes[0] == 0x16, bytes[1] == 0x03 {
            return .mismatch(
                .protoPlainToTLSPort, limit: 7, valueBytes: 0,
                note: bytes[0] == 0x15 ? "a TLS alert record in answer to plain HTTP" : "a TLS handshake record in answer to plain HTTP")
        }
        // RFC 9113 §4.1, §6.5: a SETTINGS frame header (type 4, flags 0 or ACK, stream 0), which
        // an HTTP/2 server sends first.
        if bytes.count >= 9, bytes[3] == 0x04, bytes[4] & 0xfe == 0, bytes[5] & 0x7f == 0, bytes[6] == 0, bytes[7] == 0, bytes[8] == 0 {
            if gateway == .http2 { return .agrees }
            return .mismatch(.protoH2ResponseToH1, limit: 9, valueBytes: 0, note: "an HTTP/2 SETTINGS frame header (the upstream speaks only HTTP/2)")
        }
        // RFC 9112 §4: a status line begins "HTTP/" (in any case here: the HTTP/1 analyzer
        // reports a version in the wrong case).
        let startsStatusLine =
            startsHTTP || (bytes.count >= 5 && zip(bytes, "http/".utf8).allSatisfy { ($0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0) == $1 })
        if gateway == .http2 {
            // An HTTP/1 status line in answer to the preface: what the vocabulary first called
            // proto.h2_preface_to_h1 (named for the gateway's side; kept, no longer raised) is
            // proto.h1_response_to_h2 (named for what the upstream sent, as proto.h2_response_to_h1
            // is the other way round). Other bytes are frames, or not: the HTTP/2 analyzer's
            // h2.preface.bad.
            return startsStatusLine
                ? .mismatch(.protoH1ResponseToH2, limit: 16, valueBytes: 16, note: "an HTTP/1 status line in answer to the HTTP/2 preface the gateway sent")
                : .notRead
        }
        if startsStatusLine { return .agrees }
        return .mismatch(.protoNonHTTPResponse, limit: 16, valueBytes: 16, note: "a response that does not start with \"HTTP/\"")
    }
}

/// A finding about a stream's first bytes whose evidence (and value) takes the bytes that
/// follow, up to `limit`, while they follow on from it.
struct GrowingFinding {
    private(set) var finding: Finding
    let limit: Int
    let valueBytes: Int
    /// Whether the evidence's bytes are masked again as they grow (`Redaction`).
    let masks: Bool
    private(set) var isGrowing = true

    init(_ finding: Finding, limit: Int, valueBytes: Int, masks: Bool) {
        self.finding = finding
        self.limit = limit
        self.valueBytes = valueBytes
        self.masks = masks
        self.isGrowing = Int(finding.evidence[0].length) < limit
    }

    /// Adds the bytes of `bytes` (at stream `offset`) that continue the evidence; stops growing
    /// at the limit or at bytes that do not follow on (after a gap).
    mutating func extend(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        guard self.isGrowing else { return }
        var evidence = self.finding.evidence[0]
        let have = Int(evidence.length)
        let end = evidence.streamOffset &+ UInt64(have)
        guard have < self.limit, evidence.bytes.count == have, end >= offset, end - offset <= UInt64(bytes.count) else {
            self.isGrowing = false
            return
        }
        let start = Int(end - offset)
        let more = UnsafeRawBufferPointer(rebasing: bytes[start...]).prefix(self.limit - have)
        evidence.length += UInt64(more.count)
        evidence.bytes += more
        // Masked again as a whole: a credential's value may go on in the bytes added.
        if self.masks { evidence.bytes = Redaction.masked(evidence.bytes) }
        self.finding.evidence[0] = evidence
        if self.valueBytes > 0 {
            self.finding.value = String(decoding: evidence.bytes.prefix(self.valueBytes), as: UTF8.self)
        }
    }
}

/// The upstream's first response head while it is too short to judge: up to 40 bytes and the
/// frame of the first, cut where the head ends (an empty line), as an HTTP/1 parser holds it.
struct FirstBytes {
    let start: UInt64
    let frame: FrameNumber
    let frameOffset: Int?
    private(set) var bytes: [UInt8] = []
    /// Bytes of the head so far (all of them, not only those kept).
    private(set) var total = 0
    private(set) var headEnded = false
    private var lineLength = 0
    private var lastByte: UInt8 = 0

    init(start: UInt64, frame: FrameNumber, frameOffset: Int?) {
        self.start = start
        self.frame = frame
        self.frameOffset = frameOffset
    }

    /// Looks for the end of the head (an empty line) in `bytes[start..<end]`, going on from
    /// the bytes looked at before; returns the index just past it when found.
    mutating func findEnd(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == 0x0a {
                // RFC 9112 §2.2: an empty line (CRLF, or a bare LF) ends the head.
                if self.lineLength == 0 || (self.lineLength == 1 && self.lastByte == 0x0d) {
                    self.headEnded = true
                    return index + 1
                }
                self.lineLength = 0
                self.lastByte = 0x0a
            } else {
                self.lineLength += 1
                self.lastByte = byte
            }
            index += 1
        }
        return nil
    }

    /// Counts the head's bytes of `bytes` (those before `end`) and keeps them, up to 40 in all.
    mutating func keep(_ bytes: UnsafeRawBufferPointer, upTo end: Int) {
        let kept = min(end, ProtocolViolation.sampleLimit - self.bytes.count)
        if kept > 0 { self.bytes += UnsafeRawBufferPointer(rebasing: bytes[0..<kept]) }
        self.total += end
    }
}
