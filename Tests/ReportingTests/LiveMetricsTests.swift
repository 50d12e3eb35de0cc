import CaptureModel
import Engine
import Foundation
import PacketDecoding
import Reporting
import TCPReassembly
import Testing
import TestSupport

private func smallMetrics() -> LiveMetrics {
    var metrics = LiveMetrics(
        interface: "eth0", filter: "tcp and (host 10.0.3.24 and port 8080)", version: "0.4.0",
        startTime: Timestamp(seconds: 1_776_075_462, nanoseconds: 500_000_000))
    metrics.lastUpdate = Timestamp(seconds: 1_776_075_472, nanoseconds: 250_000_000)
    metrics.packetsReceived = 1234
    metrics.liveConnections = 3
    metrics.kernelDrops = 2
    let refused = Verdict(code: .tcpConnectRefused, verdictClass: .badGateway, phase: .connect, summary: "")
    let reset = Verdict(code: .tcpRSTBeforeResponse, verdictClass: .badGateway, phase: .request, summary: "")
    metrics.recordConnection(upstream: "10.0.3.24:8080", verdict: .healthy)
    metrics.recordConnection(upstream: "10.0.3.24:8080", verdict: refused)
    metrics.recordConnection(upstream: "10.0.3.24:8080", verdict: refused)
    metrics.recordConnection(upstream: "10.0.3.25:8080", verdict: reset)
    metrics.recordConnection(upstream: "[2001:db8::24]:8080", verdict: .healthy)
    metrics.recordLimitHit(.limitFlowTable, count: 2)
    metrics.recordLimitHit(.limitReassemblyBuffer)
    return metrics
}

/// A Python with prometheus_client, whose parser judges our text; `nil` when there is none.
private let parserPython: [String]? = {
    for command in [["/usr/bin/python3"], ["/usr/local/bin/python3"], ["/usr/bin/env", "python3"]] {
        if (try? runProcess(command + ["-c", "import prometheus_client.parser"]))?.status == 0 {
            return command
        }
    }
    return nil
}()

private func runProcess(_ command: [String]) throws -> (status: Int32, stdout: Data, stderr: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, stdout, stderr)
}

/// One family as prometheus_client's parser understood it.
private struct ParsedFamily: Decodable, Equatable {
    var name: String
    var type: String
    var help: String
    var samples: [ParsedSample]
}

private struct ParsedSample: Decodable, Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`.
private func parse(_ text: String, with python: [String]) throws -> [ParsedFamily] {
    let path = Paths.temporaryDirectory("metrics") + "/metrics.prom"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        text = open(sys.argv[1], encoding="utf-8").read()
        families = [
            {"name": f.name, "type": f.type, "help": f.documentation,
             "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
            for f in text_string_to_metric_families(text)
        ]
        json.dump(families, sys.stdout)
        """
    let run = try runProcess(python + ["-c", script, path])
    guard run.status == 0 else {
        Issue.record("the parser rejected the text: \(String(decoding: run.stderr, as: UTF8.self))")
        return []
    }
    return try JSONDecoder().decode([ParsedFamily].self, from: run.stdout)
}

@Suite struct LiveMetricsTests {
    @Test func aSmallCaptureGivesExactlyThisText() {
        #expect(smallMetrics().exposition() == #"""
            # HELP edgescope_capture_info The live capture: interface, BPF filter and edgescope version; always 1.
            # TYPE edgescope_capture_info gauge
            edgescope_capture_info{interface="eth0",filter="tcp and (host 10.0.3.24 and port 8080)",version="0.4.0"} 1
            # HELP edgescope_connections_judged_total Upstream connections judged.
            # TYPE edgescope_connections_judged_total counter
            edgescope_connections_judged_total 5
            # HELP edgescope_connections_total Upstream connections judged, by upstream server.
            # TYPE edgescope_connections_total counter
            edgescope_connections_total{upstream="10.0.3.24:8080"} 3
            edgescope_connections_total{upstream="10.0.3.25:8080"} 1
            edgescope_connections_total{upstream="[2001:db8::24]:8080"} 1
            # HELP edgescope_failures_total Failing upstream connections (incidents), by upstream server, root-cause code and class.
            # TYPE edgescope_failures_total counter
            edgescope_failures_total{upstream="10.0.3.24:8080",code="tcp.connect.refused",class="502"} 2
            edgescope_failures_total{upstream="10.0.3.25:8080",code="tcp.rst.before_response",class="502"} 1
            # HELP edgescope_interface_drops_total Packets the interface or its driver dropped (pcap_stats ps_ifdrop).
            # TYPE edgescope_interface_drops_total counter
            edgescope_interface_drops_total 0
            # HELP edgescope_kernel_drops_total Packets the kernel dropped for lack of capture buffer space (pcap_stats ps_drop).
            # TYPE edgescope_kernel_drops_total counter
            edgescope_kernel_drops_total 2
            # HELP edgescope_last_update_time_seconds When these metrics were last updated, in seconds since the Unix epoch.
            # TYPE edgescope_last_update_time_seconds gauge
            edgescope_last_update_time_seconds 1776075472.25
            # HELP edgescope_limit_hits_total Times a limit was reached, by limit code: a connection judged early, or with a gap the wire did not have.
            # TYPE edgescope_limit_hits_total counter
            edgescope_limit_hits_total{code="limit.flow_table"} 2
            edgescope_limit_hits_total{code="limit.reassembly_buffer"} 1
            # HELP edgescope_live_connections Connections being followed, not judged yet.
            # TYPE edgescope_live_connections gauge
            edgescope_live_connections 3
            # HELP edgescope_packets_received_total Packets received from the capture, after the BPF filter.
            # TYPE edgescope_packets_received_total counter
            edgescope_packets_received_total 1234
            # HELP edgescope_start_time_seconds When the capture started, in seconds since the Unix epoch.
            # TYPE edgescope_start_time_seconds gauge
            edgescope_start_time_seconds 1776075462.5

            """#)
    }

    @Test func judgedConnectionsCountByUpstreamCauseAndLimit() throws {
        // Two connections with room for one: the first is pushed out (limit.flow_table), the
        // second is refused (tcp.connect.refused, 502).
        var options = AnalysisOptions(limits: ReassemblyLimits(maxConnections: 1))
        options.queueEnded = true
        var engine = Engine(linkType: .ethernet, options: options)
        let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)
        let first = Endpoint(address: .v4(0x0a00_0005), port: 40001)
        let second = Endpoint(address: .v4(0x0a00_0005), port: 40002)
        let frames = [
            FrameBuilder.tcp(from: first, to: upstream, seq: 100, flags: .syn),
            FrameBuilder.tcp(from: second, to: upstream, seq: 200, flags: .syn),
            FrameBuilder.tcp(from: upstream, to: second, seq: 0, ack: 201, flags: [.rst, .ack]),
        ]
        for (index, bytes) in frames.enumerated() {
            withFrame(bytes, number: FrameNumber(index + 1), timestamp: Timestamp(nanoseconds: 1_776_075_462_000_000_000 + Int64(index) * 1_000_000)) {
                engine.process($0)
            }
        }
        _ = engine.finish()
        var metrics = LiveMetrics(interface: "eth0", filter: "tcp", version: "test", startTime: .zero)
        for report in engine.takeEnded() {
            metrics.record(report)
        }
        #expect(metrics.connectionsJudged == 2)
        #expect(metrics.connectionsByUpstream == ["10.0.3.24:8080": 2])
        #expect(metrics.failures[LiveMetrics.Failure(upstream: "10.0.3.24:8080", code: .tcpConnectRefused, verdictClass: .badGateway)] == 1)
        #expect(metrics.limitHits == [.limitFlowTable: 1])
        let text = metrics.exposition()
        #expect(text.contains("\nedgescope_failures_total{upstream=\"10.0.3.24:8080\",code=\"tcp.connect.refused\",class=\"502\"} 1\n"))
        #expect(text.contains("\nedgescope_limit_hits_total{code=\"limit.flow_table\"} 1\n"))
    }

    @Test(.enabled(if: parserPython != nil, "python3 with prometheus_client is missing: install python3-prometheus-client (scripts/install-deps)"))
    func prometheusClientsParserReadsEveryFamilyAndSample() throws {
        let families = try parse(smallMetrics().exposition(), with: parserPython!)
        // prometheus_client names a counter's family without `_total`; its samples keep it.
        #expect(families.map(\.name) == [
            "edgescope_capture_info", "edgescope_connections_judged", "edgescope_connections", "edgescope_failures",
            "edgescope_interface_drops", "edgescope_kernel_drops", "edgescope_last_update_time_seconds", "edgescope_limit_hits",
            "edgescope_live_connections", "edgescope_packets_received", "edgescope_start_time_seconds",
        ])
        #expect(families.map(\.type) == ["gauge", "counter", "counter", "counter", "counter", "counter", "gauge", "counter", "gauge", "counter", "gauge"])
        #expect(families.reduce(0) { $0 + $1.samples.count } == 15)
        let failures = try #require(families.first { $0.name == "edgescope_failures" })
        #expect(failures.samples.first == ParsedSample(
            name: "edgescope_failures_total", labels: ["upstream": "10.0.3.24:8080", "code": "tcp.connect.refused", "class": "502"], value: 2))
        #expect(families.first { $0.name == "edgescope_last_update_time_seconds" }?.samples.first?.value == 1_776_075_472.25)
    }

    @Test(.enabled(if: parserPython != nil, "python3 with prometheus_client is missing: install python3-prometheus-client (scripts/install-deps)"))
    func hostileTextComesBackFromTheParserUnchanged() throws {
        let hostile = [
            #"quote " and backslash \ and \n (not a newline)"#,
            "newline\nedgescope_evil_total 1",
            "x\"} 1\nedgescope_evil_total{a=\"b\"} 2",
            "ending in a backslash \\",
            "non-ASCII: éth0 ☃ 日本 🙂",
        ]
        var metrics = LiveMetrics(interface: hostile[4], filter: hostile[0], version: hostile[3], startTime: .zero)
        for value in hostile {
            metrics.recordConnection(upstream: value, verdict: Verdict(code: FindingCode(.tlsAlert, qualifier: value), verdictClass: .badGateway, phase: .connect, summary: ""))
        }
        let families = try parse(metrics.exposition(), with: parserPython!)
        #expect(!families.contains { $0.name.contains("evil") })
        let info = try #require(families.first { $0.name == "edgescope_capture_info" }?.samples.first)
        #expect(info.labels == ["interface": hostile[4], "filter": hostile[0], "version": hostile[3]])
        let upstreams = families.first { $0.name == "edgescope_connections" }?.samples.map { $0.labels["upstream"] ?? "" }
        #expect(Set(upstreams ?? []) == Set(hostile))
        let failures = families.first { $0.name == "edgescope_failures" }?.samples ?? []
        #expect(failures.count == hostile.count)
        #expect(failures.allSatisfy { "tls.alert." + ($0.labels["upstream"] ?? "") == $0.labels["code"] })
    }

    @Test(.enabled(if: parserPython != nil, "python3 with prometheus_client is missing: install python3-prometheus-client (scripts/install-deps)"))
    func hostileHelpComesBackFromTheParserUnchanged() throws {
        let help = "Two lines\n# TYPE fake counter, a \\ and \"quotes\" é"
        let text = PrometheusText.encode([MetricFamily(name: "edgescope_test", help: help, kind: .gauge, samples: [MetricFamily.Sample(value: 1)])])
        let families = try parse(text, with: parserPython!)
        #expect(families == [ParsedFamily(name: "edgescope_test", type: "gauge", help: help, samples: [ParsedSample(name: "edgescope_test", labels: [:], value: 1)])])
    }
}
