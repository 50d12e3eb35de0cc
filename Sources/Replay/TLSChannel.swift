import OpenSSLBridge

/// A client served over TLS (`--cert/--key`, `--forge-chain`): the handshake first, then the
/// decrypted bytes of the capture, each captured segment one `SSL_write`.
final class TLSChannel: ReplayChannel {
    let session: TLSServerSession?

    init(session: TLSServerSession?) {
        self.session = session
    }

    func open() -> String? {
        guard let session else { return "cannot create a TLS session" }
        return session.accept()
    }

    func receive(into buffer: inout [UInt8]) -> Int {
        self.session?.read(into: &buffer) ?? -1
    }

    func send(_ bytes: [UInt8]) -> Bool {
        self.session?.write(bytes) ?? false
    }
}

extension ReplayServer {
    /// Serves every client over TLS with `context`.
    public func serveTLS(with context: TLSServerContext) {
        self.channel = { descriptor in TLSChannel(session: context.session(descriptor: descriptor)) }
    }
}
