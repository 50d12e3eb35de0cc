import ArgumentParser
import Diagnosis
import OpenSSLAdapters
import OpenSSLBridge
import TLSRecords
#if canImport(Glibc)
import Glibc
#endif

/// The gateway's trust store, as `analyze` and `probe` both take it.
struct TrustOptions: ParsableArguments {
    @Option(name: .customLong("ca-file"), help: ArgumentHelp("PEM file of CA certificates the gateway trusts (default: the system store).", valueName: "pem"))
    var caFile: String?

    @Option(name: .customLong("ca-path"), help: ArgumentHelp("Directory of hashed CA certificates the gateway trusts.", valueName: "dir"))
    var caPath: String?

    @Option(help: ArgumentHelp("A CRL (PEM) to check certificates against (tls.cert.revoked).", valueName: "pem"))
    var crl: String?

    @Option(name: .customLong("crl-scope"), help: ArgumentHelp(
        "Which certificates need a CRL: chain (every CA's, as nginx's proxy_ssl_crl checks) or leaf.", valueName: "scope"))
    var crlScope: String = "chain"

    /// The engine's verification hook: these files, read now (a CA or CRL file that cannot be
    /// read is a one-line error, status 2), or the system store, read when a chain first needs it.
    func chainVerifier() throws -> any ChainVerifying {
        if self.caFile == nil, self.caPath == nil, self.crl == nil {
            guard CRLScope(rawValue: self.crlScope) != nil else {
                throw ToolFailure(status: 1, message: "--crl-scope '\(self.crlScope)' is not chain or leaf")
            }
            return SystemStoreChainVerifier()
        }
        return try self.verifier()
    }

    /// The verifier for these options; a CA or CRL file that cannot be read is a one-line error, status 2.
    func verifier() throws -> OpenSSLChainVerifier {
        guard let scope = CRLScope(rawValue: self.crlScope) else {
            throw ToolFailure(status: 1, message: "--crl-scope '\(self.crlScope)' is not chain or leaf")
        }
        do throws(TrustStoreError) {
            let store: TrustStore
            if self.caFile == nil, self.caPath == nil, self.crl == nil {
                store = try TrustStore.systemDefault()
            } else {
                store = try TrustStore(caFile: self.caFile, caPath: self.caPath, crlFile: self.crl, crlScope: scope)
            }
            return OpenSSLChainVerifier(verifier: ChainVerifier(trustStore: store))
        } catch {
            throw ToolFailure(status: 2, message: error.description)
        }
    }
}

/// Reading `--keylog`.
enum KeyLogFile {
    /// The parsed key log; an unreadable file or a malformed line is a one-line error, status 2.
    static func read(_ path: String) throws -> KeyLog {
        guard let file = fopen(path, "rb") else {
            throw ToolFailure(status: 2, message: "cannot read key log \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        try Self.checkNotDirectory(fileno(file), path: path)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes += buffer[0..<count] }
            if count < buffer.count {
                // A short read is the end of the file or an error; only the first is a key log.
                if ferror(file) != 0 {
                    throw ToolFailure(status: 2, message: "cannot read key log \(path): \(String(cString: strerror(errno)))")
                }
                break
            }
            if bytes.count > 64 << 20 {
                throw ToolFailure(status: 2, message: "key log \(path): larger than 64 MiB, which no key log is")
            }
        }
        do throws(KeyLog.ParseError) {
            return try KeyLog(parsing: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw ToolFailure(status: 2, message: "key log \(path) \(error.description)")
        }
    }

    /// A directory opens and reads as an empty file on some systems: refuse it by name (status 2).
    static func checkNotDirectory(_ descriptor: Int32, path: String) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw ToolFailure(status: 2, message: "cannot read key log \(path): \(String(cString: strerror(errno)))")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw ToolFailure(status: 2, message: "cannot read key log \(path): it is a directory; give the SSLKEYLOGFILE file")
        }
    }
}
