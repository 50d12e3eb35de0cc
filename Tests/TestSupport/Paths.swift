import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where test inputs live and built products are.
public enum Paths {
    /// The package root, found from this file's location.
    public static let packageRoot: String = {
        var path = #filePath
        for _ in 0..<3 {  // Tests/TestSupport/Paths.swift → root
            path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        }
        return path
    }()

    /// The `captures/` folder.
    public static var captures: String { self.packageRoot + "/captures" }

    /// The folders of `captures/` holding nginx's captures, their HAProxy twins (`NAME.haproxy.pcap`)
    /// and the TLS key-log captures curl or openssl s_client made with no gateway: the sample
    /// captures judged against the nginx/HAProxy truths (the other gateways' folders have tests of their own).
    public static let sampleCaptureFolders = ["nginx", "haproxy", "no-gateway"]

    /// Every file of `sampleCaptureFolders` whose name ends with one of `suffixes`, as `FOLDER/NAME`
    /// (relative to `captures`), sorted.
    public static func sampleCaptureFiles(endingWith suffixes: [String]) -> [String] {
        self.sampleCaptureFolders.flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: self.captures + "/" + folder)) ?? [])
                .filter { name in suffixes.contains { name.hasSuffix($0) } }
                .map { folder + "/" + $0 }
        }.sorted()
    }

    /// The directory of the running test executable, which is the build directory holding `edgescope`.
    public static var buildDirectory: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = count > 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        return String(exe[..<(exe.lastIndex(of: "/") ?? exe.startIndex)])
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ label: String) -> String {
        var template = Array("/tmp/edgescope-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
