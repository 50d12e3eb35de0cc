import COpenSSL

extension TLSCrypto {
    /// Opens an AEAD-protected record: `sealed` is the ciphertext followed by the 16-byte tag,
    /// as TLS 1.3 records (RFC 8446 §5.2) and TLS 1.2 AEAD records carry them after any explicit
    /// nonce. Answers `nil` when the tag does not verify, or when a length is wrong for `cipher`
    /// (a key log line for another suite, a record shorter than a tag).
    public static func aeadOpen(cipher: AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        guard key.count == cipher.keyLength, nonce.count == cipher.nonceLength,
              sealed.count >= cipher.tagLength, sealed.count <= Int(Int32.max), additionalData.count <= Int(Int32.max)
        else { return nil }
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(context) }
        let ciphertextLength = sealed.count - cipher.tagLength
        var tag = Array(sealed[ciphertextLength...])
        var plaintext = [UInt8](repeating: 0, count: ciphertextLength + cipher.tagLength)
        var written: Int32 = 0
        var finalWritten: Int32 = 0
        let opened: Bool = key.withUnsafeBufferPointer { keyBuffer in
            nonce.withUnsafeBufferPointer { nonceBuffer in
                sealed.withUnsafeBufferPointer { sealedBuffer in
                    guard EVP_DecryptInit_ex(context, cipher.evpCipher, nil, nil, nil) == 1,
                          EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonce.count), nil) == 1,
                          EVP_DecryptInit_ex(context, nil, nil, keyBuffer.baseAddress, nonceBuffer.baseAddress) == 1
                    else { return false }
                    if !additionalData.isEmpty {
                        var ignored: Int32 = 0
                        guard additionalData.withUnsafeBufferPointer({
                            EVP_DecryptUpdate(context, nil, &ignored, $0.baseAddress, Int32($0.count))
                        }) == 1 else { return false }
                    }
                    if ciphertextLength > 0 {
                        guard EVP_DecryptUpdate(context, &plaintext, &written, sealedBuffer.baseAddress, Int32(ciphertextLength)) == 1
                        else { return false }
                    }
                    guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(tag.count), &tag) == 1 else { return false }
                    // The tag is checked here; nothing is released before it verifies.
                    return plaintext.withUnsafeMutableBufferPointer { buffer in
                        EVP_DecryptFinal_ex(context, buffer.baseAddress! + Int(written), &finalWritten) == 1
                    }
                }
            }
        }
        OpenSSLErrorQueue.clear()
        guard opened else { return nil }
        return Array(plaintext.prefix(Int(written + finalWritten)))
    }

    /// Seals `plaintext`: the ciphertext followed by the 16-byte tag. For tests and for building
    /// records; the key and nonce must have the cipher's lengths.
    public static func aeadSeal(cipher: AEADCipher, key: [UInt8], nonce: [UInt8], additionalData: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        precondition(key.count == cipher.keyLength && nonce.count == cipher.nonceLength, "key or nonce length wrong for \(cipher)")
        guard let context = EVP_CIPHER_CTX_new() else { preconditionFailure("OpenSSL cannot create a cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: plaintext.count + cipher.tagLength)
        var written: Int32 = 0
        var finalWritten: Int32 = 0
        var tag = [UInt8](repeating: 0, count: cipher.tagLength)
        var ignored: Int32 = 0
        let ok = EVP_EncryptInit_ex(context, cipher.evpCipher, nil, nil, nil) == 1
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonce.count), nil) == 1
            && EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1
            && (additionalData.isEmpty || EVP_EncryptUpdate(context, nil, &ignored, additionalData, Int32(additionalData.count)) == 1)
            && (plaintext.isEmpty || EVP_EncryptUpdate(context, &output, &written, plaintext, Int32(plaintext.count)) == 1)
            && output.withUnsafeMutableBufferPointer { EVP_EncryptFinal_ex(context, $0.baseAddress! + Int(written), &finalWritten) } == 1
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(tag.count), &tag) == 1
        guard ok else { preconditionFailure("OpenSSL AEAD seal failed: \(OpenSSLErrorQueue.drain() ?? "unknown error")") }
        let length = Int(written + finalWritten)
        return Array(output.prefix(length)) + tag
    }
}
