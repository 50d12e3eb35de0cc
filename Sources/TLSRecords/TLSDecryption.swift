import CaptureModel

/// The AEAD ciphers TLS 1.2 and 1.3 use (RFC 5288, RFC 7905, RFC 8446 §B.4).
public enum AEADCipher: Hashable, Sendable {
    case aes128GCM
    case aes256GCM
    case chacha20Poly1305

    /// Key length in bytes.
    public var keyLength: Int {
        switch self {
        case .aes128GCM: return 16
        case .aes256GCM, .chacha20Poly1305: return 32
        }
    }
}

/// The hash of a cipher suite's PRF or HKDF.
public enum HashAlgorithm: Hashable, Sendable {
    case sha256
    case sha384

    /// Output length in bytes.
    public var length: Int {
        switch self {
        case .sha256: return 32
        case .sha384: return 48
        }
    }
}

/// The cryptography decryption needs, provided from outside (OpenSSL) so this module stays pure.
public protocol TLSCryptoProviding: Sendable {
    /// RFC 8446 §7.1 HKDF-Expand-Label.
    func hkdfExpandLabel(secret: [UInt8], label: String, context: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8]
    /// RFC 5246 §5 PRF.
    func prf(secret: [UInt8], label: String, seed: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8]
    /// AEAD decryption; `nil` when the tag does not verify.
    func open(_ cipher: AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], sealed: [UInt8]) -> [UInt8]?
}

/// What a cipher suite needs for record decryption, for the AEAD suites edgescope decrypts.
struct SuiteParameters {
    var cipher: AEADCipher
    var hash: HashAlgorithm
    /// TLS 1.2: the implicit part of the nonce from the key block (4 for GCM, 12 for ChaCha20).
    var fixedIVLength: Int
    /// TLS 1.2: the explicit nonce carried in each record (8 for GCM, 0 for ChaCha20).
    var explicitNonceLength: Int

    init?(_ suite: UInt16) {
        switch suite {
        case 0x1301: self.init(.aes128GCM, .sha256, 12, 0)
        case 0x1302: self.init(.aes256GCM, .sha384, 12, 0)
        case 0x1303: self.init(.chacha20Poly1305, .sha256, 12, 0)
        case 0xc02b, 0xc02f, 0x009c, 0x009e: self.init(.aes128GCM, .sha256, 4, 8)
        case 0xc02c, 0xc030, 0x009d, 0x009f: self.init(.aes256GCM, .sha384, 4, 8)
        case 0xcca8, 0xcca9, 0xccaa: self.init(.chacha20Poly1305, .sha256, 12, 0)
        default: return nil
        }
    }

    private init(_ cipher: AEADCipher, _ hash: HashAlgorithm, _ fixed: Int, _ explicit: Int) {
        self.cipher = cipher
        self.hash = hash
        self.fixedIVLength = fixed
        self.explicitNonceLength = explicit
    }
}

/// One direction's record protection: keys, IV and sequence number.
struct RecordProtection {
    var key: [UInt8]
    var iv: [UInt8]
    var sequence: UInt64 = 0

    /// RFC 8446 §5.3 / RFC 7905 §2: the IV XOR the sequence number, left-padded.
    func xorNonce() -> [UInt8] {
        var nonce = self.iv
        for index in 0..<8 {
            nonce[nonce.count - 1 - index] ^= UInt8(truncatingIfNeeded: self.sequence >> (8 * UInt64(index)))
        }
        return nonce
    }
}

/// Decrypts one TLS session's records from its key-log secrets.
struct SessionDecryptor {
    let crypto: any TLSCryptoProviding
    let suite: SuiteParameters
    let tls13: Bool
    let secrets: KeyLog.Secrets
    var client: RecordProtection?
    var server: RecordProtection?
    /// TLS 1.3: the client's early data keys (RFC 8446 §7.1 client_early_traffic_secret), while
    /// its records may still be early data: until its EndOfEarlyData, or the first record they
    /// do not open (the server refused the early data, so the client moved on to handshake keys).
    var clientEarly: RecordProtection?
    /// Client records the early data keys opened.
    var earlyRecordsOpened = 0
    /// TLS 1.3: whether each side has moved to application keys.
    var clientApplication = false
    var serverApplication = false

    init?(crypto: any TLSCryptoProviding, suite code: UInt16, version: UInt16, secrets: KeyLog.Secrets,
          clientRandom: [UInt8], serverRandom: [UInt8]) {
        guard let suite = SuiteParameters(code) else { return nil }
        self.crypto = crypto
        self.suite = suite
        self.tls13 = version == 0x0304
        self.secrets = secrets
        if self.tls13 {
            guard let client = secrets.clientHandshakeTraffic, let server = secrets.serverHandshakeTraffic else { return nil }
            self.client = self.trafficKeys(client)
            self.server = self.trafficKeys(server)
        } else {
            guard let master = secrets.masterSecret else { return nil }
            // RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random).
            let keyLength = suite.cipher.keyLength
            let block = crypto.prf(secret: master, label: "key expansion", seed: serverRandom + clientRandom,
                                   length: 2 * keyLength + 2 * suite.fixedIVLength, hash: suite.hash)
            let clientKey = Array(block[0..<keyLength])
            let serverKey = Array(block[keyLength..<(2 * keyLength)])
            let clientIV = Array(block[(2 * keyLength)..<(2 * keyLength + suite.fixedIVLength)])
            let serverIV = Array(block[(2 * keyLength + suite.fixedIVLength)...])
            self.client = RecordProtection(key: clientKey, iv: clientIV)
            self.server = RecordProtection(key: serverKey, iv: serverIV)
        }
    }

    /// Whether `secrets` hold all a session of `version` needs: the master secret (TLS 1.2),
    /// or both handshake and both application traffic secrets (TLS 1.3, RFC 8446 §7.1).
    static func hasEverySecret(_ secrets: KeyLog.Secrets?, version: UInt16) -> Bool {
        guard let secrets else { return false }
        guard version == 0x0304 else { return secrets.masterSecret != nil }
        return secrets.clientHandshakeTraffic != nil && secrets.serverHandshakeTraffic != nil
            && secrets.clientTraffic0 != nil && secrets.serverTraffic0 != nil
    }

    /// RFC 8446 §7.3: [sender]_write_key and _iv from a traffic secret.
    func trafficKeys(_ secret: [UInt8]) -> RecordProtection {
        RecordProtection(
            key: self.crypto.hkdfExpandLabel(secret: secret, label: "key", context: [], length: self.suite.cipher.keyLength, hash: self.suite.hash),
            iv: self.crypto.hkdfExpandLabel(secret: secret, label: "iv", context: [], length: 12, hash: self.suite.hash))
    }

    /// TLS 1.3: the client's records are early data under `secret` until its EndOfEarlyData.
    mutating func startEarlyData(_ secret: [UInt8]) {
        guard self.tls13 else { return }
        self.clientEarly = self.trafficKeys(secret)
    }

    /// TLS 1.3: the sender finished its handshake; its next records use application keys.
    mutating func switchToApplicationKeys(_ direction: Direction) {
        guard self.tls13 else { return }
        switch direction {
        case .client:
            guard !self.clientApplication, let secret = self.secrets.clientTraffic0 else { return }
            self.client = self.trafficKeys(secret)
            self.clientApplication = true
        case .server:
            guard !self.serverApplication, let secret = self.secrets.serverTraffic0 else { return }
            self.server = self.trafficKeys(secret)
            self.serverApplication = true
        }
    }

    /// Decrypts one protected record. Returns the content type and the plaintext, or `nil` when
    /// the record does not authenticate (wrong keys, or a record the capture mangled).
    mutating func decrypt(_ direction: Direction, header: [UInt8], body: [UInt8]) -> (type: UInt8, plaintext: [UInt8])? {
        if direction == .client, var early = self.clientEarly {
            if self.tls13, let opened = self.crypto.open(self.suite.cipher, key: early.key, nonce: early.xorNonce(),
                                                         additionalData: header, sealed: body),
               let last = opened.lastIndex(where: { $0 != 0 }) {
                early.sequence &+= 1
                self.clientEarly = early
                self.earlyRecordsOpened += 1
                return (opened[last], Array(opened[..<last]))
            }
            self.clientEarly = nil
        }
        guard var protection = direction == .client ? self.client : self.server else { return nil }
        defer {
            switch direction {
            case .client: self.client = protection
            case .server: self.server = protection
            }
        }
        if self.tls13 {
            // RFC 8446 §5.2: additional data is the record header; the inner type is the last non-zero byte.
            guard let opened = self.crypto.open(self.suite.cipher, key: protection.key, nonce: protection.xorNonce(),
                                                additionalData: header, sealed: body)
            else { return nil }
            protection.sequence &+= 1
            guard let last = opened.lastIndex(where: { $0 != 0 }) else { return nil }
            return (opened[last], Array(opened[..<last]))
        }
        // RFC 5246 §6.2.3.3 / RFC 5288 §3: nonce = implicit IV || explicit nonce (GCM), or IV XOR seq (ChaCha20).
        let explicit = self.suite.explicitNonceLength
        guard body.count >= explicit + 16 else { return nil }
        let nonce = explicit > 0 ? protection.iv + Array(body[0..<explicit]) : protection.xorNonce()
        let sealed = Array(body[explicit...])
        var aad = [UInt8]()
        for index in stride(from: 56, through: 0, by: -8) { aad.append(UInt8(truncatingIfNeeded: protection.sequence >> UInt64(index))) }
        let plaintextLength = sealed.count - 16
        aad += [header[0], header[1], header[2], UInt8(plaintextLength >> 8), UInt8(plaintextLength & 0xff)]
        guard let opened = self.crypto.open(self.suite.cipher, key: protection.key, nonce: nonce, additionalData: aad, sealed: sealed)
        else { return nil }
        protection.sequence &+= 1
        return (header[0], opened)
    }
}
