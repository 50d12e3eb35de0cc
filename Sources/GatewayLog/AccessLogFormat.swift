import CaptureModel

/// An access log's layout, from an nginx `log_format` string or an Apache `LogFormat` (which
/// lighttpd's `accesslog.format` and varnishncsa's `-F` share): literal text and fields. A
/// line is read by taking each field up to the literal after it.
public struct AccessLogFormat: Sendable {
    /// What a field means for the join; `other` is shown but not used.
    enum Meaning: Sendable, Equatable {
        case epochSeconds, fractionMicroseconds, fractionMilliseconds, commonLogTime, iso8601Time
        case status, upstreamAddress, upstreamStatus, request, method, target, clientAddress, clientPort, requestID
        case durationSeconds, durationMicroseconds, durationMilliseconds
        case other
    }

    enum Piece: Sendable {
        case literal(String)
        case field(name: String, meaning: Meaning)
    }

    let pieces: [Piece]
    /// How the format was given (`nginx:combined`), for messages.
    public let name: String
    /// `nginxAccess` or `apacheAccess` (`varnishncsa` for the built-in combined read as Varnish's).
    public let kind: GatewayLogKind

    /// nginx's default `combined`, which is also NCSA combined (Apache's, varnishncsa's default).
    public static let nginxCombined = AccessLogFormat(
        nginx: #"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        name: "nginx:combined", kind: .combinedAccess)!

    /// Apache's `combined` LogFormat.
    public static let apacheCombined = AccessLogFormat(apache: #"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#, name: "apache:combined", kind: .combinedAccess)!
    /// Apache's `common` LogFormat.
    public static let apacheCommon = AccessLogFormat(apache: #"%h %l %u %t "%r" %>s %b"#, name: "apache:common")!

    /// Reads `--gateway-log-format` values: `nginx:FORMAT` (an nginx `log_format` string, or
    /// `combined`), `apache:FORMAT` or `lighttpd:FORMAT` (a `LogFormat` string, or `combined`,
    /// `common`). `nil` when it is none of these, or has no field.
    public init?(option text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon].lowercased()
        var format = String(text[text.index(after: colon)...])
        // As pasted from a config file: outer quotes, `\"` inside.
        format = format.trimmingSpaces
        if format.count >= 2, let first = format.first, first == "'" || first == "\"", format.last == first {
            format = String(format.dropFirst().dropLast())
        }
        format = format.replacing(#"\""#, with: "\"")
        switch kind {
        case "nginx":
            if format == "combined" { self = Self.nginxCombined; return }
            self.init(nginx: format, name: text)
        case "apache", "lighttpd", "varnishncsa":
            if format == "combined" { self = Self.nginxCombined; return }
            if format == "common" { self = Self.apacheCommon; return }
            self.init(apache: format, name: text, kind: kind == "lighttpd" ? .lighttpdAccess : .apacheAccess)
        default:
            return nil
        }
    }

    /// An nginx `log_format` string: `$name` and `${name}` fields.
    init?(nginx format: String, name: String, kind: GatewayLogKind = .nginxAccess) {
        var pieces: [Piece] = []
        var literal = ""
        var index = format.startIndex
        while index < format.endIndex {
            let character = format[index]
            guard character == "$" else {
                literal.append(character)
                index = format.index(after: index)
                continue
            }
            var cursor = format.index(after: index)
            var braced = false
            if cursor < format.endIndex, format[cursor] == "{" {
                braced = true
                cursor = format.index(after: cursor)
            }
            let start = cursor
            while cursor < format.endIndex, format[cursor].isLetter || format[cursor].isNumber || format[cursor] == "_" {
                cursor = format.index(after: cursor)
            }
            let variable = String(format[start..<cursor])
            if braced {
                guard cursor < format.endIndex, format[cursor] == "}" else { return nil }
                cursor = format.index(after: cursor)
            }
            guard !variable.isEmpty else {
                literal.append(character)
                index = format.index(after: index)
                continue
            }
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = ""
            pieces.append(.field(name: variable, meaning: Self.nginxMeaning(variable)))
            index = cursor
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        guard pieces.contains(where: { if case .field = $0 { return true } else { return false } }) else { return nil }
        self.pieces = pieces
        self.name = name
        self.kind = kind
    }

    /// An Apache `LogFormat` string: `%h`, `%>s`, `%{Referer}i`, `%{%s}t`.
    init?(apache format: String, name: String, kind: GatewayLogKind = .apacheAccess) {
        var pieces: [Piece] = []
        var literal = ""
        let characters = Array(format)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            guard character == "%", index + 1 < characters.count else {
                literal.append(character)
                index += 1
                continue
            }
            var cursor = index + 1
            if characters[cursor] == "%" {
                literal.append("%")
                index = cursor + 1
                continue
            }
            // Conditions (`%400,501{User-agent}i`) and the original/final marks (`%<s`, `%>s`).
            while cursor < characters.count, characters[cursor] == "<" || characters[cursor] == ">" || characters[cursor] == "!"
                || characters[cursor] == "," || characters[cursor].isNumber {
                cursor += 1
            }
            var argument = ""
            if cursor < characters.count, characters[cursor] == "{" {
                guard let close = characters[cursor...].firstIndex(of: "}") else { return nil }
                argument = String(characters[(cursor + 1)..<close])
                cursor = close + 1
            }
            guard cursor < characters.count, characters[cursor].isLetter else { return nil }
            let letter = characters[cursor]
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = ""
            let fieldName = "%" + (argument.isEmpty ? "" : "{\(argument)}") + String(letter)
            pieces.append(.field(name: fieldName, meaning: Self.apacheMeaning(letter, argument: argument)))
            index = cursor + 1
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        guard pieces.contains(where: { if case .field = $0 { return true } else { return false } }) else { return nil }
        self.pieces = pieces
        self.name = name
        self.kind = kind
    }

    static func nginxMeaning(_ variable: String) -> Meaning {
        switch variable {
        case "msec": return .epochSeconds
        case "time_local": return .commonLogTime
        case "time_iso8601": return .iso8601Time
        case "status": return .status
        case "upstream_addr": return .upstreamAddress
        case "upstream_status": return .upstreamStatus
        case "request": return .request
        case "request_method": return .method
        case "request_uri": return .target
        case "remote_addr", "realip_remote_addr": return .clientAddress
        case "remote_port", "realip_remote_port": return .clientPort
        case "request_id", "http_x_request_id", "http_x_correlation_id", "sent_http_x_request_id": return .requestID
        case "request_time": return .durationSeconds
        default: return .other
        }
    }

    static func apacheMeaning(_ letter: Character, argument: String) -> Meaning {
        switch (letter, argument.lowercased()) {
        case ("t", ""): return .commonLogTime
        case ("t", "%s"), ("t", "sec"): return .epochSeconds
        case ("t", "usec_frac"): return .fractionMicroseconds
        case ("t", "msec_frac"): return .fractionMilliseconds
        case ("s", _): return .status
        case ("r", _): return .request
        case ("m", _): return .method
        case ("U", _): return .target
        case ("a", ""), ("h", ""), ("a", "c"): return .clientAddress
        case ("p", "remote"): return .clientPort
        case ("i", "x-request-id"), ("i", "x-correlation-id"), ("e", "unique_id"), ("L", _): return .requestID
        case ("D", _): return .durationMicroseconds
        case ("T", ""), ("T", "s"): return .durationSeconds
        case ("T", "ms"): return .durationMilliseconds
        case ("T", "us"): return .durationMicroseconds
        default: return .other
        }
    }

    /// The fields of `line` by name, or `nil` when the line is not in this layout.
    func fields(of line: Substring) -> [(name: String, meaning: Meaning, value: Substring)]? {
        var out: [(name: String, meaning: Meaning, value: Substring)] = []
        var cursor = line.startIndex
        var index = 0
        while index < self.pieces.count {
            switch self.pieces[index] {
            case .literal(let text):
                guard line[cursor...].hasPrefix(text) else { return nil }
                cursor = line.index(cursor, offsetBy: text.count)
            case .field(let name, let meaning):
                var end: Substring.Index
                if meaning == .commonLogTime, line[cursor...].hasPrefix("["), let close = line[cursor...].firstIndex(of: "]") {
                    // Apache's %t brings its own brackets, and a space inside them.
                    end = line.index(after: close)
                } else if index + 1 < self.pieces.count, case .literal(let next) = self.pieces[index + 1] {
                    guard let found = line[cursor...].firstRange(of: next) else { return nil }
                    end = found.lowerBound
                } else if index + 1 == self.pieces.count {
                    end = line.endIndex
                } else {
                    // Two fields with nothing between: the first is one token.
                    end = line[cursor...].firstIndex(of: " ") ?? line.endIndex
                }
                out.append((name, meaning, line[cursor..<end]))
                cursor = end
            }
            index += 1
        }
        guard cursor == line.endIndex else { return nil }
        return out
    }

    /// Whether the layout gives a time.
    var hasTime: Bool {
        self.pieces.contains { piece in
            if case .field(_, let meaning) = piece { return [.epochSeconds, .commonLogTime, .iso8601Time].contains(meaning) }
            return false
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
