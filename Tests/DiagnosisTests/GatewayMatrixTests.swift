import CaptureModel
import Testing

@testable import Diagnosis

/// What one gateway must do with a matrix row.
enum Expected: Sendable, Equatable {
    case accepts
    case rejects(Int?)
    case http09

    func matches(_ reaction: GatewayReaction) -> Bool {
        switch self {
        case .accepts: return reaction.kind == .accepts && reaction.status == nil
        case .rejects(let status): return reaction.kind == .rejects && reaction.status == status
        case .http09: return reaction.kind == .passesAsHTTP09 && reaction.status == 200
        }
    }
}

/// One row of the taxonomy's section 3 matrix: the bytes, the code edgescope maps them to, and
/// what nginx and HAProxy (strict default) do.
struct MatrixRow: Sendable, CustomTestStringConvertible {
    let input: String
    let code: String
    let value: String?
    let phase: Phase
    let nginx: Expected
    let haproxy: Expected
    /// The HAProxy termination state when it rejects.
    let haproxyState: String?

    init(_ input: String, _ code: String, value: String? = nil, phase: Phase = .responseHead,
         nginx: Expected, haproxy: Expected, haproxyState: String? = nil) {
        self.input = input
        self.code = code
        self.value = value
        self.phase = phase
        self.nginx = nginx
        self.haproxy = haproxy
        self.haproxyState = haproxyState
    }

    var testDescription: String { "\(self.input) → \(self.code)" }
    var context: RuleContext { RuleContext(phase: self.phase, value: self.value) }
}

let matrix: [MatrixRow] = [
    MatrixRow("leading CRLF before the status line", "proto.non_http_response", value: "\r\nHTTP/1.1 200 OK",
              nginx: .http09, haproxy: .accepts),
    MatrixRow("HTTP/1.1  200 (two SP)", "http.status_line.bad_code", value: " 200", nginx: .accepts, haproxy: .accepts),
    MatrixRow("status 2000", "http.status_line.bad_code", value: "2000", nginx: .http09, haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("status 20", "http.status_line.bad_code", value: "20", nginx: .http09, haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("bare LF line ends", "http.line.bare_lf", nginx: .accepts, haproxy: .accepts),
    // The matrix's "bare CR" row is a header line; in the status line nginx relays HTTP/0.9 instead.
    MatrixRow("bare CR in a header", "http.header.value_bare_cr", nginx: .rejects(502), haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("bare CR in the status line", "http.line.bare_cr", nginx: .http09, haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("SP/HTAB before colon", "http.header.name_ctl_or_space", nginx: .rejects(502), haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("non-tchar in name (;)", "http.header.name_non_token", nginx: .accepts, haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("_ in name", "none", nginx: .accepts, haproxy: .accepts),
    MatrixRow("header without colon", "http.header.missing_colon", nginx: .accepts, haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("NUL in value", "http.header.value_nul", nginx: .rejects(502), haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("other CTL in value", "http.header.value_ctl", nginx: .accepts, haproxy: .accepts),
    MatrixRow("obs-text 0x80-0xFF in value", "none", nginx: .accepts, haproxy: .accepts),
    MatrixRow("obs-fold", "http.header.obs_fold", nginx: .rejects(502), haproxy: .accepts),
    MatrixRow("Content-Length: 5, 5", "http.cl.invalid", value: "5, 5", nginx: .rejects(502), haproxy: .accepts),
    MatrixRow("two identical CL lines", "http.cl.duplicate", value: "5, 5", nginx: .rejects(502), haproxy: .accepts),
    MatrixRow("TE + CL", "http.te_cl.both", nginx: .rejects(502), haproxy: .accepts),
    MatrixRow("TE: gzip (response)", "http.te.not_chunked", value: "gzip", nginx: .rejects(502), haproxy: .rejects(502), haproxyState: "PH"),
    MatrixRow("chunk-size + SP", "http.chunked.ws_after_size", phase: .responseBody, nginx: .accepts, haproxy: .accepts),
    MatrixRow("chunk line with bare LF", "http.chunked.bare_lf", phase: .responseBody,
              nginx: .rejects(nil), haproxy: .rejects(nil), haproxyState: "PD"),
]

@Test(arguments: matrix)
func matrixRowNginx(_ row: MatrixRow) {
    let reaction = Gateways.reaction(to: FindingCode(code: row.code)!, context: row.context, profile: GatewayProfile(.nginx))
    #expect(row.nginx.matches(reaction), "nginx: \(reaction)")
}

@Test(arguments: matrix)
func matrixRowHAProxy(_ row: MatrixRow) {
    let reaction = Gateways.reaction(to: FindingCode(code: row.code)!, context: row.context, profile: GatewayProfile(.haproxy))
    #expect(row.haproxy.matches(reaction), "haproxy: \(reaction)")
    if let state = row.haproxyState {
        #expect(reaction.detail == state)
    }
}

/// The strict profile rejects every row that is not plainly valid bytes or a pure lint; the one
/// RFC-valid oddity, Transfer-Encoding: gzip on a response, passes (RFC 9112 §6.3 rule 4).
@Test(arguments: matrix)
func matrixRowStrict(_ row: MatrixRow) {
    let reaction = Gateways.reaction(to: FindingCode(code: row.code)!, context: row.context, profile: GatewayProfile(.strict))
    switch row.code {
    case "none", "http.te.not_chunked":
        #expect(reaction.kind == .accepts)
    default:
        #expect(reaction.kind == .rejects)
        #expect(reaction.status == (row.phase == .responseBody ? nil : 502))
        #expect(reaction.detail.hasPrefix("RFC 9112 §") || reaction.detail.hasPrefix("RFC 9110 §"), "\(reaction.detail)")
    }
}

@Test func matrixNginxLogTexts() {
    let nginx = GatewayProfile(.nginx)
    let obsFold = Gateways.reaction(to: FindingCode(code: "http.header.obs_fold")!, context: RuleContext(), profile: nginx)
    #expect(obsFold.detail == "upstream sent invalid header: \"\\x20...\" while reading response header from upstream")
    let teCL = Gateways.reaction(to: FindingCode(code: "http.te_cl.both")!, context: RuleContext(), profile: nginx)
    #expect(teCL.detail == "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading response header from upstream")
    let status = Gateways.reaction(to: FindingCode(code: "http.status_line.bad_code")!, context: RuleContext(value: "2000"), profile: nginx)
    #expect(status.detail == "upstream sent no valid HTTP/1.0 header while reading response header from upstream")
    let tooBig = Gateways.reaction(to: FindingCode(code: "http.header.too_large")!, context: RuleContext(), profile: nginx)
    #expect(tooBig.detail == "upstream sent too big header while reading response header from upstream")
}

/// HAProxy merges only an identical Content-Length list; anything else in the value is 502 PH.
@Test(arguments: [
    ("5, 5", true), ("05,5", true), ("5", true), (" 7 ,\t7 ", true),
    ("5, 6", false), ("NaN", false), ("", false), ("5,", false), ("-5", false), ("0x10", false),
])
func haproxyContentLengthList(_ value: String, _ merged: Bool) {
    let haproxy = GatewayProfile(.haproxy)
    let invalid = Gateways.reaction(to: FindingCode(code: "http.cl.invalid")!, context: RuleContext(value: value), profile: haproxy)
    #expect(invalid.kind == (merged ? .accepts : .rejects))
    #expect(invalid.status == (merged ? nil : 502))
    let duplicate = Gateways.reaction(to: FindingCode(code: "http.cl.duplicate")!, context: RuleContext(value: value), profile: haproxy)
    #expect(duplicate.kind == (merged ? .accepts : .rejects))
}

/// Without the value, an invalid Content-Length is most likely not an identical list.
@Test func haproxyContentLengthWithoutValue() {
    let haproxy = GatewayProfile(.haproxy)
    #expect(Gateways.reaction(to: FindingCode(code: "http.cl.invalid")!, context: RuleContext(), profile: haproxy).detail == "PH")
    #expect(Gateways.reaction(to: FindingCode(code: "http.cl.duplicate")!, context: RuleContext(), profile: haproxy).kind == .accepts)
}

/// nginx reads a 1-3 digit major (not starting with 0) and minor, else relays HTTP/0.9; HAProxy
/// wants exactly HTTP/DIGIT.DIGIT.
@Test(arguments: [
    ("HTTP/1.10", true), ("HTTP/11.1", true), ("HTTP/2", false), ("HTTP/01.1", false),
    ("http/1.1", false), ("HTTP/0.9", false), ("ICY", false), ("HTTP/1.1000", false),
])
func statusLineVersion(_ version: String, _ nginxAccepts: Bool) {
    let code = FindingCode(code: "http.status_line.bad_version")!
    let context = RuleContext(value: version)
    let nginx = Gateways.reaction(to: code, context: context, profile: GatewayProfile(.nginx))
    #expect(nginx.kind == (nginxAccepts ? .accepts : .passesAsHTTP09))
    #expect(nginx.status == (nginxAccepts ? nil : 200))
    let haproxy = Gateways.reaction(to: code, context: context, profile: GatewayProfile(.haproxy))
    #expect(haproxy.status == 502)
    #expect(haproxy.detail == "PH")
}

/// Not-HTTP responses: nginx relays them as HTTP/0.9 with 200, HAProxy and Envoy answer 502.
@Test(arguments: ["proto.non_http_response", "proto.h2_response_to_h1", "proto.plain_to_tls_port"])
func notHTTPResponses(_ code: String) {
    let context = RuleContext(value: "SSH-2.0-OpenSSH_9.2\r\n")
    let nginx = Gateways.reaction(to: FindingCode(code: code)!, context: context, profile: GatewayProfile(.nginx))
    #expect(nginx.kind == .passesAsHTTP09)
    #expect(nginx.status == 200)
    let haproxy = Gateways.reaction(to: FindingCode(code: code)!, context: context, profile: GatewayProfile(.haproxy))
    #expect(haproxy.status == 502)
    #expect(haproxy.detail == "PH")
    let envoy = Gateways.reaction(to: FindingCode(code: code)!, context: context, profile: GatewayProfile(.envoy))
    #expect(envoy.status == 502)
    #expect(envoy.detail == "UPE")
}

/// Apache limits each field line to ResponseFieldSize (8192 bytes with the NUL), not the head;
/// lighttpd only the head, to 65535 bytes.
@Test(arguments: [
    ("20480 21000 500", true, true), ("12400 12600 12295", false, true), ("9000 9200 8191", true, true),
    ("9000 9200 8192", false, true), ("70000 72000 500", true, false),
])
func apacheAndLighttpdJudgeHeadSizes(_ value: String, _ apacheAccepts: Bool, _ lighttpdAccepts: Bool) {
    let code = FindingCode(code: "http.header.too_large")!
    let apache = Gateways.reaction(to: code, context: RuleContext(value: value), profile: GatewayProfile(.apache))
    #expect(apache.kind == (apacheAccepts ? .accepts : .rejects))
    #expect(apache.status == (apacheAccepts ? nil : 502))
    if !apacheAccepts { #expect(apache.detail.hasPrefix("AH10124: header size is over the limit allowed by ResponseFieldSize (8192 bytes)")) }
    let lighttpd = Gateways.reaction(to: code, context: RuleContext(value: value), profile: GatewayProfile(.lighttpd))
    #expect(lighttpd.kind == (lighttpdAccepts ? .accepts : .rejects))
}

/// Apache's status-line mask `HTTP/#.# ###*` and lighttpd's exact three digits.
@Test func apacheAndLighttpdReadStatusLines() {
    let apache = GatewayProfile(.apache), lighttpd = GatewayProfile(.lighttpd)
    let badCode = FindingCode(code: "http.status_line.bad_code")!, badVersion = FindingCode(code: "http.status_line.bad_version")!
    #expect(Gateways.reaction(to: badCode, context: RuleContext(value: "2000"), profile: apache).kind == .accepts)
    #expect(Gateways.reaction(to: badCode, context: RuleContext(value: " 200"), profile: apache).kind == .passesAsHTTP09)
    #expect(Gateways.reaction(to: badCode, context: RuleContext(value: "2000"), profile: lighttpd).status == 502)
    #expect(Gateways.reaction(to: badVersion, context: RuleContext(value: "HTTP/2"), profile: apache).kind == .passesAsHTTP09)
    #expect(Gateways.reaction(to: badVersion, context: RuleContext(value: "HTTP/2.0"), profile: apache).status == 502)
    #expect(Gateways.reaction(to: badVersion, context: RuleContext(value: "HTTP/2"), profile: lighttpd).status == 502)
}

/// lighttpd's own 404 after a read timeout is no 5xx: class unknown, as its capture's truth says.
@Test func lighttpdOwnNon5xxIsUnknown() {
    let code = FindingCode(code: "http.header.name_ctl_or_space")!
    let reaction = Gateways.reaction(to: code, context: RuleContext(), profile: GatewayProfile(.lighttpd))
    #expect(reaction.status == 404)
    #expect(Gateways.verdictClass(for: reaction, code: code, context: RuleContext(), model: LighttpdModel()) == .unknown)
    #expect(LighttpdModel().errorClass(forStatus: 500) == .internalError)
}

/// A bad chunk that came with Apache's first read fails before the head is sent: 502, not a cut
/// body (captures/apache/http-chunked-bad-size sent it 30 ms later: a cut body).
@Test func apacheBadChunkWithTheHeadIs502() {
    let code = FindingCode(code: "http.chunked.bad_size")!, apache = GatewayProfile(.apache)
    let later = Gateways.reaction(to: code, context: RuleContext(phase: .responseBody), profile: apache)
    #expect(later.kind == .rejects && later.status == nil && later.detail == "AH01110: error reading response")
    let withHead = Gateways.reaction(to: code, context: RuleContext(phase: .responseBody, arrivedWithHead: true), profile: apache)
    #expect(withHead.status == 502)
    #expect(Gateways.verdictClass(for: withHead, code: code, context: RuleContext(), model: ApacheModel()) == .badGateway)
}
