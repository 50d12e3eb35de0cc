import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// A failure the tool reports with one line and an exit status, never a stack trace.
struct ToolFailure: Error {
    /// 1: usage; 2: an unreadable capture or input file; 3: a problem found (`--fail-on`, `probe`).
    var status: Int32
    /// The line printed after `edgescope: `.
    var message: String
}

@main
struct Edgescope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgescope",
        abstract: "Explain why a gateway answered 502: reads the gateway-to-upstream hop and reports each failing connection with the bytes that prove it.",
        version: Edgescope.version,
        subcommands: [Analyze.self, Capture.self, Probe.self, Report.self])

    /// This build's version, as `--version` and the metrics' info series show it.
    static let version = "0.1.0"

    /// Exit statuses are a contract (README.md, "Exit status"): 0 analysed, 1 usage error, 2 unreadable input,
    /// 3 a connection of a `--fail-on` class found.
    static func main() {
        do {
            var command = try Self.parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch let failure as ToolFailure {
            Self.printError("edgescope: \(failure.message)")
            Glibc.exit(failure.status)
        } catch {
            let code = Self.exitCode(for: error)
            if code == .success {
                print(Self.fullMessage(for: error))
                Glibc.exit(0)
            }
            let message = Self.message(for: error)
            Self.printError("edgescope: \(message.isEmpty ? "\(error)" : message)")
            Self.printError("Run 'edgescope help' for usage.")
            Glibc.exit(1)
        }
        Glibc.exit(0)
    }

    static func printError(_ line: String) {
        var text = line
        if !text.hasSuffix("\n") { text += "\n" }
        // write(2) on descriptor 2: no shared FILE*, and unbuffered, so it interleaves correctly with stdout.
        writeAll(2, text.utf8)
    }
}
