import CaptureModel
import Foundation
import OpenSSLAdapters
import OpenSSLBridge
import Replay
import Testing
import TestSupport
import TLSRecords

private func load(_ capture: String, _ connection: String, keylog: String? = nil) throws -> ReplaySource {
    let decryption = try keylog.map { path in
        TLSConnection.Decryption(
            keyLog: try KeyLog(parsing: String(contentsOfFile: Paths.captures + "/" + path, encoding: .utf8)), crypto: OpenSSLCrypto())
    }
    return try ReplaySource.load(path: Paths.captures + "/" + capture, connection: connection, decryption: decryption)
}

private func failure(_ capture: String, _ connection: String) -> ReplayError? {
    do {
        _ = try ReplaySource.load(path: Paths.captures + "/" + capture, connection: connection, decryption: nil)
        return nil
    } catch {
        return error
    }
}

@Test func anRSTMidBodyIsTheHeadAndTenBytesAsCapturedThenAReset() throws {
    // nginx/tcp-rst-mid-body: the head, 30 ms later 10 of 100 body bytes, then RST (SO_LINGER 0).
    let source = try load("nginx/tcp-rst-mid-body.pcap", "c1")
    let script = source.script
    #expect(script.framing == .http1)
    #expect(script.requests == 1)
    #expect(script.segments.map(\.count) == [66, 10])
    #expect(script.segments.first.map { String(decoding: $0.prefix(17), as: UTF8.self) } == "HTTP/1.1 200 OK\r\n")
    #expect(script.segments.last == Array("0123456789".utf8))
    #expect(script.steps.map(\.after.requests) == [1, 1, 1])
    // The body segment came about 30 ms after the head (upstream.py's sleep).
    #expect((25_000_000...60_000_000).contains(script.steps[1].delay))
    #expect(script.ending == (.reset, false))
}

@Test func aReadTimeoutIsSilenceUntilTheGatewayCloses() throws {
    let script = try load("nginx/tcp-read-timeout.pcap", "c1").script
    #expect(script.segments.isEmpty)
    #expect(script.steps.count == 1)
    #expect(script.steps[0].after == .init(requests: 1, clientClosed: true))
    #expect(script.ending == (.fin, true))
}

@Test func aFINBeforeTheResponseClosesAfterTheRequest() throws {
    let script = try load("nginx/fin-before-response.pcap", "c1").script
    #expect(script.segments.isEmpty)
    #expect(script.steps == [ReplayScript.Step(after: .init(requests: 1, clientClosed: false), delay: script.steps[0].delay, action: .close(.fin))])
}

@Test func aKeepAliveConnectionAnswersEachOfItsRequestsInTurn() throws {
    // nginx/healthy-keepalive: c1 carried 5 requests (truth request_count 5).
    let script = try load("nginx/healthy-keepalive.pcap", "c1").script
    #expect(script.requests == 5)
    let waits = script.steps.filter { if case .send = $0.action { return true } else { return false } }.map(\.after.requests)
    #expect(Set(waits) == [1, 2, 3, 4, 5])
    #expect(waits == waits.sorted())
    // The gateway closed the idle connection at shutdown; the upstream answered that close.
    #expect(script.ending.afterClientClosed)
}

@Test func aTLSConnectionWithoutKeysIsReplayedAsItsBytesCountingBursts() throws {
    // nginx/tls-version-mismatch: the upstream's protocol_version alert (15 03 03 00 02 02 46) to the ClientHello.
    let source = try load("nginx/tls-version-mismatch.pcap", "c1")
    #expect(!source.decrypted)
    #expect(source.script.framing == .opaque)
    #expect(source.script.segments.first?.prefix(7) == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])
    #expect(source.script.steps.first?.after.requests == 1)
}

@Test func aTLSConnectionWithItsKeysIsReplayedDecrypted() throws {
    // no-gateway/tls-keylog-chunked-bad-size-1.2: curl's key log opens the session.
    let source = try load("no-gateway/tls-keylog-chunked-bad-size-1.2.pcap", "c1", keylog: "no-gateway/tls-keylog-chunked-bad-size-1.2.keylog")
    #expect(source.decrypted)
    #expect(source.script.framing == .http1)
    #expect(source.script.segments.first.map { String(decoding: $0.prefix(9), as: UTF8.self) } == "HTTP/1.1 ")
    #expect(!source.certificates.isEmpty)
}

@Test func aRefusedConnectionHasNothingToReplay() {
    let error = failure("nginx/refused.pcap", "c1")
    #expect(error == ReplayError(.usage, "--connection c1: the upstream refused it (RST to the SYN); nothing to replay (a closed port or a dropped SYN reproduces it)"))
}

@Test func anUnknownConnectionNamesTheOnesThereAre() {
    #expect(failure("nginx/tcp-rst-mid-body.pcap", "c9") == ReplayError(.usage, "--connection c9: no such connection; the capture has c1 only"))
    #expect(failure("nginx/healthy-keepalive.pcap", "c3") == ReplayError(.usage, "--connection c3: no such connection; the capture has c1-c2"))
    #expect(failure("nginx/tcp-rst-mid-body.pcap", "x1") == ReplayError(.usage, "--connection 'x1' is not a connection id (c1, c2 ... as analyze names them)"))
    #expect(failure("nginx/no-such-file.pcap", "c1")?.kind == .unusable)
}

@Test(arguments: [
    ("nginx/tls-cert-missing-intermediate.pcap", ForgedChain.Shape.missingIntermediate),
    ("nginx/tls-cert-self-signed.pcap", .selfSigned),
    ("nginx/tls-cert-unknown-ca.pcap", .unknownCA),
    ("nginx/tls-cert-expired.pcap", .asCaptured),
])
func theForgedChainTakesTheShapeTheCapturedOneWasJudged(capture: String, shape: ForgedChain.Shape) throws {
    // Judged with the CA nginx trusted (captures/tls/root.pem), as `analyze --ca-file` judges it.
    let store = try TrustStore(caFile: Paths.captures + "/tls/root.pem", caPath: nil, crlFile: nil)
    let verifier = OpenSSLChainVerifier(verifier: ChainVerifier(trustStore: store))
    let source = try ReplaySource.load(path: Paths.captures + "/" + capture, connection: "c1", decryption: nil, verifier: verifier)
    #expect(source.forgedShape == shape)
    let directory = Paths.temporaryDirectory("forge")
    let files = try source.writeForgedChain(into: directory + "/chain")
    #expect(files.ca == directory + "/chain/ca.pem")
    var info = stat()
    #expect(stat(directory + "/chain/key.pem", &info) == 0 && info.st_mode & 0o777 == 0o600)
    #expect(stat(directory + "/chain/ca.pem", &info) == 0 && info.st_mode & 0o777 == 0o644)
    // As many certificates served as captured (the missing intermediate stays missing).
    let served = try String(contentsOfFile: files.chain, encoding: .utf8).components(separatedBy: "BEGIN CERTIFICATE").count - 1
    #expect(served == source.certificates.count)
}

@Test func aPlainConnectionHasNoChainToForge() throws {
    let source = try load("nginx/tcp-rst-mid-body.pcap", "c1")
    #expect(throws: ReplayError(.usage, "--forge-chain: c1 is not TLS")) { try source.writeForgedChain(into: "/nonexistent") }
}
