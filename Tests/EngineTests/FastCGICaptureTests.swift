import CaptureModel
import Diagnosis
import Engine
import Foundation
import Testing
import TestSupport

/// `captures/fastcgi/`: Debian's nginx 1.22.1, Apache 2.4 and Caddy 2.6.2 in front of php8.2-fpm
/// and a scripted FastCGI server, both hops captured, the truth from the gateways' own logs.
/// `verdictsMatchWhatTheGatewayLogged` checks each FastCGI connection's code, class, evidence
/// frame and log text; these check what is particular to FastCGI: the evidence's stream offset
/// and offset in the FCGI_STDOUT or FCGI_STDERR content, and that every client 5xx is linked to
/// the FastCGI connection behind it.
private struct FastCGITruth: Decodable {
    struct Peer: Decodable {
        var client: String?
        var server: String
    }
    struct Expected: Decodable {
        var client: String?
        var server: String
        var verdict: String
        var evidence_frame: Int?
        var evidence_stream_offset: Int?
        var evidence_content_offset: Int?
        var evidence_record_type: String?
        var evidence_marker_hex: String?
        var stderr_text: String?
    }
    struct ClientError: Decodable {
        var client: String
        var status: Int
        var request_id: String?
        var generated_by: String
        var upstream_connection: Peer?
        var cause: String?
        var source: String
    }
    var capture: String
    var gateway: String
    var expected_connections: [Expected]
    var client_errors: [ClientError]?
    var gateway_kind: String
}

private func fastCGITruths() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: Paths.captures + "/fastcgi")) ?? []
    return names.filter { $0.hasSuffix(".truth.json") }.sorted()
}

private func truth(_ name: String) throws -> FastCGITruth {
    try JSONDecoder().decode(FastCGITruth.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/fastcgi/" + name)))
}

/// The options the golden tests use for the truth's gateway (its model and release).
private func options(_ name: String) throws -> AnalysisOptions {
    try JSONDecoder().decode(Truth.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/fastcgi/" + name))).options()
}

@Test func fastCGIFolderHoldsCapturesOfEachGateway() throws {
    let gateways = Set(try fastCGITruths().map { try truth($0).gateway_kind })
    #expect(gateways.isSuperset(of: ["nginx", "apache", "caddy"]))
}

/// Where the truth puts the evidence in the FastCGI content: exactly there for the application's
/// messages and nginx's buffer; for a bad header line the truth names the line and edgescope the
/// offending byte in it, at the same distance in the stream as in the content.
@Test(arguments: fastCGITruths())
func evidenceOffsetsMatchTheTruth(truthFile: String) throws {
    let truth = try truth(truthFile)
    let result = try analyse(Paths.captures + "/fastcgi/" + truth.capture, options: try options(truthFile))
    for expected in truth.expected_connections {
        guard let streamOffset = expected.evidence_stream_offset, let recordType = expected.evidence_record_type else { continue }
        let connection = try #require(result.connections.first {
            $0.server.description == expected.server && (expected.client == nil || $0.client.description == expected.client)
        })
        let evidence = try #require(connection.findings.first?.evidence.first)
        let at = "\(truth.capture) \(connection.name) \(expected.verdict)"
        #expect(connection.findings.first?.code.description == expected.verdict, "\(at)")
        #expect(evidence.frame.map(Int.init) == expected.evidence_frame, "\(at)")
        let delta = Int(evidence.streamOffset) - streamOffset
        let inContent = ["FCGI_STDOUT", "FCGI_STDERR"].contains(recordType)
            && !["fcgi.record.bad_version", "fcgi.record.truncated", "fcgi.record.unexpected"].contains(expected.verdict)
        guard inContent else {
            // A record's own fault: the truth names the record's start, edgescope the byte (the
            // version, the type, the request id, the protocolStatus of FCGI_END_REQUEST) in its
            // first 16 bytes.
            #expect(evidence.contentOffset == nil, "\(at)")
            #expect((0..<16).contains(delta), "\(at): stream offset \(evidence.streamOffset), the record's \(streamOffset)")
            if ["fcgi.record.bad_version", "fcgi.record.truncated"].contains(expected.verdict) { #expect(delta == 0, "\(at)") }
            continue
        }
        let contentOffset = try #require(evidence.contentOffset, "\(at): no content offset")
        #expect(Int(contentOffset) - (expected.evidence_content_offset ?? -1) == delta, "\(at): stream and content offsets move together")
        switch expected.verdict {
        case "http.header.name_ctl_or_space":
            // The truth's marker is the line up to its colon ("Content Type:"); the byte is the space.
            let marker = try #require(expected.evidence_marker_hex)
            let line = stride(from: 0, to: marker.count, by: 2).map { UInt8(marker.dropFirst($0).prefix(2), radix: 16)! }
            #expect(delta == line.firstIndex(of: 0x20), "\(at)")
        case "fcgi.status.invalid":
            // The truth's marker is "Status: "; the finding is its value, after it.
            #expect(delta == (expected.evidence_marker_hex?.count ?? 0) / 2, "\(at)")
        default:
            #expect(delta == 0, "\(at): stream offset \(evidence.streamOffset), the truth's \(streamOffset)")
        }
        if let text = expected.stderr_text {
            #expect(connection.verdict.stderr == text, "\(at)")
        }
    }
}

/// Every client 5xx links to the FastCGI connection the gateway's and php-fpm's logs name, with
/// the truth's cause, and is the gateway's own unless php-fpm logged the same status.
@Test(arguments: fastCGITruths())
func clientErrorsLinkToTheFastCGIConnection(truthFile: String) throws {
    let truth = try truth(truthFile)
    let errors = truth.client_errors ?? []
    guard !errors.isEmpty else { return }
    let result = try analyse(Paths.captures + "/fastcgi/" + truth.capture, options: try options(truthFile))
    let hop = try #require(result.clientHop, "\(truth.capture): no client hop")
    let byID = Dictionary(uniqueKeysWithValues: result.connections.map { ($0.id, $0) })
    for expected in errors {
        guard let error = hop.errors.first(where: { $0.client.description == expected.client }) else {
            Issue.record("\(truth.capture): no client error for \(expected.client) (\(expected.source))")
            continue
        }
        let at = "\(truth.capture) \(expected.client)"
        #expect(error.status == expected.status, "\(at)")
        #expect(error.requestID == expected.request_id, "\(at)")
        #expect(error.generatedBy.rawValue == expected.generated_by, "\(at)")
        #expect(error.cause?.description == expected.cause, "\(at)")
        if let upstream = expected.upstream_connection {
            let connection = error.upstreamConnection.flatMap { byID[$0] }
            #expect(connection?.server.description == upstream.server, "\(at)")
            #expect(upstream.client == nil || connection?.client.description == upstream.client, "\(at)")
        }
    }
}
