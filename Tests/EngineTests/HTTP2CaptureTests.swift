import CaptureModel
import Diagnosis
import Engine
import Foundation
import Testing
import TestSupport

/// The captures of `captures/http2/` (nginx 1.22.1 grpc_pass and grpcs, HAProxy 2.6.12 proto h2,
/// in front of frame-scripted upstreams and a grpcio server): beyond what
/// `verdictsMatchWhatTheGatewayLogged` checks (code, class, frame, the gateway's log line), every
/// expected connection's evidence names the HTTP/2 stream and stream offset the truth gives, and
/// its streams are the transactions, with the requests the upstream logged.
private struct H2Truth: Decodable {
    struct Stream: Decodable {
        var stream_id: Int
        var request: String?
        var finding: String?
    }
    struct Expected: Decodable {
        var client: String?
        var server: String
        var verdict: String
        var stream_id: Int?
        var evidence_frame: Int?
        var evidence_stream_offset: Int?
        var streams: [Stream]?
    }
    var capture: String
    var expected_connections: [Expected]
}

private func http2TruthFiles() -> [String] {
    let folder = Paths.captures + "/http2"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return names.filter { $0.hasSuffix(".truth.json") }.sorted()
}

@Test func http2FolderHoldsEveryCode() throws {
    var verdicts: Set<String> = []
    for file in http2TruthFiles() {
        let truth = try JSONDecoder().decode(H2Truth.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/http2/" + file)))
        verdicts.formUnion(truth.expected_connections.map(\.verdict))
    }
    // The codes a real gateway showed here (the others are covered by built frame streams in HTTP2Tests).
    for code in ["none", "h2.rst_stream.before_response", "h2.goaway", "h2.hpack.bad_index", "h2.status.missing", "h2.status.duplicate",
                 "h2.status.invalid", "h2.header.request_pseudo", "h2.header.uppercase", "h2.content_length.mismatch",
                 "h2.settings.bad_stream", "h2.preface.bad", "proto.h1_response_to_h2", "tls.alpn.no_h2", "grpc.status.unavailable"] {
        #expect(verdicts.contains(code), "no capture in captures/http2 for \(code)")
    }
}

@Test(arguments: http2TruthFiles())
func http2EvidenceNamesTheStream(truthFile: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/http2/" + truthFile))
    let truth = try JSONDecoder().decode(H2Truth.self, from: data)
    let full = try JSONDecoder().decode(Truth.self, from: data)
    let result = try analyse(Paths.captures + "/http2/" + truth.capture, options: try full.options())
    for expected in truth.expected_connections {
        let connection = try #require(result.connections.first {
            $0.server.description == expected.server && (expected.client == nil || $0.client.description == expected.client)
        }, "\(truth.capture): no connection \(expected.client ?? "?") → \(expected.server)")
        #expect(connection.verdict.code.description == expected.verdict, "\(truth.capture) \(connection.name)")
        guard expected.verdict != "none" else { continue }
        let evidence = try #require(connection.findings.first?.evidence.first)
        if let frame = expected.evidence_frame {
            #expect(evidence.frame.map(Int.init) == frame, "\(truth.capture) \(connection.name): frame")
        }
        if let offset = expected.evidence_stream_offset {
            #expect(evidence.streamOffset == UInt64(offset), "\(truth.capture) \(connection.name): stream offset")
        }
        // Frames of the whole connection (SETTINGS of the preface, a GOAWAY) name the first stream they ended.
        if let stream = expected.stream_id, expected.verdict.hasPrefix("h2.") || expected.verdict.hasPrefix("grpc.") {
            if expected.verdict != "h2.preface.bad" {
                #expect(evidence.streamID.map(Int.init) == stream, "\(truth.capture) \(connection.name): stream id")
            }
        }
        // Each stream the upstream logged is a transaction with its request.
        for stream in expected.streams ?? [] {
            let transaction = connection.transactions.first { $0.streamID.map(Int.init) == stream.stream_id }
            #expect(transaction != nil, "\(truth.capture) \(connection.name): no transaction for stream \(stream.stream_id)")
            if let request = stream.request, let transaction {
                let said = (transaction.request?.method ?? "") + " " + (transaction.request?.target ?? "")
                #expect(said == request, "\(truth.capture) \(connection.name): stream \(stream.stream_id)")
            }
        }
    }
}
