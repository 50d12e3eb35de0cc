import CaptureModel
#if canImport(Glibc)
import Glibc
#endif

/// A client connection's bytes: the socket itself, or a TLS session over it. The socket's
/// ending (FIN, RST) is the server's, on the descriptor.
public protocol ReplayChannel: AnyObject {
    /// Completes any handshake; the reason when it fails.
    func open() -> String?
    /// Reads some bytes: a count, 0 when the client closed, -1 when it reset or failed.
    func receive(into buffer: inout [UInt8]) -> Int
    /// Writes all of `bytes` at once; false when the client is gone.
    func send(_ bytes: [UInt8]) -> Bool
}

/// The plain socket.
final class SocketChannel: ReplayChannel {
    let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    func open() -> String? { nil }

    func receive(into buffer: inout [UInt8]) -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            return n < 0 ? -1 : n
        }
    }

    func send(_ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(self.descriptor, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

/// Serves a `ReplayScript` to every client that connects: one thread per client.
public final class ReplayServer: @unchecked Sendable {
    /// How the captured gaps are kept.
    public enum Timing: String, Sendable, CaseIterable {
        /// Each step waits its captured delay.
        case original
        /// No waiting beyond the client's requests.
        case none
    }

    /// What was served, and how.
    public let script: ReplayScript
    /// Delays kept or not.
    public let timing: Timing
    /// Where it listens.
    public let endpoint: Endpoint
    /// Makes each accepted socket's channel (TLS wraps it); plain by default.
    public var channel: (Int32) -> ReplayChannel = { SocketChannel(descriptor: $0) }
    /// How long a closed connection waits for the client's close before giving up, in seconds.
    public var lingerSeconds = 60
    private let listener: Int32

    /// Listens on `endpoint` (never elsewhere).
    public init(script: ReplayScript, endpoint: Endpoint, timing: Timing) throws(ReplayError) {
        self.script = script
        self.endpoint = endpoint
        self.timing = timing
        var storage = sockaddr_storage()
        let length = Self.socketAddress(endpoint, into: &storage)
        let descriptor = socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ReplayError(.unusable, "cannot listen on \(endpoint): \(Self.errorText())") }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            let reason = errno == EADDRINUSE ? "the port is in use" : errno == EADDRNOTAVAIL ? "no such local address" : Self.errorText()
            close(descriptor)
            throw ReplayError(.unusable, "cannot listen on \(endpoint): \(reason)")
        }
        self.listener = descriptor
    }

    deinit {
        close(self.listener)
    }

    /// Accepts clients and serves each on a thread of its own: `count` of them, then returns
    /// once each is served; forever when `count` is nil. `log` gets one line per client.
    public func serve(count: Int?, log: @escaping @Sendable (String) -> Void) {
        var threads: [pthread_t] = []
        var served = 0
        while count.map({ served < $0 }) ?? true {
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(self.listener, $0, &length) }
            }
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                log("accept failed: \(Self.errorText())")
                return
            }
            served += 1
            let session = ClientSession(server: self, descriptor: client, peer: Self.endpoint(of: peer), number: served, log: log)
            var thread = pthread_t()
            let context = Unmanaged.passRetained(session).toOpaque()
            let status = pthread_create(&thread, nil, { context in
                Unmanaged<ClientSession>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
            if status != 0 {
                Unmanaged<ClientSession>.fromOpaque(context).release()
                session.run()
            } else if count == nil {
                pthread_detach(thread)
            } else {
                threads.append(thread)
            }
        }
        close(self.listener)
        for thread in threads { pthread_join(thread, nil) }
    }

    static func errorText() -> String { String(cString: strerror(errno)) }

    static func socketAddress(_ endpoint: Endpoint, into storage: inout sockaddr_storage) -> socklen_t {
        switch endpoint.address {
        case .v4(let value):
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    address.pointee.sin_family = sa_family_t(AF_INET)
                    address.pointee.sin_port = endpoint.port.bigEndian
                    address.pointee.sin_addr.s_addr = value.bigEndian
                    return socklen_t(MemoryLayout<sockaddr_in>.size)
                }
            }
        case .v6(let high, let low):
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    address.pointee.sin6_family = sa_family_t(AF_INET6)
                    address.pointee.sin6_port = endpoint.port.bigEndian
                    withUnsafeMutableBytes(of: &address.pointee.sin6_addr) { bytes in
                        for index in 0..<8 {
                            bytes[index] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * index))
                            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * index))
                        }
                    }
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
        }
    }

    static func endpoint(of storage: sockaddr_storage) -> Endpoint {
        var storage = storage
        if Int32(storage.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var high: UInt64 = 0
                    var low: UInt64 = 0
                    withUnsafeBytes(of: address.pointee.sin6_addr) { bytes in
                        for index in 0..<8 {
                            high = high << 8 | UInt64(bytes[index])
                            low = low << 8 | UInt64(bytes[8 + index])
                        }
                    }
                    return Endpoint(address: .v6(high: high, low: low), port: UInt16(bigEndian: address.pointee.sin6_port))
                }
            }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                Endpoint(address: .v4(UInt32(bigEndian: address.pointee.sin_addr.s_addr)), port: UInt16(bigEndian: address.pointee.sin_port))
            }
        }
    }
}

/// One client, served on its own thread.
final class ClientSession: @unchecked Sendable {
    let server: ReplayServer
    let descriptor: Int32
    let peer: Endpoint
    let number: Int
    let log: @Sendable (String) -> Void
    private var counter: RequestCounter
    private var clientClosed = false
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private let started = ContinuousClock.now

    init(server: ReplayServer, descriptor: Int32, peer: Endpoint, number: Int, log: @escaping @Sendable (String) -> Void) {
        self.server = server
        self.descriptor = descriptor
        self.peer = peer
        self.number = number
        self.log = log
        self.counter = RequestCounter(framing: server.script.framing)
    }

    func run() {
        var one: Int32 = 1
        setsockopt(self.descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let channel = self.server.channel(self.descriptor)
        let prefix = "client \(self.number) \(self.peer)"
        if let failure = channel.open() {
            self.log("\(prefix): TLS handshake failed: \(failure); closed")
            close(self.descriptor)
            return
        }
        var segments = 0
        var bytes = 0
        var mark = ContinuousClock.now
        for step in self.server.script.steps {
            // Wait for what the captured upstream had received before this step.
            while self.counter.complete < step.after.requests || (step.after.clientClosed && !self.clientClosed) {
                if self.clientClosed {
                    self.log("\(prefix): \(self.readText) (the capture's upstream waited for \(ReplayScript.count(step.after.requests, self.unit))), "
                        + "sent \(ReplayScript.count(bytes, "byte")) in \(ReplayScript.count(segments, "segment")); the client closed first; closed\(self.elapsed)")
                    close(self.descriptor)
                    return
                }
                self.readOnce(channel)
                mark = ContinuousClock.now
            }
            if self.server.timing == .original, step.delay > 0 {
                let due = mark + .nanoseconds(step.delay)
                let now = ContinuousClock.now
                if due > now { sleepUntil(due) }
            }
            switch step.action {
            case .send(let segment):
                guard channel.send(segment) else {
                    self.log("\(prefix): \(self.readText), sent \(ReplayScript.count(bytes, "byte")) in \(ReplayScript.count(segments, "segment")); "
                        + "the client went away before segment \(segments + 1); closed\(self.elapsed)")
                    close(self.descriptor)
                    return
                }
                segments += 1
                bytes += segment.count
            case .close(let kind):
                let how: String
                switch kind {
                case .reset:
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(self.descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    close(self.descriptor)
                    how = "reset (RST)"
                case .fin:
                    shutdown(self.descriptor, Int32(SHUT_WR))
                    how = "closed (FIN)"
                }
                let waited = step.after.clientClosed ? " after the client closed" : ""
                self.log("\(prefix): \(self.readText), sent \(ReplayScript.count(bytes, "byte")) in \(ReplayScript.count(segments, "segment")), \(how)\(waited)\(self.elapsed)")
                if kind == .fin {
                    // The client's own close (or a bounded wait for it), then the descriptor.
                    self.drain(channel)
                    close(self.descriptor)
                }
                return
            }
            mark = ContinuousClock.now
        }
    }

    private var unit: String { self.server.script.framing == .http1 ? "request" : "client burst" }
    private var readText: String { "read \(ReplayScript.count(self.counter.complete, self.unit))" }
    private var elapsed: String {
        let duration = ContinuousClock.now - self.started
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return " in \(milliseconds) ms"
    }

    private func readOnce(_ channel: ReplayChannel) {
        let n = channel.receive(into: &self.buffer)
        if n <= 0 {
            self.clientClosed = true
        } else {
            self.counter.feed(self.buffer[0..<n])
        }
    }

    /// Reads until the client closes, at most `lingerSeconds`.
    private func drain(_ channel: ReplayChannel) {
        var timeout = timeval(tv_sec: self.server.lingerSeconds, tv_usec: 0)
        setsockopt(self.descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while !self.clientClosed { self.readOnce(channel) }
    }
}

func sleepUntil(_ due: ContinuousClock.Instant) {
    let remaining = due - ContinuousClock.now
    let (seconds, attoseconds) = remaining.components
    guard seconds > 0 || attoseconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var left = timespec()
    while nanosleep(&request, &left) != 0, errno == EINTR { request = left }
}
