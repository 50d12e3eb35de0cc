import CaptureModel
import Diagnosis
import Engine
import Foundation
import Testing
import TestSupport

/// The captures of each gateway folder (`captures/apache/`, `captures/caddy/`, `captures/lighttpd/`,
/// `captures/varnish/`, any whose truths name a `gateway_kind`), analysed with that gateway's model: every expected
/// connection's verdict code, class and evidence frame must be what the gateway's own logs say,
/// as `verdictsMatchWhatNginxLogged` asserts for the top-level captures.
func gatewayFolderGoldenFiles() -> [String] {
    let folders = ((try? FileManager.default.contentsOfDirectory(atPath: Paths.captures)) ?? []).sorted()
    return folders.flatMap { folder -> [String] in
        var isDirectory: ObjCBool = false
        // nginx/ and haproxy/ (and no-gateway/) are judged by `verdictsMatchWhatNginxLogged`.
        guard !Paths.sampleCaptureFolders.contains(folder),
              FileManager.default.fileExists(atPath: Paths.captures + "/" + folder, isDirectory: &isDirectory), isDirectory.boolValue
        else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Paths.captures + "/" + folder)) ?? []
        return names.filter { $0.hasSuffix(".truth.json") }.sorted().map { folder + "/" + $0 }.filter { path in
            let data = try? Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + path))
            return data.flatMap { try? JSONDecoder().decode(Truth.self, from: $0) }?.gateway_kind != nil
        }
    }
}

@Test func gatewayFoldersHoldGoldenCaptures() {
    let folders = Set(gatewayFolderGoldenFiles().map { $0.split(separator: "/")[0] })
    #expect(folders.isSuperset(of: ["apache", "lighttpd", "caddy", "varnish"]))
}

@Test(arguments: gatewayFolderGoldenFiles())
func verdictsMatchWhatTheGatewayLogged(truthFile: String) throws {
    let folder = String(truthFile.split(separator: "/")[0])
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    let kind = try #require(truth.gateway_kind)
    // The truth's gateway names a release its model knows (`Apache/2.4.71` → `apache:2.4`).
    #expect(truth.profile.model.name == kind, "\(truthFile): no model for \(truth.gateway)")
    #expect(truth.profile.version != nil, "\(truthFile): \(truth.gateway) is no release the \(kind) model knows")
    let result = try analyse(Paths.captures + "/" + folder + "/" + truth.capture, options: try truth.options())

    #expect(result.linkType.description == truth.link_type)
    #expect(result.connections.count == truth.expected_connections.count)
    #expect(result.warnings.isEmpty)

    for (expected, connection) in expectVerdicts(of: result, match: truth) {
        let detail = connection.verdict.gateways[kind]?.detail ?? ""
        guard let line = expected.gateway_log, !detail.isEmpty else { continue }
        // The model's log text names the AH code of the line Apache wrote.
        if let code = line.firstMatch(of: /AH[0-9]{5}/) {
            #expect(detail.contains(code.output), "\(truthFile) \(connection.name): \(kind) logged \(line); the model says \(detail)")
        }
        // And the model's text is the gateway's, word for word, `…` standing for what varies
        // (an address, a port, a time).
        #expect(Truth.logMatches(line, modelText: detail), "\(truthFile) \(connection.name): \(kind) logged \(line); the model says \(detail)")
    }
}

extension Truth {
    /// Whether `line`, a gateway's log text, holds `modelText` with each `…` standing for any run
    /// of characters (the model cannot know the run's addresses, ports and times).
    static func logMatches(_ line: String, modelText: String) -> Bool {
        let pieces = modelText.components(separatedBy: "…")
        var rest = line[...]
        // Each piece in order; the first may start anywhere (after a log prefix).
        for piece in pieces where !piece.isEmpty {
            guard let range = rest.range(of: piece) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }
}
