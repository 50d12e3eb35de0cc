import ArgumentParser
import Reporting
import CaptureModel
import OpenSSLAdapters
import OpenSSLBridge
import Replay
import TLSRecords
#if canImport(Glibc)
import Glibc
#endif

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Serve the upstream side of one captured connection on a local port, to reproduce a failure through a real gateway.",
        discussion: "Each client that connects gets the upstream's bytes as captured: after each of its requests the "
            + "matching response segments, one write per captured segment (TCP_NODELAY), then the upstream's ending: "
            + "a FIN, an RST (SO_LINGER 0), or silence until the client gives up. One line per client on stderr. "
            + ExitStatus.help(
                success: "every client asked for (--count) was served, or the server was interrupted",
                unreadable: "a capture, key log, certificate or key that cannot be read, or an address that cannot be listened on"))

    @Argument(help: "The capture: a .pcap or .pcapng file, plain or compressed.")
    var capture: String

    @Option(help: ArgumentHelp("The connection to replay, as analyze names it (c1, c2 ...).", valueName: "id"))
    var connection: String

    @Option(help: ArgumentHelp("Where to listen, [ADDR:]PORT (IPv6: [ADDR]:PORT); the address defaults to 127.0.0.1. Binds there only.", valueName: "addr:port"))
    var listen: String

    @Option(help: ArgumentHelp("An NSS key log (SSLKEYLOGFILE): a TLS connection it decrypts is served as its decrypted bytes (plain text, or TLS with --cert/--key).", valueName: "file"))
    var keylog: String?

    @Option(help: "original: keep the captured gaps between segments and before the close; none: send at once.")
    var timing: String = "original"

    @Option(help: ArgumentHelp("Stop after serving N clients (default: serve until interrupted).", valueName: "n"))
    var count: Int?

    @Option(help: ArgumentHelp("Serve over TLS with this certificate chain (PEM, leaf first); needs --key.", valueName: "pem"))
    var cert: String?

    @Option(help: ArgumentHelp("The private key (PEM) of --cert.", valueName: "pem"))
    var key: String?

    @Option(name: .customLong("forge-chain"), help: ArgumentHelp(
        "Serve over TLS with a throwaway chain shaped like the captured one (subjects, names, validity dates, a missing intermediate, a self-signed leaf, an unknown CA) under new keys; writes ca.pem (the CA to trust), ca-key.pem, chain.pem and key.pem into this directory. The shape is judged with the trust options below, as analyze judges it.",
        valueName: "dir"))
    var forgeChain: String?

    @OptionGroup var trust: TrustOptions

    func run() throws {
        guard let timing = ReplayServer.Timing(rawValue: self.timing) else {
            throw ToolFailure(status: 1, message: "--timing '\(Terminal.safe(self.timing))' is not original or none")
        }
        if let count = self.count, count < 1 {
            throw ToolFailure(status: 1, message: "--count \(count): give 1 or more clients")
        }
        let endpoint = try Self.listenEndpoint(self.listen)
        if self.forgeChain != nil, self.cert != nil || self.key != nil {
            throw ToolFailure(status: 1, message: "--forge-chain makes its own certificate: give it or --cert/--key, not both")
        }
        if (self.cert == nil) != (self.key == nil) {
            throw ToolFailure(status: 1, message: self.cert == nil ? "--key needs --cert" : "--cert needs --key")
        }
        let decryption = try self.keylog.map { path in
            TLSConnection.Decryption(keyLog: try KeyLogFile.read(path), crypto: OpenSSLCrypto())
        }
        signal(SIGPIPE, SIG_IGN)
        do {
            let verifier = self.forgeChain == nil ? nil : try self.trust.chainVerifier()
            let source = try ReplaySource.load(path: self.capture, connection: self.connection, decryption: decryption, verifier: verifier)
            var script = source.script
            var files: (chain: String, key: String)? = self.cert.flatMap { cert in self.key.map { (cert, $0) } }
            var how = source.decrypted ? " (decrypted)" : source.report.tls != nil ? " (TLS bytes as captured)" : ""
            if let directory = self.forgeChain {
                let forged = try source.writeForgedChain(into: directory)
                files = (forged.chain, forged.key)
                if !source.decrypted {
                    script = source.handshakeOnlyScript
                    how = " (handshake only: without --keylog its TLS bytes cannot be served again)"
                }
                how += " over TLS with a forged chain (\(source.forgedShape.rawValue)); trust \(forged.ca)"
            }
            if source.report.tls != nil, !source.decrypted, self.cert != nil {
                throw ReplayError(.usage, "--cert: \(source.script.connection) is TLS and not decrypted: its bytes are served as captured (give --keylog to serve its decrypted bytes over TLS)")
            }
            let server = try ReplayServer(script: script, endpoint: endpoint, timing: timing)
            if let files {
                do {
                    server.serveTLS(with: try TLSServerContext(chainFile: files.chain, keyFile: files.key))
                } catch {
                    throw ToolFailure(status: 2, message: error.message)
                }
                if self.forgeChain == nil { how += " over TLS" }
            }
            Edgescope.printError("edgescope: replaying \(script.summary)\(how) on \(endpoint)")
            server.serve(count: self.count) { line in Edgescope.printError("edgescope: replay: \(line)") }
        } catch let error as ReplayError {
            throw ToolFailure(status: error.kind == .usage ? 1 : 2, message: error.message)
        }
    }

    /// `--listen`: `ADDR:PORT`, `[V6]:PORT`, `:PORT` or `PORT` (on 127.0.0.1).
    static func listenEndpoint(_ text: String) throws -> Endpoint {
        let loopback = IPAddress.v4(0x7f00_0001)
        if let port = UInt16(text.hasPrefix(":") ? String(text.dropFirst()) : text) {
            return Endpoint(address: loopback, port: port)
        }
        guard let endpoint = Endpoint(parsing: Substring(text)) else {
            throw ToolFailure(status: 1, message: "--listen '\(Terminal.safe(text))' is not [ADDR:]PORT (for IPv6: [ADDR]:PORT)")
        }
        return endpoint
    }
}
