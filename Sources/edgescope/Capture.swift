import ArgumentParser
import CaptureModel
import Diagnosis
import Engine
import OpenSSLAdapters
import PacketDecoding
import PcapSource
import Reporting
import TCPReassembly
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
            Writes one JSON object per failing connection to DIR/incidents.jsonl, its packets to \
            DIR/slices/<id>.pcap and one line to stderr as verdicts land; on SIGINT, SIGTERM or \
            --duration, judges the open connections and writes DIR/report.json, DIR/report.md and \
            DIR/report.html. A new DIR is made 0700 for the user the capture runs as; an existing DIR \
            keeps its owner and mode and must be writable by that user. A reused DIR keeps no \
            report, incident log or slice of an earlier run (other files are left alone).

            """ + ExitStatus.help(
                success: "captured and reported",
                unreadable: "the interface cannot be opened, --user does not exist, or an output, key log or gateway log cannot be written or read"))

    @Option(name: [.customLong("interface"), .customShort("i")], help: ArgumentHelp("The interface to capture on.", valueName: "iface"))
    var interface: String

    @Option(name: .customLong("upstream"), help: ArgumentHelp(
        "An upstream server, [NAME=]ADDR[:PORT]; repeatable. Builds the capture filter; only connections to these are reported.",
        valueName: "upstream"))
    var upstreams: [String] = []

    @Option(name: .customLong("gateway-address"), help: ArgumentHelp(
        "Where the gateway listens for its clients, ADDR[:PORT]; repeatable. Connections to it are the client hop (captured too when --upstream builds the filter).",
        valueName: "addr"))
    var gatewayAddresses: [String] = []

    @Option(help: ArgumentHelp("A BPF filter to use instead of the one --upstream builds.", valueName: "bpf"))
    var filter: String?

    // 64 KiB and a little: the largest IPv4 or IPv6 packet (TSO/GRO included) with its link
    // header. More only matters in immediate mode, where each slot of the kernel's ring is
    // the snap length: libpcap's 256 KiB default there overflows the ring in a loopback burst.
    @Option(parsing: .unconditional, help: "Bytes kept of each packet.")
    var snaplen: Int = 65_535 + 64

    @Option(name: .customLong("buffer-size"), parsing: .unconditional, help: ArgumentHelp("The kernel capture buffer, in bytes.", valueName: "bytes"))
    var bufferSize: Int = 32 << 20

    @Flag(help: "Hand each packet over as it arrives rather than in blocks of up to 100 ms (more CPU, a less dense kernel buffer).")
    var immediate = false

    @Flag(help: "Put the interface in promiscuous mode.")
    var promiscuous = false

    @Option(help: ArgumentHelp("Write incidents.jsonl, slices/<id>.pcap, report.json, report.md and report.html into this directory.", valueName: "dir"))
    var out: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many seconds (default: run until SIGINT or SIGTERM).", valueName: "seconds"))
    var duration: Double?

    @Flag(help: "Print each incident's JSON line to stdout instead of the final text summary.")
    var json = false

    @Option(help: ArgumentHelp(GatewayOption.help, valueName: "gateway"))
    var gateway: String = GatewayProfile.default.name

    @Flag(name: .customLong("no-redact"), help: "Show credential values (Authorization, Cookie, API tokens) in evidence as sent; the reports say so.")
    var noRedact = false

    @OptionGroup var trust: TrustOptions

    @Option(help: ArgumentHelp("An NSS key log (SSLKEYLOGFILE) to decrypt TLS sessions with, followed as the gateway appends to it.", valueName: "file"))
    var keylog: String?

    @Option(help: ArgumentHelp("The user to run as once the interface is open, when started as root (default: nobody).", valueName: "name"))
    var user: String?

    @Option(name: .customLong("ring-mb"), parsing: .unconditional, help: ArgumentHelp(
        "Memory for the packets of open connections, kept for their slices, in MiB (1 MiB per connection at most).",
        valueName: "mib"))
    var ringMiB: Int = 64

    @Option(name: .customLong("max-connections"), parsing: .unconditional, help: ArgumentHelp(
        "Connections tracked at once; past it the quietest is judged early (limit.flow_table).", valueName: "n"))
    var maxConnections: Int = 100_000

    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds without a packet after which a connection is judged with what was seen.", valueName: "seconds"))
    var idleTimeout: Double = 300

    @Option(name: .customLong("metrics-file"), help: ArgumentHelp(
        "Rewrite this Prometheus text file every few seconds, atomically (node_exporter's textfile collector); its directory must be writable by --user.",
        valueName: "path"))
    var metricsFile: String?

    @Option(name: .customLong("write-pcap"), help: ArgumentHelp(
        "Also keep the whole filtered capture in PREFIX.000001.pcap, PREFIX.000002.pcap...; the directory must be writable by --user.",
        valueName: "prefix"))
    var writePcap: String?

    @Option(name: .customLong("rotate-mb"), parsing: .unconditional, help: ArgumentHelp("With --write-pcap: start a new file past this many MiB.", valueName: "mib"))
    var rotateMiB: Int = 100

    @Option(name: .customLong("keep"), parsing: .unconditional, help: ArgumentHelp("With --write-pcap: keep this many files, deleting the oldest (0: keep all).", valueName: "files"))
    var keepFiles: Int = 10

    @Option(name: .customLong("keep-connections"), parsing: .unconditional, help: ArgumentHelp(
        "Connections listed in the final report.json, failures first; the rest are counted.", valueName: "n"))
    var keepConnections: Int = 10_000

    /// How often the status line is printed.
    static let statusInterval: Int64 = 10_000_000_000
    /// How often the metrics file is rewritten and the rotating capture flushed.
    static let metricsInterval: Int64 = 5_000_000_000

    @OptionGroup var gatewayLogOptions: GatewayLogOptions

    func validate() throws {
        guard self.snaplen > 0 else { throw ValidationError("--snaplen must be positive") }
        guard self.bufferSize > 0 else { throw ValidationError("--buffer-size must be positive") }
        // isFinite: an infinite count of seconds does not fit the nanosecond clock.
        if let duration = self.duration, !(duration > 0 && duration.isFinite) {
            throw ValidationError("--duration must be a positive number of seconds")
        }
        guard self.ringMiB > 0 else { throw ValidationError("--ring-mb must be positive") }
        guard self.maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard self.idleTimeout > 0, self.idleTimeout.isFinite else { throw ValidationError("--idle-timeout must be a positive number of seconds") }
        guard self.keepConnections >= 0 else { throw ValidationError("--keep-connections must not be negative") }
        guard self.rotateMiB > 0 else { throw ValidationError("--rotate-mb must be positive") }
        guard self.keepFiles >= 0 else { throw ValidationError("--keep must not be negative") }
    }

    func run() throws {
        let profile = try GatewayOption.parse(self.gateway)
        var specs: [UpstreamSpec] = []
        for text in self.upstreams {
            guard let spec = UpstreamSpec(parsing: text) else {
                throw ToolFailure(status: 1, message: "--upstream '\(text)' is not [NAME=]ADDR[:PORT] (for IPv6: [ADDR]:PORT)")
            }
            specs.append(spec)
        }
        let listeners = try GatewayAddressOption.parse(self.gatewayAddresses)
        let filter = self.filter ?? Self.filter(for: specs, gateways: listeners)
        // Everything that needs root's eyes is read before the capture opens and root is given up.
        let target = try self.targetUser()
        let verifier = try self.trust.chainVerifier()
        let follower = try self.keylog.map { try KeyLogFollower(path: $0) }
        // Followed as the gateway writes; the lines are joined to the final report's connections
        // and client errors, and those that can reach none of them are let go as it runs.
        let gatewayLog = try self.gatewayLogOptions.open()
        gatewayLog?.refresh()
        let decryption = follower.map { TLSConnection.Decryption(keyLog: $0.keyLog, crypto: OpenSSLCrypto(), waitForKeys: true) }

        let capture: LiveCapture
        do {
            capture = try LiveCapture(
                interface: self.interface, snapLength: self.snaplen, bufferSize: self.bufferSize, promiscuous: self.promiscuous,
                batchMilliseconds: self.immediate ? nil : 100)
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

        // Reports hold upstream traffic: readable by their owner only.
        umask(0o077)
        let (output, incidents, metricsFile, pcapWriterMade) = try self.prepareOutput(as: target, linkType: capture.linkType, snapLength: capture.snapLength)
        var pcapWriter = pcapWriterMade
        Self.installSignalHandlers()

        var limits = ReassemblyLimits()
        limits.maxConnections = self.maxConnections
        limits.idleTimeout = Int64(self.idleTimeout * 1_000_000_000)
        var options = AnalysisOptions(limits: limits, upstreams: specs, gateway: profile, verifier: verifier, decryption: decryption)
        options.gatewayAddresses = listeners
        options.retention = .bounded(self.keepConnections)
        options.queueEnded = true
        // An incident is written at the gateway's FIN or the RST, not after the linger.
        options.judgesAtGatewayClose = true
        options.redactsSecrets = !self.noRedact
        var engine = Engine(linkType: capture.linkType, options: options)
        var ring = PacketRing(totalBytes: self.ringMiB << 20)
        let slices: SliceWriter
        do {
            slices = try SliceWriter(linkType: capture.linkType, snapLength: capture.snapLength)
        } catch {
            throw ToolFailure(status: 2, message: "cannot write slices: \(error.description)")
        }
        var incidentSink = IncidentSink(log: incidents, slices: slices, directory: self.out, json: self.json)
        if metricsFile != nil {
            incidentSink.metrics = LiveMetrics(interface: self.interface, filter: filter, version: Version.release, startTime: Self.wallClock())
        }
        var pcapFailure: CaptureError?
        /// Every captured frame: to the engine, the packet ring and the rotating capture.
        func take(_ frame: RawFrame) {
            let decoded = engine.process(frame)
            // A late packet of a connection judged at its close: its slice was cut already.
            if !engine.lastFrameWasLate { ring.record(frame, decoded: decoded) }
            guard let writer = pcapWriter else { return }
            do {
                try writer.write(frame)
            } catch {
                // A full disk stops the rotating capture, not the analysis.
                pcapFailure = error
                pcapWriter = nil
                Edgescope.warn("--write-pcap stopped: \(error.description)", covering: Self.pcapStoppedWarning(error))
            }
        }
        func publish(final: Bool) throws {
            guard let metricsFile, var metrics = incidentSink.metrics else { return }
            metrics.lastUpdate = Self.wallClock()
            metrics.liveConnections = final ? 0 : engine.liveConnections
            // Frames handed over, not pcap_stats' ps_recv: on loopback the kernel counts each
            // packet twice (out and in) and libpcap hands over one copy.
            metrics.packetsReceived = UInt64(capture.framesRead)
            if let stats = capture.statistics() {
                metrics.kernelDrops = UInt64(stats.droppedByKernel)
                metrics.interfaceDrops = UInt64(stats.droppedByInterface)
            }
            incidentSink.metrics = metrics
            try metricsFile.write(metrics.exposition())
        }
        try publish(final: false)
        Edgescope.printError("edgescope: capturing on \(Terminal.safe(self.interface)) (\(capture.linkType)), filter '\(Terminal.safe(filter))'\(target.map { ", running as \($0.name)" } ?? "")")

        let start = Self.monotonicNow()
        let deadline = self.duration.map { start &+ Int64($0 * 1_000_000_000) }
        var nextStatus = start &+ Self.statusInterval
        var nextMetrics = start &+ Self.metricsInterval
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
            gatewayLog?.refresh()
            if ready > 0 {
                do {
                    _ = try capture.dispatch(take)
                } catch {
                    failure = error
                    break
                }
            }
            let wall = Self.wallClock()
            engine.tick(now: wall)
            try incidentSink.report(engine.takeEnded(), ring: &ring)
            // Lines are joined when the capture ends: those nothing left can join are let go.
            gatewayLog?.dropUnjoinable(reach: { engine.logJoinReach() }, now: wall)
            if Self.monotonicNow() >= nextMetrics {
                nextMetrics &+= Self.metricsInterval
                try? pcapWriter?.flush()
                try publish(final: false)
            }
            if Self.monotonicNow() >= nextStatus {
                nextStatus &+= Self.statusInterval
                // Packets of connections the flow table never tracked (stray segments) are let go
                // once no connection could still claim them.
                ring.expire(before: Timestamp(nanoseconds: wall.nanoseconds &- limits.idleTimeout &- limits.closedLinger &- 60_000_000_000))
                let drops = capture.statistics().map { "\($0.droppedByKernel) kernel drops, \($0.droppedByInterface) interface drops" } ?? "drops unknown"
                Edgescope.printError(
                    "edgescope: \(incidentSink.connections) connections judged, \(engine.liveConnections) open, \(incidentSink.incidents) incidents, \(drops), \(ring.bytesHeld >> 20) MiB of packets held")
            }
        }

        // Whatever was waiting when the stop came is still judged.
        if failure == nil {
            _ = try? capture.dispatch(take)
        }
        follower?.refresh(into: &engine)
        let stats = capture.statistics()
        if let failure {
            let warning = "The live capture stopped early: \(failure.reason)."
            engine.addWarning(warning)
            Edgescope.warn("\(failure.description); reporting what was captured", covering: warning)
        }
        if let stats, stats.droppedByKernel > 0 || stats.droppedByInterface > 0 {
            engine.addWarning("\(stats.droppedByKernel) packet(s) were dropped by the kernel and \(stats.droppedByInterface) by the interface: their connections may show gaps that were not on the wire.")
        }
        if let pcapWriter {
            do {
                try pcapWriter.close()
            } catch {
                pcapFailure = error
            }
        }
        if let pcapFailure {
            engine.addWarning(Self.pcapStoppedWarning(pcapFailure))
        }
        if ring.connectionsEvicted > 0 {
            engine.addWarning("The packets of \(ring.connectionsEvicted) connection(s) were let go to stay within --ring-mb \(self.ringMiB); slices written for them later are incomplete.")
        }
        var result = engine.finish()
        try incidentSink.report(engine.takeEnded(), ring: &ring)
        if let gatewayLog {
            gatewayLog.finish()
            for index in result.connections.indices { gatewayLog.annotate(&result.connections[index]) }
            gatewayLog.finish(&result)
        }
        incidents.close()
        try publish(final: true)

        let source = SourceInfo(path: "live:\(self.interface)", snapLength: capture.snapLength, readError: failure?.reason)
        Edgescope.warn(report: result.warnings)
        let listed = Set(result.connections.map(\.id))
        var document = JSONReport.document(result, source: source, slices: incidentSink.slicePaths.filter { listed.contains($0.key) })
        if case .object(var members) = document {
            let block: JSONValue = .object([
                ("interface", .string(self.interface)),
                ("filter", .string(filter)),
                ("kernel_drops", stats.map { .number($0.droppedByKernel) } ?? .null),
                ("interface_drops", stats.map { .number($0.droppedByInterface) } ?? .null),
                // pcap_stats' count: on loopback each packet twice (sent and received).
                ("received", stats.map { .number($0.received) } ?? .null),
                ("frames_captured", .number(capture.framesRead)),
                ("incidents", .number(incidentSink.incidents)),
                ("ring_bytes_limit", .number(self.ringMiB << 20)),
                ("ring_connections_evicted", .number(ring.connectionsEvicted)),
                ("user", .optional(target?.name)),
                ("write_pcap", .optional(self.writePcap)),
            ])
            let at = (members.firstIndex { $0.0 == "source" } ?? members.count - 1) + 1
            members.insert(("capture", block), at: at)
            document = .object(members)
        }
        try output.write("report.json", document.serialized(pretty: true) + "\n")
        let rendered = JSONReport.renderings(of: document)
        try output.write("report.md", rendered.markdown)
        try output.write("report.html", rendered.html)
        if !self.json {
            print(TextSummary.render(result.withoutWarnings, source: source), terminator: "")
            let slices = incidentSink.slicePaths.count
            print("\nIncidents in \(self.out)/incidents.jsonl (\(incidentSink.incidents))\(slices == 0 ? "" : ", \(slices) slice(s) in \(self.out)/slices/"); reports written to \(self.out)/report.json, \(self.out)/report.md and \(self.out)/report.html")
        }
        if let failure {
            throw ToolFailure(status: 2, message: "capture on \(failure.description)")
        }
    }

    /// `tcp and ((host A and port P) or (host B) ...)`, or `tcp` with no upstream; with
    /// `--gateway-address`, its listeners too.
    static func filter(for specs: [UpstreamSpec], gateways: [GatewayAddress] = []) -> String {
        // The gateway's DNS (UDP and TCP port 53) always: a name that does not resolve leaves no
        // upstream connection to see.
        guard !specs.isEmpty else { return "tcp or \(Self.dnsFilter)" }
        let terms = specs.map { spec in
            "(host \(spec.address.text)\(spec.port.map { " and port \($0)" } ?? ""))"
        } + gateways.map { listener in
            "(host \(listener.address.text)\(listener.port.map { " and port \($0)" } ?? ""))"
        }
        return "(tcp and (\(terms.joined(separator: " or ")))) or \(Self.dnsFilter)"
    }

    /// DNS over UDP and TCP.
    static let dnsFilter = "port 53"

    /// Makes everything the run writes to, and gives up root (when `target` is given) for good.
    ///
    /// Only directories this run makes are handed to `target`; one that was already there keeps
    /// its owner and mode, and must already be writable by `target`. The files are made with
    /// `target`'s effective ids while root can still be taken back: if any step fails, root
    /// removes what this run made (and nothing else) and the start fails with one line. Once all
    /// is made, what an earlier run left in the directory (reports, its incident log, its
    /// slices) is removed, so the directory holds only this run's files.
    private func prepareOutput(
        as target: TargetUser?, linkType: LinkType, snapLength: Int
    ) throws -> (OutputDirectory, IncidentLog, MetricsFile?, RotatingPcapWriter?) {
        let output = try OutputDirectory(path: self.out)
        var madeSlices = false
        var incidents: IncidentLog?
        let metricsFile = self.metricsFile.map(MetricsFile.init(path:))
        var pcapWriter: RotatingPcapWriter?
        do {
            var rootGroups: [gid_t] = []
            if let target {
                for directory in output.created where chown(directory, target.uid, target.gid) != 0 {
                    throw ToolFailure(status: 2, message: "cannot hand \(directory) to user \(target.name): \(String(cString: strerror(errno)))")
                }
                rootGroups = try Self.assume(target)
            }
            defer { if target != nil { Self.resumeRoot(groups: rootGroups) } }
            try Self.checkWritable(self.out, by: target, made: output.isNew)
            madeSlices = try output.makeSubdirectory("slices")
            try Self.checkWritable(self.out + "/slices", by: target, made: madeSlices)
            incidents = try IncidentLog(path: self.out + "/incidents.jsonl")
            try metricsFile?.check()
            if let prefix = self.writePcap {
                do {
                    pcapWriter = try RotatingPcapWriter(
                        prefix: prefix, linkType: linkType, snapLength: snapLength, maximumFileBytes: self.rotateMiB << 20,
                        filesKept: self.keepFiles)
                } catch {
                    throw ToolFailure(status: 2, message: "--write-pcap: \(error.description)")
                }
            }
            // Everything is made: from here on the directory is this run's.
            for name in ["report.json", "report.md", "report.html"] {
                let path = self.out + "/" + name
                if unlink(path) != 0, errno != ENOENT {
                    throw ToolFailure(status: 2, message: "cannot remove \(path), an earlier run's report: \(String(cString: strerror(errno)))")
                }
            }
            try incidents?.commit()
            try output.removeStaleSlices(keeping: [])
        } catch {
            incidents?.discard()
            if let pcapWriter {
                try? pcapWriter.close()
                unlink(pcapWriter.path(ofFile: 1))
            }
            if madeSlices { rmdir(self.out + "/slices") }
            output.removeCreated()
            throw error
        }
        if let target { try Self.dropPrivileges(to: target) }
        guard let incidents else { preconditionFailure("the incident log is made before anything can succeed") }
        return (output, incidents, metricsFile, pcapWriter)
    }

    /// Fails with one line unless this process (acting as `target`) can make files in
    /// `directory`; `made`: this run made it.
    private static func checkWritable(_ directory: String, by target: TargetUser?, made: Bool) throws {
        guard faccessat(AT_FDCWD, directory, W_OK | X_OK, AT_EACCESS) != 0 else { return }
        let reason = String(cString: strerror(errno))
        guard let target else {
            throw ToolFailure(status: 2, message: "cannot write to \(directory): \(reason)")
        }
        if made {
            throw ToolFailure(status: 2, message: "user \(target.name) cannot reach \(directory), made for it (is a parent directory closed to it?)")
        }
        throw ToolFailure(
            status: 2,
            message: "user \(target.name) cannot write to \(directory), which exists, and edgescope never changes the owner or mode of a directory it did not make: give a new --out (made for \(target.name)), one \(target.name) can write to, or another --user")
    }

    /// Takes `target`'s groups and effective ids, keeping root as the real and saved user, so
    /// what is made now belongs to `target` and is checked against its permissions, and
    /// `resumeRoot` can still undo it. Returns root's supplementary groups.
    private static func assume(_ target: TargetUser) throws -> [gid_t] {
        var groups = [gid_t](repeating: 0, count: Int(getgroups(0, nil)))
        let count = getgroups(Int32(groups.count), &groups)
        groups = count > 0 ? Array(groups[..<Int(count)]) : []
        guard initgroups(target.name, target.gid) == 0, setegid(target.gid) == 0, seteuid(target.uid) == 0 else {
            let reason = String(cString: strerror(errno))
            Self.resumeRoot(groups: groups)
            throw ToolFailure(status: 2, message: "cannot act as user \(target.name): \(reason)")
        }
        return groups
    }

    /// Back to root's effective ids and `groups`, after `assume`.
    private static func resumeRoot(groups: [gid_t]) {
        guard seteuid(0) == 0, setegid(0) == 0, setgroups(groups.count, groups) == 0 else {
            preconditionFailure("root, kept as the saved user id, could not be resumed: \(String(cString: strerror(errno)))")
        }
    }

    /// The report's words for a rotating capture that stopped on `error`.
    private static func pcapStoppedWarning(_ error: CaptureError) -> String {
        "The rotating capture (--write-pcap) stopped early: \(error.reason)."
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
                Edgescope.warn("not running as root; --user \(user) ignored")
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

}

/// Turns each judged connection into an incident when it failed: its slice from the packet
/// ring, its JSON line, its line on stderr.
struct IncidentSink {
    let log: IncidentLog
    let slices: SliceWriter
    let directory: String
    let json: Bool
    /// Connections judged, and the failing ones among them.
    private(set) var connections = 0
    private(set) var incidents = 0
    /// Slice paths by connection id, relative to `directory`.
    private(set) var slicePaths: [UInt32: String] = [:]
    /// Counts for `--metrics-file`, when asked for.
    var metrics: LiveMetrics?

    init(log: IncidentLog, slices: SliceWriter, directory: String, json: Bool) {
        self.log = log
        self.slices = slices
        self.directory = directory
        self.json = json
    }

    mutating func report(_ reports: [ConnectionReport], ring: inout PacketRing) throws {
        for report in reports {
            self.connections += 1
            self.metrics?.record(report)
            let kept = ring.take(report)
            guard Summary.isFailure(report) else { continue }
            self.incidents += 1
            var slice: String?
            if !kept.packets.isEmpty {
                let relative = "slices/\(report.name).pcap"
                do {
                    for packet in kept.packets {
                        try packet.withFrame { frame in try self.slices.write(frame, to: self.directory + "/" + relative) }
                    }
                    self.slices.closeAll()
                    slice = relative
                    self.slicePaths[report.id] = relative
                } catch {
                    self.slices.closeAll()
                    Edgescope.warn("\((error as? CaptureError)?.description ?? "\(error)"); \(report.name) has no slice")
                }
            }
            var entry = JSONReport.connection(report, slice: slice)
            if case .object(var members) = entry, slice != nil {
                members.append(("slice_complete", .bool(kept.complete)))
                members.append(("slice_packets_omitted", .number(kept.omitted)))
                entry = .object(members)
            }
            let line = entry.serialized() + "\n"
            try self.log.append(line)
            let frame = report.findings.first?.evidence.first?.frame ?? report.frames.upperBound
            Edgescope.printError(Terminal.safe(
                "edgescope: \(report.name) \(report.client) → \(report.server) \(report.verdict.code) [\(report.verdict.verdictClass.rawValue)] frame \(frame)"))
            if self.json {
                writeAll(1, line.utf8)
            }
        }
    }
}

/// `DIR/incidents.jsonl`: opened once for appending, 0600, each line written whole with one
/// write(2), so a reader tailing it never sees half a line and nothing waits in a buffer.
///
/// Made new at a temporary name, and renamed over an earlier run's log by `commit()` once the
/// run is sure to start: a start that fails leaves the earlier log as it was.
final class IncidentLog {
    let path: String
    private let temporaryPath: String
    private(set) var descriptor: Int32

    init(path: String) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        self.temporaryPath = directory + ".\(name).tmp.\(getpid())"
        // A temporary file left by an earlier process with this PID (a container's PID 1) is
        // ours to replace; unlink(2) removes a link itself, never what it points to.
        unlink(self.temporaryPath)
        // O_EXCL|O_NOFOLLOW: never write through a link someone left at the name.
        self.descriptor = open(self.temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard self.descriptor >= 0 else {
            throw ToolFailure(status: 2, message: "cannot create \(self.temporaryPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Puts the log at its name, replacing an earlier run's.
    func commit() throws {
        guard rename(self.temporaryPath, self.path) == 0 else {
            throw ToolFailure(status: 2, message: "cannot replace \(self.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Closes and removes the log a start that failed made.
    func discard() {
        self.close()
        unlink(self.temporaryPath)
    }

    deinit { self.close() }

    func append(_ line: String) throws {
        let error = writeAll(self.descriptor, line.utf8)
        guard error == 0 else {
            throw ToolFailure(status: 2, message: "cannot write \(self.path): \(String(cString: strerror(error)))")
        }
    }

    func close() {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }
}
