import CaptureModel
import Foundation
import PcapSource
import Reporting
import Testing
import TestSupport

/// `analyze A B`: several capture files read as one, merged by timestamp. The files are
/// `nginx/client-hop-cut.pcap` cut in two by hop (captures/multi/README.md says how): the client
/// hop in a nanosecond pcap on Ethernet, the upstream hop in a microsecond pcapng of raw IP.
struct MultiCaptureCommandTests {
    static let whole = Paths.captures + "/nginx/client-hop-cut.pcap"
    static let clientSide = Paths.captures + "/multi/client-hop-cut.client-side.pcap"
    static let upstreamSide = Paths.captures + "/multi/client-hop-cut.upstream-side.pcapng"

    static func json(_ arguments: [String]) throws -> JSONValue {
        let run = try Run(["analyze"] + arguments + ["--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty)
        return try JSONValue(parsing: run.stdout)
    }

    /// What must not depend on how the packets were filed: each connection's verdict, each
    /// error a client saw and what explains it.
    static func verdicts(_ document: JSONValue) -> [String] {
        document["connections"].items.map { connection in
            [connection["id"], connection["client"], connection["server"], connection["verdict"]["code"], connection["verdict"]["class"]]
                .map { $0.text ?? "null" }.joined(separator: " ")
        }
    }

    static func clientErrors(_ document: JSONValue) -> [String] {
        document["client_errors"].items.map { error in
            ["client", "status", "request", "request_id", "generated_by", "failure", "upstream_connection", "upstream_server", "cause"]
                .map { error[$0].text ?? "null" }.joined(separator: " ")
        }
    }

    @Test(arguments: [false, true])
    func twoHopsInTwoFilesGiveTheVerdictsOfOneFile(upstreamFileFirst: Bool) throws {
        let whole = try Self.json([Self.whole])
        let files = upstreamFileFirst ? [Self.upstreamSide, Self.clientSide] : [Self.clientSide, Self.upstreamSide]
        let split = try Self.json(files)
        #expect(Self.verdicts(split) == Self.verdicts(whole))
        #expect(Self.clientErrors(split) == Self.clientErrors(whole))
        #expect(split["client_hop"].serialized() == whole["client_hop"].serialized())
        // nginx 1.22.1 logged three failures (client-hop-cut.truth.json): all three explained.
        #expect(Self.clientErrors(split).count == 3)
        #expect(split["client_hop"]["explained"].int == 3)
        #expect(split["source"]["packets"].int == 95)

        // Frames are numbered in their own file, and `file` says which (an index into source.files).
        let upstream = upstreamFileFirst ? 0 : 1
        let client = 1 - upstream
        let files_ = split["source"]["files"].items
        #expect(files_.map { $0["path"].string } == files)
        #expect(files_[upstream]["link_type"].string == "RAW")
        #expect(files_[upstream]["packets"].int == 47)
        #expect(files_[client]["link_type"].string == "EN10MB")
        #expect(files_[client]["packets"].int == 48)

        let byID = Dictionary(uniqueKeysWithValues: split["connections"].items.map { ($0["id"].string ?? "?", $0) })
        // c4: the upstream's FIN 10 of 100 bytes into the body, frame 17 of the upstream file
        // (`tshark -r client-hop-cut.upstream-side.pcapng -Y frame.number==17`: 27120 → 37686 [FIN, ACK]).
        let c4 = try #require(byID["c4"])
        #expect(c4["verdict"]["code"].string == "tcp.fin.mid_body")
        #expect(c4["file"].int == upstream)
        // Judged at frame 18, the gateway's FIN, closed both ways: frame 19, the last ACK, is late.
        #expect(c4["frames"].items.map(\.int) == [8, 18])
        #expect(c4["display_filter"].string?.hasSuffix("frame.number>=8 && frame.number<=18") == true)
        #expect(c4["evidence"].items.first?["frame"].int == 17)
        #expect(c4["evidence"].items.first?["file"].int == upstream)
        #expect(c4["tcp"]["server"]["fin_frame"].int == 17)
        // c8: `zz` where the chunk size belongs, byte 52 of frame 37 (66 in the Ethernet original:
        // the raw-IP file has no 14-byte Ethernet header).
        let c8 = try #require(byID["c8"])
        #expect(c8["verdict"]["code"].string == "http.chunked.bad_size")
        #expect(c8["evidence"].items.first?["frame"].int == 37)
        #expect(c8["evidence"].items.first?["frame_offset"].int == 52)
        #expect(c8["evidence"].items.first?["file"].int == upstream)
        #expect(c8["transactions"].items.first?["request"]["frame"].int == 33)
        // The cut bodies the clients got, in the client file's numbers.
        let errors = split["client_errors"].items
        #expect(errors.map { $0["file"].int } == [client, client, client])
        #expect(errors.map { $0["request_frame"].int } == [14, 24, 34])
        #expect(errors.map { $0["frame"].int } == [16, 26, nil])
    }

    @Test func oneFileHasNoFileMembers() throws {
        let text = try Run(["analyze", Self.whole, "--json"]).stdout
        #expect(!text.contains("\"file\""))
        #expect(!text.contains("\"files\""))
        let whole = try JSONValue(parsing: text)
        #expect(whole["connections"].items.first { $0["id"].string == "c4" }?["evidence"].items.first?["frame"].int == 32)
    }

    @Test func summaryAndReportsNameTheFileOfEachFrame() throws {
        let directory = Paths.temporaryDirectory("multi-out") + "/out"
        let run = try Run(["analyze", Self.clientSide, Self.upstreamSide, "--out", directory])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("edgescope: \(Self.clientSide), \(Self.upstreamSide) (EN10MB, 95 frames, "))
        #expect(run.stdout.contains("  c4 127.0.0.1:37686 → 127.0.0.1:27120  frames 8-18 of \(Self.upstreamSide)\n"))
        #expect(run.stdout.contains("    evidence: server frame 17 of \(Self.upstreamSide), stream offset 76: FIN with the body incomplete (10 of 100 bytes)\n"))
        #expect(run.stdout.contains("    evidence: server frame 37 +52 of \(Self.upstreamSide), stream offset 73: "))
        let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
        #expect(markdown.contains("Evidence: server frame 17 of \(Self.upstreamSide), stream offset 76"))
        #expect(markdown.contains("| c4 (\(Self.upstreamSide)) | "))
        let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(html.contains("<span class=\"frame\">frame 37</span> (byte 52 of the frame) of \(Self.upstreamSide)"))
        // report renders the saved JSON to the same pages.
        let again = try Run(["report", directory + "/report.json", "--format", "html"])
        #expect(Array(again.stdout.utf8) == Array(html.utf8))
    }

    /// The slices come from the files' own records: the same packets as the single file's
    /// slices, in the upstream file's link type.
    @Test func slicesHoldTheSamePacketsAsFromOneFile() throws {
        let split = Paths.temporaryDirectory("multi-slices") + "/out"
        let whole = Paths.temporaryDirectory("multi-slices-whole") + "/out"
        #expect(try Run(["analyze", Self.clientSide, Self.upstreamSide, "--out", split]).status == 0)
        #expect(try Run(["analyze", Self.whole, "--out", whole]).status == 0)
        for id in ["c4", "c6", "c8"] {
            func records(_ path: String) throws -> [(Int64, Int, Int)] {
                let reader = try PcapReader(path: path)
                var out: [(Int64, Int, Int)] = []
                try reader.forEachFrame { frame in out.append((frame.timestamp.nanoseconds, frame.wireLength, frame.bytes.count)) }
                return out
            }
            let fromSplit = try records(split + "/slices/\(id).pcap")
            let fromWhole = try records(whole + "/slices/\(id).pcap")
            #expect(try PcapReader(path: split + "/slices/\(id).pcap").linkType.description == "RAW")
            #expect(fromSplit.count == fromWhole.count && fromSplit.count >= 10, "\(id)")
            // The same packets without their 14-byte Ethernet header.
            #expect(fromSplit.map { $0.0 } == fromWhole.map { $0.0 }, "\(id)")
            #expect(fromSplit.map { $0.1 + 14 } == fromWhole.map { $0.1 }, "\(id)")
            #expect(fromSplit.map { $0.2 + 14 } == fromWhole.map { $0.2 }, "\(id)")
        }
    }

    @Test func anUnreadableCaptureAmongSeveralIsOneLineAndStatusTwo() throws {
        let missing = try Run(["analyze", Self.clientSide, "/nonexistent/upstream.pcap"])
        #expect(missing.status == 2)
        #expect(missing.errorLines == ["edgescope: cannot read capture /nonexistent/upstream.pcap: No such file or directory"])
        #expect(missing.stdout.isEmpty)

        let notACapture = Paths.temporaryDirectory("multi-bad") + "/notes.txt"
        try Data("GET / HTTP/1.1\r\n\r\n".utf8).write(to: URL(fileURLWithPath: notACapture))
        let bad = try Run(["analyze", Self.clientSide, notACapture, Self.upstreamSide])
        #expect(bad.status == 2)
        #expect(bad.errorLines == ["edgescope: cannot read capture \(notACapture): not a pcap or pcapng capture (unknown file format)"])

        let twice = try Run(["analyze", "-", Self.clientSide, "-"])
        #expect(twice.status == 1)
        #expect(twice.errorLines == ["edgescope: standard input (-) is named more than once"])
    }

    /// A file cut inside a record: read up to the cut, the other files whole, and said so.
    @Test func aCaptureCutShortAmongSeveralIsReportedForWhatWasRead() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.clientSide))
        let cut = Paths.temporaryDirectory("multi-cut") + "/client-side-cut.pcap"
        try bytes.prefix(bytes.count - 20).write(to: URL(fileURLWithPath: cut))
        let run = try Run(["analyze", cut, Self.upstreamSide, "--json"])
        #expect(run.status == 0)
        #expect(run.errorLines.count == 1)
        #expect(run.errorLines.first?.hasPrefix("edgescope: warning: \(cut): stopped after frame 47: ") == true)
        #expect(run.errorLines.first?.hasSuffix("; the capture is cut short; reporting its frames 1-47") == true)
        let document = try JSONValue(parsing: run.stdout)
        #expect(document["source"]["complete"].bool == false)
        #expect(document["source"]["files"].items.map { $0["complete"].bool } == [false, true])
        #expect(document["source"]["files"].items.map { $0["packets"].int } == [47, 47])
        #expect(document["warnings"].items.contains { $0.string?.hasPrefix("The capture \(cut) is cut short: ") == true })
        // The upstream hop is whole: its three failures are all there.
        #expect(document["connections"].items.filter { $0["verdict"]["class"].string == "truncated" }.count == 3)
    }

    /// `dns/nginx-nxdomain.pcap` cut in two, its DNS in the second file (captures/multi/README.md):
    /// the DNS frames a client error and the `dns` section name are numbered in that file, with
    /// the file beside them. (The NXDOMAIN answers are frames 7 and 8 of the DNS file, `tshark -r`.)
    @Test func dnsFramesAreNumberedInTheirOwnFile() throws {
        let document = try Self.json([
            Paths.captures + "/multi/dns-nxdomain.http-side.pcap", Paths.captures + "/multi/dns-nxdomain.dns-side.pcap",
        ])
        let error = try #require(document["client_errors"].items.first { $0["cause"].string == "dns.nxdomain" })
        #expect(error["request"].string == "GET /nx/1")
        #expect(error["dns_frame"].int == 8)
        #expect(error["dns_file"].int == 1)
        #expect(error["file"].int == 0)
        let finding = try #require(document["dns"]["findings"].items.first)
        #expect(finding["code"].string == "dns.nxdomain")
        #expect(finding["frames"].items.map(\.int) == [7, 8])
        #expect(finding["files"].items.map(\.int) == [1, 1])
        #expect(finding["file"].int == 1)
        let history = document["dns"]["names"].items.flatMap { $0["history"].items }
        #expect(history.map { $0["frame"].int ?? -1 } == [3, 4, 7, 8])
        #expect(history.allSatisfy { $0["file"].int == 1 && $0["query_file"].int == 1 })
        // One file: no file members, frames as they were.
        let whole = try Self.json([Paths.captures + "/dns/nginx-nxdomain.pcap"])
        let wholeError = try #require(whole["client_errors"].items.first { $0["cause"].string == "dns.nxdomain" })
        #expect(wholeError["dns_frame"].int == 33)
        #expect(wholeError["dns_file"].isNull)
        #expect(whole["dns"]["findings"].items.first?["files"].isNull == true)
    }

    /// The same two files with `--out`: report.md and report.html name the file of each DNS frame
    /// they show, as the JSON does, since frame 8 alone would point into the wrong file.
    @Test func thePagesNameTheFileOfEachDNSFrame() throws {
        let directory = Paths.temporaryDirectory("multi-dns-pages") + "/out"
        let dnsSide = Paths.captures + "/multi/dns-nxdomain.dns-side.pcap"
        let run = try Run(["analyze", Paths.captures + "/multi/dns-nxdomain.http-side.pcap", dnsSide, "--out", directory])
        #expect(run.status == 0, "\(run.stderr)")
        let markdown = try String(contentsOfFile: directory + "/report.md", encoding: .utf8)
        #expect(markdown.contains("none: `nx.internal` did not resolve (DNS frame 8 of \(dnsSide)) | `dns.nxdomain` |"))
        #expect(markdown.contains("| `nx.internal` | AAAA | NXDOMAIN |  |  | 8 of \(dnsSide) |"))
        let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(html.contains("none: <code>nx.internal</code> did not resolve (DNS frame 8 of \(dnsSide))"))
        #expect(html.contains("<td>8 of \(dnsSide)</td>"))
    }
}
