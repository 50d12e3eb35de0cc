import CaptureModel

/// Reads one gateway log, line by line, in whichever layout its lines are in: nginx's
/// error.log, an access log (the `--gateway-log-format` layouts given, then NCSA combined),
/// HAProxy's httplog, Apache's error_log, Caddy's JSON, varnishlog. The layout is the first
/// one a line reads in; the lines before it wait (up to `maximumWaiting`) and are read again.
/// A line no layout reads is counted and kept in `unread`, never fatal.
public struct GatewayLogReader {
    /// The file as given.
    public let file: String
    /// The layout found, once a line was read.
    public private(set) var kind: GatewayLogKind?
    /// The access-log layout found, when `kind` is an access log.
    public private(set) var accessFormat: AccessLogFormat? {
        didSet { self.sharedFormat = self.accessFormat.map(AccessLogFormat.Shared.init) }
    }
    /// `accessFormat`, shared by the records read in it (`GatewayLogRecord.fields`).
    private var sharedFormat: AccessLogFormat.Shared?
    let formats: [AccessLogFormat]
    let zone: LocalZone
    /// Lines before the layout is known.
    private var waiting: [(number: Int, text: String)] = []
    /// A varnishlog group being read.
    private var group: VarnishGroup?
    /// Lines no layout reads: the first `unreadKept` of them.
    public private(set) var unread: [UnreadLine] = []
    /// Every line no layout reads.
    public private(set) var unreadCount = 0
    /// Non-empty lines read into records.
    public private(set) var linesRead = 0

    static let maximumWaiting = 1000
    /// Unread lines kept for the report; the rest are counted.
    public static let unreadKept = 100

    public init(file: String, formats: [AccessLogFormat], zone: LocalZone) {
        self.file = file
        self.formats = formats
        self.zone = zone
    }

    /// The records `line` (numbered from 1, without its newline) completes.
    public mutating func feed(line raw: String, number: Int) -> [GatewayLogRecord] {
        var line = raw
        if line.hasSuffix("\r") { line.removeLast() }
        guard let kind = self.kind else {
            if line.trimmingSpaces.isEmpty { return [] }
            guard let (kind, format) = self.detect(line) else {
                if self.waiting.count < Self.maximumWaiting {
                    self.waiting.append((number, line))
                } else {
                    self.addUnread(number, line, "in no layout edgescope reads")
                }
                return []
            }
            self.kind = kind
            self.accessFormat = format
            var records: [GatewayLogRecord] = []
            let waiting = self.waiting
            self.waiting = []
            for (earlier, text) in waiting { records += self.read(text, number: earlier, kind: kind) }
            records += self.read(line, number: number, kind: kind)
            return records
        }
        return self.read(line, number: number, kind: kind)
    }

    /// The records still open at the end (a varnishlog group without its end); lines still
    /// waiting for a layout are unread.
    public mutating func finish() -> [GatewayLogRecord] {
        for (number, text) in self.waiting { self.addUnread(number, text, "in no layout edgescope reads") }
        self.waiting = []
        guard let group = self.group else { return [] }
        self.group = nil
        return group.record(file: self.file).map { [$0] } ?? []
    }

    private mutating func addUnread(_ number: Int, _ text: String, _ reason: String) {
        self.unreadCount += 1
        if self.unread.count < Self.unreadKept {
            self.unread.append(UnreadLine(file: self.file, line: number, text: String(text.prefix(1000)), reason: reason))
        }
    }

    private func detect(_ line: String) -> (GatewayLogKind, AccessLogFormat?)? {
        let text = Substring(line)
        if Self.nginxError(text, file: self.file, number: 0, zone: self.zone) != nil { return (.nginxError, nil) }
        if Self.apacheError(text, file: self.file, number: 0, zone: self.zone) != nil { return (.apacheError, nil) }
        if Self.lighttpdError(text, file: self.file, number: 0, zone: self.zone) != nil { return (.lighttpdError, nil) }
        if Self.haproxy(text, file: self.file, number: 0, zone: self.zone, eventsToo: false) != nil { return (.haproxy, nil) }
        if Self.caddy(text, file: self.file, number: 0) != nil { return (.caddy, nil) }
        if VarnishGroup.isGroupStart(text) { return (.varnishlog, nil) }
        for format in self.formats + [AccessLogFormat.nginxCombined] where Self.access(text, format: format, file: self.file, number: 0, zone: self.zone) != nil {
            return (format.kind, format)
        }
        return nil
    }

    private mutating func read(_ line: String, number: Int, kind: GatewayLogKind) -> [GatewayLogRecord] {
        let text = Substring(line)
        if kind != .varnishlog, text.trimmingSpaces.isEmpty { return [] }
        var record: GatewayLogRecord?
        switch kind {
        case .nginxError: record = Self.nginxError(text, file: self.file, number: number, zone: self.zone)
        case .apacheError: record = Self.apacheError(text, file: self.file, number: number, zone: self.zone)
        case .lighttpdError: record = Self.lighttpdError(text, file: self.file, number: number, zone: self.zone)
        case .haproxy: record = Self.haproxy(text, file: self.file, number: number, zone: self.zone, eventsToo: true)
        case .caddy: record = Self.caddy(text, file: self.file, number: number)
        case .nginxAccess, .apacheAccess, .lighttpdAccess, .combinedAccess:
            record = self.accessFormat.flatMap { Self.access(text, format: $0, file: self.file, number: number, zone: self.zone, shared: self.sharedFormat) }
        case .varnishlog:
            return self.varnish(text, number: number)
        }
        guard let record else {
            self.addUnread(number, line, "not in the layout of the file's other lines (\(self.accessFormat?.name ?? kind.phrase))")
            return []
        }
        self.linesRead += 1
        return [record]
    }

    private mutating func varnish(_ text: Substring, number: Int) -> [GatewayLogRecord] {
        var records: [GatewayLogRecord] = []
        if VarnishGroup.isGroupStart(text) {
            if let group = self.group, let record = group.record(file: self.file) { records.append(record) }
            self.group = VarnishGroup(header: text, line: number)
            self.linesRead += 1
            return records
        }
        if text.trimmingSpaces.isEmpty {
            if let group = self.group, let record = group.record(file: self.file) { records.append(record) }
            self.group = nil
            return records
        }
        guard self.group != nil, self.group!.add(text) else {
            self.addUnread(number, String(text), "not a varnishlog record line")
            return records
        }
        self.linesRead += 1
        return records
    }
}

// MARK: - Layouts

extension GatewayLogReader {
    /// `2026/11/22 01:11:36 [error] 30566#30566: *3 connect() failed (...) while connecting to
    /// upstream, client: 127.0.0.1, server: , request: "GET /x HTTP/1.1", upstream: "http://127.0.0.1:18082/x", host: "..."`
    static func nginxError(_ line: Substring, file: String, number: Int, zone: LocalZone) -> GatewayLogRecord? {
        let bytes = Array(line.utf8.prefix(21))
        guard bytes.count == 21, bytes[4] == UInt8(ascii: "/"), bytes[7] == UInt8(ascii: "/"), bytes[10] == 0x20,
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == 0x20, bytes[20] == UInt8(ascii: "["),
              let year = Self.int(line, 0, 4), let month = Self.int(line, 5, 2), let day = Self.int(line, 8, 2),
              let hour = Self.int(line, 11, 2), let minute = Self.int(line, 14, 2), let second = Self.int(line, 17, 2),
              let time = zone.instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        var rest = line.dropFirst(21)
        guard let close = rest.firstIndex(of: "]") else { return nil }
        let level = rest[..<close]
        rest = rest[rest.index(after: close)...].drop { $0 == " " }
        guard let colon = rest.firstRange(of: ": ") else { return nil }
        let process = rest[..<colon.lowerBound]
        guard process.contains("#") else { return nil }
        rest = rest[colon.upperBound...]
        var record = GatewayLogRecord(file: file, line: number, kind: .nginxError, time: time, span: 1_000_000_000, text: String(line))
        record.fields.append(("level", String(level)))
        record.fields.append(("pid", String(process)))
        if rest.hasPrefix("*"), let space = rest.firstIndex(of: " ") {
            record.fields.append(("connection", String(rest[rest.index(after: rest.startIndex)..<space])))
            rest = rest[rest.index(after: space)...]
        }
        // The context nginx appends: `, client: ...` onwards.
        let contextStart = rest.firstRange(of: ", client: ")
        let message = contextStart.map { rest[..<$0.lowerBound] } ?? rest
        record.message = String(message)
        record.fields.append(("message", String(message)))
        if let contextStart {
            for (key, value) in Self.nginxContext(rest[contextStart.upperBound...]) {
                record.fields.append((key, value))
                switch key {
                case "client": record.clientAddress = IPAddress(parsing: Substring(value))
                case "request":
                    let words = value.split(separator: " ")
                    if words.count >= 2 {
                        record.method = String(words[0])
                        record.target = String(words[1])
                    }
                case "upstream":
                    if let endpoint = Self.endpoint(ofURL: Substring(value)) { record.upstreams = [endpoint] }
                default: break
                }
            }
        }
        return record
    }

    /// `client: 127.0.0.1, server: , request: "GET / HTTP/1.1", upstream: "http://..."` as
    /// pairs; the first key (`client`) is given already consumed.
    static func nginxContext(_ text: Substring) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var key = "client"
        var rest = text
        while true {
            var value: Substring
            if rest.hasPrefix("\"") {
                let body = rest.dropFirst()
                let end = body.firstIndex(of: "\"") ?? body.endIndex
                value = body[..<end]
                rest = end < body.endIndex ? body[body.index(after: end)...] : body[end...]
            } else {
                let end = rest.firstRange(of: ", ")?.lowerBound ?? rest.endIndex
                value = rest[..<end]
                rest = rest[end...]
            }
            pairs.append((key, String(value)))
            guard rest.hasPrefix(", "), let colon = rest.firstRange(of: ": ") else { break }
            key = String(rest.dropFirst(2)[..<colon.lowerBound])
            rest = rest[colon.upperBound...]
        }
        return pairs
    }

    /// `[Sun Dec 06 20:04:19.635738 2026] [proxy_http:error] [pid 1:tid 2] (20014)Internal error: [client 127.0.0.1:55126] AH01102: ...`
    static func apacheError(_ line: Substring, file: String, number: Int, zone: LocalZone) -> GatewayLogRecord? {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
        let date = line[line.index(after: line.startIndex)..<close].split(separator: " ")
        guard date.count == 5, let month = LocalZone.month(date[1]), let day = Int(date[2]), let year = Int(date[4]) else { return nil }
        let clock = date[3].split(separator: ":")
        guard clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]) else { return nil }
        // (Seconds of dots alone, `01:17:..`, split into nothing.)
        let secondParts = clock[2].split(separator: ".")
        guard let first = secondParts.first, let second = Int(first) else { return nil }
        var nanosecond: Int64 = 0
        var span: Int64 = 1_000_000_000
        if secondParts.count == 2, let fraction = Int64(secondParts[1]), secondParts[1].count <= 9 {
            var scale: Int64 = 1
            for _ in 0..<(9 - secondParts[1].count) { scale *= 10 }
            nanosecond = fraction * scale
            span = scale
        }
        guard let time = zone.instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond) else {
            return nil
        }
        var rest = line[line.index(after: close)...].drop { $0 == " " }
        guard rest.hasPrefix("["), let moduleEnd = rest.firstIndex(of: "]") else { return nil }
        let module = rest[rest.index(after: rest.startIndex)..<moduleEnd]
        var record = GatewayLogRecord(file: file, line: number, kind: .apacheError, time: time, span: span, text: String(line))
        record.fields.append(("module", String(module)))
        rest = rest[rest.index(after: moduleEnd)...].drop { $0 == " " }
        if rest.hasPrefix("[pid "), let end = rest.firstIndex(of: "]") {
            record.fields.append(("pid", String(rest[rest.index(rest.startIndex, offsetBy: 5)..<end])))
            rest = rest[rest.index(after: end)...].drop { $0 == " " }
        }
        if rest.hasPrefix("("), let end = rest.firstRange(of: ": ") {
            record.fields.append(("os_error", String(rest[..<end.lowerBound])))
            rest = rest[end.upperBound...]
        }
        for tag in ["[client ", "[remote "] where rest.hasPrefix(tag) {
            guard let end = rest.firstIndex(of: "]") else { break }
            let value = rest[rest.index(rest.startIndex, offsetBy: tag.count)..<end]
            rest = rest[rest.index(after: end)...].drop { $0 == " " }
            if tag == "[client " {
                record.fields.append(("client", String(value)))
                if let endpoint = Endpoint(parsing: value) {
                    record.clientAddress = endpoint.address
                    record.clientPort = endpoint.port
                } else {
                    record.clientAddress = IPAddress(parsing: value)
                }
            } else {
                record.fields.append(("remote", String(value)))
                if let endpoint = Endpoint(parsing: value) { record.upstreams = [endpoint] }
            }
        }
        record.message = String(rest)
        record.fields.append(("message", String(rest)))
        if record.upstreams.isEmpty {
            for marker in ["remote server ", "connect to ", "failed to "] {
                guard let found = rest.firstRange(of: marker) else { continue }
                let word = rest[found.upperBound...].prefix { $0 != " " && $0 != ")" && $0 != "," }
                if let endpoint = Endpoint(parsing: word) {
                    record.upstreams = [endpoint]
                    break
                }
            }
        }
        if record.upstreams.isEmpty, let found = rest.firstRange(of: "backend: ") {
            record.upstreamAddress = IPAddress(parsing: rest[found.upperBound...].prefix { $0 != " " })
        }
        if let found = rest.firstRange(of: "returned by ") {
            let target = rest[found.upperBound...].prefix { $0 != " " }
            if target.hasPrefix("/") { record.target = String(target) }
        }
        return record
    }

    /// `2026-12-06 20:10:43: (gw_backend.c.274) establishing connection failed: socket: tcp:127.0.0.1:28090: Connection refused`
    static func lighttpdError(_ line: Substring, file: String, number: Int, zone: LocalZone) -> GatewayLogRecord? {
        let bytes = Array(line.utf8.prefix(22))
        guard bytes.count == 22, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == 0x20,
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: ":"), bytes[20] == 0x20,
              bytes[21] == UInt8(ascii: "("),
              let year = Self.int(line, 0, 4), let month = Self.int(line, 5, 2), let day = Self.int(line, 8, 2),
              let hour = Self.int(line, 11, 2), let minute = Self.int(line, 14, 2), let second = Self.int(line, 17, 2),
              let time = zone.instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        let rest = line.dropFirst(22)
        guard let close = rest.firstRange(of: ") ") else { return nil }
        // lighttpd reads the clock once a second: its times lag by up to a second more.
        var record = GatewayLogRecord(file: file, line: number, kind: .lighttpdError, time: time, span: 2_000_000_000, text: String(line))
        let message = rest[close.upperBound...]
        record.fields.append(("source", String(rest[..<close.lowerBound])))
        record.fields.append(("message", String(message)))
        record.message = String(message)
        if let socket = message.firstRange(of: "tcp:") {
            // `tcp:127.0.0.1:28090` then `:`, ` ` or the end.
            var word = message[socket.upperBound...].prefix { $0 != " " && $0 != "," }
            if word.hasSuffix(":") { word = word.dropLast() }
            if let endpoint = Endpoint(parsing: word) {
                record.upstreams = [endpoint]
                record.fields.append(("upstream", endpoint.description))
            }
        }
        if let found = message.firstRange(of: "for ") {
            var target = message[found.upperBound...].prefix { $0 != " " && $0 != "," }
            if target.hasSuffix("?") { target = target.dropLast() }
            if target.hasPrefix("/") { record.target = String(target) }
        }
        return record
    }

    /// `127.0.0.1:59984 [22/Nov/2026:01:17:59.149] fe be/s1 0/0/0/-1/0 502 209 - - SH-- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"`,
    /// after a syslog header when there is one. With `eventsToo`, HAProxy's own lines (a
    /// server going down, a proxy stopping) are records with no time.
    static func haproxy(_ line: Substring, file: String, number: Int, zone: LocalZone, eventsToo: Bool) -> GatewayLogRecord? {
        var body = line
        if let process = line.firstRange(of: "haproxy["), let end = line[process.upperBound...].firstRange(of: "]: ") {
            body = line[end.upperBound...]
        }
        let prefix = body.prefix { $0 != "\"" }
        let tokens = prefix.split(separator: " ")
        guard tokens.count >= 10, let client = Endpoint(parsing: tokens[0]), tokens[1].hasPrefix("["), tokens[1].hasSuffix("]"),
              let status = Int(tokens[5]), let (time, _) = Self.commonLogTime(tokens[1].dropFirst().dropLast(), zone: zone)
        else {
            guard eventsToo else { return nil }
            var record = GatewayLogRecord(file: file, line: number, kind: .haproxy, time: nil, span: 0, text: String(line))
            record.message = String(body)
            record.fields.append(("event", String(body)))
            return record
        }
        let timers = tokens[4].split(separator: "/")
        let total = timers.last.flatMap { Int64($0) } ?? 0
        var record = GatewayLogRecord(
            file: file, line: number, kind: .haproxy, time: time, span: (max(0, total) + 1) * 1_000_000, text: String(line))
        record.clientAddress = client.address
        record.clientPort = client.port
        record.status = status
        let backend = tokens[3].split(separator: "/", maxSplits: 1)
        record.fields += [
            ("client", String(tokens[0])), ("accept_date", String(tokens[1].dropFirst().dropLast())), ("frontend", String(tokens[2])),
            ("backend", String(backend.first ?? "")), ("server", backend.count > 1 ? String(backend[1]) : ""), ("timers", String(tokens[4])),
            ("status", String(tokens[5])), ("bytes_read", String(tokens[6])), ("termination_state", String(tokens[9])),
        ]
        var message = "termination state \(tokens[9])"
        if let explanation = Self.haproxyTermination(tokens[9]) { message += " (\(explanation))" }
        let rest = body[prefix.endIndex...]
        if rest.hasPrefix("\"") {
            let request = rest.dropFirst().prefix { $0 != "\"" }
            record.fields.append(("request", String(request)))
            let words = request.split(separator: " ")
            if words.count >= 2 {
                record.method = String(words[0])
                record.target = String(words[1])
            }
            let after = rest.dropFirst(request.count + 2)
            for (key, value) in Self.keyValues(after) {
                record.fields.append((key, value))
                if key.hasSuffix("err_str"), !value.isEmpty { message += "; \(key) \"\(value)\"" }
                if key == "unique_id" || key == "request_id" { record.requestIDs.append(value) }
            }
        }
        record.message = message
        return record
    }

    /// What HAProxy's first two termination-state characters say.
    static func haproxyTermination(_ state: Substring) -> String? {
        let characters = Array(state)
        guard characters.count >= 2 else { return nil }
        let who: String
        switch characters[0] {
        case "C": who = "the client aborted"
        case "S": who = "the server aborted or refused"
        case "P": who = "the proxy refused (a bad response, or a rule)"
        case "L": who = "the proxy answered itself"
        case "R": who = "a resource ran out"
        case "I": who = "an internal error"
        case "D": who = "the session was killed (server down)"
        case "U": who = "the session was killed (server up)"
        case "K": who = "the session was killed by an admin"
        case "c": who = "the client timed out"
        case "s": who = "the server timed out"
        case "-": return nil
        default: who = "?"
        }
        let when: String
        switch characters[1] {
        case "R": when = "waiting for the request"
        case "Q": when = "in the queue"
        case "C": when = "connecting to the server"
        case "H": when = "waiting for the response head"
        case "D": when = "during the body"
        case "L": when = "sending the last bytes"
        case "T": when = "tarpitted"
        default: when = "?"
        }
        return "\(who), \(when)"
    }

    /// `a=1 b="x y"` as pairs.
    static func keyValues(_ text: Substring) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var rest = text.drop { $0 == " " }
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals]
            guard !key.contains(" ") else { break }
            var value = rest[rest.index(after: equals)...]
            if value.hasPrefix("\"") {
                let body = value.dropFirst()
                let end = body.firstIndex(of: "\"") ?? body.endIndex
                pairs.append((String(key), String(body[..<end])))
                rest = (end < body.endIndex ? body[body.index(after: end)...] : body[end...]).drop { $0 == " " }
            } else {
                let end = value.firstIndex(of: " ") ?? value.endIndex
                pairs.append((String(key), String(value[..<end])))
                value = value[end...]
                rest = value.drop { $0 == " " }
            }
        }
        return pairs
    }

    /// A Caddy JSON line with a `ts`.
    static func caddy(_ line: Substring, file: String, number: Int) -> GatewayLogRecord? {
        guard line.first == "{", let json = FlatJSON(line), let ts = json["ts"].flatMap(Double.init) else { return nil }
        let duration = json["duration"].flatMap(Double.init) ?? 0
        let logger = json["logger"] ?? ""
        // Lines written at the end of a request (access, error, roundtrip) began `duration` earlier.
        // Times from the epoch to 2242, durations under 36 years: anything else is no time.
        guard ts >= 0, ts < Double(Self.latestSecond), let took = Self.nanoseconds(duration, unit: 1) else { return nil }
        let end = Int64((ts * 1e6).rounded()) * 1000
        let start = end - took
        var record = GatewayLogRecord(
            file: file, line: number, kind: .caddy, time: Timestamp(nanoseconds: start), span: end - start + 1_000_000, text: String(line))
        for (path, value, _) in json.values { record.fields.append((path, value)) }
        if let upstream = json["upstream"] ?? json["dial"], let endpoint = Endpoint(parsing: Substring(upstream)) {
            record.upstreams = [endpoint]
        }
        record.clientAddress = json["request.remote_ip"].flatMap { IPAddress(parsing: Substring($0)) }
        record.clientPort = json["request.remote_port"].flatMap { UInt16($0) }
        record.method = json["request.method"]
        record.target = json["request.uri"]
        for key in ["request.headers.X-Request-Id", "request.headers.X-Correlation-Id"] {
            if let id = json[key] { record.requestIDs.append(id) }
        }
        if let status = json["status"].flatMap({ Int($0) }) {
            if logger == "http.log.access" || logger.hasPrefix("http.log.error") { record.status = status } else { record.upstreamStatuses = [status] }
        }
        record.message = json["error"] ?? json["msg"]
        return record
    }

    /// An access-log line in `format`.
    /// `shared`: `format`, shared by the records, which then read their fields from their text
    /// when asked rather than hold them; without it each record holds its fields.
    static func access(
        _ line: Substring, format: AccessLogFormat, file: String, number: Int, zone: LocalZone, shared: AccessLogFormat.Shared? = nil
    ) -> GatewayLogRecord? {
        guard let fields = format.fields(of: line) else { return nil }
        var epoch: Substring?
        var fraction: (Substring, Int64)?
        var time: Timestamp?
        var precision: Int64 = 1_000_000_000
        var duration: Int64 = 0
        var record = GatewayLogRecord(file: file, line: number, kind: format.kind, time: nil, span: 0, text: String(line))
        if let shared {
            record.fieldsFormat = shared
        } else {
            record.fields = fields.map { ($0.name, String($0.value)) }
        }
        for (_, meaning, value) in fields {
            switch meaning {
            case .epochSeconds: epoch = value
            case .fractionMicroseconds: fraction = (value, 1000)
            case .fractionMilliseconds: fraction = (value, 1_000_000)
            case .commonLogTime:
                let bare = value.hasPrefix("[") ? value.dropFirst().dropLast() : value
                guard let (parsed, _) = Self.commonLogTime(bare, zone: zone) else { return nil }
                time = parsed
            case .iso8601Time:
                guard let parsed = Self.iso8601(value) else { return nil }
                time = parsed
            case .status:
                guard let status = Int(value) else { return nil }
                record.status = status
            case .upstreamAddress:
                // `127.0.0.1:18082, 127.0.0.1:18083` (tries), ` : ` (internal redirects).
                for item in Self.split(value, where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: " ") }) where item != ":" && item != "-" {
                    if let endpoint = Endpoint(parsing: item) { record.upstreams.append(endpoint) }
                }
            case .upstreamStatus:
                record.upstreamStatuses = Self.split(value, where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ":") })
                    .compactMap { Int($0) }
            case .request:
                if let (method, target) = Self.requestWords(value) {
                    record.method = String(method)
                    record.target = String(target)
                }
            case .method: if value != "-" { record.method = String(value) }
            case .target: if value != "-" { record.target = String(value) }
            case .clientAddress: record.clientAddress = IPAddress(parsing: value)
            case .clientPort:
                // A port or nothing: anything else means the line is in another layout.
                guard value == "-" || UInt16(value) != nil else { return nil }
                record.clientPort = UInt16(value)
            case .requestID: if value != "-", !value.isEmpty { record.requestIDs.append(String(value)) }
            case .durationSeconds, .durationMicroseconds, .durationMilliseconds:
                // Seconds with a fraction, or whole micro- or milliseconds; `-` for none.
                guard value != "-" else { break }
                let number = meaning == .durationSeconds ? Double(value) : Int64(value).map(Double.init)
                let unit: Double = meaning == .durationSeconds ? 1 : meaning == .durationMilliseconds ? 1e3 : 1e6
                guard let took = number.flatMap({ Self.nanoseconds($0, unit: unit) }) else { return nil }
                duration = max(duration, took)
            case .other: break
            }
        }
        if let epoch {
            let parts = Self.split(epoch, where: { $0 == UInt8(ascii: ".") }, maxSplits: 1)
            guard let seconds = parts.first.flatMap({ Int64($0) }), (0..<Self.latestSecond).contains(seconds) else { return nil }
            var nanoseconds: Int64 = 0
            precision = 1_000_000_000
            if parts.count == 2, parts[1].count <= 9, let digits = Int64(parts[1]) {
                var scale: Int64 = 1
                for _ in 0..<(9 - parts[1].count) { scale *= 10 }
                nanoseconds = digits * scale
                precision = scale
            } else if let (digits, scale) = fraction, let value = Int64(digits) {
                nanoseconds = value * scale
                precision = scale
            }
            time = Timestamp(seconds: seconds, nanoseconds: nanoseconds)
        }
        guard let time else { return nil }
        // nginx and lighttpd write the time the request ended; Apache's %t is when it began.
        let loggedAtEnd = format.kind == .nginxAccess || format.kind == .combinedAccess || format.kind == .lighttpdAccess
        record.time = loggedAtEnd ? Timestamp(nanoseconds: time.nanoseconds - duration) : time
        record.span = duration + precision
        // lighttpd reads the clock once a second: its times lag by up to a second.
        if format.kind == .lighttpdAccess { record.span += 1_000_000_000 }
        if let status = record.status, record.message == nil, status >= 500 { record.message = "status \(status)" }
        return record
    }

    /// `value` split as `split(maxSplits:whereSeparator:)` splits it (empty pieces left out),
    /// looking at bytes: an ASCII line's Characters are its bytes, and an access log has
    /// millions of lines. Any other line is split by its Characters.
    static func split(_ value: Substring, where isSeparator: (UInt8) -> Bool, maxSplits: Int = .max) -> [Substring] {
        let utf8 = value.utf8
        // The pieces' byte offsets; `nil` when a byte is not ASCII.
        let found: [Range<Int>]? = utf8.withContiguousStorageIfAvailable { bytes in
            var ranges: [Range<Int>] = []
            var start = 0
            var cursor = 0
            while cursor < bytes.count {
                let byte = bytes[cursor]
                guard byte < 0x80 else { return nil }
                if ranges.count < maxSplits, isSeparator(byte) {
                    if start < cursor { ranges.append(start..<cursor) }
                    start = cursor + 1
                }
                cursor += 1
            }
            if start < bytes.count { ranges.append(start..<bytes.count) }
            return ranges
        } ?? nil
        guard let found else {
            return value.split(maxSplits: maxSplits, omittingEmptySubsequences: true) { $0.isASCII && isSeparator($0.asciiValue!) }
        }
        return found.map { range in
            let start = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
            return value[start..<utf8.index(start, offsetBy: range.count)]
        }
    }

    /// The latest second since the epoch a log's time may name (2^33, in 2242): a time later,
    /// or before the epoch, is not one (and would not fit in a `Timestamp` with a duration).
    static let latestSecond: Int64 = 1 << 33
    /// The longest duration a line may give, in nanoseconds (2^60, about 36 years).
    static let longestDuration: Int64 = 1 << 60

    /// `value`, counted in units of which there are `unit` in a second (1 for seconds, 1e3 for
    /// milliseconds, 1e6 for microseconds), as whole nanoseconds; `nil` when it is negative, not a
    /// number, or not under `longestDuration`.
    static func nanoseconds(_ value: Double, unit: Double) -> Int64? {
        let nanoseconds = (value * (1e9 / unit)).rounded()
        guard nanoseconds.isFinite, nanoseconds >= 0, nanoseconds < Double(Self.longestDuration) else { return nil }
        return Int64(nanoseconds)
    }

    /// `22/Nov/2026:01:17:59.149` or `06/Dec/2026:20:31:56 +0000`: a zone when given, else `zone`.
    static func commonLogTime(_ text: Substring, zone: LocalZone) -> (Timestamp, Int64)? {
        if let read = text.utf8.withContiguousStorageIfAvailable({ Self.commonLogTime(bytes: $0, zone: zone) }), let read {
            return read
        }
        let parts = text.split(separator: " ")
        guard let first = parts.first else { return nil }
        let pieces = first.split(separator: ":", maxSplits: 1)
        guard pieces.count == 2 else { return nil }
        let date = pieces[0].split(separator: "/")
        let clock = pieces[1].split(separator: ":")
        guard date.count == 3, clock.count == 3, let day = Int(date[0]), let month = LocalZone.month(date[1]), let year = Int(date[2]),
              let hour = Int(clock[0]), let minute = Int(clock[1])
        else { return nil }
        // (Seconds of dots alone, `01:17:..`, split into nothing.)
        let secondParts = clock[2].split(separator: ".")
        guard let first = secondParts.first, let second = Int(first) else { return nil }
        var nanosecond: Int64 = 0
        var precision: Int64 = 1_000_000_000
        if secondParts.count == 2, secondParts[1].count <= 9, let fraction = Int64(secondParts[1]) {
            var scale: Int64 = 1
            for _ in 0..<(9 - secondParts[1].count) { scale *= 10 }
            nanosecond = fraction * scale
            precision = scale
        }
        var effective = zone
        if parts.count == 2 {
            guard let given = LocalZone(fixedOffset: parts[1]) else { return nil }
            effective = given
        }
        guard let time = effective.instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond)
        else { return nil }
        return (time, precision)
    }

    /// The first two words of a request line (`GET /x HTTP/1.1`), split at runs of spaces;
    /// `nil` with fewer than two.
    static func requestWords(_ value: Substring) -> (Substring, Substring)? {
        let utf8 = value.utf8
        let space = UInt8(ascii: " ")
        var cursor = utf8.startIndex
        func word() -> Range<Substring.Index>? {
            while cursor < utf8.endIndex, utf8[cursor] == space { utf8.formIndex(after: &cursor) }
            guard cursor < utf8.endIndex else { return nil }
            let start = cursor
            while cursor < utf8.endIndex, utf8[cursor] != space { utf8.formIndex(after: &cursor) }
            return start..<cursor
        }
        guard let method = word(), let target = word() else { return nil }
        return (value[method], value[target])
    }

    /// `06/Dec/2026:23:38:28 +0000` (a fraction after the seconds, the zone optional) read from
    /// its bytes at their fixed places: the shape nginx's `$time_local` and Apache's `%t` always
    /// have, and an access log has one per line. `nil` for any other shape, which
    /// `commonLogTime(_:zone:)` then reads by its parts.
    static func commonLogTime(bytes: UnsafeBufferPointer<UInt8>, zone: LocalZone) -> (Timestamp, Int64)? {
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let digit = Int(bytes[index]) &- 0x30
                guard (0...9).contains(digit) else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard bytes.count >= 20, bytes[2] == UInt8(ascii: "/"), bytes[6] == UInt8(ascii: "/"), bytes[11] == UInt8(ascii: ":"),
              bytes[14] == UInt8(ascii: ":"), bytes[17] == UInt8(ascii: ":"),
              let day = number(0..<2), let year = number(7..<11), let hour = number(12..<14), let minute = number(15..<17),
              let second = number(18..<20), let month = Self.monthIndex(bytes[3], bytes[4], bytes[5])
        else { return nil }
        var cursor = 20
        var nanosecond: Int64 = 0
        var precision: Int64 = 1_000_000_000
        if cursor < bytes.count, bytes[cursor] == UInt8(ascii: ".") {
            var end = cursor + 1
            while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
            let digits = end - cursor - 1
            guard (1...9).contains(digits), let fraction = number((cursor + 1)..<end) else { return nil }
            precision = 1
            for _ in 0..<(9 - digits) { precision *= 10 }
            nanosecond = Int64(fraction) * precision
            cursor = end
        }
        var effective = zone
        if cursor < bytes.count {
            // ` +0100`: nothing else may follow the time.
            guard bytes.count - cursor == 6, bytes[cursor] == UInt8(ascii: " "), bytes[cursor + 1] == UInt8(ascii: "+") || bytes[cursor + 1] == UInt8(ascii: "-"),
                  let hours = number((cursor + 2)..<(cursor + 4)), let minutes = number((cursor + 4)..<(cursor + 6)), hours <= 14, minutes < 60
            else { return nil }
            let offset = Int64(hours * 3600 + minutes * 60) * (bytes[cursor + 1] == UInt8(ascii: "-") ? -1 : 1)
            effective = LocalZone(rule: .fixed(offset), name: "")
        }
        guard let time = effective.instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond)
        else { return nil }
        return (time, precision)
    }

    /// `Jan` ... `Dec` as 1 ... 12, from its three bytes.
    static func monthIndex(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Int? {
        switch (a, b, c) {
        case (0x4a, 0x61, 0x6e): return 1  // Jan
        case (0x46, 0x65, 0x62): return 2  // Feb
        case (0x4d, 0x61, 0x72): return 3  // Mar
        case (0x41, 0x70, 0x72): return 4  // Apr
        case (0x4d, 0x61, 0x79): return 5  // May
        case (0x4a, 0x75, 0x6e): return 6  // Jun
        case (0x4a, 0x75, 0x6c): return 7  // Jul
        case (0x41, 0x75, 0x67): return 8  // Aug
        case (0x53, 0x65, 0x70): return 9  // Sep
        case (0x4f, 0x63, 0x74): return 10  // Oct
        case (0x4e, 0x6f, 0x76): return 11  // Nov
        case (0x44, 0x65, 0x63): return 12  // Dec
        default: return nil
        }
    }

    /// `2026-12-06T20:31:56+00:00` (nginx's `$time_iso8601`).
    static func iso8601(_ text: Substring) -> Timestamp? {
        guard text.count >= 20, let year = Int(text.prefix(4)), let month = Int(text.dropFirst(5).prefix(2)),
              let day = Int(text.dropFirst(8).prefix(2)), let hour = Int(text.dropFirst(11).prefix(2)),
              let minute = Int(text.dropFirst(14).prefix(2)), let second = Int(text.dropFirst(17).prefix(2))
        else { return nil }
        let zoneText = text.dropFirst(19)
        let zone = zoneText == "Z" ? LocalZone(rule: .fixed(0), name: "Z") : LocalZone(fixedOffset: zoneText)
        return zone?.instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// The endpoint of `http://127.0.0.1:18082/x` (the scheme's port when none is given); `nil`
    /// for an upstream block's name.
    static func endpoint(ofURL url: Substring) -> Endpoint? {
        guard let scheme = url.firstRange(of: "://") else { return nil }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" }
        let defaultPort: UInt16 = url[..<scheme.lowerBound].hasSuffix("s") ? 443 : 80
        return Endpoint(parsing: authority, defaultPort: defaultPort)
    }

    static func int(_ line: Substring, _ offset: Int, _ count: Int) -> Int? {
        let start = line.index(line.startIndex, offsetBy: offset)
        let digits = line[start..<line.index(start, offsetBy: count)]
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}

extension LocalZone {
    /// `+0000`, `-05:30`.
    init?(fixedOffset text: Substring) {
        guard text.first == "+" || text.first == "-" else { return nil }
        self.init(parsing: String(text))
    }
}
