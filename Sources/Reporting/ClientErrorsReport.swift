import CaptureModel
import Engine

/// The failures clients saw (502, 503, 504; empty replies, resets, cut bodies), when the capture
/// also holds the client-to-gateway hop: how many an upstream connection explains, and which it does not. Each format's part is
/// empty without a client hop, so the reports call them unconditionally.
public enum ClientErrorsReport {
    /// How many explained and unexplained errors are named in each list.
    public static let errorsShown = 10
    /// Rows of the Markdown table.
    public static let errorsListed = 50

    /// The text summary's part, starting with an empty line. With `origins` (several capture
    /// files), frames are named by file and number in it.
    public static func text(_ result: AnalysisResult, origins: FrameOrigins? = nil) -> String {
        guard let hop = result.clientHop else { return "" }
        var out = "\nClient hop (\(self.listeners(hop, quote: ""))): \(hop.connections) connection(s), \(hop.requests) request(s)\n"
        out += "  \(hop.errorCount) failure(s) clients saw (502, 503, 504, empty replies, resets, cut bodies): \(hop.explained) explained by an upstream connection, \(hop.unexplained) unexplained\n"
        let explained = hop.errors.filter(\.isExplained)
        for error in explained.prefix(self.errorsShown) {
            out += "    \(self.seen(error)) \(Terminal.safe(error.request)) from \(error.client) ← \(self.cause(error, origins: origins))\n"
            out += GatewayLogReport.text(error.gatewayLog, indent: "      ")
        }
        if explained.count > self.errorsShown {
            out += "    … and \(explained.count - self.errorsShown) more explained (see report.json)\n"
        }
        let unexplained = hop.errors.filter { !$0.isExplained }
        if !unexplained.isEmpty {
            out += "  Unexplained (no upstream connection carried the request and failed, or failed in its time):\n"
            for error in unexplained.prefix(self.errorsShown) {
                out += "    \(self.seen(error)) \(Terminal.safe(error.request)) from \(error.client) at \(error.time.rfc3339), frame \(error.frame.map { frame in origins.map { "\($0.locate(frame).frame) of \(Terminal.safe($0.paths[$0.locate(frame).file]))" } ?? "\(frame)" } ?? "-")\n"
                out += GatewayLogReport.text(error.gatewayLog, indent: "      ")
            }
            if unexplained.count > self.errorsShown {
                out += "    … and \(unexplained.count - self.errorsShown) more (see report.json)\n"
            }
        }
        return out
    }

    /// What the client saw: `502`, `200 cut body`, `empty reply`, `reset`.
    public static func seen(_ error: ClientError) -> String {
        self.seen(status: error.status, failure: error.failure)
    }

    /// The same from report.json's `status` and `failure`.
    static func seen(_ item: JSONValue) -> String {
        self.seen(status: item["status"].int, failure: item["failure"].string.flatMap(ClientFailure.init(rawValue:)) ?? .errorStatus)
    }

    private static func seen(status: Int?, failure: ClientFailure) -> String {
        switch (status, failure) {
        case (let status?, .errorStatus): return String(status)
        case (let status?, let failure): return "\(status) \(failure.phrase)"
        case (nil, let failure): return failure.phrase
        }
    }

    private static func listeners(_ hop: ClientHopSummary, quote: String) -> String {
        let names = hop.listeners.map { "\(quote)\($0.endpoint)\(quote) \($0.given ? "given" : "inferred")" }
        return (names.count == 1 ? "gateway " : "gateways ") + names.joined(separator: ", ")
    }

    private static func cause(_ error: ClientError, origins: FrameOrigins?) -> String {
        if error.upstreamConnection == nil, let frame = error.dnsFrame {
            var source = SourceInfo(path: "", snapLength: 0)
            source.origins = origins
            let shown = TextSummary.frame(frame, offset: nil, in: source)
            return "\(error.cause?.description ?? "?"): no upstream connection; \(Terminal.safe(error.dnsName ?? "?")) did not resolve (DNS frame \(shown))"
        }
        if error.upstreamConnection == nil, !error.disabledBy.isEmpty {
            return "\(error.cause?.description ?? "?"): no upstream tried; every member was down after "
                + error.disabledBy.map { "c\($0)" }.joined(separator: ", ")
        }
        var out = "c\(error.upstreamConnection.map(String.init) ?? "?")"
        if let server = error.upstreamServer { out += " \(server)" }
        out += ": \(error.cause?.description ?? "?")"
        if error.generatedBy == .upstream, error.failure == .errorStatus { out += " (relayed)" }
        if !error.earlierUpstreamConnections.isEmpty {
            out += ", after " + error.earlierUpstreamConnections.map { "c\($0)" }.joined(separator: ", ")
        }
        return out
    }

    private static func code(_ text: String) -> String {
        Terminal.safe(text).replacing("`", with: "'").replacing("|", with: "\\|")
    }
}
