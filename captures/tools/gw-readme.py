#!/usr/bin/env python3
"""Write captures/<gateway>/README.md (apache, lighttpd) from the folder's truth files.

  gw-readme.py apache|lighttpd

One row per capture: the scenario, what the upstream sends, what curl got (status, exit code,
body bytes), the class, the gateway's decisive error-log line (every line it wrote about the
request in the last column's note) and the edgescope code the upstream's bytes are (the truth's
`verdict`). Everything comes from the truth files, which come from the gateway's logs and curl.
"""

import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))   # captures/tools
CAPS = os.path.dirname(HERE)                          # captures/

INTRO = {
    "apache": """# Apache httpd 2.4 captures

Captures of the gateway -> upstream hop behind **{gateway}** (Debian 12's `apache2`), each with
its ground truth from Apache's own error log and access log, the scripted upstream's log and
curl's result (never from edgescope). Made by `sudo captures/tools/make-captures.sh apache` (one:
`make-captures.sh apache/<scenario>`): run-scenario.py starts a private Apache from
`gw_apache_lighttpd.py`'s configuration, the upstream from scenarios.py, tcpdump on the upstream
port; build-truth.py `--kind apache` writes the truth; check-capture.py checks it.

Configuration: mpm_event with one child process (so every request shares one backend connection
pool), mod_proxy + mod_proxy_http, `ProxyPass / http://127.0.0.1:PORT/ retry=0
connectiontimeout=2 timeout=5 keepalive=On` (`timeout=2` for tcp-read-timeout), one member (no
balancer: nothing to fail over to), `LogLevel warn` (Debian's default), the default
`ErrorLogFormat`. `retry=0` keeps a failed member usable for the next request (the default, 60,
answers the next minute's requests with 503 and no SYN). The upstream is on 127.0.0.1:28090
(10.201.0.2:28090 in the network-namespace scenarios); `[client 127.0.0.1:PORT]` stands for the
client's port, which changes from run to run.

TLS captures (`tls-*`, from tls_scenarios.py; `sudo captures/tools/make-captures.sh apache-tls` makes
them all, with one certificate set of their own, installed as `apache/tls/*.pem`, certificates
only; the truths' `tls.ca_file` is `apache/tls/root.pem`): mod_ssl with `ProxyPass /
https://127.0.0.1:PORT/`, `SSLProxyEngine on`, `SSLProxyVerify require`, `SSLProxyVerifyDepth 5`,
`SSLProxyCACertificateFile root.pem`, `SSLProxyCheckPeerName on`, `SSLProxyCheckPeerExpire on`,
`ProxyPreserveHost On`; curl sends `Host: upstream.test`, which Apache sends as SNI and checks the
certificate against. `tls-plain-to-tls-port-alert` is Apache with `ProxyPass / http://` in front
of a TLS port.

Files per scenario: `<scenario>.pcap`, `.error.log` (what Apache logged while the scenario's
requests ran: no start-up or shut-down lines), `.access.log` (`%{{%s}}t.%{{usec_frac}}t %>s "%r" %a
%{{remote}}p %D %X`), `.upstream.log`, `.client.log` (curl), `.truth.json`.

In the truth, `client_status` is what curl got, `class` is `500`/`502`/`503`/`504` (Apache made
that status), `truncated` (the client got the upstream's status and a cut body; curl exit 18),
`relayed` (the upstream's own 5xx), `ok`; `gateway_log` is the decisive line (the first at error
level or above, else the first; the client port replaced by `PORT`), `gateway_log_lines` all of
them, `verdict` the edgescope code the upstream's bytes are.
""",
    "lighttpd": """# lighttpd 1.4 captures

Captures of the gateway -> upstream hop behind **{gateway}** (Debian 12's `lighttpd`), each with
its ground truth from lighttpd's own error log and access log, the scripted upstream's log and
curl's result (never from edgescope). Made by `sudo captures/tools/make-captures.sh lighttpd` (one:
`make-captures.sh lighttpd/<scenario>`): run-scenario.py starts a private lighttpd from
`gw_apache_lighttpd.py`'s configuration, the upstream from scenarios.py, tcpdump on the upstream
port; build-truth.py `--kind lighttpd` writes the truth; check-capture.py checks it.

Configuration: mod_proxy, `proxy.server = ( "" => ( ( "host" => ..., "port" => ...,
"connect-timeout" => 2, "read-timeout" => 5 ) ) )` (`read-timeout` 2 for tcp-read-timeout), one
backend, default error-log verbosity. lighttpd 1.4's mod_proxy keeps no backend connections: it
sends each request with `Connection: close` on a connection of its own (healthy-control: 200
requests, 200 upstream connections). The upstream is on 127.0.0.1:28090 (10.201.0.2:28090 in the
network-namespace scenarios). lighttpd's lines name neither the client nor (mostly) the request;
the file descriptors in them (`read() 10 11`, `fd: 11`) change with the set-up.

Files per scenario: `<scenario>.pcap`, `.error.log` (what lighttpd logged while the scenario's
requests ran), `.access.log` (`%{{%s}}t.%{{usec_frac}}t %>s "%r" %h %b %D`), `.upstream.log`,
`.client.log` (curl), `.truth.json`.

In the truth, `client_status` is what curl got, `class` is `500`/`502`/`503`/`504` (lighttpd made
that status), `truncated` (the client got the upstream's status and a cut body: curl exit 18, or
a **hidden cut**: curl exit 0, lighttpd ended its own chunked response cleanly), `relayed` (the
upstream's own 5xx), `ok`, `unknown` (lighttpd answered a status of its own that is no 5xx);
`gateway_log` is lighttpd's first line about the request, or null when it logged nothing.
""",
}


NOTES = {
    "apache": """## What stands out (measured; every scenario ran at least twice with the same outcome)

- **500** is Apache's answer to every TLS failure of the upstream (expired, self-signed, unknown-CA
  certificate, a name mismatch, TLS to a plain-HTTP port) and to a space before a header name's
  colon (`AH02429`, `[http:error]`: Apache read the head, then refused to send it on).
- **503** for a refused connect and for a connect timeout (`AH00957` with `(111)Connection refused`
  or `(70007)The timeout specified has expired`, then `AH01114`).
- **502, not 504**, for the read timeout (`AH01102` with `(70007)`); 502 for RST or FIN before the
  response (`AH01102` with `(104)` or `(20014)`, then `AH00898`), for FIN inside the head and a NUL
  (`AH10404`, at **warn** level, then `AH01106`), a line without a colon (`AH01106` alone) and a
  12 KiB header line (`AH10124 ... ResponseFieldSize (8192 bytes)`, warn).
- **200 with the upstream's bytes as an HTTP/0.9 body** for a non-HTTP response (`-ERR unknown
  command`, 20 body bytes), an SSH banner (38 bytes) and a bad version (`HTTP/2 200 OK`: the client
  gets Apache's own `200` and the upstream's whole response, status line included, as the body, 65
  bytes): Apache logs nothing. `HTTP/1.1 2000 OK` reaches the client as a `200` with the 5-byte
  body (Apache logs 200, nothing in the error log).
- Accepted and forwarded with a 200: obs-fold, 150 header lines, a 20 KiB head of 500-byte lines,
  `Content-Length: 5` + `Content-Length: 7` (the client got 5 bytes), `Content-Length` +
  `Transfer-Encoding: chunked` (5 bytes).
- A cut body (FIN or RST mid-body, a bad chunk size) reaches the client as a 200 with a short body
  and curl exit 18 (`AH01110: error reading response`, with `(70008)Partial results...`, `(104)` or
  `(20014)`).
- TLS: for a certificate Apache rejects it logs `AH02039: Certificate Verification: Error (N): text`
  (`[ssl:error]`, `[remote 127.0.0.1:PORT]` instead of a client) and sends the fatal alert in the
  clear inside the handshake (`certificate_expired`, `unknown_ca`; in TLS 1.3 too), then
  `AH01084: pass request body failed`, `AH00898: Error during SSL Handshake with remote server`,
  `AH01097`. For a **name mismatch** the handshake completes and Apache closes without an alert;
  at `LogLevel warn` (Debian's default) it logs only `AH01084`/`AH00898`/`AH01097`. With
  `LogLevel warn ssl:info` (one run by hand, not a capture) it also logs `[ssl:info] AH02411: SSL
  Proxy: Peer certificate does not match for hostname upstream.test` and `[ssl:info] AH01997: SSL
  handshake failed: sending 502`, although the client gets 500.
- No retry: every failed request made exactly one upstream connection (check-capture.py counts
  them); healthy-control's 200 requests share one keep-alive upstream connection.
""",
    "lighttpd": """## What stands out (measured; every scenario ran at least twice with the same outcome)

- **500** for RST or FIN before the response, FIN inside the head, and a plain request to a TLS port
  (OpenSSL answers it with an RST). FIN: **no error-log line**. RST: `(http-header-glue.c.1341)
  read() 10 11: Connection reset by peer` then `(gw_backend.c.2389) response not received, request
  sent: 200 on socket: tcp:HOST:PORT for /PATH?, closing connection`.
- **503** for a refused connect and for a connect timeout (`(gw_backend.c.274) establishing
  connection failed: socket: tcp:HOST:PORT: Connection refused` / `Connection timed out`, then
  `(gw_backend.c.960) all handlers for /PATH? on  are down.`). With `connect-timeout` 2 the
  connect timeout took 4 s (SYNs at 0, 1, 2 and 3 s).
- **504** for the read timeout (`(gw_backend.c.2708) read timeout on socket: tcp:HOST:PORT (fd: 11)`;
  `read-timeout` 2 took 4 s).
- **502 with no log line** for a non-HTTP response and an SSH banner; 502 for a bad status line
  (`HTTP/2 200 OK`, `HTTP/1.1 2000 OK`) with `(http-header-glue.c.874) invalid HTTP status line:`
  and the head, CR and LF written as `\\r\\n`.
- **404 of lighttpd's own** for `Content-Length : 5` (a space before the colon; the upstream keeps
  the connection open): after 7 s (`read-timeout` 5) it logs the read timeout and answers
  `404 Not Found` (class `unknown`: a status of the gateway's own that is no 5xx). A run by hand with
  `debug.log-request-handling` shows why: after `read timeout on socket` the request goes on to the
  static-file handler, which finds no file under the document root (`(response.c.203) -- : No such
  file or directory`); with no response byte at all (tcp-read-timeout) the answer is a 504.
- Relays a **NUL** in a header value to the client (curl: `(8) Nul byte in header`).
- Accepts and forwards with a 200: obs-fold, a line without a colon, a 12 KiB header line, a 20 KiB
  head, 150 header lines, `Content-Length: 5` + `Content-Length: 7` (the client got 5 bytes), CL+TE.
- **Hidden cuts**: FIN after one chunk of a chunked body (no last chunk) and a bad chunk size reach
  the client as a clean 200 (curl exit 0, 10 and 0 body bytes); the bad chunk size logs
  `(gw_backend.c.2396) response already sent out, but backend returned error on socket: ...,
  terminating connection`, the missing last chunk nothing. A cut `Content-Length` body (FIN or RST)
  gives curl exit 18.
- No retry; no backend keep-alive (200 requests, 200 connections).
""",
}


def cell(text):
    return (text or "").replace("|", "\\|").replace("\n", " ")


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in INTRO:
        sys.exit("usage: gw-readme.py apache|lighttpd")
    kind = sys.argv[1]
    folder = os.path.join(CAPS, kind)
    rows = []
    gateway = None
    for path in sorted(glob.glob(os.path.join(folder, "*.truth.json"))):
        t = json.load(open(path))
        gateway = t["gateway"]
        conns = [c for c in t["expected_connections"] if c["finding"] != "none"] or t["expected_connections"]
        c = conns[0]
        client = "%s" % (c["client_status"] if c["client_status"] is not None else "none")
        extra = []
        if c.get("curl_exit"):
            extra.append("curl exit %d" % c["curl_exit"])
        extra.append("%s body bytes" % c.get("size_download"))
        sends = t["upstream_sends"]
        if t["scenario"] == "healthy-control":
            n = sum(x["request_count"] for x in t["expected_connections"])
            sends = ("healthy keep-alive upstream: %d GETs, Content-Length and chunked bodies (1 in 10 "
                     "chunked responses sends each chunk in its own segment)" % n)
            extra = ["%d requests on %d upstream connection(s)" % (sum(x["request_count"] for x in t["expected_connections"]),
                                                                   len(t["expected_connections"]))]
        lines = c.get("gateway_log_lines") or []
        logcell = "`%s`" % c["gateway_log"] if c.get("gateway_log") else "(nothing)"
        if len(lines) > 1:
            logcell += " then " + ", ".join("`%s`" % l for l in lines[1:])
        rows.append("| %s | %s | %s (%s) | %s | %s | `%s` |" % (
            t["scenario"], cell(sends), client, ", ".join(extra), c["class"],
            cell(logcell), c["verdict"]))
    out = [INTRO[kind].format(gateway=gateway), "",
           "| scenario | upstream sends | client status (curl) | class | gateway error log | edgescope code |",
           "|---|---|---|---|---|---|"] + rows
    out += ["", NOTES[kind].rstrip()]
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
