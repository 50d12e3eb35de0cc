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
    /// token with any extra leading SP (` 200`), or the first bytes of a response that does not
    /// start with `HTTP/`.
    public var value: String?
    /// The offending body bytes arrived in the same segment as the end of the response head.
    /// HAProxy parses the whole read before it forwards the head, so a chunked error there is
    /// still a 502 `PH` (seen with 2.6.12); nginx and Envoy have started the response by then.
    public var arrivedWithHead: Bool

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
    /// The gateway family.
    public var family: GatewayProfile.Kind
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

/// What nginx, HAProxy, Envoy and a strict reading of the RFCs do with each root-cause code
/// (`docs/gateway-taxonomy.md` sections 2 to 4), by phase and by release.
///
/// The behaviour of a family without a version is the newest the taxonomy read: nginx 1.31.5,
/// HAProxy 3.5-dev5, Envoy's router as indexed. Defaults are assumed throughout: nginx
/// `proxy_next_upstream error timeout`, `proxy_buffer_size` one page, `proxy_ssl_verify on` for
/// the certificate codes only (it is off by default); HAProxy strict parsing (no
/// `option accept-unsafe-violations-in-http-response`, spelled `accept-invalid-http-response`
/// before 3.0), `ssl-server-verify required`, `http-reuse safe`; Envoy without retry policy.
/// Debian 12's nginx 1.22.1 and HAProxy 2.6.12 were run against crafted upstream responses to
/// check the rules for those releases (docs/gateways.md: Debian's packages are ground truth for them).
public enum GatewayRules {
    /// The three gateways the report always shows.
    public static let reported: [GatewayProfile.Kind] = [.nginx, .haproxy, .envoy]

    /// What `profile` (family and optional version; `nil` version = newest behaviour known) does
    /// with `code`.
    public static func reaction(to code: FindingCode, context: RuleContext, profile: GatewayProfile) -> GatewayReaction {
        let name = code.description
        var reaction: GatewayReaction
        switch profile.kind {
        case .nginx: reaction = self.nginx(name, context)
        case .haproxy: reaction = self.haproxy(name, context)
        case .envoy: reaction = self.envoy(name, context)
        case .strict: reaction = self.strict(name, context)
        }
        if let version = profile.version, let change = self.change(for: code, family: profile.kind, at: version) {
            reaction = change.before
        }
        if reaction.kind == .rejects, profile.kind == .haproxy, context.arrivedWithHead, name.hasPrefix("http.chunked.") {
            return .rejects(502, "PH", note: "the bad chunk came in the same read as the head, which HAProxy had not forwarded yet (seen with 2.6.12)")
        }
        // Taxonomy §1.1: once a response header went out, a failure can only cut the body.
        if reaction.kind == .rejects, self.isBodyPhase(name) || context.phase == .responseBody {
            reaction.status = nil
        }
        return reaction
    }

    /// What each reported gateway does, keyed `nginx`, `haproxy`, `envoy` as the report's
    /// `gateways` object is. `profile`'s version applies to its own family; the others show
    /// their newest behaviour.
    public static func outcomes(for code: FindingCode, context: RuleContext, profile: GatewayProfile = .default) -> [String: GatewayOutcome] {
        var outcomes: [String: GatewayOutcome] = [:]
        for family in self.reported {
            let familyProfile = family == profile.kind ? profile : GatewayProfile(kind: family)
            outcomes[family.rawValue] = self.outcome(self.reaction(to: code, context: context, profile: familyProfile))
        }
        return outcomes
    }

    /// A verdict for `code`: the class the chosen `profile`'s reaction gives, and what every
    /// reported gateway does (`profile`'s version applies to its own family).
    public static func verdict(
        _ code: FindingCode, context: RuleContext, profile: GatewayProfile, summary: String
    ) -> Verdict {
        let chosen = self.reaction(to: code, context: context, profile: profile)
        return Verdict(
            code: code, verdictClass: self.verdictClass(for: chosen, code: code, context: context), phase: context.phase,
            summary: summary, gateways: self.outcomes(for: code, context: context, profile: profile))
    }

    /// The report's view of a reaction.
    public static func outcome(_ reaction: GatewayReaction) -> GatewayOutcome {
        GatewayOutcome(status: reaction.status, detail: reaction.detail)
    }

    /// The class of a verdict whose deciding gateway reacted to `code` with `reaction`.
    public static func verdictClass(for reaction: GatewayReaction, code: FindingCode, context: RuleContext) -> VerdictClass {
        if code.description.hasPrefix("capture.") { return .unknown }
        switch reaction.kind {
        case .rejects:
            switch reaction.status {
            case 503: return .serviceUnavailable
            case 504: return .gatewayTimeout
            case nil: return .truncated
            default: return .badGateway
            }
        case .accepts:
            let status = reaction.status ?? context.upstreamStatus
            if let status, (500...599).contains(status) { return .relayed }
            return .ok
        case .passesAsHTTP09, .retries:
            // The client got a status (200 for the HTTP/0.9 relay, the retry's own otherwise).
            return .ok
        case .closesSilently:
            // No status and no complete response: the client saw the connection end.
            return .truncated
        }
    }

    /// Where in the exchange `code` happens when nothing else is known.
    public static func defaultPhase(for code: FindingCode) -> Phase {
        let name = code.description
        if name.hasPrefix("tcp.connect.") { return .connect }
        if name.hasPrefix("tls.") || name == "proto.tls_to_plain_port" || name == "proto.server_speaks_first" { return .tls }
        if name == "tcp.send_timeout" || name == "tcp.keepalive_race" { return .request }
        if name == "none" { return .idle }
        if self.isBodyPhase(name) { return .responseBody }
        return .responseHead
    }

    /// Every recorded release that changed a rule.
    public static let changes: [GatewayRuleChange] = Self.nginxChanges + Self.haproxyChanges

    /// The releases that changed what some family does with `code`.
    public static func changes(for code: FindingCode) -> [GatewayRuleChange] {
        self.changes.filter { $0.code == code }
    }

    /// `-1`, `0` or `1` as dotted release `a` is older than, the same as, or newer than `b`,
    /// compared numerically component by component; a missing component counts as 0, so
    /// `1.22` < `1.22.1` < `1.23` and `1.9` < `1.10`.
    public static func compareVersions(_ a: String, _ b: String) -> Int {
        let left = a.split(separator: ".").map { Int($0) ?? 0 }
        let right = b.split(separator: ".").map { Int($0) ?? 0 }
        for index in 0..<max(left.count, right.count) {
            let l = index < left.count ? left[index] : 0
            let r = index < right.count ? right[index] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }

    // MARK: Shared pieces

    /// The change that decides `family`'s behaviour for `code` at `version`: the oldest change
    /// the release predates, since each `before` describes the releases just before its change.
    static func change(for code: FindingCode, family: GatewayProfile.Kind, at version: String) -> GatewayRuleChange? {
        self.changes
            .filter { $0.family == family && $0.code == code && self.compareVersions(version, $0.since) < 0 }
            .min { self.compareVersions($0.since, $1.since) < 0 }
    }

    /// Codes that only happen after the response head was forwarded.
    static func isBodyPhase(_ name: String) -> Bool {
        name.hasPrefix("http.chunked.") || name == "tcp.fin.mid_body" || name == "tcp.rst.mid_body"
            || name == "http.body.extra_after_message"
    }

    /// The reaction for a code no rule covers (reassembly facts, limits): not a gateway event.
    static let noRule = GatewayReaction(kind: .accepts, status: nil, detail: "", note: "no gateway rule for this code")

    /// Capture problems are ours: the gateway saw the bytes the capture lost.
    static let notSeen = GatewayReaction(
        kind: .accepts, status: nil, detail: "", note: "a capture problem: the gateway saw the bytes the capture lacks")

    private static func relayed(_ context: RuleContext, _ detail: String) -> GatewayReaction {
        GatewayReaction(kind: .accepts, status: context.upstreamStatus, detail: detail, note: "the upstream's own status, relayed")
    }

    /// `c->log->action` texts nginx appends to error.log lines (taxonomy §2 legend).
    private enum While {
        static let connecting = " while connecting to upstream"
        static let handshaking = " while SSL handshaking to upstream"
        static let sending = " while sending request to upstream"
        static let readingHead = " while reading response header from upstream"
        static let readingBody = " while reading upstream"
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

    /// The status-code token is three digits once extra leading SP are skipped (`HTTP/1.1  200`).
    static func isThreeDigitCode(_ value: String?) -> Bool {
        guard let value else { return false }
        let code = value.drop { $0 == " " }
        return code.count == 3 && code.allSatisfy { $0.isASCII && $0.isNumber }
    }

    // MARK: nginx (taxonomy: N-UP, N-PA, N-PX, N-SSL, N-EC)

    private static let nginxHTTP09 = GatewayReaction(
        kind: .passesAsHTTP09, status: 200,
        detail: "upstream sent no valid HTTP/1.0 header" + While.readingHead,
        note: "ngx_http_proxy_process_status_line relays the raw bytes as an HTTP/0.9 body; $upstream_status is 200")

    /// Seen with 1.22.1: with proxy_buffering on, the head waits for the first body bytes.
    private static let nginxUnflushedHead =
        "when the first body bytes are bad, nginx (proxy_buffering on) has not written the head yet and the client gets no response at all"

    private static let nginxVerifyNote =
        "only with proxy_ssl_verify on (off by default, then any certificate passes); nginx completes the handshake, "
        + "then closes without an alert and tries the next peer (tls.closed_after_handshake)"

    private static func nginxInvalidHeader(_ quoted: String, note: String? = nil) -> GatewayReaction {
        .rejects(502, "upstream sent invalid header: \"\(quoted)...\"" + While.readingHead, note: note)
    }

    /// nginx's `sw_start`/`sw_*_digit` shape of a version: `HTTP/`, a major of 1-3 digits not
    /// starting with 0, `.`, a minor of 1-3 digits (`HTTP/1.10` passes).
    static func nginxAcceptsVersion(_ value: String) -> Bool {
        guard value.hasPrefix("HTTP/") else { return false }
        let parts = value.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = parts.first, let minor = parts.last else { return false }
        let digits: (Substring) -> Bool = { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        return digits(major) && digits(minor) && major.first != "0"
    }

    private static func nginx(_ code: String, _ context: RuleContext) -> GatewayReaction {
        switch code {
        case "none":
            return .accepts()
        case "capture.gap", "capture.truncated", "capture.file_truncated":
            return self.notSeen

        // TCP (taxonomy 2.A)
        case "tcp.connect.refused":
            return .rejects(502, "connect() failed (111: Connection refused)" + While.connecting,
                note: "an ICMP error gives (113: No route to host) or (101: Network is unreachable); nginx first tries the next peer (proxy_next_upstream error)")
        case "tcp.connect.timeout":
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.connecting)
        case "tcp.rst.before_response":
            let failure = GatewayReaction.rejects(502, "recv() failed (104: Connection reset by peer)" + While.readingHead,
                note: "while the request was still going out: writev() failed (104 or 32: Broken pipe) while sending request to upstream")
            return context.reusedConnection ? self.nginxRace(failure, context) : failure
        case "tcp.fin.before_response", "tcp.fin.mid_headers":
            let failure = GatewayReaction.rejects(502, "upstream prematurely closed connection" + While.readingHead)
            return context.reusedConnection && code == "tcp.fin.before_response" ? self.nginxRace(failure, context) : failure
        case "tcp.fin.mid_body":
            return .rejects(nil, "upstream prematurely closed connection" + While.readingBody)
        case "tcp.rst.mid_body":
            return .rejects(nil, "recv() failed (104: Connection reset by peer)" + While.readingBody)
        case "tcp.keepalive_race":
            return self.nginxRace(.rejects(502, "upstream prematurely closed connection" + While.readingHead,
                note: "or recv() failed (104: Connection reset by peer), or writev()/send() failed (32: Broken pipe) while sending request to upstream"), context)
        case "tcp.read_timeout":
            if context.phase == .responseBody {
                return .rejects(nil, "upstream timed out (110: Connection timed out)" + While.readingBody)
            }
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.readingHead,
                note: "proxy_read_timeout, 60 s by default")
        case "tcp.send_timeout":
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.sending,
                note: "proxy_send_timeout, 60 s by default")

        // Protocol mismatch (taxonomy 2.B)
        case "proto.tls_to_plain_port":
            return .rejects(502, "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)" + While.handshaking,
                note: "OpenSSL 1.1 spells it error:1408F10B:SSL routines:ssl3_get_record:wrong version number")
        case "proto.plain_to_tls_port", "proto.h2_response_to_h1", "proto.non_http_response":
            return self.nginxHTTP09
        case "proto.h2_preface_to_h1":
            return .rejects(502, "", note: "not verified: nginx speaks HTTP/1.x to upstreams unless configured for HTTP/2, and no log text was read")
        case "proto.server_speaks_first":
            // On a plain-HTTP upstream nginx sends its request and reads the early bytes as the
            // response (seen with 1.22.1: an SMTP-like banner was relayed as HTTP/0.9). The 502
            // "prematurely sent response" applies only before a TLS handshake.
            if let value = context.value, value.hasPrefix("HTTP/") {
                return .accepts(note: "the early bytes are read as the response to the request")
            }
            return GatewayReaction(kind: .passesAsHTTP09, status: 200, detail: self.nginxHTTP09.detail,
                note: "on a TLS upstream: upstream prematurely sent response" + While.readingHead)

        // Status line (taxonomy 2.C)
        case "http.status_line.bad_version":
            if let value = context.value, self.nginxAcceptsVersion(value) {
                return .accepts(note: "nginx reads a 1-3 digit major and minor, so \(value) passes")
            }
            return self.nginxHTTP09
        case "http.status_line.bad_code":
            if self.isThreeDigitCode(context.value) {
                return .accepts(note: "nginx accepts any three digits (000-999) and several SP before the code")
            }
            return self.nginxHTTP09
        case "http.status_line.no_reason_sp":
            return .accepts()
        case "http.line.bare_lf":
            return .accepts(note: "in the status line and header lines only; chunk lines need CR LF (http.chunked.bare_lf)")
        case "http.line.bare_cr":
            // The code is raised for the status line (a bare CR in a header is
            // http.header.value_bare_cr): ngx_http_parse_status_line fails, so HTTP/0.9 (seen with 1.22.1).
            return self.nginxHTTP09

        // Header section (taxonomy 2.D)
        case "http.header.name_ctl_or_space":
            return self.nginxInvalidHeader("…\\x20")
        case "http.header.name_non_token":
            return .accepts(note: "r->invalid_header is set, but the proxy module relays the line (nginx#899)")
        case "http.header.empty_name":
            return self.nginxInvalidHeader("\\x3a")
        case "http.header.missing_colon":
            return .accepts(note: "read as a header with an empty value when the line has no CTL or SP")
        case "http.header.value_nul":
            return self.nginxInvalidHeader("…\\x00")
        case "http.header.value_ctl":
            return .accepts()
        case "http.header.value_bare_cr":
            return self.nginxInvalidHeader("…\\x0d")
        case "http.header.obs_fold":
            return self.nginxInvalidHeader("\\x20", note: "\"\\x09...\" when the continuation line starts with HTAB")
        case "http.header.too_large":
            return .rejects(502, "upstream sent too big header" + While.readingHead,
                note: "the head must fit proxy_buffer_size, one page (4 KiB on x86-64) by default")
        case "http.header.too_many":
            return .accepts(note: "nginx counts no headers; only proxy_buffer_size limits the head (http.header.too_large)")
        case "http.header.dup_single_value":
            return .accepts("upstream sent duplicate header line: \"…\", previous value: \"…\", ignored" + While.readingHead,
                note: "a warning; the second line is dropped")

        // Body framing (taxonomy 2.E)
        case "http.cl.invalid":
            return .rejects(502, "upstream sent invalid \"Content-Length\" header: \"Content-Length: …\"" + While.readingHead,
                note: "anything but plain digits, including an identical list such as 5, 5 and a value after HTAB")
        case "http.cl.duplicate":
            return .rejects(502, "upstream sent duplicate header line: \"Content-Length: …\", previous value: \"Content-Length: …\"" + While.readingHead,
                note: "even when the values are identical")
        case "http.te_cl.both":
            return .rejects(502, "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time" + While.readingHead)
        case "http.te.not_chunked":
            return .rejects(502, "upstream sent unknown \"Transfer-Encoding\": \"…\"" + While.readingHead,
                note: "only the exact value chunked is accepted")
        case "http.te.duplicate_or_empty":
            return .rejects(502, "upstream sent duplicate header line: \"Transfer-Encoding: …\", previous value: \"Transfer-Encoding: …\"" + While.readingHead,
                note: "an empty value or a list on one line (chunked, chunked) logs upstream sent unknown \"Transfer-Encoding\" instead")
        case "http.chunked.bad_size", "http.chunked.size_overflow", "http.chunked.bare_lf", "http.chunked.data_len_mismatch":
            return .rejects(nil, "upstream sent invalid chunked response" + While.readingBody, note: self.nginxUnflushedHead)
        case "http.chunked.ws_after_size":
            return .accepts(note: "SP and HTAB after the size enter the extension state")
        case "http.chunked.bad_ext":
            return .accepts(note: "nginx skips extension bytes up to CR; a bare LF there is an invalid chunked response (http.chunked.bare_lf)")
        case "http.chunked.bad_trailer":
            // With the default proxy_pass_trailers off, trailer lines are skipped to the empty
            // line unchecked (seen with 1.22.1: a trailer line without a colon passed, status 200).
            return .accepts(note: "with proxy_pass_trailers on: upstream sent invalid trailer: \"…\" or upstream sent too big trailers (a cut body)")
        case "http.body.extra_after_message":
            return .accepts("upstream sent more data than specified in \"Content-Length\" header" + While.readingBody,
                note: "a warning; the extra bytes are dropped and the connection is not kept alive; after a chunked body: upstream sent data after final chunk")
        case "http.body.on_bodyless":
            return .accepts(note: "the body length is forced to 0; the keep-alive decision follows Connection: close")
        case "http.upstream_5xx":
            return self.relayed(context, "")

        default:
            return code.hasPrefix("tls.") ? self.nginxTLS(code) : self.noRule
        }
    }

    /// Taxonomy §1.4: a cached connection's failure is retried without charging a try, unless the
    /// request is not idempotent (`proxy_next_upstream` lacks `non_idempotent`).
    private static func nginxRace(_ failure: GatewayReaction, _ context: RuleContext) -> GatewayReaction {
        // Seen with 1.22.1 on a reused connection that the upstream reset: GET retried (200),
        // POST and PATCH answered 502 with recv() failed (104: Connection reset by peer).
        if let method = context.method, ["POST", "LOCK", "PATCH"].contains(method) {
            return GatewayReaction(kind: .rejects, status: 502, detail: failure.detail,
                note: "\(method) is not idempotent, so nginx does not retry it (proxy_next_upstream lacks non_idempotent)")
        }
        return GatewayReaction(kind: .retries, status: nil, detail: failure.detail,
            note: "logged, then retried on another connection without charging a try (u->peer.cached)"
                + (context.method == nil ? "; a POST, LOCK or PATCH would get 502 instead" : ""))
    }

    private static func nginxTLS(_ code: String) -> GatewayReaction {
        let verifyError = "upstream SSL certificate verify error: "
        switch code {
        case "tls.closed_after_handshake":
            return .rejects(502, verifyError + "(…)" + While.handshaking,
                note: "the (N:text) is OpenSSL's verify error, e.g. (10:certificate has expired); or upstream SSL certificate does not match \"…\"")
        case "tls.cert.expired":
            return .rejects(502, verifyError + "(10:certificate has expired)" + While.handshaking, note: self.nginxVerifyNote)
        case "tls.cert.not_yet_valid":
            return .rejects(502, verifyError + "(9:certificate is not yet valid)" + While.handshaking, note: self.nginxVerifyNote)
        case "tls.cert.unknown_ca", "tls.cert.missing_intermediate":
            return .rejects(502, verifyError + "(20:unable to get local issuer certificate)" + While.handshaking,
                note: self.nginxVerifyNote + "; also (21:unable to verify the first certificate) or (2:unable to get issuer certificate)")
        case "tls.cert.self_signed":
            return .rejects(502, verifyError + "(18:self-signed certificate)" + While.handshaking,
                note: self.nginxVerifyNote + "; (19:self-signed certificate in certificate chain) for a chain; OpenSSL 1.1 spells it self signed")
        case "tls.cert.name_mismatch":
            return .rejects(502, "upstream SSL certificate does not match \"…\"" + While.handshaking, note: self.nginxVerifyNote)
        case "tls.cert.revoked":
            return .rejects(502, verifyError + "(23:certificate revoked)" + While.handshaking,
                note: self.nginxVerifyNote + ", and only with proxy_ssl_crl")
        case "tls.cert.bad_purpose":
            return .rejects(502, verifyError + "(26:unsuitable certificate purpose)" + While.handshaking,
                note: self.nginxVerifyNote + "; the purpose check depends on the OpenSSL context (not traced)")
        case "tls.peer_closed_in_handshake":
            return .rejects(502, "peer closed connection in SSL handshake (104: Connection reset by peer)" + While.handshaking,
                note: "without the errno after a FIN")
        case "tls.handshake_timeout":
            return .rejects(504, "upstream timed out (110: Connection timed out)" + While.handshaking)
        case "tls.alert.handshake_failure", "tls.cipher_mismatch":
            return .rejects(502, "SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert handshake failure:SSL alert number 40)" + While.handshaking)
        case "tls.alert.unrecognized_name":
            return .rejects(502, "SSL_do_handshake() failed (SSL: …:SSL routines::tlsv1 unrecognized name:SSL alert number 112)" + While.handshaking)
        case "tls.sni.missing":
            return .rejects(502, "SSL_do_handshake() failed (…)" + While.handshaking,
                note: "usually alert 112 unrecognized_name or 40 handshake_failure; with a default certificate instead: upstream SSL certificate does not match \"…\" (proxy_ssl_server_name is off by default)")
        case "tls.version_mismatch":
            return .rejects(502, "SSL_do_handshake() failed (…)" + While.handshaking,
                note: "the OpenSSL reason names the version failure (unsupported protocol, alert protocol version); exact text not verified")
        case "tls.client_cert_required":
            return .rejects(502, "SSL_do_handshake() failed (SSL: …:SSL alert number 116)" + While.handshaking,
                note: "form per OpenSSL, not verified; a TLS 1.2 server may send alert 40 or 42 instead")
        default:
            if code.hasPrefix("tls.alert.") {
                let name = String(code.dropFirst("tls.alert.".count))
                let number = self.alertNumbers[name].map { ":SSL alert number \($0)" } ?? ""
                return .rejects(502, "SSL_do_handshake() failed (SSL: …\(number))" + While.handshaking)
            }
            return .rejects(502, "SSL_do_handshake() failed (…)" + While.handshaking)
        }
    }

    /// RFC 8446 §6 / RFC 5246 §7.2 alert descriptions, for the number OpenSSL prints.
    private static let alertNumbers: [String: Int] = [
        "close_notify": 0, "unexpected_message": 10, "bad_record_mac": 20, "record_overflow": 22,
        "handshake_failure": 40, "bad_certificate": 42, "unsupported_certificate": 43, "certificate_revoked": 44,
        "certificate_expired": 45, "certificate_unknown": 46, "illegal_parameter": 47, "unknown_ca": 48,
        "access_denied": 49, "decode_error": 50, "decrypt_error": 51, "protocol_version": 70,
        "insufficient_security": 71, "internal_error": 80, "inappropriate_fallback": 86, "user_canceled": 90,
        "missing_extension": 109, "unsupported_extension": 110, "unrecognized_name": 112,
        "bad_certificate_status_response": 113, "unknown_psk_identity": 115, "certificate_required": 116,
        "no_application_protocol": 120,
    ]

    // MARK: HAProxy (taxonomy: H-H1, H-H1H, H-HTX, H-MUX, H-ANA, H-DOC)

    private static let haproxyBadHead = GatewayReaction(kind: .rejects, status: 502, detail: "PH")

    private static func haproxy(_ code: String, _ context: RuleContext) -> GatewayReaction {
        switch code {
        case "none":
            return .accepts()
        case "capture.gap", "capture.truncated", "capture.file_truncated":
            return self.notSeen

        case "tcp.connect.refused":
            return .rejects(503, "SC", note: "after the configured retries (http_return_srv_error: STRM_ET_CONN_ERR)")
        case "tcp.connect.timeout":
            return .rejects(503, "sC")
        case "tcp.rst.before_response", "tcp.fin.before_response":
            return context.reusedConnection ? self.haproxyRace : .rejects(502, "SH")
        case "tcp.fin.mid_headers":
            return .rejects(502, "SH", note: "the taxonomy leaves SH against PH open for a close inside the head")
        case "tcp.fin.mid_body", "tcp.rst.mid_body":
            return .rejects(nil, "SD", note: "the client connection is aborted")
        case "tcp.keepalive_race":
            return self.haproxyRace
        case "tcp.read_timeout":
            if context.phase == .responseBody {
                return .rejects(nil, "sD", note: "inferred from the sH/SD states; not traced")
            }
            return .rejects(504, "sH", note: "timeout server")
        case "tcp.send_timeout":
            return .rejects(504, "sH", note: "not traced: sH or sC class")

        case "proto.tls_to_plain_port":
            return .rejects(503, "SC", note: "SSL handshake failure (CO_ER_SSL_HANDSHAKE)")
        case "proto.plain_to_tls_port", "proto.h2_response_to_h1":
            return self.haproxyBadHead
        case "proto.non_http_response":
            // Bytes, not Characters: "\r\n" is one Character.
            if let value = context.value {
                let rest = value.utf8.drop { $0 == 0x0D || $0 == 0x0A }
                if rest.count < value.utf8.count, rest.starts(with: "HTTP/".utf8) {
                    return .accepts(note: "HAProxy skips empty lines before the status line (H1_MSG_RPBEFORE)")
                }
            }
            return self.haproxyBadHead
        case "proto.h2_preface_to_h1":
            return .rejects(502, "SH", note: "not verified: HAProxy sends the preface only to servers with proto h2")
        case "proto.server_speaks_first":
            // On a plain-HTTP server HAProxy reads the early bytes as the response (seen with
            // 2.6.12: a banner that is not HTTP is 502 PH). On a TLS server they break the handshake.
            if let value = context.value, value.hasPrefix("HTTP/") {
                return .accepts(note: "the early bytes are read as the response")
            }
            return .rejects(502, "PH", note: "on a TLS server the early bytes break the handshake instead (503 SC, not verified)")

        case "http.status_line.bad_version":
            return .rejects(502, "PH", note: "the version must be exactly HTTP/DIGIT.DIGIT (2.6.12 rejects HTTP/1.10 and http/1.1 too); relaxed mode (accept-unsafe-violations-in-http-response) accepts any name and multi-digit versions")
        case "http.status_line.bad_code":
            if self.isThreeDigitCode(context.value) {
                return .accepts(note: "three digits pass, whatever the range (2.6.12 relays 600)")
            }
            return .rejects(502, "PH", note: "relaxed mode accepts more than three digits when the value fits 16 bits")
        case "http.status_line.no_reason_sp", "http.line.bare_lf":
            return .accepts()
        case "http.line.bare_cr":
            return self.haproxyBadHead

        case "http.header.name_ctl_or_space", "http.header.name_non_token", "http.header.empty_name",
            "http.header.missing_colon", "http.header.value_nul", "http.header.value_bare_cr":
            return self.haproxyBadHead
        case "http.header.value_ctl":
            return .accepts(note: "HAProxy checks only NUL, CR and LF in values")
        case "http.header.obs_fold":
            return .accepts(note: "unfolded: the CR, LF and HTAB become SP (H1_MSG_HDR_L2_LWS)")
        case "http.header.too_large":
            // context.value carries the head's size and what it takes in HAProxy's HTX buffer.
            let sizes = (context.value ?? "").split(separator: " ").compactMap { Int($0) }
            let needed = sizes.count > 1 ? sizes[1] : sizes.first
            if let needed, needed <= 16384 - 1024 {
                return .accepts(note: "it takes \(needed) bytes of HTX, within tune.bufsize (16384) less tune.maxrewrite (1024) (measured with 2.6.12)")
            }
            return .rejects(502, "PH", note: "the head must fit tune.bufsize (16384) less tune.maxrewrite (1024) as HTX: each field's name and value plus 8 bytes, and 85 bytes more with the status line (measured with 2.6.12: a 15153-byte head of 32 fields passed, 15154 did not); show errors reports the end of the head, or 16320 when the head does not fit the buffer")
        case "http.header.too_many":
            return .rejects(502, "PH", note: "tune.http.maxhdr, 101 by default: 100 fields and the end of the head (measured with 2.6.12: 100 fields pass, 101 do not)")
        case "http.header.dup_single_value":
            return .accepts()

        case "http.cl.invalid":
            if let value = context.value, self.isIdenticalLengthList(value) {
                return .accepts(note: "an identical list is merged into one length")
            }
            return .rejects(502, "PH", note: "non-digit, empty, trailing comma, overflow or differing values; an identical list such as 5, 5 passes")
        case "http.cl.duplicate":
            if let value = context.value, !self.isIdenticalLengthList(value) {
                return .rejects(502, "PH", note: "the Content-Length lines differ")
            }
            return .accepts(note: "identical lines are merged; differing ones are 502 PH")
        case "http.te_cl.both":
            return .accepts(note: "Transfer-Encoding wins, Content-Length is removed and the server connection closes after the response (unless h1-do-not-close-on-insecure-transfer-encoding)")
        case "http.te.not_chunked":
            return .rejects(502, "PH", note: "any coding but chunked in a response (H1_MF_TE_OTHER)")
        case "http.te.duplicate_or_empty":
            return .rejects(502, "PH", note: "h1_parse_xfer_enc_header (haproxy#2677: a doubled Transfer-Encoding: chunked is 502 PH)")
        case "http.chunked.bad_ext" where context.value == Finding.missingChunkExtensionName:
            return .accepts(note: "not verified: h1_parse_chunk_size screens extension bytes (control bytes, backslashes, quotes), not the grammar, so a ';' with no name passes")
        case "http.chunked.bad_size", "http.chunked.bad_ext", "http.chunked.bare_lf",
            "http.chunked.data_len_mismatch", "http.chunked.bad_trailer":
            return .rejects(nil, "PD", note: "a 502 PH instead when the bad chunk came with the head (RuleContext.arrivedWithHead)")
        case "http.chunked.size_overflow":
            return .rejects(nil, "PD", note: "more than 13 hex digits (2^52-1) in the code; the documentation says 2 GB-1")
        case "http.chunked.ws_after_size":
            return .accepts()
        case "http.body.extra_after_message":
            return .accepts(note: "not verified")
        case "http.body.on_bodyless":
            return .accepts(note: "Transfer-Encoding and Content-Length are dropped for 1xx and 204; HEAD, 1xx, 204 and 304 are bodyless")
        case "http.upstream_5xx":
            return self.relayed(context, "----")

        default:
            // TLS 1.3: the server's certificate_required arrives after HAProxy finished its side
            // of the handshake and sent the request, so it fails reading the response (seen with
            // 2.6.12: 502 SH, ssl_bc_err "tlsv13 alert certificate required").
            if code == "tls.client_cert_required", context.phase == .responseHead {
                return .rejects(502, "SH", note: "TLS 1.3: the alert came after the handshake; during a TLS 1.2 handshake it is 503 SC")
            }
            return code.hasPrefix("tls.") ? self.haproxyTLS(code) : self.noRule
        }
    }

    /// Taxonomy §1.4: `abort_keep_alive`, status 0 and no log, so that the client retries.
    private static let haproxyRace = GatewayReaction(
        kind: .closesSilently, status: nil, detail: "abort_keep_alive",
        note: "the client connection is closed with no response and no log line, for the client to retry; this needs a request that is not the first on its client connection, which http-reuse safe guarantees for a reused server connection; with http-reuse always a client's first request gets 502 SH (both seen with 2.6.12); an l7 retry (retry-on) may retry instead")

    private static func haproxyTLS(_ code: String) -> GatewayReaction {
        let alert: String?
        switch code {
        case "tls.handshake_timeout":
            return .rejects(503, "sC", note: "Timeout during SSL handshake (CO_ER_SSL_TIMEOUT)")
        case "tls.peer_closed_in_handshake":
            return .rejects(503, "SC", note: "Connection closed during SSL handshake (CO_ER_SSL_EMPTY or CO_ER_SSL_ABORT)")
        case "tls.closed_after_handshake":
            return .rejects(503, "SC", note: "not HAProxy's pattern: it verifies inside the handshake and sends an alert")
        case "tls.sni.missing":
            return .rejects(503, "SC", note: "HAProxy sends SNI only with the sni server keyword (not traced)")
        case "tls.cert.expired": alert = "45 certificate_expired"
        case "tls.cert.not_yet_valid": alert = "42 bad_certificate"
        case "tls.cert.unknown_ca", "tls.cert.missing_intermediate", "tls.cert.self_signed": alert = "48 unknown_ca"
        case "tls.cert.revoked": alert = "44 certificate_revoked"
        case "tls.cert.bad_purpose": alert = "43 unsupported_certificate"
        case "tls.cert.name_mismatch":
            return .rejects(503, "SC", note: "Server presented an SSL certificate different from the expected one (CO_ER_SSL_MISMATCH_SNI); the alert is likely 46 certificate_unknown (inferred)")
        default: alert = nil
        }
        if let alert {
            return .rejects(503, "SC", note: "ssl-server-verify required: the handshake fails in the verify callback and OpenSSL sends alert \(alert)")
        }
        return .rejects(503, "SC", note: "SSL handshake failure (CO_ER_SSL_HANDSHAKE)")
    }

    // MARK: Envoy (taxonomy: E-RT, E-SI, E-HU, E-BP)

    private static let envoyProtocolError = GatewayReaction(
        kind: .rejects, status: 502, detail: "UPE", note: "codec protocol error (reset reason protocol error)")
    private static let envoyLateProtocolError = GatewayReaction(
        kind: .rejects, status: nil, detail: "UPE", note: "upstream_reset_after_response_started{protocol_error}")

    private static func envoyUnverified(_ reaction: GatewayReaction, _ what: String = "not verified") -> GatewayReaction {
        var reaction = reaction
        reaction.note = what
        return reaction
    }

    private static func envoy(_ code: String, _ context: RuleContext) -> GatewayReaction {
        switch code {
        case "none":
            return .accepts()
        case "capture.gap", "capture.truncated", "capture.file_truncated":
            return self.notSeen

        case "tcp.connect.refused":
            return .rejects(503, "UF", note: "reset reason remote connection failure (older builds: connection failure); UF,URX when retries run out")
        case "tcp.connect.timeout":
            return .rejects(503, "UF", note: "reset reason connection timeout")
        case "tcp.rst.before_response", "tcp.fin.mid_headers":
            return .rejects(503, "UC", note: "reset reason connection termination")
        case "tcp.fin.before_response":
            return .rejects(503, "UC", note: "reset reason connection termination (a premature half-close detected as such maps to LR)")
        case "tcp.fin.mid_body", "tcp.rst.mid_body":
            return .rejects(nil, "UC", note: "upstream_reset_after_response_started{connection_termination}")
        case "tcp.keepalive_race":
            return .rejects(503, "UC", note: "unless the retry policy retries resets or connect failures")
        case "tcp.read_timeout":
            if context.phase == .responseBody {
                return .rejects(nil, "UT", note: "inferred: the route timeout resets a started response")
            }
            return .rejects(504, "UT", note: "response_timeout or upstream_per_try_timeout")
        case "tcp.send_timeout":
            return .rejects(504, "UT")

        case "proto.tls_to_plain_port":
            return .rejects(503, "UF", note: "transport failure reason TLS_error:…WRONG_VERSION_NUMBER")
        case "proto.plain_to_tls_port", "proto.h2_response_to_h1", "proto.non_http_response":
            return self.envoyProtocolError
        case "proto.h2_preface_to_h1":
            return self.envoyUnverified(self.envoyProtocolError, "not verified: an HTTP/2 codec error, UPE or UC")
        case "proto.server_speaks_first":
            return .rejects(503, "UF", note: "not verified: the early bytes break the TLS handshake")

        case "http.status_line.bad_version", "http.status_line.bad_code", "http.line.bare_cr":
            return self.envoyProtocolError
        case "http.status_line.no_reason_sp":
            return .accepts()
        case "http.line.bare_lf":
            return .accepts(note: "not verified (Balsa)")

        case "http.header.name_ctl_or_space":
            return self.envoyUnverified(self.envoyProtocolError, "http1.invalid_characters")
        case "http.header.name_non_token", "http.header.obs_fold":
            return self.envoyUnverified(self.envoyProtocolError)
        case "http.header.empty_name", "http.header.missing_colon", "http.header.value_nul", "http.header.value_bare_cr":
            return self.envoyProtocolError
        case "http.header.value_ctl":
            return self.envoyUnverified(self.envoyProtocolError, "Balsa: header value contains invalid chars (the exact byte set was not read)")
        case "http.header.too_large":
            // Envoy's max_request_headers_kb default is 60 KiB (documented; not read in source here).
            if let size = context.value.flatMap({ $0.split(separator: " ").first.flatMap { Int($0) } }), size <= 60 * 1024 {
                return .accepts(note: "a \(size)-byte head fits Envoy's default 60 KiB header limit (not verified)")
            }
            return self.envoyUnverified(self.envoyProtocolError, "http1.headers_too_large")
        case "http.header.too_many":
            return self.envoyUnverified(self.envoyProtocolError, "http1.too_many_headers")
        case "http.header.dup_single_value":
            return .accepts()

        case "http.cl.invalid":
            return self.envoyProtocolError
        case "http.cl.duplicate", "http.te.not_chunked", "http.te.duplicate_or_empty":
            return self.envoyUnverified(self.envoyProtocolError)
        case "http.te_cl.both":
            return self.envoyUnverified(self.envoyProtocolError, "not verified: http1.content_length_and_chunked_not_allowed is documented for requests")
        case "http.chunked.bad_size", "http.chunked.size_overflow", "http.chunked.data_len_mismatch":
            return self.envoyLateProtocolError
        case "http.chunked.bad_ext", "http.chunked.bare_lf", "http.chunked.bad_trailer":
            return self.envoyUnverified(self.envoyLateProtocolError, "not verified: upstream_reset_after_response_started{protocol_error} assumed")
        case "http.chunked.ws_after_size", "http.body.extra_after_message", "http.body.on_bodyless":
            return .accepts(note: "not verified")
        case "http.upstream_5xx":
            return self.relayed(context, "via_upstream")

        default:
            guard code.hasPrefix("tls.") else { return self.noRule }
            if code == "tls.handshake_timeout" { return .rejects(503, "UF", note: "reset reason connection timeout") }
            if code.hasPrefix("tls.cert.") || code == "tls.closed_after_handshake" {
                return .rejects(503, "UF", note: "transport failure reason TLS_error:…CERTIFICATE_VERIFY_FAILED (with the OpenSSL reason since 1.37)")
            }
            return .rejects(503, "UF", note: "transport failure reason TLS_error:…")
        }
    }

    // MARK: strict (the RFCs read strictly)

    private static func strict(_ code: String, _ context: RuleContext) -> GatewayReaction {
        func invalid(_ rfc: String) -> GatewayReaction { .rejects(502, "RFC " + rfc) }
        switch code {
        case "none":
            return .accepts()
        case "capture.gap", "capture.truncated", "capture.file_truncated":
            return self.notSeen

        case "tcp.connect.refused":
            return invalid("9110 §15.6.3: no connection to the upstream (502 Bad Gateway)")
        case "tcp.connect.timeout", "tcp.send_timeout":
            return .rejects(504, "RFC 9110 §15.6.5: no timely answer from the upstream (504 Gateway Timeout)")
        case "tcp.read_timeout":
            return .rejects(context.phase == .responseBody ? nil : 504, "RFC 9110 §15.6.5: no timely answer from the upstream (504 Gateway Timeout)")
        case "tcp.rst.before_response", "tcp.fin.before_response", "tcp.fin.mid_headers":
            return invalid("9112 §8: the connection closed before a complete response head")
        case "tcp.fin.mid_body", "tcp.rst.mid_body":
            return .rejects(nil, "RFC 9112 §8: the connection closed before the body was complete")
        case "tcp.keepalive_race":
            return invalid("9112 §9.5: the upstream closed the idle connection as the request went out (RFC 9110 §9.2.2 allows retrying idempotent requests only)")

        case "proto.tls_to_plain_port":
            return invalid("8446 §5: the upstream answered the ClientHello with bytes that are not TLS records")
        case "proto.server_speaks_first":
            return invalid("8446 §4.1: the upstream sent bytes before the ClientHello")
        case "proto.plain_to_tls_port", "proto.h2_preface_to_h1", "proto.h2_response_to_h1", "proto.non_http_response":
            return invalid("9112 §4: the response does not start with an HTTP/1.x status line")

        case "http.status_line.bad_version":
            return invalid("9112 §2.3: HTTP-version = HTTP-name \"/\" DIGIT \".\" DIGIT")
        case "http.status_line.bad_code":
            return invalid("9112 §4: status-code = 3DIGIT, one SP after the version (RFC 9110 §15: 100-599)")
        case "http.status_line.no_reason_sp":
            return .accepts("RFC 9112 §4: a lint (the server MUST send the SP; the line still parses)")
        case "http.line.bare_lf":
            return invalid("9112 §2.2: a line ended by a bare LF (a recipient MAY accept it; strict does not)")
        case "http.line.bare_cr":
            return invalid("9112 §2.2: a bare CR is invalid")

        case "http.header.name_ctl_or_space":
            return invalid("9112 §5.1: no whitespace or CTL in a field name or before its colon")
        case "http.header.name_non_token":
            return invalid("9110 §5.1: field-name = token")
        case "http.header.empty_name":
            return invalid("9110 §5.1: field-name = token, one tchar at least")
        case "http.header.missing_colon":
            return invalid("9112 §5: field-line = field-name \":\" OWS field-value OWS")
        case "http.header.value_nul":
            return invalid("9110 §5.5: a NUL in a field value (MUST reject or replace it)")
        case "http.header.value_ctl":
            return invalid("9110 §5.5: a CTL in a field value is invalid")
        case "http.header.value_bare_cr":
            return invalid("9110 §5.5: a CR in a field value (MUST reject or replace it)")
        case "http.header.obs_fold":
            return invalid("9112 §5.2: obs-fold (a proxy MUST answer 502 or replace it with SP)")
        case "http.header.too_large", "http.header.too_many":
            return invalid("9110 §5.4: a header section larger than the recipient processes")
        case "http.header.dup_single_value":
            return .accepts("RFC 9110 §5.3: a lint (a repeated singleton field)")

        case "http.cl.invalid":
            return invalid("9112 §6.3 rule 5: an invalid Content-Length (an identical list MAY be accepted; strict does not)")
        case "http.cl.duplicate":
            return invalid("9112 §6.3 rule 5: repeated Content-Length lines (RFC 9110 §8.6: MAY be accepted when identical; strict does not)")
        case "http.te_cl.both":
            return invalid("9112 §6.3 rule 3: Transfer-Encoding with Content-Length ought to be handled as an error")
        case "http.te.not_chunked":
            return .accepts("RFC 9112 §6.3 rule 4: valid for a response, whose body is then read until the connection closes")
        case "http.te.duplicate_or_empty":
            // RFC 9110 §5.3: several field lines are one comma-separated list, and §5.6.1: empty
            // elements are ignored. Only chunked twice breaks a rule (RFC 9112 §6.1).
            if let value = context.value {
                let codings = value.split(separator: ",").map { $0.trimmingOWS.lowercased() }.filter { !$0.isEmpty }
                if codings.filter({ $0 == "chunked" }).count <= 1 {
                    return .accepts("RFC 9110 §5.3: Transfer-Encoding field lines combine into one list (\(codings.joined(separator: ", ")))")
                }
            }
            return invalid("9112 §6.1: chunked applied twice")
        case "http.chunked.bad_size":
            return .rejects(nil, "RFC 9112 §7.1: chunk-size = 1*HEXDIG")
        case "http.chunked.size_overflow":
            return .rejects(nil, "RFC 9112 §7.1: a chunk size the recipient cannot represent (it MUST guard against overflow)")
        case "http.chunked.ws_after_size":
            return .rejects(nil, "RFC 9112 §7.1: whitespace after chunk-size (BWS is allowed only around ';' in chunk-ext)")
        case "http.chunked.bad_ext":
            return .rejects(nil, "RFC 9112 §7.1.1: chunk-ext grammar")
        case "http.chunked.bare_lf":
            return .rejects(nil, "RFC 9112 §7.1: a chunk line ends with CRLF")
        case "http.chunked.data_len_mismatch":
            return .rejects(nil, "RFC 9112 §7.1: chunk-data is followed by CRLF")
        case "http.chunked.bad_trailer":
            return .rejects(nil, "RFC 9112 §7.1.2: trailer-section = *( field-line CRLF )")
        case "http.body.extra_after_message":
            return .accepts("RFC 9112 §6.3: the message ended where its framing says; the extra bytes are not part of it")
        case "http.body.on_bodyless":
            return invalid("9110 §8.6 and RFC 9112 §6.3 rule 1: a body announced on a response that has none")
        case "http.upstream_5xx":
            return self.relayed(context, "RFC 9110 §15.6: the upstream's own 5xx")

        default:
            guard code.hasPrefix("tls.") else { return self.noRule }
            if code == "tls.handshake_timeout" {
                return .rejects(504, "RFC 9110 §15.6.5: no TLS handshake with the upstream in time (504 Gateway Timeout)")
            }
            if code.hasPrefix("tls.alert.") {
                return invalid("8446 §6: the upstream ended the handshake with alert \(code.dropFirst("tls.alert.".count))")
            }
            if code.hasPrefix("tls.cert.") || code == "tls.closed_after_handshake" {
                return invalid("9110 §4.3.4: the upstream's certificate does not verify")
            }
            return invalid("8446 §4: the TLS handshake with the upstream failed")
        }
    }

    // MARK: Releases that changed a rule

    /// nginx rules that changed. Debian 12 ships 1.22.1, so it predates the 1.23.0 framing checks.
    private static let nginxChanges: [GatewayRuleChange] = {
        let changes1211 = "nginx CHANGES 1.21.1 (docs/xml/nginx/changes.xml): \"now nginx always returns an error if spaces or control characters are used in a header name\"; openresty#833 (\"\\x09...\" after upgrading from 1.19.9 to 1.21.4, commit 9ab4d368)"
        var changes: [GatewayRuleChange] = [
            GatewayRuleChange(
                family: .nginx, code: FindingCode("http.header.name_ctl_or_space"), since: "1.21.1",
                before: .accepts(note: "before 1.21.1 nginx marked the header invalid and went on (changed in 1.21.1)"),
                source: changes1211, verified: true),
            GatewayRuleChange(
                family: .nginx, code: FindingCode("http.header.obs_fold"), since: "1.21.1",
                before: .accepts(note: "before 1.21.1 a line starting with SP or HTAB was read as a header with an invalid name (changed in 1.21.1)"),
                source: changes1211, verified: true),
        ]
        // The quoted-bytes log format came with commit 7587778a (2021-06-28, taxonomy 2.D),
        // so in 1.21.1 (2021-07-06); these lines were rejected before it too.
        for code in ["http.header.empty_name", "http.header.value_nul", "http.header.value_bare_cr", "http.line.bare_cr"] {
            changes.append(GatewayRuleChange(
                family: .nginx, code: FindingCode(code), since: "1.21.1",
                before: .rejects(502, "upstream sent invalid header" + While.readingHead,
                    note: "nginx before 1.21.1 did not quote the line"),
                source: "taxonomy 2.D: log format since nginx commit 7587778a (2021-06-28), first released in 1.21.1 (release inferred from the date)",
                verified: false))
        }
        // nginx 1.23.0 rewrote the upstream header handlers (header lines became linked lists);
        // ngx_http_upstream_process_content_length and _transfer_encoding gained their errors then.
        let changes1230 = "freenginx/nginx#14 (maintainer: \"Following fixes in 1.23.0\"; reporter: duplicate Transfer-Encoding passes in 1.22.1, 502 from 1.23.0); before 1.23.0 ngx_http_upstream_process_content_length stored ngx_atoof() unchecked and the Transfer-Encoding handler only searched for \"chunked\"; 1.23.0's CHANGES lists only \"header lines are represented as linked lists\""
        let before1230: [(String, String, Bool)] = [
            ("http.cl.invalid", "before 1.23.0 an unparsable length became -1 (unknown) and the body was read until close: Debian 12's 1.22.1 relays Content-Length: NaN", false),
            ("http.cl.duplicate", "before 1.23.0 the last Content-Length line was used", false),
            ("http.te_cl.both", "before 1.23.0 a chunked response's Content-Length was ignored (siteproxy#75 shows the 502 in 1.23.1)", false),
            ("http.te.not_chunked", "before 1.23.0 a value containing chunked was read as chunked, any other was read until close", false),
            ("http.te.duplicate_or_empty", "before 1.23.0 repeated Transfer-Encoding lines passed", true),
        ]
        for (code, note, verified) in before1230 {
            changes.append(GatewayRuleChange(
                family: .nginx, code: FindingCode(code), since: "1.23.0",
                before: .accepts(note: note + " (changed in 1.23.0)"),
                source: changes1230 + (verified ? "" : "; this code's change is inferred from the same rewrite")
                    + "; Debian 12's 1.22.1 passes it (checked)",
                verified: verified))
        }
        changes.append(GatewayRuleChange(
            family: .nginx, code: FindingCode("http.chunked.bare_lf"), since: "1.29.4",
            before: .accepts(note: "before 1.29.4 nginx took a bare LF after the chunk size or the chunk data (changed in 1.29.4)"),
            source: "nginx/nginx#1016 \"Disabled bare LF in chunked transfer encoding\" (merged 2025-12-04); nginx-tests#100 dates that parser change (f405ef11f) to 1.29.4; Debian 12's 1.22.1 accepts both bare LFs (checked)",
            verified: true))
        return changes
    }()

    /// 2.6.12 logs a chunked parse error after the head as SD, where the taxonomy read PD (3.5-dev5
    /// documentation); when that changed is not known.
    private static let haproxyChunkLogChanges: [GatewayRuleChange] = [
        // bad_ext is not here: 2.6.12 accepts it outright (see haproxyChanges).
        "http.chunked.bad_size", "http.chunked.size_overflow",
        "http.chunked.data_len_mismatch", "http.chunked.bad_trailer",
    ].map { code in
        GatewayRuleChange(
            family: .haproxy, code: FindingCode(code), since: "3.0",
            before: .rejects(nil, "SD", note: "2.6.12 cuts the body and logs SD; the release that logs PD is not known (3.0 assumed)"),
            source: "Debian 12's 2.6.12 logs SD for an invalid chunk size after the head (checked); the taxonomy read PD in the 3.5-dev5 documentation; release not found, 3.0 assumed",
            verified: false)
    }

    /// HAProxy rules that changed. Debian 12 ships 2.6.12, which was checked for each entry.
    private static let haproxyChanges: [GatewayRuleChange] = Self.haproxyChunkLogChanges + [
        GatewayRuleChange(
            family: .haproxy, code: FindingCode("http.header.value_nul"), since: "3.0",
            before: .accepts(note: "before 3.0 strict mode passed a NUL in a header value on to the client (changed in 3.0-dev3)"),
            source: "HAProxy CHANGELOG 3.0-dev3 (2024/02/10): \"BUG/MEDIUM: h1: always reject the NUL character in header values\"; Debian 12's 2.6.12 relays the NUL (checked)",
            verified: true),
        GatewayRuleChange(
            family: .haproxy, code: FindingCode("http.status_line.bad_code"), since: "3.0",
            before: .accepts(note: "2.6.12 relays a status code of any digit count (2000, 20); the release that began rejecting it is not known (3.0 assumed)"),
            source: "Debian 12's 2.6.12 relays HTTP/1.1 2000 and HTTP/1.1 20 (checked); the taxonomy read 502 PH for more than three digits in 3.5-dev5; release not found, 3.0 assumed",
            verified: false),
        GatewayRuleChange(
            family: .haproxy, code: FindingCode("http.te.not_chunked"), since: "2.5",
            before: .accepts(note: "before 2.5 a response with an unknown transfer coding passed (changed in 2.5)"),
            source: "haproxy#1301 (capflam, 2021-10: \"On 2.5-DEV only, messages with an unknown encoding ... are now rejected ... 502-Bad-Gateway ... will not be backported\"); haproxy#2623 shows 2.6.13 answering 502",
            verified: true),
        GatewayRuleChange(
            family: .haproxy, code: FindingCode("http.te.duplicate_or_empty"), since: "2.5",
            before: .accepts(note: "before 2.5 repeated Transfer-Encoding lines passed (changed in 2.5, inferred)"),
            source: "haproxy#2721 (duplicate Transfer-Encoding passes in 2.2 and is 502 in 2.6); the 2.5 release is inferred from the Transfer-Encoding rework of haproxy#1301",
            verified: false),
        GatewayRuleChange(
            family: .haproxy, code: FindingCode("http.chunked.bad_ext"), since: "3.0",
            before: .accepts(note: "2.6.12 passed a control byte in a chunk extension (checked); the release that began rejecting it is not known (3.0 assumed)"),
            source: "Debian 12's 2.6.12 relayed a chunk with extension \";\\x01\" and status 200 (captures/http-chunked-bad-ext.haproxy.pcap); the taxonomy read PD in 3.5-dev5; release not found, 3.0 assumed",
            verified: false),
        GatewayRuleChange(
            family: .haproxy, code: FindingCode("http.chunked.bare_lf"), since: "3.0",
            before: .accepts(note: "before 3.0 HAProxy took a bare LF as the end of a chunk line (changed in 3.0-dev3)"),
            source: "HAProxy CHANGELOG 3.0-dev3 (2024/02/10): \"BUG/MEDIUM: h1: Don't support LF only to mark the end of a chunk size\", \"BUG/MINOR: h1: Don't support LF only at the end of chunks\"; as bug fixes they may be in later 2.x maintenance releases (not verified); Debian 12's 2.6.12 predates them",
            verified: true),
    ]
}

extension GatewayReaction {
    /// A rejection: `status` is what the client sees, `nil` for a cut body.
    static func rejects(_ status: Int?, _ detail: String, note: String? = nil) -> GatewayReaction {
        GatewayReaction(kind: .rejects, status: status, detail: detail, note: note)
    }

    /// The bytes pass.
    static func accepts(_ detail: String = "", note: String? = nil) -> GatewayReaction {
        GatewayReaction(kind: .accepts, status: nil, detail: detail, note: note)
    }
}

extension Substring {
    /// Without the OWS (SP, HTAB) around it, RFC 9110 §5.6.3.
    fileprivate var trimmingOWS: Substring {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return trimmed
    }
}
