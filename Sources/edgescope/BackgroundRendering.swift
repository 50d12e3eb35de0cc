import Reporting
#if canImport(Glibc)
import Glibc
#endif

/// report.md and report.html rendered on a thread of their own, while the calling thread
/// writes the slices (a second pass over the capture) and report.json: the two cannot affect
/// each other (rendering reads only the document and writes nothing), and the files are still
/// written in the same order, by the caller, after `wait()`.
final class BackgroundRendering: @unchecked Sendable {
    // Written by the rendering thread before it ends; read by the caller after pthread_join,
    // which orders the two.
    private let document: ReportDocument
    private var pages: (markdown: String, html: String)?
    private var thread = pthread_t()
    private var started = false

    /// Starts rendering `document`; when no thread can be had, `wait()` renders it instead.
    init(_ document: ReportDocument) {
        self.document = document
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&self.thread, nil, { context in
            let rendering = Unmanaged<BackgroundRendering>.fromOpaque(context!).takeRetainedValue()
            rendering.pages = (MarkdownReport.render(rendering.document), HTMLReport.render(rendering.document))
            return nil
        }, context)
        if status == 0 {
            self.started = true
        } else {
            Unmanaged<BackgroundRendering>.fromOpaque(context).release()
        }
    }

    /// The Markdown and HTML reports, once rendered.
    func wait() -> (markdown: String, html: String) {
        if self.started {
            pthread_join(self.thread, nil)
            self.started = false
        }
        if let pages = self.pages { return pages }
        let pages = (MarkdownReport.render(self.document), HTMLReport.render(self.document))
        self.pages = pages
        return pages
    }
}
