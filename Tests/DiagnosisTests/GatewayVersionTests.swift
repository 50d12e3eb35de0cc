import CaptureModel
import Testing

@testable import Diagnosis

private func reaction(_ code: String, _ profile: String, _ context: RuleContext = RuleContext()) throws -> GatewayReaction {
    let profile = try #require(GatewayProfile(parsing: profile))
    return Gateways.reaction(to: FindingCode(code: code)!, context: context, profile: profile)
}

@Test(arguments: [
    ("1.22", "1.22.1", -1), ("1.22.1", "1.23", -1), ("1.22", "1.23", -1), ("1.9", "1.10", -1),
    ("1.22", "1.22.0", 0), ("2.6", "2.6", 0), ("1.23.0", "1.22.1", 1), ("3.0", "2.9.9", 1), ("1.21.1", "1.21", 1),
])
func versionsCompareNumerically(_ a: String, _ b: String, _ order: Int) {
    #expect(Gateways.compareVersions(a, b) == order)
    #expect(Gateways.compareVersions(b, a) == -order)
}

/// nginx 1.21.1: "now nginx always returns an error if spaces or control characters are used in
/// a header name".
@Test(arguments: [
    ("nginx:1.20", false), ("nginx:1.21", false), ("nginx:1.21.0", false),
    ("nginx:1.21.1", true), ("nginx:1.22", true), ("nginx:1.22.1", true), ("nginx", true),
])
func nginxHeaderNameSpaceSince1211(_ profile: String, _ rejected: Bool) throws {
    let result = try reaction("http.header.name_ctl_or_space", profile)
    #expect(result.kind == (rejected ? .rejects : .accepts))
    #expect(result.status == (rejected ? 502 : nil))
    let fold = try reaction("http.header.obs_fold", profile)
    #expect(fold.kind == (rejected ? .rejects : .accepts))
}

/// Debian 12's nginx 1.22.1 relays `Content-Length: NaN`; 1.23.0 and later answer 502.
@Test(arguments: [
    ("nginx:1.20", false), ("nginx:1.22", false), ("nginx:1.22.1", false), ("nginx:1.22.99", false),
    ("nginx:1.23", true), ("nginx:1.23.0", true), ("nginx:1.24", true), ("nginx", true),
])
func nginxContentLengthSince1230(_ profile: String, _ rejected: Bool) throws {
    let invalid = try reaction("http.cl.invalid", profile, RuleContext(value: "NaN"))
    #expect(invalid.kind == (rejected ? .rejects : .accepts))
    #expect(invalid.status == (rejected ? 502 : nil))
    if rejected {
        #expect(invalid.detail == "upstream sent invalid \"Content-Length\" header: \"Content-Length: …\" while reading response header from upstream")
    } else {
        #expect(invalid.note?.contains("1.23.0") == true)
    }
    for code in ["http.cl.duplicate", "http.te_cl.both", "http.te.not_chunked", "http.te.duplicate_or_empty"] {
        #expect(try reaction(code, profile).kind == (rejected ? .rejects : .accepts), "\(code)")
    }
}

/// nginx rejected NUL in a value in every release; only the log line changed in 1.21.1.
@Test func nginxInvalidHeaderLogBefore1211() throws {
    let old = try reaction("http.header.value_nul", "nginx:1.20")
    #expect(old.status == 502)
    #expect(old.detail == "upstream sent invalid header while reading response header from upstream")
    let new = try reaction("http.header.value_nul", "nginx:1.22")
    #expect(new.detail == "upstream sent invalid header: \"…\\x00...\" while reading response header from upstream")
}

/// HAProxy rejects unknown transfer codings in responses since 2.5 (haproxy#1301); 3.0 stopped
/// taking a bare LF as the end of a chunk line.
@Test func haproxyReleases() throws {
    #expect(try reaction("http.te.not_chunked", "haproxy:2.4").kind == .accepts)
    #expect(try reaction("http.te.not_chunked", "haproxy:2.6").detail == "PH")
    #expect(try reaction("http.te.not_chunked", "haproxy:2.6").status == 502)
    let body = RuleContext(phase: .responseBody)
    #expect(try reaction("http.chunked.bare_lf", "haproxy:2.6", body).kind == .accepts)
    #expect(try reaction("http.chunked.bare_lf", "haproxy:2.9.9", body).kind == .accepts)
    let new = try reaction("http.chunked.bare_lf", "haproxy:3.0", body)
    #expect(new.kind == .rejects)
    #expect(new.status == nil)
    #expect(new.detail == "PD")
}

/// A version only matters for its own family; strict has none.
@Test func versionsOfOtherFamiliesChangeNothing() throws {
    #expect(try reaction("http.cl.invalid", "strict:1.0") == reaction("http.cl.invalid", "strict"))
    #expect(try reaction("http.cl.invalid", "envoy:1.20") == reaction("http.cl.invalid", "envoy"))
    #expect(try reaction("http.cl.invalid", "haproxy:1.8", RuleContext(value: "NaN")).detail == "PH")
}

/// Each recorded change is real: the newest rule differs from the one before it, and the entry
/// names its source.
@Test(arguments: Gateways.changes)
func changesAreRecordedWithSources(_ change: GatewayRuleChange) {
    #expect(!change.source.isEmpty)
    #expect(change.since.split(separator: ".").allSatisfy { Int($0) != nil })
    let context = RuleContext(phase: change.code.cause.defaultPhase)
    let newest = Gateways.reaction(to: change.code, context: context, profile: GatewayProfile(model: Gateways.named(change.family)!))
    let older = Gateways.reaction(to: change.code, context: context, profile: GatewayProfile(model: Gateways.named(change.family)!, version: "0.1"))
    #expect(newest != older)
    #expect(older.kind == change.before.kind)
}

/// The report can name the release a rule changed in.
@Test func changesForACode() {
    let changes = Gateways.changes(for: FindingCode(code: "http.cl.invalid")!)
    #expect(changes.map(\.family) == ["nginx", "envoy"])
    #expect(changes.first?.since == "1.23.0")
    #expect(Gateways.changes(for: FindingCode(code: "http.header.dup_single_value")!).isEmpty)
}

extension GatewayRuleChange: CustomTestStringConvertible {
    public var testDescription: String { "\(self.family) \(self.code) since \(self.since)" }
}
