import CaptureModel

// The protocol, status-line, header and body codes of docs/root-causes.md. Stable: never renamed.
extension FindingCode {
    public static let protoTLSToPlainPort = FindingCode("proto.tls_to_plain_port")
    public static let protoPlainToTLSPort = FindingCode("proto.plain_to_tls_port")
    public static let protoH2PrefaceToH1 = FindingCode("proto.h2_preface_to_h1")
    public static let protoH2ResponseToH1 = FindingCode("proto.h2_response_to_h1")
    public static let protoNonHTTPResponse = FindingCode("proto.non_http_response")
    public static let protoServerSpeaksFirst = FindingCode("proto.server_speaks_first")

    public static let statusLineBadVersion = FindingCode("http.status_line.bad_version")
    public static let statusLineBadCode = FindingCode("http.status_line.bad_code")
    public static let statusLineNoReasonSP = FindingCode("http.status_line.no_reason_sp")
    public static let lineBareLF = FindingCode("http.line.bare_lf")
    public static let lineBareCR = FindingCode("http.line.bare_cr")

    public static let headerNameCTLOrSpace = FindingCode("http.header.name_ctl_or_space")
    public static let headerNameNonToken = FindingCode("http.header.name_non_token")
    public static let headerEmptyName = FindingCode("http.header.empty_name")
    public static let headerMissingColon = FindingCode("http.header.missing_colon")
    public static let headerValueNUL = FindingCode("http.header.value_nul")
    public static let headerValueCTL = FindingCode("http.header.value_ctl")
    public static let headerValueBareCR = FindingCode("http.header.value_bare_cr")
    public static let headerObsFold = FindingCode("http.header.obs_fold")
    public static let headerTooLarge = FindingCode("http.header.too_large")
    public static let headerTooMany = FindingCode("http.header.too_many")
    public static let headerDuplicateSingleValue = FindingCode("http.header.dup_single_value")

    public static let contentLengthInvalid = FindingCode("http.cl.invalid")
    public static let contentLengthDuplicate = FindingCode("http.cl.duplicate")
    public static let transferEncodingWithContentLength = FindingCode("http.te_cl.both")
    public static let transferEncodingNotChunked = FindingCode("http.te.not_chunked")
    public static let transferEncodingDuplicateOrEmpty = FindingCode("http.te.duplicate_or_empty")
    public static let chunkedBadSize = FindingCode("http.chunked.bad_size")
    public static let chunkedSizeOverflow = FindingCode("http.chunked.size_overflow")
    public static let chunkedWhitespaceAfterSize = FindingCode("http.chunked.ws_after_size")
    public static let chunkedBadExtension = FindingCode("http.chunked.bad_ext")
    public static let chunkedBareLF = FindingCode("http.chunked.bare_lf")
    public static let chunkedDataLengthMismatch = FindingCode("http.chunked.data_len_mismatch")
    public static let chunkedBadTrailer = FindingCode("http.chunked.bad_trailer")
    public static let bodyExtraAfterMessage = FindingCode("http.body.extra_after_message")
    public static let bodyOnBodyless = FindingCode("http.body.on_bodyless")
    public static let upstream5xx = FindingCode("http.upstream_5xx")
}

extension Finding {
    /// The value of an `http.chunked.bad_ext` finding whose extension has no name (`2;`): gateways
    /// that screen extension bytes rather than their grammar pass it.
    public static let missingChunkExtensionName = ";"
}
