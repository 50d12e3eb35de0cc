#!/usr/bin/env python3
"""The TLS scenarios behind edgescope's TLS sample captures (stdlib only).

The gateway is the TLS client: nginx (`proxy_pass https://up`, `proxy_ssl_verify on`,
`proxy_ssl_trusted_certificate root.pem`, `proxy_ssl_name upstream.test`) or HAProxy
(`server s1 ... ssl verify required ca-file root.pem sni str(upstream.test)`), or, for the
key-log captures, curl itself (no gateway: curl writes SSLKEYLOGFILE, gateways do not).

Read by
  tls-run.py     (the upstream to start, the gateway configuration, the requests)
  tls-truth.py   (the designed finding, what the wire should show, the evidence rule and
                  the outcome the committed run observed; a new run that differs fails)
  summarize.py   (the README table)

Per scenario:
  name       capture base name (the HAProxy twin adds .haproxy)
  version    "1.2" | "1.3": the version the handshake used, or, when there is no
             ServerHello, the highest version the gateway offered
  finding    the cause, a DESIGN.md code
  upstream   what answers on the upstream port:
               {"kind": "s_server", "cert": C, "chain": bool, "args": [...]}  openssl s_server
               {"kind": "py", "mode": M, "cert": C, ...}                     tls-upstream.py
               {"kind": "nginx-tls", "cert": C, "reject_no_sni": bool}       a TLS nginx
               {"kind": "nginx-plain"}                                       a plain HTTP nginx
             C names the leaf of tls-certs.sh (valid, expired, ...); chain=True sends the
             leaf and its intermediate, False the leaf alone.
  gateways   which gateways front it: "nginx", "haproxy", "nginx-plain" (nginx with
             `proxy_pass http://`, for plain-to-TLS), "curl" (key-log captures)
  nginx      extra directives for the nginx gateway's location
  haproxy    extra words for HAProxy's `server` line (replaces `sni str(upstream.test)`
             when it holds "no-sni")
             (in nginx directives, HAProxy words and s_server args, @root and @crl stand for
             root.pem and crl.pem of the run's certificate dir)
  sni        the server_name the gateway's ClientHello must carry (None: none)
  crl        "tls/crl.pem" when the gateway checks revocation (nginx `proxy_ssl_crl`, HAProxy
             `crl-file`; both check every CA of the chain, so the file holds the intermediate's
             and the root's CRL): the truth's tls block names it (crl_file, crl_scope "chain")
  requests   paths requested (one curl run, one client connection)
  keylog     who writes <capture>.keylog: "client" (curl's SSLKEYLOGFILE), "server"
             (openssl s_server -keylogfile), or None (no key log: nginx and HAProxy write none)
  curl       extra curl options (key-log captures: versions and cipher suites)
  expect     per gateway: what the committed run showed, checked on every run:
               status, class, curl_exit    what the client got
               log                         regular expression the gateway's line must match
               termination                 HAProxy's termination state
               verdict                     the code the wire supports (what edgescope can see)
               evidence                    the rule for evidence_frame (below)
               alerts                      [(sender, description)] of every alert whose
                                           description is readable on the wire, in order
               handshake                   "complete" | "incomplete": did both Finished go by
               verify                      (N, text) of nginx's `verify error: (N:text)`
               alternatives                other outcomes a race allows (same verdict)

Evidence rules (evidence_frame is the frame tshark finds with evidence_filter, which needs
no decode-as and no key log):
  certificate     the server's frame carrying the leaf certificate's first DER bytes
                  (TLS 1.2: the Certificate handshake message in the clear)
  server_alert    the server's frame carrying the plaintext alert record
  gateway_alert   the gateway's frame carrying the plaintext alert record
  gateway_close   the gateway's first FIN or RST (the handshake completed and the gateway
                  closed without sending a request; or, for tls.handshake_timeout, the gateway
                  gave up waiting for the ServerHello)
  upstream_fin    the upstream's FIN
  payload         the upstream's frame whose payload contains `marker`
  decrypted       the server's frame whose TLS record decrypts (with the key log) to bytes
                  containing `marker`; evidence_filter pins the frame by its TCP sequence
                  number, evidence_decrypted says how tshark decrypted it
  certificate_decrypted   as decrypted, for the encrypted TLS 1.3 Certificate message
  server_warning  the server's frame carrying the plaintext warning alert record (the handshake
                  went on)

Per scenario also:
  certs      the certificate set: "tls" (captures/tls/) or "tls-b" (captures/tls-b/, the
             captures added for issue 15; same files, made by a later tls-certs.sh run)
  early      s_client captures: the first request makes a full handshake and saves the
             session (-sess_out); every later one resumes it and sends its request as TLS 1.3
             early data (-sess_in -early_data)
"""

import json
import sys

CA_FILE = "tls/root.pem"
# The certificate sets, each made by one tls-certs.sh run and committed beside the captures
# (certificates only): "tls" for the first TLS captures; "tls-b" for those added later
# (issue 15), made by a second run because the first run's keys are not kept.
CERTS = "tls"
CERTS_B = "tls-b"
CRL_FILE = "tls/crl.pem"
NAME = "upstream.test"


def E(status, cls, verdict, evidence, log=None, term=None, curl_exit=None, alerts=(),
      handshake=None, verify=None, marker=None, alternatives=()):
    return {"status": status, "class": cls, "verdict": verdict, "evidence": evidence, "log": log,
            "termination": term, "curl_exit": curl_exit, "alerts": [list(a) for a in alerts],
            "handshake": handshake, "verify": list(verify) if verify else None,
            "marker": marker.hex() if isinstance(marker, bytes) else marker,
            "alternatives": list(alternatives)}


def T(name, version, finding, upstream, gateways, expect, sends, nginx=(), haproxy="", sni=NAME,
      requests=None, keylog=None, curl=(), crl=None, certs=CERTS):
    return {"name": name, "version": version, "finding": finding, "upstream": upstream,
            "gateways": list(gateways), "expect": expect, "sends": sends, "nginx": list(nginx),
            "haproxy": haproxy, "sni": sni, "requests": requests or ["/t/%s/1" % name],
            "keylog": keylog, "curl": list(curl), "crl": crl, "certs": certs}


def ca_file(spec):
    """The CA file the gateway trusted, relative to captures/ (the truth's tls.ca_file)."""
    return "%s/root.pem" % spec["certs"]


def s_server(cert, *args, chain=True):
    return {"kind": "s_server", "cert": cert, "chain": chain, "args": list(args)}


NGX_VERIFY = r"^upstream SSL certificate verify error: \(%d:%s\) while SSL handshaking to upstream"
NGX_SSL_ALERT = (r"^SSL_do_handshake\(\) failed \(SSL: error:[0-9A-F]+:SSL routines::%s:"
                 r"SSL alert number %d\) while SSL handshaking to upstream")
HAP_SC = r" 503 \d+ - - SC-- "
HEALTHY_PATHS = ["/t/%s/cl/1", "/t/%s/chunked/2", "/t/%s/cl/3", "/t/%s/chunked/4"]
BAD_CHUNK = b"zz\r\n"


def verify_case(name, version, finding, cert, n, text, hap_alert, chain=True, nginx_verdict=None,
                evidence="certificate", haproxy=True, sends="", nginx=(), haproxy_words="", crl=None):
    """A certificate the gateway rejects: nginx finishes the handshake, then closes;
    HAProxy rejects it inside the handshake with an alert."""
    ver = "-tls1_2" if version == "1.2" else "-tls1_3"
    ngx = E(502, "502", nginx_verdict or finding, evidence, NGX_VERIFY % (n, text.replace("(", r"\(")),
            alerts=(), handshake="complete", verify=(n, text))
    exp = {"nginx": ngx}
    gws = ["nginx"]
    if haproxy:
        # OpenSSL sends the client's alert in the clear even in TLS 1.3 (see README).
        hv = finding if version == "1.2" else "tls.alert.%s" % hap_alert
        he = "certificate" if version == "1.2" else "gateway_alert"
        exp["haproxy"] = E(503, "503", hv, he, HAP_SC, term="SC--", alerts=[("gateway", hap_alert)],
                           handshake="incomplete")
        gws.append("haproxy")
    return T(name, version, finding, s_server(cert, ver, chain=chain), gws, exp, sends, nginx=nginx,
             haproxy=haproxy_words, crl=crl)


SCENARIOS = [
    # ---------------------------------------------------------------- healthy
    T("tls-healthy-1.2", "1.2", "none",
      {"kind": "py", "mode": "healthy", "cert": "valid", "max": "1.2"}, ["nginx", "haproxy"],
      {"nginx": E(200, "ok", "none", None, handshake="complete"),
       "haproxy": E(200, "ok", "none", None, r" 200 \d+ - - ---- ", term="----", handshake="complete")},
      "Python ssl, TLS 1.2 only, leaf + intermediate; 4 GETs (CL and chunked) over one keep-alive connection",
      requests=[p % "tls-healthy-1.2" for p in HEALTHY_PATHS]),
    T("tls-healthy-1.3", "1.3", "none",
      {"kind": "py", "mode": "healthy", "cert": "valid", "min": "1.3"}, ["nginx", "haproxy"],
      {"nginx": E(200, "ok", "none", None, handshake="complete"),
       "haproxy": E(200, "ok", "none", None, r" 200 \d+ - - ---- ", term="----", handshake="complete")},
      "Python ssl, TLS 1.3 only, leaf + intermediate; 4 GETs (CL and chunked) over one keep-alive connection",
      requests=[p % "tls-healthy-1.3" for p in HEALTHY_PATHS]),
    # ---------------------------------------------------------- certificates
    verify_case("tls-cert-expired", "1.2", "tls.cert.expired", "expired", 10, "certificate has expired",
                "certificate_expired",
                sends="openssl s_server -tls1_2: leaf (notAfter 30 days ago) + intermediate"),
    verify_case("tls-cert-expired-1.3", "1.3", "tls.cert.expired", "expired", 10, "certificate has expired",
                "certificate_expired", nginx_verdict="tls.closed_after_handshake", evidence="gateway_close",
                sends="openssl s_server -tls1_3: leaf (notAfter 30 days ago) + intermediate (encrypted)"),
    verify_case("tls-cert-not-yet-valid", "1.2", "tls.cert.not_yet_valid", "not-yet-valid", 9,
                "certificate is not yet valid", "bad_certificate",
                sends="openssl s_server -tls1_2: leaf (notBefore in 365 days) + intermediate"),
    verify_case("tls-cert-self-signed", "1.2", "tls.cert.self_signed", "self-signed", 18,
                "self-signed certificate", "unknown_ca",
                sends="openssl s_server -tls1_2: a self-signed leaf for upstream.test"),
    verify_case("tls-cert-unknown-ca", "1.2", "tls.cert.unknown_ca", "other-ca", 20,
                "unable to get local issuer certificate", "unknown_ca",
                sends="openssl s_server -tls1_2: leaf + intermediate from a root the gateway does not trust"),
    verify_case("tls-cert-missing-intermediate", "1.2", "tls.cert.missing_intermediate", "valid", 21,
                "unable to verify the first certificate", "unknown_ca", chain=False,
                sends="openssl s_server -tls1_2: the valid leaf alone (no intermediate); the gateway trusts the root"),
    verify_case("tls-cert-bad-purpose", "1.2", "tls.cert.bad_purpose", "no-serverauth", 26,
                "unsuitable certificate purpose", "unsupported_certificate",
                sends="openssl s_server -tls1_2: leaf with extendedKeyUsage clientAuth only + intermediate"),
    verify_case("tls-cert-revoked", "1.2", "tls.cert.revoked", "revoked", 23, "certificate revoked",
                "certificate_revoked", nginx=["proxy_ssl_crl @crl;"], haproxy_words="crl-file @crl", crl=CRL_FILE,
                sends="openssl s_server -tls1_2: leaf revoked in the intermediate's CRL + intermediate; the gateway "
                      "checks tls/crl.pem (nginx `proxy_ssl_crl`, HAProxy `crl-file`: the intermediate's and the "
                      "root's CRL)"),
    T("tls-cert-name-mismatch", "1.2", "tls.cert.name_mismatch", s_server("wrong-name", "-tls1_2"),
      ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.cert.name_mismatch", "certificate",
                  r'^upstream SSL certificate does not match "upstream\.test" while SSL handshaking to upstream',
                  handshake="complete"),
       "haproxy": E(503, "503", "tls.cert.name_mismatch", "certificate", HAP_SC, term="SC--",
                    alerts=[("gateway", "internal_error")], handshake="incomplete")},
      "openssl s_server -tls1_2: leaf for wrong.test + intermediate (the gateway expects upstream.test)"),
    # ------------------------------------------------------ handshake alerts
    T("tls-sni-missing", "1.3", "tls.sni.missing",
      {"kind": "nginx-tls", "cert": "valid", "reject_no_sni": True}, ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.alert.unrecognized_name", "server_alert",
                  NGX_SSL_ALERT % ("tlsv1 unrecognized name", 112), alerts=[("server", "unrecognized_name")],
                  handshake="incomplete"),
       "haproxy": E(503, "503", "tls.alert.unrecognized_name", "server_alert", HAP_SC, term="SC--",
                    alerts=[("server", "unrecognized_name")], handshake="incomplete")},
      "nginx TLS upstream whose default server has `ssl_reject_handshake on` (only upstream.test is served); "
      "the gateway sends no SNI (nginx `proxy_ssl_server_name off`, HAProxy without `sni`)",
      nginx=["proxy_ssl_server_name off;"], haproxy="no-sni verifyhost upstream.test", sni=None),
    T("tls-version-mismatch", "1.2", "tls.version_mismatch", s_server("valid", "-tls1_3"), ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.version_mismatch", "server_alert",
                  NGX_SSL_ALERT % ("tlsv1 alert protocol version", 70), alerts=[("server", "protocol_version")],
                  handshake="incomplete"),
       "haproxy": E(503, "503", "tls.version_mismatch", "server_alert", HAP_SC, term="SC--",
                    alerts=[("server", "protocol_version")], handshake="incomplete")},
      "openssl s_server -tls1_3 only; the gateway offers TLS 1.2 only (`proxy_ssl_protocols TLSv1.2`, "
      "HAProxy `ssl-max-ver TLSv1.2`)",
      nginx=["proxy_ssl_protocols TLSv1.2;"], haproxy="ssl-max-ver TLSv1.2"),
    T("tls-cipher-mismatch", "1.2", "tls.cipher_mismatch",
      s_server("valid", "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"), ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.cipher_mismatch", "server_alert",
                  NGX_SSL_ALERT % ("sslv3 alert handshake failure", 40), alerts=[("server", "handshake_failure")],
                  handshake="incomplete"),
       "haproxy": E(503, "503", "tls.cipher_mismatch", "server_alert", HAP_SC, term="SC--",
                    alerts=[("server", "handshake_failure")], handshake="incomplete")},
      "openssl s_server -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305; the gateway offers only AES128-SHA "
      "(`proxy_ssl_ciphers AES128-SHA`, HAProxy `ciphers AES128-SHA`), TLS 1.2",
      nginx=["proxy_ssl_protocols TLSv1.2;", "proxy_ssl_ciphers AES128-SHA;"],
      haproxy="ssl-max-ver TLSv1.2 ciphers AES128-SHA"),
    T("tls-client-cert-required", "1.2", "tls.client_cert_required",
      s_server("valid", "-tls1_2", "-Verify", "1", "-verifyCAfile", "@root"), ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.client_cert_required", "server_alert",
                  NGX_SSL_ALERT % ("sslv3 alert handshake failure", 40), alerts=[("server", "handshake_failure")],
                  handshake="incomplete"),
       "haproxy": E(503, "503", "tls.client_cert_required", "server_alert", HAP_SC, term="SC--",
                    alerts=[("server", "handshake_failure")], handshake="incomplete")},
      "openssl s_server -tls1_2 -Verify 1: CertificateRequest; the gateway has no client certificate "
      "and sends an empty Certificate"),
    T("tls-client-cert-required-1.3-keylog", "1.3", "tls.client_cert_required",
      s_server("valid", "-tls1_3", "-Verify", "1", "-verifyCAfile", "@root"), ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.client_cert_required", "server_alert",
                  r"^SSL_read\(\) failed \(SSL: error:[0-9A-F]+:SSL routines::tlsv13 alert certificate required:"
                  r"SSL alert number 116\) while reading response header from upstream",
                  alerts=[("server", "certificate_required")], handshake="complete"),
       # A race: HAProxy may or may not have sent the request when the alert arrives.
       "haproxy": E(502, "502", "tls.client_cert_required", "server_alert", r" 502 \d+ - - SH-- ",
                    term="SH--", alerts=[("server", "certificate_required")], handshake="complete",
                    alternatives=[E(503, "503", "tls.client_cert_required", "server_alert", HAP_SC,
                                    term="SC--", alerts=[("server", "certificate_required")],
                                    handshake="complete")])},
      "openssl s_server -tls1_3 -Verify 1 with `-keylogfile`: the gateway's empty Certificate is refused "
      "after the gateway already sent its request; the alert is encrypted (the key log decrypts it)",
      keylog="server"),
    T("tls-peer-closed-in-handshake", "1.3", "tls.peer_closed_in_handshake",
      {"kind": "py", "mode": "close-after-hello"}, ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.peer_closed_in_handshake", "upstream_fin",
                  r"^peer closed connection in SSL handshake while SSL handshaking to upstream",
                  handshake="incomplete"),
       "haproxy": E(503, "503", "tls.peer_closed_in_handshake", "upstream_fin", HAP_SC, term="SC--",
                    handshake="incomplete")},
      "tls-upstream.py: reads the ClientHello record, then FIN without sending a byte"),
    T("tls-handshake-timeout", "1.3", "tls.handshake_timeout",
      {"kind": "py", "mode": "hang-after-hello"}, ["nginx", "haproxy"],
      {"nginx": E(504, "504", "tls.handshake_timeout", "gateway_close",
                  r"^upstream timed out \(110: Connection timed out\) while SSL handshaking to upstream",
                  handshake="incomplete"),
       "haproxy": E(503, "503", "tls.handshake_timeout", "gateway_close", r" 503 \d+ - - sC-- ", term="sC--",
                    handshake="incomplete")},
      "tls-upstream.py: reads the ClientHello record, then sends nothing and holds the connection open; "
      "the gateway's connect timer (nginx `proxy_connect_timeout 2s`, HAProxy `timeout connect 2s`) runs out",
      nginx=["proxy_connect_timeout 2s;"]),
    # ------------------------------------------------------- protocol mix-ups
    T("tls-to-plain-port", "1.3", "proto.tls_to_plain_port", {"kind": "nginx-plain"}, ["nginx", "haproxy"],
      {"nginx": E(502, "502", "proto.tls_to_plain_port", "payload",
                  r"^SSL_do_handshake\(\) failed \(SSL: error:0A00010B:SSL routines::wrong version number\) "
                  r"while SSL handshaking to upstream", handshake="incomplete", marker=b"HTTP/1.1 400"),
       "haproxy": E(503, "503", "proto.tls_to_plain_port", "payload", HAP_SC, term="SC--",
                    handshake="incomplete", marker=b"HTTP/1.1 400")},
      "a plain HTTP nginx: it reads the ClientHello as a request and answers `HTTP/1.1 400 Bad Request`"),
    T("tls-plain-to-tls-port-alert", "1.2", "proto.plain_to_tls_port", {"kind": "py", "mode": "alert-to-plain"},
      ["nginx-plain", "haproxy-plain"],
      {"nginx": E(None, "ok", "proto.plain_to_tls_port", "payload", r"^upstream sent no valid HTTP/1\.0 header",
                  marker=bytes.fromhex("15030300020246")),
       "haproxy": E(502, "502", "proto.plain_to_tls_port", "payload", r" 502 \d+ - - PH-- ", term="PH--",
                    marker=bytes.fromhex("15030300020246"))},
      "SCRIPTED (tls-upstream.py): reads the plain GET, writes `15 03 03 00 02 02 46` (fatal "
      "protocol_version alert), FIN; the gateway speaks plain HTTP (`proxy_pass http://`)", sni=None),
    # --------------------------------------------- key logs (curl, no gateway)
    T("tls-keylog-chunked-bad-size-1.2", "1.2", "http.chunked.bad_size",
      {"kind": "py", "mode": "bad-chunked", "cert": "valid", "max": "1.2",
       "ciphers": "ECDHE-RSA-AES128-GCM-SHA256"}, ["curl"],
      {"curl": E(200, "truncated", "http.chunked.bad_size", "decrypted", curl_exit=56, handshake="complete",
                 marker=BAD_CHUNK)},
      "Python ssl, TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256: chunked head, then `zz\\r\\nhello\\r\\n0\\r\\n\\r\\n` "
      "in its own record; curl writes the key log",
      keylog="client", curl=["--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"]),
    T("tls-keylog-chunked-bad-size-1.3-aes128gcm", "1.3", "http.chunked.bad_size",
      {"kind": "py", "mode": "bad-chunked", "cert": "valid", "min": "1.3"}, ["curl"],
      {"curl": E(200, "truncated", "http.chunked.bad_size", "decrypted", curl_exit=56, handshake="complete",
                 marker=BAD_CHUNK)},
      "Python ssl, TLS 1.3 TLS_AES_128_GCM_SHA256 (curl `--tls13-ciphers`): chunked head, then "
      "`zz\\r\\nhello\\r\\n0\\r\\n\\r\\n`; curl writes the key log",
      keylog="client", curl=["--tlsv1.3", "--tls13-ciphers", "TLS_AES_128_GCM_SHA256"]),
    T("tls-keylog-chunked-bad-size-1.3-chacha20", "1.3", "http.chunked.bad_size",
      {"kind": "py", "mode": "bad-chunked", "cert": "valid", "min": "1.3"}, ["curl"],
      {"curl": E(200, "truncated", "http.chunked.bad_size", "decrypted", curl_exit=56, handshake="complete",
                 marker=BAD_CHUNK)},
      "Python ssl, TLS 1.3 TLS_CHACHA20_POLY1305_SHA256 (curl `--tls13-ciphers`): chunked head, then "
      "`zz\\r\\nhello\\r\\n0\\r\\n\\r\\n`; curl writes the key log",
      keylog="client", curl=["--tlsv1.3", "--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256"]),
    T("tls-keylog-healthy-1.3", "1.3", "none",
      {"kind": "py", "mode": "healthy", "cert": "valid", "min": "1.3"}, ["curl"],
      {"curl": E(200, "ok", "none", None, curl_exit=0, handshake="complete")},
      "Python ssl, TLS 1.3 (default suite TLS_AES_256_GCM_SHA384): 2 GETs (CL, chunked) over one connection; "
      "curl writes the key log",
      keylog="client", curl=["--tlsv1.3"],
      requests=["/t/tls-keylog-healthy-1.3/cl/1", "/t/tls-keylog-healthy-1.3/chunked/2"]),
    # ---------- the TLS 1.3 certificate again, with the upstream's key log
    T("tls-cert-expired-1.3-keylog", "1.3", "tls.cert.expired",
      s_server("expired", "-tls1_3"), ["nginx"],
      {"nginx": E(502, "502", "tls.cert.expired", "certificate_decrypted",
                  NGX_VERIFY % (10, "certificate has expired"), handshake="complete",
                  verify=(10, "certificate has expired"))},
      "tls-cert-expired-1.3 again, with openssl s_server `-keylogfile`: the key log decrypts the "
      "Certificate message", keylog="server"),
    # ------------------------------------------------ issue 15 (certificate set tls-b)
    # A warning alert with the ServerHello: s_server knows only other.test, the gateway asks
    # for upstream.test; OpenSSL answers a name it does not serve with a warning
    # unrecognized_name (TLS 1.2; TLS 1.3 has no warning alerts) and goes on with its default
    # certificate, which the gateway accepts.
    T("tls-alert-warning-unrecognized-name", "1.2", "tls.alert.unrecognized_name",
      s_server("valid", "-tls1_2", "-servername", "other.test", "-cert2", "@cert", "-key2", "@key"),
      ["nginx", "haproxy"],
      {"nginx": E(200, "ok", "none", "server_warning", handshake="complete"),
       "haproxy": E(200, "ok", "none", "server_warning", r" 200 \d+ - - ---- ", term="----", handshake="complete")},
      "openssl s_server -tls1_2 -servername other.test -cert2 (same leaf): a warning unrecognized_name "
      "alert before the ServerHello, then the handshake and the answer as usual",
      certs=CERTS_B),
    # Two chain problems at once: an expired leaf from a CA nobody trusts. OpenSSL finds the
    # missing issuer first (20, depth 1) and the expiry later (10, depth 0): nginx's callback
    # goes on and logs the last, HAProxy's stops at the first and sends unknown_ca.
    T("tls-cert-expired-unknown-ca", "1.2", "tls.cert.expired", s_server("other-ca-expired", "-tls1_2"),
      ["nginx", "haproxy"],
      {"nginx": E(502, "502", "tls.cert.expired", "certificate", NGX_VERIFY % (10, "certificate has expired"),
                  handshake="complete", verify=(10, "certificate has expired")),
       "haproxy": E(503, "503", "tls.cert.unknown_ca", "certificate", HAP_SC, term="SC--",
                    alerts=[("gateway", "unknown_ca")], handshake="incomplete")},
      "openssl s_server -tls1_2: leaf (notAfter 30 days ago) + intermediate from a root the gateway "
      "does not trust",
      certs=CERTS_B),
    # TLS 1.3 early data: a real HTTP server that takes 0-RTT (nginx `ssl_early_data on`) and
    # openssl s_client resuming a saved session with its request as early data, writing the
    # key log (CLIENT_EARLY_TRAFFIC_SECRET included). openssl s_server -early_data cannot
    # answer HTTP (`-www` and `-early_data` exclude each other).
    T("tls-early-data-1.3-keylog", "1.3", "none",
      {"kind": "nginx-tls", "cert": "valid", "early_data": True}, ["s_client"],
      {"s_client": E(200, "ok", "none", None, curl_exit=0, handshake="complete")},
      "nginx 1.22.1 TLS server, TLS 1.3 only, `ssl_early_data on`: request 1 a full handshake "
      "(s_client -sess_out), request 2 resumes it with the request as 0-RTT early data "
      "(s_client -sess_in -early_data); s_client writes the key log",
      keylog="client", certs=CERTS_B,
      requests=["/t/tls-early-data-1.3-keylog/1", "/t/tls-early-data-1.3-keylog/2"]),
]

BY_NAME = {s["name"]: s for s in SCENARIOS}
GATEWAY_KIND = {"nginx": "nginx", "nginx-plain": "nginx", "haproxy": "haproxy", "haproxy-plain": "haproxy",
                "curl": "curl", "s_client": "s_client"}

# Apache httpd (issue 14): its gateways ("apache", "apache-plain") and expectations.
import gw_apache_lighttpd  # noqa: E402
gw_apache_lighttpd.extend_tls(sys.modules[__name__])


def base_name(name, gw):
    """The capture's base name, relative to captures/: nginx/SCENARIO, haproxy/SCENARIO.haproxy,
    apache/SCENARIO, or no-gateway/SCENARIO for the key-log captures curl or openssl s_client
    made with no gateway in between."""
    kind = GATEWAY_KIND[gw]
    if kind in gw_apache_lighttpd.KINDS or kind == "nginx":
        return "%s/%s" % (kind, name)   # captures/apache/<scenario>.*, captures/nginx/<scenario>.*
    if kind in ("curl", "s_client"):
        return "no-gateway/%s" % name
    return "haproxy/%s.haproxy" % name


def jobs():
    """(scenario, gateway, capture base name), in run order."""
    return [(s["name"], gw, base_name(s["name"], gw)) for s in SCENARIOS for gw in s["gateways"]]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        for name, gw, base in jobs():
            print("%s %s %s" % (name, gw, base))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--show":
        print(json.dumps(BY_NAME[sys.argv[2]], indent=2))
        return
    sys.exit("usage: tls_scenarios.py --list | --show NAME")


if __name__ == "__main__":
    main()
