import CaptureModel
import Engine
import Foundation
import HTTP1
import PacketDecoding
import TCPReassembly
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Traffic built to hurt: memory stays within the configured caps (each cap hit is a finding,
/// counted in the report) and time grows with the input, not faster.
///
/// Frames are built once and patched in place (ports, sequence numbers), so the tests measure
/// the engine, not the frame builder. Sizes are the issue's where a debug build manages them in
/// seconds; where not, the size is stated and the same property is checked on a smaller input
/// with the scaling asserted.
struct HostileTrafficTests {
    static let gateway = Endpoint(address: .v4(0x0a00_0005), port: 40_001)
    static let upstream = Endpoint(address: .v4(0x0a00_0318), port: 8080)
    /// Ethernet (14) + IPv4 (20): the TCP header starts here.
    static let tcpStart = 34

    /// Runs the calling test again in a process of its own and expects it to pass there: other
    /// suites run in parallel in this process, so its resident memory says nothing about one
    /// test. Returns true in that child, where the test's body should run.
    static func isolated(_ name: String = #function) throws -> Bool {
        if ProcessInfo.processInfo.environment["EDGESCOPE_ISOLATED_TEST"] != nil { return true }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        let test = String(name.prefix { $0 != "(" })
        process.arguments = ["--testing-library", "swift-testing", "--filter", "HostileTrafficTests/\(test)"]
        var environment = ProcessInfo.processInfo.environment
        environment["EDGESCOPE_ISOLATED_TEST"] = "1"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(test) in its own process:\n\(text.split(separator: "\n").filter { $0.contains("✘") || $0.contains("Expectation") }.joined(separator: "\n"))")
        #expect(text.contains("Test run with 1 test"), "\(test) did not run in its own process:\n\(text.suffix(2000))")
        return false
    }

    /// The process's resident memory now (in a process running this one test).
    static func heapInUse() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// A frame number and a time for each frame fed.
    struct Feeder {
        var engine: Engine
        var number: FrameNumber = 0
        var nanoseconds: Int64 = 1_776_075_462_000_000_000

        mutating func feed(_ bytes: [UInt8], advance: Int64 = 1_000) {
            self.number += 1
            self.nanoseconds += advance
            withFrame(bytes, number: self.number, timestamp: Timestamp(nanoseconds: self.nanoseconds)) { _ = self.engine.process($0) }
        }
    }

    static func setSourcePort(_ frame: inout [UInt8], _ port: UInt16) {
        frame[tcpStart] = UInt8(port >> 8)
        frame[tcpStart + 1] = UInt8(port & 0xff)
    }

    static func setSequence(_ frame: inout [UInt8], _ seq: UInt32) {
        for i in 0..<4 { frame[tcpStart + 4 + i] = UInt8(truncatingIfNeeded: seq >> (24 - 8 * i)) }
    }

    static func setSourceAddress(_ frame: inout [UInt8], _ address: UInt32) {
        for i in 0..<4 { frame[26 + i] = UInt8(truncatingIfNeeded: address >> (24 - 8 * i)) }
    }

    /// A SYN flood: a million distinct connections against a table of 10,000. The table never
    /// holds more; each connection pushed out is judged early with `limit.flow_table`; the
    /// report lists what the retention allows and counts the rest.
    @Test func aMillionSYNsStayWithinTheFlowTable() throws {
        guard try Self.isolated() else { return }
        var options = AnalysisOptions(limits: ReassemblyLimits(maxConnections: 10_000))
        options.retention = .bounded(1_000)
        var feeder = Feeder(engine: Engine(linkType: .ethernet, options: options))
        var syn = FrameBuilder.tcp(from: Self.gateway, to: Self.upstream, seq: 100, flags: .syn)
        var most = 0
        let flood = 1_000_000
        for index in 0..<flood {
            // 16 addresses × 62,500 ports: a million distinct 4-tuples.
            Self.setSourceAddress(&syn, 0x0a00_0100 + UInt32(index % 16))
            Self.setSourcePort(&syn, UInt16(1_024 + index / 16))
            feeder.feed(syn)
            if index % 50_000 == 0 { most = max(most, feeder.engine.liveConnections) }
        }
        most = max(most, feeder.engine.liveConnections)
        #expect(most <= 10_000)
        let result = feeder.engine.finish()
        #expect(result.tally.connections == flood)
        #expect(result.connections.count == 1_000)
        #expect(result.unlistedConnections == flood - 1_000)
        #expect(result.statistics.flowTableEvictions == flood - 10_000)
        #expect(result.warnings.contains { $0.contains("limit.flow_table") })
        // The ones pushed out carry the limit as a finding, counted by cause.
        let limited = result.connections.filter { report in report.findings.contains { $0.code == .limitFlowTable } }
        #expect(!limited.isEmpty)
    }

    /// One connection whose response head never ends: 1 GiB of header lines. The head is
    /// buffered up to its cap, then judged `http.header.too_large`; the rest is not kept.
    @Test func aGigabyteOfHeadersIsJudgedTooLargeAndNotKept() throws {
        guard try Self.isolated() else { return }
        var feeder = Feeder(engine: Engine(linkType: .ethernet))
        Self.handshakeAndRequest(&feeder)
        let line = Array("X-Filler: \(String(repeating: "a", count: 90))\r\n".utf8)  // 102 bytes
        var chunk = Array("HTTP/1.1 200 OK\r\n".utf8)
        while chunk.count < 60_000 { chunk += line }
        var segment = FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: 901, ack: 101 + 38, flags: .ack, payload: chunk)
        let before = Self.heapInUse()
        var sent: UInt64 = 0
        var seq: UInt32 = 901
        let target: UInt64 = 1 << 30
        let start = ContinuousClock.now
        while sent < target {
            Self.setSequence(&segment, seq)
            feeder.feed(segment)
            sent += UInt64(chunk.count)
            seq &+= UInt32(chunk.count)
            if sent == UInt64(chunk.count) {
                // After the first segment the status line is only ever header lines.
                chunk = Array(repeating: line, count: 600).flatMap { $0 }
                segment = FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: seq, ack: 101 + 38, flags: .ack, payload: chunk)
            }
        }
        let grown = Self.heapInUse() - before
        let elapsed = ContinuousClock.now - start
        #expect(grown < 16 << 20, "heap grew \(grown) bytes over 1 GiB of headers")
        let result = feeder.engine.finish()
        let report = result.connections.first
        #expect(report?.verdict.code == .headerTooLarge)
        #expect(report?.findings.first?.evidence.first?.frame == 5)
        #expect(elapsed < .seconds(120), "1 GiB took \(elapsed)")
    }

    /// A chunked body that never ends: 200,000 chunks. Nothing of the body is kept, no finding
    /// is invented, and the connection ends `capture.truncated` (the capture stopped mid-body).
    @Test func anEndlessChunkedBodyKeepsNothing() throws {
        guard try Self.isolated() else { return }
        var feeder = Feeder(engine: Engine(linkType: .ethernet))
        Self.handshakeAndRequest(&feeder)
        let head = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        feeder.feed(FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: 901, ack: 139, flags: .ack, payload: head))
        var chunks: [UInt8] = []
        for _ in 0..<100 { chunks += Array("a\r\n0123456789\r\n".utf8) }  // 15 bytes each
        var segment = FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: 0, ack: 139, flags: .ack, payload: chunks)
        var seq = 901 + UInt32(head.count)
        let before = Self.heapInUse()
        for _ in 0..<2_000 {
            Self.setSequence(&segment, seq)
            feeder.feed(segment)
            seq &+= UInt32(chunks.count)
        }
        #expect(Self.heapInUse() - before < 16 << 20)
        let report = feeder.engine.finish().connections.first
        #expect(report?.verdict.code == .captureTruncated)
        #expect(report?.findings.allSatisfy { !$0.code.description.hasPrefix("http.") } == true)
    }

    /// A million segments out of order, each ahead of a hole that never fills: the buffer stops
    /// at its cap (`limit.reassembly_buffer`), the hole becomes a gap, and the verdict is
    /// `unknown`, not an invented error.
    @Test func aMillionOutOfOrderSegmentsStopAtTheBufferCap() throws {
        guard try Self.isolated() else { return }
        let limits = ReassemblyLimits(maxBufferedBytesPerDirection: 256 << 10, maxBufferedBytesTotal: 1 << 20)
        var feeder = Feeder(engine: Engine(linkType: .ethernet, options: AnalysisOptions(limits: limits)))
        Self.handshakeAndRequest(&feeder)
        let payload = [UInt8](repeating: 0x41, count: 100)
        var segment = FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: 0, ack: 139, flags: .ack, payload: payload)
        let before = Self.heapInUse()
        // Byte 901 never arrives; every later segment is out of order.
        var seq: UInt32 = 902
        for _ in 0..<1_000_000 {
            Self.setSequence(&segment, seq)
            feeder.feed(segment, advance: 10)
            seq &+= 100
        }
        #expect(Self.heapInUse() - before < 16 << 20)
        let report = feeder.engine.finish().connections.first
        #expect(report?.findings.contains { $0.code == .limitReassemblyBuffer } == true)
        #expect(report?.verdict.verdictClass == .unknown)
    }

    /// The same bytes rewritten over and over (a middlebox or an attacker replaying different
    /// data at the same sequence numbers): at most eight overlap findings, each with both
    /// frames, and bounded memory.
    @Test func overlapsRewritingTheSameBytesStayBounded() throws {
        guard try Self.isolated() else { return }
        var feeder = Feeder(engine: Engine(linkType: .ethernet))
        Self.handshakeAndRequest(&feeder)
        let first = Array("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n".utf8)
        feeder.feed(FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: 901, ack: 139, flags: .ack, payload: first))
        var rewrite = FrameBuilder.tcp(
            from: Self.upstream, to: Self.gateway, seq: 901, ack: 139, flags: .ack,
            payload: Array("HTTP/1.1 502 XX\r\nContent-Length: 1000000000\r\n\r\n".utf8))
        let before = Self.heapInUse()
        for index in 0..<100_000 {
            rewrite[Self.tcpStart + 20 + 13] = UInt8(0x30 + index % 10)
            feeder.feed(rewrite)
        }
        #expect(Self.heapInUse() - before < 16 << 20)
        let report = feeder.engine.finish().connections.first
        let overlaps = report?.findings.filter { $0.code.description == "tcp.overlap.mismatch" } ?? []
        // The first eight rewrites are findings with both copies; the rest are only counted.
        #expect(overlaps.count == 8)
        #expect(overlaps.first?.evidence.map(\.frame) == [5, 6])
    }

    /// A sequence number 2 GiB ahead: no 2 GiB buffer, no 2 GiB gap walked byte by byte.
    @Test func aTwoGigabyteSequenceJumpAllocatesNothing() throws {
        guard try Self.isolated() else { return }
        var feeder = Feeder(engine: Engine(linkType: .ethernet))
        Self.handshakeAndRequest(&feeder)
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".utf8)
        feeder.feed(FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: 901, ack: 139, flags: .ack, payload: head))
        let before = Self.heapInUse()
        let start = ContinuousClock.now
        for step in 0..<1_000 {
            let seq = 901 &+ UInt32(head.count) &+ (1 << 31) &+ UInt32(step * 10)
            feeder.feed(FrameBuilder.tcp(from: Self.upstream, to: Self.gateway, seq: seq, ack: 139, flags: .ack, payload: Array("0123456789".utf8)))
        }
        #expect(Self.heapInUse() - before < 16 << 20)
        #expect(ContinuousClock.now - start < .seconds(10))
        let report = feeder.engine.finish().connections.first
        #expect(report?.verdict.verdictClass == .unknown || report?.verdict.verdictClass == .truncated)
    }

    /// Twice the input, at most about twice the time: the SYN flood at 50,000 and 100,000.
    @Test func timeGrowsLinearlyWithTheFlood() throws {
        guard try Self.isolated() else { return }
        // CPU time of this thread, not the wall clock: the machine is shared with other tests.
        func threadCPU() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
        func run(_ count: Int) -> Double {
            var feeder = Feeder(engine: Engine(linkType: .ethernet, options: AnalysisOptions(limits: ReassemblyLimits(maxConnections: 5_000))))
            var syn = FrameBuilder.tcp(from: Self.gateway, to: Self.upstream, seq: 100, flags: .syn)
            let start = threadCPU()
            for index in 0..<count {
                Self.setSourceAddress(&syn, 0x0a00_0100 + UInt32(index % 16))
                Self.setSourcePort(&syn, UInt16(1_024 + index / 16))
                feeder.feed(syn)
            }
            _ = feeder.engine.finish()
            return threadCPU() - start
        }
        _ = run(10_000)  // warm up
        let small = run(50_000)
        let large = run(100_000)
        #expect(large < small * 3, "50k: \(small), 100k: \(large)")
    }

    static func handshakeAndRequest(_ feeder: inout Feeder) {
        let request = Array("GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n".utf8)  // 38 bytes
        feeder.feed(FrameBuilder.tcp(from: gateway, to: upstream, seq: 100, flags: .syn))
        feeder.feed(FrameBuilder.tcp(from: upstream, to: gateway, seq: 900, ack: 101, flags: [.syn, .ack]))
        feeder.feed(FrameBuilder.tcp(from: gateway, to: upstream, seq: 101, ack: 901, flags: .ack))
        feeder.feed(FrameBuilder.tcp(from: gateway, to: upstream, seq: 101, ack: 901, flags: [.psh, .ack], payload: request))
    }
}
