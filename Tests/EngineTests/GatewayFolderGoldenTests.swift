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
        guard FileManager.default.fileExists(atPath: Paths.captures + "/" + folder, isDirectory: &isDirectory), isDirectory.boolValue
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
        // The model's log text names the AH code of the line Apache wrote (lighttpd's lines
        // have no code to compare).
        guard let line = expected.gateway_log, let code = line.firstMatch(of: /AH[0-9]{5}/) else { continue }
        let detail = connection.verdict.gateways[kind]?.detail ?? ""
        #expect(detail.contains(code.output), "\(truthFile) \(connection.name): \(kind) logged \(line); the model says \(detail)")
    }
}
