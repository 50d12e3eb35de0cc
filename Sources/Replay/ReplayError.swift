/// An operational failure of a replay, with the exit status the command-line tool gives it.
public struct ReplayError: Error, Hashable, Sendable {
    /// What kind of failure, which decides the exit status.
    public enum Kind: Hashable, Sendable {
        /// A bad choice on the command line (an unknown connection, one with nothing to replay): status 1.
        case usage
        /// A capture, key log, certificate or listening address that cannot be used: status 2.
        case unusable
    }

    /// What kind.
    public var kind: Kind
    /// The sentence printed after `edgescope: `.
    public var message: String

    /// An error from its parts.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
