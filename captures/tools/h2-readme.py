#!/usr/bin/env python3
"""Write captures/http2/README.md from the truths in captures/http2/ (stdlib only).

  python3 captures/tools/h2-readme.py captures/http2
"""

import glob
import json
import os
import sys

HEAD = """# HTTP/2 and gRPC captures (issue 18)

Both hops of a real gateway speaking HTTP/2 to its upstream: **nginx 1.22.1** (`grpc_pass
grpc://`, `grpcs://` for the TLS ones) and **HAProxy 2.6.12** (`server ... proto h2`, `ssl alpn h2`
for the TLS ones), each in front of an upstream scripted frame by frame (`tools/h2_upstream.py`,
PyPI `hyperframe` + `hpack`) or a real gRPC server (`tools/h2_grpc_upstream.py`, PyPI `grpcio`).
The client is `curl --http2-prior-knowledge` (one curl per request) or a grpcio client
(`tools/h2_grpc_client.py`), both to the gateway's h2c listener. Made by
`sudo captures/tools/make-captures.sh http2` (one: `make-captures.sh http2/h2-goaway.haproxy`),
which runs `tools/h2-captures.sh` -> `tools/h2-run.py` per capture; scenarios in
`tools/h2_scenarios.py`; truth by `tools/h2_truth.py`; this table by `tools/h2-readme.py`.
Needs `pip install h2 hyperframe hpack grpcio` in the `python3` on PATH.

**Both hops are in every capture**: the client hop on port 18400 (client -> gateway, HTTP/2 with
prior knowledge) and the upstream hop on port 18401 (gateway -> upstream). Decode both with
`tshark -d tcp.port==18400,http2 -d tcp.port==18401,http2` (the TLS ones also with
`-o tls.keylog_file:http2/<capture>.keylog`: the upstream's own NSS key log, written by Python's
ssl module, since neither gateway writes one; `<capture>.root.pem` is the test CA the gateway
verified the upstream with, name `upstream.test`). `expected_connections` lists the upstream-hop
connections only; `client_requests` says what the client got on the client hop (its
`client_port`), and `client_hop_rst_streams` lists every RST_STREAM the gateway sent its client
(tshark: frame, client port, stream, error code). `client_hop_connections` lists every request
stream of the client hop (tshark's decode: client port, stream id, request, the `:status` the
gateway sent and its frame, the RST_STREAM it sent and its frame, and the client's own RST_STREAM:
curl resets a stream whose body ends short of its content-length) and `client_errors` those that
got a 5xx, a reset (either way) or a non-OK gRPC status, each joined to the upstream connection and stream that
carried its request (`upstream_connection`, `upstream_stream_id`, `cause`: that connection's
code), in the shape of `nginx/client-hop.truth.json`; the i-th client stream of a path is joined
to the i-th upstream stream of that path (curl's retries and HAProxy's keep that order).

Ground truth only from the gateway's own log (nginx error.log and access log, the HAProxy log
line), the client's outcome (curl's `-w %{json}`: `http_code`, `exitcode`, `errormsg`; the grpcio
client's status code) and the upstream script's log (every frame it sent, with the offset of its
first byte in the upstream -> gateway byte stream, decrypted for TLS). Never from edgescope.
tshark on the finished capture finds the evidence frame (`evidence_filter`: the frame whose bytes
the upstream's log names) and the run checks that tshark decodes it as the HTTP/2 frame type
(`evidence_http2_type`) and stream id (`stream_id`) the truth says. `evidence_stream_offset` is the
offset of that HTTP/2 frame's first byte (frame header) in the upstream -> gateway stream, from the
upstream's log, and checked against the bytes tshark follows (`-z follow,tcp,raw`) for the plain
captures; for `tcp.fin.mid_body` the offset where the FIN came (the stream's length); for the grpcio
server (which logs no frames) the first HEADERS frame whose block, HPACK-decoded (PyPI `hpack`)
along the connection, carries the grpc-status, walking the followed bytes from offset 0. It is
null for `tls.alpn.no_h2` (the evidence is a handshake record).

Gateway configuration: nginx `listen 127.0.0.1:18400 http2`, `upstream up { server
127.0.0.1:18401; keepalive 4; }`, `grpc_pass grpc://up` (or `grpcs://up` with `grpc_ssl_verify
on`, `grpc_ssl_trusted_certificate`, `grpc_ssl_name upstream.test`, `grpc_ssl_server_name on`,
`grpc_ssl_protocols TLSv1.2 TLSv1.3`), `grpc_next_upstream off`, connect timeout 2 s, send and read
timeouts 5 s, error log at `warn`. HAProxy: `mode http`, `option httplog`, `bind 127.0.0.1:18400
proto h2`, `server s1 127.0.0.1:18401 proto h2` (or `ssl verify required ca-file ... sni
str(upstream.test) verifyhost upstream.test alpn h2`), timeouts connect 2 s / client 10 s / server
5 s, default `retries` (3) and `retry-on` (connect-failure).

Files per capture: `<capture>.pcap`, `.error.log` + `.access.log` (nginx) or `.haproxy.log`,
`.upstream.log`, `.client.log`, `.truth.json` (and `.keylog`, `.root.pem` for TLS).

How a code is read from the logs (`tools/h2_truth.py`): nginx names the fault in its error.log
line (`upstream rejected request with error N` -> `h2.rst_stream.before_response`, `upstream sent
goaway with error N` -> `h2.goaway`, `too large http2 frame: 4740180` -> `proto.h1_response_to_h2`,
or `tls.alpn.no_h2` over TLS when the upstream selected no ALPN protocol, and so on: the table
below has every line). HAProxy's line does not name the fault (only `PH--`, `SD--`, `SC--` or no
line at all), so its code is the fault the upstream's log says it sent. Classes: `502`/`503` when
the client got that status, `truncated` when the client got a response head and then a reset
stream (or, behind HAProxy, no response at all: its stream was reset with REFUSED_STREAM, curl
retried and gave up; the `client_status` is then null), `relayed` for a non-OK gRPC status the
gateway passed on, `ok` when the client got a whole response (the codes nginx or HAProxy
tolerate keep their code with class `ok`).

| capture | gateway | the upstream sends | client got | gateway log | expected code | class | stream | evidence frame | stream offset |
|---|---|---|---|---|---|---|---|---|---|
"""


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def client_got(t):
    out = []
    for r in t["client_requests"]:
        if "grpc_code" in r:
            out.append("gRPC %s" % r.get("grpc_code_name", r["grpc_code"]))
        elif r.get("status"):
            out.append(str(r["status"]) + (" then curl %s (%s)" % (r["curl_exit"], r["errormsg"]) if r.get("curl_exit") else ""))
        else:
            out.append("no status: curl %s (%s)" % (r.get("curl_exit"), r.get("errormsg")))
    if len(set(out)) == 1 and len(out) > 1:
        return "%d x %s" % (len(out), out[0])
    return "; ".join(out)


def main(folder):
    rows = []
    for f in sorted(glob.glob(os.path.join(folder, "*.truth.json"))):
        t = json.load(open(f))
        conns = t["expected_connections"]
        c = next((c for c in conns if c["finding"] != "none"), conns[0] if conns else None)
        if c is None:
            continue
        log = c.get("gateway_log") or ("(no line)" if t["gateway_kind"] == "haproxy" else "(nothing in error.log)")
        if t["gateway_kind"] == "nginx" and c.get("gateway_log"):
            log = c["gateway_log"].split(", client:")[0]
        if t["gateway_kind"] == "haproxy" and c.get("haproxy_termination"):
            log = "`%s` %s" % (c["haproxy_termination"], c["haproxy_status"])
        else:
            log = "`%s`" % log if not log.startswith("(") else log
        n = len(conns)
        extra = " (%d upstream connections)" % n if n > 1 else ""
        streams = sorted({s["stream_id"] for c2 in conns for s in c2.get("streams", [])})
        sid = c.get("stream_id")
        if len(streams) > 1 and c["finding"] == "none":
            sid = ",".join(map(str, streams))
        rows.append("| `%s` | %s | %s%s | %s | %s | `%s` | %s | %s | %s | %s |" % (
            t["capture"], t["gateway"], cell(t["upstream_sends"]), extra, cell(client_got(t)), cell(log),
            c["finding"], c["class"], sid if sid is not None else "—",
            c.get("evidence_frame") or "—",
            c.get("evidence_stream_offset") if c.get("evidence_stream_offset") is not None else "—"))
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write(HEAD + "\n".join(rows) + "\n" + TAIL)


TAIL = """
What the runs showed (read from the logs above, measured here):

- nginx names every upstream fault in one `[error]` line. Before the response head it answers 502;
  after it (content-length shorter than the DATA, DATA on a closed stream, trailers without
  END_STREAM, a FIN mid-body) the client already has the 200 head and gets its stream reset with
  INTERNAL_ERROR (curl exit 92, `HTTP/2 stream 1 was not closed cleanly: INTERNAL_ERROR (err 2)`).
  The hpack and the uppercase cases add a second line, `upstream sent invalid header while reading
  response header from upstream`.
- nginx tolerates `connection:` and `transfer-encoding:` in a response and a server whose first
  frame is not SETTINGS (200, nothing logged); HAProxy answers 502 `PH--` for the first and
  treats the second as a connect failure (`SC--`, 503 after 3 retries: four upstream connections).
- HAProxy gives no status and logs nothing when the stream dies before a response (RST_STREAM,
  GOAWAY, a bad HPACK index, SETTINGS on a stream): the client's stream is reset with
  REFUSED_STREAM and curl retries it (`Connection died, tried 5 times before giving up`, exit 56):
  one request became six upstream streams, on one upstream connection for RST_STREAM and on six
  connections for the connection errors (GOAWAY from the upstream, or HAProxy's own GOAWAY with
  COMPRESSION_ERROR (9) or PROTOCOL_ERROR (1)).
- HAProxy after the response head (`SD--`: a FIN mid-body, or DATA with END_STREAM short of the
  content-length) forwards what it got and then ends the client's stream normally (an empty DATA
  with END_STREAM, or the short DATA's own END_STREAM); it is curl that notices the short body and
  resets the stream with PROTOCOL_ERROR (exit 92). nginx resets the client's stream itself with
  INTERNAL_ERROR (`client_hop_rst_streams`).
- Multiplexing: nginx 1.22 grpc_pass never puts two requests on one upstream connection at once
  (sequential requests reuse the keep-alive connection: streams 1, 3, 5, 7). HAProxy does with
  `http-reuse always` (`h2-healthy-parallel.haproxy`: four client connections at once, two
  upstream connections with streams 1 and 3 open together, their HEADERS in one segment); with the
  default `http-reuse safe` each client connection got its own upstream connection.
- HPACK: nginx advertises SETTINGS_HEADER_TABLE_SIZE 0, so index 62 is past its (empty) dynamic
  table (`invalid http2 table index: 62`) and a table size update to 4096 is refused (`invalid
  http2 dynamic table size update: 31`: nginx prints the update's 5-bit prefix, not 4096). HAProxy
  advertises no table size (4096 by default), so that update is legal there (not captured).
  A Huffman string ending in 24 one-bits (padding longer than 7 bits, a decoding error by RFC 7541
  5.2) is accepted by nginx, which drops the field and answers 200 (tshark's decoder stops there
  too); HAProxy answers it with GOAWAY COMPRESSION_ERROR (9) and the REFUSED_STREAM retries.
- Flow control: HAProxy advertises no SETTINGS_INITIAL_WINDOW_SIZE (65535 per stream and for the
  connection) and sends no WINDOW_UPDATE before the first DATA; an upstream that writes 70000
  bytes at once passes both windows with its fourth DATA frame (`h2-flow-control.haproxy`), and
  HAProxy 2.6 takes it all: 200, the whole body, `----`, then WINDOW_UPDATEs. nginx 1.22
  advertises SETTINGS_INITIAL_WINDOW_SIZE 2147483647 and a connection WINDOW_UPDATE of 2147418112,
  so no upstream can overrun its windows: there is no nginx flow-control capture.
- TLS without ALPN h2: nginx `grpcs://` speaks HTTP/2 anyway and reads the HTTP/1.1 server's
  answer to the preface as a frame (`too large http2 frame: 4740180`, 502); HAProxy `ssl alpn h2`
  (without `proto h2`) falls back to HTTP/1.1 on that connection and the request succeeds (200,
  `----`): the same code, `tls.alpn.no_h2`, with class ok. Its evidence is the server's
  EncryptedExtensions (decrypted with the key log), which carries no ALPN.
- An HTTP/1 upstream: nginx logs `upstream sent too large http2 frame: 4740180` (0x485454, "HTT"
  read as a frame length); HAProxy `SC--` 503 after its retries.
- nginx 1.22 grpc_pass reuses its keep-alive upstream connection for sequential requests: stream
  ids 1, 3, 5, 7 on one connection. curl 7.88 fails every transfer after the first one it
  multiplexes on a prior-knowledge connection (`Error in the HTTP2 framing layer`), so each request
  is its own curl (its own client-hop connection, stream 1).
"""

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "http2"))
