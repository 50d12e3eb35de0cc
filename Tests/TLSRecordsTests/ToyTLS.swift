import CaptureModel
import TLSRecords
import TestSupport

/// Stand-in cryptography: deterministic key derivation and an authenticated cipher whose tag
/// covers key, nonce, additional data and ciphertext. Not secure, but a record opened with the
/// wrong key, nonce (sequence number) or header fails exactly as with AES-GCM, which is what
/// record decryption's bookkeeping is tested against; OpenSSL's own is tested in OpenSSLBridgeTests.
struct ToyCrypto: TLSCryptoProviding {
    func hkdfExpandLabel(secret: [UInt8], label: String, context: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        Self.stream([secret, Array(label.utf8), context, [hash == .sha256 ? 1 : 2]], length: length)
    }

    func prf(secret: [UInt8], label: String, seed: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        Self.stream([secret, Array(label.utf8), seed, [hash == .sha256 ? 1 : 2]], length: length)
    }

    func open(_ cipher: AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 16 else { return nil }
        let ciphertext = Array(sealed.dropLast(16))
        guard Array(sealed.suffix(16)) == Self.stream([key, nonce, additionalData, ciphertext], length: 16) else { return nil }
        return zip(ciphertext, Self.stream([key, nonce], length: ciphertext.count)).map { $0 ^ $1 }
    }

    /// The inverse of `open`.
    static func seal(key: [UInt8], nonce: [UInt8], additionalData: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        let ciphertext = zip(plaintext, Self.stream([key, nonce], length: plaintext.count)).map { $0 ^ $1 }
        return ciphertext + Self.stream([key, nonce, additionalData, ciphertext], length: 16)
    }

    /// FNV-1a over the parts (each followed by its length), then SplitMix64.
    private static func stream(_ parts: [[UInt8]], length: Int) -> [UInt8] {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part + TLSWire.u16(part.count) {
                state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(length + 8)
        while out.count < length {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            for index in 0..<8 { out.append(UInt8(truncatingIfNeeded: z >> (8 * UInt64(index)))) }
        }
        return Array(out.prefix(length))
    }
}

/// One side's record protection as the peer applies it (RFC 8446 §5.2, RFC 5288 §3), with
/// `ToyCrypto`.
struct ToyRecordWriter {
    var key: [UInt8]
    var iv: [UInt8]
    var tls13: Bool
    var sequence: UInt64 = 0

    /// TLS 1.3: keys from a traffic secret (RFC 8446 §7.3), suite 0x1301.
    init(tls13Secret secret: [UInt8]) {
        let crypto = ToyCrypto()
        self.key = crypto.hkdfExpandLabel(secret: secret, label: "key", context: [], length: 16, hash: .sha256)
        self.iv = crypto.hkdfExpandLabel(secret: secret, label: "iv", context: [], length: 12, hash: .sha256)
        self.tls13 = true
    }

    /// TLS 1.2, suite 0xc02f: one side's key and implicit IV from the key block (RFC 5246 §6.3).
    init(tls12Key key: [UInt8], iv: [UInt8]) {
        self.key = key
        self.iv = iv
        self.tls13 = false
    }

    /// A protected record of `type` carrying `content`.
    mutating func record(_ type: UInt8, _ content: [UInt8]) -> [UInt8] {
        defer { self.sequence += 1 }
        let sequence = (0..<8).map { UInt8(truncatingIfNeeded: self.sequence >> (56 - 8 * UInt64($0))) }
        if self.tls13 {
            let inner = content + [type]
            let header: [UInt8] = [23, 3, 3] + TLSWire.u16(inner.count + 16)
            var nonce = self.iv
            for index in 0..<8 { nonce[4 + index] ^= sequence[index] }
            return header + ToyCrypto.seal(key: self.key, nonce: nonce, additionalData: header, plaintext: inner)
        }
        let additional = sequence + [type, 3, 3] + TLSWire.u16(content.count)
        let sealed = ToyCrypto.seal(key: self.key, nonce: self.iv + sequence, additionalData: additional, plaintext: content)
        return [type, 3, 3] + TLSWire.u16(8 + sealed.count) + sequence + sealed
    }
}

/// A whole TLS session on the upstream hop, record by record, with the key log that opens it.
struct ToySession: Sendable {
    /// What each side sent, in order; each entry is one frame's payload.
    var sends: [(direction: Direction, bytes: [UInt8])] = []
    /// The key log's lines for this session, in the order a client writes them.
    var keyLogLines: [String] = []
    /// Protected records sent, both ways.
    var protectedRecords = 0
    /// Index in `sends` of the ServerHello's frame.
    var serverHelloSend = 1

    static let clientRandom = [UInt8](repeating: 0xaa, count: 32)  // TLSWire.clientHello's
    static let serverRandom = [UInt8](repeating: 0xbb, count: 32)
    static let chain = [[UInt8](repeating: 0x30, count: 900), [UInt8](repeating: 0x31, count: 700)]
    static let requests = ["GET /one HTTP/1.1\r\nHost: upstream.test\r\n\r\n", "GET /two HTTP/1.1\r\nHost: upstream.test\r\n\r\n"]
    static let responses = [
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello there",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ]

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    private mutating func send(_ direction: Direction, _ bytes: [UInt8]) {
        self.sends.append((direction, bytes))
    }

    /// TLS 1.3 (TLS_AES_128_GCM_SHA256): the server's encrypted flight with the chain, both
    /// Finished, a session ticket, two requests and answers (the second split over two
    /// records), and the gateway's close_notify.
    static func tls13() -> ToySession {
        var session = ToySession()
        let secrets: [(label: String, secret: [UInt8])] = [
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", [UInt8](repeating: 1, count: 32)),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", [UInt8](repeating: 2, count: 32)),
            ("CLIENT_TRAFFIC_SECRET_0", [UInt8](repeating: 3, count: 32)),
            ("SERVER_TRAFFIC_SECRET_0", [UInt8](repeating: 4, count: 32)),
        ]
        session.keyLogLines = secrets.map { "\($0.label) \(hex(clientRandom)) \(hex($0.secret))" }
        var clientHandshake = ToyRecordWriter(tls13Secret: secrets[0].secret)
        var serverHandshake = ToyRecordWriter(tls13Secret: secrets[1].secret)
        var client = ToyRecordWriter(tls13Secret: secrets[2].secret)
        var server = ToyRecordWriter(tls13Secret: secrets[3].secret)

        session.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test"), version: 0x0301))
        // RFC 8446 §4.4.2: request context, then (cert_data, extensions) entries.
        let entries = chain.flatMap { TLSWire.u24($0.count) + $0 + TLSWire.u16(0) }
        let certificate = TLSWire.handshake(11, [0] + TLSWire.u24(entries.count) + entries)
        let flight = TLSWire.handshake(8, TLSWire.u16(0)) + certificate + TLSWire.handshake(15, [UInt8](repeating: 5, count: 72))
            + TLSWire.handshake(20, [UInt8](repeating: 6, count: 32))
        // The flight spans two records, the Certificate cut between them.
        session.send(.server, TLSWire.record(22, TLSWire.serverHello(version: 0x0304, cipher: 0x1301, random: serverRandom))
            + TLSWire.record(20, [1]) + serverHandshake.record(22, Array(flight.prefix(600)))
            + serverHandshake.record(22, Array(flight.dropFirst(600))))
        session.send(.client, TLSWire.record(20, [1]) + clientHandshake.record(22, TLSWire.handshake(20, [UInt8](repeating: 7, count: 32))))
        session.send(.server, server.record(22, TLSWire.handshake(4, [UInt8](repeating: 8, count: 200))))
        session.send(.client, client.record(23, Array(requests[0].utf8)))
        session.send(.server, server.record(23, Array(responses[0].utf8)))
        session.send(.client, client.record(23, Array(requests[1].utf8)))
        let second = Array(responses[1].utf8)
        session.send(.server, server.record(23, Array(second.prefix(30))) + server.record(23, Array(second.dropFirst(30))))
        session.send(.client, client.record(21, [1, 0]))
        session.protectedRecords = 2 + 1 + 1 + 1 + 1 + 1 + 2 + 1
        return session
    }

    /// TLS 1.2 (ECDHE-RSA-AES128-GCM-SHA256): the chain in the clear, both Finished after
    /// their ChangeCipherSpec, two requests and answers, and the gateway's close_notify.
    static func tls12() -> ToySession {
        var session = ToySession()
        let master = [UInt8](repeating: 9, count: 48)
        session.keyLogLines = ["CLIENT_RANDOM \(hex(clientRandom)) \(hex(master))"]
        // RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random).
        let block = ToyCrypto().prf(secret: master, label: "key expansion", seed: serverRandom + clientRandom, length: 40, hash: .sha256)
        var client = ToyRecordWriter(tls12Key: Array(block[0..<16]), iv: Array(block[32..<36]))
        var server = ToyRecordWriter(tls12Key: Array(block[16..<32]), iv: Array(block[36..<40]))

        session.send(.client, TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
        session.send(.server, TLSWire.record(22, TLSWire.serverHello(cipher: 0xc02f, random: serverRandom) + TLSWire.certificate(chain)
            + TLSWire.handshake(14, [])))
        session.send(.client, TLSWire.record(22, TLSWire.handshake(16, [0, 2, 1, 2])) + TLSWire.record(20, [1])
            + client.record(22, TLSWire.handshake(20, [UInt8](repeating: 7, count: 12))))
        session.send(.server, TLSWire.record(20, [1]) + server.record(22, TLSWire.handshake(20, [UInt8](repeating: 6, count: 12))))
        session.send(.client, client.record(23, Array(requests[0].utf8)))
        session.send(.server, server.record(23, Array(responses[0].utf8)))
        session.send(.client, client.record(23, Array(requests[1].utf8)))
        let second = Array(responses[1].utf8)
        session.send(.server, server.record(23, Array(second.prefix(30))) + server.record(23, Array(second.dropFirst(30))))
        session.send(.client, client.record(21, [1, 0]))
        session.protectedRecords = 1 + 1 + 1 + 1 + 1 + 2 + 1
        return session
    }
}
