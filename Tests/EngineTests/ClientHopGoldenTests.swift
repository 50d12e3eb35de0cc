import CaptureModel
import Diagnosis
import Engine
import Foundation
import Testing
import TestSupport

/// `captures/nginx/client-hop.truth.json`: both hops of Debian's nginx 1.22.1, the client errors from
/// nginx's access and error logs and the upstreams' own log (`captures/tools/client-hop-truth.py`).
struct ClientHopTruth: Decodable {
    struct Peer: Decodable {
        var client: String?
        var server: String
    }
    struct ClientConnection: Decodable {
        var client: String
        var server: String
        var request: String
        var status: Int
    }
    struct ClientError: Decodable {
        var client: String
        /// Null for an empty reply.
        var status: Int?
        /// `error_status`, `cut_body`, `empty_reply`, `reset` (from curl's exit status); absent in
        /// the truths made before it was recorded, which hold error statuses only.
        var failure: String?
        var request: String
        var request_id: String?
        /// Null when no status line came.
        var response_frame: Int?
        var generated_by: String
        var upstream_connection: Peer?
        var earlier_upstream_connections: [Peer]
        var cause: String?
        var source: String
        /// For `gateway.no_live_upstreams`: the failed connections that had each member marked down.
        var disabled_by: [Peer]?
    }
    var capture: String
    var gateway_listen: String
    var client_hop_connections: [ClientConnection]
    var client_errors: [ClientError]
}

/// The truth of `name`: `client-hop` names nginx's, `haproxy/client-hop-no-server.haproxy` one in
/// another folder.
private func clientHopTruth(_ name: String = "client-hop") throws -> ClientHopTruth {
    let path = name.contains("/") ? name : "nginx/" + name
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/\(path).truth.json"))
    return try JSONDecoder().decode(ClientHopTruth.self, from: data)
}

/// The folder a client-hop capture's truth names it in, and the gateway that made it.
private func capturePath(_ name: String, _ truth: ClientHopTruth) -> String {
    Paths.captures + "/" + (name.contains("/") ? String(name.prefix { $0 != "/" }) : "nginx") + "/" + truth.capture
}

private func matches(_ connection: ConnectionReport?, _ peer: ClientHopTruth.Peer) -> Bool {
    guard let connection else { return false }
    return connection.server.description == peer.server && (peer.client == nil || connection.client.description == peer.client)
}

/// Every client 502 nginx logged is linked to the upstream connection the upstream's log names
/// (server, and the client port it saw), the relayed 503 to the upstream that sent it, nginx's
/// retry to both its tries, and `return 502` is listed as unexplained: inferred, and given.
@Test(arguments: [
    "client-hop", "client-hop-no-live-upstreams", "client-hop-cut", "haproxy/client-hop-no-server.haproxy",
    "haproxy/client-hop-proxy-concurrent.haproxy",
], [false, true])
func clientErrorsMatchWhatNginxLogged(capture: String, givenListener: Bool) throws {
    let truth = try clientHopTruth(capture)
    var options = AnalysisOptions(gateway: GatewayProfile(parsing: capture.hasPrefix("haproxy/") ? "haproxy:2.6" : "nginx:1.22")!)
    if givenListener { options.gatewayAddresses = [try #require(GatewayAddress(parsing: truth.gateway_listen))] }
    let result = try analyse(capturePath(capture, truth), options: options)
    let hop = try #require(result.clientHop)

    #expect(hop.listeners.map(\.endpoint.description) == [truth.gateway_listen])
    #expect(hop.listeners.map(\.given) == [givenListener])
    #expect(hop.connections == truth.client_hop_connections.count)
    #expect(hop.requests == truth.client_hop_connections.count)
    #expect(result.connections.allSatisfy { $0.server.description != truth.gateway_listen })
    #expect(result.tally.servers.keys.allSatisfy { $0.description != truth.gateway_listen })
    #expect(result.warnings.isEmpty)

    #expect(hop.errorCount == truth.client_errors.count)
    #expect(hop.explained == truth.client_errors.filter { $0.upstream_connection != nil || $0.cause != nil }.count)
    #expect(hop.errors.count == truth.client_errors.count)
    let byID = Dictionary(uniqueKeysWithValues: result.connections.map { ($0.id, $0) })
    for expected in truth.client_errors {
        guard let error = hop.errors.first(where: { $0.client.description == expected.client }) else {
            Issue.record("no client error for \(expected.client) (\(expected.source))")
            continue
        }
        let said = "\(expected.request): \(expected.source)"
        #expect(error.status == expected.status, "\(said)")
        #expect(error.failure.rawValue == expected.failure ?? "error_status", "\(said)")
        #expect(error.request == expected.request, "\(said)")
        #expect(error.requestID == expected.request_id, "\(said)")
        #expect(error.frame.map(Int.init) == expected.response_frame, "\(said)")
        #expect(error.generatedBy.rawValue == expected.generated_by, "\(said)")
        #expect(error.cause?.description == expected.cause, "\(said)")
        if let upstream = expected.upstream_connection {
            #expect(matches(error.upstreamConnection.flatMap { byID[$0] }, upstream), "\(said)")
        } else {
            #expect(error.upstreamConnection == nil, "\(said)")
        }
        let earlier = error.earlierUpstreamConnections.map { byID[$0] }
        #expect(earlier.count == expected.earlier_upstream_connections.count, "\(said)")
        for (connection, peer) in zip(earlier, expected.earlier_upstream_connections) {
            #expect(matches(connection, peer), "\(said)")
        }
        let disabledBy = error.disabledBy.map { byID[$0] }
        #expect(disabledBy.count == (expected.disabled_by ?? []).count, "\(said)")
        for (connection, peer) in zip(disabledBy, expected.disabled_by ?? []) {
            #expect(matches(connection, peer), "\(said)")
        }
    }
    guard capture == "client-hop" else { return }
    // The scenario has what it must: an unexplained `return 502`, a relayed 503, a retry.
    #expect(hop.errors.contains { $0.upstreamConnection == nil && $0.target.hasPrefix("/gw/") })
    #expect(hop.errors.contains { $0.generatedBy == .upstream && $0.status == 503 })
    #expect(hop.errors.contains { !$0.earlierUpstreamConnections.isEmpty })
}


/// Issue 15 item 13: Debian's nginx in front of a pool whose two members refuse (default
/// `max_fails=1 fail_timeout=10s`). No request is ever passed on, yet the listener is recognised
/// from what it did: it answered 502 while its host's connections to the members were being
/// refused. The first 502 follows both refusals (frames 7 and 9); the next two are nginx's
/// "no live upstreams while connecting to upstream", linked to the refusals that disabled each member.
@Test func noLiveUpstreamsAreTheGatewaysOwn502s() throws {
    let truth = try clientHopTruth("client-hop-no-live-upstreams")
    let result = try analyse(Paths.captures + "/nginx/" + truth.capture, options: AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!))
    let hop = try #require(result.clientHop)
    #expect(hop.listeners.map(\.endpoint.description) == ["127.0.0.1:28080"])
    #expect(result.connections.map(\.verdict.code) == [.tcpConnectRefused, .tcpConnectRefused])
    #expect(result.connections.map { $0.findings.first?.evidence.first?.frame } == [7, 9])
    #expect(result.tally.classes[.relayed] == nil)
    #expect(hop.errors.map(\.cause) == [.tcpConnectRefused, .gatewayNoLiveUpstreams, .gatewayNoLiveUpstreams])
    #expect(hop.errors.allSatisfy { $0.generatedBy == .gateway })
    #expect(hop.errors[1].upstreamConnection == nil)
    #expect(hop.errors[1].disabledBy == result.connections.map(\.id))
    #expect(hop.errors[1].frame == 20)
    #expect(hop.explained == 3)
}

/// Issue 15 item 2: Debian's nginx 1.22.1 passes an upstream's 200 on and then the body breaks
/// (captures/tools/client_hop_cut_scenario.py). Its access log says 200 every time; what the client
/// saw is curl's exit status: 18 (a body shorter than its Content-Length) after the upstream's FIN
/// or RST mid-body, 52 (an empty reply) after a chunk size that is not hex. Each is a client
/// failure linked to the upstream connection that caused it.
@Test func clientFailuresThatAreNot5xxAreListedWithTheirUpstreamCause() throws {
    let truth = try clientHopTruth("client-hop-cut")
    let result = try analyse(Paths.captures + "/nginx/" + truth.capture, options: AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!))
    let hop = try #require(result.clientHop)
    let byID = Dictionary(uniqueKeysWithValues: result.connections.map { ($0.id, $0) })
    let seen = hop.errors.map { ($0.target, $0.status, $0.failure, $0.upstreamConnection.flatMap { byID[$0] }?.verdict.code) }
    #expect(seen.map(\.0) == ["/fin-body/2", "/rst-body/3", "/chunk-bad/4"])
    #expect(seen.map(\.1) == [200, 200, nil])
    #expect(seen.map(\.2) == [.cutBody, .cutBody, .emptyReply])
    #expect(seen.map(\.3) == [.tcpFINMidBody, .tcpRSTMidBody, .chunkedBadSize])
    // The cut bodies carry the upstream's 200: its status, nginx's failure.
    #expect(hop.errors.map(\.generatedBy) == [.upstream, .upstream, .gateway])
    // The empty reply has no response frame; the cut ones name the frame of their status line.
    let frames = truth.client_errors.map(\.response_frame)
    #expect(hop.errors.map { $0.frame.map(Int.init) } == frames)
    #expect(frames.last! == nil)
    #expect(hop.explained == 3)
}

/// Issue 15 item 13, HAProxy's side: its checks (`inter 500ms fall 2`) found both servers refusing,
/// and the capture starts only after HAProxy logged them DOWN and "backend be has no server
/// available!". Each client's 503 is HAProxy's own (`be/<NOSRV>`, `SC--`): recognised from the
/// checks that keep failing, not from any failure in the capture's first moments, and a check that
/// happens to fall between a request and its 503 is not taken for an attempt of that request.
@Test func haproxyWithNoServerLeftMakesItsOwn503s() throws {
    let name = "haproxy/client-hop-no-server.haproxy"
    let truth = try clientHopTruth(name)
    let result = try analyse(capturePath(name, truth), options: AnalysisOptions(gateway: GatewayProfile(parsing: "haproxy:2.6")!))
    let hop = try #require(result.clientHop)
    #expect(hop.listeners.map(\.endpoint.description) == [truth.gateway_listen])
    #expect(hop.errors.count == 3)
    #expect(hop.errors.allSatisfy { $0.cause == .gatewayNoLiveUpstreams && $0.upstreamConnection == nil && $0.disabledBy.count == 2 })
    #expect(hop.errors.map { $0.frame.map(Int.init) } == truth.client_errors.map(\.response_frame))
    #expect(result.connections.allSatisfy { $0.verdict.code == .tcpConnectRefused })
}

/// Issue 20 part 3: HAProxy's `send-proxy` on both hops (captures/tools/proxy-client-hop-run.py). Two
/// clients send the same request with no id; the upstream answers both at once, the first
/// connection's body last, so the second client's 503 comes first with both upstream requests inside
/// its time: by timing alone it would take both (one as a retry) and leave the other unexplained.
/// The PROXY header's source (the client's own address and port, as the upstream logged it) links
/// each 503 to its own upstream connection.
@Test func thePROXYHeadersSourceLinksEachClientErrorToItsOwnUpstreamConnection() throws {
    let name = "haproxy/client-hop-proxy-concurrent.haproxy"
    let truth = try clientHopTruth(name)
    let result = try analyse(capturePath(name, truth), options: AnalysisOptions(gateway: GatewayProfile(parsing: "haproxy:2.6")!))
    let hop = try #require(result.clientHop)
    let byID = Dictionary(uniqueKeysWithValues: result.connections.map { ($0.id, $0) })
    #expect(hop.errors.count == 2)
    for expected in truth.client_errors {
        let error = try #require(hop.errors.first { $0.client.description == expected.client })
        let upstream = try #require(error.upstreamConnection.flatMap { byID[$0] })
        #expect(upstream.client.description == expected.upstream_connection?.client)
        #expect(upstream.proxyHeader?.source?.description == expected.client)
        #expect(error.matchedBy.first == "proxy_header")
        #expect(error.earlierUpstreamConnections.isEmpty)
    }
    // Both upstream requests lie inside the first-settled error's time: timing alone is ambiguous.
    let first = try #require(hop.errors.min { $0.time < $1.time })
    let lastClientRequest = try #require(hop.errors.map(\.requestFrame).max())
    let upstream = result.connections.compactMap { $0.transactions.first }
    #expect(upstream.count == 2)
    for transaction in upstream {
        #expect(try #require(transaction.request?.frame) > lastClientRequest)
        #expect(try #require(transaction.response?.frame) < first.frame ?? 0)
    }
}

