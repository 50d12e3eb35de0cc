import ArgumentParser
import Engine
import Reporting
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
        version: Version.line,
        subcommands: [Analyze.self, Capture.self, Probe.self, Report.self, Codes.self, ReplayCommand.self])

    /// Exit statuses are a contract (README.md, "Exit status"): 0 analysed, 1 usage error, 2 unreadable input,
    /// 3 a connection of a `--fail-on` class found.
    static func main() {
        // No subcommand: a usage error, not the help a user asked for.
        if CommandLine.arguments.count <= 1 {
            Self.printError(Self.helpMessage())
            Self.printError("edgescope: give a command: analyze, capture, probe, report, codes or replay")
            Glibc.exit(1)
        }
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
            // One line: the parser's message, and where the usage is.
            let message = Self.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            let command = CommandLine.arguments.dropFirst().first.flatMap { name in
                Self.configuration.subcommands.contains { $0._commandName == name } ? " " + name : nil
            }
            Self.printError("edgescope: \(message.isEmpty ? "\(error)" : message) (see 'edgescope\(command ?? "") --help')")
            Glibc.exit(1)
        }
        Glibc.exit(0)
    }

    /// Report warnings (and their twins) already printed, so each is printed once.
    nonisolated(unsafe) private static var warned: Set<String> = []

    /// Prints `edgescope: warning: MESSAGE` on stderr, once per distinct message. `covering`
    /// names report warnings (`AnalysisResult.warnings`) that say the same in the report's
    /// words: `warn(report:)` leaves them out.
    static func warn(_ message: String, covering reportWarnings: String...) {
        for warning in reportWarnings { Self.warned.insert(warning) }
        guard Self.warned.insert(message).inserted else { return }
        Self.printError(Terminal.safe("edgescope: warning: \(message)"))
    }

    /// The report's warnings on stderr, each once: the text summary on stdout leaves them out.
    static func warn(report warnings: [String]) {
        for warning in warnings { Self.warn(warning) }
    }

    static func printError(_ line: String) {
        var text = line
        if !text.hasSuffix("\n") { text += "\n" }
        // write(2) on descriptor 2: no shared FILE*, and unbuffered, so it interleaves correctly with stdout.
        writeAll(2, text.utf8)
    }
}

/// The exit-status section every subcommand's help ends with (README, "Exit status").
enum ExitStatus {
    /// One paragraph, status by status: `success` for 0, `unreadable` for 2, `problem` for 3
    /// (`nil`: the command does not use it). A paragraph, as the help wraps it to the screen.
    static func help(success: String, unreadable: String, problem: String? = nil) -> String {
        "Exit status: 0 \(success); 1 a usage error (an unknown option, a missing or bad value); "
            + "2 \(unreadable); \(problem.map { "3 \($0)" } ?? "3 is not used"). "
            + "Every error is one line on stderr."
    }
}

extension AnalysisResult {
    /// The result as the text summary shows it: its warnings go to stderr instead.
    var withoutWarnings: AnalysisResult {
        var shown = self
        shown.warnings = []
        return shown
    }
}
