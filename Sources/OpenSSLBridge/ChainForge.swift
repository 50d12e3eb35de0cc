import COpenSSL

/// A throwaway certificate chain shaped like a captured one, for `edgescope replay
/// --forge-chain`: the same subjects, issuers, serials, validity dates and extensions
/// (subjectAltName, basicConstraints, key and extended key usage), under new keys, so a gateway
/// that trusts `caPEM` rejects (or accepts) it for the same reason it did the captured chain.
public struct ForgedChain: Sendable {
    /// How the captured chain failed to verify, which decides what the forged CA is.
    public enum Shape: String, Sendable {
        // The raw values are the words `edgescope replay` prints.
        /// Signed up to a CA named as the captured top certificate's issuer; that CA is the one to trust.
        case asCaptured = "as captured"
        /// The leaf's issuer exists (signed by the trusted CA) but is not sent (X509 error 20 or 21).
        case missingIntermediate = "missing-intermediate"
        /// The leaf signs itself; the CA to trust is another one (X509 error 18).
        case selfSigned = "self-signed"
        /// Signed by a CA named as captured, which is not the one to trust (X509 error 20).
        case unknownCA = "unknown-CA"
    }

    /// The certificates to serve, leaf first, PEM.
    public var chainPEM: String
    /// The leaf's new private key, PEM (PKCS#8).
    public var keyPEM: String
    /// The CA a gateway should trust, PEM.
    public var caPEM: String
    /// The CA's private key, PEM.
    public var caKeyPEM: String

    /// Forges `certificates` (DER, leaf first, as captured) in `shape`.
    public static func forge(certificates: [[UInt8]], shape: Shape) throws(TLSServerError) -> ForgedChain {
        OpenSSLErrorQueue.clear()
        var captured: [OpaquePointer] = []
        defer { for certificate in captured { X509_free(certificate) } }
        for der in certificates {
            let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509(nil, &cursor, buffer.count)
            }
            guard let parsed else { throw TLSServerError(message: "a captured certificate does not parse: \(OpenSSLErrorQueue.drain() ?? "d2i_X509 failed")") }
            captured.append(parsed)
        }
        guard let leaf = captured.first, let top = captured.last else {
            throw TLSServerError(message: "the capture holds no certificate to forge (TLS 1.3 needs --keylog to read it)")
        }
        var made: [OpaquePointer] = []
        var keys: [OpaquePointer] = []
        defer {
            for certificate in made { X509_free(certificate) }
            for key in keys { EVP_PKEY_free(key) }
        }
        func newKey() throws(TLSServerError) -> OpaquePointer {
            guard let key = COpenSSL_EVP_EC_gen_P256() else { throw TLSServerError(message: "cannot make a key: \(OpenSSLErrorQueue.drain() ?? "EVP_EC_gen failed")") }
            keys.append(key)
            return key
        }

        // The CA to trust, and the signer of the captured top certificate.
        let topIssuer = X509_get_issuer_name(top)!
        let topSelfSigned = X509_NAME_cmp(X509_get_subject_name(top), topIssuer) == 0
        let trustedKey = try newKey()
        let trustedName: OpaquePointer
        switch shape {
        case .asCaptured: trustedName = X509_NAME_dup(topIssuer)
        case .missingIntermediate, .selfSigned, .unknownCA: trustedName = try Self.name("edgescope replay trusted CA")
        }
        defer { X509_NAME_free(trustedName) }
        let trusted = try Self.authority(named: trustedName, issuer: trustedName, key: trustedKey, signer: trustedKey)
        made.append(trusted)

        var signerKey: OpaquePointer = trustedKey
        switch shape {
        case .asCaptured:
            break
        case .missingIntermediate:
            // The issuer the upstream should have sent, signed by the trusted CA.
            let key = try newKey()
            made.append(try Self.authority(named: topIssuer, issuer: trustedName, key: key, signer: trustedKey))
            signerKey = key
        case .unknownCA, .selfSigned:
            // A CA with the captured issuer's name that the gateway does not trust.
            let key = try newKey()
            made.append(try Self.authority(named: topIssuer, issuer: topIssuer, key: key, signer: key))
            signerKey = key
        }

        // From the top of the captured chain down to the leaf, each signed by the one above.
        var served: [OpaquePointer] = []
        var leafKey = trustedKey
        for certificate in captured.reversed() {
            let key = try newKey()
            let selfSigned = certificate == top ? topSelfSigned || shape == .selfSigned : false
            let copy = try Self.copy(certificate, key: key, signer: selfSigned ? key : signerKey, selfSigned: selfSigned)
            made.append(copy)
            served.insert(copy, at: 0)
            signerKey = key
            leafKey = key
        }
        _ = leaf
        var chain = ""
        for certificate in served { chain += try Self.pem { PEM_write_bio_X509($0, certificate) } }
        return ForgedChain(
            chainPEM: chain,
            keyPEM: try Self.pem { PEM_write_bio_PrivateKey($0, leafKey, nil, nil, 0, nil, nil) },
            caPEM: try Self.pem { PEM_write_bio_X509($0, trusted) },
            caKeyPEM: try Self.pem { PEM_write_bio_PrivateKey($0, trustedKey, nil, nil, 0, nil, nil) })
    }

    /// `CN=common`.
    private static func name(_ common: String) throws(TLSServerError) -> OpaquePointer {
        guard let name = X509_NAME_new() else { throw TLSServerError(message: "cannot make a name") }
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, common, -1, -1, 0)
        return name
    }

    /// A CA certificate, valid from 1970 to 2099.
    private static func authority(named subject: OpaquePointer, issuer: OpaquePointer, key: OpaquePointer, signer: OpaquePointer) throws(TLSServerError) -> OpaquePointer {
        guard let certificate = X509_new() else { throw TLSServerError(message: "cannot make a certificate") }
        X509_set_version(certificate, 2)
        ASN1_INTEGER_set(X509_get_serialNumber(certificate), Int(UInt32.random(in: 1...UInt32.max >> 1)))
        X509_set_subject_name(certificate, subject)
        X509_set_issuer_name(certificate, issuer)
        // Valid whenever the captured chain is judged (a gateway under faketime, a capture's own time).
        ASN1_TIME_set_string_X509(X509_getm_notBefore(certificate), "19700101000000Z")
        ASN1_TIME_set_string_X509(X509_getm_notAfter(certificate), "20991231235959Z")
        X509_set_pubkey(certificate, key)
        for (nid, value) in [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")] {
            if let extensionValue = X509V3_EXT_conf_nid(nil, nil, nid, value) {
                X509_add_ext(certificate, extensionValue, -1)
                X509_EXTENSION_free(extensionValue)
            }
        }
        guard X509_sign(certificate, signer, EVP_sha256()) > 0 else {
            X509_free(certificate)
            throw TLSServerError(message: "cannot sign a certificate: \(OpenSSLErrorQueue.drain() ?? "X509_sign failed")")
        }
        return certificate
    }

    /// `original`'s names, serial, dates and extensions (not its key identifiers, which named
    /// its old keys) under `key`, signed by `signer`.
    private static func copy(_ original: OpaquePointer, key: OpaquePointer, signer: OpaquePointer, selfSigned: Bool) throws(TLSServerError) -> OpaquePointer {
        guard let certificate = X509_new() else { throw TLSServerError(message: "cannot make a certificate") }
        X509_set_version(certificate, 2)
        X509_set_serialNumber(certificate, X509_get_serialNumber(original))
        X509_set_subject_name(certificate, X509_get_subject_name(original))
        X509_set_issuer_name(certificate, selfSigned ? X509_get_subject_name(original) : X509_get_issuer_name(original))
        X509_set1_notBefore(certificate, X509_get0_notBefore(original))
        X509_set1_notAfter(certificate, X509_get0_notAfter(original))
        X509_set_pubkey(certificate, key)
        for index in 0..<X509_get_ext_count(original) {
            guard let extensionValue = X509_get_ext(original, index) else { continue }
            let nid = OBJ_obj2nid(X509_EXTENSION_get_object(extensionValue))
            if nid == NID_subject_key_identifier || nid == NID_authority_key_identifier { continue }
            X509_add_ext(certificate, extensionValue, -1)
        }
        guard X509_sign(certificate, signer, EVP_sha256()) > 0 else {
            X509_free(certificate)
            throw TLSServerError(message: "cannot sign a certificate: \(OpenSSLErrorQueue.drain() ?? "X509_sign failed")")
        }
        return certificate
    }

    /// What `write` writes to a memory BIO, as text.
    private static func pem(_ write: (OpaquePointer) -> Int32) throws(TLSServerError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSServerError(message: "cannot make a memory BIO") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw TLSServerError(message: "cannot write PEM: \(OpenSSLErrorQueue.drain() ?? "PEM_write failed")") }
        var data: UnsafeMutablePointer<CChar>?
        let length = COpenSSL_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}
