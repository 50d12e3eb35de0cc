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
        // NIOHPACK only: the HPACK decoder of the HTTP2 target.
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
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
        // Streaming HTTP/2 (and gRPC) frames, HPACK and streams of the upstream's answers. The one
        // module that imports NIOHPACK.
        .target(
            name: "HTTP2",
            dependencies: [
                "CaptureModel", "HTTP1",
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // FastCGI records (php-fpm's hop), the CGI head inside checked by HTTP1's rules.
        .target(name: "FastCGI", dependencies: ["CaptureModel", "HTTP1"]),
        // DNS messages over UDP and TCP port 53, and the names the gateway resolved over time.
        .target(name: "DNS", dependencies: ["CaptureModel", "PacketDecoding"]),
        // TLS records and handshakes, read without keys.
        .target(name: "TLSRecords", dependencies: ["CaptureModel"]),
        // The gateway's own logs (nginx, HAProxy, Apache, Caddy, Varnish), read and joined to
        // the connections and client errors they are about.
        .target(name: "GatewayLog", dependencies: ["CaptureModel"]),
        // Connection facts to one root cause.
        .target(name: "Diagnosis", dependencies: ["CaptureModel", "TCPReassembly", "HTTP1", "TLSRecords"]),
        // Wires decoding, reassembly and diagnosis together, frame by frame.
        .target(name: "Engine", dependencies: ["CaptureModel", "PacketDecoding", "TCPReassembly", "HTTP1", "HTTP2", "FastCGI", "TLSRecords", "Diagnosis", "DNS", "GatewayLog"]),
        // Text, JSON, Markdown and HTML reports (the last two rendered from the JSON document).
        .target(name: "Reporting", dependencies: ["CaptureModel", "Engine", "Diagnosis", "TCPReassembly", "HTTP1", "DNS", "GatewayLog"]),
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
        // `edgescope replay`: one captured connection's upstream side, served again on a socket.
        .target(
            name: "Replay",
            dependencies: ["CaptureModel", "PacketDecoding", "TCPReassembly", "HTTP1", "TLSRecords", "Diagnosis", "Engine", "PcapSource", "OpenSSLBridge"]),
        // The git commit scripts/package stamps into a release build (`edgescope --version`), from
        // EDGESCOPE_COMMIT in the environment; none when it is unset (`swift build`, a tarball).
        .target(
            name: "CBuildStamp",
            cSettings: Context.environment["EDGESCOPE_COMMIT"].map { [.define("EDGESCOPE_COMMIT", to: $0)] } ?? []),
        // The command-line tool: parses options, picks a source, calls the engine.
        .executableTarget(
            name: "edgescope",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "CaptureModel", "PacketDecoding", "Engine", "Reporting", "PcapSource", "OpenSSLBridge", "OpenSSLAdapters", "TLSRecords",
                "Diagnosis", "HTTP1", "CBuildStamp", "Replay", "GatewayLog",
            ]),

        // Frame builders shared by the tests.
        .target(name: "TestSupport", dependencies: ["CaptureModel", "PacketDecoding"], path: "Tests/TestSupport"),
        .testTarget(name: "CaptureModelTests", dependencies: ["CaptureModel"]),
        .testTarget(name: "DiagnosisTests", dependencies: ["Diagnosis", "CaptureModel", "TestSupport"]),
        .testTarget(name: "PacketDecodingTests", dependencies: ["PacketDecoding", "TestSupport"]),
        .testTarget(name: "TCPReassemblyTests", dependencies: ["TCPReassembly", "TestSupport"]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "CaptureModel"]),
        .testTarget(name: "HTTP2Tests", dependencies: ["HTTP2", "HTTP1", "CaptureModel"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "HTTP1", "CaptureModel", "TestSupport"]),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "CaptureModel", "PacketDecoding", "TestSupport"]),
        .testTarget(name: "TLSRecordsTests", dependencies: ["TLSRecords", "CaptureModel", "TestSupport"]),
        .testTarget(
            name: "EngineTests",
            dependencies: ["Engine", "Diagnosis", "Reporting", "PcapSource", "TestSupport", "OpenSSLBridge", "OpenSSLAdapters", "TLSRecords", "DNS"]),
        .testTarget(name: "GatewayLogTests", dependencies: ["GatewayLog", "CaptureModel"]),
        .testTarget(name: "PcapSourceTests", dependencies: ["PcapSource", "TestSupport"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "CaptureModel", "Engine", "TCPReassembly", "PacketDecoding", "TestSupport"]),
        .testTarget(
            name: "OpenSSLBridgeTests", dependencies: ["OpenSSLBridge", "CaptureModel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "CaptureModel", "TCPReassembly", "TLSRecords", "OpenSSLBridge", "OpenSSLAdapters", "TestSupport"]),
        .testTarget(name: "edgescopeTests", dependencies: ["edgescope", "TestSupport", "PcapSource", "Reporting", "CaptureModel"]),
    ]
)
