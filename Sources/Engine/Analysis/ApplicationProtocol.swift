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
/// - The gateway's first byte 1 at the stream's start: a FastCGI record (`FCGI_VERSION_1`, FastCGI
///   1.0 §3.3), whose type is then FCGI_BEGIN_REQUEST. A request line never starts with byte 1.
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
    /// FastCGI (the FastCGI 1.0 specification), the upstream hop of php-fpm (usually port 9000):
    /// `FCGIConnection` (records, the CGI head in `FCGI_STDOUT`, `FCGI_STDERR`, `FCGI_END_REQUEST`;
    /// the `fcgi.*` codes). Every record starts with its version byte, 1 (`FCGI_VERSION_1`), and
    /// the gateway's first is FCGI_BEGIN_REQUEST (`01 01`, a request id, an 8-byte body):
    /// `ProtocolProbe.inspectGateway` decides on the first byte alone, so any split of the stream
    /// gives the same answer and an HTTP/1 connection pays one compare; the analyzer reads the rest.
    ///
    /// uwsgi (`uwsgi_pass`: a 4-byte header, modifier1 0 then a little-endian size and modifier2,
    /// the vars as length-prefixed pairs, then a plain HTTP/1 response) and SCGI (`scgi_pass`: a
    /// netstring `LEN:` of NUL-separated headers starting `CONTENT_LENGTH`, then a CGI response)
    /// would come through the same door: a case here, a first-byte rule (uwsgi's 0; SCGI's ASCII
    /// digit, which needs the `:` after the length to tell it from nothing else HTTP/1 allows), and
    /// an analyzer whose response side is HTTP1's parser (uwsgi) or `CGIResponseHead` (SCGI).
    case fastCGI

    /// Whether an analyzer reads this protocol today (the others go to `UnanalysedStream`).
    var isAnalysed: Bool {
        switch self {
        case .http1, .tls, .http2, .fastCGI: return true
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
