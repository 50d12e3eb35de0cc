import CaptureModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// Each literal piece's UTF-8 (empty for a field), at the piece's index.
    let literalBytes: [[UInt8]]
    /// How many of the pieces are fields.
    let fieldCount: Int
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

    private init(pieces: [Piece], name: String, kind: GatewayLogKind) {
        self.pieces = pieces
        self.literalBytes = pieces.map { piece in
            if case .literal(let text) = piece { return Array(text.utf8) }
            return []
        }
        self.fieldCount = pieces.count { if case .field = $0 { return true } else { return false } }
        self.name = name
        self.kind = kind
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
        self.init(pieces: pieces, name: name, kind: kind)
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
        self.init(pieces: pieces, name: name, kind: kind)
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

    /// One format, shared by the records read in it, which read their fields from their text
    /// again when asked (`GatewayLogRecord.fields`) instead of each holding them.
    final class Shared: Sendable {
        let format: AccessLogFormat
        init(_ format: AccessLogFormat) { self.format = format }

        /// The fields of `text`, a line in this format, by name, as `GatewayLogRecord.fields` lists them.
        func fieldValues(of text: String) -> [(name: String, value: String)] {
            self.format.fields(of: Substring(text))?.map { ($0.name, String($0.value)) } ?? []
        }
    }

    /// The fields of `line` by name, or `nil` when the line is not in this layout.
    func fields(of line: Substring) -> [(name: String, meaning: Meaning, value: Substring)]? {
        let utf8 = line.utf8
        let found = utf8.withContiguousStorageIfAvailable { self.fieldSpans(in: $0) }
            ?? Array(utf8).withUnsafeBufferPointer { self.fieldSpans(in: $0) }
        guard let spans = found else { return nil }
        var out: [(name: String, meaning: Meaning, value: Substring)] = []
        out.reserveCapacity(spans.count)
        var field = 0
        for piece in self.pieces {
            guard case .field(let name, let meaning) = piece else { continue }
            let span = spans[field]
            let start = utf8.index(utf8.startIndex, offsetBy: span.lowerBound)
            let end = utf8.index(start, offsetBy: span.count)
            out.append((name, meaning, line[start..<end]))
            field += 1
        }
        return out
    }

    /// Where each field of the line `bytes` is (UTF-8 offsets, in the fields' order), or `nil`
    /// when the line is not in this layout. Each field runs up to the first occurrence of the
    /// literal after it, byte for byte: a line is bytes, and an access log has millions.
    private func fieldSpans(in bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        var spans: [Range<Int>] = []
        spans.reserveCapacity(self.fieldCount)
        var cursor = 0
        for index in self.pieces.indices {
            switch self.pieces[index] {
            case .literal:
                let literal = self.literalBytes[index]
                guard bytes.count - cursor >= literal.count, Self.matches(literal, in: bytes, at: cursor) else { return nil }
                cursor += literal.count
            case .field(_, let meaning):
                var end: Int
                if meaning == .commonLogTime, cursor < bytes.count, bytes[cursor] == UInt8(ascii: "["),
                   let close = Self.firstIndex(of: [UInt8(ascii: "]")], in: bytes, from: cursor) {
                    // Apache's %t brings its own brackets, and a space inside them.
                    end = close + 1
                } else if index + 1 < self.pieces.count, case .literal = self.pieces[index + 1] {
                    guard let next = Self.firstIndex(of: self.literalBytes[index + 1], in: bytes, from: cursor) else { return nil }
                    end = next
                } else if index + 1 == self.pieces.count {
                    end = bytes.count
                } else {
                    // Two fields with nothing between: the first is one token.
                    end = Self.firstIndex(of: [UInt8(ascii: " ")], in: bytes, from: cursor) ?? bytes.count
                }
                spans.append(cursor..<end)
                cursor = end
            }
        }
        return cursor == bytes.count ? spans : nil
    }

    private static func matches(_ literal: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> Bool {
        for index in literal.indices where bytes[offset + index] != literal[index] { return false }
        return true
    }

    /// Where `literal` (not empty) first starts in `bytes` at or after `offset`.
    private static func firstIndex(of literal: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from offset: Int) -> Int? {
        guard let first = literal.first else { return offset }
        var start = offset
        while bytes.count - start >= literal.count {
            guard let hit = memchr(bytes.baseAddress! + start, Int32(first), bytes.count - start) else { return nil }
            let at = bytes.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            guard bytes.count - at >= literal.count else { return nil }
            if Self.matches(literal, in: bytes, at: at) { return at }
            start = at + 1
        }
        return nil
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
