import CaptureModel
@testable import Engine
import HTTP1
import Foundation
import Testing
import TestSupport

// Issue 19 part 2: a failing response head beside the nearest healthy one.
//
// pool-turns-bad.pcap: a real nginx 1.22.1 in front of three members on 127.0.0.2-4:28490, keep-alive
// upstream connections, 18 requests for one path. The truth (nginx's error.log and the upstream's
// log): 127.0.0.3 answered n=2, 5, 8 well on its first connection, then n=11 (its 4th request there)
// and n=14, n=17 on new connections with `Content Type: text/plain`; nginx logged `upstream sent
// invalid header: "Content\x20..."` for each: its field name stops at byte 8, the space.

private func truthFile(_ name: String) throws -> Truth {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/nginx/\(name).truth.json"))
    return try JSONDecoder().decode(Truth.self, from: data)
}

private func analysed(_ name: String) throws -> AnalysisResult {
    let truth = try truthFile(name)
    return try analyse(Paths.captures + "/nginx/\(name).pcap", options: try truth.options())
}

@Test func aFailingHeadIsComparedWithAHealthyAnswerToTheSamePathFromTheSameMember() throws {
    let truth = try truthFile("pool-turns-bad")
    let result = try analysed("pool-turns-bad")
    let failing = truth.expected_connections.filter { $0.verdict == "http.header.name_ctl_or_space" }
    #expect(failing.map(\.server) == ["127.0.0.3:28490", "127.0.0.3:28490", "127.0.0.3:28490"])
    let compared = result.connections.filter { $0.comparison != nil }
    #expect(compared.map(\.client.description) == failing.compactMap(\.client))

    // The first: its 4th transaction failed; its 2nd (n=5) is the healthy answer kept for the path
    // (the first of its capture-second: n=8 came in the same second and was not copied).
    let first = try #require(compared.first?.comparison)
    #expect(first.failing.connection == 2)
    #expect(first.failing.transaction == 4)
    #expect(first.failing.request == "GET /s/pool-turns-bad/item?n=11")
    #expect(first.failing.frame == 44)
    #expect(first.healthy.connection == 2)
    #expect(first.healthy.transaction == 2)
    #expect(first.healthy.request == "GET /s/pool-turns-bad/item?n=5")
    #expect(first.healthy.server.description == "127.0.0.3:28490")
    #expect(first.matchedBy == .sameTarget)
    #expect(first.failing.lines == ["HTTP/1.1 200 OK", "Content Type: text/plain", "Content-Length: 60", "Connection: keep-alive"])
    #expect(first.healthy.lines == ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 59", "Connection: keep-alive"])
    #expect(first.differences.map(\.line) == [2, 3])
    #expect(first.differences.map(\.failing) == ["Content Type: text/plain", "Content-Length: 60"])
    #expect(first.differences.map(\.healthy) == ["Content-Type: text/plain", "Content-Length: 59"])
    #expect(first.differences.map(\.kind) == [.changed, .value])
    // nginx's `"Content\x20..."`: the name stops at its 8th byte, a space; the finding's evidence starts there.
    let offending = try #require(first.offending)
    #expect(offending.line == 2)
    #expect(offending.column == 8)
    #expect(offending.byte == 0x20)
    let evidence = try #require(compared.first?.findings.first?.evidence.first)
    #expect(offending.streamOffset == evidence.streamOffset)
    #expect(offending.streamOffset == 468)
    #expect(evidence.frame == failing.first?.evidence_frame.map(FrameNumber.init))

    // The pool: .2 and .4 send the field well, .3 misspells it since its first failing answer.
    #expect(first.members.map(\.server.description) == ["127.0.0.2:28490", "127.0.0.3:28490", "127.0.0.4:28490"])
    #expect(first.members.map(\.sends) == ["Content-Type: text/plain", "Content Type: text/plain", "Content-Type: text/plain"])
    #expect(first.members.map(\.failing) == [false, true, false])
    #expect(first.members[1].since == first.failing.time)

    // The later failures (each the first transaction of a new connection) are beside the same
    // healthy answer, and the member is failing since the first of them.
    for connection in compared.dropFirst() {
        let comparison = try #require(connection.comparison)
        #expect(comparison.failing.transaction == 1)
        #expect(comparison.healthy.connection == 2)
        #expect(comparison.healthy.transaction == 2)
        #expect(comparison.offending?.streamOffset == 24)
        #expect(comparison.offending?.column == 8)
        #expect(comparison.members[1].since == first.failing.time)
    }
    // Healthy connections carry no comparison, and failing ones no head once compared.
    #expect(result.connections.allSatisfy { $0.responseHead == nil })
}

@Test func aMemberThatNeverAnsweredWellIsComparedWithAnotherMemberOfItsPool() throws {
    // pool-mixed-5xx.pcap: four members on 127.0.0.2-5:18090, one connection per request;
    // 127.0.0.3 answered `Content-Length : 5` every time (nginx: `"Content-Length\x20..."`).
    let result = try analysed("pool-mixed-5xx")
    let compared = result.connections.filter { $0.comparison != nil }
    #expect(compared.count == 10)
    #expect(compared.allSatisfy { $0.server.description == "127.0.0.3:18090" })
    let first = try #require(compared.first?.comparison)
    #expect(first.matchedBy == .poolMember)
    #expect(first.failing.connection == 2)
    #expect(first.healthy.connection == 1)
    #expect(first.healthy.server.description == "127.0.0.2:18090")
    #expect(first.failing.lines == ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length : 5"])
    #expect(first.healthy.lines == ["HTTP/1.1 200 OK", "Content-Length: 52"])
    #expect(first.rows == [.init(failing: 0, healthy: 0), .init(failing: 1, healthy: nil), .init(failing: 2, healthy: 1)])
    #expect(first.differences.map(\.kind) == [.onlyFailing, .changed])
    #expect(first.differences.map(\.line) == [2, 3])
    #expect(first.differences.map(\.healthyLine) == [nil, 2])
    // `Content-Length` is 14 bytes: the 15th, a space, is where nginx's quote of the name stops.
    #expect(first.offending?.line == 3)
    #expect(first.offending?.column == 15)
    #expect(first.offending?.streamOffset == 57)
    // Judged at its close, the first failure knows the members that had answered by then; a
    // later one (c10) knows the whole pool.
    #expect(first.members.map(\.server.description) == ["127.0.0.2:18090", "127.0.0.3:18090"])
    #expect(first.members.map(\.failing) == [false, true])
    #expect(first.members[1].sends == "Content-Length : 5")
    let later = try #require(compared.first { $0.id == 10 }?.comparison)
    #expect(later.members.map(\.server.description) == ["127.0.0.2:18090", "127.0.0.3:18090", "127.0.0.4:18090", "127.0.0.5:18090"])
    #expect(later.members.map(\.failing) == [false, true, false, false])
}

@Test func connectionsWithoutAResponseHeadAreNotCompared() throws {
    // any-mixed.pcap: the failures are a refused connect and a reset before any response byte.
    let result = try analysed("any-mixed")
    #expect(result.connections.contains { $0.verdict.code == .tcpConnectRefused })
    #expect(result.connections.allSatisfy { $0.comparison == nil })
}

@Test func theSamplerCopiesTheFirstHealthyHeadOfEachSecondPerPathAndPerUpstream() {
    // Hundreds of healthy answers to one path in one second: one head is copied.
    var sampler = HeadSampler()
    let server = Endpoint(address: .v4(0x7F00_0002), port: 8080)
    func offer(_ target: String, second: Int64, server: Endpoint = server) -> Bool {
        sampler.wants(server: server, method: "GET", target: target, answeredAt: Timestamp(seconds: second, nanoseconds: 5))
    }
    #expect(offer("/a?n=1", second: 10))
    #expect((0..<300).map { offer("/a?n=\($0)", second: 10) }.allSatisfy { !$0 })
    // Another path in the same second: wanted for its path, not for the upstream.
    #expect(offer("/b", second: 10))
    #expect(!offer("/b", second: 10))
    // The next second: wanted again.
    #expect(offer("/a?n=2", second: 11))
    #expect(offer("/b", second: 11))
}
