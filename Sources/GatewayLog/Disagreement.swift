import CaptureModel

/// Where a gateway's log and the captured bytes tell different stories, one sentence each:
/// the gateway names a symptom (a close, a timeout, a generic TLS failure, a 200) where the
/// bytes show the cause.
enum Disagreement {
    /// Words a gateway uses for a connection that closed, reset or went quiet.
    static let closeWords = [
        "prematurely closed", "timed out", "reset by peer", "Connection reset", "EOF", "HTC eof", "Error reading from remote server",
        "error reading status line", "error reading response",
    ]
    /// Words that name a certificate's fault precisely (nginx's and Apache's do; HAProxy's do not).
    static let preciseCertificateWords = [
        "expired", "self-signed", "self signed", "unable to get", "not yet valid", "revoked", "hostname mismatch",
        "does not match", "unsuitable", "purpose", "IP address mismatch",
    ]

    static func quote(_ record: GatewayLogRecord) -> String {
        let words = record.message ?? record.text
        return "'" + (words.count > 160 ? String(words.prefix(157)) + "..." : words) + "'"
    }

    /// A verdict's summary inside a sentence: without its full stop.
    static func clause(_ summary: String) -> String {
        summary.hasSuffix(".") ? String(summary.dropLast()) : summary
    }

    static func about(_ record: GatewayLogRecord, _ connection: JoinableConnection) -> String? {
        let gateway = record.kind.gateway
        let layer = connection.code.cause.entry.layer
        let message = record.message ?? ""
        let text = record.text
        // A close or timeout named where the bytes show a response the gateway could not frame.
        if [.statusLine, .header, .framing].contains(layer), record.tellsOfAFailure,
           self.closeWords.contains(where: { message.contains($0) }) {
            return "\(gateway) logs \(self.quote(record)), but the bytes show \(connection.code): \(self.clause(connection.summary)). "
                + "The close or timeout \(gateway) names follows a response it could not frame; the cause is in the response."
        }
        // One generic TLS failure for every certificate fault.
        if connection.code.cause.entry.code.hasPrefix("tls.cert."),
           text.contains("certificate verify failed") || text.contains("SSL handshake failure") || text.contains("Error during SSL Handshake"),
           !self.preciseCertificateWords.contains(where: { message.contains($0) }) {
            let words = record.field("ssl_bc_err_str").map { "'\($0)'" } ?? self.quote(record)
            return "\(gateway) logs \(words), the same words for an expired, a self-signed, an unknown-CA and a wrong-host "
                + "certificate; the bytes show which: \(connection.code): \(self.clause(connection.summary))."
        }
        // A failure logged where the capture shows none.
        if connection.verdictClass == .ok, record.tellsOfAFailure {
            let status = record.status.map { "status \($0), " } ?? ""
            return "\(gateway) logs a failure (\(status)\(self.quote(record))), but the capture shows none on this connection"
                + (connection.requests.isEmpty ? ": what it carried is encrypted or never came; a key log (--keylog) shows what TLS records hold." : ".")
        }
        // A success status for a response that never came whole.
        if record.kind.logsClientStatus, let status = record.status, (200..<400).contains(status), connection.verdictClass == .truncated {
            return "\(gateway)'s \(record.kind.statusLogName) says \(status), but the upstream's response never came whole "
                + "(\(connection.code): \(self.clause(connection.summary))): the \(status) logged does not mean the client got the whole response."
        }
        return nil
    }

    static func about(_ record: GatewayLogRecord, _ error: JoinableClientError) -> String? {
        guard record.kind.logsClientStatus, let status = record.status else { return nil }
        let gateway = record.kind.gateway
        let what = record.kind.statusLogName
        switch error.failure {
        case .emptyReply, .reset, .cutBody:
            guard (200..<400).contains(status) || error.status.map({ $0 != status }) ?? false else { return nil }
            let got: String
            switch error.failure {
            case .emptyReply: got = "an empty reply (the connection closed before a byte of the response)"
            case .reset: got = "a reset before the response was whole"
            case .cutBody: got = "a \(error.status.map(String.init) ?? "response") with a cut body, which the status logged does not tell"
            case .errorStatus: preconditionFailure("handled below")
            }
            return "\(gateway)'s \(what) says \(status), but the client got \(got)."
        case .errorStatus:
            guard let seen = error.status, seen != status else { return nil }
            return "\(gateway)'s \(what) says \(status), but the client got \(seen)."
        }
    }
}
