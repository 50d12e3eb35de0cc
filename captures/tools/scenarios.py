#!/usr/bin/env python3
"""The scripted misbehaviours behind edgescope's sample captures (stdlib only).

Each scenario is one way an upstream breaks HTTP/1.1 (or TCP), and the exact bytes
it writes on a raw socket when the gateway's request arrives. The same table is read by

  upstream.py      (--mode script --scenario NAME: what to send, when, how to close)
  run-scenario.py  (which gateways, which network set-up, which requests)
  build-truth.py   (the designed `finding`, the lint rule for `verdict`, the evidence
                    marker to look up with tshark, and the outcome to expect)

`finding` is the code from docs/root-causes.md that the upstream's bytes violate.
`verdict` is the same code, except `none` for the lint-only codes that nginx, HAProxy
and Envoy all accept according to the taxonomy (LINT_ONLY below).

`steps` is what the upstream does on each accepted connection, in order:
  ("read",)          read one request head (the gateway's GET/HEAD; no body)
  ("send", bytes)    one send() of exactly these bytes (TCP_NODELAY is on)
  ("sleep", ms)      pause
  ("close",)         close(): FIN (the request was read, so no RST)
  ("rst",)           SO_LINGER {1,0} then close(): RST
  ("wait_eof",)      keep reading until the gateway closes, then close
                     (bytes that arrive meanwhile are logged)
  ("tls_accept",)    peek the request head, then try a TLS server handshake on it
                     (proto-plain-to-tls-port), log the error, close

`evidence` says how build-truth.py finds the frame that carries the first offending
byte, with tshark, in the finished capture:
  "payload"        first upstream -> gateway frame of the connection whose TCP payload
                   contains `marker`
  "upstream_fin"   the upstream's FIN      "upstream_rst"   the upstream's RST
  "gateway_close"  the gateway's first FIN or RST
  "first_syn"      the first SYN to the upstream (no connection was ever accepted)
  None             healthy: evidence_frame is null

`expect` is what the committed run observed, per gateway, for the connection(s) with the
finding: client status, class, and (HAProxy) the termination state. build-truth.py
fails when a new run disagrees, so a regeneration that changes behaviour is loud.
"""

import json
import sys

LINT_ONLY = {
    "http.status_line.no_reason_sp",
    "http.line.bare_lf",
    "http.chunked.ws_after_size",
    "http.header.dup_single_value",
}

HEAD_CL5 = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
BODY5 = b"hello"


def verdict_for(finding):
    return "none" if finding in LINT_ONLY else finding


def too_large_head():
    """About 8 KiB of header lines of ~500 bytes each (few lines, so HAProxy's 101-line
    limit is not what trips); the line holding byte offset 4096 (the first byte past
    nginx's default 4 KiB proxy_buffer_size) is named X-Past-4096."""
    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    n = 0
    while len(out) < 8192:
        line = b"X-Fill-%02d: %s\r\n" % (n, b"f" * 486)
        if len(out) <= 4096 < len(out) + len(line):
            line = b"X-Past-4096: %s\r\n" % (b"p" * 485)
        out += line
        n += 1
    return out + b"\r\n" + BODY5


def htx_head(size):
    """A head of exactly `size` bytes in ~486-byte fields (`X-Fill-NNN: fff...`): HAProxy 2.6.12
    keeps each field's name and value plus 8 bytes in its 15360-byte HTX room, so 15153 bytes of
    this shape pass and 15154 do not (measured)."""
    out = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
    n = 0
    while len(out) + 2 < size:
        room = size - 2 - len(out)
        line = b"X-Fill-%03d: " % n
        out += line + b"f" * max(1, min(486, room - len(line) - 2)) + b"\r\n"
        n += 1
    assert len(out) + 2 == size
    return out + b"\r\n" + BODY5


def too_many_head():
    """150 header lines (HAProxy's tune.http.maxhdr is 101, the status line included).
    The marker is the first header line HAProxy 2.6 has no slot for: measured, 100 header
    fields pass and the 101st (X-H-101 here; Content-Length is the 1st) gives 502."""
    out = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
    for i in range(2, 151):
        out += b"X-H-%03d: %d\r\n" % (i, i)
    return out + b"\r\n" + BODY5


def S(name, finding, sends, steps, evidence="payload", marker=None, gateways=("nginx", "haproxy"),
      expect=None, **kw):
    d = {"name": name, "finding": finding, "sends": sends, "steps": steps,
         "evidence": evidence, "marker": marker, "gateways": list(gateways),
         "expect": expect or {}}
    d.update(kw)
    return d


def E(status, cls, term=None, curl_exit=None):
    e = {"status": status, "class": cls}
    if term is not None:
        e["termination"] = term
    if curl_exit is not None:
        e["curl_exit"] = curl_exit
    return e


R, W = ("read",), ("wait_eof",)
CLOSE, RST = ("close",), ("rst",)


def send(b):
    return ("send", b)


def sleep(ms):
    return ("sleep", ms)


SCENARIOS = [
    # ------------------------------------------------------------------ TCP
    S("tcp-fin-mid-headers", "tcp.fin.mid_headers",
      "`HTTP/1.1 200 OK\\r\\nContent-Ty`, then FIN",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Ty"), sleep(30), CLOSE],
      evidence="upstream_fin",
      expect={"nginx": E(502, "502"), "haproxy": E(502, "502", "SH--")}),
    S("tcp-fin-mid-body-cl", "tcp.fin.mid_body",
      "`Content-Length: 100` head, 10 body bytes, then FIN",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"),
       sleep(30), send(b"0123456789"), sleep(30), CLOSE],
      evidence="upstream_fin",
      expect={"nginx": E(200, "truncated", curl_exit=18), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("tcp-fin-mid-body-chunked", "tcp.fin.mid_body",
      "chunked head, one chunk `a\\r\\n0123456789\\r\\n`, no last-chunk, FIN",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"a\r\n0123456789\r\n"), sleep(30), CLOSE],
      evidence="upstream_fin",
      expect={"nginx": E(200, "truncated", curl_exit=18), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("tcp-rst-mid-body", "tcp.rst.mid_body",
      "`Content-Length: 100` head, 10 body bytes, then RST (SO_LINGER 0)",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"),
       sleep(30), send(b"0123456789"), sleep(30), RST],
      evidence="upstream_rst",
      expect={"nginx": E(200, "truncated", curl_exit=18), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("tcp-read-timeout", "tcp.read_timeout",
      "reads the request, never answers (gateway read timeout 2 s)",
      [R, W], evidence="gateway_close", read_timeout=True,
      expect={"nginx": E(504, "504"), "haproxy": E(504, "504", "sH--")}),
    S("tcp-connect-timeout", "tcp.connect.timeout",
      "nothing: every SYN to the port is dropped (netns wire), connect timeout 2 s",
      [], evidence="first_syn", net="netns", wire={"drop_syn": True}, accepted=False,
      expect={"nginx": E(504, "504"), "haproxy": E(503, "503", "sC--")}),
    S("tcp-connect-timeout-short", "tcp.connect.timeout",
      "every SYN to the first server is dropped (netns wire); the gateway's connect timeout "
      "(500 ms) ends the attempt before the kernel's first SYN retransmission would leave (1 s); "
      "2 s later a second request reaches the healthy second server, so the capture shows one SYN "
      "and then silence on that connection while the capture goes on",
      [], evidence="first_syn", net="netns", wire={"drop_syn": True}, accepted=False,
      connect_timeout="500ms", kind="then-healthy",
      expect={"nginx": E(504, "504"), "haproxy": E(503, "503", "sC--")}),
    S("tcp-rst-after-request-reused", "tcp.rst.before_response",
      "answers request 1 on a keep-alive connection, reads request 2 (sent a few milliseconds "
      "later on the same connection), then resets (SO_LINGER 0): its RST acknowledges request 2",
      [R, send(HEAD_CL5 + BODY5), R, RST], evidence="upstream_rst", kind="reuse",
      gateways=("nginx",),
      expect={"nginx": E(502, "502")}),
    S("tcp-keepalive-race", "tcp.keepalive_race",
      "healthy keep-alive upstream that closes a connection idle for 1000 ms; the 2nd request "
      "is sent on the cached connection just before the FIN arrives (netns wire, 50 ms each way; "
      "for HAProxy both requests go on one client connection, race-client.py)",
      [], evidence="upstream_fin", net="netns", wire={"delay_ms": 50}, kind="keepalive-race",
      idle_close_ms=1000,
      expect={"nginx": E(502, "502"), "haproxy": E(None, "truncated")}),
    S("pool-of-three", "http.header.name_ctl_or_space",
      "3 servers round-robin (`max_fails=0`), 9 requests; server 2 answers `Content-Length : 5`, "
      "the others are healthy",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length : 5\r\n\r\nhello"), W],
      marker=b"Content-Length : 5", kind="pool", gateways=("nginx",), server_params="max_fails=0",
      expect={"nginx": E(502, "502")}),
    S("pool-of-three-default", "http.header.name_ctl_or_space",
      "the same pool with nginx's default `max_fails=1 fail_timeout=10s`: after its first invalid "
      "header, server 2 is taken out and gets no more requests",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length : 5\r\n\r\nhello"), W],
      marker=b"Content-Length : 5", kind="pool", gateways=("nginx",),
      expect={"nginx": E(502, "502")}),
    S("pool-mixed-5xx", "http.header.name_ctl_or_space",
      "4 servers on 127.0.0.2-5 round-robin (`max_fails=0`, no upstream keep-alive: one "
      "connection per request), 40 requests; 127.0.0.3 answers `Content-Length : 5`, the others "
      "are healthy but answer their own well-formed 503 or 500 for 19 of the request paths",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length : 5\r\n\r\nhello"), W],
      marker=b"Content-Length : 5", kind="pool-mixed", gateways=("nginx",), server_params="max_fails=0",
      keepalive=False, requests=40,
      expect={"nginx": E(502, "502")}, expect_relayed={"nginx": "relayed"}),
    S("pool-turns-bad", "http.header.name_ctl_or_space",
      "3 servers on 127.0.0.2-4 round-robin (`max_fails=0`, upstream keep-alive), 18 requests for "
      "the same path (`/item?n=N`); 127.0.0.3 answers its first 3 well, then `Content Type: text/plain` (a "
      "space for the hyphen): its failing heads have healthy ones of its own and of the other "
      "members beside them",
      [], marker=b"Content Type: text/plain", kind="pool-turns-bad", gateways=("nginx",),
      server_params="max_fails=0", requests=18, turn_bad_after=3,
      expect={"nginx": E(502, "502")}),
    # ------------------------------------------------------------- protocol
    S("proto-non-http-response", "proto.non_http_response",
      "`-ERR unknown command\\r\\n`, then FIN",
      [R, send(b"-ERR unknown command\r\n"), sleep(30), CLOSE], marker=b"-ERR unknown command",
      expect={"nginx": E(None, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("proto-h2-response-to-h1", "proto.h2_response_to_h1",
      "HTTP/2 SETTINGS frame `00 00 00 04 00 00 00 00 00` + GOAWAY(PROTOCOL_ERROR), then FIN",
      [R, send(bytes.fromhex("000000040000000000" "000008070000000000" "0000000000000001")),
       sleep(30), CLOSE],
      marker=bytes.fromhex("000000040000000000"),
      expect={"nginx": E(None, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("proto-plain-to-tls-port", "proto.plain_to_tls_port",
      "a Python ssl (OpenSSL 3) TLS server: the gateway's plain `GET` fails its handshake; it closes",
      [("tls_accept",)], evidence="upstream_rst",
      # OpenSSL 3 answers a plain request with an RST and no alert: nothing on the wire says
      # TLS, so the verdict the bytes support is the reset (nginx logs recv() failed (104)).
      wire_verdict="tcp.rst.before_response",
      expect={"nginx": E(502, "502"), "haproxy": E(502, "502", "SH--")}),
    S("proto-server-speaks-first", "proto.server_speaks_first",
      "on accept, before reading: `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n`; then reads the "
      "request and closes (netns wire holds gateway data segments 100 ms, so the banner is first; "
      "captured on the upstream side)",
      [send(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), R, sleep(30), CLOSE],
      marker=b"SSH-2.0-", net="netns", wire={"hold_data_ms": 100}, capture_side="upstream",
      expect={"nginx": E(None, "ok"), "haproxy": E(502, "502", "PH--")}),
    # ---------------------------------------------------------- status line
    S("http-status-line-bad-version", "http.status_line.bad_version",
      "`HTTP/2 200 OK` status line, CL 5 body, then FIN",
      [R, send(b"HTTP/2 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
       sleep(30), CLOSE], marker=b"HTTP/2 200",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-status-line-bad-version-lowercase", "http.status_line.bad_version",
      "`http/1.1 200 OK` status line, CL 5 body, then FIN",
      [R, send(b"http/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
       sleep(30), CLOSE], marker=b"http/1.1 200",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-status-line-bad-code", "http.status_line.bad_code",
      "`HTTP/1.1 2000 OK` status line, CL 5 body, then FIN",
      [R, send(b"HTTP/1.1 2000 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
       sleep(30), CLOSE], marker=b"HTTP/1.1 2000",
      expect={"nginx": E(None, "ok"), "haproxy": E(2000, "ok", "----", 1)}),
    S("http-status-line-no-reason-sp", "http.status_line.no_reason_sp",
      "`HTTP/1.1 200\\r\\n` (no SP, no reason), CL 5 body, keep-alive",
      [R, send(b"HTTP/1.1 200\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"), W],
      marker=b"HTTP/1.1 200\r\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-line-bare-lf", "http.line.bare_lf",
      "every head line ends in a bare `\\n`, CL 5 body, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello"), W],
      marker=b"HTTP/1.1 200 OK\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-line-bare-cr", "http.line.bare_cr",
      "a bare `\\r` inside the status line: `HTTP/1.1 200 O\\rK\\r\\n`, CL 5 body, then FIN",
      [R, send(b"HTTP/1.1 200 O\rK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
       sleep(30), CLOSE], marker=b"O\rK\r\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    # -------------------------------------------------------------- headers
    S("http-header-name-ctl-or-space", "http.header.name_ctl_or_space",
      "`Content-Length : 5` (SP before the colon), keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length : 5\r\n\r\nhello"), W],
      marker=b"Content-Length : 5",
      expect={"nginx": E(502, "502"), "haproxy": E(502, "502", "PH--")}),
    S("http-header-name-non-token", "http.header.name_non_token",
      "`X-Foo;: bar` header line, CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b"X-Foo;: bar\r\n\r\nhello"), W], marker=b"X-Foo;: bar",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-header-empty-name", "http.header.empty_name",
      "`: x` header line, CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b": x\r\n\r\nhello"), W], marker=b"\r\n: x\r\n",
      expect={"nginx": E(502, "502"), "haproxy": E(502, "502", "PH--")}),
    S("http-header-missing-colon", "http.header.missing_colon",
      "`Foo\\r\\n` header line (no colon), CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b"Foo\r\n\r\nhello"), W], marker=b"\r\nFoo\r\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-header-value-nul", "http.header.value_nul",
      "`X-Foo: a\\x00b`, CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b"X-Foo: a\x00b\r\n\r\nhello"), W], marker=b"X-Foo: a\x00b",
      expect={"nginx": E(502, "502"), "haproxy": E(200, "ok", "----")}),
    S("http-header-value-ctl", "http.header.value_ctl",
      "`X-Foo: a\\x01b`, CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b"X-Foo: a\x01b\r\n\r\nhello"), W], marker=b"X-Foo: a\x01b",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-header-value-bare-cr", "http.header.value_bare_cr",
      "`X-Foo: a\\rb` (bare CR inside a value), CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b"X-Foo: a\rb\r\n\r\nhello"), W], marker=b"X-Foo: a\rb",
      expect={"nginx": E(502, "502"), "haproxy": E(502, "502", "PH--")}),
    S("http-header-obs-fold", "http.header.obs_fold",
      "`X-A: a\\r\\n b\\r\\n` (obs-fold), CL 5, keep-alive",
      [R, send(HEAD_CL5[:-2] + b"X-A: a\r\n b\r\n\r\nhello"), W], marker=b"\r\n b\r\n",
      expect={"nginx": E(502, "502"), "haproxy": E(200, "ok", "----")}),
    S("http-header-too-large", "http.header.too_large",
      "about 8 KiB of header lines (17 lines of ~500 bytes) in one send (nginx's proxy_buffer_size is 4 KiB); "
      "the line at offset 4096 is `X-Past-4096`", [R, send(too_large_head()), W],
      marker=b"X-Past-4096:",
      expect={"nginx": E(502, "502"), "haproxy": E(200, "ok", "----")}),
    S("http-header-htx-room-fits", "http.header.too_large",
      "a 15153-byte head of 32 fields: the most HAProxy 2.6's HTX room (15360 bytes) takes of this "
      "shape", [R, send(htx_head(15153)), W], marker=b"HTTP/1.1 200 OK", gateways=("haproxy",),
      expect={"haproxy": E(200, "ok", "----")}),
    S("http-header-htx-room-exceeded", "http.header.too_large",
      "a 15154-byte head of 32 fields: one byte more than HAProxy 2.6's HTX room takes",
      [R, send(htx_head(15154)), W], marker=b"HTTP/1.1 200 OK", gateways=("haproxy",),
      expect={"haproxy": E(502, "502", "PH--")}),
    S("http-header-too-many", "http.header.too_many",
      "150 header lines (HAProxy's limit is 101 including the status line), CL 5, keep-alive",
      [R, send(too_many_head()), W], marker=b"X-H-101:",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-header-dup-single-value", "http.header.dup_single_value",
      "`302` with two `Location` lines (`/a`, `/b`), CL 0, keep-alive",
      [R, send(b"HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n"), W],
      marker=b"Location: /b",
      expect={"nginx": E(302, "ok"), "haproxy": E(302, "ok", "----")}),
    # ---------------------------------------------------------- body framing
    S("http-cl-invalid", "http.cl.invalid",
      "`Content-Length: abc`, 5 body bytes, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: abc\r\n\r\nhello"), W],
      marker=b"Content-Length: abc",
      expect={"nginx": E(200, "truncated", curl_exit=18), "haproxy": E(502, "502", "PH--")}),
    S("http-cl-invalid-nan", "http.cl.invalid",
      "`Content-Length: NaN`, 5 body bytes, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: NaN\r\n\r\nhello"), W],
      marker=b"Content-Length: NaN",
      expect={"nginx": E(200, "truncated", curl_exit=18), "haproxy": E(502, "502", "PH--")}),
    S("http-cl-comma-list", "http.cl.invalid",
      "`Content-Length: 5, 5`, 5 body bytes, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5, 5\r\n\r\nhello"), W],
      marker=b"Content-Length: 5, 5",
      expect={"nginx": E(200, "truncated", curl_exit=18), "haproxy": E(200, "ok", "----")}),
    S("http-cl-duplicate", "http.cl.duplicate",
      "two identical `Content-Length: 5` lines, 5 body bytes, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 5\r\n\r\nhello"), W],
      marker=b"text/plain\r\nContent-Length: 5",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-te-cl-both", "http.te_cl.both",
      "`Content-Length: 5` and `Transfer-Encoding: chunked`, a chunked body, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), W],
      marker=b"Transfer-Encoding: chunked",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-te-not-chunked", "http.te.not_chunked",
      "`Transfer-Encoding: gzip`, 5 body bytes, then FIN (read-until-close framing)",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\nhello"),
       sleep(30), CLOSE], marker=b"Transfer-Encoding: gzip",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-te-duplicate", "http.te.duplicate_or_empty",
      "two `Transfer-Encoding: chunked` lines, a chunked body, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), W],
      marker=b"text/plain\r\nTransfer-Encoding: chunked",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-chunked-bad-size", "http.chunked.bad_size",
      "chunked head, then (30 ms later) `zz\\r\\nhello\\r\\n0\\r\\n\\r\\n`, keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"zz\r\nhello\r\n0\r\n\r\n"), W], marker=b"zz\r\n",
      expect={"nginx": E(200, "truncated"), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("http-chunked-size-overflow", "http.chunked.size_overflow",
      "chunked head, then `fffffffffffffffffffff\\r\\n` + 5 bytes, keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), W],
      marker=b"fffffffffffffffffffff\r\n",
      expect={"nginx": E(200, "truncated"), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("http-chunked-ws-after-size", "http.chunked.ws_after_size",
      "chunked head, then `5 \\r\\nhello\\r\\n0\\r\\n\\r\\n`, keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"5 \r\nhello\r\n0\r\n\r\n"), W], marker=b"5 \r\nhello",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-chunked-bad-ext", "http.chunked.bad_ext",
      "chunked head, then `5;\\x01\\r\\nhello\\r\\n0\\r\\n\\r\\n`, keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"5;\x01\r\nhello\r\n0\r\n\r\n"), W], marker=b"5;\x01\r\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-chunked-ext-no-name", "http.chunked.bad_ext",
      "chunked head, then `5;\r\nhello\r\n0\r\n\r\n` (a ';' with no extension name), keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"5;\r\nhello\r\n0\r\n\r\n"), W], marker=b"5;\r\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-te-two-lines", "http.te.duplicate_or_empty",
      "`Transfer-Encoding: gzip` and `Transfer-Encoding: chunked` on two lines (one list, RFC 9110 "
      "§5.3: `gzip, chunked`), then a chunked body, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"), sleep(30), send(b"5\r\nhello\r\n0\r\n\r\n"), W],
      marker=b"Transfer-Encoding: chunked", wire_verdict="http.te.not_chunked",
      expect={"nginx": E(200, "ok"), "haproxy": E(502, "502", "PH--")}),
    S("http-chunked-bare-lf", "http.chunked.bare_lf",
      "chunked head, then `5\\nhello\\r\\n0\\r\\n\\r\\n`, keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"5\nhello\r\n0\r\n\r\n"), W], marker=b"5\nhello",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-chunked-data-len-mismatch", "http.chunked.data_len_mismatch",
      "chunked head, then `5\\r\\nhello!!\\r\\n0\\r\\n\\r\\n` (size 5, 7 data bytes), keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"5\r\nhello!!\r\n0\r\n\r\n"), W], marker=b"hello!!",
      expect={"nginx": E(200, "truncated"), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("http-chunked-bad-trailer", "http.chunked.bad_trailer",
      "chunked head, then `5\\r\\nhello\\r\\n0\\r\\nBadTrailer\\r\\n\\r\\n` (trailer without colon), keep-alive",
      [R, send(HEAD_CHUNKED), sleep(30), send(b"5\r\nhello\r\n0\r\nBadTrailer\r\n\r\n"), W],
      marker=b"\r\nBadTrailer\r\n",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "truncated", "SD--", 18)}),
    S("http-body-extra-after-message", "http.body.extra_after_message",
      "`Content-Length: 5` and 12 body bytes `helloEXTRA!!` in one send, keep-alive",
      [R, send(HEAD_CL5 + b"helloEXTRA!!"), W], marker=b"EXTRA!!",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    S("http-body-on-bodyless", "http.body.on_bodyless",
      "`HTTP/1.1 204 No Content` with `Content-Length: 5` and 5 body bytes, keep-alive",
      [R, send(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"), W],
      marker=b"\r\n\r\nhello",
      expect={"nginx": E(204, "ok"), "haproxy": E(204, "ok", "----")}),
    S("http-body-on-bodyless-head", "http.body.on_bodyless",
      "answer to a HEAD request: `200`, `Content-Length: 5` and 5 body bytes, keep-alive",
      [R, send(HEAD_CL5 + BODY5), W], marker=b"\r\n\r\nhello", method="HEAD",
      expect={"nginx": E(200, "ok"), "haproxy": E(200, "ok", "----")}),
    # --------------------------------------------------------- upstream 5xx
    S("http-upstream-5xx", "http.upstream_5xx",
      "a well-formed `HTTP/1.1 503 Service Unavailable` with a 20-byte body, keep-alive",
      [R, send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 20\r\n\r\nupstream overloaded\n"), W],
      marker=b"HTTP/1.1 503 ",
      expect={"nginx": E(503, "relayed"), "haproxy": E(503, "relayed", "----")}),
    # -------------------------------------------------------------- healthy
    S("healthy-control", "none",
      "healthy keep-alive upstream: 1200 GETs, Content-Length and chunked bodies "
      "(1 in 10 chunked responses sends each chunk in its own segment)",
      [], evidence=None, kind="healthy", gateways=("nginx",), requests=1200,
      size_limit=1024 * 1024,
      expect={"nginx": E(200, "ok")}),
    # ------------------------------------- HAProxy twins of the first captures
    S("fin-before-response", "tcp.fin.before_response",
      "reads the request, then FIN with no response byte (upstream.py --mode fin)",
      [], evidence="upstream_fin", kind="legacy-fin", gateways=("haproxy",),
      expect={"haproxy": E(502, "502", "SH--")}),
    S("refused", "tcp.connect.refused",
      "nothing listens: the SYN is answered by RST/ACK",
      [], evidence="upstream_rst", kind="refused", gateways=("haproxy",), accepted=False,
      expect={"haproxy": E(503, "503", "SC--")}),
]

# Apache httpd and lighttpd (issue 14): their added scenarios and expectations.
import gw_apache_lighttpd  # noqa: E402
gw_apache_lighttpd.extend(sys.modules[__name__])

# ---------------------------------------------- Caddy and Varnish (issue 14)
# Their captures go in captures/caddy/ and captures/varnish/ (one folder per gateway; base name
# caddy/SCENARIO). The scenarios above that they run are listed in GATEWAY_FOLDER_EXPECT with
# what each did; these are the ones only they run.




def big_head(size):
    """~`size` bytes of head in ~500-byte lines; the line holding offset 4096 is X-Past-4096."""
    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    n = 0
    while len(out) < size:
        line = b"X-Fill-%02d: %s\r\n" % (n, b"f" * 486)
        if len(out) <= 4096 < len(out) + len(line):
            line = b"X-Past-4096: %s\r\n" % (b"p" * 485)
        out += line
        n += 1
    return out + b"\r\n" + BODY5


# tcp-rst-before-response, http-header-head-20k and http-cl-duplicate-differ are byte for byte the
# scenarios of the same names the Apache httpd and lighttpd captures use (gw_apache_lighttpd.py on
# their branch); whichever list defines them first keeps them (_add_new below).
_NEW = [
    S("tcp-rst-before-response", "tcp.rst.before_response",
      "reads the request, then RST (SO_LINGER 0) with no response byte",
      [R, sleep(30), RST], evidence="upstream_rst", gateways=()),
    S("tcp-connect-refused-twice", "tcp.connect.refused",
      "nothing listens: every SYN is answered by RST/ACK; three requests, the 2nd 0.05 s after "
      "the 1st, the 3rd 1 s after the 2nd (Varnish holds a refused backend down for "
      "backend_remote_error_holddown, 0.25 s by default)",
      [], evidence="upstream_rst", kind="refused", gateways=(), accepted=False, requests=3,
      then_after_s=[0.05, 1.0]),
    S("http-cl-duplicate-differ", "http.cl.duplicate",
      "`Content-Length: 5` and `Content-Length: 7` (different values), 5 body bytes, keep-alive",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 7\r\n\r\nhello"), W],
      marker=b"Content-Length: 7", gateways=()),
    S("tcp-read-timeout-mid-body", "tcp.read_timeout",
      "`Content-Length: 100` head, 10 body bytes, then nothing (the connection stays open; the "
      "gateway's read timeouts are 2 s)",
      [R, send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"),
       sleep(30), send(b"0123456789"), W], evidence="gateway_close", read_timeout=True, gateways=()),
    S("http-header-head-20k", "http.header.too_large",
      "a 20 KiB head of ~500-byte lines (42 fields; none longer than 500 bytes), CL 5, keep-alive; "
      "the line at offset 4096 is `X-Past-4096`",
      [R, send(big_head(20480)), W], marker=b"X-Past-4096:", gateways=()),
    # Caddy as a TLS client (kind "tls"): `transport http { tls; tls_trusted_ca_certs root.pem;
    # tls_server_name upstream.test }` in front of tls-upstream.py (Python ssl, OpenSSL 3, TLS 1.3
    # unless tls_max says otherwise) serving a leaf of a tls-certs.sh set made for the capture
    # (its root.pem is committed beside it as SCENARIO.root.pem). Evidence "gateway_alert": the
    # gateway's frame carrying its alert record `marker`: in TLS 1.3 Go sends it encrypted (a
    # 19-byte application_data record after its ChangeCipherSpec), in TLS 1.2 in the clear. The
    # upstream writes a key log (SCENARIO.keylog) with which tshark reads the 1.3 alert.
    S("tls-caddy-cert-expired", "tls.cert.expired",
      "TLS 1.3 server: leaf upstream.test (notAfter 30 days ago) + intermediate (encrypted)",
      [], evidence="server_certificate", marker=None, kind="tls", tls_cert="expired", gateways=()),
    S("tls-caddy-unknown-ca", "tls.cert.unknown_ca",
      "TLS 1.3 server: leaf upstream.test + intermediate of a CA the gateway does not trust (encrypted)",
      [], evidence="server_certificate", marker=None, kind="tls", tls_cert="other-ca", gateways=()),
    S("tls-caddy-name-mismatch", "tls.cert.name_mismatch",
      "TLS 1.3 server: leaf for wrong.test only + intermediate (encrypted); the gateway expects upstream.test",
      [], evidence="server_certificate", marker=None, kind="tls", tls_cert="wrong-name", gateways=()),
    S("tls-caddy-cert-expired-1.2", "tls.cert.expired",
      "TLS 1.2 server: leaf upstream.test (notAfter 30 days ago) + intermediate (in the clear)",
      [], evidence="server_certificate", marker=None, kind="tls",
      tls_cert="expired", tls_max="1.2", wire_verdict="tls.cert.expired", gateways=()),
    S("tls-caddy-healthy", "none",
      "TLS 1.3 server: valid leaf upstream.test + intermediate, keep-alive HTTP/1.1; 4 GETs "
      "(Content-Length and chunked bodies)",
      [], evidence=None, kind="tls", tls_cert="valid", requests=4, gateways=()),
    S("healthy-keepalive-short", "none",
      "healthy keep-alive upstream: 20 GETs on one client connection, Content-Length and chunked "
      "bodies", [], evidence=None, kind="healthy", gateways=(), requests=20),
]


def _add_new(new):
    names = {s["name"] for s in SCENARIOS}
    SCENARIOS.extend(s for s in new if s["name"] not in names)


_add_new(_NEW)

# Per gateway folder: scenario -> what the committed run showed: client status, class, curl's
# exit code, and a regular expression the gateway_log must match in full (Caddy: the error
# entry's msg, or "msg: error" of the reverse proxy's body-failure entries; Varnish: the
# FetchError texts, or the backend Error text when there is no FetchError). build-truth.py
# fails when a new run differs.
def G(status, cls, log=None, curl_exit=0, no_connection=None):
    e = {"status": status, "class": cls, "curl_exit": curl_exit, "log_re": log}
    if no_connection is not None:
        e["no_connection"] = no_connection
    return e


GO_BROKEN = r"net/http: HTTP/1\.x transport connection broken: "
CADDY_EXPIRED = r"x509: certificate has expired or is not yet valid: current time \S+ is after \S+"
CADDY_BODY = r"reading from backend: %s; aborting with incomplete response: %s"
GATEWAY_FOLDER_EXPECT = {
    "caddy": {
        "tcp-connect-refused-twice": G(502, "502", r"dial tcp 127\.0\.0\.1:\d+: connect: connection refused",
                                       no_connection=0),
        "tcp-rst-before-response": G(502, "502", r"read tcp 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+: read: "
                                                 r"connection reset by peer"),
        "fin-before-response": G(502, "502", r"EOF"),
        "tcp-fin-mid-headers": G(502, "502", GO_BROKEN + r'malformed MIME header: missing colon: "Content-Ty"'),
        "tcp-fin-mid-body-cl": G(200, "truncated", CADDY_BODY % ("unexpected EOF", "unexpected EOF"), 18),
        "tcp-fin-mid-body-chunked": G(200, "truncated", CADDY_BODY % ("unexpected EOF", "unexpected EOF")),
        "tcp-rst-mid-body": G(200, "truncated", CADDY_BODY % ((r"read tcp \S+->\S+: read: connection reset by peer",) * 2),
                              18),
        "tcp-read-timeout": G(504, "504", r"net/http: timeout awaiting response headers"),
        "http-status-line-bad-version": G(502, "502", GO_BROKEN + r'malformed HTTP version "HTTP/2"'),
        "proto-non-http-response": G(502, "502", GO_BROKEN + r'malformed HTTP status code "unknown"'),
        # Two outcomes, both measured: Go's transport sees the banner before it writes the
        # request (readLoopPeekFailLocked; the request never goes out), or writes the request and
        # then reads the banner as a status line.
        "proto-server-speaks-first": G(502, "502", r"readLoopPeekFailLocked: <nil>|" + GO_BROKEN +
                                       r'malformed HTTP status code "Debian-2\+deb12u3"'),
        "http-header-name-ctl-or-space": G(200, "truncated", r"aborting with incomplete response: context canceled", 28),
        "http-header-obs-fold": G(200, "ok"),
        "http-line-bare-lf": G(200, "ok"),
        "http-header-value-nul": G(200, "ok", None, 8),
        "http-header-head-20k": G(200, "ok"),
        "http-header-too-many": G(200, "ok"),
        "http-cl-duplicate-differ": G(502, "502", GO_BROKEN + r'http: message cannot contain multiple '
                                                              r'Content-Length headers; got \["5" "7"\]'),
        "http-te-cl-both": G(200, "ok"),
        "http-chunked-bad-size": G(200, "truncated", CADDY_BODY % (("invalid byte in chunk length",) * 2)),
        "http-upstream-5xx": G(503, "relayed"),
        "healthy-keepalive-short": G(200, "ok"),
        "tcp-connect-timeout": G(502, "502", r"dial tcp 10\.201\.0\.2:\d+: i/o timeout"),
        # Caddy never flushed the head: curl got nothing (http_code 000) and gave up after 8 s;
        # Caddy's access log says 200, size 10.
        "http-cl-invalid": G(502, "502", GO_BROKEN + r'bad Content-Length "abc"'),
        "http-te-not-chunked": G(502, "502", GO_BROKEN + r'unsupported transfer encoding: "gzip"'),
        "http-header-missing-colon": G(502, "502", GO_BROKEN + r'malformed MIME header: missing colon: "Foo"'),
        "http-status-line-bad-code": G(502, "502", GO_BROKEN + r'malformed HTTP status code "2000"'),
        "http-chunked-data-len-mismatch": G(200, "truncated", CADDY_BODY % (("malformed chunked encoding",) * 2)),
        "http-body-extra-after-message": G(200, "ok"),
        "tcp-read-timeout-mid-body": G(None, "truncated", r"aborting with incomplete response: context canceled", 28),
        "proto-plain-to-tls-port": G(502, "502", r"read tcp 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+: read: "
                                                 r"connection reset by peer"),
        "tls-caddy-cert-expired": G(502, "502", CADDY_EXPIRED),
        "tls-caddy-unknown-ca": G(502, "502", r"x509: certificate signed by unknown authority"),
        "tls-caddy-name-mismatch": G(502, "502", r"x509: certificate is valid for wrong\.test, not upstream\.test"),
        "tls-caddy-cert-expired-1.2": G(502, "502", CADDY_EXPIRED),
        "tls-caddy-healthy": G(200, "ok"),
    },
    "varnish": {
        "tcp-connect-refused-twice": G(503, "503", r"backend default: fail errno 111 \(Connection refused\)",
                                       no_connection=1),
        "tcp-rst-before-response": G(503, "503", r"HTC eof \(-1\)"),
        "fin-before-response": G(503, "503", r"HTC eof \(-1\)"),
        "tcp-fin-mid-headers": G(503, "503", r"HTC eof \(-1\)"),
        "tcp-fin-mid-body-cl": G(200, "truncated", r"straight insufficient bytes", 18),
        "tcp-fin-mid-body-chunked": G(200, "truncated", r"chunked read err", 18),
        "tcp-rst-mid-body": G(200, "truncated", r"Connection reset by peer; straight insufficient bytes", 18),
        "tcp-read-timeout": G(503, "503", r"first byte timeout"),
        "http-status-line-bad-version": G(503, "503", r"http format error"),
        "proto-non-http-response": G(503, "503", r"HTC eof \(-1\)"),
        "proto-server-speaks-first": G(503, "503", r"HTC eof \(-1\)"),
        "http-header-name-ctl-or-space": G(503, "503", r"http format error"),
        "http-header-obs-fold": G(200, "ok"),
        "http-line-bare-lf": G(200, "ok"),
        "http-header-value-nul": G(503, "503", r"http format error"),
        "http-header-head-20k": G(200, "ok"),
        "http-header-too-many": G(503, "503", r"http format error"),
        "http-cl-duplicate-differ": G(200, "truncated", None, 18),   # the client reads 7 of 5
        "http-te-cl-both": G(503, "503", r"Body cannot be fetched"),
        "http-chunked-bad-size": G(200, "truncated", r"chunked header non-hex", 18),
        "http-upstream-5xx": G(503, "relayed"),
        "healthy-keepalive-short": G(200, "ok"),
        "tcp-connect-timeout": G(503, "503", r"backend default: fail errno 110 \(Connection timed out\)"),
        "http-cl-invalid": G(503, "503", r"Body cannot be fetched"),
        "http-te-not-chunked": G(503, "503", r"Body cannot be fetched"),
        "http-header-missing-colon": G(503, "503", r"http format error"),
        "http-status-line-bad-code": G(503, "503", r"http format error"),
        "http-chunked-data-len-mismatch": G(200, "truncated", r"chunked tail no NL", 18),
        "http-body-extra-after-message": G(200, "ok"),
        "tcp-read-timeout-mid-body": G(200, "truncated", r"Resource temporarily unavailable; straight insufficient bytes",
                                       18),
    },
}

BY_NAME = {s["name"]: s for s in SCENARIOS}


def jobs():
    """(scenario, gateway) pairs, in run order; the capture base name of each."""
    out = []
    for s in SCENARIOS:
        for gw in s["gateways"]:
            out.append((s["name"], gw, base_name(s["name"], gw)))
    for gw, table in GATEWAY_FOLDER_EXPECT.items():
        for name in table:
            out.append((name, gw, base_name(name, gw)))
    return out


def base_name(name, gw):
    """The capture's base name, relative to captures/: a folder per gateway, GATEWAY/SCENARIO
    (nginx/, apache/, lighttpd/, caddy/, varnish/), except HAProxy's, whose files keep the
    `.haproxy` of their names: haproxy/SCENARIO.haproxy."""
    if gw in GATEWAY_FOLDER_EXPECT or gw in gw_apache_lighttpd.KINDS or gw == "nginx":
        return "%s/%s" % (gw, name)
    return "%s/%s.%s" % (gw, name, gw)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        for name, gw, base in jobs():
            print("%s %s %s" % (name, gw, base))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--show":
        s = dict(BY_NAME[sys.argv[2]])
        s["steps"] = [[st[0]] + [x.decode("latin-1") if isinstance(x, bytes) else x for x in st[1:]]
                      for st in s["steps"]]
        s["marker"] = s["marker"].hex() if s["marker"] else None
        print(json.dumps(s, indent=2))
        return
    sys.exit("usage: scenarios.py --list | --show NAME")


if __name__ == "__main__":
    main()
