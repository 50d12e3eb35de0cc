import CaptureModel
import PacketDecoding
import Testing
import TestSupport

@testable import DNS

private let resolver = Endpoint(address: .v4(0x7f00_0001), port: 40000)
private let server = Endpoint(address: .v4(0x7f00_0035), port: 53)

/// Frames fed through the packet decoder to a tracker, numbered from 1, one millisecond apart
/// unless a time is given.
private struct Feed {
    var tracker = DNSTracker()
    var decoder = PacketDecoder(linkType: .ethernet)
    var frame: FrameNumber = 0

    mutating func send(_ bytes: [UInt8], at milliseconds: Int64? = nil) {
        self.frame += 1
        let time = Timestamp(nanoseconds: (milliseconds ?? Int64(self.frame)) * 1_000_000)
        withFrame(bytes, number: self.frame, timestamp: time) { raw in
            switch self.decoder.decode(raw) {
            case .udp(let datagram): self.tracker.feed(datagram, frame: raw.number, time: time)
            case .tcp(let segment):
                #expect(DNSTracker.isDNS(segment))
                self.tracker.feed(segment, frame: raw.number, time: time)
            default: Issue.record("frame \(raw.number) is not DNS")
            }
        }
    }

    mutating func udp(_ message: [UInt8], fromResolver: Bool, at milliseconds: Int64? = nil) {
        self.send(fromResolver ? FrameBuilder.udp(from: resolver, to: server, payload: message) : FrameBuilder.udp(from: server, to: resolver, payload: message), at: milliseconds)
    }
}

private func ms(_ value: Int64) -> Timestamp { Timestamp(nanoseconds: value * 1_000_000) }

@Suite struct UDPDecodingTests {
    @Test func aDatagramToOrFromPort53IsUDP() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let query = DNSBytes.query(name: "api.internal")
        let snapshot = decoder.decodeSnapshot(FrameBuilder.udp(from: resolver, to: server, payload: query))
        #expect(snapshot == .udp(source: resolver, destination: server, payload: query, payloadWireLength: query.count))
        let v6 = Endpoint(address: .v6(high: 0xfd00 << 48, low: 1), port: 53)
        let client6 = Endpoint(address: .v6(high: 0xfd00 << 48, low: 2), port: 5000)
        #expect(decoder.decodeSnapshot(FrameBuilder.udp(from: v6, to: client6, payload: [1, 2])) == .udp(source: v6, destination: client6, payload: [1, 2], payloadWireLength: 2))
    }

    @Test func otherUDPIsStillNotTCP() {
        var decoder = PacketDecoder(linkType: .ethernet)
        let mdns = Endpoint(address: .v4(0xe000_00fb), port: 5353)
        #expect(decoder.decodeSnapshot(FrameBuilder.udp(from: resolver, to: mdns, payload: [1])) == .notTCP)
    }

    @Test func aUDPLengthPastTheIPLengthIsMalformed() {
        var decoder = PacketDecoder(linkType: .ethernet)
        var frame = FrameBuilder.udp(from: resolver, to: server, payload: [1, 2, 3])
        // Ethernet 14 + IPv4 20: the UDP length field is at 38.
        frame[38] = 0
        frame[39] = 200
        #expect(decoder.decodeSnapshot(frame) == .malformed(layer: "udp", reason: "length field disagrees with the IP length"))
        #expect(decoder.decodeSnapshot(FrameBuilder.udp(from: resolver, to: server, payload: [1]), capturedLength: 36) == .truncated(layer: "udp"))
    }
}

@Suite struct DNSTrackerTests {
    @Test func anNXDOMAINExplainsAnErrorUntilTheNameResolvesAgain() {
        var feed = Feed()
        feed.udp(DNSBytes.query(id: 1, name: "nx.internal"), fromResolver: true, at: 10)
        feed.udp(DNSBytes.response(id: 1, name: "nx.internal", rcode: 3), fromResolver: false, at: 11)
        let explanation = feed.tracker.explanation(at: ms(12))
        #expect(explanation == DNSTracker.Explanation(code: .dnsNXDOMAIN, name: "nx.internal", frame: 2, time: ms(11)))
        // Not before anything happened; between the query and the answer, the query was unanswered.
        #expect(feed.tracker.explanation(at: ms(9)) == nil)
        #expect(feed.tracker.explanation(at: ms(10))?.code == .dnsTimeout)
        feed.udp(DNSBytes.query(id: 2, name: "nx.internal"), fromResolver: true, at: 20)
        feed.udp(DNSBytes.response(id: 2, name: "nx.internal", addresses: [0x0a00_0001]), fromResolver: false, at: 21)
        #expect(feed.tracker.explanation(at: ms(22)) == nil)
        let summary = feed.tracker.finish()
        #expect(summary.findings.map(\.code) == [.dnsNXDOMAIN])
        #expect(summary.findings.first?.frames == [2])
        #expect(summary.names.first?.answers.map(\.queryFrame) == [1, 3])
    }

    @Test func aQueryStillUnansweredIsATimeout() {
        var feed = Feed()
        feed.udp(DNSBytes.query(id: 7, name: "silent.internal", type: 1), fromResolver: true, at: 100)
        feed.udp(DNSBytes.query(id: 8, name: "silent.internal", type: 28), fromResolver: true, at: 101)
        #expect(feed.tracker.explanation(at: ms(2101)) == DNSTracker.Explanation(code: .dnsTimeout, name: "silent.internal", frame: 2, time: ms(101)))
        // An answer after the error does not undo it; one before does.
        feed.udp(DNSBytes.response(id: 8, name: "silent.internal", rcode: 0), fromResolver: false, at: 3000)
        #expect(feed.tracker.explanation(at: ms(2101))?.frame == 2)
        #expect(feed.tracker.explanation(at: ms(3001))?.frame == 1)
        let summary = feed.tracker.finish()
        #expect(summary.names.first?.unanswered.map(\.frame) == [1])
        #expect(summary.findings.first?.code == .dnsTimeout)
    }

    @Test func aChangedAnswerIsRecordedAndItsFailedConnectionsAreDrift() {
        var feed = Feed()
        feed.udp(DNSBytes.response(id: 1, name: "api.internal", addresses: [0x0a00_0001]), fromResolver: false, at: 1000)
        feed.udp(DNSBytes.response(id: 2, name: "api.internal", addresses: [0x0a00_0001]), fromResolver: false, at: 2000)
        feed.udp(DNSBytes.response(id: 3, name: "api.internal", addresses: [0x0a00_0009]), fromResolver: false, at: 3000)
        let old = IPAddress.v4(0x0a00_0001)
        let new = IPAddress.v4(0x0a00_0009)
        #expect(feed.tracker.noteConnection(id: 1, server: old, start: ms(3500), failed: true) == nil)
        #expect(feed.tracker.noteConnection(id: 2, server: new, start: ms(2500), failed: true) == nil)
        let appearance = feed.tracker.noteConnection(id: 3, server: new, start: ms(3500), failed: true)
        #expect(appearance == DNSTracker.Appearance(name: "api.internal", address: new, frame: 3, time: ms(3000)))
        #expect(feed.tracker.noteConnection(id: 4, server: new, start: ms(3600), failed: false) == nil)
        #expect(feed.tracker.noteConnection(id: 5, server: new, start: ms(3700), failed: true) != nil)
        let summary = feed.tracker.finish()
        #expect(summary.names.first?.changes.map(\.frame) == [3])
        let drift = summary.findings.first
        #expect(drift?.code == .dnsDrift)
        #expect(drift?.failedConnections == [3, 5])
        #expect(drift?.connections == 3)
        #expect(drift?.summary == "10.0.0.9 appeared in the answers for api.internal at 00:00:03 (frame 3); 2 of its 3 connections failed")
    }

    @Test func mostlyHealthyConnectionsToANewAddressAreNotDrift() {
        var feed = Feed()
        feed.udp(DNSBytes.response(id: 1, name: "api.internal", addresses: [1]), fromResolver: false, at: 1000)
        feed.udp(DNSBytes.response(id: 2, name: "api.internal", addresses: [2]), fromResolver: false, at: 2000)
        _ = feed.tracker.noteConnection(id: 1, server: .v4(2), start: ms(2500), failed: true)
        _ = feed.tracker.noteConnection(id: 2, server: .v4(2), start: ms(2600), failed: false)
        #expect(feed.tracker.finish().findings.isEmpty)
    }

    /// A query and its answer over TCP: the same messages whole, byte by byte, and at random
    /// split points (each piece its own segment), and a retransmission changes nothing.
    @Test(arguments: ["whole", "bytes", "random", "retransmitted"])
    func dnsOverTCPReadsTheSameHoweverItIsSplit(split: String) {
        let query = DNSBytes.query(id: 9, name: "big.internal")
        let answer = DNSBytes.response(id: 9, name: "big.internal", addresses: [0x7f00_0001, 0x7f00_0002])
        let client = Endpoint(address: resolver.address, port: 47000)
        func framed(_ message: [UInt8]) -> [UInt8] { [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message }
        func pieces(_ bytes: [UInt8]) -> [[UInt8]] {
            switch split {
            case "bytes": return bytes.map { [$0] }
            case "random":
                var generator = SystemRandomNumberGenerator()
                var cuts = Set((0..<5).map { _ in Int.random(in: 1..<bytes.count, using: &generator) })
                cuts.insert(bytes.count)
                var start = 0
                return cuts.sorted().map { end in defer { start = end }; return Array(bytes[start..<end]) }
            default: return [bytes]
            }
        }
        var feed = Feed()
        feed.send(FrameBuilder.tcp(from: client, to: server, seq: 99, flags: .syn))
        feed.send(FrameBuilder.tcp(from: server, to: client, seq: 499, ack: 100, flags: [.syn, .ack]))
        var sequence: UInt32 = 100
        for piece in pieces(framed(query)) {
            feed.send(FrameBuilder.tcp(from: client, to: server, seq: sequence, ack: 500, flags: [.ack, .psh], payload: piece))
            if split == "retransmitted" {
                feed.send(FrameBuilder.tcp(from: client, to: server, seq: sequence, ack: 500, flags: [.ack, .psh], payload: piece))
            }
            sequence &+= UInt32(piece.count)
        }
        var serverSequence: UInt32 = 500
        for piece in pieces(framed(answer)) {
            feed.send(FrameBuilder.tcp(from: server, to: client, seq: serverSequence, ack: sequence, flags: [.ack, .psh], payload: piece))
            serverSequence &+= UInt32(piece.count)
        }
        let last = feed.frame
        let summary = feed.tracker.finish()
        #expect(summary.tcpMessages == 2)
        #expect(summary.messages == 2)
        #expect(summary.tcpGaps == 0)
        let history = summary.names.first
        #expect(history?.queries == 1)
        #expect(history?.answers.map(\.frame) == [last])
        #expect(history?.answers.first?.transport == .tcp)
        #expect(history?.answers.first?.addresses == [.v4(0x7f00_0001), .v4(0x7f00_0002)])
        #expect(history?.unanswered.isEmpty == true)
    }

    @Test func aHoleInADNSTCPStreamIsAGapNotAMessage() {
        var feed = Feed()
        let client = Endpoint(address: resolver.address, port: 47001)
        let query = DNSBytes.query(id: 3, name: "a.b")
        let framed = [UInt8(0), UInt8(query.count)] + query
        feed.send(FrameBuilder.tcp(from: client, to: server, seq: 99, flags: .syn))
        feed.send(FrameBuilder.tcp(from: client, to: server, seq: 100, flags: .ack, payload: Array(framed.prefix(5))))
        feed.send(FrameBuilder.tcp(from: client, to: server, seq: 110, flags: .ack, payload: Array(framed.dropFirst(10))))
        let summary = feed.tracker.finish()
        #expect(summary.tcpGaps == 1)
        #expect(summary.messages == 0)
        #expect(summary.malformed == 0)
    }

    @Test func aMalformedMessageIsCountedWithItsFrame() {
        var feed = Feed()
        feed.udp(DNSBytes.query(name: "ok.b"), fromResolver: true)
        feed.udp(DNSBytes.header(id: 1, flags: 0x8180) + [0xc0, 0x0c, 0, 1, 0, 1], fromResolver: false)
        let summary = feed.tracker.finish()
        #expect(summary.malformed == 1)
        #expect(summary.firstMalformedFrame == 2)
        #expect(summary.messages == 1)
    }

    @Test func aPayloadCutBySnapLengthIsNotReadAsMalformed() {
        var tracker = DNSTracker()
        var decoder = PacketDecoder(linkType: .ethernet)
        let frame = FrameBuilder.udp(from: server, to: resolver, payload: DNSBytes.response(name: "a.b", addresses: [1]))
        withFrame(frame, capturedLength: frame.count - 4) { raw in
            guard case .udp(let datagram) = decoder.decode(raw) else {
                Issue.record("a cut DNS datagram is still UDP")
                return
            }
            tracker.feed(datagram, frame: raw.number, time: raw.timestamp)
        }
        let summary = tracker.finish()
        #expect(summary.cutBySnapLength == 1)
        #expect(summary.malformed == 0)
    }
}
