import CaptureModel
import Engine
import Diagnosis
import Foundation
import OpenSSLAdapters
import OpenSSLBridge
import TLSRecords
import PcapSource
import Testing
import TestSupport

/// Ground truth written beside each capture by `captures/tools/build-truth.py` from nginx's error and
/// access logs and the upstream script's own log: never from edgescope's output.
struct Truth: Decodable {
    struct Expected: Decodable {
        var client: String?
        var server: String
        var verdict: String
        var source: String
        /// What the client saw (`502`, `504`, `truncated`, `relayed`, `ok`), when recorded.
        var `class`: String?
        /// The frame tshark found the offending bytes (or the FIN/RST) in, when recorded.
        var evidence_frame: Int?
        /// The gateway's own log line for this connection.
        var gateway_log: String?
        /// For a race inside the gateway (the same bytes can end either way): every class allowed.
        var allowed_classes: [String]?
    }
    struct TLS: Decodable {
        var keylog: String?
        var ca_file: String?
        var crl_file: String?
        var crl_scope: String?
    }
    var capture: String
    var gateway: String
    /// The gateway folder's model (`apache`), for captures under `captures/<gateway>/`.
    var gateway_kind: String?
    var link_type: String
    var expected_connections: [Expected]
    /// For TLS captures: the key log and the CA file the gateway trusted, relative to captures/.
    var tls: TLS?

    /// The options the gateway's own configuration implies.
    func options() throws -> AnalysisOptions {
        var options = AnalysisOptions(gateway: self.profile)
        if let tls = self.tls {
            let store = try TrustStore(
                caFile: tls.ca_file.map { Paths.captures + "/" + $0 }, caPath: nil, crlFile: tls.crl_file.map { Paths.captures + "/" + $0 },
                crlScope: tls.crl_scope.flatMap(CRLScope.init(rawValue:)) ?? .chain)
            options.verifier = OpenSSLChainVerifier(verifier: ChainVerifier(trustStore: store))
            if let keylog = tls.keylog {
                let text = try String(contentsOfFile: Paths.captures + "/" + keylog, encoding: .utf8)
                options.decryption = TLSConnection.Decryption(keyLog: try KeyLog(parsing: text), crypto: OpenSSLCrypto())
            }
        }
        return options
    }

    /// The profile of the gateway that made the capture: Debian 12's nginx 1.22.1 or HAProxy 2.6;
    /// in a gateway folder, its `gateway_kind` at the release its version string names
    /// (`Apache/2.4.71 (Debian)` → `apache:2.4`).
    var profile: GatewayProfile {
        if let kind = self.gateway_kind {
            let release = self.gateway.firstMatch(of: /[0-9]+\.[0-9]+/).map { String($0.output) }
            return GatewayProfile(parsing: release.map { "\(kind):\($0)" } ?? kind) ?? GatewayProfile(.nginx)
        }
        let words = self.gateway.lowercased().split(separator: " ")
        let family = words.first.map(String.init) ?? "nginx"
        let release = words.dropFirst().first.map { $0.split(separator: ".").prefix(2).joined(separator: ".") } ?? ""
        return GatewayProfile(parsing: "\(family):\(release)") ?? GatewayProfile(.nginx)
    }
}

/// The truths of nginx's and HAProxy's captures (and the gateway-less key-log ones), as
/// `FOLDER/NAME.truth.json` relative to `captures/` (`Paths.sampleCaptureFolders`).
func truthFiles() -> [String] {
    Paths.sampleCaptureFiles(endingWith: [".truth.json"])
}

/// The capture a truth file names, as a path: its `capture` is relative to the truth's own folder.
func capturePath(truthFile: String, capture: String) -> String {
    let folder = truthFile.split(separator: "/").dropLast().joined(separator: "/")
    return Paths.captures + "/" + (folder.isEmpty ? "" : folder + "/") + capture
}

func analyse(_ path: String, options: AnalysisOptions = AnalysisOptions()) throws -> AnalysisResult {
    let reader = try PcapReader(path: path)
    var engine = Engine(linkType: reader.linkType, options: options)
    try reader.forEachFrame { engine.process($0) }
    return engine.finish()
}

@Test func everyCaptureHasGroundTruth() {
    #expect(truthFiles().count >= 7)
}

@Test(arguments: truthFiles())
func verdictsMatchWhatNginxLogged(truthFile: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    let result = try analyse(capturePath(truthFile: truthFile, capture: truth.capture), options: try truth.options())

    #expect(result.linkType.description == truth.link_type)
    #expect(result.connections.count == truth.expected_connections.count)
    #expect(result.warnings.isEmpty)

    _ = expectVerdicts(of: result, match: truth)
}

/// Matches every expected connection of `truth` to one of `result`'s and expects its verdict
/// code, class and evidence frame; returns the pairs matched.
func expectVerdicts(of result: AnalysisResult, match truth: Truth) -> [(expected: Truth.Expected, connection: ConnectionReport)] {
    var matched: [(expected: Truth.Expected, connection: ConnectionReport)] = []
    var unmatched = result.connections
    // Connections whose client port the upstream logged first, then the refused ones (no port known).
    for expected in truth.expected_connections.sorted(by: { ($0.client == nil ? 1 : 0) < ($1.client == nil ? 1 : 0) }) {
        let index = unmatched.firstIndex {
            $0.server.description == expected.server && (expected.client == nil || $0.client.description == expected.client)
        }
        guard let index else {
            Issue.record("no connection \(expected.client ?? "?") → \(expected.server) in \(truth.capture) (\(expected.source))")
            continue
        }
        let connection = unmatched.remove(at: index)
        matched.append((expected, connection))
        let said = expected.gateway_log ?? expected.source
        #expect(connection.verdict.code.description == expected.verdict, "\(truth.capture) \(connection.name): \(said)")
        if let allowed = expected.allowed_classes {
            #expect(allowed.contains(connection.verdict.verdictClass.rawValue), "\(truth.capture) \(connection.name): \(said)")
        } else if let expectedClass = expected.class {
            #expect(connection.verdict.verdictClass.rawValue == expectedClass, "\(truth.capture) \(connection.name): \(said)")
        } else if expected.verdict == "none" {
            #expect(connection.verdict.verdictClass == .ok)
        } else {
            // The first captures' failures were all nginx 502s (the access log says so).
            #expect(connection.verdict.verdictClass == .badGateway)
        }
        if let frame = expected.evidence_frame {
            #expect(connection.findings.first?.evidence.first?.frame.map(Int.init) == frame,
                    "\(truth.capture) \(connection.name): evidence frame")
        }
    }
    return matched
}

@Test func healthyControlHasNoFailureAtAll() throws {
    let path = Paths.captures + "/nginx/healthy-control.pcap"
    guard FileManager.default.fileExists(atPath: path) else {
        Issue.record("captures/nginx/healthy-control.pcap is missing")
        return
    }
    let result = try analyse(path, options: AnalysisOptions(gateway: GatewayProfile(parsing: "nginx:1.22")!))
    let transactions = result.connections.map { $0.transactions.count + $0.transactionsDropped }.reduce(0, +)
    #expect(transactions >= 1000)
    for connection in result.connections {
        #expect(connection.verdict.code == .none, "\(connection.name): \(connection.verdict.summary)")
        #expect(connection.findings.isEmpty, "\(connection.name): \(connection.findings.map(\.code))")
        #expect(connection.transactions.allSatisfy { $0.response?.complete == true && $0.response?.status == 200 })
    }
}

@Test func refusedConnectionNamesTheRSTFrame() throws {
    let result = try analyse(Paths.captures + "/nginx/refused.pcap")
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .tcpConnectRefused)
    #expect(connection.verdict.phase == .connect)
    #expect(connection.frames == 1...2)
    let evidence = try #require(connection.findings.first?.evidence.first)
    #expect(evidence.frame == 2)
    #expect(evidence.direction == .server)
    #expect(connection.facts.history == "Sr")
}

@Test func resetBeforeResponseNamesTheRSTFrameAndTheRequest() throws {
    let result = try analyse(Paths.captures + "/nginx/rst-before-response.pcap")
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .tcpRSTBeforeResponse)
    #expect(connection.verdict.phase == .responseHead)
    #expect(connection.findings.first?.evidence.first?.frame == 6)
    #expect(connection.facts.firstToReset == .server)
    #expect(connection.serverStreamBytes == 0)
    #expect(connection.clientStreamBytes > 0)
    #expect(connection.verdict.gateways["haproxy"]?.detail == "SH")
}

@Test func pcapAndPcapngOfTheSameTrafficGiveTheSameReport() throws {
    let pcap = try analyse(Paths.captures + "/nginx/healthy-keepalive.pcap")
    let pcapng = try analyse(Paths.captures + "/nginx/healthy-keepalive.pcapng")
    #expect(pcap.connections.count == pcapng.connections.count)
    for (a, b) in zip(pcap.connections, pcapng.connections) {
        #expect(a.client == b.client)
        #expect(a.facts.first.time == b.facts.first.time)
        #expect(a.facts.history == b.facts.history)
        #expect(a.serverStreamBytes == b.serverStreamBytes)
    }
    // Nanosecond timestamps survive: this capture was written with --time-stamp-precision=nano.
    #expect(pcap.statistics.firstTime!.nanoseconds % 1000 != 0)
}

@Test func keepAliveConnectionsCarryEveryByteWithoutGaps() throws {
    let result = try analyse(Paths.captures + "/nginx/healthy-keepalive.pcap")
    for connection in result.connections {
        #expect(connection.clientGapBytes == 0)
        #expect(connection.serverGapBytes == 0)
        #expect(connection.serverStreamBytes == connection.facts.server.payloadBytesOnWire)
        #expect(connection.facts.handshakeRTT != nil)
    }
}

@Test func upstreamOptionKeepsOnlyThatUpstream() throws {
    let options = AnalysisOptions(upstreams: [try #require(UpstreamSpec(parsing: "127.0.0.1:18083"))])
    let result = try analyse(Paths.captures + "/nginx/any-mixed.pcap", options: options)
    #expect(result.connections.map(\.server.description) == ["127.0.0.1:18083"])
    #expect(result.otherConnections == 2)
}
