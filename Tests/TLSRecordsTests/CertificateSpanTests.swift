import CaptureModel
import TLSRecords
import Testing
import TestSupport

// Issue 15 item 12: a certificate finding's evidence is the Certificate handshake message, its
// 4-byte header and its body, wherever records and segments cut it.

/// The ServerHello (4 + 40 bytes) comes first in the server's first record, so the Certificate
/// message starts at stream offset 5 + 44 and runs on into the second record.
@Test func certificateMessageSpanIsItsHeaderAndBody() throws {
    var exchange = TLSExchange()
    tls12Conversation(&exchange, split: false)
    let span = try #require(exchange.connection.certificateMessage)
    let message = TLSWire.certificate([leaf, intermediate])
    #expect(span.location.offset == 5 + UInt64(TLSWire.serverHello().count))
    #expect(span.length == UInt64(message.count))
    #expect(span.location.frame == 2)
    #expect(span.location.frameOffset == 66 + 5 + TLSWire.serverHello().count)
    #expect(span.firstBytes == Array(message.prefix(TLSSpan.firstBytesLimit)))
    #expect(!span.encrypted)
    // The record that holds the message's start is still where the Certificate's record began.
    #expect(exchange.connection.certificateLocation?.offset == 0)
}

/// Fed one byte per segment, the message's first byte is in its own frame: the span names it.
@Test func certificateMessageSpanSurvivesSplitsAtEveryByte() throws {
    var split = TLSExchange()
    tls12Conversation(&split, split: true)
    let span = try #require(split.connection.certificateMessage)
    let helloFrames = TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")).count
    let offset = 5 + TLSWire.serverHello().count
    #expect(span.location.offset == UInt64(offset))
    #expect(span.length == UInt64(TLSWire.certificate([leaf, intermediate]).count))
    // One frame per byte: the client's hello took the first frames, then the server's bytes.
    #expect(span.location.frame == FrameNumber(helloFrames + offset + 1))
    #expect(span.location.frameOffset == 66)
    var whole = TLSExchange()
    tls12Conversation(&whole, split: false)
    #expect(span.firstBytes == whole.connection.certificateMessage?.firstBytes)
}

/// A message that starts in a later record than the one holding the end of the message before
/// it: the span starts after that record's header.
@Test func certificateMessageInItsOwnRecord() throws {
    var exchange = TLSExchange()
    exchange.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    let hello = TLSWire.record(22, TLSWire.serverHello())
    let certificate = TLSWire.record(22, TLSWire.certificate([leaf]))
    exchange.send(.server, hello + certificate, cuts: [hello.count + 3])
    let span = try #require(exchange.connection.certificateMessage)
    #expect(span.location.offset == UInt64(hello.count + 5))
    #expect(span.location.frame == 3)
    #expect(span.location.frameOffset == 66 + 2)
    #expect(span.length == UInt64(4 + 3 + 3 + leaf.count))
}
