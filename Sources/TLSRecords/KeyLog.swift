/// An NSS key log (`SSLKEYLOGFILE`, as curl, browsers, OpenSSL's keylog callback, HAProxy and
/// Envoy write it): secrets by client random.
///
/// Each line is `LABEL <client_random hex> <secret hex>`; `#` starts a comment.
public struct KeyLog: Sendable {
    /// The secrets of one TLS session.
    public struct Secrets: Hashable, Sendable {
        /// TLS 1.2 and earlier: the 48-byte master secret (`CLIENT_RANDOM`).
        public var masterSecret: [UInt8]?
        /// TLS 1.3 (RFC 8446 §7.1).
        public var clientHandshakeTraffic: [UInt8]?
        public var serverHandshakeTraffic: [UInt8]?
        public var clientTraffic0: [UInt8]?
        public var serverTraffic0: [UInt8]?
        /// TLS 1.3 early data (0-RTT, RFC 8446 §7.1 client_early_traffic_secret).
        public var clientEarlyTraffic: [UInt8]?
    }

    /// A line that is not a key-log line.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// 1-based line number.
        public var line: Int
        public var reason: String
        public var description: String { "line \(self.line): \(self.reason)" }

        /// An error from its parts.
        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    /// Secrets by client random.
    public private(set) var sessions: [[UInt8]: Secrets] = [:]
    /// Lines with a label edgescope does not use (kept for the report, not an error).
    public private(set) var ignoredLines = 0

    /// An empty key log.
    public init() {}

    /// Parses key-log text; a malformed line is an error naming its number.
    public init(parsing text: String) throws(ParseError) {
        try self.add(parsing: text, firstLine: 1)
    }

    /// Adds the lines of `text`, the first of them numbered `firstLine` (a key log read again
    /// as the TLS client appends to it). Returns how many sessions gained a secret they lacked
    /// or changed one; a line repeating what is known changes nothing.
    ///
    /// A malformed line is an error naming its number; the lines before it are kept, the lines
    /// after it are not read.
    @discardableResult
    public mutating func add(parsing text: String, firstLine: Int) throws(ParseError) -> Int {
        var changed: Set<[UInt8]> = []
        var number = firstLine - 1
        // "\r\n" is one Character in Swift, so split on any newline, not on "\n".
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            number += 1
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3 else {
                throw ParseError(line: number, reason: "expected LABEL CLIENT_RANDOM SECRET, found \(fields.count) field(s)")
            }
            guard let random = Self.hex(fields[1]), random.count == 32 else {
                throw ParseError(line: number, reason: "the client random must be 64 hex digits")
            }
            guard let secret = Self.hex(fields[2]), !secret.isEmpty else {
                throw ParseError(line: number, reason: "the secret is not hex")
            }
            let known = self.sessions[random]
            var session = known ?? Secrets()
            switch fields[0] {
            case "CLIENT_RANDOM":
                guard secret.count == 48 else { throw ParseError(line: number, reason: "a CLIENT_RANDOM master secret is 48 bytes") }
                session.masterSecret = secret
            case "CLIENT_HANDSHAKE_TRAFFIC_SECRET": session.clientHandshakeTraffic = secret
            case "SERVER_HANDSHAKE_TRAFFIC_SECRET": session.serverHandshakeTraffic = secret
            case "CLIENT_TRAFFIC_SECRET_0": session.clientTraffic0 = secret
            case "SERVER_TRAFFIC_SECRET_0": session.serverTraffic0 = secret
            case "CLIENT_EARLY_TRAFFIC_SECRET": session.clientEarlyTraffic = secret
            default:
                // EXPORTER_SECRET, EARLY_EXPORTER_SECRET, RSA...: not needed.
                self.ignoredLines += 1
                continue
            }
            if session != known {
                self.sessions[random] = session
                changed.insert(random)
            }
        }
        return changed.count
    }

    /// The secrets for a session, by its ClientHello random.
    public func secrets(clientRandom: [UInt8]) -> Secrets? {
        self.sessions[clientRandom]
    }

    private static func hex(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - 55
        default: return nil
        }
    }
}
