@testable import edgescope
import Foundation
import Testing
import TestSupport

/// `analyze`'s progress line: on a terminal only, after two seconds, one line redrawn in place
/// and cleared at the end; never when stderr is a pipe or with --quiet.
struct ProgressLineTests {
    /// Runs `analyze -` on a 4 MiB capture fed by a writer slow enough that the run lasts about
    /// 4.5 s, with stderr on a pseudo-terminal (`terminal`) or a pipe; returns what stderr got.
    static func run(terminal: Bool, quiet: Bool = false) throws -> (status: Int32, stderr: String) {
        let script = """
            import os, subprocess, sys, time
            es, capture, terminal, quiet = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
            data = open(capture, "rb").read()
            feed, fed = os.pipe()
            writer = os.fork()
            if writer == 0:
                os.close(feed)
                for start in range(0, len(data), 65536):
                    os.write(fed, data[start:start + 65536])
                    time.sleep(0.07)
                os._exit(0)
            os.close(fed)
            if terminal:
                reading, errors = os.openpty()
            else:
                reading, errors = os.pipe()
            analyze = subprocess.Popen([es, "analyze", "-"] + (["--quiet"] if quiet else []),
                                       stdin=feed, stdout=subprocess.DEVNULL, stderr=errors)
            os.close(errors)
            os.close(feed)
            got = b""
            while True:
                try:
                    chunk = os.read(reading, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                got += chunk
            analyze.wait()
            os.waitpid(writer, 0)
            sys.stdout.buffer.write(got)
            sys.exit(analyze.returncode)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = [
            "-k", "5", "60", "python3", "-c", script, Paths.buildDirectory + "/edgescope", PipedCaptureTests.generated,
            terminal ? "1" : "0", quiet ? "1" : "0",
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func aLongRunOnATerminalShowsOneUpdatingLine() throws {
        let (status, stderr) = try Self.run(terminal: true)
        #expect(status == 0)
        // Redrawn in place (carriage return, erase to the end of the line), never a new line.
        #expect(stderr.hasPrefix("\redgescope: "), "\(stderr.debugDescription)")
        #expect(!stderr.contains("\n"), "\(stderr.debugDescription)")
        #expect(stderr.hasSuffix("\u{1B}[K\r\u{1B}[K"), "cleared at the end: \(stderr.debugDescription)")
        let line = try #require(stderr.split(separator: "\r").first { $0.hasPrefix("edgescope: ") })
        // A pipe: bytes and rate, no percentage, no time left.
        let pattern = #/edgescope: \d+ MiB read, \d+ packets, \d+ connections judged, \d+ incidents, \d+ MiB/s\e\[K/#
        #expect(line.wholeMatch(of: pattern) != nil, "\(line.debugDescription)")
    }

    @Test func nothingWhenStderrIsNotATerminal() throws {
        let (status, stderr) = try Self.run(terminal: false)
        #expect(status == 0)
        #expect(stderr.isEmpty, "\(stderr.debugDescription)")
    }

    @Test func quietSilencesIt() throws {
        let (status, stderr) = try Self.run(terminal: true, quiet: true)
        #expect(status == 0)
        #expect(stderr.isEmpty, "\(stderr.debugDescription)")
    }

    /// For a file: how much of it, and the time left at the rate so far.
    @Test func aFileShowsItsPercentageAndTheTimeLeft() {
        let counts = ProgressLine.Counts(connections: 2345, incidents: 12)
        #expect(
            ProgressLine.text(bytesRead: 300 << 20, fileSize: 1000 << 20, packets: 1_234_567, counts: counts, elapsed: 2)
                == "edgescope: 30% of 1000 MiB read, 1234567 packets, 2345 connections judged, 12 incidents, 150 MiB/s, 5 s left")
        #expect(
            ProgressLine.text(bytesRead: 100 << 20, fileSize: nil, packets: 10, counts: counts, elapsed: 4)
                == "edgescope: 100 MiB read, 10 packets, 2345 connections judged, 12 incidents, 25 MiB/s")
        #expect(ProgressLine.duration(185) == "3 min 5 s")
        #expect(ProgressLine.duration(0.2) == "1 s")
    }
}
