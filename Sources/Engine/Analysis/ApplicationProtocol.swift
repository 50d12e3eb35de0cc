/// The application protocols the probe tells apart on the gateway-to-upstream hop, and which of
/// them have an analyzer. This is the registry: a new protocol is a case here, a rule in
/// `ProtocolProbe` that recognises it, and a `StreamAnalyzer` that `ConnectionAnalysis` feeds
/// instead of `UnanalysedStream`.
///
/// How a protocol is recognised, in the order the probe asks (Zeek's dynamic protocol detection
/// and Suricata's probing parsers decide the same way, from each direction's first bytes):
/// - The gateway's first byte 22 at the stream's start: a TLS handshake record (RFC 8446 §5.1).
///   The ALPN the ServerHello settles on then picks the analyzer for the decrypted bytes
///   (`h2`: HTTP/2; `http/1.1` or none: HTTP/1).
/// - The gateway's first 24 bytes the HTTP/2 connection preface (RFC 9113 §3.4).
/// - Anything else from the gateway: HTTP/1, whose request line must begin with a method token.
/// - The upstream's first bytes confirm the gateway's choice or become a mismatch finding
///   (`proto.*`): see `ProtocolProbe.judgeUpstream`.
enum ApplicationProtocol: Equatable, Sendable {
    /// HTTP/1.0 and 1.1 (RFC 9112): `HTTP1Connection`.
    case http1
    /// TLS (RFC 8446, RFC 5246): `TLSAnalyzer`, with the decrypted bytes in a `ConnectionAnalysis`
    /// of their own. Only from the stream's start: records cannot be framed from the middle, so
    /// TLS picked up later (or inside TLS) is not analysed.
    case tls
    /// HTTP/2 (RFC 9113), by its client preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` or the ALPN
    /// `h2`: `HTTP2Connection` (frames, HPACK, streams; the `h2.*` and `grpc.status.*` codes).
    /// The probe judges the upstream's first bytes against it first: a SETTINGS frame header
    /// agrees, an HTTP/1 status line is `proto.h1_response_to_h2`, anything else is the
    /// analyzer's (`h2.preface.bad`).
    case http2
    /// FastCGI (the FastCGI 1.0 specification), the upstream hop of php-fpm (usually port 9000).
    /// Not analysed yet, and not recognised yet: every record starts with its version byte,
    /// 1 (`FCGI_VERSION_1`), then the type (1, `FCGI_BEGIN_REQUEST`, first from the gateway), so
    /// the rule is the gateway's first bytes `01 01` with a request id and an 8-byte body, which
    /// `ProtocolProbe.inspectGateway` will ask before HTTP/1 (a request line never starts with
    /// byte 1). An `FCGIConnection` (records, the CGI head in `FCGI_STDOUT`, `FCGI_STDERR`,
    /// `FCGI_END_REQUEST`; the `fcgi.*` codes) will conform to `StreamAnalyzer`.
    case fastCGI

    /// Whether an analyzer reads this protocol today (the others go to `UnanalysedStream`).
    var isAnalysed: Bool {
        switch self {
        case .http1, .tls, .http2: return true
        case .fastCGI: return false
        }
    }

    /// The protocol the ALPN identifier `name` (RFC 7301) names for the bytes inside TLS, when
    /// it names one the probe knows.
    init?(alpn name: String) {
        switch name {
        case "h2": self = .http2
        case "http/1.1", "http/1.0": self = .http1
        default: return nil
        }
    }
}
