import CaptureModel
import DNS
import Diagnosis
import PacketDecoding
import TCPReassembly
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The analysis pipeline on several threads (`analyze --threads N`): the calling thread reads,
/// counts and decodes every frame and sends each TCP segment to one of `N` shards by a hash of
/// its two endpoints (both directions, and an ICMP error quoting the pair, go to the same
/// shard); each shard runs a flow table and a collector on its own thread; the calling thread
/// merges what the shards judged in frame order and hands it to the same `Merger` as `Engine`.
///
/// The analysis is `Engine`'s, byte for byte, with two exceptions: each shard's flow table holds
/// `maxConnections / N` connections and buffers `maxBufferedBytesTotal / N` and
/// `retainedBytesTotal / N` bytes, so when a capture fills the flow table (`limit.flow_table`)
/// or the reassembly memory (`limit.reassembly_buffer`), which connections pay for it differs.
/// Both are findings in the report.
///
/// What keeps it the same:
/// - Sweeps (closed connections judged, idle ones evicted) come when one table would sweep: at
///   the first TCP segment of each capture-second, decided here and sent to every shard.
/// - Each shard numbers its own connections; a connection's id in the report is the rank of its
///   first frame among every connection's, as one table numbers them, given here in frame order.
/// - For each frame, what every shard's sweep judged (by id, as one table's sweep judges) and
///   then what the frame itself finished are merged as one table would have produced them.
public final class ShardedEngine: CaptureAnalysing {
    /// The options it was made with.
    public let options: AnalysisOptions
    /// The capture's link type.
    public let linkType: LinkType

    var decoder: PacketDecoder
    var statistics = CaptureStatistics()
    var warnings: [String] = []
    /// The gateway's DNS traffic, read on this thread (it is small, and no shard's).
    var dns = DNSTracker()
    var merger: Merger
    let workers: [ShardWorker]
    /// The work being filled for each shard: the frames of the current epoch.
    var filling: [ShardWork]
    /// Epochs sent to the shards and not merged yet, oldest first; one work per shard each.
    var inFlight: [[ShardWork]] = []
    var spare: [[ShardWork]] = []
    var itemsFilled = 0
    var bytesFilled = 0
    /// When the next sweep is due: `FlowTable`'s rule, for every shard at once.
    var nextSweep: Int64 = .min
    /// Each shard's connection ids to report ids, while the connection is open.
    var reportIDs: [[UInt32: UInt32]]
    var nextReportID: UInt32 = 1
    var finished = false

    /// Frames' items an epoch carries before it is sent, and payload bytes.
    static let epochItems = 4096
    static let epochBytes = 4 << 20
    /// Epochs in flight before the reader waits for the oldest to be merged.
    static let epochsInFlight = 4

    /// An engine for a capture of `linkType` with `shards` analysing threads (1...64), started now.
    public init(linkType: LinkType, options: AnalysisOptions = AnalysisOptions(), shards: Int) {
        precondition((1...64).contains(shards), "1 to 64 shards")
        self.options = options
        self.linkType = linkType
        self.decoder = PacketDecoder(linkType: linkType)
        self.merger = Merger(options: options)
        var limits = options.limits
        limits.maxConnections = max(1, limits.maxConnections / shards)
        limits.maxBufferedBytesTotal = max(1, limits.maxBufferedBytesTotal / shards)
        limits.retainedBytesTotal = max(1, limits.retainedBytesTotal / shards)
        self.workers = (0..<shards).map { _ in
            var flows = Engine.flowTable(options: options, limits: limits)
            flows.sweepOnlyWhenAsked()
            return ShardWorker(shard: EngineShard(flows: flows, collector: Engine.collector(options: options)))
        }
        self.filling = (0..<shards).map { _ in ShardWork() }
        self.reportIDs = Array(repeating: [:], count: shards)
        for worker in self.workers { worker.start() }
    }

    deinit {
        // Finished or not (a read error thrown past the caller), the threads end here.
        if !self.finished {
            for worker in self.workers { worker.stop() }
        }
    }

    /// Feeds the next record of the capture; returns what it decoded to (its payload points into
    /// `frame`'s bytes, valid as long as they are).
    @discardableResult
    public func process(_ frame: RawFrame) -> DecodedFrame {
        precondition(!self.finished, "process after finish")
        self.statistics.count(frame)
        let captureEnd = self.statistics.lastTime!
        let decoded = self.decoder.decode(frame)
        self.statistics.count(decoded, frame: frame.number)
        switch decoded {
        case .tcp(let segment) where DNSTracker.isDNS(segment):
            self.dns.feed(segment, frame: frame.number, time: frame.timestamp)
        case .udp(let datagram):
            self.dns.feed(datagram, frame: frame.number, time: frame.timestamp)
        case .tcp(var segment):
            if frame.timestamp.nanoseconds >= self.nextSweep {
                self.nextSweep = frame.timestamp.nanoseconds &+ 1_000_000_000
                for work in self.filling {
                    work.items.append(.sweep(now: frame.timestamp, frame: frame.number, captureEnd: captureEnd))
                }
            }
            let work = self.filling[Self.shard(of: segment.source, segment.destination, count: self.workers.count)]
            let start = work.arena.append(segment.payload)
            let payload = start..<(start + segment.payload.count)
            segment.payload = UnsafeRawBufferPointer(start: nil, count: 0)
            work.items.append(.segment(segment, payload: payload, frame: frame.number, time: frame.timestamp, captureEnd: captureEnd))
            self.itemsFilled += 1
            self.bytesFilled += payload.count
        case .icmpUnreachable(let icmp):
            let work = self.filling[Self.shard(of: icmp.quotedSource, icmp.quotedDestination, count: self.workers.count)]
            work.items.append(.unreachable(icmp, mark: PacketMark(frame: frame.number, time: frame.timestamp)))
            self.itemsFilled += 1
        case .fragmentHeld, .notTCP, .truncated, .malformed:
            break
        }
        if self.itemsFilled >= Self.epochItems || self.bytesFilled >= Self.epochBytes {
            self.sendEpoch()
        }
        return decoded
    }

    /// Connections judged since the last call (in scope of `--upstream`), in the order one
    /// flow table would have judged them. They lag the frames fed by up to a few epochs.
    public func takeEnded() -> [ConnectionReport] {
        self.merger.takeEnded()
    }

    /// The ids of the connections the result lists so far: one merged and not among them
    /// will not be listed.
    public func listedConnectionIDs() -> Set<UInt32> {
        self.merger.listedIDs()
    }

    /// Adds a sentence about the capture itself to the report (for the reader's errors).
    public func addWarning(_ warning: String) {
        self.warnings.append(warning)
    }

    /// `finish()`, then what it judged handed to `handOver` in one batch (the shards' last
    /// connections are merged in one go).
    public func finish(handingOverEnded handOver: (consuming [ConnectionReport]) -> Void) -> AnalysisResult {
        let result = self.finish()
        let ended = self.takeEnded()
        if !ended.isEmpty { handOver(ended) }
        return result
    }

    /// Ends every open connection, stops the threads and returns the analysis.
    public func finish() -> AnalysisResult {
        precondition(!self.finished, "finish twice")
        self.sendEpoch()
        let end = self.statistics.lastTime ?? .zero
        for work in self.filling { work.items.append(.finish(at: end, captureEnd: end)) }
        self.sendEpoch()
        while !self.inFlight.isEmpty { self.mergeOldest() }
        self.finished = true
        var tlsSessions = 0
        var tlsSessionsWithKeys = 0
        for worker in self.workers {
            worker.stop()
            // Joined: the shard is this thread's again.
            self.statistics.flowTableEvictions += worker.shard.flows.flowTableEvictions
            tlsSessions += worker.shard.collector.tlsSessions
            tlsSessionsWithKeys += worker.shard.collector.tlsSessionsWithKeys
        }
        self.statistics.fragments = self.decoder.fragmentCounters
        var result = self.merger.finish(
            linkType: self.linkType, statistics: self.statistics, warnings: self.warnings, tlsSessions: tlsSessions,
            tlsSessionsWithKeys: tlsSessionsWithKeys)
        if !self.dns.isEmpty { result.attachDNS(self.dns) }
        return result
    }

    /// The shard of the connection between `a` and `b`: the same both ways round, and the same
    /// from run to run (not `Hasher`, which is seeded per process), so timings repeat.
    static func shard(of a: Endpoint, _ b: Endpoint, count: Int) -> Int {
        func mix(_ endpoint: Endpoint) -> UInt64 {
            var x: UInt64
            switch endpoint.address {
            case .v4(let value): x = UInt64(value)
            case .v6(let high, let low): x = high ^ (low &* 0x9e37_79b9_7f4a_7c15)
            }
            x = (x &* 0x9e37_79b9_7f4a_7c15) ^ UInt64(endpoint.port)
            // splitmix64's finaliser.
            x ^= x >> 30
            x &*= 0xbf58_476d_1ce4_e5b9
            x ^= x >> 27
            x &*= 0x94d0_49bb_1331_11eb
            x ^= x >> 31
            return x
        }
        return Int((mix(a) &+ mix(b)) % UInt64(count))
    }

    /// Sends the epoch being filled to the shards (after merging the oldest one in flight, when
    /// as many as allowed are).
    private func sendEpoch() {
        if self.inFlight.count >= Self.epochsInFlight { self.mergeOldest() }
        for (worker, work) in zip(self.workers, self.filling) { worker.input.push(work) }
        self.inFlight.append(self.filling)
        self.filling = self.spare.popLast() ?? self.workers.map { _ in ShardWork() }
        self.itemsFilled = 0
        self.bytesFilled = 0
    }

    /// Waits for every shard's part of the oldest epoch and merges it.
    private func mergeOldest() {
        let epoch = self.inFlight.removeFirst()
        for (worker, work) in zip(self.workers, epoch) {
            let done = worker.output.pop()
            precondition(done === work, "a shard answers its epochs in order")
        }
        if case .finish = epoch[0].items.last {
            self.mergeFinish(epoch)
        } else {
            self.merge(epoch)
        }
        for work in epoch { work.reset() }
        self.spare.append(epoch)
    }

    /// Replays one epoch's records frame by frame, in the order one flow table would have
    /// produced them: for each frame, what every shard's sweep judged, by report id, then what
    /// the frame's own shard finished and judged.
    private func merge(_ epoch: [ShardWork]) {
        var cursors = [Int](repeating: 0, count: epoch.count)
        var swept: [(id: UInt32, ended: EndedConnection)] = []
        var finished: [FinishedTransaction] = []
        var reports: [ConnectionReport] = []
        while true {
            var frame = FrameNumber.max
            var any = false
            for shard in epoch.indices where cursors[shard] < epoch[shard].records.count {
                frame = min(frame, epoch[shard].records[cursors[shard]].frame)
                any = true
            }
            guard any else { break }
            var now = Timestamp.zero
            var own: (shard: Int, record: Int)?
            for shard in epoch.indices where cursors[shard] < epoch[shard].records.count {
                let index = cursors[shard]
                guard epoch[shard].records[index].frame == frame else { continue }
                cursors[shard] += 1
                now = epoch[shard].records[index].now
                for ended in epoch[shard].records[index].swept {
                    swept.append((self.reportIDs[shard].removeValue(forKey: ended.report.id)!, ended))
                }
                if epoch[shard].records[index].hasOwnOutput {
                    precondition(own == nil, "one shard has each frame")
                    own = (shard, index)
                }
            }
            if !swept.isEmpty {
                swept.sort { $0.id < $1.id }
                for (id, ended) in swept { self.append(ended, as: id, finished: &finished, reports: &reports) }
                swept.removeAll(keepingCapacity: true)
            }
            if let (shard, index) = own {
                let record = epoch[shard].records[index]
                if record.started != 0 {
                    self.reportIDs[shard][record.started] = self.nextReportID
                    self.nextReportID += 1
                }
                for var transaction in record.finished {
                    transaction.connection = self.reportIDs[shard][transaction.connection]!
                    finished.append(transaction)
                }
                for var report in record.reports {
                    report.id = self.reportIDs[shard].removeValue(forKey: report.id)!
                    reports.append(report)
                }
            }
            if !finished.isEmpty || !reports.isEmpty {
                if !self.dns.isEmpty, !reports.isEmpty { self.dns.markDrift(in: &reports) }
                self.merger.absorb(finished: &finished, reports: &reports, now: now)
            }
        }
    }

    /// The capture's end: every shard's open connections, ended by report id as one table's
    /// `finish` ends them, absorbed at once.
    private func mergeFinish(_ epoch: [ShardWork]) {
        var swept: [(id: UInt32, ended: EndedConnection)] = []
        for (shard, work) in epoch.enumerated() {
            for record in work.records {
                precondition(!record.hasOwnOutput, "only ends at the capture's end")
                for ended in record.swept {
                    swept.append((self.reportIDs[shard].removeValue(forKey: ended.report.id)!, ended))
                }
            }
        }
        swept.sort { $0.id < $1.id }
        var finished: [FinishedTransaction] = []
        var reports: [ConnectionReport] = []
        for (id, ended) in swept { self.append(ended, as: id, finished: &finished, reports: &reports) }
        if !self.dns.isEmpty, !reports.isEmpty { self.dns.markDrift(in: &reports) }
        self.merger.absorb(finished: &finished, reports: &reports, now: self.statistics.lastTime ?? .zero)
    }

    private func append(_ ended: EndedConnection, as id: UInt32, finished: inout [FinishedTransaction], reports: inout [ConnectionReport]) {
        for var transaction in ended.finished {
            transaction.connection = id
            finished.append(transaction)
        }
        var report = ended.report
        report.id = id
        reports.append(report)
    }
}

/// What `analyze` drives: `Engine` on the calling thread, or `ShardedEngine` on several.
public protocol CaptureAnalysing {
    /// Feeds the next record of the capture; returns what it decoded to.
    @discardableResult
    mutating func process(_ frame: RawFrame) -> DecodedFrame
    /// Connections judged since the last call, when the options ask for `queueEnded`.
    mutating func takeEnded() -> [ConnectionReport]
    /// The ids of the connections the result lists so far (those taken with `takeEnded()` and
    /// not among them will not be listed).
    func listedConnectionIDs() -> Set<UInt32>
    /// Adds a sentence about the capture itself to the report.
    mutating func addWarning(_ warning: String)
    /// Ends every open connection and returns the analysis.
    mutating func finish() -> AnalysisResult
    /// Ends every open connection and returns the analysis, handing the connections judged
    /// meanwhile to `handOver` (when the options ask for `queueEnded`) rather than keeping them
    /// for `takeEnded()`.
    mutating func finish(handingOverEnded handOver: (consuming [ConnectionReport]) -> Void) -> AnalysisResult
}

extension Engine: CaptureAnalysing {}

// MARK: - Shards

/// One connection a shard ended: its report and the transactions handed on as it ended, with
/// the shard's own connection id in both.
struct EndedConnection {
    var report: ConnectionReport
    var finished: [FinishedTransaction] = []
}

/// What a shard produced at one frame.
struct ShardRecord {
    /// The frame; the outputs of a sweep that came before it count as its.
    var frame: FrameNumber
    /// The latest capture time when it was processed (`Collector.captureEnd`).
    var now: Timestamp
    /// Connections a sweep before the frame ended, by the shard's id.
    var swept: [EndedConnection] = []
    /// The shard's id of the connection the frame started, or 0.
    var started: UInt32 = 0
    /// What the frame itself finished and judged (an ended connection it reused, or ended to
    /// make room, and its own connection's transactions).
    var finished: [FinishedTransaction] = []
    var reports: [ConnectionReport] = []

    var hasOwnOutput: Bool { self.started != 0 || !self.finished.isEmpty || !self.reports.isEmpty }
}

/// What the reader sends a shard, in frame order.
enum ShardItem {
    /// A segment; its payload is `payload` of the work's arena.
    case segment(TCPSegment, payload: Range<Int>, frame: FrameNumber, time: Timestamp, captureEnd: Timestamp)
    /// An ICMP error quoting a segment of this shard's.
    case unreachable(ICMPUnreachable, mark: PacketMark)
    /// A sweep due before `frame`.
    case sweep(now: Timestamp, frame: FrameNumber, captureEnd: Timestamp)
    /// The capture is over: end every connection.
    case finish(at: Timestamp, captureEnd: Timestamp)
}

/// One epoch of one shard: the items the reader sent, the payload bytes they point into, and
/// the records the shard made of them. Reused from epoch to epoch.
///
/// `@unchecked Sendable`: one thread owns it at a time, the reader while it fills it, the shard
/// while it runs it, the reader again while it merges it; it passes between them only through a
/// `WorkQueue`, whose mutex orders one owner's writes before the next owner's reads.
final class ShardWork: @unchecked Sendable {
    var items: [ShardItem] = []
    var arena = ByteArena()
    var records: [ShardRecord] = []

    deinit {
        self.arena.release()
    }

    func reset() {
        self.items.removeAll(keepingCapacity: true)
        self.records.removeAll(keepingCapacity: true)
        self.arena.reset()
    }
}

/// Payload bytes copied out of the reader's buffer, which the next frame overwrites: one
/// growing block, reused, so a packet costs a copy and no allocation.
struct ByteArena {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private var capacity = 0

    /// Copies `bytes` in; returns where they start.
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let start = self.count
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return start }
        if self.count + bytes.count > self.capacity {
            let capacity = max(self.capacity * 2, self.count + bytes.count, 64 << 10)
            let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            if let base = self.base {
                grown.copyMemory(from: base, byteCount: self.count)
                base.deallocate()
            }
            self.base = grown
            self.capacity = capacity
        }
        (self.base! + self.count).copyMemory(from: source, byteCount: bytes.count)
        self.count += bytes.count
        return start
    }

    /// `range` of the bytes appended.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        guard let base = self.base, !range.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    mutating func reset() {
        self.count = 0
    }

    /// Frees the block (the owner's deinit).
    func release() {
        self.base?.deallocate()
    }
}

/// One shard's flow table and collector: `Engine`'s per-connection half.
struct EngineShard {
    var flows: FlowTable
    var collector: Collector

    /// Runs one epoch's items, leaving their outputs in `work.records`.
    mutating func run(_ work: ShardWork) {
        for item in work.items {
            switch item {
            case .segment(var segment, let payload, let frame, let time, let captureEnd):
                segment.payload = work.arena.bytes(payload)
                self.collector.captureEnd = captureEnd
                let seen = self.flows.connectionsSeen
                self.flows.process(segment, frame: frame, time: time, sink: &self.collector)
                let started = self.flows.connectionsSeen != seen ? UInt32(self.flows.connectionsSeen) : 0
                guard started != 0 || !self.collector.finished.isEmpty || !self.collector.reports.isEmpty else { continue }
                if work.records.last?.frame != frame {
                    work.records.append(ShardRecord(frame: frame, now: captureEnd))
                }
                let last = work.records.count - 1
                work.records[last].started = started
                swap(&work.records[last].finished, &self.collector.finished)
                swap(&work.records[last].reports, &self.collector.reports)
            case .unreachable(let icmp, let mark):
                self.flows.noteICMP(icmp, mark: mark)
            case .sweep(let now, let frame, let captureEnd):
                self.collector.captureEnd = captureEnd
                self.flows.sweep(now: now, sink: &self.collector)
                let ended = self.takeEnded()
                if !ended.isEmpty { work.records.append(ShardRecord(frame: frame, now: captureEnd, swept: ended)) }
            case .finish(let time, let captureEnd):
                self.collector.captureEnd = captureEnd
                self.flows.finish(at: time, sink: &self.collector)
                let ended = self.takeEnded()
                if !ended.isEmpty { work.records.append(ShardRecord(frame: .max, now: captureEnd, swept: ended)) }
            }
        }
    }

    /// What a sweep or the end left in the collector, by connection: it only ends connections,
    /// and each one ended hands on its own transactions and then its report.
    private mutating func takeEnded() -> [EndedConnection] {
        precondition(!self.collector.reports.isEmpty || self.collector.finished.isEmpty, "transactions without an ended connection")
        guard !self.collector.reports.isEmpty else { return [] }
        var ended = self.collector.reports.map { EndedConnection(report: $0) }
        if !self.collector.finished.isEmpty {
            var index: [UInt32: Int] = [:]
            for (position, connection) in ended.enumerated() { index[connection.report.id] = position }
            for transaction in self.collector.finished {
                ended[index[transaction.connection]!].finished.append(transaction)
            }
        }
        self.collector.reports.removeAll(keepingCapacity: true)
        self.collector.finished.removeAll(keepingCapacity: true)
        return ended
    }
}

/// A shard and the thread it runs on.
///
/// `@unchecked Sendable`: `shard` is used by the worker thread between `start()` and the join
/// in `stop()`, and by the owner only before and after (pthread_create and pthread_join order
/// those accesses); the queues lock themselves.
final class ShardWorker: @unchecked Sendable {
    var shard: EngineShard
    let input = WorkQueue()
    let output = WorkQueue()
    private var thread: pthread_t?

    init(shard: EngineShard) {
        self.shard = shard
    }

    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let worker = Unmanaged<ShardWorker>.fromOpaque(context!).takeRetainedValue()
            worker.loop()
            return nil
        }, context)
        precondition(status == 0, "pthread_create: \(status)")
        self.thread = thread
    }

    /// Lets the thread finish the work queued and end, and waits for it.
    func stop() {
        guard let thread = self.thread else { return }
        self.input.push(nil)
        pthread_join(thread, nil)
        self.thread = nil
    }

    private func loop() {
        while let work = self.input.pop() {
            self.shard.run(work)
            self.output.push(work)
        }
    }
}

/// A first-in first-out hand-over of work between two threads; `nil` says there is no more.
///
/// `@unchecked Sendable`: `items` is only touched with `mutex` held, and the mutex and condition
/// variable live at addresses of their own that never move, as pthreads require.
final class WorkQueue: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var items: [ShardWork?] = []
    private var head = 0

    init() {
        pthread_mutex_init(self.mutex, nil)
        pthread_cond_init(self.condition, nil)
    }

    deinit {
        pthread_cond_destroy(self.condition)
        pthread_mutex_destroy(self.mutex)
        self.condition.deallocate()
        self.mutex.deallocate()
    }

    func push(_ work: ShardWork?) {
        pthread_mutex_lock(self.mutex)
        self.items.append(work)
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    /// The oldest item, waiting for one if there is none.
    func pop() -> ShardWork? {
        pthread_mutex_lock(self.mutex)
        while self.head == self.items.count {
            pthread_cond_wait(self.condition, self.mutex)
        }
        let work = self.items[self.head]
        self.head += 1
        if self.head == self.items.count {
            self.items.removeAll(keepingCapacity: true)
            self.head = 0
        }
        pthread_mutex_unlock(self.mutex)
        return work
    }
}
