#if canImport(Glibc)
import Glibc
#endif

/// What one plain-TCP probe exchange did, event by event with the wall-clock time of each, so
/// the caller can replay it through the same analysis as a capture (`edgescope probe http://...`).
public struct ProbeTranscript: Hashable, Sendable {
    /// One thing that happened on the connection.
    public enum Event: Hashable, Sendable {
        /// The probe started connecting (its SYN).
        case connecting
        /// The upstream refused the connection (an RST answered the SYN).
        case refused
        /// The connection was established (SYN-ACK, ACK).
        case connected
        /// The probe sent these bytes.
        case sent([UInt8])
        /// These bytes arrived from the upstream.
        case received([UInt8])
        /// The upstream closed its side (FIN).
        case upstreamClosed
        /// The upstream reset the connection (RST).
        case upstreamReset
        /// The probe closed its side: after the upstream closed, or when it gave up waiting.
        case probeClosed
    }

    /// The upstream's address, `127.0.0.1:8080` or `[::1]:8080`.
    public var peer: String
    /// The probe's own address, when the system gave one.
    public var local: String?
    /// What happened, in order, with the time in nanoseconds since the Unix epoch.
    public var events: [(time: Int64, event: Event)]
    /// How reading the response ended (`.notRequested` when the connection was refused).
    public var responseEnd: ProbeResult.ResponseEnd

    public static func == (lhs: ProbeTranscript, rhs: ProbeTranscript) -> Bool {
        lhs.peer == rhs.peer && lhs.local == rhs.local && lhs.responseEnd == rhs.responseEnd
            && lhs.events.map(\.time) == rhs.events.map(\.time) && lhs.events.map(\.event) == rhs.events.map(\.event)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.peer)
        hasher.combine(self.events.map(\.event))
    }

    /// The bytes received, in order.
    public var response: [UInt8] {
        var bytes: [UInt8] = []
        for (_, event) in self.events {
            if case .received(let chunk) = event { bytes += chunk }
        }
        return bytes
    }
}

/// An active plain-HTTP client: connects to an upstream, sends one request, and records what
/// happens until the upstream closes, the timeout passes with nothing more, or
/// `TLSProbe.responseCap` bytes arrived.
public enum PlainProbe {
    /// Connects to `host` on `port`, sends `request`, and reads the answer until the upstream
    /// closes, `timeout` passes with nothing more, or `responseComplete` says the bytes so far
    /// hold a whole response (an upstream that ignores `Connection: close` then costs no timeout).
    ///
    /// A refused connection is a transcript, not an error: it is what the probe is for. Other
    /// failures to connect (no such host, no route, connect timeout) throw.
    public static func run(
        host: String, port: UInt16, request: [UInt8], timeout: Duration, responseComplete: (([UInt8]) -> Bool)? = nil
    ) throws(ProbeError) -> ProbeTranscript {
        var events: [(time: Int64, event: ProbeTranscript.Event)] = [(self.now(), .connecting)]
        let socket: ProbeSocket
        do throws(ProbeError) {
            socket = try ProbeSocket.connect(host: host, port: port, deadline: .now.advanced(by: timeout))
        } catch {
            guard error.code == .refused, let peer = error.peer else { throw error }
            events.append((self.now(), .refused))
            return ProbeTranscript(peer: peer, local: error.local, events: events, responseEnd: .notRequested)
        }
        events.append((self.now(), .connected))
        let deadline = ContinuousClock.now.advanced(by: timeout)
        try socket.send(request, until: deadline)
        events.append((self.now(), .sent(request)))

        var response: [UInt8] = []
        var end = ProbeResult.ResponseEnd.timeout
        reading: while true {
            // The timeout counts from the last byte, as a gateway's read timeout does.
            switch socket.receive(until: ContinuousClock.now.advanced(by: timeout)) {
            case .bytes(let bytes):
                let kept = Array(bytes.prefix(TLSProbe.responseCap - response.count))
                response += kept
                events.append((self.now(), .received(kept)))
                if response.count >= TLSProbe.responseCap {
                    end = .cap
                    break reading
                }
                if let responseComplete, responseComplete(response) {
                    end = .complete
                    break reading
                }
            case .closed:
                events.append((self.now(), .upstreamClosed))
                end = .closed
                break reading
            case .reset:
                events.append((self.now(), .upstreamReset))
                return ProbeTranscript(peer: socket.address, local: socket.local, events: events, responseEnd: .reset)
            case .timedOut:
                end = .timeout
                break reading
            case .failed(let reason):
                throw ProbeError(code: .io, message: "cannot read from \(socket.address): \(reason)")
            }
        }
        events.append((self.now(), .probeClosed))
        return ProbeTranscript(peer: socket.address, local: socket.local, events: events, responseEnd: end)
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
