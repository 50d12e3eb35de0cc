import CaptureModel
import HTTP1
import Testing

/// Mutated responses, split at random: the framer must not trap, every finding's evidence must
/// lie inside the bytes fed, and the split must not change the findings.
@Test(arguments: 0..<500)
func mutatedResponsesNeverTrapAndStayInBounds(seed: UInt64) {
    var random = SplitMix(seed: seed)
    let seeds = [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nX: y\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.0 200 OK\r\n\r\nuntil close",
    ]
    var response = Array(seeds[Int(random.next() % UInt64(seeds.count))].utf8)
    let interesting: [UInt8] = [0x00, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x22, 0x5c, 0x7f, 0xff, 0x30, 0x66, 0x01]
    for _ in 0..<Int(1 + random.next() % 6) {
        let position = Int(random.next() % UInt64(response.count))
        switch random.next() % 3 {
        case 0: response[position] = interesting[Int(random.next() % UInt64(interesting.count))]
        case 1: response.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
        default: response.remove(at: position)
        }
        if response.isEmpty { response = [0x48] }
    }
    var whole = Exchange()
    whole.client(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"))
    whole.server(response)
    _ = whole.connection.responseEnd
    whole.connection.finish()
    for finding in whole.connection.findings {
        for evidence in finding.evidence {
            #expect(evidence.streamOffset + UInt64(evidence.bytes.count) <= UInt64(response.count) || evidence.direction == .client)
            #expect(evidence.bytes.count <= 64)
        }
    }
    let cuts = (0..<5).map { _ in Int(random.next() % UInt64(response.count + 1)) }
    var split = Exchange()
    split.client(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), cuts: cuts)
    split.server(response, cuts: cuts)
    #expect(split.summary == whole.summary, "\(response)")
}
