import Foundation
import Testing
import TestSupport

/// Issue 14 item 5: the Caddy 2.6 and Varnish 7.1 captures (`captures/caddy/`, `captures/varnish/`)
/// carry ground truth taken from the gateway's own log, the scripted upstream's log and curl's
/// result, never from edgescope (`captures/tools/build-truth.py`). Until the gateways' models exist this
/// checks the truth itself: every file parses, belongs to its folder's gateway, and names a capture
/// and a gateway log that are there; edgescope's verdicts are not asserted.
struct GatewayCaptureTruthCaddyTests {
    /// The fields of a folder capture's truth that a gateway model is checked against.
    struct FolderTruth: Decodable {
        struct Expected: Decodable {
            var client: String?
            var server: String
            var verdict: String
            var source: String
            var `class`: String?
            var client_status: Int?
            var gateway_log: String?
        }
        /// A request the gateway answered without connecting to the upstream (Varnish's hold-down).
        struct WithoutConnection: Decodable {
            var request: String
            var client_status: Int?
            var `class`: String
            var gateway_log: String?
            var source: String
        }
        var capture: String
        var gateway: String
        var gateway_kind: String
        var gateway_log_file: String
        var scenario: String
        var link_type: String
        var expected_connections: [Expected]
        var requests_without_connection: [WithoutConnection]
    }

    /// Each folder and the version string its gateway reports (`caddy version`, `varnishd -V`).
    static let folders = ["caddy": "Caddy 2.6.", "varnish": "Varnish 7.1."]
    static let classes: Set<String> = ["500", "502", "503", "504", "truncated", "ok", "relayed"]

    /// `folder/NAME.truth.json` for every truth file of both folders.
    static func truthFiles() -> [String] {
        self.folders.keys.sorted().flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: Paths.captures + "/" + folder)) ?? [])
                .filter { $0.hasSuffix(".truth.json") }.sorted().map { folder + "/" + $0 }
        }
    }

    /// About twenty scenarios per gateway (issue 14 item 5), and the table the models are written from.
    @Test(arguments: ["caddy", "varnish"])
    func everyFolderHoldsItsCapturesAndTable(folder: String) throws {
        let truths = Self.truthFiles().filter { $0.hasPrefix(folder + "/") }
        #expect(truths.count >= 20, "captures/\(folder) has \(truths.count) truth files")
        #expect(FileManager.default.fileExists(atPath: Paths.captures + "/\(folder)/README.md"))
    }

    @Test(arguments: truthFiles())
    func truthParsesAndNamesItsCapture(truthFile: String) throws {
        let folder = String(truthFile.split(separator: "/")[0])
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
        let truth = try JSONDecoder().decode(FolderTruth.self, from: data)
        let name = String(truthFile.split(separator: "/")[1].dropLast(".truth.json".count))

        #expect(truth.gateway_kind == folder)
        #expect(truth.gateway.hasPrefix(Self.folders[folder] ?? "?"), "\(truthFile): gateway \(truth.gateway)")
        #expect(truth.scenario == name)
        #expect(truth.capture == name + ".pcap")
        // Loopback (EN10MB), or the TUN device of a network-namespace scenario (RAW).
        #expect(["EN10MB", "RAW"].contains(truth.link_type), "\(truthFile): \(truth.link_type)")
        #expect(truth.gateway_log_file == name + ".gateway.log")
        #expect(FileManager.default.fileExists(atPath: Paths.captures + "/\(folder)/\(truth.gateway_log_file)"))

        // The capture is there and is a classic pcap file (tcpdump -w).
        let pcap = try #require(FileHandle(forReadingAtPath: Paths.captures + "/\(folder)/\(truth.capture)"),
                                "\(truthFile) names \(truth.capture), which is missing")
        let magic = [UInt8](pcap.readData(ofLength: 4))
        try pcap.close()
        #expect(magic == [0xD4, 0xC3, 0xB2, 0xA1], "\(truth.capture) is not a little-endian microsecond pcap")

        #expect(!truth.expected_connections.isEmpty)
        for expected in truth.expected_connections {
            #expect(!expected.verdict.isEmpty && !expected.source.isEmpty)
            #expect(Self.classes.contains(expected.class ?? ""), "\(truthFile): class \(expected.class ?? "nil")")
            // A class that names a status is the status the client got.
            if let status = Int(expected.class ?? "") {
                #expect(expected.client_status == status, "\(truthFile): \(expected.client)")
                #expect(expected.gateway_log != nil, "\(truthFile): a \(status) the gateway made has its log text")
            }
        }
        for request in truth.requests_without_connection {
            #expect(Self.classes.contains(request.class))
            #expect(request.gateway_log != nil && !request.source.isEmpty)
        }
    }
}
