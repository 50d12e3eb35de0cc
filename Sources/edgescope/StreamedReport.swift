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
final class StreamedReport {
    struct Entry {
        var id: UInt32
        var server: Endpoint
        var offset: Int
        var length: Int
    }

    private let spool: Int32
    private let spoolPath: String
    private var spoolSize = 0
    private var entries: [Entry] = []
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

    /// A spool in `directory` (hidden, 0600, removed at the end), or in the temporary
    /// directory when there is no output directory.
    init(directory: String?, slicesWanted: @escaping (ConnectionReport) -> Bool) throws {
        var template = Array(((directory ?? "/tmp") + "/.edgescope-spool-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        self.spoolPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard descriptor >= 0 else {
            throw ToolFailure(status: 2, message: "cannot create a spool file in \(directory ?? "/tmp"): \(String(cString: strerror(errno)))")
        }
        // Gone from the directory at once: nothing is left behind, whatever happens next.
        unlink(self.spoolPath)
        self.spool = descriptor
        self.slicesWanted = slicesWanted
        self.rendersReports = directory != nil
    }

    deinit {
        close(self.spool)
    }

    /// Takes one judged connection.
    func add(_ report: ConnectionReport) throws {
        var slice: String?
        if self.slicesWanted(report) {
            slice = "slices/\(report.name).pcap"
            self.slices.append((report.id, report.server, report.client, report.frames))
        }
        if self.rendersReports { self.builder.add(report, slice: slice) }
        // Written as text at once: the same bytes as the tree pretty-printed two levels deep.
        self.writer.reset(level: 2)
        JSONReport.connection(report, slice: slice, into: &self.writer)
        try self.writeSpool(self.writer.bytes)
        let length = self.writer.bytes.count
        self.entries.append(Entry(id: report.id, server: report.server, offset: self.spoolSize - length, length: length))
    }

    /// The document's head and tail: `result`'s document without connections.
    func assemble(
        _ result: AnalysisResult, source: SourceInfo
    ) throws -> (head: [(String, JSONValue)], tail: [(String, JSONValue)], document: ReportDocument) {
        var bare = result
        bare.connections = []
        guard case .object(let members) = JSONReport.document(bare, source: source) else {
            preconditionFailure("JSONReport.document is an object")
        }
        let at = members.firstIndex { $0.0 == "connections" } ?? members.count
        // Connections judged before the gateway's listener was found (client-hop inference)
        // are not upstream connections after all: they leave the report.
        let listeners = Set(result.clientHop?.listeners.map(\.endpoint) ?? [])
        if !listeners.isEmpty, self.entries.contains(where: { listeners.contains($0.server) }) {
            self.entries.removeAll { listeners.contains($0.server) }
            self.slices.removeAll { listeners.contains($0.server) }
            if self.rendersReports {
                // The builder cannot forget: it is fed again from what stays.
                self.builder = ReportDocument.Builder()
                for entry in self.entries.sorted(by: { $0.id < $1.id }) {
                    self.builder.add(try JSONValue(parsing: String(decoding: try self.read(entry), as: UTF8.self)))
                }
            }
        }
        self.entries.sort { $0.id < $1.id }
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

    /// Writes the whole document (pretty, then a newline) through `write`.
    func emit(head: [(String, JSONValue)], tail: [(String, JSONValue)], _ write: ([UInt8]) throws -> Void) throws {
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
        if self.entries.isEmpty {
            out.append(contentsOf: "[]".utf8)
        } else {
            out.append(UInt8(ascii: "["))
            for (index, entry) in self.entries.enumerated() {
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

    private func writeSpool(_ bytes: [UInt8]) throws {
        let error = writeAll(self.spool, bytes)
        guard error == 0 else {
            throw ToolFailure(status: 2, message: "cannot write the report spool: \(String(cString: strerror(error)))")
        }
        self.spoolSize += bytes.count
    }

    private func read(_ entry: Entry) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: entry.length)
        var done = 0
        while done < entry.length {
            let n = bytes.withUnsafeMutableBytes { pread(self.spool, $0.baseAddress! + done, entry.length - done, off_t(entry.offset + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw ToolFailure(status: 2, message: "cannot read the report spool: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        return bytes
    }
}
