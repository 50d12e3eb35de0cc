import CaptureModel
#if canImport(Glibc)
import Glibc
#endif

/// The zone a log's local times are in: nginx's error.log, HAProxy's and Apache's dates carry
/// none. The machine's zone unless `--gateway-log-tz` says otherwise.
public struct LocalZone: Sendable {
    enum Rule: Sendable {
        /// The process's zone (`TZ`, else /etc/localtime), daylight saving time included.
        case machine
        /// A fixed offset east of UTC, in seconds.
        case fixed(Int64)
    }

    let rule: Rule
    /// How it was given, for messages.
    public let name: String

    /// The machine's zone.
    public static let machine = LocalZone(rule: .machine, name: "the machine's zone")

    init(rule: Rule, name: String) {
        self.rule = rule
        self.name = name
    }

    /// `UTC`, `Z`, `+02:00`, `-0530`, or a zone name of the tz database (`Europe/Paris`), which
    /// becomes the process's `TZ`. `nil` when it is none of these.
    public init?(parsing text: String) {
        if text == "UTC" || text == "Z" || text == "GMT" {
            self.init(rule: .fixed(0), name: text)
            return
        }
        if let sign = text.first, sign == "+" || sign == "-" {
            let digits = text.dropFirst().filter { $0 != ":" }
            guard digits.count == 4 || digits.count == 2, digits.allSatisfy(\.isASCII), let value = Int64(digits) else { return nil }
            let hours = digits.count == 4 ? value / 100 : value
            let minutes = digits.count == 4 ? value % 100 : 0
            guard hours <= 14, minutes < 60 else { return nil }
            let offset = (hours * 3600 + minutes * 60) * (sign == "-" ? -1 : 1)
            self.init(rule: .fixed(offset), name: text)
            return
        }
        // A tz database name: only when its file exists, so a typo is an error, not UTC.
        guard !text.isEmpty, !text.contains(".."), text.allSatisfy({ $0.isLetter || $0.isNumber || "/_-+".contains($0) }),
              access("/usr/share/zoneinfo/" + text, R_OK) == 0
        else { return nil }
        setenv("TZ", text, 1)
        tzset()
        self.init(rule: .machine, name: text)
    }

    /// The instant a wall-clock time names (nanoseconds since the epoch), `nil` for an impossible date.
    public func instant(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int64 = 0) -> Timestamp? {
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute),
              (0...60).contains(second)
        else {
            return nil
        }
        switch self.rule {
        case .fixed(let offset):
            let days = Self.daysSinceEpoch(year: year, month: month, day: day)
            let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offset
            return Timestamp(seconds: seconds, nanoseconds: nanosecond)
        case .machine:
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            parts.tm_mon = Int32(month - 1)
            parts.tm_mday = Int32(day)
            parts.tm_hour = Int32(hour)
            parts.tm_min = Int32(minute)
            parts.tm_sec = Int32(second)
            parts.tm_isdst = -1
            let seconds = mktime(&parts)
            guard seconds != -1 || (year == 1969 && month == 12 && day == 31) else { return nil }
            return Timestamp(seconds: Int64(seconds), nanoseconds: nanosecond)
        }
    }

    /// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `Jan` ... `Dec` to 1 ... 12.
    static func month(_ name: Substring) -> Int? {
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].firstIndex(of: String(name)).map { $0 + 1 }
    }
}
