import CaptureModel
import HTTP1
import Testing

// The heads a comparison needs (issue 19 part 2): the failing response's, copied when its fatal
// finding is raised, and the last healthy one, still in the parser's buffer until the next head.

private let request = bytes("GET /item HTTP/1.1\r\nHost: up\r\n\r\n")
private let badHead = "HTTP/1.1 200 OK\r\nContent Type: text/plain\r\nContent-Length: 2\r\n\r\n"
private let goodHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n"

/// Cut points: none, every byte, and random ones.
private func splits(_ count: Int) -> [[Int]] {
    var random = SplitMix(seed: UInt64(count))
    return [[], Array(1..<count)] + (0..<8).map { _ in (0..<4).map { _ in Int(random.next() % UInt64(count)) } }
}

@Test func aHeadWithAFatalFindingIsCopiedWhateverTheSplit() {
    let response = bytes(badHead + "ok")
    for cuts in splits(response.count) {
        var exchange = Exchange()
        exchange.client(request)
        exchange.server(response, cuts: cuts)
        let head = exchange.connection.failingHead
        #expect(head?.bytes == bytes(badHead), "cuts \(cuts)")
        #expect(head?.offset == 0)
        #expect(head?.status == 200)
        #expect(head?.frame == 2)
        #expect(exchange.connection.parkedHealthyHead == nil)
    }
}

@Test func theLastHealthyHeadStaysAtHandUntilTheNextHeadBegins() {
    var exchange = Exchange()
    exchange.client(request + request)
    exchange.server(bytes(goodHead + "ok"))
    #expect(exchange.connection.failingHead == nil)
    #expect(exchange.connection.parkedHealthyHead == 0)
    #expect(exchange.connection.parkedHead(transaction: 1)?.bytes == bytes(goodHead))
    #expect(exchange.connection.parkedHead(transaction: 1)?.transaction == 1)
    // The second head's first bytes: the first head is gone, the second not whole yet.
    exchange.server(bytes("HTTP/1.1 204 No"))
    #expect(exchange.connection.parkedHealthyHead == nil)
    #expect(exchange.connection.parkedHead(transaction: 2) == nil)
    exchange.server(bytes(" Content\r\nX-B: 1\r\n\r\n"))
    let second = UInt64(goodHead.utf8.count + 2)
    #expect(exchange.connection.parkedHealthyHead == second)
    #expect(exchange.connection.parkedHead(transaction: 2)?.bytes == bytes("HTTP/1.1 204 No Content\r\nX-B: 1\r\n\r\n"))
}

@Test func aChunkedBodyReusesTheBufferSoItsHeadIsNotKept() {
    var exchange = Exchange()
    exchange.client(request)
    exchange.server(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
    #expect(exchange.connection.transactions.count == 1)
    #expect(exchange.connection.parkedHealthyHead == nil)
}

@Test func aFiveHundredIsNotAHealthyHead() {
    var exchange = Exchange()
    exchange.client(request)
    exchange.server(bytes("HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno"))
    #expect(exchange.connection.parkedHealthyHead == nil)
    #expect(exchange.connection.failingHead == nil)
}

@Test func aBodyCutByTheCloseKeepsItsHeadAsTheFailingOne() {
    var exchange = Exchange()
    exchange.client(request)
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    exchange.server(bytes(head + "0123456789"))
    #expect(exchange.connection.failingHead == nil)
    exchange.connection.serverFIN()
    exchange.connection.finish()
    #expect(exchange.connection.failingHead?.bytes == bytes(head))
    #expect(exchange.connection.transactions.first?.response?.complete == false)
}

@Test func aCopiedHeadHasItsCredentialsMasked() {
    var exchange = Exchange()
    exchange.client(request)
    exchange.server(bytes("HTTP/1.1 200 OK\r\nSet-Cookie: sid=secret\r\nContent Type: x\r\nContent-Length: 0\r\n\r\n"))
    let text = String(decoding: exchange.connection.failingHead?.bytes ?? [], as: UTF8.self)
    #expect(text.contains("Set-Cookie: **********\r\n"))
    #expect(!text.contains("secret"))
}
