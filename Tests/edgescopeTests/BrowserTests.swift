import Foundation
import Reporting
import Testing
import TestSupport

/// Headless Chromium, when installed (`scripts/install-test-deps` installs Debian's `chromium`).
private let chromium: String? = {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
    }
    return nil
}()

/// Several failure kinds in one capture: the real captures below merged by time, as mergecap
/// would (they are all classic pcap, Ethernet, microseconds): a bad pool member (header), a
/// refused connect, a cut body, bad chunked framing, a relayed 503 and an expired certificate.
private let mergedCaptures = [
    "nginx/pool-of-three.pcap", "nginx/refused.pcap", "nginx/tcp-fin-mid-body-cl.pcap", "nginx/http-chunked-bad-size.pcap", "nginx/http-upstream-5xx.pcap",
    "nginx/tls-cert-expired.pcap",
]

@Suite(.enabled(if: chromium != nil, "chromium is not installed: scripts/install-test-deps installs it"), .serialized)
struct BrowserTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs headless Chromium on `page` with its own profile and a net-log; kills it after 120 s.
    static func chromiumRun(_ arguments: [String], page: String, directory: String) throws -> (result: Result, netLog: String) {
        let netLog = directory + "/net-log-\(UUID().uuidString).json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium!)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            "--user-data-dir=\(directory)/profile-\(UUID().uuidString)", "--log-net-log=\(netLog)",
            "--enable-logging=stderr", "--v=0",
        ] + arguments + [URL(fileURLWithPath: page).absoluteString]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: deadline)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        deadline.cancel()
        let log = (try? String(contentsOfFile: netLog, encoding: .utf8)) ?? ""
        return (Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self)), log)
    }

    /// What the page asked the network for: requests in the net-log made on behalf of a
    /// `file://` page (Chromium's own background fetches have another isolation key), and
    /// loads its Content-Security-Policy blocked, from the console on stderr.
    static func requestsMade(netLog: String, stderr: String) throws -> [String] {
        let log = try #require(try JSONSerialization.jsonObject(with: Data(netLog.utf8)) as? [String: Any], "no net-log written")
        let constants = try #require(log["constants"] as? [String: Any])
        let types = try #require(constants["logEventTypes"] as? [String: Int])
        let start = try #require(types["URL_REQUEST_START_JOB"])
        var requests: [String] = []
        for event in log["events"] as? [[String: Any]] ?? [] where event["type"] as? Int == start {
            let params = event["params"] as? [String: Any] ?? [:]
            let key = (params["network_isolation_key"] as? String ?? "") + " " + (params["site_for_cookies"] as? String ?? "")
            if key.contains("file://") { requests.append(params["url"] as? String ?? "?") }
        }
        for line in stderr.split(separator: "\n") where line.contains("Content Security Policy") {
            requests.append("blocked: " + line)
        }
        return requests
    }

    /// The classic-pcap records of `names`, merged in time order into one file.
    static func merge(_ names: [String], into path: String) throws {
        var header: Data?
        var records: [(time: UInt64, order: Int, bytes: Data)] = []
        for name in names {
            let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + name))
            let head = data.prefix(24)
            #expect(Array(head.prefix(4)) == [0xd4, 0xc3, 0xb2, 0xa1], "\(name): not little-endian microsecond pcap")
            #expect(header == nil || Array(head.suffix(4)) == Array(header!.suffix(4)), "\(name): another link type")
            header = header ?? head
            var offset = 24
            func word(_ at: Int) -> UInt32 { data[data.startIndex + at..<data.startIndex + at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            while offset + 16 <= data.count {
                let length = Int(word(offset + 8))
                records.append((UInt64(word(offset)) * 1_000_000 + UInt64(word(offset + 4)), records.count, data.subdata(in: offset..<offset + 16 + length)))
                offset += 16 + length
            }
        }
        var out = try #require(header)
        for record in records.sorted(by: { ($0.time, $0.order) < ($1.time, $1.order) }) { out.append(record.bytes) }
        try out.write(to: URL(fileURLWithPath: path))
    }

    @Test func reportRendersInChromiumWithNoRequest() throws {
        let directory = Paths.temporaryDirectory("browser")
        let capture = directory + "/several-failures.pcap"
        try Self.merge(mergedCaptures, into: capture)
        let out = directory + "/out"
        let analysis = try Run([
            "analyze", capture, "--out", out, "--gateway", "nginx:1.22", "--ca-file", Paths.captures + "/tls/root.pem",
        ])
        #expect(analysis.status == 0, "\(analysis.stderr)")
        let report = try JSONValue(parsing: String(contentsOfFile: out + "/report.json", encoding: .utf8))
        let failing = report["connections"].items.filter { $0["verdict"]["class"].string != "ok" }
        let classes = Set(failing.compactMap { $0["verdict"]["class"].string })
        #expect(classes.isSuperset(of: ["502", "truncated", "relayed"]), "\(classes)")
        let page = out + "/report.html"

        // The DOM after the page's script ran.
        let (dump, netLog) = try Self.chromiumRun(["--dump-dom"], page: page, directory: directory)
        #expect(dump.status == 0)
        let dom = dump.stdout
        #expect(dom.contains("<table id=\"upstream-table\" class=\"upstreams\">"))
        #expect(dom.contains("<tr class=\"bad\" data-upstream=\"127.0.0.1:18091\""))
        #expect(dom.contains("<tr class=\"good\" data-upstream=\"127.0.0.1:18092\""))
        // A highlighted evidence byte with its frame: the space before the colon from pool-of-three.
        #expect(dom.range(of: #"<mark class="evidence-byte" title="frame [0-9]+">20</mark>"#, options: .regularExpression) != nil)
        // A section per failing connection, each with its ladder; one timeline.
        for connection in failing {
            let id = try #require(connection["id"].string)
            #expect(dom.contains("id=\"\(id)\" data-upstream=\""), "no section for \(id)")
        }
        #expect(dom.components(separatedBy: "<article class=\"conn").count - 1 == failing.count)
        // A ladder for each connection listed in full; an upstream's own 5xx is listed in short.
        let full = failing.filter { $0["compact"].bool != true }
        #expect(full.count < failing.count)
        #expect(dom.components(separatedBy: "<svg class=\"ladder\"").count - 1 == full.count)
        #expect(dom.components(separatedBy: "<svg class=\"timeline\"").count - 1 == 1)
        // The script ran under the policy (allowed by its hash): the filter is shown, counting the sections.
        #expect(dom.contains("<form id=\"filters\">"))
        #expect(dom.contains("<output id=\"filter-count\">\(failing.count) of \(failing.count) shown</output>"))
        #expect(dom.components(separatedBy: "<script").count - 1 == 1)

        let requests = try Self.requestsMade(netLog: netLog, stderr: dump.stderr)
        #expect(requests.isEmpty, "the page made requests: \(requests)")

        // A picture for a person: the top of the page and the first sections.
        let screenshot = out + "/report.png"
        let shot = try Self.chromiumRun(["--screenshot=\(screenshot)", "--window-size=1280,3200"], page: page, directory: directory)
        #expect(shot.result.status == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        #expect(png.count > 50_000)
        print("report.html screenshot: \(screenshot)")
    }

    /// The check above must fail when a request happens: the same page with an image from the
    /// network is caught by the net-log without the policy, and by the policy's console error with it.
    @Test func theRequestCheckCatchesAPageThatMakesOne() throws {
        let directory = Paths.temporaryDirectory("browser-control")
        let out = directory + "/out"
        #expect(try Run(["analyze", Paths.captures + "/nginx/pool-of-three.pcap", "--out", out]).status == 0)
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        let image = "<img src=\"http://127.0.0.1:9/edgescope-control.png\">"
        let withoutPolicy = html.replacingOccurrences(
            of: #"<meta http-equiv="Content-Security-Policy" content="[^"]*" />"#, with: "", options: .regularExpression
        ).replacingOccurrences(of: "<body>", with: "<body>" + image)
        #expect(!withoutPolicy.contains("Content-Security-Policy"))
        let withPolicy = html.replacingOccurrences(of: "<body>", with: "<body>" + image)
        for (name, text) in [("without-policy", withoutPolicy), ("with-policy", withPolicy)] {
            let page = directory + "/\(name).html"
            try text.write(toFile: page, atomically: true, encoding: .utf8)
            let (run, netLog) = try Self.chromiumRun(["--dump-dom"], page: page, directory: directory)
            #expect(run.status == 0)
            let requests = try Self.requestsMade(netLog: netLog, stderr: run.stderr)
            #expect(requests.contains { $0.contains("127.0.0.1:9/edgescope-control.png") }, "\(name): request not caught")
            if name == "with-policy" {
                #expect(requests.allSatisfy { $0.hasPrefix("blocked: ") }, "the policy let a request through: \(requests)")
            }
        }
    }
}
