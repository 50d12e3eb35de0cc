import ArgumentParser
import CaptureModel
import Diagnosis
import Engine
import HTTP1
import OpenSSLBridge
import PacketDecoding
import Reporting
#if canImport(Glibc)
import Glibc
#endif

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to an upstream as the gateway would, over TLS or plain HTTP, and check what it answers.",
        discussion: ExitStatus.help(
            success: "healthy: the handshake, the chain and (with --request) the response are as a gateway needs",
            unreadable: "the probe could not run: a CA or CRL file that cannot be read, a name that does not resolve, a socket error",
            problem: "a problem was found: a refused or timed-out connection, a TLS alert, a chain that fails verification, a malformed response"))

    @Argument(help: ArgumentHelp(
        "The upstream: HOST:PORT for TLS (an IPv6 literal as [ADDR]:PORT); http://HOST[:PORT][/PATH] for plain HTTP; https://HOST[:PORT][/PATH] for TLS with --request PATH.",
        valueName: "target"))
    var target: String

    @Flag(help: "Speak plain HTTP to HOST:PORT, without TLS (as http://HOST:PORT does), and check the response to GET --request PATH (default /).")
    var plain = false

    @Option(help: ArgumentHelp("The server name to send (SNI) and to expect in the certificate (default: HOST).", valueName: "name"))
    var sni: String?

    @Option(help: ArgumentHelp("Send GET PATH over HTTP/1.1 and check the response's framing.", valueName: "path"))
    var request: String?

    @Option(help: ArgumentHelp("For plain HTTP, whose behaviour decides the verdict's class: nginx|haproxy|envoy|strict[:VERSION] (default: nginx).", valueName: "gateway"))
    var gateway: String?

    @Option(help: "Seconds to wait for each of connect, handshake and response.")
    var timeout: Int = 10

    @OptionGroup var trust: TrustOptions

    func run() throws {
        guard self.timeout >= 1 else {
            throw ToolFailure(status: 1, message: "--timeout must be a whole number of seconds, at least 1")
        }
        let target = try ProbeTarget(parsing: self.target, plain: self.plain, request: self.request)
        if target.plain {
            if self.sni != nil {
                throw ToolFailure(status: 1, message: "--sni is for TLS; \(self.target) is probed in plain HTTP")
            }
            try self.probePlain(target)
            return
        }
        if self.gateway != nil {
            throw ToolFailure(status: 1, message: "--gateway judges plain HTTP probes; \(self.target) is probed over TLS")
        }
        let host = target.host
        let port = target.port
        let name = self.sni ?? (IPAddress(parsing: Substring(host)) == nil ? host : nil)
        let verifier = try self.trust.verifier()
        let requestBytes = target.path.map { ProbeTarget.request(path: $0, host: name ?? target.hostHeader) }

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
            let code = (check.code ?? .tlsCertInvalid).description
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
            if case .midBody = end.state {
                switch result.responseEnd {
                case .closeNotify, .closed, .notRequested, .complete:
                    break
                case .reset:
                    problems.append(FindingCode.tcpRSTMidBody.description)
                    print("  the upstream reset the connection in the middle of the body")
                case .timeout, .cap, .alert, .failed:
                    problems.append(FindingCode.tcpReadTimeout.description)
                    print("  the response did not end within \(self.timeout) s")
                }
            }
            if result.response.isEmpty {
                problems.append((result.responseEnd == .reset ? FindingCode.tcpRSTBeforeResponse : .tcpFINBeforeResponse).description)
                print("  no response byte")
            }
        }
        if !problems.isEmpty { throw ExitCode(3) }
    }

    /// Plain HTTP: one GET, its transcript replayed as packets through `analyze`'s engine, so
    /// the probe's verdict is the one a capture of the same exchange would get.
    private func probePlain(_ target: ProbeTarget) throws {
        guard let profile = GatewayProfile(parsing: self.gateway ?? GatewayProfile.default.name) else {
            throw ToolFailure(status: 1, message: "--gateway '\(self.gateway ?? "")' is not nginx, haproxy, envoy or strict, with an optional :VERSION")
        }
        let request = ProbeTarget.request(path: target.path ?? "/", host: target.hostHeader)
        let transcript: ProbeTranscript
        do throws(ProbeError) {
            transcript = try PlainProbe.run(
                host: target.host, port: target.port, request: request, timeout: .seconds(self.timeout),
                responseComplete: { Self.isComplete($0, answering: request) })
        } catch {
            if let code = error.findingCode {
                print("\(self.target): \(code): \(Terminal.safe(error.message))")
                throw ExitCode(3)
            }
            throw ToolFailure(status: 2, message: "probe \(self.target): \(error.message)")
        }
        guard let frames = ProbeFrames(transcript) else {
            throw ToolFailure(status: 2, message: "probe \(self.target): cannot read the addresses \(transcript.local ?? "?") and \(transcript.peer)")
        }
        var engine = Engine(linkType: .raw, options: AnalysisOptions(gateway: profile))
        for (index, frame) in frames.frames.enumerated() {
            frame.bytes.withUnsafeBytes { bytes in
                _ = engine.process(RawFrame(
                    number: FrameNumber(index + 1), timestamp: Timestamp(nanoseconds: frame.time), wireLength: bytes.count, bytes: bytes))
            }
        }
        let result = engine.finish()
        guard let connection = result.connections.first else {
            throw ToolFailure(status: 2, message: "probe \(self.target): the exchange left no connection to judge")
        }
        print(TextSummary.render(result, source: SourceInfo(path: "probe \(self.target)", snapLength: 65_535)), terminator: "")
        let status = connection.transactions.first?.response?.status
        print("\nResponse: \(status.map(String.init) ?? "none"), \(transcript.response.count) \(transcript.response.count == 1 ? "byte" : "bytes")"
            + (transcript.responseEnd == .cap ? " (stopped reading at \(TLSProbe.responseCap) bytes)" : ""))
        print("Verdict: \(connection.verdict.code) [\(connection.verdict.verdictClass.rawValue), \(connection.verdict.phase.rawValue)]: \(Terminal.safe(connection.verdict.summary))")
        if connection.verdict.code != .none { throw ExitCode(3) }
    }

    /// Whether `response` holds a whole final response to `request`, by HTTP/1 framing.
    private static func isComplete(_ response: [UInt8], answering request: [UInt8]) -> Bool {
        var http = HTTP1Connection()
        request.withUnsafeBytes { http.feed($0, direction: .client, at: 0, frame: 0, frameOffset: nil, time: .zero) }
        response.withUnsafeBytes { http.feed($0, direction: .server, at: 0, frame: 0, frameOffset: nil, time: .zero) }
        let end = http.responseEnd
        return end.state == .idle && end.outstanding == nil && end.responsesCompleted > 0
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
