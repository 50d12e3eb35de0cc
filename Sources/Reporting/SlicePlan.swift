import CaptureModel
import Engine
import PacketDecoding
import TCPReassembly

/// Which frames of a capture belong to which connection's slice, for a second pass over the file.
public struct SlicePlan {
    struct Entry {
        var frames: ClosedRange<FrameNumber>
        var path: String
    }

    private var byPair: [FlowKey: [Entry]] = [:]
    /// One bit per TCP port: set for each slice's client port. A frame with neither port set is
    /// in no slice, found without hashing its endpoints (nearly every frame of a slice's range
    /// is another connection's).
    private var clientPorts = [UInt64](repeating: 0, count: 1024)
    /// Slice paths by connection id, relative to the output directory.
    public private(set) var relativePaths: [UInt32: String] = [:]
    /// The last frame any slice needs: the second pass can stop there.
    public private(set) var lastFrame: FrameNumber = 0
    /// The frames some slice may hold, as sorted disjoint ranges: most frames of a capture
    /// are in none, and the second reading passes over them (`MergedPcapReader.forEachFrame(in:)`).
    public private(set) var spans: [ClosedRange<FrameNumber>] = []

    /// A plan writing `directory/slices/<id>.pcap` for each of `connections`.
    public init(connections: [ConnectionReport], directory: String) {
        for connection in connections {
            let relative = "slices/\(connection.name).pcap"
            self.relativePaths[connection.id] = relative
            self.byPair[FlowKey(connection.client, connection.server), default: []]
                .append(Entry(frames: connection.frames, path: directory + "/" + relative))
            self.markPort(connection.client.port)
            self.lastFrame = max(self.lastFrame, connection.frames.upperBound)
        }
        self.spans = Self.merged(connections.map(\.frames))
    }

    /// A plan for connections given by id, endpoints and frames (what a streamed report keeps).
    public init(slices: [(id: UInt32, server: Endpoint, client: Endpoint, frames: ClosedRange<FrameNumber>)], directory: String) {
        for slice in slices {
            let relative = "slices/c\(slice.id).pcap"
            self.relativePaths[slice.id] = relative
            self.byPair[FlowKey(slice.client, slice.server), default: []].append(Entry(frames: slice.frames, path: directory + "/" + relative))
            self.markPort(slice.client.port)
            self.lastFrame = max(self.lastFrame, slice.frames.upperBound)
        }
        self.spans = Self.merged(slices.map(\.frames))
    }

    private mutating func markPort(_ port: UInt16) {
        self.clientPorts[Int(port >> 6)] |= 1 << UInt64(port & 63)
    }

    private func mayBeClient(_ port: UInt16) -> Bool {
        self.clientPorts[Int(port >> 6)] & (1 << UInt64(port & 63)) != 0
    }

    private static func merged(_ ranges: [ClosedRange<FrameNumber>]) -> [ClosedRange<FrameNumber>] {
        var spans: [ClosedRange<FrameNumber>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = spans.last, range.lowerBound <= last.upperBound {
                spans[spans.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                spans.append(range)
            }
        }
        return spans
    }

    /// Whether some slice's frame range holds `frame`.
    private func covers(_ frame: FrameNumber) -> Bool {
        var low = 0
        var high = self.spans.count
        while low < high {
            let middle = (low + high) / 2
            if self.spans[middle].upperBound < frame { low = middle + 1 } else { high = middle }
        }
        return low < self.spans.count && self.spans[low].contains(frame)
    }

    /// Whether there is nothing to write.
    public var isEmpty: Bool { self.byPair.isEmpty }

    /// The slice path a decoded frame belongs to, if any.
    public func path(for frame: FrameNumber, decoded: DecodedFrame) -> String? {
        guard self.covers(frame) else { return nil }
        let pair: FlowKey
        switch decoded {
        case .tcp(let segment):
            guard self.mayBeClient(segment.source.port) || self.mayBeClient(segment.destination.port) else { return nil }
            pair = FlowKey(segment.source, segment.destination)
        case .icmpUnreachable(let icmp):
            guard self.mayBeClient(icmp.quotedSource.port) || self.mayBeClient(icmp.quotedDestination.port) else { return nil }
            pair = FlowKey(icmp.quotedSource, icmp.quotedDestination)
        case .udp, .fragmentHeld, .notTCP, .truncated, .malformed: return nil
        }
        guard let entries = self.byPair[pair] else { return nil }
        return entries.first { $0.frames.contains(frame) }?.path
    }
}
