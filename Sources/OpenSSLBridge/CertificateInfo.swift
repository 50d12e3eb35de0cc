import COpenSSL
import CaptureModel
#if canImport(Glibc)
import Glibc
#endif

/// What a report says about one certificate, read from its DER encoding alone, so a chain can
/// be listed even when verification cannot run (no trust store, a broken certificate further up).
public struct CertificateInfo: Hashable, Sendable {
    /// The subject name, one line in RFC 2253 order and escaping (`CN=upstream.test,O=Example`),
    /// UTF-8 text kept as text.
    public var subject: String
    /// The issuer name, in the same form as `subject`.
    public var issuer: String
    /// Start of the validity period (RFC 5280 §4.1.2.5), whole seconds.
    public var notBefore: Timestamp
    /// End of the validity period, whole seconds.
    public var notAfter: Timestamp
    /// `notBefore` as RFC 3339 text in UTC, `2024-01-01T00:00:00Z`.
    public var notBeforeText: String
    /// `notAfter` as RFC 3339 text in UTC.
    public var notAfterText: String
    /// The subjectAltName DNS names and IP addresses (IPv6 in RFC 5952 text), in certificate order.
    public var subjectAltNames: [String]
    /// The public key, `RSA 2048`, `EC P-256`, `Ed25519`.
    public var key: String
    /// SHA-256 of the DER encoding, lowercase hex, as `openssl x509 -fingerprint -sha256` without colons.
    public var sha256: String
    /// Whether OpenSSL considers the certificate a CA (`X509_check_ca`: basicConstraints CA:TRUE,
    /// a version 1 self-signed root, or keyCertSign without basicConstraints).
    public var isCA: Bool
    /// The caIssuers URLs of the Authority Information Access extension (RFC 5280 §4.2.2.1): where
    /// the issuer's certificate can be downloaded, the usual fix for a missing intermediate.
    public var caIssuersURLs: [String]
    /// The DER encoding.
    public var der: [UInt8]

    /// Parses a DER-encoded X.509 certificate.
    public init(der: [UInt8]) throws(CertificateParseError) {
        guard let certificate = CertificateInfo.parse(der) else {
            throw CertificateParseError(message: "not a DER X.509 certificate: \(OpenSSLErrorQueue.drain() ?? "d2i_X509 failed")")
        }
        defer { X509_free(certificate) }
        try self.init(certificate: certificate, der: der)
    }

    /// Reads an `X509` OpenSSL owns (not consumed); `der` is its encoding when the caller has it.
    init(certificate: OpaquePointer, der knownDER: [UInt8]? = nil) throws(CertificateParseError) {
        let der = knownDER ?? CertificateInfo.encode(certificate)
        guard let notBefore = CertificateInfo.time(X509_get0_notBefore(certificate)),
              let notAfter = CertificateInfo.time(X509_get0_notAfter(certificate))
        else {
            OpenSSLErrorQueue.clear()
            throw CertificateParseError(message: "the certificate's validity dates cannot be read")
        }
        self.subject = CertificateInfo.name(X509_get_subject_name(certificate))
        self.issuer = CertificateInfo.name(X509_get_issuer_name(certificate))
        self.notBefore = notBefore.timestamp
        self.notAfter = notAfter.timestamp
        self.notBeforeText = notBefore.text
        self.notAfterText = notAfter.text
        self.subjectAltNames = CertificateInfo.subjectAltNames(certificate)
        self.key = CertificateInfo.keyDescription(X509_get0_pubkey(certificate))
        self.sha256 = CertificateInfo.sha256Hex(der)
        self.isCA = X509_check_ca(certificate) != 0
        self.caIssuersURLs = CertificateInfo.caIssuers(certificate)
        self.der = der
        // Extension parsing may queue errors for malformed extensions it skips.
        OpenSSLErrorQueue.clear()
    }

    /// A new `X509` (the caller frees it) from DER, or `nil` with OpenSSL's reason left queued.
    static func parse(_ der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { (buffer) -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard cursor != nil else { return nil }
            return d2i_X509(nil, &cursor, buffer.count)
        }
    }

    /// The DER encoding of an `X509` OpenSSL owns.
    static func encode(_ certificate: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { return [] }
        var der = [UInt8](repeating: 0, count: Int(length))
        der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            _ = i2d_X509(certificate, &cursor)
        }
        return der
    }

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        return withMemoryBIO { bio in
            _ = X509_NAME_print_ex(bio, name, 0, COpenSSL_XN_FLAG_RFC2253_UTF8())
        }
    }

    private static func time(_ time: UnsafePointer<ASN1_TIME>?) -> (timestamp: Timestamp, text: String)? {
        guard let time else { return nil }
        var fields = tm()
        guard ASN1_TIME_to_tm(time, &fields) == 1 else { return nil }
        let seconds = Int64(timegm(&fields))
        let year = Int(fields.tm_year) + 1900
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let text = "\(pad(Int32(year), 4))-\(pad(fields.tm_mon + 1, 2))-\(pad(fields.tm_mday, 2))T"
            + "\(pad(fields.tm_hour, 2)):\(pad(fields.tm_min, 2)):\(pad(fields.tm_sec, 2))Z"
        return (Timestamp(seconds: seconds, nanoseconds: 0), text)
    }

    private static func subjectAltNames(_ certificate: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for index in 0..<COpenSSL_sk_GENERAL_NAME_num(names) {
            guard let name = COpenSSL_sk_GENERAL_NAME_value(names, index) else { continue }
            switch name.pointee.type {
            case GEN_DNS:
                if let text = asciiString(name.pointee.d.dNSName) { result.append(text) }
            case GEN_IPADD:
                if let address = ipAddress(name.pointee.d.iPAddress) { result.append(address) }
            default:
                continue
            }
        }
        return result
    }

    private static func caIssuers(_ certificate: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(certificate, NID_info_access, nil, nil) else { return [] }
        let access = OpaquePointer(raw)
        defer { AUTHORITY_INFO_ACCESS_free(access) }
        var result: [String] = []
        for index in 0..<COpenSSL_sk_ACCESS_DESCRIPTION_num(access) {
            guard let description = COpenSSL_sk_ACCESS_DESCRIPTION_value(access, index),
                  OBJ_obj2nid(description.pointee.method) == NID_ad_ca_issuers,
                  let location = description.pointee.location,
                  location.pointee.type == GEN_URI,
                  let url = asciiString(location.pointee.d.uniformResourceIdentifier)
            else { continue }
            result.append(url)
        }
        return result
    }

    private static func bytes(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> [UInt8]? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        let length = Int(ASN1_STRING_length(string))
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    private static func asciiString(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let bytes = bytes(string) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func ipAddress(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let bytes = bytes(string) else { return nil }
        switch bytes.count {
        case 4:
            return IPAddress.v4(bytes.reduce(0) { $0 << 8 | UInt32($1) }).text
        case 16:
            let high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
            let low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
            return IPAddress.v6(high: high, low: low).text
        default:
            return nil
        }
    }

    private static func keyDescription(_ key: OpaquePointer?) -> String {
        guard let key else { return "unknown" }
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA:
            return "RSA \(bits)"
        case EVP_PKEY_RSA_PSS:
            return "RSA-PSS \(bits)"
        case EVP_PKEY_DSA:
            return "DSA \(bits)"
        case EVP_PKEY_ED25519:
            return "Ed25519"
        case EVP_PKEY_ED448:
            return "Ed448"
        case EVP_PKEY_EC:
            var buffer = [CChar](repeating: 0, count: 80)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 else {
                OpenSSLErrorQueue.clear()
                return "EC \(bits)"
            }
            let group = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // OpenSSL names the NIST curves by their X9.62 / SEC names (prime256v1, secp384r1);
            // reports use the FIPS 186 names people recognise (P-256, P-384).
            if let nist = string(fromC: EC_curve_nid2nist(OBJ_sn2nid(group))) {
                return "EC \(nist)"
            }
            return "EC \(group)"
        case let id:
            if let name = string(fromC: OBJ_nid2sn(id)) { return "\(name) \(bits)" }
            return "unknown"
        }
    }

    private static func sha256Hex(_ der: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = der.withUnsafeBytes { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &digest, &length, EVP_sha256(), nil)
        }
        guard ok == 1 else {
            OpenSSLErrorQueue.clear()
            return ""
        }
        return hex(digest.prefix(Int(length)))
    }
}

/// A certificate that could not be parsed.
public struct CertificateParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// One line a person understands, with OpenSSL's reason.
    public var message: String

    /// An error from its message.
    public init(message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Lowercase hex of some bytes.
func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}

/// Runs `body` with a fresh memory BIO and returns what it wrote, as UTF-8 text.
func withMemoryBIO(_ body: (OpaquePointer) -> Void) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { return "" }
    defer { BIO_free(bio) }
    body(bio)
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 512)
    while true {
        let count = BIO_read(bio, &chunk, Int32(chunk.count))
        if count <= 0 { break }
        result.append(contentsOf: chunk.prefix(Int(count)))
    }
    return String(decoding: result, as: UTF8.self)
}
