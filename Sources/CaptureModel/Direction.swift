/// Which way bytes travel on a connection, named by the sender.
///
/// The client is the gateway (it opens connections to the upstream); the server is the upstream.
public enum Direction: UInt8, Hashable, Sendable, CaseIterable {
    /// Sent by the client (the gateway): requests.
    case client = 0
    /// Sent by the server (the upstream): responses.
    case server = 1

    /// The other direction.
    @inlinable
    public var reversed: Direction {
        switch self {
        case .client: return .server
        case .server: return .client
        }
    }

    /// `client` or `server`, as the JSON report writes it.
    public var name: String {
        switch self {
        case .client: return "client"
        case .server: return "server"
        }
    }
}

/// A frame's number in its capture file: 1-based, counting every record, as Wireshark and
/// tshark number them (`tshark -r FILE -Y 'frame.number == N'`).
public typealias FrameNumber = UInt32
