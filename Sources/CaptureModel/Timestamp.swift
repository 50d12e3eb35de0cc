/// A capture time with nanosecond resolution, as libpcap gives it when a file is
/// opened with `PCAP_TSTAMP_PRECISION_NANO` (microsecond files are scaled up, never rounded).
public struct Timestamp: Hashable, Comparable, Sendable {
    /// Nanoseconds since the Unix epoch (1970-01-01T00:00:00Z). Signed, so a
    /// broken capture's "before 1970" time is representable rather than a trap.
    public var nanoseconds: Int64

    /// A time from nanoseconds since the epoch.
    @inlinable
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// A time from whole seconds and a nanosecond fraction (`0..<1_000_000_000`).
    @inlinable
    public init(seconds: Int64, nanoseconds: Int64) {
        self.nanoseconds = seconds &* 1_000_000_000 &+ nanoseconds
    }

    /// The zero time, used before the first frame is seen.
    public static let zero = Timestamp(nanoseconds: 0)

    @inlinable
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// Nanoseconds from `other` to `self` (negative when `self` is earlier).
    @inlinable
    public func nanoseconds(since other: Timestamp) -> Int64 {
        self.nanoseconds &- other.nanoseconds
    }

    /// RFC 3339 text in UTC with nine fractional digits, e.g. `2026-04-13T10:17:42.123456789Z`.
    public var rfc3339: String {
        var seconds = self.nanoseconds / 1_000_000_000
        var fraction = self.nanoseconds % 1_000_000_000
        if fraction < 0 {
            fraction += 1_000_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = Timestamp.civilDate(daysSinceEpoch: days)
        let hour = secondOfDay / 3600
        let minute = (secondOfDay % 3600) / 60
        let second = secondOfDay % 60
        return "\(Timestamp.pad(year, 4))-\(Timestamp.pad(month, 2))-\(Timestamp.pad(day, 2))T"
            + "\(Timestamp.pad(hour, 2)):\(Timestamp.pad(minute, 2)):\(Timestamp.pad(second, 2))."
            + "\(Timestamp.pad(fraction, 9))Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    // Howard Hinnant's days-to-civil algorithm: exact for the proleptic Gregorian calendar,
    // with no Foundation calendar (and its locale surprises) involved.
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
