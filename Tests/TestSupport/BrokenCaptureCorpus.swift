import Foundation

/// The corpus of broken captures: `Tests/broken-captures/make-broken-captures.py` writes it,
/// with a manifest, into a fresh temporary directory.
public enum BrokenCaptureCorpus {
    /// Writes the corpus under `name` in the temporary directory; returns the directory, or
    /// throws when the script fails.
    public static func write(_ name: String) throws -> String {
        let directory = Paths.temporaryDirectory(name)
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        script.arguments = ["python3", Paths.packageRoot + "/Tests/broken-captures/make-broken-captures.py", directory]
        try script.run()
        script.waitUntilExit()
        guard script.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "make-broken-captures.py exited \(script.terminationStatus)"])
        }
        return directory
    }
}
