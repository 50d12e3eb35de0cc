import ArgumentParser
import Reporting
#if canImport(Glibc)
import Glibc
#endif

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a saved report.json as HTML or Markdown: the same bytes analyze --out and capture --out wrote beside it.",
        discussion: ExitStatus.help(
            success: "rendered",
            unreadable: "a file that cannot be read or is not an edgescope.report/1 document, or an --output that cannot be written"))

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case html, md
    }

    @Argument(help: "A report.json written by analyze --out or capture --out.")
    var file: String

    @Option(help: "html or md.")
    var format: Format

    @Option(help: ArgumentHelp("Write to this file (through a temporary name and a rename) instead of stdout.", valueName: "path"))
    var output: String?

    func run() throws {
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
        let rendered: String
        switch self.format {
        case .html: rendered = HTMLReport.render(document)
        case .md: rendered = MarkdownReport.render(document)
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
