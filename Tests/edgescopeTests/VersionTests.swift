@testable import edgescope
import Foundation
import Testing
import TestSupport

/// `edgescope --version` and the one place the version is spelled (Sources/edgescope/Version.swift),
/// which scripts/package reads for the Debian package's version.
struct VersionTests {
    @Test func versionPrintsTheReleaseAndExitsZero() throws {
        let run = try Run(["--version"])
        #expect(run.status == 0)
        #expect(run.stderr.isEmpty)
        #expect(run.stdout == Version.line + "\n")
        // `swift build` stamps no commit (scripts/package does: Tests/package/package-test.sh checks it).
        #expect(Version.commit == nil)
        #expect(run.stdout == "0.1.0\n")
    }

    @Test func aSubcommandPrintsTheSameVersion() throws {
        let run = try Run(["capture", "--version"])
        #expect(run.status == 0)
        #expect(run.stdout == Version.line + "\n")
    }

    @Test func scriptsPackageReadsTheSameVersion() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.packageRoot + "/scripts/package")
        process.arguments = ["--print-version"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(printed == Version.release + "\n")
    }
}
