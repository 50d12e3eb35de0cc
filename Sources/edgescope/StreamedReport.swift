import ArgumentParser
import CaptureModel
import Engine
import Reporting
import TCPReassembly
#if canImport(Glibc)
import Glibc
#endif

/// report.json written as connections are judged, so memory does not grow with the capture:
/// each judged connection's JSON goes to a spool file at once (and what the HTML and Markdown
/// reports read of it to a `ReportDocument.Builder`); at the end the document is assembled:
/// its head, the connections in id order from the spool, its tail. The bytes are those
/// `JSONValue.serialized(pretty: true)` gives for the whole document.
///
/// Reports scale with failures, not traffic: report.json lists the connections the gateway
/// failed in full, the upstreams' own 5xx (relayed) compactly (`compact: true`), and counts
/// the healthy ones per upstream (`UpstreamTraffic`), unless `--list all`, which lists every
/// connection in full and writes one compact line each to connections.jsonl. The JSON printed
/// on stdout (`--json`) lists every connection, the healthy ones compactly unless `--list all`.
final class StreamedReport {
    /// Which connections report.json lists in full (`--list`).
    enum Listing: String, CaseIterable, ExpressibleByArgument {
        /// Those the gateway failed in full, relayed 5xx compactly (the default).
        case failed
        /// Every connection, and one line each in connections.jsonl.
        case all
    }

    /// Which document `emit` writes.
    enum Target {
        /// report.json in the output directory.
        case file
        /// `--json` on stdout.
        case standardOutput
    }

    struct Entry {
        var id: UInt32
        var server: Endpoint
        var offset: Int
        var length: Int
        /// Listed in full (else compactly, on stdout only).
        var full: Bool
    }

    private let spool: Int32
    private let spoolPath: String
    private var spoolSize = 0
    /// report.json's connections.
    private var entries: [Entry] = []
    /// stdout's connections (`--json`), where they differ from report.json's.
    private var printed: [Entry] = []
    /// connections.jsonl's lines (`--list all` with an output directory).
    private var lines: [Entry] = []
    /// What every connection carried, per upstream.
    private(set) var traffic = UpstreamTraffic()
    let listing: Listing
    /// Whether the stdout document is wanted (`--json`): only then are healthy connections
    /// spooled when report.json does not list them.
    let printsJSON: Bool
    /// One connection's text, reused from one to the next.
    private var writer = PrettyJSONWriter(level: 2)
    /// What the HTML and Markdown reports read, gathered as connections come.
    private(set) var builder = ReportDocument.Builder()
    /// Connections that get a slice, with the path their JSON names.
    private(set) var slices: [(id: UInt32, server: Endpoint, client: Endpoint, frames: ClosedRange<FrameNumber>)] = []
    let slicesWanted: (ConnectionReport) -> Bool
    /// Whether the HTML and Markdown reports will be rendered (`--out`): only then is the
    /// builder fed.
    let rendersReports: Bool
    /// With several capture files read as one: where each frame came from, so connections
    /// name frames by file and number in it.
    var origins: FrameOrigins?

    /// A spool in `directory` (hidden, 0600, removed at the end), or in the temporary
    /// directory when there is no output directory.
    init(directory: String?, listing: Listing = .failed, printsJSON: Bool = false, slicesWanted: @escaping (ConnectionReport) -> Bool) throws {
        var template = Array(((directory ?? "/tmp") + "/.edgescope-spool-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        self.spoolPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard descriptor >= 0 else {
            throw ToolFailure(status: 2, message: "cannot create a temporary file for the report in \(directory ?? "/tmp"): \(String(cString: strerror(errno)))")
        }
        // Gone from the directory at once: nothing is left behind, whatever happens next.
        unlink(self.spoolPath)
        self.spool = descriptor
        self.slicesWanted = slicesWanted
        self.rendersReports = directory != nil
        self.listing = listing
        self.printsJSON = printsJSON
    }

    deinit {
        close(self.spool)
    }

    /// Takes one judged connection. `inout` only so that the report is read where it is, not
    /// copied (lending an array's element to a method copied it): it is not changed.
    func add(_ report: inout ConnectionReport) throws {
        self.traffic.add(report)
        let verdictClass = report.verdict.verdictClass
        if self.listing == .all || Summary.isGatewayFailure(verdictClass) {
            var slice: String?
            if self.slicesWanted(report) {
                slice = "slices/\(report.name).pcap"
                self.slices.append((report.id, report.server, report.client, report.frames))
            }
            if self.rendersReports { self.builder.add(report, slice: slice, origins: self.origins) }
            // Written as text at once: the same bytes as the tree pretty-printed two levels deep.
            self.writer.reset(level: 2)
            JSONReport.connection(report, slice: slice, origins: self.origins, into: &self.writer)
            let entry = try self.spooled(self.writer.bytes, report, full: true)
            self.entries.append(entry)
            if self.printsJSON { self.printed.append(entry) }
        } else {
            // An upstream's own 5xx: in report.json in short (counted, findable), on stdout in
            // full, as every connection that is not healthy. A healthy one: on stdout in short.
            let healthy = verdictClass == .ok
            if (!healthy && self.rendersReports) || (healthy && self.printsJSON) {
                let compact = JSONReport.compactConnection(report, origins: self.origins)
                var bytes: [UInt8] = []
                compact.write(into: &bytes, pretty: true, level: 2)
                let entry = try self.spooled(bytes, report, full: false)
                if healthy {
                    self.printed.append(entry)
                } else {
                    self.entries.append(entry)
                    self.builder.add(compact)
                }
            }
            if !healthy && self.printsJSON {
                self.writer.reset(level: 2)
                JSONReport.connection(report, slice: nil, origins: self.origins, into: &self.writer)
                self.printed.append(try self.spooled(self.writer.bytes, report, full: true))
            }
        }
        if self.listing == .all && self.rendersReports {
            var bytes: [UInt8] = []
            JSONReport.compactConnection(report, origins: self.origins).write(into: &bytes, pretty: false, level: 0)
            bytes.append(0x0a)
            self.lines.append(try self.spooled(bytes, report, full: false))
        }
    }

    private func spooled(_ bytes: [UInt8], _ report: ConnectionReport, full: Bool) throws -> Entry {
        try self.writeSpool(bytes)
        return Entry(id: report.id, server: report.server, offset: self.spoolSize - bytes.count, length: bytes.count, full: full)
    }

    /// The document's head and tail: `result`'s document without connections.
    func assemble(
        _ result: AnalysisResult, source: SourceInfo
    ) throws -> (head: [(String, JSONValue)], tail: [(String, JSONValue)], document: ReportDocument) {
        // Connections judged before the gateway's listener was found (client-hop inference)
        // are not upstream connections after all: they leave the report.
        let listeners = Set(result.clientHop?.listeners.map(\.endpoint) ?? [])
        for listener in listeners { self.traffic.remove(server: listener) }
        if !listeners.isEmpty {
            // Each list on its own: stdout's holds connections report.json's does not (a
            // relayed 5xx in full, a healthy one in short).
            let reportListed = self.entries.contains { listeners.contains($0.server) }
            self.entries.removeAll { listeners.contains($0.server) }
            self.printed.removeAll { listeners.contains($0.server) }
            self.lines.removeAll { listeners.contains($0.server) }
            self.slices.removeAll { listeners.contains($0.server) }
            if reportListed, self.rendersReports {
                // The builder cannot forget: it is fed again from what stays.
                self.builder = ReportDocument.Builder()
                for entry in self.entries.sorted(by: { $0.id < $1.id }) {
                    self.builder.add(try JSONValue(parsing: String(decoding: try self.read(entry), as: UTF8.self)))
                }
            }
        }
        self.entries.sort { $0.id < $1.id }
        self.printed.sort { $0.id < $1.id }
        self.lines.sort { $0.id < $1.id }
        var bare = result
        bare.connections = []
        guard case .object(var members) = JSONReport.document(bare, source: source, traffic: self.traffic) else {
            preconditionFailure("JSONReport.document is an object")
        }
        // What report.json lists: the HTML and Markdown reports read the same counts.
        self.setListed(in: &members, target: .file)
        let at = members.firstIndex { $0.0 == "connections" } ?? members.count
        let head = Array(members[..<at])
        let tail = Array(members[min(at + 1, members.count)...])
        let document: ReportDocument
        do {
            document = try ReportDocument(head: .object(members), builder: self.builder)
        } catch {
            preconditionFailure("a document JSONReport built has the edgescope.report/1 schema")
        }
        return (head, tail, document)
    }

    /// Sets `totals.listed` (connections the document lists, in full or compactly),
    /// `totals.unlisted` (judged, only counted) and `totals.listed_compact` for `target`.
    private func setListed(in members: inout [(String, JSONValue)], target: Target) {
        guard let at = members.firstIndex(where: { $0.0 == "totals" }), case .object(var totals) = members[at].1 else { return }
        let entries = target == .file ? self.entries : self.printed
        let listed = entries.count
        let compact = entries.count { !$0.full }
        let connections = totals.first { $0.0 == "connections" }?.1.int ?? listed
        for (key, value) in [("listed", listed), ("unlisted", max(0, connections - listed))] {
            if let index = totals.firstIndex(where: { $0.0 == key }) { totals[index].1 = .number(value) }
        }
        totals.removeAll { $0.0 == "listed_compact" }
        let after = (totals.firstIndex { $0.0 == "unlisted" } ?? totals.count - 1) + 1
        totals.insert(("listed_compact", .number(compact)), at: after)
        members[at].1 = .object(totals)
    }

    /// connections.jsonl: one compact line per connection, in id order (`--list all`).
    func emitLines(_ write: ([UInt8]) throws -> Void) throws {
        var out: [UInt8] = []
        for entry in self.lines {
            out.append(contentsOf: try self.read(entry))
            if out.count >= 1 << 20 {
                try write(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        try write(out)
    }

    /// Writes the whole document (pretty, then a newline) through `write`: report.json lists
    /// the connections in full only, stdout every connection.
    func emit(head: [(String, JSONValue)], tail: [(String, JSONValue)], target: Target = .file, _ write: ([UInt8]) throws -> Void) throws {
        var head = head
        self.setListed(in: &head, target: target)
        let entries = target == .file ? self.entries : self.printed
        var out: [UInt8] = []
        out.append(UInt8(ascii: "{"))
        var first = true
        func member(_ key: String, _ value: JSONValue) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(0x0a)
            out.append(contentsOf: "  ".utf8)
            JSONValue.string(key).write(into: &out, pretty: true, level: 1)
            out.append(contentsOf: ": ".utf8)
            value.write(into: &out, pretty: true, level: 1)
        }
        for (key, value) in head { member(key, value) }
        // The connections, from the spool.
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(contentsOf: "\n  \"connections\": ".utf8)
        if entries.isEmpty {
            out.append(contentsOf: "[]".utf8)
        } else {
            out.append(UInt8(ascii: "["))
            for (index, entry) in entries.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: "\n    ".utf8)
                out.append(contentsOf: try self.read(entry))
                if out.count >= 1 << 20 {
                    try write(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
            out.append(contentsOf: "\n  ]".utf8)
        }
        for (key, value) in tail { member(key, value) }
        out.append(contentsOf: "\n}\n".utf8)
        try write(out)
    }

    /// Spooled bytes not written yet: one write per 256 KiB, not one per connection.
    private var spoolBuffer: [UInt8] = []
    static let spoolBufferSize = 256 << 10

    private func writeSpool(_ bytes: [UInt8]) throws {
        self.spoolBuffer.append(contentsOf: bytes)
        self.spoolSize += bytes.count
        if self.spoolBuffer.count >= Self.spoolBufferSize { try self.flushSpool() }
    }

    private func flushSpool() throws {
        guard !self.spoolBuffer.isEmpty else { return }
        let error = writeAll(self.spool, self.spoolBuffer)
        guard error == 0 else {
            throw ToolFailure(status: 2, message: "cannot write the report's temporary file: \(String(cString: strerror(error)))")
        }
        self.spoolBuffer.removeAll(keepingCapacity: true)
    }

    private func read(_ entry: Entry) throws -> [UInt8] {
        try self.flushSpool()
        var bytes = [UInt8](repeating: 0, count: entry.length)
        var done = 0
        while done < entry.length {
            let n = bytes.withUnsafeMutableBytes { pread(self.spool, $0.baseAddress! + done, entry.length - done, off_t(entry.offset + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw ToolFailure(status: 2, message: "cannot read back the report's temporary file: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        return bytes
    }
}
