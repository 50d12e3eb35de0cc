import CaptureModel
import Testing

@testable import Diagnosis

/// What Debian 12's nginx 1.22.1 and HAProxy 2.6.12-1+deb12u4 did when an upstream sent these
/// bytes (proxy_pass / a plain http backend, default settings, run by hand on this workplace's
/// machine). docs/gateways.md: Debian's packages are ground truth for those releases.
struct Observed: Sendable, CustomTestStringConvertible {
    let bytes: String
    let code: String
    let value: String?
    let phase: Phase
    let arrivedWithHead: Bool
    let profile: String
    let kind: GatewayReaction.Kind
    let status: Int?
    /// The error.log line or termination state seen, when the rules should name it exactly.
    let detail: String?

    init(_ bytes: String, _ code: String, value: String? = nil, phase: Phase = .responseHead, arrivedWithHead: Bool = false,
         _ profile: String, _ kind: GatewayReaction.Kind, _ status: Int?, _ detail: String? = nil) {
        self.bytes = bytes
        self.code = code
        self.value = value
        self.phase = phase
        self.arrivedWithHead = arrivedWithHead
        self.profile = profile
        self.kind = kind
        self.status = status
        self.detail = detail
    }

    var testDescription: String { "\(self.profile): \(self.bytes)" }
}

private let head = " while reading response header from upstream"

let debianObservations: [Observed] = [
    // nginx 1.22.1
    Observed("Content-Length: NaN", "http.cl.invalid", value: "NaN", "nginx:1.22.1", .accepts, nil),
    Observed("Content-Length: 5, 5", "http.cl.invalid", value: "5, 5", "nginx:1.22.1", .accepts, nil),
    Observed("Content-Length: 5 twice", "http.cl.duplicate", value: "5, 5", "nginx:1.22.1", .accepts, nil),
    Observed("Transfer-Encoding: chunked + Content-Length", "http.te_cl.both", "nginx:1.22.1", .accepts, nil),
    Observed("Transfer-Encoding: gzip", "http.te.not_chunked", value: "gzip", "nginx:1.22.1", .accepts, nil),
    Observed("Transfer-Encoding: chunked twice", "http.te.duplicate_or_empty", "nginx:1.22.1", .accepts, nil),
    Observed("X-A: a CRLF SP b (obs-fold)", "http.header.obs_fold", "nginx:1.22.1", .rejects, 502,
             "upstream sent invalid header: \"\\x20...\"" + head),
    Observed("X-Foo : bar", "http.header.name_ctl_or_space", "nginx:1.22.1", .rejects, 502),
    Observed("X-Foo;: bar", "http.header.name_non_token", "nginx:1.22.1", .accepts, nil),
    Observed("Foo (no colon)", "http.header.missing_colon", "nginx:1.22.1", .accepts, nil),
    Observed(": x", "http.header.empty_name", "nginx:1.22.1", .rejects, 502, "upstream sent invalid header: \"\\x3a...\"" + head),
    Observed("X-A: a\\x01b", "http.header.value_ctl", "nginx:1.22.1", .accepts, nil),
    Observed("X-A: a\\x00b", "http.header.value_nul", "nginx:1.22.1", .rejects, 502),
    Observed("X-A: a\\rb", "http.header.value_bare_cr", "nginx:1.22.1", .rejects, 502),
    Observed("5 LF hello", "http.chunked.bare_lf", phase: .responseBody, "nginx:1.22.1", .accepts, nil),
    Observed("5 SP CRLF", "http.chunked.ws_after_size", phase: .responseBody, "nginx:1.22.1", .accepts, nil),
    Observed("zz CRLF", "http.chunked.bad_size", phase: .responseBody, "nginx:1.22.1", .rejects, nil,
             "upstream sent invalid chunked response while reading upstream"),
    Observed("HTTP/1.1 2000 OK", "http.status_line.bad_code", value: "2000", "nginx:1.22.1", .passesAsHTTP09, 200,
             "upstream sent no valid HTTP/1.0 header" + head),
    Observed("HTTP/1.1 600 OK", "http.status_line.bad_code", value: "600", "nginx:1.22.1", .accepts, nil),
    Observed("HTTP/1.1  200 OK", "http.status_line.bad_code", value: " 200", "nginx:1.22.1", .accepts, nil),
    Observed("CRLF HTTP/1.1 200 OK", "proto.non_http_response", value: "\r\nHTTP/1.1 200 OK", "nginx:1.22.1", .passesAsHTTP09, 200),
    Observed("HTTP/1.10 200 OK", "http.status_line.bad_version", value: "HTTP/1.10", "nginx:1.22.1", .accepts, nil),
    Observed("http/1.1 200 OK", "http.status_line.bad_version", value: "http/1.1", "nginx:1.22.1", .passesAsHTTP09, 200),
    Observed("SSH-2.0-OpenSSH_9.2", "proto.non_http_response", value: "SSH-2.0", "nginx:1.22.1", .passesAsHTTP09, 200),
    Observed("FIN after 5 of 10 body bytes", "tcp.fin.mid_body", phase: .responseBody, "nginx:1.22.1", .rejects, nil,
             "upstream prematurely closed connection while reading upstream"),
    Observed("FIN inside the head", "tcp.fin.mid_headers", "nginx:1.22.1", .rejects, 502,
             "upstream prematurely closed connection" + head),
    Observed("FIN with no byte", "tcp.fin.before_response", "nginx:1.22.1", .rejects, 502),
    Observed("HTTP/1.1 503", "http.upstream_5xx", "nginx:1.22.1", .accepts, nil),
    // HAProxy 2.6.12
    Observed("Content-Length: NaN", "http.cl.invalid", value: "NaN", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("Content-Length: 5, 5", "http.cl.invalid", value: "5, 5", "haproxy:2.6", .accepts, nil),
    Observed("Content-Length: 5 twice", "http.cl.duplicate", value: "5, 5", "haproxy:2.6", .accepts, nil),
    Observed("Content-Length: 5 and 6", "http.cl.duplicate", value: "5, 6", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("Transfer-Encoding: chunked + Content-Length", "http.te_cl.both", "haproxy:2.6", .accepts, nil),
    Observed("Transfer-Encoding: gzip", "http.te.not_chunked", value: "gzip", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("Transfer-Encoding: chunked twice", "http.te.duplicate_or_empty", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("obs-fold", "http.header.obs_fold", "haproxy:2.6", .accepts, nil),
    Observed("X-Foo : bar", "http.header.name_ctl_or_space", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("X-Foo;: bar", "http.header.name_non_token", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("Foo (no colon)", "http.header.missing_colon", "haproxy:2.6", .rejects, 502, "PH"),
    Observed(": x", "http.header.empty_name", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("X-A: a\\x01b", "http.header.value_ctl", "haproxy:2.6", .accepts, nil),
    Observed("X-A: a\\x00b (relayed to the client)", "http.header.value_nul", "haproxy:2.6", .accepts, nil),
    Observed("X-A: a\\rb", "http.header.value_bare_cr", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("5 LF hello", "http.chunked.bare_lf", phase: .responseBody, "haproxy:2.6", .accepts, nil),
    Observed("5 SP CRLF", "http.chunked.ws_after_size", phase: .responseBody, "haproxy:2.6", .accepts, nil),
    Observed("zz CRLF in the head's segment", "http.chunked.bad_size", phase: .responseBody, arrivedWithHead: true,
             "haproxy:2.6", .rejects, 502, "PH"),
    Observed("zz CRLF 300 ms after the head", "http.chunked.bad_size", phase: .responseBody, "haproxy:2.6", .rejects, nil, "SD"),
    Observed("HTTP/1.1 2000 OK", "http.status_line.bad_code", value: "2000", "haproxy:2.6", .accepts, nil),
    Observed("HTTP/1.1 20 OK", "http.status_line.bad_code", value: "20", "haproxy:2.6", .accepts, nil),
    Observed("HTTP/1.1  200 OK", "http.status_line.bad_code", value: " 200", "haproxy:2.6", .accepts, nil),
    Observed("CRLF HTTP/1.1 200 OK", "proto.non_http_response", value: "\r\nHTTP/1.1 200 OK", "haproxy:2.6", .accepts, nil),
    Observed("HTTP/1.10 200 OK", "http.status_line.bad_version", value: "HTTP/1.10", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("http/1.1 200 OK", "http.status_line.bad_version", value: "http/1.1", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("SSH-2.0-OpenSSH_9.2", "proto.non_http_response", value: "SSH-2.0", "haproxy:2.6", .rejects, 502, "PH"),
    Observed("FIN after 5 of 10 body bytes", "tcp.fin.mid_body", phase: .responseBody, "haproxy:2.6", .rejects, nil, "SD"),
    Observed("FIN inside the head", "tcp.fin.mid_headers", "haproxy:2.6", .rejects, 502, "SH"),
    Observed("FIN with no byte", "tcp.fin.before_response", "haproxy:2.6", .rejects, 502, "SH"),
]

@Test(arguments: debianObservations)
func debianReleasesBehaveAsObserved(_ seen: Observed) throws {
    let profile = try #require(GatewayProfile(parsing: seen.profile))
    let context = RuleContext(phase: seen.phase, upstreamStatus: seen.code == "http.upstream_5xx" ? 503 : nil,
                              value: seen.value, arrivedWithHead: seen.arrivedWithHead)
    let reaction = Gateways.reaction(to: FindingCode(code: seen.code)!, context: context, profile: profile)
    #expect(reaction.kind == seen.kind)
    if seen.code == "http.upstream_5xx" {
        #expect(reaction.status == 503)
    } else {
        #expect(reaction.status == seen.status)
    }
    if let detail = seen.detail {
        #expect(reaction.detail == detail)
    }
}

/// On a reused upstream connection that the upstream resets, 1.22.1 retried GET (the client got
/// 200) and answered POST and PATCH with 502, logging recv() failed (104: ...).
@Test func debianNginxKeepAliveRace() throws {
    let profile = try #require(GatewayProfile(parsing: "nginx:1.22.1"))
    let get = Gateways.reaction(
        to: FindingCode(code: "tcp.rst.before_response")!, context: RuleContext(method: "GET", reusedConnection: true), profile: profile)
    #expect(get.kind == .retries)
    #expect(get.detail == "recv() failed (104: Connection reset by peer)" + head)
    for method in ["POST", "PATCH"] {
        let failed = Gateways.reaction(
            to: FindingCode(code: "tcp.rst.before_response")!, context: RuleContext(method: method, reusedConnection: true), profile: profile)
        #expect(failed.status == 502)
    }
}

/// The boundaries around the releases the Debian packages sit on.
@Test func releaseBoundaries() throws {
    func kind(_ code: String, _ profile: String, _ context: RuleContext = RuleContext()) throws -> GatewayReaction.Kind {
        Gateways.reaction(to: FindingCode(code: code)!, context: context, profile: try #require(GatewayProfile(parsing: profile))).kind
    }
    let body = RuleContext(phase: .responseBody)
    #expect(try kind("http.chunked.bare_lf", "nginx:1.29.3", body) == .accepts)
    #expect(try kind("http.chunked.bare_lf", "nginx:1.29.4", body) == .rejects)
    #expect(try kind("http.chunked.bare_lf", "nginx", body) == .rejects)
    #expect(try kind("http.header.value_nul", "haproxy:2.9") == .accepts)
    #expect(try kind("http.header.value_nul", "haproxy:3.0") == .rejects)
    #expect(try kind("http.status_line.bad_code", "haproxy:3.2", RuleContext(value: "2000")) == .rejects)
    #expect(Gateways.reaction(to: FindingCode(code: "http.chunked.bad_size")!, context: body,
                                  profile: GatewayProfile(.haproxy, version: "3.0")).detail == "PD")
}

/// Only HAProxy parses ahead of forwarding the head; the others have started the response.
@Test func arrivedWithHeadMattersOnlyToHAProxy() {
    let context = RuleContext(phase: .responseBody, arrivedWithHead: true)
    let code = FindingCode(code: "http.chunked.data_len_mismatch")!
    #expect(Gateways.reaction(to: code, context: context, profile: GatewayProfile(.haproxy)).status == 502)
    #expect(Gateways.reaction(to: code, context: context, profile: GatewayProfile(.nginx)).status == nil)
    #expect(Gateways.reaction(to: code, context: context, profile: GatewayProfile(.envoy)).status == nil)
    // Not a chunked error: a FIN in the body still cuts it.
    #expect(Gateways.reaction(to: FindingCode(code: "tcp.fin.mid_body")!, context: context, profile: GatewayProfile(.haproxy)).detail == "SD")
}
