import CaptureModel
import Foundation
import Reporting
import Testing
import TestSupport

/// Credentials in a failing response head are masked in every report format, and shown (with
/// the reports saying so) only with `--no-redact`.
struct RedactionTests {
    /// A response whose `Content-Length :` (space before the colon) fails, right after a
    /// `Set-Cookie` and an `X-Api-Key` whose values sit inside the evidence's context.
    static func capture() throws -> String {
        let request = Array("GET / HTTP/1.1\r\nHost: up\r\nAuthorization: Bearer t0ps3cr3t\r\n\r\n".utf8)
        let response = Array("HTTP/1.1 200 OK\r\nX-Api-Key: k3yk3y\r\nSet-Cookie: c00kie\r\nContent-Length : 0\r\n\r\n".utf8)
        let path = Paths.temporaryDirectory("redaction") + "/secrets.pcap"
        try PcapFileBuilder.oneExchange(request: request, response: response).write(to: path)
        return path
    }

    static let secrets = ["k3yk3y", "c00kie"]

    /// Every text a person or a script reads: the summary on stdout, report.json, .md, .html.
    static func outputs(_ arguments: [String]) throws -> [String: String] {
        let directory = Paths.temporaryDirectory("redaction-out") + "/out"
        let run = try Run(["analyze", try Self.capture(), "--out", directory] + arguments)
        #expect(run.status == 0, "\(run.stderr)")
        var texts = ["stdout": run.stdout]
        for name in ["report.json", "report.md", "report.html"] {
            texts[name] = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        }
        return texts
    }

    @Test func credentialsAreMaskedInEveryFormat() throws {
        let texts = try Self.outputs([])
        let json = try JSONValue(parsing: texts["report.json"]!)
        #expect(json["connections"].items.first?["verdict"]["code"].string == "http.header.name_ctl_or_space")
        #expect(json["generator"]["redacted"].bool == true)
        // The masked bytes are in the evidence context (hex in JSON), as `*`.
        let context = json["connections"].items.first?["evidence"].items.first?["context_hex"].string ?? ""
        #expect(context.contains(String(repeating: "2a", count: 6)), "\(context)")
        for (name, text) in texts {
            for secret in Self.secrets {
                #expect(!text.contains(secret), "\(secret) in \(name)")
                let hex = secret.utf8.map { String(format: "%02x", $0) }.joined()
                #expect(!text.contains(hex), "\(secret) as hex in \(name)")
            }
            #expect(!text.lowercased().contains("not redacted"), "\(name)")
        }
    }

    @Test func noRedactShowsThemAndEveryFormatSaysSo() throws {
        let texts = try Self.outputs(["--no-redact"])
        let json = try JSONValue(parsing: texts["report.json"]!)
        #expect(json["generator"]["redacted"].bool == false)
        let context = json["connections"].items.first?["evidence"].items.first?["context_hex"].string ?? ""
        #expect(context.contains("c00kie".utf8.map { String(format: "%02x", $0) }.joined()), "\(context)")
        #expect(texts["stdout"]!.contains("not redacted (--no-redact)"))
        #expect(texts["report.md"]!.contains("**Not redacted** (`--no-redact`)"))
        #expect(texts["report.html"]!.contains("Not redacted (--no-redact)"))
        #expect(texts["stdout"]!.contains("c00kie"))
    }
}
