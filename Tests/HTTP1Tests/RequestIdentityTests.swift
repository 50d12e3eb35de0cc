import CaptureModel
import HTTP1
import Testing

/// What a request keeps to be recognised on the other hop: Host and the request ids.
@Suite("Request identity")
struct RequestIdentityTests {
    static let response = bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    /// The gateway's request head is read, not judged: a name with a space or a control byte in
    /// a value costs nothing, and the request keeps its Host, its id and its body's framing.
    @Test func aRequestHeadWithBadBytesIsReadForItsIdentityAndFraming() throws {
        var exchange = Exchange()
        exchange.client(bytes(
            "POST /upload HTTP/1.1\r\nHost: api.internal\r\nX Bad: 1\r\nX-Note: a\u{1}b\r\nX-Request-Id: 9c1e\r\n"
                + "Content-Length: 4\r\n\r\nbody"
                + "GET /next HTTP/1.1\r\nHost: api.internal\r\n\r\n"))
        exchange.server(Self.response + Self.response)
        let transactions = exchange.connection.transactions
        #expect(transactions.count == 2)
        let first = try #require(transactions.first?.request)
        #expect(first.host == "api.internal")
        #expect(first.requestID == "9c1e")
        // The body was framed by its Content-Length: the next request starts right after it.
        let second = try #require(transactions.last?.request)
        #expect(second.target == "/next")
        #expect(second.offset == 111)
        #expect(exchange.connection.findings.isEmpty)
    }

    @Test func hostAndEveryRequestIDAreKept() throws {
        var exchange = Exchange()
        exchange.client(bytes(
            "GET /v1/report HTTP/1.1\r\nHost: api.internal\r\nX-Request-Id: 7f3a\r\nX-Correlation-Id: order-42\r\n"
                + "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"))
        exchange.server(Self.response)
        let request = try #require(exchange.connection.transactions.first?.request)
        #expect(request.host == "api.internal")
        #expect(request.requestID == "7f3a")
        #expect(request.correlationID == "order-42")
        // The trace-id only: the parent-id changes on every hop that traces.
        #expect(request.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test(arguments: [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // too short
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace-id is invalid (§3.2.2.3)
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case is not allowed
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ])
    func malformedTraceparentGivesNoTraceID(value: String) throws {
        var exchange = Exchange()
        exchange.client(bytes("GET / HTTP/1.1\r\nHost: a\r\ntraceparent: \(value)\r\n\r\n"))
        exchange.server(Self.response)
        let request = try #require(exchange.connection.transactions.first?.request)
        #expect(request.traceID == nil)
    }

    @Test func anOverlongRequestIDIsCut() throws {
        var exchange = Exchange()
        exchange.client(bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: \(String(repeating: "r", count: 5000))\r\n\r\n"))
        exchange.server(Self.response)
        let request = try #require(exchange.connection.transactions.first?.request)
        #expect(request.requestID?.utf8.count == 256)
    }

    @Test func finishedTransactionsAreHandedOnOnceEvenPastTheKeptOnes() throws {
        var exchange = Exchange()
        var handedOn = 0
        for index in 0..<1005 {
            exchange.client(bytes("GET /\(index) HTTP/1.1\r\nHost: a\r\n\r\n"))
            exchange.server(Self.response)
            handedOn += exchange.connection.finishedTransactions.count
            exchange.connection.clearFinishedTransactions()
        }
        #expect(handedOn == 1005)
        #expect(exchange.connection.transactions.count == 1000)
        #expect(exchange.connection.finishedTransactions.isEmpty)
    }
}
