import CaptureModel
import Engine
import OpenSSLBridge
#if canImport(Glibc)
import Glibc
#endif

extension ReplaySource {
    /// The shape of chain `--forge-chain` makes for this connection, from the engine's verdict
    /// on the captured chain (judged with the trust store given, as `analyze` judges it).
    public var forgedShape: ForgedChain.Shape {
        let code = self.report.verdict.code
        if code == .tlsCertMissingIntermediate { return .missingIntermediate }
        if code == .tlsCertSelfSigned { return .selfSigned }
        if code == .tlsCertUnknownCA { return .unknownCA }
        // Expired, not yet valid, a wrong name, a bad purpose: the copied fields fail alike.
        return .asCaptured
    }

    /// Forges the captured chain and writes it into `directory` (made if missing): `ca.pem` (the
    /// CA a gateway should trust), `ca-key.pem`, `chain.pem` (what is served) and `key.pem`;
    /// keys are readable by their owner only. Returns the chain and key paths.
    public func writeForgedChain(into directory: String) throws(ReplayError) -> (chain: String, key: String, ca: String) {
        guard self.report.tls != nil else {
            throw ReplayError(.usage, "--forge-chain: \(self.script.connection) is not TLS")
        }
        guard !self.certificates.isEmpty else {
            throw ReplayError(.usage, "--forge-chain: the capture holds no certificate of \(self.script.connection) (a TLS 1.3 certificate needs --keylog to be read)")
        }
        let forged: ForgedChain
        do {
            forged = try ForgedChain.forge(certificates: self.certificates, shape: self.forgedShape)
        } catch {
            throw ReplayError(.unusable, "--forge-chain: \(error.message)")
        }
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw ReplayError(.unusable, "cannot make \(directory): \(String(cString: strerror(errno)))")
        }
        let files = [("ca.pem", forged.caPEM, 0o644), ("ca-key.pem", forged.caKeyPEM, 0o600), ("chain.pem", forged.chainPEM, 0o644), ("key.pem", forged.keyPEM, 0o600)]
        for (name, text, mode) in files {
            let path = directory + "/" + name
            unlink(path)
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
            guard descriptor >= 0 else { throw ReplayError(.unusable, "cannot write \(path): \(String(cString: strerror(errno)))") }
            defer { close(descriptor) }
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == bytes.count else { throw ReplayError(.unusable, "cannot write \(path): \(String(cString: strerror(errno)))") }
        }
        return (directory + "/chain.pem", directory + "/key.pem", directory + "/ca.pem")
    }

    /// The script served over a forged chain when the bytes were not decrypted: the handshake,
    /// then silence until the client closes (a certificate failure ends it in the handshake).
    public var handshakeOnlyScript: ReplayScript {
        var script = self.script
        script.framing = .opaque
        script.steps = [ReplayScript.Step(after: .init(requests: 0, clientClosed: true), delay: 0, action: .close(.fin))]
        script.requests = 0
        return script
    }
}
