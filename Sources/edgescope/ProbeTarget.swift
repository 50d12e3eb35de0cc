import CaptureModel
import Reporting

/// What `probe TARGET` names: where to connect, whether to speak TLS, and which path to GET.
///
/// `HOST:PORT` is TLS (plain with `--plain`); `http://HOST[:PORT][/PATH]` is plain HTTP (port 80
/// by default); `https://HOST[:PORT][/PATH]` is TLS (port 443) with `--request PATH` implied.
struct ProbeTarget: Equatable {
    /// A name or an IP literal, without brackets.
    var host: String
    var port: UInt16
    /// Plain HTTP instead of TLS.
    var plain: Bool
    /// The path to GET, if a request is to be sent (always, for plain HTTP: `/` by default).
    var path: String?

    /// Parses `text` together with `--plain` and `--request`; a usage error (status 1) otherwise.
    init(parsing text: String, plain: Bool, request: String?) throws {
        let lower = text.lowercased()
        let scheme: (plain: Bool, port: UInt16)? = lower.hasPrefix("http://") ? (true, 80) : lower.hasPrefix("https://") ? (false, 443) : nil
        var authority = Substring(text)
        var urlPath: String?
        if let scheme {
            if plain && !scheme.plain {
                throw ToolFailure(status: 1, message: "--plain contradicts \(text): an https:// upstream speaks TLS")
            }
            authority = Substring(text).dropFirst(scheme.plain ? 7 : 8)
            if let slash = authority.firstIndex(of: "/") {
                urlPath = String(authority[slash...])
                authority = authority[..<slash]
            }
            if urlPath != nil, request != nil {
                throw ToolFailure(status: 1, message: "give the path once: \(text) has one, and so does --request")
            }
        }
        let defaultPort = scheme?.port
        var host = authority
        var port = defaultPort
        // [v6]:port, [v6], host:port, host (when the scheme gives the port).
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if rest.hasPrefix(":") {
                port = UInt16(rest.dropFirst())
                if port == nil { throw Self.notATarget(text) }
            } else if !rest.isEmpty {
                throw Self.notATarget(text)
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = UInt16(authority[authority.index(after: colon)...])
            if port == nil || host.contains(":") { throw Self.notATarget(text) }
        }
        guard let port, port != 0, !host.isEmpty else { throw Self.notATarget(text) }
        self.host = String(host)
        self.port = port
        self.plain = plain || scheme?.plain == true
        let path = urlPath ?? request ?? (scheme != nil || self.plain ? "/" : nil)
        if let path {
            // The path goes into the request line as is: no byte that would end or split it.
            guard path.hasPrefix("/") || path == "*", path.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else {
                throw ToolFailure(status: 1, message: "the request path '\(Terminal.safe(path))' must start with / and hold no spaces or control characters")
            }
        }
        self.path = path
    }

    /// The Host header for this target (RFC 9110 §7.2): the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port == (self.plain ? 80 : 443) ? name : "\(name):\(self.port)"
    }

    /// The probe's one request: `GET PATH HTTP/1.1` with Host, a User-Agent naming edgescope, and
    /// `Connection: close`.
    static func request(path: String, host: String) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: edgescope-probe\r\nConnection: close\r\n\r\n".utf8)
    }

    private static func notATarget(_ text: String) -> ToolFailure {
        ToolFailure(status: 1, message: "probe target '\(text)' is not HOST:PORT, http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]")
    }
}
