import CaptureModel
import HTTP1

/// What one gateway does when it meets a finding.
public struct GatewayReaction: Hashable, Sendable {
    /// How the exchange ends for the gateway's client.
    public enum Kind: String, Hashable, Sendable {
        /// The gateway fails the exchange: 502/503/504 before any response header was forwarded,
        /// or a cut body after.
        case rejects
        /// The bytes pass (possibly normalised); no error.
        case accepts
        /// nginx: relays the raw bytes as an HTTP/0.9 body with status 200.
        case passesAsHTTP09
        /// The gateway silently retries on another connection (nginx's keep-alive race for
        /// idempotent requests).
        case retries
        /// HAProxy's `abort_keep_alive`: closes the client connection with no status.
        case closesSilently
    }

    /// How the exchange ends.
    public var kind: Kind
    /// The status the gateway's client sees when the gateway generates one (502/503/504, or 200
    /// for nginx's HTTP/0.9 relay), or the upstream's status for a relayed `http.upstream_5xx`;
    /// `nil` when there is none (a cut body, a silent close or retry, an accepted response).
    public var status: Int?
    /// nginx: the error.log line, with its `while ...` suffix; HAProxy: the termination state
    /// (`PH`, `SH`, `SD`, `PD`, `SC`, `sC`, `sH`); Envoy: the response flag (`UPE`, `UC`, `UF`,
    /// `UT`); strict: the RFC section. `…` stands for bytes of the offending line that the rules
    /// do not see. Empty when the gateway logs nothing.
    public var detail: String
    /// What the cell needs beyond `detail`: other texts the gateway may log, the configuration it
    /// assumes, the release a rule changed in, or that the taxonomy did not verify the cell.
    public var note: String?

    /// A reaction from its parts.
    public init(kind: Kind, status: Int?, detail: String, note: String? = nil) {
        self.kind = kind
        self.status = status
        self.detail = detail
        self.note = note
    }
}

/// What a connection looked like when the finding hit, for rules that depend on it.
public struct RuleContext: Hashable, Sendable {
    /// Where the exchange was: a rejection once response headers went out (`response_body`) is a
    /// cut body, not a 502.
    public var phase: Phase
    /// The request's method: nginx does not retry POST, LOCK or PATCH after a keep-alive race.
    public var method: String?
    /// The request went on a connection that already carried a response, so a close or reset
    /// before the response is the keep-alive race.
    public var reusedConnection: Bool
    /// The upstream's status, when one was parsed.
    public var upstreamStatus: Int?
    /// The offending token, for the rules that depend on its bytes: the `Content-Length` value
    /// (`5, 5`; for `http.cl.duplicate` every line's value joined with `, `), the
    /// `Transfer-Encoding` value, the status line's version token (`HTTP/1.10`), the status-code
    /// token with any extra leading SP (` 200`), the first bytes of a response that does not
    /// start with `HTTP/`, or for `tcp.fin.mid_body`/`tcp.rst.mid_body` the body's framing
    /// (`chunked`, `content-length`), or for `http.header.too_many` the head's field count.
    public var value: String?
    /// The offending body bytes arrived in the same segment as the end of the response head.
    /// HAProxy parses the whole read before it forwards the head, so a chunked error there is
    /// still a 502 `PH` (seen with 2.6.12); nginx and Envoy have started the response by then.
    public var arrivedWithHead: Bool
    /// The hop is FastCGI (nginx's `fastcgi_pass`, Apache's `mod_proxy_fcgi`, Caddy's
    /// `php_fastcgi`): the response head came inside FCGI_STDOUT, and some log texts differ.
    public var isFastCGI = false

    /// A context from its parts; the defaults describe a fresh connection's response head.
    public init(
        phase: Phase = .responseHead, method: String? = nil, reusedConnection: Bool = false,
        upstreamStatus: Int? = nil, value: String? = nil, arrivedWithHead: Bool = false
    ) {
        self.phase = phase
        self.method = method
        self.reusedConnection = reusedConnection
        self.upstreamStatus = upstreamStatus
        self.value = value
        self.arrivedWithHead = arrivedWithHead
    }
}

/// A gateway release that changed what the gateway does with one code: releases older than
/// `since` reacted with `before`.
public struct GatewayRuleChange: Hashable, Sendable {
    /// The gateway model's name (`nginx`).
    public var family: String
    /// The code whose rule changed.
    public var code: FindingCode
    /// The first release with the newer behaviour (`1.23.0`).
    public var since: String
    /// What releases before `since` did.
    public var before: GatewayReaction
    /// Where the change is documented.
    public var source: String
    /// `false` when the release number is inferred rather than read in a changelog or source.
    public var verified: Bool
}


/// One gateway's behaviour: what its client sees and what it logs for every root-cause code, the
/// releases whose rules differ, and the limits it judges the upstream's bytes against.
///
/// Each gateway is one file in `Sources/Diagnosis/Gateways/` and one line of `Gateways.all`.
/// `reaction(to:context:)` switches over `RootCause` with no `default:`, so a code added to the
/// vocabulary does not compile until every model says what it does with it.
public protocol GatewayModel: Sendable {
    /// What `--gateway` takes and the report's `verdict.gateways` key: `nginx` (lowercase ASCII;
    /// a literal, as every JSON member name is).
    var key: StaticString { get }
    /// How a sentence names it: `nginx`, `the strict profile`.
    var spokenName: String { get }
    /// The product as people write it, with what the model covers: `nginx (proxy_pass)`.
    var title: String { get }
    /// The release series (`MAJOR.MINOR`) whose behaviour the rules describe, oldest first.
    /// Empty when the model knows no release differences, so a version would mean nothing.
    var releases: [String] { get }
    /// The releases that changed a rule, each with what came before.
    var changes: [GatewayRuleChange] { get }
    /// The JSON member the detail goes in (`log`, `termination`, `flag`) and how a table heads it.
    var detail: GatewayDetail { get }
    /// Shown in every verdict's `gateways`, whichever model decides the class.
    var isAlwaysReported: Bool { get }
    /// Which error of a chain with several the gateway reports.
    var chainErrorPick: ChainErrorPick { get }
    /// The sizes and times its defaults judge an upstream against; the rules read them.
    var limits: GatewayLimits { get }
    /// What the gateway does with `code` in its newest known behaviour.
    func reaction(to code: FindingCode, context: RuleContext) -> GatewayReaction
    /// The class of a failure the gateway answered with `status` itself (the default: 500, 503
    /// and 504 are their own classes, any other status is a 502-class error).
    func errorClass(forStatus status: Int) -> VerdictClass
    /// A last look at `reaction` once the release's changes and the body-phase rule were applied
    /// (HAProxy reads a chunk that came with the head as part of the head). The default returns
    /// it unchanged.
    func settle(_ reaction: GatewayReaction, code: FindingCode, context: RuleContext) -> GatewayReaction
}

extension GatewayModel {
    /// What `--gateway` takes and the report's `verdict.gateways` key: `nginx`.
    public var name: String { self.key.description }

    public var isAlwaysReported: Bool { false }
    public var changes: [GatewayRuleChange] { [] }
    public var chainErrorPick: ChainErrorPick { .first }

    public func settle(_ reaction: GatewayReaction, code: FindingCode, context: RuleContext) -> GatewayReaction {
        reaction
    }

    public func errorClass(forStatus status: Int) -> VerdictClass {
        switch status {
        case 500: return .internalError
        case 503: return .serviceUnavailable
        case 504: return .gatewayTimeout
        default: return .badGateway
        }
    }

    /// Whether `version` is one of `releases` or a point release of one (`1.22`, `1.22.1`).
    public func isKnownRelease(_ version: String) -> Bool {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return false }
        // Numerically: `1.022` is not a release anyone writes, but `1.22` is.
        guard let major = Int(parts[0]), let minor = Int(parts[1]) else { return false }
        return self.releases.contains("\(major).\(minor)") && parts[0] == "\(major)" && parts[1] == "\(minor)"
    }
}

/// The sizes and times a gateway's defaults judge an upstream's response against. The parsers
/// measure (the head's bytes, its fields, its longest line: `http.header.too_large`'s value);
/// each model's rules compare those measures with its own limits. `nil`: no such limit.
public struct GatewayLimits: Sendable {
    /// The largest response head taken, in bytes, as the gateway counts it.
    public var headBytes: Int?
    /// The most header fields taken.
    public var fieldCount: Int?
    /// The longest header line taken, in bytes, without its line end.
    public var lineBytes: Int?
    /// How long it waits for the response head, in seconds.
    public var readTimeout: Double?
    /// How long it waits for the connection to open, in seconds.
    public var connectTimeout: Double?
    /// Where the numbers come from (a default in the documentation or source, a measurement here).
    public var source: String

    public init(
        headBytes: Int? = nil, fieldCount: Int? = nil, lineBytes: Int? = nil, readTimeout: Double? = nil,
        connectTimeout: Double? = nil, source: String
    ) {
        self.headBytes = headBytes
        self.fieldCount = fieldCount
        self.lineBytes = lineBytes
        self.readTimeout = readTimeout
        self.connectTimeout = connectTimeout
        self.source = source
    }
}

/// Where a model's detail goes in the JSON report and how a table heads it.
public struct GatewayDetail: Sendable {
    /// The member of `verdict.gateways.NAME`: `log`.
    public var key: StaticString
    /// A column heading: `error.log`.
    public var label: String

    public init(key: StaticString, label: String) {
        self.key = key
        self.label = label
    }
}

/// Which verification error a gateway reports when a chain has several.
public enum ChainErrorPick: Hashable, Sendable {
    /// OpenSSL's first error (a callback that stops there, or the RFC read strictly).
    case first
    /// OpenSSL's first error that is not the name check: the name is checked only when the rest
    /// verified (HAProxy's callback).
    case firstBeforeName
    /// The last error that is not the name check (nginx reads `SSL_get_verify_result` after the
    /// handshake, which holds the last one).
    case lastBeforeName
}

/// Pieces several models share.
enum GatewayRuleKit {
    /// The reaction for a code no rule covers (reassembly facts, limits): not a gateway event.
    static let noRule = GatewayReaction(kind: .accepts, status: nil, detail: "", note: "no gateway rule for this code")

    /// A FastCGI code behind a gateway with no FastCGI client: it cannot arise there.
    static let noFastCGI = GatewayReaction(
        kind: .accepts, status: nil, detail: "", note: "no FastCGI client: this gateway cannot have a FastCGI hop")

    /// A DNS code behind a gateway that resolves no upstream name (ALB targets are addresses or
    /// instance ids).
    static let noNameResolution = GatewayReaction(
        kind: .accepts, status: nil, detail: "", note: "targets are registered by address or instance id: the load balancer resolves no upstream name")

    /// Capture problems are ours: the gateway saw the bytes the capture lost.
    static let notSeen = GatewayReaction(
        kind: .accepts, status: nil, detail: "", note: "a capture problem: the gateway saw the bytes the capture lacks")

    /// `tcp.mtu_blackhole`: the full-size segments never arrive, so the gateway sees an upstream
    /// that does not answer and its timeout ends the exchange as `timeout` (its
    /// `tcp.read_timeout` reaction) does.
    static func mtuBlackhole(_ timeout: GatewayReaction, seen: String? = nil) -> GatewayReaction {
        var reaction = timeout
        reaction.note = (seen ?? "inferred: a silent upstream to the gateway, ended by its read timeout")
            + (timeout.note.map { "; " + $0 } ?? "")
        return reaction
    }

    static func relayed(_ context: RuleContext, _ detail: String) -> GatewayReaction {
        GatewayReaction(kind: .accepts, status: context.upstreamStatus, detail: detail, note: "the upstream's own status, relayed")
    }

    /// The upstream's 400 to a PROXY protocol header it took for a request line, relayed to the
    /// client as a response of its own (HAProxy's `send-proxy` in front of a plain HTTP server).
    static func proxyHeaderRelayed(_ detail: String) -> GatewayReaction {
        GatewayReaction(kind: .accepts, status: 400, detail: detail, note: "the upstream's 400 to the PROXY header reaches the client")
    }

    /// A `Content-Length` value read as RFC 9110 §8.6 allows: a comma list of digit runs, OWS
    /// around each, leading zeros not significant. `nil` when any member is not digits.
    static func contentLengths(_ value: String) -> [String]? {
        var lengths: [String] = []
        for member in value.split(separator: ",", omittingEmptySubsequences: false) {
            let digits = member.trimmingOWS
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            let trimmed = digits.drop { $0 == "0" }
            lengths.append(trimmed.isEmpty ? "0" : String(trimmed))
        }
        return lengths
    }

    /// The value is one length, possibly repeated (`5, 5`, `05`), as HAProxy merges it.
    static func isIdenticalLengthList(_ value: String) -> Bool {
        guard let lengths = self.contentLengths(value) else { return false }
        return Set(lengths).count == 1
    }

    /// The head's size in bytes from an `http.header.too_large` finding's value (`"5000 4210 120"`:
    /// the head's bytes, what it takes in HAProxy's HTX buffer, then the longest field line).
    static func headSize(_ value: String?) -> Int? {
        value.flatMap { $0.split(separator: " ").first.flatMap { Int($0) } }
    }

    /// The longest field line's bytes (without its line end) from an `http.header.too_large`
    /// finding's value, its third number; `nil` when the value has none (a head that never ended).
    static func longestFieldLine(_ value: String?) -> Int? {
        guard let parts = value?.split(separator: " "), parts.count > 2 else { return nil }
        return Int(parts[2])
    }

    /// The status-code token is three digits once extra leading SP are skipped (`HTTP/1.1  200`).
    static func isThreeDigitCode(_ value: String?) -> Bool {
        guard let value else { return false }
        let code = value.drop { $0 == " " }
        return code.count == 3 && code.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A gateway that speaks only HTTP/1 to its upstreams never reads an HTTP/2 frame.
    static func http1Only(_ gateway: String) -> GatewayReaction {
        GatewayReaction(
            kind: .accepts, status: nil, detail: "",
            note: "no rule: \(gateway) speaks only HTTP/1 to upstreams, so it never reads HTTP/2 frames")
    }

    /// The number of an HTTP/2 error code (RFC 9113 §7) from its name (`REFUSED_STREAM` → `7`), as
    /// nginx logs it; `N` when the name is unknown.
    static func http2ErrorNumber(_ value: String?) -> String {
        let names = [
            "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
            "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        ]
        guard let name = value?.split(separator: " ").first, let number = names.firstIndex(of: String(name)) else { return "N" }
        return String(number)
    }

    /// RFC 8446 §6 / RFC 5246 §7.2 alert descriptions, for the number OpenSSL prints.
    static let alertNumbers: [String: Int] = [
        "close_notify": 0, "unexpected_message": 10, "bad_record_mac": 20, "record_overflow": 22,
        "handshake_failure": 40, "bad_certificate": 42, "unsupported_certificate": 43, "certificate_revoked": 44,
        "certificate_expired": 45, "certificate_unknown": 46, "illegal_parameter": 47, "unknown_ca": 48,
        "access_denied": 49, "decode_error": 50, "decrypt_error": 51, "protocol_version": 70,
        "insufficient_security": 71, "internal_error": 80, "inappropriate_fallback": 86, "user_canceled": 90,
        "missing_extension": 109, "unsupported_extension": 110, "unrecognized_name": 112,
        "bad_certificate_status_response": 113, "unknown_psk_identity": 115, "certificate_required": 116,
        "no_application_protocol": 120,
    ]
}

extension GatewayReaction {
    /// A rejection: `status` is what the client sees, `nil` for a cut body.
    public static func rejects(_ status: Int?, _ detail: String, note: String? = nil) -> GatewayReaction {
        GatewayReaction(kind: .rejects, status: status, detail: detail, note: note)
    }

    /// The gateway retries on another connection.
    public static func retries(_ detail: String = "", note: String? = nil) -> GatewayReaction {
        GatewayReaction(kind: .retries, status: nil, detail: detail, note: note)
    }

    /// The bytes pass.
    public static func accepts(_ detail: String = "", note: String? = nil) -> GatewayReaction {
        GatewayReaction(kind: .accepts, status: nil, detail: detail, note: note)
    }
}

extension Substring {
    /// Without the OWS (SP, HTAB) around it, RFC 9110 §5.6.3.
    var trimmingOWS: Substring {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return trimmed
    }
}
