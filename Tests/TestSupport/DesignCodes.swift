// The root-cause vocabulary, for the tests that must cover every code (gateway rules, summary
// sentences).

/// Every code of DESIGN.md's TCP, capture, protocol, status-line, header, body and TLS lists.
public let designCodes = [
    "tcp.connect.refused", "tcp.connect.timeout", "tcp.rst.before_response", "tcp.fin.before_response",
    "tcp.fin.mid_headers", "tcp.fin.mid_body", "tcp.rst.mid_body", "tcp.keepalive_race", "tcp.read_timeout", "tcp.send_timeout",
    "capture.gap", "capture.truncated",
    "proto.tls_to_plain_port", "proto.plain_to_tls_port", "proto.h2_preface_to_h1", "proto.h2_response_to_h1",
    "proto.non_http_response", "proto.server_speaks_first",
    "http.status_line.bad_version", "http.status_line.bad_code", "http.status_line.no_reason_sp", "http.line.bare_lf", "http.line.bare_cr",
    "http.header.name_ctl_or_space", "http.header.name_non_token", "http.header.empty_name", "http.header.missing_colon",
    "http.header.value_nul", "http.header.value_ctl", "http.header.value_bare_cr", "http.header.obs_fold",
    "http.header.too_large", "http.header.too_many", "http.header.dup_single_value",
    "http.cl.invalid", "http.cl.duplicate", "http.te_cl.both", "http.te.not_chunked", "http.te.duplicate_or_empty",
    "http.chunked.bad_size", "http.chunked.size_overflow", "http.chunked.ws_after_size", "http.chunked.bad_ext",
    "http.chunked.bare_lf", "http.chunked.data_len_mismatch", "http.chunked.bad_trailer",
    "http.body.extra_after_message", "http.body.on_bodyless", "http.upstream_5xx",
    "tls.alert.handshake_failure", "tls.alert.unrecognized_name", "tls.alert.protocol_version", "tls.sni.missing",
    "tls.version_mismatch", "tls.cipher_mismatch", "tls.peer_closed_in_handshake", "tls.handshake_timeout",
    "tls.client_cert_required", "tls.cert.expired", "tls.cert.not_yet_valid", "tls.cert.unknown_ca",
    "tls.cert.missing_intermediate", "tls.cert.self_signed", "tls.cert.name_mismatch", "tls.cert.revoked",
    "tls.cert.bad_purpose", "tls.closed_after_handshake", "none",
]
