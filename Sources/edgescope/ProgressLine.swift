import Engine
import Reporting
#if canImport(Glibc)
import Glibc
#endif

/// The one line `analyze` keeps redrawing on stderr while it reads a long capture: how much was
/// read, packets, connections judged and incidents so far (the words of `capture`'s status
/// line), the rate and, for a file, the percentage and the time left. Only on a terminal, only
/// after the first two seconds, at most four times a second; cleared before anything else is
/// printed.
final class ProgressLine {
    /// Connections judged so far, and the failing ones among them (incidents, as `capture` says).
    struct Counts {
        var connections = 0
        var incidents = 0

        mutating func add(_ reports: [ConnectionReport]) {
            self.connections += reports.count
            // Read in place: `count(where:)` copied every report out to look at its verdict.
            self.incidents += reports.withUnsafeBufferPointer { judged in
                var failures = 0
                for index in judged.indices where Summary.isFailure(judged[index]) { failures += 1 }
                return failures
            }
        }
    }

    /// Runs shorter than this show nothing.
    static let delay: Int64 = 2_000_000_000
    /// The line is redrawn at most this often.
    static let interval: Int64 = 250_000_000

    private let start: Int64
    private var next: Int64
    private var shown = false

    /// A line for a run starting now, or `nil` when stderr is not a terminal (a script, CI,
    /// `--json | jq`).
    init?() {
        guard isatty(2) == 1 else { return nil }
        self.start = Self.now()
        self.next = self.start &+ Self.delay
    }

    /// Redraws the line when it is time to; `fileSize` is `nil` for a pipe.
    func update(bytesRead: Int, fileSize: Int?, packets: UInt64, counts: Counts) {
        let now = Self.now()
        guard now >= self.next else { return }
        self.next = now &+ Self.interval
        let text = Self.text(
            bytesRead: bytesRead, fileSize: fileSize, packets: packets, counts: counts,
            elapsed: Double(now &- self.start) / 1e9)
        var size = winsize()
        let columns = ioctl(2, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 1 ? Int(size.ws_col) - 1 : 200
        // Cut to the terminal's width: a wrapped line could not be redrawn in place.
        writeAll(2, ("\r" + String(text.prefix(columns)) + "\u{1B}[K").utf8)
        self.shown = true
    }

    /// Removes the line, if it was drawn.
    func clear() {
        guard self.shown else { return }
        writeAll(2, "\r\u{1B}[K".utf8)
        self.shown = false
    }

    /// `edgescope: 42% of 612 MiB read, 1234567 packets, 2345 connections judged, 12 incidents,
    /// 310 MiB/s, 2 s left` (for a pipe: `edgescope: 612 MiB read, ..., 310 MiB/s`).
    static func text(bytesRead: Int, fileSize: Int?, packets: UInt64, counts: Counts, elapsed: Double) -> String {
        let mebibyte = Double(1 << 20)
        let rate = elapsed > 0 ? Double(bytesRead) / elapsed : 0
        var read = "\(Int(Double(bytesRead) / mebibyte)) MiB read"
        var left = ""
        if let fileSize, fileSize > 0 {
            let percent = min(100, bytesRead * 100 / fileSize)
            read = "\(percent)% of \(Int((Double(fileSize) / mebibyte).rounded(.up))) MiB read"
            if rate > 0 { left = ", " + Self.duration(Double(max(0, fileSize - bytesRead)) / rate) + " left" }
        }
        return "edgescope: \(read), \(packets) packets, \(counts.connections) connections judged, \(counts.incidents) incidents, "
            + "\(Int((rate / mebibyte).rounded())) MiB/s\(left)"
    }

    /// `45 s`, `3 min 5 s`.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole) s" : "\(whole / 60) min \(whole % 60) s"
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
    }
}
