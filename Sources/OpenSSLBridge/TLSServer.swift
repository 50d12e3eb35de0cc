import COpenSSL

/// A TLS server context for `edgescope replay`: a certificate chain and its key, served to
/// every client on a connected, blocking socket. OpenSSL reads and writes the descriptor
/// itself; the caller ignores SIGPIPE.
public final class TLSServerContext: @unchecked Sendable {
    // SSL_CTX is safe to share between threads once configured (OpenSSL 1.1+).
    let context: OpaquePointer

    /// A context serving `chainFile` (PEM, leaf first, then its intermediates) with `keyFile`.
    /// Throws a sentence naming the file that could not be used.
    public init(chainFile: String, keyFile: String) throws(TLSServerError) {
        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSServerError(message: "cannot create a TLS context: \(OpenSSLErrorQueue.drain() ?? "no reason given")")
        }
        guard SSL_CTX_use_certificate_chain_file(context, chainFile) == 1 else {
            SSL_CTX_free(context)
            throw TLSServerError(message: "cannot read certificate \(chainFile): \(OpenSSLErrorQueue.drain() ?? "no PEM certificate")")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(context)
            throw TLSServerError(message: "cannot read key \(keyFile): \(OpenSSLErrorQueue.drain() ?? "no PEM private key")")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            SSL_CTX_free(context)
            throw TLSServerError(message: "key \(keyFile) does not match certificate \(chainFile)")
        }
        self.context = context
    }

    deinit {
        SSL_CTX_free(self.context)
    }

    /// A session on the connected socket `descriptor` (the caller still owns and closes it).
    public func session(descriptor: Int32) -> TLSServerSession? {
        guard let ssl = SSL_new(self.context) else { return nil }
        SSL_set_fd(ssl, descriptor)
        return TLSServerSession(ssl: ssl)
    }
}

/// One client's TLS session, on the server side.
public final class TLSServerSession {
    let ssl: OpaquePointer

    init(ssl: OpaquePointer) {
        self.ssl = ssl
    }

    deinit {
        SSL_free(self.ssl)
    }

    /// The handshake; the reason when it fails (the client rejected the certificate, say).
    public func accept() -> String? {
        OpenSSLErrorQueue.clear()
        let result = SSL_accept(self.ssl)
        guard result == 1 else {
            let code = SSL_get_error(self.ssl, result)
            return OpenSSLErrorQueue.drain() ?? (code == SSL_ERROR_SYSCALL ? "the client closed the connection" : "SSL error \(code)")
        }
        return nil
    }

    /// Decrypted bytes: a count, 0 when the client closed, -1 when it failed.
    public func read(into buffer: inout [UInt8]) -> Int {
        let n = buffer.withUnsafeMutableBytes { SSL_read(self.ssl, $0.baseAddress, Int32($0.count)) }
        if n > 0 { return Int(n) }
        let code = SSL_get_error(self.ssl, n)
        OpenSSLErrorQueue.clear()
        return code == SSL_ERROR_ZERO_RETURN ? 0 : -1
    }

    /// Writes `bytes` as one write (as many records as its length needs); false when the client is gone.
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        let n = bytes.withUnsafeBytes { SSL_write(self.ssl, $0.baseAddress, Int32($0.count)) }
        if n <= 0 { OpenSSLErrorQueue.clear() }
        return Int(n) == bytes.count
    }
}

/// A TLS server setup that failed, as one sentence.
public struct TLSServerError: Error, Sendable {
    /// What failed, naming the file.
    public var message: String
}
