import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// The certificates (and optionally the CRLs) a gateway trusts for its upstreams: its
/// `proxy_ssl_trusted_certificate` / `ca-file`, or the system's default store.
///
/// Loaded once and then only read: OpenSSL locks an `X509_STORE` internally, so one store can
/// serve verifications on several threads.
public final class TrustStore: @unchecked Sendable {
    /// The `X509_STORE`, owned.
    let store: OpaquePointer
    /// Where the trust came from, for a report: `system default`, or the files and directory given.
    public let origin: String
    /// Whether a CRL was loaded (and so `X509_V_FLAG_CRL_CHECK` is set).
    public let checksRevocation: Bool

    /// Loads a trust store.
    ///
    /// - Parameters:
    ///   - caFile: a PEM file of trusted certificates (`--ca-file`).
    ///   - caPath: a directory of certificates named by subject hash, as `openssl rehash` lays
    ///     it out (`--ca-path`).
    ///   - crlFile: a PEM file of CRLs. When given, revocation is checked and a certificate
    ///     whose issuer has no CRL here fails verification (`X509_V_ERR_UNABLE_TO_GET_CRL`).
    ///   - crlScope: which certificates the CRLs are checked for: the leaf only
    ///     (`X509_V_FLAG_CRL_CHECK`, the default), or every certificate of the chain
    ///     (`| X509_V_FLAG_CRL_CHECK_ALL`, what nginx's `proxy_ssl_crl` sets in `ngx_ssl_crl`).
    ///
    /// With neither `caFile` nor `caPath`, the system default store (OpenSSL's
    /// `X509_STORE_set_default_paths`: on Debian `/usr/lib/ssl/certs`, that is `/etc/ssl/certs`).
    /// A missing, unreadable or certificate-free file, or a missing directory, is an error that
    /// names it.
    public init(caFile: String?, caPath: String?, crlFile: String?, crlScope: CRLScope = .leaf) throws(TrustStoreError) {
        guard let store = X509_STORE_new() else {
            throw TrustStoreError(code: .openSSL, path: nil, message: "cannot create a trust store: \(OpenSSLErrorQueue.drain() ?? "out of memory")")
        }
        var origins: [String] = []
        do throws(TrustStoreError) {
            if caFile == nil && caPath == nil {
                guard X509_STORE_set_default_paths(store) == 1 else {
                    throw TrustStoreError(code: .openSSL, path: nil, message: "cannot load the system's default trust store: \(OpenSSLErrorQueue.drain() ?? "unknown error")")
                }
                // A missing default directory is not an error for OpenSSL; the errors it queued are noise.
                OpenSSLErrorQueue.clear()
                origins.append("system default")
            }
            if let caFile {
                try TrustStore.checkReadableFile(caFile, what: "CA file")
                guard X509_STORE_load_file(store, caFile) == 1 else {
                    let reason = OpenSSLErrorQueue.drain()
                    throw TrustStoreError(code: .noCertificate, path: caFile, message: "CA file \(caFile) holds no PEM certificate\(reason.map { " (\($0))" } ?? "")")
                }
                origins.append("CA file \(caFile)")
            }
            if let caPath {
                var info = stat()
                guard stat(caPath, &info) == 0 else {
                    throw TrustStoreError(code: .unreadable, path: caPath, message: "cannot read CA directory \(caPath): \(TrustStore.errnoText())")
                }
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw TrustStoreError(code: .unreadable, path: caPath, message: "CA directory \(caPath) is not a directory")
                }
                guard X509_STORE_load_path(store, caPath) == 1 else {
                    throw TrustStoreError(code: .openSSL, path: caPath, message: "cannot use CA directory \(caPath): \(OpenSSLErrorQueue.drain() ?? "unknown error")")
                }
                origins.append("CA directory \(caPath)")
            }
            if let crlFile {
                try TrustStore.loadCRLs(crlFile, into: store)
                switch crlScope {
                case .leaf:
                    X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
                case .chain:
                    X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
                }
                origins.append("CRL file \(crlFile)")
            }
        } catch {
            X509_STORE_free(store)
            throw error
        }
        self.store = store
        self.origin = origins.joined(separator: ", ")
        self.checksRevocation = crlFile != nil
    }

    /// The system's default trust store.
    public static func systemDefault() throws(TrustStoreError) -> TrustStore {
        try TrustStore(caFile: nil, caPath: nil, crlFile: nil)
    }

    deinit {
        X509_STORE_free(store)
    }

    private static func checkReadableFile(_ path: String, what: String) throws(TrustStoreError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TrustStoreError(code: .unreadable, path: path, message: "cannot read \(what) \(path): \(errnoText())")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw TrustStoreError(code: .unreadable, path: path, message: "cannot read \(what) \(path): not a regular file")
        }
        guard access(path, R_OK) == 0 else {
            throw TrustStoreError(code: .unreadable, path: path, message: "cannot read \(what) \(path): \(errnoText())")
        }
    }

    private static func loadCRLs(_ path: String, into store: OpaquePointer) throws(TrustStoreError) {
        try checkReadableFile(path, what: "CRL file")
        guard let bio = BIO_new_file(path, "r") else {
            throw TrustStoreError(code: .unreadable, path: path, message: "cannot read CRL file \(path): \(OpenSSLErrorQueue.drain() ?? errnoText())")
        }
        defer { BIO_free(bio) }
        var count = 0
        while let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) {
            defer { X509_CRL_free(crl) }
            // add_crl takes its own reference.
            guard X509_STORE_add_crl(store, crl) == 1 else {
                throw TrustStoreError(code: .openSSL, path: path, message: "cannot use a CRL of \(path): \(OpenSSLErrorQueue.drain() ?? "unknown error")")
            }
            count += 1
        }
        // The loop ends on a "no start line" error at the end of the file: expected, once a CRL was read.
        let reason = OpenSSLErrorQueue.drain()
        guard count > 0 else {
            throw TrustStoreError(code: .noCRL, path: path, message: "CRL file \(path) holds no PEM CRL\(reason.map { " (\($0))" } ?? "")")
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// Which certificates of a chain are checked against the CRLs of a `TrustStore`.
public enum CRLScope: String, Hashable, Sendable {
    /// The leaf only (`X509_V_FLAG_CRL_CHECK`).
    case leaf
    /// Every certificate up to the trust anchor (`X509_V_FLAG_CRL_CHECK_ALL` too), as nginx's
    /// `proxy_ssl_crl` does; then each issuer in the chain needs a CRL in the file.
    case chain
}

/// A trust store that cannot be loaded: an operational error, with a one-line message that names
/// the file or directory.
public struct TrustStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, broadly.
    public enum Code: String, Hashable, Sendable {
        /// The file or directory is missing, unreadable, or not of the expected kind.
        case unreadable
        /// The CA file was read but holds no PEM certificate.
        case noCertificate = "no_certificate"
        /// The CRL file was read but holds no PEM CRL.
        case noCRL = "no_crl"
        /// OpenSSL itself failed.
        case openSSL = "openssl"
    }

    /// What went wrong, broadly.
    public var code: Code
    /// The file or directory at fault, when there is one.
    public var path: String?
    /// One line a person understands, naming the file.
    public var message: String

    /// An error from its parts.
    public init(code: Code, path: String?, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
