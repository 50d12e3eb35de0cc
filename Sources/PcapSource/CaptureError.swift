/// An operational failure reading or writing a capture: the file, and a reason a person understands.
public struct CaptureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for tests and exit statuses.
    public enum Code: String, Hashable, Sendable {
        /// The file could not be opened or is not a capture libpcap understands.
        case cannotOpen
        /// The capture's link type is not one edgescope decodes.
        case unsupportedLinkType
        /// Reading failed part-way (a corrupt record or block, a read error).
        case readFailed
        /// The capture ends inside a record: the file, or its compressed stream, is cut short.
        case cutShort
        /// A slice or report file could not be written.
        case cannotWrite
    }

    /// The kind of failure.
    public var code: Code
    /// The file concerned.
    public var path: String
    /// One line: what happened.
    public var reason: String

    /// An error from its parts.
    public init(code: Code, path: String, reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    /// `PATH: reason`.
    public var description: String { "\(self.path): \(self.reason)" }
}
