import COpenSSL

/// The hash of a TLS 1.3 cipher suite or of a TLS 1.2 PRF.
public enum TLSHash: String, Hashable, Sendable, CaseIterable {
    /// SHA-256 (32 bytes).
    case sha256
    /// SHA-384 (48 bytes).
    case sha384

    /// The digest length in bytes.
    public var length: Int {
        switch self {
        case .sha256: return 32
        case .sha384: return 48
        }
    }

    var digest: OpaquePointer {
        switch self {
        case .sha256: return EVP_sha256()
        case .sha384: return EVP_sha384()
        }
    }
}

/// The AEAD ciphers of TLS 1.3 and of TLS 1.2's AEAD suites (RFC 5288, RFC 7905).
public enum AEADCipher: String, Hashable, Sendable, CaseIterable {
    /// AES-128-GCM.
    case aes128GCM
    /// AES-256-GCM.
    case aes256GCM
    /// ChaCha20-Poly1305 (RFC 8439).
    case chacha20Poly1305

    /// Key length in bytes.
    public var keyLength: Int {
        switch self {
        case .aes128GCM: return 16
        case .aes256GCM, .chacha20Poly1305: return 32
        }
    }

    /// Nonce length in bytes: 12 for all three (RFC 8446 §5.3 iv_length).
    public var nonceLength: Int { 12 }

    /// Authentication tag length in bytes.
    public var tagLength: Int { 16 }

    /// The hash of the TLS 1.3 suite built on this AEAD (RFC 8446 §B.4): SHA-384 for
    /// TLS_AES_256_GCM_SHA384, SHA-256 for TLS_AES_128_GCM_SHA256 and TLS_CHACHA20_POLY1305_SHA256.
    public var tls13Hash: TLSHash {
        switch self {
        case .aes128GCM, .chacha20Poly1305: return .sha256
        case .aes256GCM: return .sha384
        }
    }

    var evpCipher: OpaquePointer {
        switch self {
        case .aes128GCM: return EVP_aes_128_gcm()
        case .aes256GCM: return EVP_aes_256_gcm()
        case .chacha20Poly1305: return EVP_chacha20_poly1305()
        }
    }
}

/// TLS key derivation and record protection for decrypting captured traffic with a key log,
/// all through OpenSSL's EVP interfaces.
///
/// Key lengths and output lengths that break a function's contract (an HKDF output longer than
/// 255 hash lengths) are programming errors and stop the program; bytes that come from a
/// capture or a key log (ciphertext, tags, secrets of any length) never do: `aeadOpen` answers
/// `nil` for anything it cannot open.
public enum TLSCrypto {
    /// HKDF-Extract (RFC 5869 §2.2): `HMAC-Hash(salt, inputKeyingMaterial)`, `hash.length` bytes.
    /// An empty salt means `hash.length` zero bytes, as the RFC says.
    public static func hkdfExtract(salt: [UInt8], inputKeyingMaterial: [UInt8], hash: TLSHash) -> [UInt8] {
        // RFC 5869 §2.2: no salt means HashLen zeros. Pass them explicitly rather than depend on how
        // EVP_PKEY_CTX_set1_hkdf_salt treats a zero-length salt.
        let salt = salt.isEmpty ? [UInt8](repeating: 0, count: hash.length) : salt
        return derive(id: EVP_PKEY_HKDF, length: hash.length, what: "HKDF-Extract") { context in
            EVP_PKEY_CTX_set_hkdf_mode(context, EVP_KDF_HKDF_MODE_EXTRACT_ONLY) == 1
                && EVP_PKEY_CTX_set_hkdf_md(context, hash.digest) == 1
                && withBytes(salt) { EVP_PKEY_CTX_set1_hkdf_salt(context, $0, $1) } == 1
                && withBytes(inputKeyingMaterial) { EVP_PKEY_CTX_set1_hkdf_key(context, $0, $1) } == 1
        }
    }

    /// HKDF-Expand (RFC 5869 §2.3): `length` bytes from a pseudorandom key and `info`.
    public static func hkdfExpand(pseudorandomKey: [UInt8], info: [UInt8], length: Int, hash: TLSHash) -> [UInt8] {
        precondition(length > 0 && length <= 255 * hash.length, "HKDF-Expand output must be 1...255 hash lengths (RFC 5869 §2.3)")
        return derive(id: EVP_PKEY_HKDF, length: length, what: "HKDF-Expand") { context in
            EVP_PKEY_CTX_set_hkdf_mode(context, EVP_KDF_HKDF_MODE_EXPAND_ONLY) == 1
                && EVP_PKEY_CTX_set_hkdf_md(context, hash.digest) == 1
                && withBytes(pseudorandomKey) { EVP_PKEY_CTX_set1_hkdf_key(context, $0, $1) } == 1
                && (info.isEmpty || withBytes(info) { EVP_PKEY_CTX_add1_hkdf_info(context, $0, $1) } == 1)
        }
    }

    /// HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand with the HkdfLabel structure
    /// `uint16 length || opaque label<7..255> = "tls13 " + label || opaque context<0..255>`.
    public static func hkdfExpandLabel(secret: [UInt8], label: String, context: [UInt8], length: Int, hash: TLSHash) -> [UInt8] {
        let fullLabel = Array("tls13 ".utf8) + Array(label.utf8)
        precondition(fullLabel.count <= 255 && context.count <= 255 && length <= 0xffff, "HkdfLabel fields out of range (RFC 8446 §7.1)")
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)]
        info += fullLabel
        info.append(UInt8(context.count))
        info += context
        return hkdfExpand(pseudorandomKey: secret, info: info, length: length, hash: hash)
    }

    /// Derive-Secret (RFC 8446 §7.1): `HKDF-Expand-Label(secret, label, transcriptHash, Hash.length)`,
    /// given the transcript hash already computed.
    public static func deriveSecret(secret: [UInt8], label: String, transcriptHash: [UInt8], hash: TLSHash) -> [UInt8] {
        hkdfExpandLabel(secret: secret, label: label, context: transcriptHash, length: hash.length, hash: hash)
    }

    /// The TLS 1.2 PRF (RFC 5246 §5): `P_hash(secret, label + seed)` truncated to `length`,
    /// with P_SHA256 or P_SHA384 as the cipher suite says.
    public static func tls12PRF(secret: [UInt8], label: String, seed: [UInt8], length: Int, hash: TLSHash) -> [UInt8] {
        precondition(length > 0, "the PRF must produce at least one byte")
        let labelAndSeed = Array(label.utf8) + seed
        return derive(id: EVP_PKEY_TLS1_PRF, length: length, what: "TLS 1.2 PRF") { context in
            EVP_PKEY_CTX_set_tls1_prf_md(context, hash.digest) == 1
                && withBytes(secret) { EVP_PKEY_CTX_set1_tls1_prf_secret(context, $0, $1) } == 1
                && withBytes(labelAndSeed) { EVP_PKEY_CTX_add1_tls1_prf_seed(context, $0, $1) } == 1
        }
    }

    /// The TLS 1.3 traffic key and IV from a traffic secret (RFC 8446 §7.3):
    /// `key = HKDF-Expand-Label(secret, "key", "", key_length)`,
    /// `iv = HKDF-Expand-Label(secret, "iv", "", 12)`, with the suite's hash (`cipher.tls13Hash`).
    public static func trafficKeys(secret: [UInt8], cipher: AEADCipher) -> (key: [UInt8], iv: [UInt8]) {
        let hash = cipher.tls13Hash
        let key = hkdfExpandLabel(secret: secret, label: "key", context: [], length: cipher.keyLength, hash: hash)
        let iv = hkdfExpandLabel(secret: secret, label: "iv", context: [], length: cipher.nonceLength, hash: hash)
        return (key, iv)
    }

    /// The per-record nonce (RFC 8446 §5.3): the 64-bit sequence number, big-endian, left-padded
    /// with zeros to the IV's length, XORed with the IV. TLS 1.2 ChaCha20-Poly1305 (RFC 7905 §2)
    /// builds its nonce the same way.
    public static func recordNonce(iv: [UInt8], sequenceNumber: UInt64) -> [UInt8] {
        var nonce = iv
        for index in 0..<min(8, nonce.count) {
            nonce[nonce.count - 1 - index] ^= UInt8(truncatingIfNeeded: sequenceNumber >> (8 * UInt64(index)))
        }
        return nonce
    }

    /// Runs one EVP_PKEY derivation of `length` bytes after `configure` sets its parameters.
    private static func derive(id: Int32, length: Int, what: String, configure: (OpaquePointer) -> Bool) -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new_id(id, nil) else {
            preconditionFailure("OpenSSL cannot create a \(what) context: \(OpenSSLErrorQueue.drain() ?? "unknown error")")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: length)
        var outputLength = length
        guard EVP_PKEY_derive_init(context) == 1, configure(context),
              EVP_PKEY_derive(context, &output, &outputLength) == 1, outputLength == length
        else {
            // Only reachable through a bug here or a broken libcrypto: inputs of any length are valid.
            preconditionFailure("OpenSSL \(what) failed: \(OpenSSLErrorQueue.drain() ?? "unknown error")")
        }
        return output
    }
}

/// Calls `body` with a pointer and length for `bytes`, never a null pointer: OpenSSL treats a
/// null pointer as "not given" even when the length is zero.
func withBytes<Result>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int32) -> Result) -> Result {
    if bytes.isEmpty {
        var placeholder: UInt8 = 0
        return body(&placeholder, 0)
    }
    return bytes.withUnsafeBufferPointer { body($0.baseAddress!, Int32($0.count)) }
}
