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
        abstract: "Analyse a .pcap or .pcapng capture of the gateway-to-upstream hop (several files: merged by time, as one).",
        discussion: ExitStatus.help(
            success: "the capture was analysed, whatever it found",
            unreadable: "a capture (any of several), key log, CA file or gateway log that cannot be read (or a gateway log none of whose lines is in a layout edgescope reads), or an output that cannot be written",
            problem: "a connection of a --fail-on class was found (after every output was written)"))

    enum SliceSelection: String, ExpressibleByArgument, CaseIterable {
        case failed, all, none
    }

    @Argument(help: "The capture: a .pcap or .pcapng file, plain or compressed (gzip, zstd, xz), or - for standard input; pipes and FIFOs are read as they come.")
    var capture: String

    @Argument(help: ArgumentHelp(
        "More captures, read with the first as one (the two hops captured on two hosts): merged by timestamp as mergecap merges them, each file keeping its own format, link type and timestamp precision. The reports number frames in their own file and say which (`file` in report.json, an index into source.files).",
        valueName: "capture"))
    var moreCaptures: [String] = []

    /// Every capture, in the order given.
    var captures: [String] { [self.capture] + self.moreCaptures }

    /// The captures as named on the command line: one path, or several joined by `, `.
    var sourcePath: String { self.captures.joined(separator: ", ") }

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
        guard self.captures.count(where: { $0 == "-" }) <= 1 else {
            throw ToolFailure(status: 1, message: "standard input (-) is named more than once")
        }
        let reader: MergedPcapReader
        do {
            // Opened once: a pipe cannot be read again, so one that slices will be cut from keeps a copy.
            var readers: [PcapReader] = []
            for path in self.captures { readers.append(try PcapReader(path: path, keepsCopy: self.out != nil && self.slices != .none)) }
            reader = MergedPcapReader(readers: readers)
            // Several files: each one's first record, before any is analysed.
            try reader.start()
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
            do { for file in reader.readers { try file.keepCopy(in: out) } } catch { throw ToolFailure(status: 2, message: "cannot write slices: \(error.description)") }
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
        report?.origins = reader.origins
        let linkType = reader.readers[0].linkType
        var (result, readError) = self.threads == 1
            ? try Self.analyse(Engine(linkType: linkType, options: options), reader: reader, report: report, progress: progress, gatewayLog: gatewayLog)
            : try Self.analyse(
                ShardedEngine(linkType: linkType, options: options, shards: self.threads), reader: reader, report: report,
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
        let source = Self.source(self.sourcePath, reader: reader, readError: readError)
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
    private static func analyse<Analyser: MixedLinkAnalysing>(
        _ engine: Analyser, reader: MergedPcapReader, report: StreamedReport?, progress: ProgressLine?, gatewayLog: GatewayLogSession?
    ) throws -> (AnalysisResult, String?) {
        var engine = engine
        var streamFailure: Error?
        var readError: String?
        var judged = ProgressLine.Counts()
        let linkTypes = reader.linkTypes
        do {
            // No local function here: one capturing `engine` would box it, and every access
            // per packet would pay a dynamic exclusivity check.
            try reader.forEachFrame { frame, file in
                engine.process(frame, linkType: linkTypes[file])
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
                // One file only: several throw nothing here (`MergedPcapReader.stopped`).
                throw ToolFailure(status: 2, message: "cannot read capture \(error.description)")
            }
            readError = error.reason
            let frames = reader.framesRead == 0 ? "no frames" : "frames 1-\(reader.framesRead)"
            let warning = "The capture is cut short: \(error.reason). This report covers \(frames)."
            engine.addWarning(warning)
            Edgescope.warn("\(error.description); the capture is cut short; reporting \(frames)", covering: warning)
        }
        progress?.clear()
        // Several files: each one that broke part-way was read up to the break, the others to their end.
        for (file, error) in reader.stopped.enumerated() {
            guard let error else { continue }
            let read = reader.readers[file].framesRead
            readError = readError ?? error.description
            let frames = read == 0 ? "none of its frames" : "its frames 1-\(read)"
            let warning = "The capture \(error.path) is cut short: \(error.reason). This report covers \(frames), and the other files whole."
            engine.addWarning(warning)
            Edgescope.warn("\(error.description); the capture is cut short; reporting \(frames)", covering: warning)
        }
        if readError == nil, reader.framesRead == 0 {
            let warning = "The capture holds no packets: only its header."
            engine.addWarning(warning)
            let path = reader.readers.count == 1 ? reader.readers[0].path : reader.readers.map(\.path).joined(separator: ", ")
            Edgescope.warn("\(path): no packets (only the capture header)", covering: warning)
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
        let failure = self.add(ended, to: report, counting: &counts, gatewayLog: gatewayLog)
        gatewayLog?.forgetUnlisted { engine.listedConnectionIDs() }
        return failure
    }

    /// Moves `ended` to the report; returns what failed writing them. Taken, not borrowed: the
    /// reports are lent on in place, which a shared array would copy first.
    private static func add(
        _ ended: consuming [ConnectionReport], to report: StreamedReport?, counting counts: inout ProgressLine.Counts, gatewayLog: GatewayLogSession?
    ) -> Error? {
        counts.add(ended)
        if let gatewayLog {
            for index in ended.indices { gatewayLog.annotate(&ended[index]) }
        }
        guard let report else { return nil }
        do {
            // Lent in place: iterating the array copied every report out.
            for index in ended.indices { try report.add(&ended[index]) }
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
        output: OutputDirectory, reader first: MergedPcapReader
    ) throws -> Int {
        let plan = SlicePlan(slices: slices, directory: directory)
        // A reused --out keeps no slice of an earlier run: slices/ holds what report.json names.
        try output.removeStaleSlices(keeping: Set(plan.relativePaths.values))
        guard !plan.isEmpty else { return 0 }
        try output.makeSubdirectory("slices")
        do {
            // The same bytes again without opening the path again: a pipe's were kept as they came.
            let reader = try first.rewound()
            // Several files may each have their own link type: a decoder per file, a writer per
            // link type. A slice is one pcap file of one link type, its first frame's.
            var decoders = reader.readers.map { PacketDecoder(linkType: $0.linkType) }
            let snapLength = reader.readers.map(\.snapLength).max() ?? 0
            var writers: [Int32: SliceWriter] = [:]
            for linkType in reader.linkTypes where writers[linkType.rawValue] == nil {
                writers[linkType.rawValue] = try SliceWriter(linkType: linkType, snapLength: snapLength)
            }
            let linkTypes = reader.linkTypes
            var sliceLinkTypes: [String: Int32] = [:]
            var mixed = 0
            var failure: CaptureError?
            // A read error here repeats the first pass's warning; the slices hold what was read.
            // Only the frames in some slice's range: with one plain pcap file the reader jumps
            // over most of the rest (a connection's IP fragments come after its first frame,
            // where its range begins).
            try? reader.forEachFrame(in: plan.spans) { frame, file in
                guard failure == nil, let path = plan.path(for: frame.number, decoded: decoders[file].decode(frame)) else { return }
                let linkType = linkTypes[file].rawValue
                guard sliceLinkTypes[path, default: linkType] == linkType else {
                    mixed += 1
                    return
                }
                sliceLinkTypes[path] = linkType
                do throws(CaptureError) { try writers[linkType]!.write(frame, to: path) } catch { failure = error }
            }
            for writer in writers.values { writer.closeAll() }
            if let failure { throw failure }
            if mixed > 0 {
                Edgescope.warn("\(mixed) frame(s) of connections seen in files of different link types are left out of their slices (a pcap slice has one link type)")
            }
        } catch let error as CaptureError {
            throw ToolFailure(status: 2, message: "cannot write slices: \(error.description)")
        }
        return plan.relativePaths.count
    }

    /// The report's `source`: one file as it always was; several with `files`, and frames named by file.
    static func source(_ path: String, reader: MergedPcapReader, readError: String?) -> SourceInfo {
        guard let origins = reader.origins else {
            return SourceInfo(path: path, snapLength: reader.readers[0].snapLength, readError: readError)
        }
        var source = SourceInfo(path: path, snapLength: reader.readers.map(\.snapLength).max() ?? 0, readError: readError)
        source.origins = origins
        source.files = reader.readers.indices.map { index in
            let file = reader.readers[index]
            return SourceInfo.File(
                path: file.path, linkType: file.linkType.description, snapLength: file.snapLength, packets: Int(file.framesRead),
                firstTime: reader.firstTimes[index], lastTime: reader.lastTimes[index], readError: reader.stopped[index]?.reason)
        }
        return source
    }
}
