import CBuildStamp

/// This build's version, in one place: `--version`, the metrics' info series and scripts/package
/// (the Debian package's version) read it from here.
enum Version {
    /// The release, as `MAJOR.MINOR.PATCH`. scripts/package reads this line.
    static let release = "0.1.0"

    /// The git commit scripts/package stamped in, or nil for an unstamped build (`swift build`).
    static var commit: String? {
        let stamped = String(cString: edgescope_build_commit())
        return stamped.isEmpty ? nil : stamped
    }

    /// What `edgescope --version` prints: `0.1.0`, or `0.1.0 (commit 1a2b3c4d5e6f)` when stamped.
    static var line: String {
        self.commit.map { "\(self.release) (commit \($0))" } ?? self.release
    }
}
