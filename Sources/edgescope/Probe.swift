import ArgumentParser
import CaptureModel
import Diagnosis
import HTTP1
import OpenSSLBridge
import Reporting
#if canImport(Glibc)
import Glibc
#endif

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to an upstream over TLS as the gateway would, and check its chain and (optionally) one response.",
        discussion: ExitStatus.help(
            success: "healthy: the handshake, the chain and (with --request) the response are as a gateway needs",
            unreadable: "the probe could not run: a CA or CRL file that cannot be read, a name that does not resolve, a socket error",
            problem: "a problem was found: a refused or timed-out connection, a TLS alert, a chain that fails verification, a malformed response"))

    @Argument(help: "The upstream, HOST:PORT (an IPv6 literal as [ADDR]:PORT).")
    var target: String

    @Option(help: ArgumentHelp("The server name to send (SNI) and to expect in the certificate (default: HOST).", valueName: "name"))
    var sni: String?

    @Option(help: ArgumentHelp("Send GET PATH over HTTP/1.1 and check the response's framing.", valueName: "path"))
    var request: String?

    @Option(help: "Seconds to wait for each of connect, handshake and response.")
    var timeout: Int = 10

    @OptionGroup var trust: TrustOptions

    func run() throws {
        guard let colon = self.target.lastIndex(of: ":"), let port = UInt16(self.target[self.target.index(after: colon)...]) else {
            throw ToolFailure(status: 1, message: "probe target '\(self.target)' is not HOST:PORT")
        }
        var host = String(self.target[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let name = self.sni ?? (IPAddress(parsing: Substring(host)) == nil ? host : nil)
        let verifier = try self.trust.verifier()
        let requestBytes = self.request.map { path in
            Array("GET \(path) HTTP/1.1\r\nHost: \(name ?? host)\r\nUser-Agent: edgescope-probe\r\nConnection: close\r\n\r\n".utf8)
        }

        let result: ProbeResult
        do throws(ProbeError) {
            result = try TLSProbe.run(
                host: host, port: port, sni: name, alpn: ["http/1.1"], request: requestBytes, timeout: .seconds(self.timeout))
        } catch {
            if let code = error.findingCode {
                print("\(self.target): \(code): \(Terminal.safe(error.message))")
                throw ExitCode(3)
            }
            throw ToolFailure(status: 2, message: "probe \(self.target): \(error.message)")
        }

        var problems: [String] = []
        print("\(result.address): \(result.version), \(result.cipher)\(result.alpn.map { ", ALPN \($0)" } ?? "")")
        let check = verifier.verify(chain: result.peerChain, host: name, at: Timestamp(nanoseconds: Self.now()))
        for (depth, certificate) in check.certificates.enumerated() {
            print("  [\(depth)] \(certificate.subject)")
            print("      issuer \(certificate.issuer); valid \(certificate.notBefore) to \(certificate.notAfter); \(certificate.key); sha256 \(certificate.sha256)")
            if !certificate.subjectAltNames.isEmpty { print("      SAN \(certificate.subjectAltNames.joined(separator: ", "))") }
        }
        if check.ok {
            print("  chain: ok for \(name ?? host)")
        } else {
            let code = check.code?.description ?? "tls.cert.invalid"
            print("  chain: \(code): OpenSSL \(check.opensslCode) \(check.opensslText) at depth \(check.depth)")
            problems.append(code)
        }

        if let requestBytes {
            var http = HTTP1Connection()
            requestBytes.withUnsafeBytes { http.feed($0, direction: .client, at: 0, frame: 0, frameOffset: nil, time: .zero) }
            result.response.withUnsafeBytes { http.feed($0, direction: .server, at: 0, frame: 0, frameOffset: nil, time: .zero) }
            let end = http.responseEnd
            http.serverFIN()
            http.finish()
            let status = http.transactions.first?.response?.status
            print("  response: \(status.map(String.init) ?? "none"), \(result.response.count) bytes")
            for finding in http.findings where finding.severity != .lint {
                let evidence = finding.evidence.first
                print("  \(finding.code) at byte \(evidence?.streamOffset ?? 0): \(Terminal.safe(evidence?.note ?? ""))")
                for line in evidence.map({ Hexdump.lines($0, indent: "    ") }) ?? [] { print(line) }
                problems.append(finding.code.description)
            }
            if case .midBody = end.state, result.responseEnd != .closeNotify, result.responseEnd != .closed {
                problems.append("tcp.read_timeout")
                print("  the response did not end within \(self.timeout) s")
            }
            if result.response.isEmpty {
                problems.append("tcp.fin.before_response")
                print("  no response byte")
            }
        }
        if !problems.isEmpty { throw ExitCode(3) }
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
