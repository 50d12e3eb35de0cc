// swift-tools-version: 6.0
// libFuzzer targets for edgescope's parsers (issue 8). Built only by Fuzz/run.sh, with
// `-Xswiftc -sanitize=fuzzer,address` and its own scratch path, so the main package and its
// normal build never see a sanitizer flag.
//
// SwiftPM lets a package depend only on another package's products, and the main package
// exports none of its libraries; so the library targets are declared again here over the same
// sources (Library/<Module> are symbolic links to ../Sources/<Module>). -enable-testing lets a
// target `@testable import` the counters its invariants read (budgets, table sizes).
import PackageDescription

let testable: [SwiftSetting] = [.unsafeFlags(["-enable-testing"])]
let fuzzer: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func library(_ name: String, _ dependencies: [Target.Dependency] = [], linker: [LinkerSetting] = []) -> Target {
    .target(name: name, dependencies: dependencies, path: "Library/\(name)", swiftSettings: testable, linkerSettings: linker)
}

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, swiftSettings: fuzzer)
}

let package = Package(
    name: "edgescope-fuzz",
    dependencies: [
        // NIOHPACK, for the HTTP2 library (as in the main package).
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        library("CaptureModel"),
        library("PacketDecoding", ["CaptureModel"]),
        library("TCPReassembly", ["CaptureModel", "PacketDecoding"]),
        library("HTTP1", ["CaptureModel"]),
        library(
            "HTTP2",
            ["CaptureModel", "HTTP1", .product(name: "NIOHPACK", package: "swift-nio-http2"), .product(name: "NIOCore", package: "swift-nio")]),
        library("FastCGI", ["CaptureModel", "HTTP1"]),
        library("TLSRecords", ["CaptureModel"]),
        library("DNS", ["CaptureModel", "PacketDecoding"]),
        library("GatewayLog", ["CaptureModel"]),
        library("Diagnosis", ["CaptureModel", "TCPReassembly", "HTTP1", "TLSRecords"]),
        library("Engine", ["CaptureModel", "PacketDecoding", "TCPReassembly", "HTTP1", "HTTP2", "FastCGI", "TLSRecords", "Diagnosis", "DNS", "GatewayLog"]),
        library("Reporting", ["CaptureModel", "Engine", "Diagnosis", "TCPReassembly", "HTTP1", "DNS", "GatewayLog"]),
        .systemLibrary(name: "CPcap", path: "Library/CPcap", pkgConfig: "libpcap"),
        .target(
            name: "CDecompress", path: "Library/CDecompress",
            linkerSettings: [.linkedLibrary("z"), .linkedLibrary("zstd"), .linkedLibrary("lzma")]),
        library("PcapSource", ["CPcap", "CDecompress", "CaptureModel", "PacketDecoding"]),
        .target(name: "COpenSSL", path: "Library/COpenSSL", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        library("OpenSSLBridge", ["COpenSSL", "CaptureModel", "TLSRecords"]),
        library("OpenSSLAdapters", ["OpenSSLBridge", "Diagnosis", "TLSRecords", "CaptureModel"]),

        // Input reading, invariant checks and evidence summaries shared by the targets.
        .target(name: "FuzzSupport", dependencies: ["CaptureModel"]),

        fuzzTarget("FuzzPacketDecoder", ["PacketDecoding", "CaptureModel"]),
        fuzzTarget("FuzzReassembly", ["TCPReassembly", "PacketDecoding", "CaptureModel"]),
        fuzzTarget("FuzzHTTP1", ["HTTP1", "CaptureModel"]),
        fuzzTarget("FuzzHTTP2", ["HTTP2", "HTTP1", "CaptureModel"]),
        fuzzTarget("FuzzFastCGI", ["FastCGI", "HTTP1", "CaptureModel"]),
        fuzzTarget("FuzzTLS", ["TLSRecords", "HTTP1", "CaptureModel"]),
        fuzzTarget("FuzzKeyLog", ["TLSRecords"]),
        fuzzTarget("FuzzDNS", ["DNS", "CaptureModel"]),
        fuzzTarget("FuzzGatewayLog", ["GatewayLog", "CaptureModel"]),
        fuzzTarget(
            "FuzzEngine",
            ["Engine", "Reporting", "PcapSource", "PacketDecoding", "TCPReassembly", "CaptureModel", "OpenSSLAdapters", "OpenSSLBridge"]),
    ]
)
