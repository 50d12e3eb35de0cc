import CaptureModel
import Diagnosis
import Foundation
import Testing
import TestSupport

/// Bad options and odd inputs: one line on stderr and the documented status, warnings on stderr
/// once each, and the help that says what each status means.
struct OptionErrorTests {
    /// The classes as the enum lists them: a class added there is expected here with no edit.
    static let classList = "classes: " + VerdictClass.allCases.map(\.rawValue).joined(separator: ", ")

    @Test(arguments: ["bogus", "501", "5xx", "502,", ",", "502, bogus"])
    func failOnAnUnknownClassIsOneLineNamingTheClasses(value: String) throws {
        let names = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let bad = try #require(names.first { VerdictClass(rawValue: $0) == nil }, "every name in '\(value)' is a class now")
        let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--fail-on", value])
        #expect(run.status == 1)
        let what = bad.isEmpty ? "an empty class" : "'\(bad)' is not a class"
        #expect(run.errorLines == ["edgescope: --fail-on '\(value)': \(what); \(Self.classList)"])
        #expect(run.stdout.isEmpty)
    }

    @Test func failOnKnownClassesStillGates() throws {
        let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--fail-on", " 503 ,502", "--fail-on", "truncated"])
        #expect(run.status == 3)
        #expect(run.errorLines == ["edgescope: --fail-on: 1 connection(s) of class 502"])
    }

    @Test func aKeyLogThatIsADirectoryIsOneLineAndStatusTwo() throws {
        let directory = Paths.temporaryDirectory("keylog-dir")
        let analyze = try Run(["analyze", Paths.captures + "/nginx/tls-cert-bad-purpose.pcap", "--keylog", directory])
        #expect(analyze.status == 2)
        #expect(analyze.errorLines == ["edgescope: cannot read key log \(directory): it is a directory; give the SSLKEYLOGFILE file"])
        #expect(analyze.stdout.isEmpty)
        // capture reads the key log before it opens the interface or makes --out.
        let out = Paths.temporaryDirectory("keylog-dir-out") + "/out"
        let capture = try Run(["capture", "-i", "lo", "--out", out, "--duration", "1", "--keylog", directory])
        #expect(capture.status == 2)
        #expect(capture.errorLines == ["edgescope: cannot read key log \(directory): it is a directory; give the SSLKEYLOGFILE file"])
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// An empty key log and one whose secrets match no session both decrypt nothing: one warning,
    /// on stderr, in the `edgescope: warning:` style; stdout carries the summary only.
    @Test(arguments: ["", "CLIENT_RANDOM " + String(repeating: "ab", count: 32) + " " + String(repeating: "cd", count: 48) + "\n"])
    func aKeyLogThatDecryptsNothingWarnsOnceOnStderr(contents: String) throws {
        let keylog = Paths.temporaryDirectory("keylog") + "/keys.log"
        try contents.write(toFile: keylog, atomically: false, encoding: .utf8)
        let warning = "edgescope: warning: The key log holds no secrets for any of the 1 TLS session(s) in this capture; nothing was decrypted."
        for format in [[], ["--json"]] {
            let run = try Run(["analyze", Paths.captures + "/nginx/tls-cert-bad-purpose.pcap", "--keylog", keylog] + format)
            #expect(run.status == 0)
            #expect(run.errorLines == [warning], "\(format)")
            // Neither the text summary nor the JSON on stdout carries it as a warning line.
            #expect(!run.stdout.contains("warning: The key log"), "\(format)")
        }
        // The report keeps it among its warnings.
        let out = Paths.temporaryDirectory("keylog-out") + "/out"
        let run = try Run(["analyze", Paths.captures + "/nginx/tls-cert-bad-purpose.pcap", "--keylog", keylog, "--out", out])
        #expect(run.errorLines == [warning])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        #expect((report["warnings"] as? [String])?.contains { $0.hasPrefix("The key log holds no secrets") } == true)
    }

    @Test(arguments: ["nginx:99", "nginx:1.99", "nginx:1.022", "haproxy:2.10", "haproxy:9"])
    func anUnknownGatewayReleaseIsAUsageErrorListingTheKnownOnes(gateway: String) throws {
        let family = try #require(Gateways.named(String(gateway.prefix { $0 != ":" })))
        for command in [["analyze", Paths.captures + "/nginx/refused.pcap"], ["capture", "-i", "lo", "--out", Paths.temporaryDirectory("gw") + "/out"]] {
            let run = try Run(command + ["--gateway", gateway])
            #expect(run.status == 1)
            #expect(run.errorLines == [
                "edgescope: --gateway '\(gateway)' is not a release of \(family.name) edgescope knows; known: "
                    + family.releases.joined(separator: ", ") + " (or a point release of one), or \(family.name) alone for the newest behaviour",
            ])
        }
    }

    @Test func gatewayReleasesThatExistAreTakenAndNamedInTheReport() throws {
        for (gateway, named) in [("nginx:1.22.1", "nginx:1.22.1"), ("nginx:1.18", "nginx:1.18"), ("haproxy:2.6", "haproxy:2.6"), ("NGINX", "nginx")] {
            let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--gateway", gateway])
            #expect(run.status == 0, "\(gateway): \(run.stderr)")
            #expect(run.stdout.contains("gateway profile \(named)\n"), "\(gateway)")
        }
        // The releases the bundled captures were made with are known.
        #expect(NginxModel().isKnownRelease("1.22"))
        #expect(HAProxyModel().isKnownRelease("2.6"))
    }

    /// The known releases and the rules agree: every release a rule changed in can be asked for.
    @Test func everyReleaseARuleChangedInIsKnown() {
        for change in Gateways.changes {
            #expect(Gateways.named(change.family)?.isKnownRelease(change.since) == true, "\(change.family):\(change.since)")
            #expect((try? GatewayProfile(validating: "\(change.family):\(change.since)")) != nil)
        }
    }

    @Test(arguments: ["strict:1.0", "cloudflare:2024.1"])
    func aVersionOfAFamilyWithoutReleaseRulesIsAUsageError(gateway: String) throws {
        let family = String(gateway.prefix { $0 != ":" })
        let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--gateway", gateway])
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: --gateway '\(gateway)': edgescope knows no release differences for \(family); give \(family) without a version"])
    }

    @Test func anUnknownListValueIsOneLineNamingTheChoices() throws {
        let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--list", "bogus"])
        #expect(run.status == 1)
        #expect(run.errorLines == [
            "edgescope: The value 'bogus' is invalid for '--list <which>'. Please provide one of 'failed' and 'all'. (see 'edgescope analyze --help')",
        ])
    }

    @Test func anUnknownGatewayNamesTheFamilies() throws {
        let run = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--gateway", "squid"])
        #expect(run.status == 1)
        let families = Gateways.all.map(\.name)
        #expect(run.errorLines == [
            "edgescope: --gateway 'squid' is not a gateway edgescope models; give \(families.dropLast().joined(separator: ", ")) or \(families.last!), optionally with :VERSION",
        ])
    }

    @Test func noArgumentsIsUsageAndStatusOne() throws {
        let run = try Run([])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("USAGE: edgescope <subcommand>"))
        #expect(run.errorLines.last == "edgescope: give a command: analyze, capture, probe, report, codes or replay")
    }

    @Test(arguments: ["-1", "0", "inf", "nan", "-0.5"])
    func aDurationThatIsNotPositiveSaysSo(duration: String) throws {
        let out = Paths.temporaryDirectory("duration") + "/out"
        let run = try Run(["capture", "-i", "lo", "--out", out, "--duration", duration])
        #expect(run.status == 1)
        #expect(run.errorLines == ["edgescope: --duration must be a positive number of seconds (see 'edgescope capture --help')"])
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func negativeNumbersReachTheirOwnCheck() throws {
        let threads = try Run(["analyze", Paths.captures + "/nginx/refused.pcap", "--threads", "-1"])
        #expect(threads.status == 1)
        #expect(threads.errorLines == ["edgescope: --threads -1: give 1 to 64 threads"])
        let ring = try Run(["capture", "-i", "lo", "--out", Paths.temporaryDirectory("ring") + "/out", "--ring-mb", "-5"])
        #expect(ring.errorLines == ["edgescope: --ring-mb must be positive (see 'edgescope capture --help')"])
        let missing = try Run(["analyze"])
        #expect(missing.status == 1)
        #expect(missing.errorLines == ["edgescope: Missing expected argument '<capture>' (see 'edgescope analyze --help')"])
    }

    /// Every subcommand's help says what each exit status means (README, "Exit status").
    @Test(arguments: [
        ("analyze", "0 the capture was analysed, whatever it found", "3 a connection of a --fail-on class was found"),
        ("capture", "0 captured and reported", "3 is not used"),
        ("probe", "0 healthy: the handshake, the chain and (with --request) the response are as a gateway needs", "3 a problem was found"),
        ("report", "0 rendered", "3 is not used"),
    ])
    func helpHasAnExitStatusSection(command: String, success: String, problem: String) throws {
        let run = try Run([command, "--help"])
        #expect(run.status == 0)
        // The help is wrapped to the screen: compare it as one line.
        let text = run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("Exit status: \(success); 1 a usage error (an unknown option, a missing or bad value); 2 "), "\(command)")
        #expect(text.contains("; \(problem)"), "\(command)")
    }

    @Test func captureHelpNamesEveryFileItWrites() throws {
        let run = try Run(["capture", "--help"])
        let text = run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for file in ["DIR/incidents.jsonl", "DIR/slices/<id>.pcap", "DIR/report.json", "DIR/report.md", "DIR/report.html"] {
            #expect(text.contains(file), "\(file)")
        }
        #expect(text.contains("Write incidents.jsonl, slices/<id>.pcap, report.json, report.md and report.html into this directory."))
    }
}
