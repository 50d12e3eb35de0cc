// swift-tools-version: 6.1
// Benchmarks for edgescope's analysis stages: decoding, reassembly and the full engine, over
// generated captures held in memory. Run with `Benchmarks/run.sh` from the repository root.
import PackageDescription

let package = Package(
    name: "edgescope-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "edgescope", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // Already in the graph through benchmark; named here so a benchmark can read the
        // allocation counters around one pass and report allocations per packet.
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", from: "1.5.0"),
    ],
    targets: [
        .executableTarget(
            name: "EdgescopeBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
                .product(name: "CaptureModel", package: "edgescope"),
                .product(name: "PacketDecoding", package: "edgescope"),
                .product(name: "TCPReassembly", package: "edgescope"),
                .product(name: "Engine", package: "edgescope"),
            ],
            path: "Benchmarks/EdgescopeBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
