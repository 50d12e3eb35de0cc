import CaptureModel

/// Which gateway log a line came from, as reports name it.
public enum GatewayLogKind: String, Sendable, CaseIterable {
    /// nginx's error.log (`YYYY/MM/DD HH:MM:SS [level] pid#tid: *cid message, client: ...`).
    case nginxError = "nginx_error"
    /// An access log in an nginx `log_format` (the default `combined`, or one given).
    case nginxAccess = "nginx_access"
    /// HAProxy's `option httplog` line (and the events HAProxy logs beside it).
    case haproxy
    /// Apache httpd's error_log (`[Www Mmm dd hh:mm:ss.uuuuuu yyyy] [module:level] ...`).
    case apacheError = "apache_error"
    /// An access log in an Apache `LogFormat` (also lighttpd's `accesslog.format`).
    case apacheAccess = "apache_access"
    /// lighttpd's error.log (`YYYY-MM-DD HH:MM:SS: (file.c.line) message`).
    case lighttpdError = "lighttpd_error"
    /// An access log in lighttpd's `accesslog.format` (Apache's `LogFormat` syntax).
    case lighttpdAccess = "lighttpd_access"
    /// Caddy's JSON log.
    case caddy
    /// An access log in NCSA combined, nginx's default (`combined`), Apache's `combined` and
    /// `varnishncsa`'s default alike: which gateway wrote it, the line does not say.
    case combinedAccess = "combined_access"
    /// `varnishlog` output: one record per transaction group (`-g request`, `-g vxid`).
    case varnishlog

    /// How a report names it in a sentence.
    public var phrase: String {
        switch self {
        case .nginxError: return "nginx error.log"
        case .nginxAccess: return "nginx access log"
        case .haproxy: return "HAProxy log"
        case .apacheError: return "Apache error_log"
        case .apacheAccess: return "Apache access log"
        case .lighttpdError: return "lighttpd error.log"
        case .lighttpdAccess: return "lighttpd access log"
        case .caddy: return "Caddy log"
        case .combinedAccess: return "access log (combined)"
        case .varnishlog: return "varnishlog"
        }
    }

    /// The gateway whose words these are (`nginx`), for a sentence.
    public var gateway: String {
        switch self {
        case .nginxError, .nginxAccess: return "nginx"
        case .haproxy: return "HAProxy"
        case .apacheError, .apacheAccess: return "Apache"
        case .lighttpdError, .lighttpdAccess: return "lighttpd"
        case .caddy: return "Caddy"
        case .varnishlog: return "Varnish"
        case .combinedAccess: return "the gateway"
        }
    }

    /// What a sentence calls the log its status is in: `access log`, or `log` for one that
    /// is more than an access log (HAProxy's, Caddy's, varnishlog).
    var statusLogName: String {
        switch self {
        case .haproxy, .caddy, .varnishlog: return "log"
        case .nginxError, .nginxAccess, .apacheError, .apacheAccess, .lighttpdError, .lighttpdAccess, .combinedAccess: return "access log"
        }
    }

    /// Whether its status is the one the gateway sent its client (an access log).
    var logsClientStatus: Bool {
        switch self {
        case .nginxAccess, .haproxy, .apacheAccess, .lighttpdAccess, .combinedAccess, .caddy, .varnishlog: return true
        case .nginxError, .apacheError, .lighttpdError: return false
        }
    }
}

/// One line (for varnishlog, one transaction group) of a gateway's log, read: when it was
/// written, what it is about (the keys a connection is joined by) and what it says.
public struct GatewayLogRecord: Sendable {
    /// The file, as given on the command line.
    public var file: String
    /// The 1-based line number (a varnishlog group's first line).
    public var line: Int
    /// The layout it was read in.
    public var kind: GatewayLogKind
    /// When the event began (the earliest instant the log's precision allows); `nil` for a line
    /// with no time (HAProxy's own events).
    public var time: Timestamp?
    /// How long after `time` the event may have happened: the log's precision (1 s for nginx's
    /// error.log) plus any duration the line gives.
    public var span: Int64
    /// The line as written (a varnishlog group: its lines joined by newlines).
    public var text: String
    /// Every field read, by the name the log's format gives it, in the line's order. An access
    /// log line's are read from `text` again when asked: held for each of a log's millions of
    /// lines, they were a quarter of what a line cost.
    public var fields: [(name: String, value: String)] {
        get { self.fieldsFormat?.fieldValues(of: self.text) ?? self.storedFields }
        set {
            self.fieldsFormat = nil
            self.storedFields = newValue
        }
    }
    private var storedFields: [(name: String, value: String)] = []
    /// The access log format `text` is in, when `fields` are read from it.
    var fieldsFormat: AccessLogFormat.Shared?

    /// The upstream(s) the gateway used for the request (`$upstream_addr`, `upstream: "http://..."`).
    public var upstreams: [Endpoint] = []
    /// The upstream's address, when the log names it without a port (Apache's `failed to make
    /// connection to backend: 10.0.0.2`).
    public var upstreamAddress: IPAddress?
    /// The gateway's own port on its upstream connection (varnishlog's `BackendOpen`).
    public var gatewayPort: UInt16?
    /// The gateway's client (address, and port where logged).
    public var clientAddress: IPAddress?
    /// The gateway's client's port.
    public var clientPort: UInt16?
    /// The request's method.
    public var method: String?
    /// The request's target.
    public var target: String?
    /// The request id the gateway logged (`$request_id`, `X-Request-Id`).
    public var requestIDs: [String] = []
    /// The status the gateway sent its client.
    public var status: Int?
    /// The statuses the upstream(s) answered (`$upstream_status`).
    public var upstreamStatuses: [Int] = []
    /// The gateway's own words on what went wrong (nginx's message, HAProxy's termination state
    /// and TLS error, Apache's AH message, Caddy's `error`, varnishlog's `FetchError`).
    public var message: String?

    /// Whether anything in it could tie it to a connection (a process event has nothing).
    public var isAboutARequest: Bool {
        !self.upstreams.isEmpty || self.gatewayPort != nil || self.clientPort != nil || self.target != nil || !self.requestIDs.isEmpty
    }

    /// Whether the log names the upstream, as an address or by an upstream block's name
    /// (nginx's `upstream: "http://backend/"`, `$upstream_addr` `backend`).
    public var namesAnUpstream: Bool {
        !self.upstreams.isEmpty || self.field("upstream") != nil || self.field("upstream_addr") != nil
            // HAProxy's `be/<NOSRV>`: no server was chosen, so no connection is about it.
            || self.field("server") == "<NOSRV>"
    }

    /// Whether it tells of a failure: an error log's line, a 5xx, a failed fetch.
    public var tellsOfAFailure: Bool {
        switch self.kind {
        case .nginxError, .apacheError, .lighttpdError: return true
        case .haproxy, .nginxAccess, .apacheAccess, .lighttpdAccess, .combinedAccess, .caddy, .varnishlog:
            return (self.status ?? 0) >= 500 || self.upstreamStatuses.contains { $0 >= 500 } || (self.kind == .varnishlog && self.message != nil)
                || (self.kind == .caddy && self.field("level") == "error")
        }
    }

    /// The request line's words, `GET /x`, when logged.
    public var request: String? {
        guard let target else { return nil }
        return self.method.map { "\($0) \(target)" } ?? target
    }

    public init(file: String, line: Int, kind: GatewayLogKind, time: Timestamp?, span: Int64, text: String) {
        self.file = file
        self.line = line
        self.kind = kind
        self.time = time
        self.span = span
        self.text = text
    }

    /// The first value of the field named `name`.
    public func field(_ name: String) -> String? {
        self.fields.first { $0.name == name }?.value
    }
}

/// A gateway log record joined to a connection or a client error: the record, what tied it,
/// and where the gateway's words and the captured bytes disagree.
public struct GatewayLogNote: Sendable {
    /// The record.
    public var record: GatewayLogRecord
    /// What tied it: `gateway_port`, `upstream`, `client_port`, `request_id`, `request`, `time`.
    public var matchedBy: [String]
    /// A sentence when the gateway's words and the bytes disagree; `nil` when they agree or
    /// say nothing to compare.
    public var disagreement: String?

    public init(record: GatewayLogRecord, matchedBy: [String], disagreement: String? = nil) {
        self.record = record
        self.matchedBy = matchedBy
        self.disagreement = disagreement
    }
}

/// A line no layout could read: counted and listed, never fatal.
public struct UnreadLine: Sendable {
    public var file: String
    public var line: Int
    public var text: String
    /// Why it was not read.
    public var reason: String
}

/// What the gateway logs given held, for the report's `gateway_log` section: each file, and
/// the lines that joined nothing (listed, not dropped) or could not be read.
public struct GatewayLogSummary: Sendable {
    /// One file.
    public struct File: Sendable {
        public var path: String
        /// `nil` when no line was in a layout edgescope reads.
        public var kind: GatewayLogKind?
        /// The access-log layout, when it is one (`nginx:combined`, or the `--gateway-log-format` given).
        public var format: String?
        /// Records read (a varnishlog group is one).
        public var records: Int
        /// Lines no layout read.
        public var unread: Int

        public init(path: String, kind: GatewayLogKind?, format: String?, records: Int, unread: Int) {
            self.path = path
            self.kind = kind
            self.format = format
            self.records = records
            self.unread = unread
        }
    }

    public var files: [File]
    /// The zone local times were read in.
    public var zone: String
    /// Records joined to a connection or a client error.
    public var matched: Int
    /// Records that joined nothing, in file order (the first `listed` of them).
    public var unmatched: [GatewayLogRecord]
    /// Every record that joined nothing.
    public var unmatchedCount: Int
    /// Lines no layout read (the first of them).
    public var unread: [UnreadLine]
    /// Every line no layout read.
    public var unreadCount: Int

    /// Unmatched records listed; the rest are counted.
    public static let listed = 200

    public init(files: [File], zone: String, matched: Int, unmatched: [GatewayLogRecord], unmatchedCount: Int, unread: [UnreadLine], unreadCount: Int) {
        self.files = files
        self.zone = zone
        self.matched = matched
        self.unmatched = unmatched
        self.unmatchedCount = unmatchedCount
        self.unread = unread
        self.unreadCount = unreadCount
    }
}
