import ArgumentParser
import OpenSSLAdapters
import CaptureModel
import Diagnosis
import Engine
import PacketDecoding
import PcapSource
import Reporting
import TLSRecords
#if canImport(Glibc)
import Glibc
#endif

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse a .pcap or .pcapng capture of the gateway-to-upstream hop.",
        discussion: ExitStatus.help(
            success: "the capture was analysed, whatever it found",
            unreadable: "a capture, key log, CA file or gateway log that cannot be read (or a gateway log none of whose lines is in a layout edgescope reads), or an output that cannot be written",
            problem: "a connection of a --fail-on class was found (after every output was written)"))

    enum SliceSelection: String, ExpressibleByArgument, CaseIterable {
        case failed, all, none
    }

    @Argument(help: "The capture: a .pcap or .pcapng file, plain or compressed (gzip, zstd, xz), or - for standard input; pipes and FIFOs are read as they come.")
    var capture: String

    @Option(name: .customLong("upstream"), help: ArgumentHelp(
        "An upstream server, [NAME=]ADDR[:PORT]; repeatable. Only connections to these are reported.",
        valueName: "upstream"))
    var upstreams: [String] = []

    @Option(help: ArgumentHelp(GatewayOption.help, valueName: "gateway"))
    var gateway: String = GatewayProfile.default.name

    @Option(name: .customLong("gateway-address"), help: ArgumentHelp(
        "Where the gateway listens for its clients, ADDR[:PORT]; repeatable. When the capture also holds the client hop, connections to it are examined for the errors clients got (inferred from the requests without this option).",
        valueName: "addr"))
    var gatewayAddresses: [String] = []

        @Option(help: ArgumentHelp("Write report.json, report.md, report.html and slices/<id>.pcap into this directory.", valueName: "dir"))
    var out: String?

    @Option(help: "Which connections get a pcap slice with --out: failed, all or none (all implies --list all).")
    var slices: SliceSelection = .failed

    @Option(help: ArgumentHelp(
        "Which connections report.json lists: failed (those the gateway failed in full, an upstream's own 5xx in short; healthy ones are only counted, per upstream) or all (every connection in full, and one line each in connections.jsonl). --json on stdout lists every connection either way, healthy ones in short unless all.",
        valueName: "which"))
    var list: StreamedReport.Listing = .failed

    @Flag(help: "Print the JSON report to stdout instead of the text summary.")
    var json = false

    @Flag(name: .customLong("no-redact"), help: "Show credential values (Authorization, Cookie, API tokens) in evidence as sent; the reports say so.")
    var noRedact = false

    @OptionGroup var trust: TrustOptions

    @OptionGroup var gatewayLogOptions: GatewayLogOptions

    @Option(help: ArgumentHelp("An NSS key log (SSLKEYLOGFILE) to decrypt TLS sessions with.", valueName: "file"))
    var keylog: String?

    @Option(name: .customLong("fail-on"), help: ArgumentHelp(
        "Exit with status 3, after writing every output, when a connection of these classes is found: \(VerdictClass.allCases.map(\.rawValue).joined(separator: ", ")) (comma-separated; repeatable).",
        valueName: "classes"))
    var failOn: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Analyse on N threads (1-64): one reads and decodes, N analyse connections sharded by their endpoints, and the report is the same as with 1. Each shard gets 1/N of the flow table and reassembly memory, so only a capture that fills them (limit.flow_table, limit.reassembly_buffer) may be reported differently.",
        valueName: "n"))
    var threads = 1

    @Flag(help: "No progress line on stderr (shown only when stderr is a terminal and the run lasts over 2 s).")
    var quiet = false

    func run() throws {
        let failClasses = try Self.classes(self.failOn)
        guard (1...64).contains(self.threads) else {
            throw ToolFailure(status: 1, message: "--threads \(self.threads): give 1 to 64 threads")
        }
        let profile = try GatewayOption.parse(self.gateway)
        var specs: [UpstreamSpec] = []
        for text in self.upstreams {
            guard let spec = UpstreamSpec(parsing: text) else {
                throw ToolFailure(status: 1, message: "--upstream '\(text)' is not [NAME=]ADDR[:PORT] (for IPv6: [ADDR]:PORT)")
            }
            specs.append(spec)
        }

        let listeners = try GatewayAddressOption.parse(self.gatewayAddresses)

        let verifier = try self.trust.chainVerifier()
        let gatewayLog = try self.gatewayLogOptions.open()
        try gatewayLog?.readAll()
        let decryption = try self.keylog.map { path in
            TLSConnection.Decryption(keyLog: try KeyLogFile.read(path), crypto: OpenSSLCrypto())
        }
        // From the start: reading a pipe's first block may take a while.
        let progress = self.quiet ? nil : ProgressLine()
        let reader: PcapReader
        do {
            // Opened once: a pipe cannot be read again, so one that slices will be cut from keeps a copy.
            reader = try PcapReader(path: self.capture, keepsCopy: self.out != nil && self.slices != .none)
        } catch {
            throw ToolFailure(status: 2, message: "cannot read capture \(error.description)")
        }
        var options = AnalysisOptions(upstreams: specs, gateway: profile, verifier: verifier, decryption: decryption)
        options.redactsSecrets = !self.noRedact
        options.gatewayAddresses = listeners
        // Judged connections stream to the report as they come; the engine keeps only the
        // worst for the summary, so memory follows concurrent connections, not the capture.
        options.queueEnded = true
        options.retention = .bounded(Self.connectionsKept)

        // Reports and slices hold upstream traffic: readable by their owner only.
        umask(0o077)
        let output = try self.out.map(OutputDirectory.init(path:))
        let selection = self.out == nil ? SliceSelection.none : self.slices
        if let out = self.out, selection != .none {
            do { try reader.keepCopy(in: out) } catch { throw ToolFailure(status: 2, message: "cannot write slices: \(error.description)") }
        }
        // Without --out or --json no report is written: judged connections are only counted.
        // A slice of every connection needs report.json to name every connection.
        let listing = selection == .all ? StreamedReport.Listing.all : self.list
        let report = self.out == nil && !self.json ? nil : try StreamedReport(directory: self.out, listing: listing, printsJSON: self.json) { connection in
            switch selection {
            // A relayed 5xx is the upstream's own answer, passed on as it should be: its slice
            // would only repeat the status line the report already shows (--slices all has it).
            case .failed: return Summary.isFailure(connection) && connection.verdict.verdictClass != .relayed
            case .all: return true
            case .none: return false
            }
        }
        var (result, readError) = self.threads == 1
            ? try Self.analyse(Engine(linkType: reader.linkType, options: options), reader: reader, report: report, progress: progress, gatewayLog: gatewayLog)
            : try Self.analyse(
                ShardedEngine(linkType: reader.linkType, options: options, shards: self.threads), reader: reader, report: report,
                progress: progress, gatewayLog: gatewayLog)
        if let gatewayLog {
            for index in result.connections.indices { gatewayLog.restore(&result.connections[index]) }
            gatewayLog.finish(&result)
        }
        // The engine keeps only the worst connections for the summary (`connectionsKept`) and
        // warns that the rest are not listed; report.json lists what `--list` says and its
        // totals count the rest, so that warning would be wrong here.
        let unlistedWarning = "\(result.unlistedConnections) of \(result.tally.connections) connection(s) are counted but not listed"
        result.warnings.removeAll { $0.hasPrefix(unlistedWarning) }
        let source = SourceInfo(path: self.capture, snapLength: reader.snapLength, readError: readError)
        Edgescope.warn(report: result.warnings)
        let assembled = try report?.assemble(result, source: source)

        var sliceCount = 0
        if let output, let out = self.out, let report, let (head, tail, document) = assembled {
            // The pages render on a second thread meanwhile; every file is written in the same order.
            let pages = BackgroundRendering(document)
            let written = Result {
                sliceCount = try self.writeSlices(report.slices, directory: out, output: output, reader: reader)
                try output.write("report.json") { emit in try report.emit(head: head, tail: tail, emit) }
                if listing == .all {
                    try output.write("connections.jsonl") { emit in try report.emitLines(emit) }
                } else {
                    try output.removeStaleFile("connections.jsonl")
                }
            }
            let (markdown, html) = pages.wait()
            try written.get()
            try output.write("report.md", markdown)
            try output.write("report.html", html)
        }
        if self.json, let report, let (head, tail, _) = assembled {
            try report.emit(head: head, tail: tail, target: .standardOutput) { bytes in writeAll(1, bytes) }
        } else {
            print(TextSummary.render(result.withoutWarnings, source: source, listedIn: self.out.map { "\($0)/report.json" }), terminator: "")
            if let out = self.out {
                let files = ["report.json", "report.md", "report.html"] + (listing == .all ? ["connections.jsonl"] : [])
                let named = files.dropLast().map { "\(out)/\($0)" }.joined(separator: ", ") + " and \(out)/\(files.last!)"
                print("\nReports written to \(named)\(sliceCount == 0 ? "" : ", \(sliceCount) slice(s) in \(out)/slices/")")
            }
        }
        let found = failClasses.compactMap { verdictClass in result.tally.classes[verdictClass].map { (verdictClass, $0) } }.filter { $0.1 > 0 }
        if !found.isEmpty {
            Edgescope.printError("edgescope: --fail-on: " + found.map { "\($0.1) connection(s) of class \($0.0.rawValue)" }.joined(separator: ", "))
            throw ExitCode(3)
        }
    }

    /// The first pass over the capture: every frame through `engine`, judged connections
    /// streamed into `report` as they come. Returns the analysis and the read error that cut
    /// the capture short, if one did.
    private static func analyse<Analyser: CaptureAnalysing>(
        _ engine: Analyser, reader: PcapReader, report: StreamedReport?, progress: ProgressLine?, gatewayLog: GatewayLogSession?
    ) throws -> (AnalysisResult, String?) {
        var engine = engine
        var streamFailure: Error?
        var readError: String?
        var judged = ProgressLine.Counts()
        do {
            // No local function here: one capturing `engine` would box it, and every access
            // per packet would pay a dynamic exclusivity check.
            try reader.forEachFrame { frame in
                engine.process(frame)
                if streamFailure == nil { streamFailure = Self.stream(&engine, to: report, counting: &judged, gatewayLog: gatewayLog) }
                // The clock is looked at once per 1024 frames; the line is redrawn at most 4 times a second.
                if frame.number & 0x3ff == 0, let progress {
                    progress.update(bytesRead: reader.bytesRead, fileSize: reader.fileSize, packets: UInt64(frame.number), counts: judged)
                }
            }
        } catch {
            progress?.clear()
            // A capture cut short, even inside its first record, is reported for what was read;
            // one that breaks at its first record in any other way (a corrupt record, a second
            // link type) is not a capture edgescope can read.
            if reader.framesRead == 0, error.code != .cutShort {
                throw ToolFailure(status: 2, message: "cannot read capture \(error.description)")
            }
            readError = error.reason
            let frames = reader.framesRead == 0 ? "no frames" : "frames 1-\(reader.framesRead)"
            let warning = "The capture is cut short: \(error.reason). This report covers \(frames)."
            engine.addWarning(warning)
            Edgescope.warn("\(error.description); the capture is cut short; reporting \(frames)", covering: warning)
        }
        progress?.clear()
        if readError == nil, reader.framesRead == 0 {
            let warning = "The capture holds no packets: only its header."
            engine.addWarning(warning)
            Edgescope.warn("\(reader.path): no packets (only the capture header)", covering: warning)
        }
        // The connections open at the end, judged and written a batch at a time.
        let result = engine.finish { ended in
            if streamFailure == nil { streamFailure = Self.add(ended, to: report, counting: &judged, gatewayLog: gatewayLog) }
        }
        if streamFailure == nil { streamFailure = Self.stream(&engine, to: report, counting: &judged, gatewayLog: gatewayLog) }
        if let streamFailure { throw streamFailure }
        return (result, readError)
    }

    /// Moves the connections the engine judged since the last call to the report; returns
    /// what failed writing them.
    private static func stream<Analyser: CaptureAnalysing>(
        _ engine: inout Analyser, to report: StreamedReport?, counting counts: inout ProgressLine.Counts, gatewayLog: GatewayLogSession?
    ) -> Error? {
        let ended = engine.takeEnded()
        guard !ended.isEmpty else { return nil }
        return self.add(ended, to: report, counting: &counts, gatewayLog: gatewayLog)
    }

    /// Moves `ended` to the report; returns what failed writing them.
    private static func add(
        _ ended: [ConnectionReport], to report: StreamedReport?, counting counts: inout ProgressLine.Counts, gatewayLog: GatewayLogSession?
    ) -> Error? {
        counts.add(ended)
        var ended = ended
        if let gatewayLog {
            for index in ended.indices { gatewayLog.annotate(&ended[index]) }
        }
        guard let report else { return nil }
        do {
            for connection in ended { try report.add(connection) }
        } catch {
            return error
        }
        return nil
    }

    /// `--fail-on` values (`502,truncated`, repeatable) as classes; anything else is a usage error.
    static func classes(_ values: [String]) throws -> [VerdictClass] {
        var classes: [VerdictClass] = []
        for value in values {
            for name in value.split(separator: ",", omittingEmptySubsequences: false) {
                var trimmed = name
                while trimmed.first == " " { trimmed.removeFirst() }
                while trimmed.last == " " { trimmed.removeLast() }
                guard let verdictClass = VerdictClass(rawValue: String(trimmed)) else {
                    // Built from the enum: a class added there is named here with no edit.
                    let known = "classes: " + VerdictClass.allCases.map(\.rawValue).joined(separator: ", ")
                    let what = trimmed.isEmpty ? "an empty class" : "'\(Terminal.safe(String(trimmed)))' is not a class"
                    throw ToolFailure(status: 1, message: "--fail-on '\(Terminal.safe(value))': \(what); \(known)")
                }
                if !classes.contains(verdictClass) { classes.append(verdictClass) }
            }
        }
        return classes
    }

    /// Failing connections the engine keeps whole for the text summary (the worst are shown);
    /// every connection is in report.json.
    static let connectionsKept = 100

    /// The second pass over the capture (from a regular file, or the copy a pipe kept): each
    /// chosen connection's frames into its slice.
    private func writeSlices(
        _ slices: [(id: UInt32, server: Endpoint, client: Endpoint, frames: ClosedRange<FrameNumber>)], directory: String,
        output: OutputDirectory, reader first: PcapReader
    ) throws -> Int {
        let plan = SlicePlan(slices: slices, directory: directory)
        // A reused --out keeps no slice of an earlier run: slices/ holds what report.json names.
        try output.removeStaleSlices(keeping: Set(plan.relativePaths.values))
        guard !plan.isEmpty else { return 0 }
        try output.makeSubdirectory("slices")
        do {
            // The same bytes again without opening the path again: a pipe's were kept as they came.
            let reader = try first.rewound()
            var decoder = PacketDecoder(linkType: reader.linkType)
            let writer = try SliceWriter(linkType: reader.linkType, snapLength: first.snapLength)
            var failure: CaptureError?
            // A read error here repeats the first pass's warning; the slices hold what was read.
            try? reader.forEachFrame(through: plan.lastFrame) { frame in
                guard failure == nil, let path = plan.path(for: frame.number, decoded: decoder.decode(frame)) else { return }
                do throws(CaptureError) { try writer.write(frame, to: path) } catch { failure = error }
            }
            writer.closeAll()
            if let failure { throw failure }
        } catch let error as CaptureError {
            throw ToolFailure(status: 2, message: "cannot write slices: \(error.description)")
        }
        return plan.relativePaths.count
    }
}
