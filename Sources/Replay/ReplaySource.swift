import CaptureModel
import Diagnosis
import Engine
import HTTP1
import PcapSource
import TCPReassembly
import TLSRecords

/// One connection of a capture, read for a replay: the engine's report of it and its
/// upstream's bytes as a `ReplayScript`.
public struct ReplaySource {
    /// The engine's report of the connection.
    public var report: ConnectionReport
    /// What to serve.
    public var script: ReplayScript
    /// The connection was TLS and its bytes are the decrypted ones.
    public var decrypted: Bool
    /// The certificates the upstream sent (DER, leaf first), when they could be read.
    public var certificates: [[UInt8]]

    /// Reads `path` and finds connection `name` (`c7`). With `decryption`, a TLS connection
    /// whose keys are in the key log is replayed as its decrypted bytes.
    /// `verifier` judges a captured chain (for `--forge-chain`'s shape), as `analyze`'s trust options do.
    public static func load(
        path: String, connection name: String, decryption: TLSConnection.Decryption?, verifier: (any ChainVerifying)? = nil
    ) throws(ReplayError) -> ReplaySource {
        guard name.first == "c", let id = UInt32(name.dropFirst()), id > 0 else {
            throw ReplayError(.usage, "--connection '\(name)' is not a connection id (c1, c2 ... as analyze names them)")
        }
        let reader: PcapReader
        do {
            reader = try PcapReader(path: path)
        } catch {
            throw ReplayError(.unusable, "cannot read capture \(error.description)")
        }
        var options = AnalysisOptions(verifier: verifier, decryption: decryption)
        options.queueEnded = true
        options.retention = .bounded(1)
        var engine = Engine(linkType: reader.linkType, options: options)
        // A flow table of its own, fed the segments the engine decoded: it numbers connections
        // as the engine's does and hands this one's bytes to the recording.
        var flows = FlowTable(limits: options.limits)
        var recording = ConnectionRecording(id: id)
        var report: ConnectionReport?
        var lastTime = Timestamp.zero
        do {
            try reader.forEachFrame { frame in
                lastTime = frame.timestamp
                if case .tcp(let segment) = engine.process(frame) {
                    flows.process(segment, frame: frame.number, time: frame.timestamp, sink: &recording)
                }
                if report == nil { report = engine.takeEnded().first { $0.id == id } }
            }
        } catch {
            if reader.framesRead == 0 { throw ReplayError(.unusable, "cannot read capture \(error.description)") }
        }
        flows.finish(at: lastTime, sink: &recording)
        _ = engine.finish { ended in
            if report == nil { report = ended.first { $0.id == id } }
        }
        if report == nil { report = engine.takeEnded().first { $0.id == id } }
        guard let report, recording.connection != nil else {
            let seen = flows.connectionsSeen
            throw ReplayError(.usage, "--connection \(name): no such connection; the capture has \(seen == 0 ? "none" : seen == 1 ? "c1 only" : "c1-c\(seen)")")
        }
        return try Self.make(report: report, recording: recording, decryption: decryption)
    }

    /// The script of `recording`, judged by `report`.
    static func make(report: ConnectionReport, recording: ConnectionRecording, decryption: TLSConnection.Decryption?) throws(ReplayError) -> ReplaySource {
        let facts = report.facts
        if facts.synAck == nil, !recording.events.contains(where: Self.isServerData) {
            let why = facts.server.rst != nil ? "refused it (RST to the SYN)" : "never answered its SYN"
            throw ReplayError(.usage, "--connection \(report.name): the upstream \(why); nothing to replay (a closed port or a dropped SYN reproduces it)")
        }
        var events = recording.orderedEvents
        var certificates: [[UInt8]] = []
        var decrypted = false
        let isTLS = report.tls != nil
        if isTLS {
            var tls = TLSConnection(decryption: decryption)
            var plain: [ConnectionRecording.Event] = []
            for event in events {
                switch event {
                case .data(let direction, let bytes, let offset, let frame, let time):
                    bytes.withUnsafeBytes { tls.feed($0, direction: direction, at: offset, frame: frame, frameOffset: nil, time: time) }
                    _ = tls.takeUnreadable()
                    for item in tls.takeDecrypted() {
                        plain.append(.data(item.direction, bytes: item.bytes, offset: item.offset, frame: frame, time: time))
                    }
                case .gap(let direction, let length, _, _):
                    tls.gap(length: length, direction: direction)
                    plain.append(event)
                case .fin, .reset:
                    plain.append(event)
                }
            }
            certificates = tls.certificates
            if decryption != nil {
                guard tls.keysFound else {
                    throw ReplayError(.usage, "--connection \(report.name): the key log has no keys for this TLS session; without --keylog its bytes are replayed as captured")
                }
                events = plain
                decrypted = true
            }
        }
        let requestOffsets: [UInt64]? = (isTLS && !decrypted) || report.transactions.contains { $0.streamID != nil }
            ? nil
            : report.transactions.compactMap { $0.request?.offset }
        let script = ReplayScript(
            connection: report.name, client: report.client, server: report.server, events: events,
            requestOffsets: requestOffsets.flatMap { $0.isEmpty && events.contains(where: Self.isClientData) ? nil : $0 })
        return ReplaySource(report: report, script: script, decrypted: decrypted, certificates: certificates)
    }

    private static func isServerData(_ event: ConnectionRecording.Event) -> Bool {
        if case .data(.server, _, _, _, _) = event { return true }
        return false
    }

    private static func isClientData(_ event: ConnectionRecording.Event) -> Bool {
        if case .data(.client, _, _, _, _) = event { return true }
        return false
    }
}

