import CaptureModel
import PacketDecoding
import TCPReassembly
import Testing

private let c: UInt32 = 4_294_967_000  // gateway ISN: wraps within the connection
private let s: UInt32 = 90000  // upstream ISN

@Test func ladderKeepsTheFirstAndLastPacketsWithRelativeNumbers() throws {
    var h = FlowHarness()
    h.send(fromGateway: true, seq: c, flags: .syn)
    h.send(fromGateway: false, seq: s, ack: c &+ 1, flags: [.syn, .ack])
    h.send(fromGateway: true, seq: c &+ 1, ack: s + 1, flags: .ack)
    // 97 data segments of 100 bytes from the gateway, each acknowledged: 197 packets in all.
    for index in 0..<97 {
        let seq = c &+ 1 &+ UInt32(index * 100)
        h.send(fromGateway: true, seq: seq, ack: s + 1, flags: [.psh, .ack], [UInt8](repeating: 0x41, count: 100))
        if index < 96 { h.send(fromGateway: false, seq: s + 1, ack: seq &+ 100, flags: .ack) }
    }
    let end = c &+ 1 &+ 9700
    h.send(fromGateway: false, seq: s + 1, ack: end, flags: [.rst, .ack])
    h.finish()
    let ladder = try #require(h.sink.ended.first).facts.ladder

    #expect(ladder.count == 3 + 97 + 96 + 1)
    #expect(ladder.head.count == PacketLadder.headCapacity)
    #expect(ladder.tail.count == PacketLadder.tailCapacity)
    #expect(ladder.omitted == ladder.count - 24 - 8)
    #expect(ladder.head.map(\.frame) == Array(1...24))
    #expect(ladder.tail.map(\.frame) == Array(190...197))

    // Wireshark's relative numbers: the SYN is 0, the SYN-ACK acknowledges 1, across the wrap.
    let syn = ladder.head[0]
    #expect(syn.flags == 0x02 && syn.direction == .client)
    #expect(ladder.relativeSequence(of: syn) == 0)
    #expect(ladder.relativeAcknowledgment(of: syn) == nil)
    let synAck = ladder.head[1]
    #expect(ladder.relativeSequence(of: synAck) == 0)
    #expect(ladder.relativeAcknowledgment(of: synAck) == 1)
    let firstData = ladder.head[3]
    #expect(firstData.payloadLength == 100)
    #expect(ladder.relativeSequence(of: firstData) == 1)
    let reset = try #require(ladder.tail.last)
    #expect(reset.direction == .server)
    #expect(reset.flags == 0x14)
    #expect(ladder.relativeSequence(of: reset) == 1)
    #expect(ladder.relativeAcknowledgment(of: reset) == 9701)
    #expect(reset.time == Timestamp(nanoseconds: 197 * 1_000_000))
}

@Test func ladderOfAMidStreamPickupCountsFromTheFirstSequenceSeen() throws {
    var h = FlowHarness()
    h.send(fromGateway: false, seq: s + 500, ack: c &+ 40, flags: [.psh, .ack], Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
    h.send(fromGateway: true, seq: c &+ 40, ack: s + 519, flags: .ack)
    h.finish()
    let ladder = try #require(h.sink.ended.first).facts.ladder
    #expect(ladder.count == 2)
    #expect(ladder.tail.isEmpty)
    #expect(ladder.omitted == 0)
    #expect(ladder.relativeSequence(of: ladder.head[0]) == 0)
    // The gateway had not sent anything when the upstream acknowledged it: no base yet then,
    // but the ladder is read after the fact, so the ACK is relative to the gateway's first sequence.
    #expect(ladder.relativeAcknowledgment(of: ladder.head[0]) == 0)
    #expect(ladder.relativeAcknowledgment(of: ladder.head[1]) == 19)
}
