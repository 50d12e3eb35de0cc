import Foundation
import Testing
import TestSupport

/// Ground truth of the captures made behind Apache httpd and lighttpd (issue 14), one folder per
/// gateway (`captures/apache/`, `captures/lighttpd/`), written by `captures/tools/build-truth.py --kind`
/// from the gateway's own error and access logs, the upstream script's log and curl's result.
/// These tests check that the files are whole and name their captures; what edgescope says about
/// each capture is asserted by the gateway models' tests.
struct GatewayFolderTruth: Decodable {
    struct Expected: Decodable {
        var client: String?
        var server: String
        var verdict: String
        var finding: String
        var source: String
        /// What curl got (`null`: no status).
        var client_status: Int?
        /// `500`, `502`, `503`, `504`, `truncated`, `relayed`, `ok`, or `unknown`.
        var `class`: String?
        /// The gateway's decisive error-log line (`null`: it logged nothing about the request).
        var gateway_log: String?
        var evidence_frame: Int?
    }
    var capture: String
    var gateway: String
    var gateway_kind: String
    var link_type: String
    var scenario: String
    var expected_connections: [Expected]
}

/// The gateway folders and the version string each gateway's truth must name.
let gatewayFolders: [(folder: String, versionPrefix: String)] = [
    ("apache", "Apache/2.4."),
    ("lighttpd", "lighttpd/1.4."),
]

func gatewayTruthFiles() -> [String] {
    gatewayFolders.flatMap { entry -> [String] in
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Paths.captures + "/" + entry.folder)) ?? []
        return names.filter { $0.hasSuffix(".truth.json") }.sorted().map { entry.folder + "/" + $0 }
    }
}

@Test(arguments: gatewayFolders.map(\.folder))
func everyGatewayFolderHasItsCaptures(folder: String) {
    let files = gatewayTruthFiles().filter { $0.hasPrefix(folder + "/") }
    #expect(files.count >= 20, "captures/\(folder) has \(files.count) truth files")
}

@Test(arguments: gatewayTruthFiles())
func gatewayTruthNamesAnExistingCapture(truthFile: String) throws {
    let folder = String(truthFile.split(separator: "/")[0])
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
    let truth = try JSONDecoder().decode(GatewayFolderTruth.self, from: data)
    let base = String(truthFile.split(separator: "/")[1].dropLast(".truth.json".count))

    #expect(truth.gateway_kind == folder)
    #expect(truth.scenario == base)
    #expect(truth.capture == base + ".pcap")
    let prefix = gatewayFolders.first { $0.folder == folder }?.versionPrefix ?? "?"
    #expect(truth.gateway.hasPrefix(prefix), "\(truthFile): gateway \(truth.gateway)")

    // The capture exists beside its truth and is a classic pcap file (either byte order,
    // micro- or nanosecond timestamps).
    let pcap = Paths.captures + "/" + folder + "/" + truth.capture
    let handle = try #require(FileHandle(forReadingAtPath: pcap), "\(pcap) is missing")
    defer { try? handle.close() }
    let magic = [UInt8](handle.readData(ofLength: 4))
    let magics: [[UInt8]] = [[0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4], [0x4d, 0x3c, 0xb2, 0xa1], [0xa1, 0xb2, 0x3c, 0x4d]]
    #expect(magics.contains(magic), "\(pcap): not a pcap file")

    // The logs the truth was read from are beside it.
    for ext in ["error.log", "access.log", "upstream.log", "client.log"] {
        #expect(FileManager.default.fileExists(atPath: Paths.captures + "/" + folder + "/" + base + "." + ext),
                "\(folder)/\(base).\(ext) is missing")
    }

    #expect(!truth.expected_connections.isEmpty)
    let classes: Set<String> = ["500", "502", "503", "504", "truncated", "relayed", "ok", "unknown"]
    for expected in truth.expected_connections {
        if let cls = expected.class {
            #expect(classes.contains(cls), "\(truthFile): class \(cls)")
        }
        // A connection with a designed fault points at the frame that shows it.
        if expected.finding != "none" {
            #expect(expected.evidence_frame != nil, "\(truthFile): \(expected.server) has no evidence frame")
        }
    }
}
