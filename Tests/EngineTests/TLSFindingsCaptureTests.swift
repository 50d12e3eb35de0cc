import CaptureModel
import Diagnosis
import Engine
import Foundation
import OpenSSLAdapters
import OpenSSLBridge
import Testing
import TestSupport
import TLSRecords

// Issue 15, items 4, 5, 6 and 12 (certificates), on captures of real gateways (captures/README.md,
// "TLS captures"). What is expected comes from each capture's truth file (nginx's and HAProxy's
// own logs, tshark's dissection) and from tshark's record lengths, quoted where used.

/// The truth file beside `capture` as JSON, for the fields `Truth` does not decode.
private func rawTruth(_ capture: String) throws -> [String: Any] {
    let base = capture.replacingOccurrences(of: ".pcap", with: "")
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + base + ".truth.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// Analyses `capture` with the options its truth implies (gateway, CA file, key log).
private func analyseAsRecorded(_ capture: String, keyLog: KeyLog? = nil) throws -> AnalysisResult {
    let base = capture.replacingOccurrences(of: ".pcap", with: "")
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + base + ".truth.json"))
    let truth = try JSONDecoder().decode(Truth.self, from: data)
    var options = try truth.options()
    if let keyLog {
        options.decryption = TLSConnection.Decryption(keyLog: keyLog, crypto: OpenSSLCrypto())
    }
    return try analyse(Paths.captures + "/" + capture, options: options)
}

private func connections(_ truth: [String: Any]) -> [[String: Any]] {
    truth["expected_connections"] as? [[String: Any]] ?? []
}

// MARK: Item 4: a TLS alert is a fact

/// A warning unrecognized_name sent with the ServerHello (s_server -servername other.test; the
/// gateway asked for upstream.test): the handshake and the request went on (200 in both
/// gateways' logs), and the alert is a finding at the record tshark shows it in.
@Test(arguments: ["nginx/tls-alert-warning-unrecognized-name.pcap", "haproxy/tls-alert-warning-unrecognized-name.haproxy.pcap"])
func warningAlertWithTheServerHelloIsAFinding(capture: String) throws {
    let truth = try rawTruth(capture)
    let expected = try #require(connections(truth).first)
    let result = try analyseAsRecorded(capture)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == .none)
    #expect(connection.verdict.verdictClass == .ok)
    let alert = try #require(connection.findings.first { $0.code == FindingCode(code: "tls.alert.unrecognized_name")! })
    #expect(alert.severity == .warning)
    let evidence = try #require(alert.evidence.first)
    // The alert record `15 03 03 00 02 01 70` is the upstream's first record (tshark: frame 6).
    #expect(evidence.direction == .server)
    #expect(evidence.streamOffset == 0)
    #expect(evidence.length == 7)
    #expect(evidence.bytes == [0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 112])
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    // The gateway sent SNI (the truth's ClientHello has upstream.test): no tls.sni.missing.
    #expect((expected["tls_handshake"] as? [String: Any])?["sni"] as? String == "upstream.test")
    #expect(!connection.findings.contains { $0.code == .tlsSNIMissing })
}

/// A verdict inferred from an alert (the version, the cipher, the client certificate) keeps the
/// alert itself among the findings, at the alert record.
@Test(arguments: [
    ("nginx/tls-version-mismatch.pcap", "tls.version_mismatch", "tls.alert.protocol_version"),
    ("haproxy/tls-version-mismatch.haproxy.pcap", "tls.version_mismatch", "tls.alert.protocol_version"),
    ("nginx/tls-cipher-mismatch.pcap", "tls.cipher_mismatch", "tls.alert.handshake_failure"),
    ("nginx/tls-client-cert-required.pcap", "tls.client_cert_required", "tls.alert.handshake_failure"),
])
func inferredVerdictKeepsTheAlert(capture: String, verdict: String, alertCode: String) throws {
    let expected = try #require(connections(try rawTruth(capture)).first)
    let result = try analyseAsRecorded(capture)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code.description == verdict)
    #expect(connection.verdict.code.description == expected["verdict"] as? String)
    let alert = try #require(connection.findings.first { $0.code.description == alertCode })
    let evidence = try #require(alert.evidence.first)
    #expect(evidence.direction == .server)
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    #expect(evidence.length == 7)
    #expect(evidence.bytes.prefix(3) == [0x15, 0x03, 0x03])
    #expect(evidence.bytes.last == UInt8(alertCode == "tls.alert.protocol_version" ? 70 : 40))
    // Every one of these ClientHellos carried upstream.test.
    #expect(!connection.findings.contains { $0.code == .tlsSNIMissing })
}

/// tls.sni.missing only where the ClientHello had no server_name (truth: sni null).
@Test func sniMissingOnlyWithoutServerName() throws {
    let expected = try #require(connections(try rawTruth("nginx/tls-sni-missing.pcap")).first)
    #expect((expected["tls_handshake"] as? [String: Any])?["sni"] is NSNull)
    let result = try analyseAsRecorded("nginx/tls-sni-missing.pcap")
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == FindingCode(code: "tls.alert.unrecognized_name")!)
    let missing = try #require(connection.findings.first { $0.code == .tlsSNIMissing })
    #expect(missing.evidence.first?.direction == .client)
}

// MARK: Item 5: every chain problem, in the gateway's order

/// An expired leaf from a CA nobody trusts: OpenSSL finds the missing issuer first (20 at depth
/// 1) and the expiry later (10 at depth 0). nginx logged `(10:certificate has expired)` (its
/// callback goes on, SSL_get_verify_result keeps the last); HAProxy stopped at the first and sent
/// unknown_ca (truth: its plaintext alert). Both problems are findings either way.
@Test(arguments: [
    ("nginx/tls-cert-expired-unknown-ca.pcap", "tls.cert.expired", "tls.cert.unknown_ca"),
    ("haproxy/tls-cert-expired-unknown-ca.haproxy.pcap", "tls.cert.unknown_ca", "tls.cert.expired"),
])
func everyChainProblemTheGatewaysFirst(capture: String, reported: String, other: String) throws {
    let expected = try #require(connections(try rawTruth(capture)).first)
    #expect(expected["verdict"] as? String == reported)
    let result = try analyseAsRecorded(capture)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code.description == reported)
    let codes = connection.findings.map(\.code.description)
    #expect(codes.first == reported)
    #expect(codes.contains(other))
    // Both point at the Certificate message: tshark shows the ServerHello record (5 + 65 bytes)
    // first, then the Certificate record whose message (4 + 1750 bytes) starts at offset 75.
    for code in [reported, other] {
        let evidence = try #require(connection.findings.first { $0.code.description == code }?.evidence.first)
        #expect(evidence.streamOffset == 75)
        #expect(evidence.length == 1754)
        #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    }
    if capture.contains("haproxy") {
        #expect(codes.contains("tls.alert.unknown_ca"))
    } else {
        let verify = try #require(expected["verify_error"] as? [String: Any])
        #expect(verify["code"] as? Int == 10)
        #expect(connection.verdict.summary.contains("(\(verify["text"] as? String ?? "?"))"))
    }
    // The session's verification names the problem the verdict does, at its depth: nginx's 10
    // at depth 0 (OpenSSL's first was 20 at depth 1); HAProxy's 20 at depth 1.
    let verification = try #require(connection.tls)
    #expect(verification.opensslCode == (capture.contains("haproxy") ? 20 : 10))
    #expect(verification.depth == (capture.contains("haproxy") ? 1 : 0))
}

/// nginx names the last error OpenSSL found: for a lone leaf whose issuer is missing, OpenSSL
/// finds 20 while building the chain and 21 while checking signatures, and nginx logged 21.
@Test func nginxNamesTheLastChainErrorItLogged() throws {
    let expected = try #require(connections(try rawTruth("nginx/tls-cert-missing-intermediate.pcap")).first)
    let verify = try #require(expected["verify_error"] as? [String: Any])
    #expect(verify["code"] as? Int == 21)
    let result = try analyseAsRecorded("nginx/tls-cert-missing-intermediate.pcap")
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == FindingCode(code: "tls.cert.missing_intermediate")!)
    #expect(connection.verdict.summary.contains("(unable to verify the first certificate)"))
    let note = try #require(connection.findings.first?.evidence.first?.note)
    #expect(note.hasPrefix("OpenSSL: 21 "))
}

// MARK: Item 12: certificate evidence spans the Certificate message

/// The Certificate message's own bytes: its 4-byte header and body, where tshark puts them
/// (`tls.handshake.length` 1748 in frame 6, after the 70-byte ServerHello record, so offset 75).
@Test(arguments: ["nginx/tls-cert-expired.pcap", "haproxy/tls-cert-expired.haproxy.pcap"])
func certificateEvidenceSpansTheCertificateMessage(capture: String) throws {
    let expected = try #require(connections(try rawTruth(capture)).first)
    let result = try analyseAsRecorded(capture)
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == FindingCode(code: "tls.cert.expired")!)
    let evidence = try #require(connection.findings.first?.evidence.first)
    #expect(evidence.direction == .server)
    #expect(evidence.streamOffset == 75)
    #expect(evidence.length == 4 + 1748)
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
    // Ethernet (14) + IPv4 (20) + TCP with options (32) + 75.
    #expect(evidence.frameOffset == 141)
    #expect(evidence.bytes.prefix(4) == [11, 0x00, 0x06, 0xd4])
}

/// TLS 1.3 with the upstream's key log: the Certificate message is inside a protected record
/// (tshark: the fourth record of frame 6, 1774 bytes), and the evidence spans that record.
@Test func decryptedCertificateEvidenceSpansItsRecord() throws {
    let expected = try #require(connections(try rawTruth("nginx/tls-cert-expired-1.3-keylog.pcap")).first)
    let result = try analyseAsRecorded("nginx/tls-cert-expired-1.3-keylog.pcap")
    let connection = try #require(result.connections.first)
    #expect(connection.verdict.code == FindingCode(code: "tls.cert.expired")!)
    let evidence = try #require(connection.findings.first?.evidence.first)
    // ServerHello record 5 + 122, ChangeCipherSpec 5 + 1, EncryptedExtensions 5 + 23: 161.
    #expect(evidence.streamOffset == 161)
    #expect(evidence.length == 5 + 1774)
    #expect(evidence.frame.map(Int.init) == expected["evidence_frame"] as? Int)
}

// MARK: Item 6: TLS 1.3 early data

/// s_client resumed its session and sent the request as 0-RTT early data (its log: "Early data
/// was accepted"; nginx answered `early=1`). With CLIENT_EARLY_TRAFFIC_SECRET in the key log,
/// the request is read from the early data record (tshark decrypts it in frame 23, before the
/// ServerHello) and paired with its 200.
@Test func earlyDataRequestIsDecryptedAndPaired() throws {
    let expected = connections(try rawTruth("no-gateway/tls-early-data-1.3-keylog.pcap"))
    #expect(expected.count == 2)
    let early = try #require(expected.last)
    #expect(early["request_in_early_data"] as? Bool == true)
    let result = try analyseAsRecorded("no-gateway/tls-early-data-1.3-keylog.pcap")
    #expect(result.connections.count == 2)
    let connection = try #require(result.connections.last)
    #expect(connection.verdict.code == .none)
    #expect(connection.findings.isEmpty, "\(connection.findings.map(\.code))")
    let transaction = try #require(connection.transactions.first)
    #expect(connection.transactions.count == 1)
    #expect(transaction.request?.target == "/t/tls-early-data-1.3-keylog/2")
    #expect(transaction.request?.offset == 0)
    #expect((transaction.request?.frame).map(Int.init) == early["request_frame"] as? Int)
    #expect(transaction.response?.status == 200)
    #expect(transaction.response?.complete == true)
}

/// The same capture with a key log that lacks CLIENT_EARLY_TRAFFIC_SECRET (the lines removed):
/// the early data cannot be read, which is a warning at the early data record, not a framing
/// error or an upstream that spoke first; the response is still read.
@Test func earlyDataWithoutItsSecretIsSaidUnreadable() throws {
    let text = try String(contentsOfFile: Paths.captures + "/no-gateway/tls-early-data-1.3-keylog.keylog", encoding: .utf8)
    let kept = text.split(separator: "\n").filter { !$0.hasPrefix("CLIENT_EARLY_TRAFFIC_SECRET") }.joined(separator: "\n")
    #expect(kept.count < text.count)
    let early = try #require(connections(try rawTruth("no-gateway/tls-early-data-1.3-keylog.pcap")).last)
    let result = try analyseAsRecorded("no-gateway/tls-early-data-1.3-keylog.pcap", keyLog: try KeyLog(parsing: kept))
    let connection = try #require(result.connections.last)
    #expect(connection.verdict.code == .none)
    #expect(connection.verdict.verdictClass == .ok)
    #expect(connection.findings.map(\.code) == [FindingCode(code: "tls.early_data.unreadable")!])
    let finding = try #require(connection.findings.first)
    #expect(finding.severity == .warning)
    let evidence = try #require(finding.evidence.first)
    // tshark: the ClientHello record (5 + 621), ChangeCipherSpec (5 + 1), then the early data
    // record (5 + 85) at offset 632 of frame 23.
    #expect(evidence.direction == .client)
    #expect(evidence.streamOffset == 632)
    #expect(evidence.length == 90)
    #expect(evidence.frame.map(Int.init) == early["request_frame"] as? Int)
    #expect(connection.transactions.first?.response?.status == 200)
}
