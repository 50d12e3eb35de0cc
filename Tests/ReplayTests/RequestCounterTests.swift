import Replay
import Testing

/// Feeds `bytes` whole, byte by byte and at every split point; returns the counts seen.
private func counts(_ bytes: [UInt8], framing: ReplayScript.Framing = .http1) -> Set<Int> {
    var results: Set<Int> = []
    var whole = RequestCounter(framing: framing)
    whole.feed(bytes)
    results.insert(whole.complete)
    var single = RequestCounter(framing: framing)
    for byte in bytes { single.feed([byte]) }
    results.insert(single.complete)
    for split in 0...bytes.count {
        var counter = RequestCounter(framing: framing)
        counter.feed(bytes[..<split])
        counter.feed(bytes[split...])
        results.insert(counter.complete)
    }
    return results
}

@Test func aGETWithoutBodyIsOneRequestAtItsEmptyLine() {
    let request = Array("GET /s/a/1 HTTP/1.1\r\nHost: up\r\n\r\n".utf8)
    #expect(counts(request) == [1])
    var counter = RequestCounter(framing: .http1)
    counter.feed(request.dropLast())
    #expect(counter.complete == 0)
}

@Test func aContentLengthBodyIsWaitedFor() {
    let request = Array("POST /s/b/2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".utf8)
    #expect(counts(request) == [1])
    var counter = RequestCounter(framing: .http1)
    counter.feed(request.dropLast())
    #expect(counter.complete == 0)
}

@Test func aChunkedBodyEndsWithItsLastChunkAndTrailers() {
    let request = Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n".utf8)
    #expect(counts(request) == [1])
    var counter = RequestCounter(framing: .http1)
    counter.feed(request.dropLast(2))
    #expect(counter.complete == 0)
}

@Test func keepAliveRequestsAreCountedEachAfterAPROXYHeader() {
    let proxy = Array("PROXY TCP4 127.0.0.1 127.0.0.1 40000 18090\r\n".utf8)
    let requests = Array("GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\n\r\n".utf8)
    #expect(counts(proxy + requests) == [3])
    // PROXY v2 (signature, version/command, family, 12 address bytes).
    let v2: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C]
        + [UInt8](repeating: 1, count: 12)
    #expect(counts(v2 + requests) == [3])
}

@Test func opaqueBurstsEndOnTLSRecordBoundaries() {
    // A ClientHello-sized handshake record, then an alert: two records, one burst when read together.
    let record: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4]
    let alert: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x02, 2, 70]
    var counter = RequestCounter(framing: .opaque)
    counter.feed(record.prefix(7))
    #expect(counter.complete == 0)
    counter.feed(record.dropFirst(7) + alert)
    #expect(counter.complete == 1)
    counter.feed(Array("GET / HTTP/1.1\r\n".utf8))
    #expect(counter.complete == 2)
}
