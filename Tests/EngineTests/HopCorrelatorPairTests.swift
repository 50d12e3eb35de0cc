import CaptureModel
@testable import Engine
import HTTP1
import Testing

/// The client-hop correlation asks whether a request could pair with another (its server's
/// address seen as some request's client, or its client's as some server) once per address
/// pair, and again whenever an address is seen for the first time.
@Suite struct HopCorrelatorPairTests {
    static func endpoint(_ last: UInt32, _ port: UInt16) -> Endpoint {
        Endpoint(address: .v4(0x0a00_0000 | last), port: port)
    }

    static let client = endpoint(1, 50_000)
    static let gateway = endpoint(2, 80)
    static let upstream = endpoint(3, 8080)

    static func request(_ client: Endpoint, _ server: Endpoint, connection: UInt32, at ms: Int64) -> FinishedTransaction {
        let time = Timestamp(nanoseconds: 1_776_075_462_000_000_000 + ms * 1_000_000)
        let request = RequestInfo(
            method: "GET", target: "/x", host: "example.com", requestID: nil, correlationID: nil, traceID: nil,
            offset: 0, frame: FrameNumber(connection), time: time, upgrade: false)
        return FinishedTransaction(connection: connection, client: client, server: server, request: request, response: nil, ended: time)
    }

    /// What `mayPair` says from the address sets themselves.
    static func asked(_ hops: HopCorrelator, _ client: Endpoint, _ server: Endpoint) -> Bool {
        hops.addressesOverflowed || hops.clientAddresses.contains(server.address) || hops.serverAddresses.contains(client.address)
    }

    @Test func aKnownPairIsAskedAgainOnceTheGatewaysAddressIsSeenAsAClient() {
        var hops = HopCorrelator(limits: ClientHopLimits(), given: [], lateDelay: 0)
        hops.add(Self.request(Self.client, Self.gateway, connection: 1, at: 0), now: .zero)
        // Nothing has come from the gateway's address yet: the client's request cannot pair.
        #expect(hops.knownPairs.count == 1)
        #expect(hops.knownPairs[0].mayPair == false)
        hops.add(Self.request(Self.client, Self.gateway, connection: 2, at: 10), now: .zero)
        #expect(hops.knownPairs.count == 1)
        // The gateway passes a request on: its address is now a client's, a new address.
        hops.add(Self.request(Self.gateway, Self.upstream, connection: 3, at: 20), now: .zero)
        hops.add(Self.request(Self.client, Self.gateway, connection: 4, at: 30), now: .zero)
        let pair = hops.knownPairs.first { $0.client == Self.client.address && $0.server == Self.gateway.address }
        #expect(pair?.mayPair == true)
        for known in hops.knownPairs {
            let asked = Self.asked(hops, Endpoint(address: known.client, port: 1), Endpoint(address: known.server, port: 1))
            #expect(known.mayPair == asked)
        }
    }

    @Test func atMostEightPairsAreKept() {
        var hops = HopCorrelator(limits: ClientHopLimits(), given: [], lateDelay: 0)
        // Twenty clients: each is a new address, and empties what was known.
        for index in 0..<20 {
            hops.add(Self.request(Self.endpoint(UInt32(100 + index), 40_000), Self.upstream, connection: UInt32(index + 1), at: Int64(index)), now: .zero)
        }
        #expect(hops.knownPairs.count == 1)
        // The same twenty again: nothing new, and the last eight are kept.
        for index in 0..<20 {
            hops.add(Self.request(Self.endpoint(UInt32(100 + index), 40_000), Self.upstream, connection: UInt32(index + 21), at: Int64(index + 20)), now: .zero)
        }
        #expect(hops.knownPairs.count == HopCorrelator.knownPairsKept)
        #expect(hops.knownPairs.first?.client == Self.endpoint(112, 40_000).address)
        #expect(hops.knownPairs.last?.client == Self.endpoint(119, 40_000).address)
    }
}
