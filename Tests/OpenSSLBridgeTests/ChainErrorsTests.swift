import CaptureModel
import Foundation
import OpenSSLBridge
import Testing

// Issue 15 item 5: every problem of a chain, in the order OpenSSL finds them when it goes on
// after each (as nginx's verify callback lets it), not only the first.

private let captures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("captures").path

private func der(_ file: String) throws -> [UInt8] {
    let text = try String(contentsOfFile: captures + "/" + file, encoding: .utf8)
    let body = text.components(separatedBy: "-----BEGIN CERTIFICATE-----")[1].components(separatedBy: "-----END CERTIFICATE-----")[0]
    return Array(try #require(Data(base64Encoded: body.filter { !$0.isWhitespace })))
}

/// The chain tls-cert-expired-unknown-ca.pcap served (truth: served_chain), judged at the capture's
/// time against the gateways' root: the missing issuer (20, depth 1) first, as HAProxy and
/// `openssl verify` report it, then the expired leaf (10, depth 0), which nginx logged.
@Test func expiredLeafFromAnUnknownCAHasBothErrorsInOpenSSLsOrder() throws {
    let store = try TrustStore(caFile: captures + "/tls-b/root.pem", caPath: nil, crlFile: nil)
    let verifier = ChainVerifier(trustStore: store)
    // 2026-12-06T17:04:49Z, nginx's error.log line for this connection.
    let time = Timestamp(nanoseconds: 1_796_576_689 * 1_000_000_000)
    let result = verifier.verify(
        chain: [try der("tls-b/leaf-other-ca-expired.pem"), try der("tls-b/other-intermediate.pem")],
        expectedHost: "upstream.test", at: time)
    #expect(result.result == .failed)
    #expect(result.opensslCode == 20)
    #expect(result.depth == 1)
    #expect(result.errors.map(\.opensslCode) == [20, 10])
    #expect(result.errors.map(\.depth) == [1, 0])
    #expect(result.errors.map { $0.code?.description } == ["tls.cert.unknown_ca", "tls.cert.expired"])
    #expect(result.errors.last?.opensslText == "certificate has expired")
}

/// A chain with one problem has that one error, and a good chain none.
@Test func oneProblemIsOneErrorAndAGoodChainNone() throws {
    let store = try TrustStore(caFile: captures + "/tls-b/root.pem", caPath: nil, crlFile: nil)
    let verifier = ChainVerifier(trustStore: store)
    let time = Timestamp(nanoseconds: 1_796_576_689 * 1_000_000_000)
    let good = verifier.verify(
        chain: [try der("tls-b/leaf-valid.pem"), try der("tls-b/intermediate.pem")], expectedHost: "upstream.test", at: time)
    #expect(good.result == .ok)
    #expect(good.errors.isEmpty)
    let wrongName = verifier.verify(
        chain: [try der("tls-b/leaf-valid.pem"), try der("tls-b/intermediate.pem")], expectedHost: "other.test", at: time)
    #expect(wrongName.errors.map(\.opensslCode) == [62])
    #expect(wrongName.errors.first?.code?.description == "tls.cert.name_mismatch")
}
