// Three stages of the analysis, each over every generated capture that exists:
//   decode      PacketDecoder over every frame
//   reassemble  decoding plus FlowTable with a sink that drops what it is given
//   engine      Engine.process over every frame, then finish(): what `analyze` does before it
//               writes a report
// One iteration is one full pass over a capture that was read into memory in setup.
//
// Besides the framework's metrics (wall clock, CPU, mallocs, peak resident memory, and peak
// resident memory above what it was after setup, i.e. above the capture held in memory), each
// pass reports throughput in MB/s (10^6 bytes of capture file) and thousands of packets per
// second, and mallocs per 1,000 packets (the target is under 50, i.e. 0.05 per packet).
//
// Environment: EDGESCOPE_BENCH_CAPTURES, the directory of captures (default Benchmarks/.captures,
// filled by Benchmarks/make-captures.sh); EDGESCOPE_BENCH_QUICK=1 for 3 passes per benchmark.
import Benchmark
import CaptureModel
import Engine
import MallocInterposerSwift
import PacketDecoding
import TCPReassembly

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The captures the benchmarks run over, by file name in the captures directory. Kept in step
/// with Benchmarks/make-captures.sh, which writes them.
let captureNames = [
    "smoke-5MB",
    "mixed-30MB",
    "mixed-300MB",
    "small-100MB",
    "large-100MB",
    "many-conns-200MB",
    "short-150MB",
    "short-600MB",
    "h2-30MB",
]

let throughputMB = BenchmarkMetric.custom("Throughput (MB/s)", polarity: .prefersLarger, useScalingFactor: false)
let throughputPackets = BenchmarkMetric.custom("Throughput (Kpackets/s)", polarity: .prefersLarger, useScalingFactor: false)
let mallocsPerKilopacket = BenchmarkMetric.custom("Mallocs per 1k packets", polarity: .prefersSmaller, useScalingFactor: false)

/// The capture of the benchmark running in this process (each benchmark runs in its own).
nonisolated(unsafe) var loaded: CaptureInMemory?

let benchmarks: @Sendable () -> Void = {
    let directory = environment("EDGESCOPE_BENCH_CAPTURES") ?? defaultCaptureDirectory()
    let quick = environment("EDGESCOPE_BENCH_QUICK") == "1"

    Benchmark.defaultConfiguration = .init(
        metrics: [
            .wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, .peakMemoryResidentDelta,
            throughputMB, throughputPackets, mallocsPerKilopacket,
        ],
        timeUnits: .milliseconds,
        // No warmup: the framework takes its resident-memory baseline after the warmup passes,
        // so memory a warmup pass left with the allocator would hide from the peak-above metric.
        warmupIterations: 0,
        maxDuration: quick ? .seconds(3) : .seconds(20),
        maxIterations: quick ? 3 : 10)

    for name in captureNames {
        let path = "\(directory)/\(name).pcap"
        guard access(path, R_OK) == 0 else { continue }
        let setup: Benchmark.BenchmarkSetupHook = { loaded = try CaptureInMemory(path: path) }
        let teardown: Benchmark.BenchmarkTeardownHook = { loaded = nil }

        Benchmark("decode \(name)", closure: { benchmark in
            let capture = loaded!
            for _ in benchmark.scaledIterations {
                measurePass(benchmark, capture) { decodeOnly(capture) }
            }
        }, setup: setup, teardown: teardown)

        Benchmark("reassemble \(name)", closure: { benchmark in
            let capture = loaded!
            for _ in benchmark.scaledIterations {
                measurePass(benchmark, capture) { reassembleOnly(capture) }
            }
        }, setup: setup, teardown: teardown)

        Benchmark("engine \(name)", closure: { benchmark in
            let capture = loaded!
            for _ in benchmark.scaledIterations {
                measurePass(benchmark, capture) { fullEngine(capture) }
            }
        }, setup: setup, teardown: teardown)
    }
}

/// Runs one pass and records the custom metrics for it.
@inline(__always)
func measurePass(_ benchmark: Benchmark, _ capture: CaptureInMemory, _ pass: () -> Int) {
    let mallocsBefore = MallocInterposerSwift.getStatistics().mallocCount
    let start = ContinuousClock.now
    let result = pass()
    let elapsed = ContinuousClock.now - start
    let mallocs = MallocInterposerSwift.getStatistics().mallocCount - mallocsBefore
    blackHole(result)

    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    guard seconds > 0 else { return }
    benchmark.measurement(throughputMB, Int((Double(capture.byteCount) / 1e6 / seconds).rounded()))
    benchmark.measurement(throughputPackets, Int((Double(capture.packets) / 1e3 / seconds).rounded()))
    benchmark.measurement(mallocsPerKilopacket, Int((Double(mallocs) * 1000 / Double(max(capture.packets, 1))).rounded()))
}

/// Decodes every frame; returns a count so the work cannot be dropped.
@inline(never)
func decodeOnly(_ capture: CaptureInMemory) -> Int {
    var decoder = PacketDecoder(linkType: capture.linkType)
    var tcpPayloadBytes = 0
    capture.forEachFrame { frame in
        if case .tcp(let segment) = decoder.decode(frame) {
            tcpPayloadBytes &+= segment.payload.count
        }
    }
    return tcpPayloadBytes
}

/// Decodes every frame and feeds the TCP segments to a flow table whose sink drops everything.
@inline(never)
func reassembleOnly(_ capture: CaptureInMemory) -> Int {
    var decoder = PacketDecoder(linkType: capture.linkType)
    var flows = FlowTable()
    var sink = DiscardingSink()
    var last = Timestamp.zero
    capture.forEachFrame { frame in
        if case .tcp(let segment) = decoder.decode(frame) {
            flows.process(segment, frame: frame.number, time: frame.timestamp, sink: &sink)
        }
        last = frame.timestamp
    }
    flows.finish(at: last, sink: &sink)
    return sink.events &+ sink.deliveredBytes &+ flows.connectionsSeen
}

/// What `edgescope analyze` does before it writes anything: every frame through the engine,
/// then `finish()`.
@inline(never)
func fullEngine(_ capture: CaptureInMemory) -> Int {
    var engine = Engine(linkType: capture.linkType, options: AnalysisOptions())
    capture.forEachFrame { engine.process($0) }
    let result = engine.finish()
    return result.connections.count
}

/// A connection sink that counts what it is given and keeps nothing.
struct DiscardingSink: ConnectionSink {
    var events = 0
    var deliveredBytes = 0

    mutating func connectionStarted(_ connection: Connection, slot: Int) {
        self.events &+= 1
    }

    mutating func stream(_ event: StreamEvent, direction: Direction, slot: Int) {
        self.events &+= 1
        if case .data(let data) = event {
            self.deliveredBytes &+= data.bytes.count
        }
    }

    mutating func reset(by direction: Direction, at mark: PacketMark, slot: Int) {
        self.events &+= 1
    }

    mutating func connectionEnded(_ connection: inout Connection, slot: Int) {
        self.events &+= 1
    }
}

/// Benchmarks/.captures, found from this file's place in the repository.
func defaultCaptureDirectory() -> String {
    // #filePath is Benchmarks/Benchmarks/EdgescopeBenchmarks/EdgescopeBenchmarks.swift.
    var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)
    return components.joined(separator: "/") + "/.captures"
}

/// The value of environment variable `name`, or `nil` when it is unset or empty.
func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}
