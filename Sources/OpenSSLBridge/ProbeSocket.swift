#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking TCP socket with deadlines, for `TLSProbe`. OpenSSL never touches it: the probe
/// moves bytes between it and memory BIOs, so every wait has a deadline and a closed peer can
/// never raise SIGPIPE (sends use MSG_NOSIGNAL).
struct ProbeSocket: ~Copyable {
    let descriptor: Int32
    /// The peer, `127.0.0.1:4433` or `[::1]:4433`.
    let address: String
    /// This end, `127.0.0.1:53124` (`nil` when the system would not say).
    let local: String?

    /// What a read produced.
    enum Received {
        case bytes([UInt8])
        case closed
        case reset
        case timedOut
        case failed(String)
    }

    /// Connects to the first address of `host` that accepts, trying each in resolver order.
    static func connect(host: String, port: UInt16, deadline: ContinuousClock.Instant) throws(ProbeError) -> ProbeSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        // A bracketed IPv6 literal, as people write it next to a port.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let status = getaddrinfo(name, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ProbeError(code: .resolve, message: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }

        var lastError = ProbeError(code: .connect, message: "cannot connect to \(host) port \(port): no address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let text = describe(current.pointee.ai_addr, length: current.pointee.ai_addrlen, port: port)
            let descriptor = socket(current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), current.pointee.ai_protocol)
            guard descriptor >= 0 else {
                lastError = ProbeError(code: .setup, message: "cannot create a socket for \(text): \(errnoText())")
                continue
            }
            let flags = fcntl(descriptor, F_GETFL)
            _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
            if Glibc.connect(descriptor, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 {
                return ProbeSocket(descriptor: descriptor, address: text, local: localAddress(descriptor))
            }
            guard errno == EINPROGRESS else {
                lastError = connectError(errno, to: text, from: localAddress(descriptor))
                close(descriptor)
                continue
            }
            guard wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                close(descriptor)
                // The deadline covers every address; the next one would have no time left.
                throw ProbeError(code: .connectTimeout, message: "timed out connecting to \(text)")
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length)
            if socketError == 0 {
                return ProbeSocket(descriptor: descriptor, address: text, local: localAddress(descriptor))
            }
            lastError = connectError(socketError, to: text, from: localAddress(descriptor))
            close(descriptor)
        }
        throw lastError
    }

    deinit {
        close(descriptor)
    }

    /// Sends every byte, waiting for room until the deadline.
    func send(_ bytes: [UInt8], until deadline: ContinuousClock.Instant) throws(ProbeError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer in
                Glibc.send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                offset += sent
                continue
            }
            let code = errno
            if sent < 0 && (code == EAGAIN || code == EWOULDBLOCK || code == EINTR) {
                guard ProbeSocket.wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                    throw ProbeError(code: .io, message: "timed out sending to \(address)")
                }
                continue
            }
            throw ProbeError(code: .io, message: "cannot send to \(address): \(ProbeSocket.errnoText(code))")
        }
    }

    /// Reads what is available (up to 16 KiB), waiting until the deadline for something to arrive.
    func receive(until deadline: ContinuousClock.Instant) -> Received {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 { return .bytes(Array(buffer.prefix(count))) }
            if count == 0 { return .closed }
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK, EINTR:
                guard ProbeSocket.wait(descriptor, for: Int16(POLLIN), until: deadline) else { return .timedOut }
            case ECONNRESET:
                return .reset
            default:
                return .failed(ProbeSocket.errnoText(code))
            }
        }
    }

    /// Waits until the socket is ready for `events` or the deadline passes (then `false`).
    static func wait(_ descriptor: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return false }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return true }  // let the read or write report the error
        }
    }

    private static func connectError(_ code: Int32, to text: String, from local: String? = nil) -> ProbeError {
        if code == ECONNREFUSED {
            var error = ProbeError(code: .refused, message: "connection refused by \(text)")
            error.peer = text
            error.local = local
            return error
        }
        if code == ETIMEDOUT {
            return ProbeError(code: .connectTimeout, message: "timed out connecting to \(text)")
        }
        return ProbeError(code: .connect, message: "cannot connect to \(text): \(errnoText(code))")
    }

    /// The socket's own address as `describe` writes it, or `nil`.
    private static func localAddress(_ descriptor: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address -> String? in
                guard getsockname(descriptor, address, &length) == 0 else { return nil }
                let port: UInt16
                if address.pointee.sa_family == sa_family_t(AF_INET6) {
                    port = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                } else {
                    port = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
                }
                return port == 0 ? nil : describe(address, length: length, port: port)
            }
        }
    }

    private static func describe(_ address: UnsafeMutablePointer<sockaddr>?, length: socklen_t, port: UInt16) -> String {
        guard let address else { return "?:\(port)" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return "?:\(port)" }
        let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return address.pointee.sa_family == sa_family_t(AF_INET6) ? "[\(text)]:\(port)" : "\(text):\(port)"
    }

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}
