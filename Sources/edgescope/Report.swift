import ArgumentParser
import Reporting
#if canImport(Glibc)
import Glibc
#endif

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a saved report.json as HTML or Markdown: the same bytes analyze --out and capture --out wrote beside it. Several report.json files (one per gateway host, or per capture) are merged into one report: a fleet's postmortem.",
        discussion: ExitStatus.help(
            success: "rendered",
            unreadable: "a file (any of several) that cannot be read or is not an edgescope.report/1 document, or an --output that cannot be written"))

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case html, md
    }

    @Argument(help: "A report.json written by analyze --out or capture --out.")
    var file: String

    @Argument(help: ArgumentHelp(
        "More report.json files, merged with the first into one report: the upstreams across every source with a column per source, the causes, one timeline, the worst connections of all, each with its source.",
        valueName: "file"))
    var moreFiles: [String] = []

    @Option(help: "html or md.")
    var format: Format?

    @Flag(help: "Write the merged report as JSON (edgescope.report/1, with sources[] and each connection's source) instead of HTML or Markdown.")
    var json = false

    @Option(name: .customLong("label"), help: ArgumentHelp(
        "What the merged report calls each report, in the order given (repeatable; default: the report's own host when it names one, else the name of the directory holding it).",
        valueName: "name"))
    var labels: [String] = []

    @Option(help: ArgumentHelp("Write to this file (through a temporary name and a rename) instead of stdout.", valueName: "path"))
    var output: String?

    func run() throws {
        switch (self.format, self.json) {
        case (nil, false): throw ToolFailure(status: 1, message: "give --format html or md, or --json (see 'edgescope report --help')")
        case (_?, true): throw ToolFailure(status: 1, message: "--json and --format each choose the output: give one (see 'edgescope report --help')")
        case (_?, false), (nil, true): break
        }
        let files = [self.file] + self.moreFiles
        guard self.labels.count <= files.count else {
            throw ToolFailure(status: 1, message: "\(self.labels.count) --label value(s) for \(files.count) report(s): give at most one per report")
        }
        let rendered: String
        if files.count == 1, !self.json {
            let text: String
            do {
                text = try Self.read(self.file)
            } catch {
                throw ToolFailure(status: 2, message: "cannot read report \(self.file): \(error.reason)")
            }
            let document: ReportDocument
            do {
                document = try ReportDocument(text: text)
            } catch {
                throw ToolFailure(status: 2, message: "cannot read report \(self.file): \(error.reason)")
            }
            rendered = self.render(document)
        } else {
            var documents: [JSONValue] = []
            for path in files { documents.append(try Self.document(path)) }
            let labels = ReportMerge.labels(paths: files, documents: documents, given: self.labels)
            let merged = ReportMerge.merge(zip(labels, zip(files, documents)).map { ReportMerge.Input(label: $0.0, path: $0.1.0, json: $0.1.1) })
            if self.json {
                rendered = merged.serialized(pretty: true) + "\n"
            } else {
                do {
                    rendered = self.render(try ReportDocument(merged))
                } catch {
                    preconditionFailure("a merged document has the edgescope.report/1 schema")
                }
            }
        }
        guard let output = self.output else {
            writeAll(1, rendered.utf8)
            return
        }
        let slash = output.lastIndex(of: "/")
        let directory = slash.map { $0 == output.startIndex ? "/" : String(output[..<$0]) } ?? "."
        let name = slash.map { String(output[output.index(after: $0)...]) } ?? output
        guard !name.isEmpty else { throw ToolFailure(status: 1, message: "--output '\(output)' names a directory, not a file") }
        try OutputDirectory(path: directory).write(name, rendered)
    }

    private func render(_ document: ReportDocument) -> String {
        switch self.format {
        case .html?: return HTMLReport.render(document)
        case .md?, nil: return MarkdownReport.render(document)
        }
    }

    /// `path` read and checked to be an `edgescope.report/1` document, as one report is.
    private static func document(_ path: String) throws -> JSONValue {
        let text: String
        do {
            text = try Self.read(path)
        } catch {
            throw ToolFailure(status: 2, message: "cannot read report \(path): \(error.reason)")
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw ToolFailure(status: 2, message: "cannot read report \(path): not valid JSON (\(error.description))")
        }
        do {
            // The same checks, and words, as a single report's.
            _ = try ReportDocument(head: json, builder: ReportDocument.Builder())
        } catch {
            throw ToolFailure(status: 2, message: "cannot read report \(path): \(error.reason)")
        }
        return json
    }

    /// The whole file as text (invalid UTF-8 becomes U+FFFD, which the JSON parser then judges).
    static func read(_ path: String) throws(ReadFailure) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadFailure(reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ReadFailure(reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw ReadFailure(reason: "not a regular file") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadFailure(reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[..<n])
        }
        guard !bytes.isEmpty else { throw ReadFailure(reason: "empty file") }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Why `edgescope report` could not read its file.
struct ReadFailure: Error {
    var reason: String
}
