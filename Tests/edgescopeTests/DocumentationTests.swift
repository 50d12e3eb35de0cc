import CaptureModel
import Foundation
import Reporting
import Testing
import TestSupport

/// The README and docs/ are the users' manual: every path they cite must exist in the repository,
/// and the root-cause table must list exactly the codes the sources declare.
struct DocumentationTests {
    /// The Markdown files a user reads.
    static let manuals = ["README.md", "docs/README.md", "docs/design.md", "docs/json-report.md", "docs/root-causes.md",
                          "docs/gateways.md", "docs/live-capture.md", "docs/robustness.md", "Benchmarks/README.md"]

    /// Top-level folders and files of the repository that a citation may start with.
    static let roots = ["Sources/", "Tests/", "captures/", "scripts/", "Benchmarks/", "Fuzz/", "docs/", ".ci/"]

    static func read(_ relative: String) throws -> String {
        try String(contentsOfFile: Paths.packageRoot + "/" + relative, encoding: .utf8)
    }

    /// Link targets (`](target)`) and backticked repository paths in `text`, relative to `base`.
    static func citations(in text: String, base: String) -> [String] {
        var found: [String] = []
        let links = try! NSRegularExpression(pattern: #"\]\(([^)#\s]+)(#[^)]*)?\)"#)
        let ticks = try! NSRegularExpression(pattern: #"`([^`\s]+)`"#)
        let range = NSRange(text.startIndex..., in: text)
        for match in links.matches(in: text, range: range) {
            let target = String(text[Range(match.range(at: 1), in: text)!])
            if target.contains("://") { continue }
            found.append(URL(fileURLWithPath: base).appendingPathComponent(target).standardized.path)
        }
        for match in ticks.matches(in: text, range: range) {
            let token = String(text[Range(match.range(at: 1), in: text)!])
            guard self.roots.contains(where: { token.hasPrefix($0) }) || token == "Package.resolved" else { continue }
            // Placeholders and patterns name no single file.
            if token.contains("<") || token.contains("*") || token.contains("...") || token.contains("NAME")
                || token.contains("VERSION") { continue }
            found.append(Paths.packageRoot + "/" + token)
        }
        return found
    }

    @Test(arguments: manuals)
    func everyCitedPathExists(_ manual: String) throws {
        let text = try Self.read(manual)
        let base = URL(fileURLWithPath: Paths.packageRoot + "/" + manual).deletingLastPathComponent().path
        let cited = Self.citations(in: text, base: base)
        for path in cited {
            #expect(FileManager.default.fileExists(atPath: path), "\(manual) cites \(path), which does not exist")
        }
    }

    @Test func readmeCitesNothingOutsideTheRepository() throws {
        let text = try Self.read("README.md")
        #expect(!text.contains("../shared"))
        #expect(!text.contains("DESIGN.md"))
    }

    /// Markdown files the sources name in comments (`docs/json-report.md`) exist.
    @Test func everyDocumentTheSourcesNameExists() throws {
        let pattern = try NSRegularExpression(pattern: #"(?<![\w./-])((?:docs|captures|Benchmarks|scripts)/[\w./-]+\.(?:md|py|sh))"#)
        let sources = FileManager.default.enumerator(atPath: Paths.packageRoot + "/Sources")!
        while let file = sources.nextObject() as? String {
            guard file.hasSuffix(".swift") else { continue }
            let text = try Self.read("Sources/" + file)
            let citesDesign = text.contains("DESIGN.md"), citesReference = text.contains("reference/gateway-taxonomy.md")
            #expect(!citesDesign, "Sources/\(file) cites DESIGN.md, which is not in the repository: cite docs/")
            #expect(!citesReference, "Sources/\(file) cites reference/: cite docs/gateway-taxonomy.md")
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let cited = String(text[Range(match.range(at: 1), in: text)!])
                #expect(FileManager.default.fileExists(atPath: Paths.packageRoot + "/" + cited), "Sources/\(file) cites \(cited)")
            }
        }
    }

    /// The codes the sources spell as literals, and the codes docs/root-causes.md lists, are the same set.
    /// docs/root-causes.md's tables are `edgescope codes --markdown`, and docs/gateway-models.md is
    /// `edgescope codes --gateways`, byte for byte (regenerate them after changing the vocabulary or
    /// a model).
    @Test func theCodeTablesInDocsAreGeneratedFromTheVocabulary() throws {
        let codes = try Self.read("docs/root-causes.md")
        let marker = try #require(codes.range(of: "not this file. -->\n\n"))
        #expect(String(codes[marker.upperBound...]) == CodeTables.markdown(), "run: edgescope codes --markdown")
        let models = try Self.read("docs/gateway-models.md")
        let modelMarker = try #require(models.range(of: "not this file. -->\n\n"))
        #expect(String(models[modelMarker.upperBound...]) == CodeTables.gatewaysMarkdown(), "run: edgescope codes --gateways")
        for cause in RootCause.allCases {
            #expect(codes.contains("| `\(cause.entry.code)` |"))
        }
    }

    /// No code is spelled outside the vocabulary: every other source names a code by its
    /// `FindingCode` constant, so a typo is a compile error rather than a code no rule matches.
    @Test func noCodeIsSpelledOutsideTheVocabulary() throws {
        var spelled: [String] = []
        let sources = FileManager.default.enumerator(atPath: Paths.packageRoot + "/Sources")!
        while let file = sources.nextObject() as? String {
            guard file.hasSuffix(".swift"), file != "CaptureModel/RootCause.swift" else { continue }
            let text = try Self.read("Sources/" + file)
            for cause in RootCause.allCases where cause.familyPrefix == nil && cause != .none {
                if text.contains("\"\(cause.entry.code)\"") { spelled.append("\(file): \(cause.entry.code)") }
            }
        }
        #expect(spelled == [])
    }
}
