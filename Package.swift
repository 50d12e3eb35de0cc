// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "edgescope",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "edgescope", targets: ["edgescope"]),
        // For the benchmark package in Benchmarks/, which measures these stages on their own.
        .library(name: "CaptureModel", targets: ["CaptureModel"]),
        .library(name: "PacketDecoding", targets: ["PacketDecoding"]),
        .library(name: "TCPReassembly", targets: ["TCPReassembly"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Frame ids, endpoints, findings, verdicts. No dependencies.
        .target(name: "CaptureModel"),
        // Link, IP and TCP headers from a captured frame (caplen, never the wire length).
        .target(name: "PacketDecoding", dependencies: ["CaptureModel"]),
        // Flow table, per-direction reassembly, gaps, overlaps, lifecycle.
        .target(name: "TCPReassembly", dependencies: ["CaptureModel", "PacketDecoding"]),
        // Streaming HTTP/1.x framing and validation of both directions.
        .target(name: "HTTP1", dependencies: ["CaptureModel"]),
        // FastCGI records (php-fpm's hop), the CGI head inside checked by HTTP1's rules.
        .target(name: "FastCGI", dependencies: ["CaptureModel", "HTTP1"]),
        // TLS records and handshakes, read without keys.
        .target(name: "TLSRecords", dependencies: ["CaptureModel"]),
        // Connection facts to one root cause.
        .target(name: "Diagnosis", dependencies: ["CaptureModel", "TCPReassembly", "HTTP1", "TLSRecords"]),
        // Wires decoding, reassembly and diagnosis together, frame by frame.
        .target(name: "Engine", dependencies: ["CaptureModel", "PacketDecoding", "TCPReassembly", "HTTP1", "FastCGI", "TLSRecords", "Diagnosis"]),
        // Text, JSON, Markdown and HTML reports (the last two rendered from the JSON document).
        .target(name: "Reporting", dependencies: ["CaptureModel", "Engine", "Diagnosis", "TCPReassembly", "HTTP1"]),
        // libpcap, and the one module that imports it.
        .systemLibrary(
            name: "CPcap", pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]),
        // zlib, libzstd and liblzma behind one streaming decoder, for compressed captures.
        .target(
            name: "CDecompress",
            linkerSettings: [.linkedLibrary("z"), .linkedLibrary("zstd"), .linkedLibrary("lzma")]),
        .target(name: "PcapSource", dependencies: ["CPcap", "CDecompress", "CaptureModel", "PacketDecoding"]),
        // OpenSSL: one C shim for the macros Swift cannot import, and the one module that uses it.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "OpenSSLBridge", dependencies: ["COpenSSL", "CaptureModel", "TLSRecords"]),
        // OpenSSL behind the engine's verification and decryption hooks.
        .target(name: "OpenSSLAdapters", dependencies: ["OpenSSLBridge", "Diagnosis", "TLSRecords", "CaptureModel"]),
        // The command-line tool: parses options, picks a source, calls the engine.
        .executableTarget(
            name: "edgescope",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "CaptureModel", "PacketDecoding", "Engine", "Reporting", "PcapSource", "OpenSSLBridge", "OpenSSLAdapters", "TLSRecords",
                "Diagnosis", "HTTP1",
            ]),

        // Frame builders shared by the tests.
        .target(name: "TestSupport", dependencies: ["CaptureModel", "PacketDecoding"], path: "Tests/TestSupport"),
        .testTarget(name: "CaptureModelTests", dependencies: ["CaptureModel"]),
        .testTarget(name: "DiagnosisTests", dependencies: ["Diagnosis", "CaptureModel", "TestSupport"]),
        .testTarget(name: "PacketDecodingTests", dependencies: ["PacketDecoding", "TestSupport"]),
        .testTarget(name: "TCPReassemblyTests", dependencies: ["TCPReassembly", "TestSupport"]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "CaptureModel"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "HTTP1", "CaptureModel", "TestSupport"]),
        .testTarget(name: "TLSRecordsTests", dependencies: ["TLSRecords", "CaptureModel", "TestSupport"]),
        .testTarget(
            name: "EngineTests",
            dependencies: ["Engine", "Diagnosis", "Reporting", "PcapSource", "TestSupport", "OpenSSLBridge", "OpenSSLAdapters", "TLSRecords"]),
        .testTarget(name: "PcapSourceTests", dependencies: ["PcapSource", "TestSupport"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "CaptureModel", "Engine", "TCPReassembly", "PacketDecoding", "TestSupport"]),
        .testTarget(
            name: "OpenSSLBridgeTests", dependencies: ["OpenSSLBridge", "CaptureModel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "edgescopeTests", dependencies: ["edgescope", "TestSupport", "PcapSource", "Reporting", "CaptureModel"]),
    ]
)
