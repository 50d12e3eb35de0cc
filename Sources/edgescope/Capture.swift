import ArgumentParser
import CaptureModel
import Diagnosis
import Engine
import OpenSSLAdapters
import PcapSource
import Reporting
import TLSRecords
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM; the loop's poll(2) returns EINTR and the loop sees it.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture live on the gateway host and report each failing upstream connection as soon as it is judged.",
        discussion: """
            Writes one JSON object per failing connection to DIR/incidents.jsonl and one line to stderr as \
            verdicts land; on SIGINT, SIGTERM or --duration, judges the open connections and writes \
            DIR/report.json and DIR/report.md. Exit status: 0 captured, 1 usage error (a bad filter), \
            2 the interface cannot be opened or the output cannot be written.
            """)

    @Option(name: [.customLong("interface"), .customShort("i")], help: ArgumentHelp("The interface to capture on.", valueName: "iface"))
    var interface: String

    @Option(name: .customLong("upstream"), help: ArgumentHelp(
        "An upstream server, [NAME=]ADDR[:PORT]; repeatable. Builds the capture filter; only connections to these are reported.",
        valueName: "upstream"))
    var upstreams: [String] = []

    @Option(help: ArgumentHelp("A BPF filter to use instead of the one --upstream builds.", valueName: "bpf"))
    var filter: String?

    @Option(help: "Bytes kept of each packet.")
    var snaplen: Int = 262_144

    @Option(name: .customLong("buffer-size"), help: ArgumentHelp("The kernel capture buffer, in bytes.", valueName: "bytes"))
    var bufferSize: Int = 32 << 20

    @Flag(help: "Put the interface in promiscuous mode.")
    var promiscuous = false

    @Option(help: ArgumentHelp("Write incidents.jsonl, report.json and report.md into this directory.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Stop after this many seconds (default: run until SIGINT or SIGTERM).", valueName: "seconds"))
    var duration: Double?

    @Flag(help: "Print each incident's JSON line to stdout instead of the final text summary.")
    var json = false

    @Option(help: ArgumentHelp("Whose behaviour decides each verdict's class: nginx|haproxy|envoy|strict[:VERSION].", valueName: "gateway"))
    var gateway: String = "nginx"

    @OptionGroup var trust: TrustOptions

    @Option(help: ArgumentHelp("An NSS key log (SSLKEYLOGFILE) to decrypt TLS sessions with.", valueName: "file"))
    var keylog: String?

    @Option(help: ArgumentHelp("The user to run as once the interface is open, when started as root (default: nobody).", valueName: "name"))
    var user: String?

    /// How often the status line is printed.
    static let statusInterval: Int64 = 10_000_000_000

    func validate() throws {
        guard self.snaplen > 0 else { throw ValidationError("--snaplen must be positive") }
        guard self.bufferSize > 0 else { throw ValidationError("--buffer-size must be positive") }
        if let duration = self.duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
    }

    func run() throws {
        guard let profile = GatewayProfile(parsing: self.gateway) else {
            throw ToolFailure(status: 1, message: "--gateway '\(self.gateway)' is not nginx, haproxy, envoy or strict, with an optional :VERSION")
        }
        var specs: [UpstreamSpec] = []
        for text in self.upstreams {
            guard let spec = UpstreamSpec(parsing: text) else {
                throw ToolFailure(status: 1, message: "--upstream '\(text)' is not [NAME=]ADDR[:PORT] (for IPv6: [ADDR]:PORT)")
            }
            specs.append(spec)
        }
        let filter = self.filter ?? Self.filter(for: specs)
        // Everything that needs root's eyes is read before the capture opens and root is given up.
        let target = try self.targetUser()
        let verifier = try self.trust.verifier()
        let follower = try self.keylog.map { try KeyLogFollower(path: $0) }
        let decryption = follower.map { TLSConnection.Decryption(keyLog: $0.keyLog, crypto: OpenSSLCrypto(), waitForKeys: true) }

        let capture: LiveCapture
        do {
            capture = try LiveCapture(interface: self.interface, snapLength: self.snaplen, bufferSize: self.bufferSize, promiscuous: self.promiscuous)
        } catch {
            throw ToolFailure(status: 2, message: "cannot capture on \(error.description)")
        }
        do {
            try capture.setFilter(filter)
        } catch {
            throw ToolFailure(status: 1, message: "--filter: \(error.reason)")
        }
        guard let descriptor = capture.selectableDescriptor else {
            throw ToolFailure(status: 2, message: "cannot capture on \(self.interface): libpcap gives no descriptor to wait on")
        }

        // Reports hold upstream traffic: readable by their owner only. The directory and the
        // incident log are made while still root, then handed to the user the process becomes.
        umask(0o077)
        let output = try OutputDirectory(path: self.out)
        let incidents = try IncidentLog(path: self.out + "/incidents.jsonl")
        if let target {
            guard chown(self.out, target.uid, target.gid) == 0, fchown(incidents.descriptor, target.uid, target.gid) == 0 else {
                throw ToolFailure(status: 2, message: "cannot hand \(self.out) to user \(target.name): \(String(cString: strerror(errno)))")
            }
            try Self.dropPrivileges(to: target)
            guard access(self.out, W_OK | X_OK) == 0 else {
                throw ToolFailure(status: 2, message: "\(self.out) is not writable by user \(target.name) (is a parent directory closed to it?)")
            }
        }
        Self.installSignalHandlers()

        var engine = Engine(
            linkType: capture.linkType,
            options: AnalysisOptions(upstreams: specs, gateway: profile, verifier: verifier, decryption: decryption))
        Edgescope.printError("edgescope: capturing on \(Terminal.safe(self.interface)) (\(capture.linkType)), filter '\(Terminal.safe(filter))'\(target.map { ", running as \($0.name)" } ?? "")")

        let start = Self.monotonicNow()
        let deadline = self.duration.map { start &+ Int64($0 * 1_000_000_000) }
        var nextStatus = start &+ Self.statusInterval
        var counts = Counts()
        var failure: CaptureError?
        while stopRequested == 0 {
            let now = Self.monotonicNow()
            if let deadline, now >= deadline { break }
            var timeout: Int64 = 500
            if let deadline { timeout = min(timeout, max(0, (deadline &- now) / 1_000_000) + 1) }
            var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiting, 1, Int32(timeout))
            if ready < 0 && errno != EINTR {
                failure = CaptureError(code: .readFailed, path: self.interface, reason: "poll: \(String(cString: strerror(errno)))")
                break
            }
            follower?.refresh(into: &engine)
            if ready > 0 {
                do {
                    _ = try capture.dispatch { engine.process($0) }
                } catch {
                    failure = error
                    break
                }
            }
            engine.tick(now: Self.wallClock())
            try self.report(engine.takeEnded(), specs: specs, to: incidents, counts: &counts)
            if Self.monotonicNow() >= nextStatus {
                nextStatus &+= Self.statusInterval
                let drops = capture.statistics().map { "\($0.droppedByKernel) kernel drops, \($0.droppedByInterface) interface drops" } ?? "drops unknown"
                Edgescope.printError("edgescope: \(counts.connections + engine.liveConnections) connections, \(counts.incidents) incidents, \(drops)")
            }
        }

        // Whatever was waiting when the stop came is still judged.
        if failure == nil {
            _ = try? capture.dispatch { engine.process($0) }
        }
        follower?.refresh(into: &engine)
        let stats = capture.statistics()
        if let failure {
            engine.addWarning("The live capture stopped early: \(failure.reason).")
            Edgescope.printError("edgescope: warning: \(failure.description); reporting what was captured")
        }
        if let stats, stats.droppedByKernel > 0 || stats.droppedByInterface > 0 {
            engine.addWarning("\(stats.droppedByKernel) packet(s) were dropped by the kernel and \(stats.droppedByInterface) by the interface: their connections may show gaps that were not on the wire.")
        }
        let result = engine.finish()
        try self.report(engine.takeEnded(), specs: specs, to: incidents, counts: &counts)
        incidents.close()

        let source = SourceInfo(path: "live:\(self.interface)", snapLength: capture.snapLength, readError: failure?.reason)
        var document = JSONReport.document(result, source: source)
        if case .object(var members) = document {
            let block: JSONValue = .object([
                ("interface", .string(self.interface)),
                ("filter", .string(filter)),
                ("kernel_drops", stats.map { .number($0.droppedByKernel) } ?? .null),
                ("interface_drops", stats.map { .number($0.droppedByInterface) } ?? .null),
                ("received", stats.map { .number($0.received) } ?? .null),
                ("incidents", .number(counts.incidents)),
                ("user", .optional(target?.name)),
            ])
            let at = (members.firstIndex { $0.0 == "source" } ?? members.count - 1) + 1
            members.insert(("capture", block), at: at)
            document = .object(members)
        }
        try output.write("report.json", document.serialized(pretty: true) + "\n")
        try output.write("report.md", MarkdownReport.render(result, source: source))
        if !self.json {
            print(TextSummary.render(result, source: source), terminator: "")
            print("\nIncidents in \(self.out)/incidents.jsonl (\(counts.incidents)); reports written to \(self.out)/report.json and \(self.out)/report.md")
        }
        if let failure {
            throw ToolFailure(status: 2, message: "capture on \(failure.description)")
        }
    }

    /// Writes each failing connection among `reports` as an incident.
    private func report(_ reports: [ConnectionReport], specs: [UpstreamSpec], to log: IncidentLog, counts: inout Counts) throws {
        for report in reports {
            // The same scope as the final report: with --upstream, only those servers.
            if !specs.isEmpty, !specs.contains(where: { $0.address == report.server.address && ($0.port ?? report.server.port) == report.server.port }) {
                continue
            }
            counts.connections += 1
            guard Summary.isFailure(report) else { continue }
            counts.incidents += 1
            let line = JSONReport.connection(report, slice: nil).serialized() + "\n"
            try log.append(line)
            let frame = report.findings.first?.evidence.first?.frame ?? report.frames.upperBound
            Edgescope.printError(Terminal.safe(
                "edgescope: \(report.name) \(report.client) → \(report.server) \(report.verdict.code) [\(report.verdict.verdictClass.rawValue)] frame \(frame)"))
            if self.json {
                Self.writeAll(1, line)
            }
        }
    }

    private struct Counts {
        var connections = 0
        var incidents = 0
    }

    /// `tcp and ((host A and port P) or (host B) ...)`, or `tcp` with no upstream.
    static func filter(for specs: [UpstreamSpec]) -> String {
        guard !specs.isEmpty else { return "tcp" }
        let terms = specs.map { spec in
            "(host \(spec.address.text)\(spec.port.map { " and port \($0)" } ?? ""))"
        }
        return "tcp and (\(terms.joined(separator: " or ")))"
    }

    /// The account to become, when running as root.
    struct TargetUser {
        var name: String
        var uid: uid_t
        var gid: gid_t
    }

    private func targetUser() throws -> TargetUser? {
        guard geteuid() == 0 else {
            if let user = self.user {
                Edgescope.printError("edgescope: warning: not running as root; --user \(Terminal.safe(user)) ignored")
            }
            return nil
        }
        let name = self.user ?? "nobody"
        guard let entry = getpwnam(name) else {
            throw ToolFailure(status: 2, message: "--user \(Terminal.safe(name)): no such user")
        }
        return TargetUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Gives up root for good: supplementary groups, group, then user; then checks it took.
    private static func dropPrivileges(to target: TargetUser) throws {
        func fail(_ step: String) -> ToolFailure {
            ToolFailure(status: 2, message: "cannot drop privileges to \(target.name): \(step): \(String(cString: strerror(errno)))")
        }
        guard initgroups(target.name, target.gid) == 0 else { throw fail("initgroups") }
        guard setgid(target.gid) == 0 else { throw fail("setgid") }
        guard setuid(target.uid) == 0 else { throw fail("setuid") }
        guard getuid() == target.uid, geteuid() == target.uid, getgid() == target.gid, getegid() == target.gid else {
            throw ToolFailure(status: 2, message: "cannot drop privileges to \(target.name): the ids did not change")
        }
        // A process that can take root back has not dropped it.
        if target.uid != 0, setuid(0) == 0 {
            throw ToolFailure(status: 2, message: "cannot drop privileges to \(target.name): root could be regained")
        }
    }

    private static func installSignalHandlers() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in stopRequested = 1 }
        sigemptyset(&action.sa_mask)
        // No SA_RESTART: poll(2) must return EINTR so the loop sees the flag at once.
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    private static func monotonicNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
    }

    /// The wall clock, the clock packet timestamps come from.
    private static func wallClock() -> Timestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(seconds: Int64(now.tv_sec), nanoseconds: Int64(now.tv_nsec))
    }

    static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
    }
}

/// `DIR/incidents.jsonl`: opened once for appending, 0600, each line written whole with one
/// write(2), so a reader tailing it never sees half a line and nothing waits in a buffer.
final class IncidentLog {
    let path: String
    private(set) var descriptor: Int32

    init(path: String) throws {
        self.path = path
        self.descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard self.descriptor >= 0 else {
            throw ToolFailure(status: 2, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { self.close() }

    func append(_ line: String) throws {
        var bytes = Array(line.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(self.descriptor, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw ToolFailure(status: 2, message: "cannot write \(self.path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    func close() {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }
}
