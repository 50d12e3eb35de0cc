import Testing
@testable import OpenSSLBridge

@Suite struct TLSCryptoTests {
    let hex = Fixtures.hex

    // MARK: HKDF, RFC 5869 Appendix A

    @Test func hkdfRFC5869TestCase1() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let prk = TLSCrypto.hkdfExtract(salt: hex("000102030405060708090a0b0c"), inputKeyingMaterial: ikm, hash: .sha256)
        #expect(prk == hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"))
        let okm = TLSCrypto.hkdfExpand(pseudorandomKey: prk, info: hex("f0f1f2f3f4f5f6f7f8f9"), length: 42, hash: .sha256)
        #expect(okm == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
    }

    @Test func hkdfRFC5869TestCase3EmptySaltAndInfo() {
        let prk = TLSCrypto.hkdfExtract(salt: [], inputKeyingMaterial: [UInt8](repeating: 0x0b, count: 22), hash: .sha256)
        #expect(prk == hex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"))
        let okm = TLSCrypto.hkdfExpand(pseudorandomKey: prk, info: [], length: 42, hash: .sha256)
        #expect(okm == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
    }

    // MARK: RFC 8448 §3, Simple 1-RTT Handshake

    /// The (EC)DHE shared secret of the trace.
    static let sharedSecret = Fixtures.hex("8b d4 05 4f b5 5b 9d 63 fd fb ac f9 f0 4b 9f 0d 35 e6 d6 3f 53 75 63 ef d4 62 72 90 0f 89 49 2d")
    /// Transcript-Hash(ClientHello, ServerHello).
    static let helloHash = Fixtures.hex("86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8")
    static let serverHandshakeTrafficSecret = Fixtures.hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38")
    /// The server's first protected record: EncryptedExtensions, Certificate, CertificateVerify, Finished.
    static let serverHandshakeRecord = Fixtures.hex("""
        17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3 5e
        df 78 69 fc f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b 40 68 90 51 23 ea 78
        b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa dc 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b
        d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb 35 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9
        d7 47 76 09 ae e6 e1 22 a4 cf 51 42 73 25 25 0c 7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e
        d6 5b 0e 3c dd 0c ba e8 bf 2d 0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba a4 fc d6 10 92
        8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7 3b 70 a2 55 9c 09 ea d6 86 94
        5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19 05 79 b3 68
        45 96 c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63 d3 e6 88 61 1e a5 e2 2f
        44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a ad 6d 26
        f5 9e ca ba 9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce 34 31 17 b6 59 62 22 45 31
        7b 49 ee da 0c 62 58 f1 00 d7 d9 61 ff b1 38 64 7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e
        1b 7a 6c 71 78 af 36 87 90 18 e3 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da
        8c 87 c8 43 f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4
        61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa 80 f8 5d f8 81 ed be
        5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48 a1 81 d6 b6 fa 4f 9d 62 d5 13 af bb
        99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59
        77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38
        eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2 3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84
        5e 27 55 92 c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d da 49 f4 b4 40 a3 0c b5
        d2 af 93 98 28 fd 4a e3 79 4e 44 f9 4d f5 a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e
        75 0e dc 53 37 0d 2b
        """)

    @Test func rfc8448KeyScheduleToServerHandshakeTrafficSecret() {
        // RFC 8446 §7.1: early secret from no PSK, "derived", then the handshake secret.
        let early = TLSCrypto.hkdfExtract(salt: [], inputKeyingMaterial: [UInt8](repeating: 0, count: 32), hash: .sha256)
        #expect(early == hex("33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a"))
        let emptyHash = hex("e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55")
        let derived = TLSCrypto.deriveSecret(secret: early, label: "derived", transcriptHash: emptyHash, hash: .sha256)
        #expect(derived == hex("6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba"))
        let handshake = TLSCrypto.hkdfExtract(salt: derived, inputKeyingMaterial: Self.sharedSecret, hash: .sha256)
        #expect(handshake == hex("1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac"))
        let server = TLSCrypto.deriveSecret(secret: handshake, label: "s hs traffic", transcriptHash: Self.helloHash, hash: .sha256)
        #expect(server == Self.serverHandshakeTrafficSecret)
    }

    @Test func rfc8448ServerHandshakeTrafficKeys() {
        let (key, iv) = TLSCrypto.trafficKeys(secret: Self.serverHandshakeTrafficSecret, cipher: .aes128GCM)
        #expect(key == hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"))
        #expect(iv == hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"))
    }

    @Test func rfc8448DecryptsTheServersFirstEncryptedRecord() {
        let (key, iv) = TLSCrypto.trafficKeys(secret: Self.serverHandshakeTrafficSecret, cipher: .aes128GCM)
        let record = Self.serverHandshakeRecord
        #expect(record.count == 679)
        // RFC 8446 §5.2: the additional data is the record header; the first record has sequence 0.
        let header = Array(record.prefix(5))
        let body = Array(record.dropFirst(5))
        let nonce = TLSCrypto.recordNonce(iv: iv, sequenceNumber: 0)
        let opened = TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: header, sealed: body)
        #expect(opened?.count == 658)
        // TLSInnerPlaintext: EncryptedExtensions (type 8, length 0x24) first, content type 22 last.
        #expect(opened.map { Array($0.prefix(4)) } == [0x08, 0x00, 0x00, 0x24])
        #expect(opened?.last == 0x16)
        // Sealing the plaintext again gives the wire bytes.
        if let opened {
            #expect(TLSCrypto.aeadSeal(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: header, plaintext: opened) == body)
        }
        // The wrong sequence number, a flipped tag bit, or other additional data: no plaintext.
        #expect(TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: TLSCrypto.recordNonce(iv: iv, sequenceNumber: 1), additionalData: header, sealed: body) == nil)
        var tampered = body
        tampered[tampered.count - 1] ^= 0x01
        #expect(TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: header, sealed: tampered) == nil)
        #expect(TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: [0x17, 0x03, 0x03, 0x02, 0xa3], sealed: body) == nil)
    }

    @Test func rfc8448ServerApplicationDataAtSequenceOne() {
        // The server's second record under its application key (after NewSessionTicket).
        let key = hex("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56")
        let iv = hex("cf 78 2b 88 dd 83 54 9a ad f1 e9 84")
        let record = hex("""
            17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b 36
            e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54
            0d d0 32 e1 67 c2 95 5d
            """)
        let nonce = TLSCrypto.recordNonce(iv: iv, sequenceNumber: 1)
        #expect(nonce == hex("cf 78 2b 88 dd 83 54 9a ad f1 e9 85"))
        let opened = TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: Array(record.prefix(5)), sealed: Array(record.dropFirst(5)))
        #expect(opened == Array(0x00...0x31) + [0x17])
    }

    @Test func recordNonceXorsTheSequenceNumberIntoTheLowBytes() {
        let iv = [UInt8](repeating: 0xff, count: 12)
        #expect(TLSCrypto.recordNonce(iv: iv, sequenceNumber: 0x0102_0304_0506_0708)
                == [0xff, 0xff, 0xff, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7])
    }

    // MARK: AEAD known answers

    @Test func aesGCMTestCase4() {
        // The GCM specification's (McGrew & Viega) test case 4: AES-128, 60-byte plaintext, 20-byte AAD.
        let key = hex("feffe9928665731c6d6a8f9467308308")
        let nonce = hex("cafebabefacedbaddecaf888")
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let plaintext = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let sealed = hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
            + "5bc94fbc3221a5db94fae95ae7121a47")
        #expect(TLSCrypto.aeadSeal(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: aad, plaintext: plaintext) == sealed)
        #expect(TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: aad, sealed: sealed) == plaintext)
    }

    @Test func aes256GCMRoundTripAndLengthChecks() {
        let key = [UInt8](repeating: 7, count: 32)
        let nonce = [UInt8](repeating: 9, count: 12)
        let sealed = TLSCrypto.aeadSeal(cipher: .aes256GCM, key: key, nonce: nonce, additionalData: [1, 2], plaintext: [])
        #expect(sealed.count == 16)
        #expect(TLSCrypto.aeadOpen(cipher: .aes256GCM, key: key, nonce: nonce, additionalData: [1, 2], sealed: sealed) == [])
        // Lengths that cannot be right answer nil, never trap: these come from captures and key logs.
        #expect(TLSCrypto.aeadOpen(cipher: .aes128GCM, key: key, nonce: nonce, additionalData: [], sealed: sealed) == nil)
        #expect(TLSCrypto.aeadOpen(cipher: .aes256GCM, key: key, nonce: [1], additionalData: [], sealed: sealed) == nil)
        #expect(TLSCrypto.aeadOpen(cipher: .aes256GCM, key: key, nonce: nonce, additionalData: [], sealed: [1, 2, 3]) == nil)
    }

    @Test func chacha20Poly1305RFC8439Section2_8_2() {
        let key = Array(UInt8(0x80)...UInt8(0x9f))
        let nonce = hex("07 00 00 00 40 41 42 43 44 45 46 47")
        let aad = hex("50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7")
        let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let sealed = hex("""
            d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2 a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
            3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b 1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
            92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58 fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
            3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b 61 16
            1a e1 0b 59 4f 09 e2 6a 7e 90 2e cb d0 60 06 91
            """)
        #expect(TLSCrypto.aeadSeal(cipher: .chacha20Poly1305, key: key, nonce: nonce, additionalData: aad, plaintext: plaintext) == sealed)
        #expect(TLSCrypto.aeadOpen(cipher: .chacha20Poly1305, key: key, nonce: nonce, additionalData: aad, sealed: sealed) == plaintext)
        var tampered = sealed
        tampered[0] ^= 0x80
        #expect(TLSCrypto.aeadOpen(cipher: .chacha20Poly1305, key: key, nonce: nonce, additionalData: aad, sealed: tampered) == nil)
    }

    // MARK: TLS 1.2 PRF (the SHA-256 and SHA-384 vectors published to the IETF TLS WG list)

    @Test func tls12PRFSHA256() {
        let output = TLSCrypto.tls12PRF(
            secret: hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"), label: "test label",
            seed: hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c"), length: 100, hash: .sha256)
        #expect(output == hex("""
            e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
            6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
            4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
            87 34 7b 66
            """))
    }

    @Test func tls12PRFSHA384() {
        let output = TLSCrypto.tls12PRF(
            secret: hex("b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df"), label: "test label",
            seed: hex("cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65"), length: 148, hash: .sha384)
        #expect(output == hex("""
            7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a 1c 14 df fb 49 00 bb 5f d7 94 21 07 e8 1c 83 cd
            e9 ca 0f aa 60 be 9f e3 4f 82 b1 23 3c 91 46 a0 e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd
            8b fa 96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3 d4 16 d4 73 eb c2 c5 fd 4a bf da d0 5d 91 84 25
            9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4 f1 a2 60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6
            91 c8 f3 a2 68 54 30 8d 5e aa 3b e8 5e 09 90 70 3d 73 e5 6f
            """))
    }

    @Test func hkdfExpandLabelUsesTheTLS13Prefix() {
        // The same derivation spelled out: HkdfLabel = length || "tls13 key" || empty context.
        let secret = Self.serverHandshakeTrafficSecret
        let info: [UInt8] = [0x00, 0x10, 0x09] + Array("tls13 key".utf8) + [0x00]
        #expect(TLSCrypto.hkdfExpandLabel(secret: secret, label: "key", context: [], length: 16, hash: .sha256)
                == TLSCrypto.hkdfExpand(pseudorandomKey: secret, info: info, length: 16, hash: .sha256))
        #expect(AEADCipher.aes256GCM.tls13Hash == .sha384)
        #expect(TLSCrypto.trafficKeys(secret: [UInt8](repeating: 1, count: 48), cipher: .aes256GCM).key.count == 32)
    }
}
