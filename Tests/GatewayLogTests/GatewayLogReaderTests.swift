import CaptureModel
import Foundation
import Testing
@testable import GatewayLog

/// The gateways' own logs beside the sample captures, read line by line.
struct GatewayLogReaderTests {
    static let captures: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path + "/captures"
    }()

    static let utc = LocalZone(parsing: "UTC")!

    /// Every record of `file` (relative to captures/), read whole.
    static func read(_ file: String, formats: [AccessLogFormat] = [], zone: LocalZone = utc) throws -> (GatewayLogReader, [GatewayLogRecord]) {
        let text = try String(contentsOfFile: self.captures + "/" + file, encoding: .utf8)
        var reader = GatewayLogReader(file: file, formats: formats, zone: zone)
        var records: [GatewayLogRecord] = []
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            if number == text.split(separator: "\n", omittingEmptySubsequences: false).count, line.isEmpty { break }
            records += reader.feed(line: String(line), number: number)
        }
        records += reader.finish()
        return (reader, records)
    }

    /// The layout captures/tools/run-scenario.py gives nginx.
    static let nginxFormat = AccessLogFormat(
        option: #"nginx:'$msec $status "$upstream_addr" "$upstream_status" "$upstream_connect_time" "$request" $remote_addr $remote_port'"#)!

    @Test func nginxErrorLogLinesNameTheUpstreamAndTheRequest() throws {
        let (reader, records) = try Self.read("nginx/any-mixed.nginx-error.log")
        #expect(reader.kind == .nginxError)
        #expect(records.count == 2)
        let refused = records[0]
        #expect(refused.line == 1)
        #expect(refused.time?.rfc3339 == "2026-11-22T01:11:36.000000000Z")
        #expect(refused.span == 1_000_000_000)
        #expect(refused.upstreams == [Endpoint(parsing: "127.0.0.1:18082")!])
        #expect(refused.method == "GET")
        #expect(refused.target == "/refused/2")
        #expect(refused.message == "connect() failed (111: Connection refused) while connecting to upstream")
        #expect(refused.field("connection") == "3")
        #expect(refused.field("host") == "127.0.0.1:18080")
        #expect(records[1].upstreams == [Endpoint(parsing: "127.0.0.1:18083")!])
    }

    @Test func theZoneGivenMovesALocalTime() throws {
        let (_, records) = try Self.read("nginx/any-mixed.nginx-error.log", zone: LocalZone(parsing: "+02:00")!)
        #expect(records[0].time?.rfc3339 == "2026-11-21T23:11:36.000000000Z")
    }

    @Test func nginxAccessLogInTheFormatGiven() throws {
        let (reader, records) = try Self.read("nginx/any-mixed.access.log", formats: [Self.nginxFormat])
        #expect(reader.kind == .nginxAccess)
        #expect(records.count == 4)
        let rst = records[3]
        #expect(rst.status == 502)
        #expect(rst.upstreamStatuses == [502])
        #expect(rst.upstreams == [Endpoint(parsing: "127.0.0.1:18083")!])
        #expect(rst.clientPort == 44464)
        #expect(rst.target == "/rst/4")
        #expect(rst.time?.rfc3339 == "2026-11-22T01:11:36.360000000Z")
        #expect(rst.field("upstream_connect_time") == "0.000")
    }

    @Test func anAccessLogInNoLayoutGivenIsUnread() throws {
        let (reader, records) = try Self.read("nginx/any-mixed.access.log")
        #expect(reader.kind == nil)
        #expect(records.isEmpty)
        #expect(reader.unreadCount == 4)
        #expect(reader.unread.first?.line == 1)
    }

    @Test func combinedIsReadWithoutAFormat() throws {
        var reader = GatewayLogReader(file: "access.log", formats: [], zone: Self.utc)
        let records = reader.feed(
            line: #"127.0.0.1 - - [06/Dec/2026:20:31:56 +0100] "GET /s/x/1 HTTP/1.1" 503 278 "-" "curl/7.88.1""#, number: 1)
        #expect(reader.kind == .combinedAccess)
        #expect(records.count == 1)
        #expect(records[0].time?.rfc3339 == "2026-12-06T19:31:56.000000000Z")
        #expect(records[0].status == 503)
        #expect(records[0].target == "/s/x/1")
        #expect(records[0].field("http_user_agent") == "curl/7.88.1")
    }

    @Test func anUnreadableLineAmongReadOnesIsCountedNotFatal() throws {
        var reader = GatewayLogReader(file: "error.log", formats: [], zone: Self.utc)
        let text = try String(contentsOfFile: Self.captures + "/nginx/any-mixed.nginx-error.log", encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        var records = reader.feed(line: lines[0], number: 1)
        records += reader.feed(line: "garbage \u{1}", number: 2)
        records += reader.feed(line: lines[1], number: 3)
        #expect(records.map(\.line) == [1, 3])
        #expect(reader.unreadCount == 1)
        #expect(reader.unread.first?.line == 2)
    }

    @Test func haproxyHttplogWithItsTLSErrors() throws {
        let (reader, records) = try Self.read("haproxy/tls-cert-expired.haproxy.log", zone: Self.utc)
        #expect(reader.kind == .haproxy)
        #expect(records.count == 4)
        let request = records[0]
        #expect(request.clientPort == 40086)
        #expect(request.status == 503)
        #expect(request.target == "/t/tls-cert-expired/1")
        #expect(request.time?.rfc3339 == "2026-11-22T02:00:55.800000000Z")
        #expect(request.field("termination_state") == "SC--")
        #expect(request.field("ssl_bc_err_str") == "error:0A000086:SSL routines::certificate verify failed")
        #expect(request.message?.contains("the server aborted or refused, connecting to the server") == true)
        // HAProxy's own events: records with no time, about no request.
        #expect(records[1].time == nil)
        #expect(!records[1].isAboutARequest)
    }

    @Test func apacheErrorLogNamesTheClientPortAndTheUpstream() throws {
        let (reader, records) = try Self.read("apache/fin-before-response.error.log")
        #expect(reader.kind == .apacheError)
        #expect(records.count == 2)
        #expect(records[0].clientPort == 55126)
        #expect(records[0].upstreams == [Endpoint(parsing: "127.0.0.1:28090")!])
        #expect(records[0].field("module") == "proxy_http:error")
        #expect(records[0].message == "AH01102: error reading status line from remote server 127.0.0.1:28090")
        #expect(records[0].time?.rfc3339 == "2026-12-06T20:04:19.635738000Z")
        #expect(records[1].target == "/s/fin-before-response/1")
    }

    @Test func apacheAccessLogInItsLogFormat() throws {
        let format = AccessLogFormat(option: #"apache:%{%s}t.%{usec_frac}t %>s \"%r\" %a %{remote}p %D %X"#)!
        let (reader, records) = try Self.read("apache/fin-before-response.access.log", formats: [format])
        #expect(reader.kind == .apacheAccess)
        #expect(records.count == 1)
        #expect(records[0].status == 502)
        #expect(records[0].clientPort == 55126)
        #expect(records[0].time?.rfc3339 == "2026-12-06T20:04:19.623833000Z")
        #expect(records[0].span == 12_123_000 + 1000)
    }

    @Test func caddyJSONLog() throws {
        let (reader, records) = try Self.read("caddy/fin-before-response.gateway.log")
        #expect(reader.kind == .caddy)
        let roundtrip = try #require(records.first { $0.field("msg") == "upstream roundtrip" })
        #expect(roundtrip.upstreams == [Endpoint(parsing: "127.0.0.1:38090")!])
        #expect(roundtrip.clientPort == 36428)
        #expect(roundtrip.target == "/s/fin-before-response/1")
        #expect(roundtrip.message == "EOF")
        let access = try #require(records.first { $0.field("logger") == "http.log.access" })
        #expect(access.status == 502)
        #expect(!records[0].isAboutARequest)
    }

    @Test func varnishlogGroupsAreOneRecordEach() throws {
        let (reader, records) = try Self.read("varnish/fin-before-response.gateway.log")
        #expect(reader.kind == .varnishlog)
        #expect(records.count == 2)
        let request = records[0]
        #expect(request.line == 1)
        #expect(request.clientPort == 40402)
        #expect(request.status == 503)
        let fetch = records[1]
        #expect(fetch.field("group") == "BeReq")
        #expect(fetch.upstreams == [Endpoint(parsing: "127.0.0.1:38090")!])
        #expect(fetch.gatewayPort == 38824)
        #expect(fetch.message == "HTC eof (-1)")
        #expect(fetch.time?.rfc3339 == "2026-12-06T20:31:56.935980000Z")
    }

    @Test(arguments: ["nginx", "nginx:", "apache:%{", "caddy:$x"])
    func aFormatOptionWithoutFieldsIsRefused(text: String) {
        #expect(AccessLogFormat(option: text) == nil)
    }

    @Test(arguments: ["UTC", "Z", "+02:00", "-0530"])
    func zonesAreRead(text: String) {
        #expect(LocalZone(parsing: text) != nil)
    }

    @Test(arguments: ["Mars/Olympus", "+25:00", "utc+1", ""])
    func badZonesAreRefused(text: String) {
        #expect(LocalZone(parsing: text) == nil)
    }

    /// Times and durations no clock gives (FuzzGatewayLog found a Caddy `ts` of 10^20 trapping
    /// its conversion): each such line is unread, counted, and the lines around it are read.
    @Test func timesAndDurationsOutOfRangeLeaveTheLineUnread() throws {
        let timed = AccessLogFormat(option: #"nginx:$msec $status "$request" $request_time"#)!
        var reader = GatewayLogReader(file: "access.log", formats: [timed], zone: Self.utc)
        let lines = [
            #"1796600000.000 200 "GET /a HTTP/1.1" 0.001"#,
            #"99999999999999.000 502 "GET /b HTTP/1.1" 0.001"#,
            #"1796600000.000 502 "GET /c HTTP/1.1" 1e300"#,
            #"1796600000.000 502 "GET /d HTTP/1.1" nan"#,
            #"1796600000.000 502 "GET /e HTTP/1.1" -1.0"#,
            #"1796600001.000 200 "GET /f HTTP/1.1" 0.002"#,
        ]
        let records = lines.enumerated().flatMap { reader.feed(line: $0.element, number: $0.offset + 1) } + reader.finish()
        #expect(records.map(\.line) == [1, 6])
        #expect(reader.unreadCount == 4)
        #expect(records.last?.time == Timestamp(seconds: 1_796_600_000, nanoseconds: 998_000_000))

        var caddy = GatewayLogReader(file: "caddy.log", formats: [], zone: Self.utc)
        let caddyLines = [
            #"{"level":"error","ts":1796600000.5,"logger":"http.log.error","msg":"dial tcp 127.0.0.1:9: connect: connection refused","duration":0.001}"#,
            #"{"level":"error","ts":1e20,"logger":"http.log.error","msg":"dial tcp 127.0.0.1:9: connect: connection refused","duration":0.001}"#,
            #"{"level":"error","ts":1796600000.5,"logger":"http.log.error","msg":"dial tcp 127.0.0.1:9: connect: connection refused","duration":1e300}"#,
        ]
        let caddyRecords = caddyLines.enumerated().flatMap { caddy.feed(line: $0.element, number: $0.offset + 1) } + caddy.finish()
        #expect(caddyRecords.map(\.line) == [1])
        #expect(caddy.unreadCount == 2)

        let combined = [#"127.0.0.1 - - [06/Dec/99999999999:23:38:28 +0000] "GET / HTTP/1.1" 502 5 "-" "curl""#]
        var combinedReader = GatewayLogReader(file: "access.log", formats: [], zone: Self.utc)
        #expect(combined.flatMap { combinedReader.feed(line: $0, number: 1) }.isEmpty)
    }
}

/// `GatewayLogReader.split`: an ASCII field split by its bytes as `split(maxSplits:whereSeparator:)`
/// splits it by its Characters (empty pieces left out), and any other by its Characters.
@Test(arguments: [
    "10.0.3.12:8080", "10.0.3.12:8080, 10.0.3.13:8080", " : 10.0.3.14:80", ",,a,,b,,", "", ",", "1717495200.206", ".5", "5.",
    "1..5", "..5", "1.2.3", "é,é", "a,é,b", "x\u{301},y", "500, 502 : 504",
])
func splitByBytesAsByCharacters(text: String) {
    let value = Substring(text)
    for separators in [",. :", "."] {
        for maxSplits in [1, 2, Int.max] {
            let bytes = GatewayLogReader.split(value, where: { separators.utf8.contains($0) }, maxSplits: maxSplits)
            let characters = value.split(maxSplits: maxSplits, omittingEmptySubsequences: true) { separators.contains($0) }
            #expect(bytes.map(String.init) == characters.map(String.init), "\(text) split at \(separators) \(maxSplits)")
        }
    }
}

/// A common-log time in no fixed shape is read by its parts; parts that split into nothing (seconds
/// of dots alone, found by `FuzzGatewayLog` in a HAProxy line) are no time, not a trap.
@Test(arguments: ["22/Nov/2026:01:17:..", "22/Nov/2026:01:17:.", "2/Nov/2026:01:17:59.149", "22/Nov/2026:1:17:59"])
func commonLogTimeByItsParts(text: String) throws {
    let utc = try #require(LocalZone(parsing: "UTC"))
    let read = GatewayLogReader.commonLogTime(Substring(text), zone: utc)
    if text.hasSuffix(".") {
        #expect(read == nil)
    } else {
        #expect(read?.0.rfc3339.hasPrefix("2026-11-") == true)
    }
}

/// Apache's error_log date with seconds of dots alone is no date, not a trap (the same split
/// into nothing as `commonLogTime`'s).
@Test func apacheErrorDateWithSecondsOfDotsIsNoDate() throws {
    let utc = try #require(LocalZone(parsing: "UTC"))
    let line = "[Sun Dec 06 20:04:.. 2026] [proxy_http:error] [pid 1:tid 2] AH01102: error reading status line from remote server"
    #expect(GatewayLogReader.apacheError(Substring(line), file: "error_log", number: 1, zone: utc) == nil)
    let good = line.replacingOccurrences(of: "20:04:..", with: "20:04:19.635738")
    #expect(GatewayLogReader.apacheError(Substring(good), file: "error_log", number: 1, zone: utc)?.time?.rfc3339 == "2026-12-06T20:04:19.635738000Z")
}
