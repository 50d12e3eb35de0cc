import Testing
@testable import Reporting

/// The pool sentence of a head comparison (`HeadComparisonReport.members`).
struct HeadComparisonMembersTests {
    static func comparison(_ members: [(server: String, sends: String, since: String?)]) throws -> JSONValue {
        let items = members.map { member in
            let since = member.since.map { "\"\($0)\"" } ?? "null"
            return "{\"server\": \"\(member.server)\", \"sends\": \"\(member.sends)\", \"failing\": \(member.since != nil), \"since\": \(since)}"
        }
        return try JSONValue(parsing: "{\"members\": [\(items.joined(separator: ", "))]}")
    }

    @Test func membersSendingTheSameLineAreOneGroup() throws {
        let comparison = try Self.comparison([
            ("127.0.0.2:80", "Content-Type: text/plain", nil), ("127.0.0.3:80", "Content Type: text/plain", "2026-12-07T02:15:56Z"),
            ("127.0.0.4:80", "Content-Type: text/plain", nil),
        ])
        #expect(HeadComparisonReport.members(comparison, quote: { "`\($0)`" })
            == "members .2 and .4 send `Content-Type: text/plain`; .3 sends `Content Type: text/plain` since 02:15:56 UTC")
    }

    /// Thirty members, each with its own Content-Length: one group with the value elided and the
    /// names counted, not thirty values.
    @Test func healthyMembersDifferingInValueOnlyAreOneGroupWithTheValueElided() throws {
        var members: [(server: String, sends: String, since: String?)] = (10...40).map { ("10.0.3.\($0):8080", "Content-Length: \($0 * 97)", nil) }
        members[23] = ("10.0.3.33:8080", "Content-Length : 4054", "2024-06-04T10:00:00.000013Z")
        let sentence = HeadComparisonReport.members(try Self.comparison(members), quote: { "`\($0)`" })
        #expect(sentence == "members .10, .11, .12 and 27 more send `Content-Length: …`; .33 sends `Content-Length : 4054` since 10:00:00 UTC")
    }

    /// Two healthy lines that differ are both shown: only a crowd is elided.
    @Test func twoDifferingHealthyLinesAreBothShown() throws {
        let comparison = try Self.comparison([
            ("127.0.0.2:80", "Content-Length: 5", nil), ("127.0.0.3:80", "Content-Length: abc", "2026-12-07T02:15:56Z"),
            ("127.0.0.4:80", "Content-Length: 7", nil),
        ])
        #expect(HeadComparisonReport.members(comparison, quote: { "`\($0)`" })
            == "members .2 sends `Content-Length: 5`; .4 sends `Content-Length: 7`; .3 sends `Content-Length: abc` since 02:15:56 UTC")
    }
}
