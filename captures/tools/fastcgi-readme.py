#!/usr/bin/env python3
"""Write captures/fastcgi/README.md from the truth files there (fastcgi-truth.py wrote them from the
gateways' own logs): the table of scenario, what the client got, the gateway's own log text and the
expected code, after the fixed text of INTRO and NOTES.

  fastcgi-readme.py --dir captures/fastcgi
"""

import argparse
import glob
import json
import os

INTRO = """# FastCGI captures (issue 17)

Both hops of a real gateway in front of a FastCGI application server, in one capture each:
client (curl) -> gateway on 127.0.0.1:19380, and gateway -> FastCGI upstream on 127.0.0.1:19381
(Debian 12's **php8.2-fpm**, `PHP 8.2`) or 127.0.0.1:19382 (**fcgi-upstream.py**, a FastCGI server
scripted in Python with its own record writer, for the record-level faults php-fpm never makes);
127.0.0.1:19383 has nothing listening (the refused scenarios). The gateways are Debian 12's
**nginx 1.22.1** (`fastcgi_pass`), **Apache 2.4** (`mod_proxy_fcgi`) and **Caddy 2.6.2**
(`php_fastcgi`). Made by `sudo captures/tools/make-captures.sh fastcgi` (one:
`make-captures.sh fastcgi/nginx-killed-before-output`) with `fastcgi-run.py`; the scenarios and
the log-to-code rules are in `fastcgi_scenarios.py`, the PHP scripts in `tools/fastcgi-php/`.

The ground truth comes only from the gateway's own logs, curl's result and the upstream's own
log (php-fpm's error log and access log, or the scripted server's line per connection);
`fastcgi-truth.py` maps the gateway's decisive log line (the first about that request at level
error or above) to the code with `fastcgi_scenarios.RULES`, never from edgescope. tshark on the
finished capture finds which FastCGI connection carried which request (HTTP_X_REQUEST_ID in its
FCGI_PARAMS: every client request sends `X-Request-Id: fcgi-<capture>-<n>`) and the evidence frame.

Files per capture: `<gateway>-<scenario>.pcap`, `.error.log` (nginx's or Apache's error log;
Caddy's JSON log, every entry, DEBUG level), `.access.log` (nginx: `$msec $status
"$upstream_addr" "$upstream_status" "$request" $remote_addr $remote_port $request_id
"$http_x_request_id" $body_bytes_sent`; Apache: `%{%s}t.%{usec_frac}t %>s "%r" %a %{remote}p %D %X
"%{X-Request-Id}i" %B`), `.upstream.log` (php-fpm's own log, or the scripted server's),
`.upstream-access.log` (php-fpm: `"%m %{REQUEST_URI}e" status=%s duration_ms=%{mili}d
request_id=%{HTTP_X_REQUEST_ID}e`), `.client.log` (curl, a JSON line per request), `.truth.json`.

Configuration. php-fpm: its own master (`php-fpm8.2 -F -y php-fpm.conf -c php.ini`, its own process
group), `pm = static`, `pm.max_children = 2` (pool-exhausted: `pm = ondemand`, 1), php.ini with
`display_errors Off`, `log_errors On`, no `error_log` (PHP's messages go to the gateway as
FCGI_STDERR), `output_buffering 0`, `expose_php Off`. nginx: `fastcgi_pass` to an `upstream` block
(`keepalive 4` and `fastcgi_keep_conn on` only in healthy-keep-conn), Debian's `fastcgi_params`,
`fastcgi_next_upstream off`, `fastcgi_connect_timeout 2s`, `fastcgi_read_timeout 5s` (2s in
read-timeout and pool-exhausted), `fastcgi_buffer_size 4k`, error log at `warn`. Apache: mpm_event,
one child, `ProxyPass "/" "fcgi://127.0.0.1:PORT/DOCROOT/" retry=0 connectiontimeout=2 timeout=5`
(`timeout=2` in read-timeout), `LogLevel warn`. Caddy: `root * DOCROOT`, `php_fastcgi 127.0.0.1:PORT
{ dial_timeout 2s; read_timeout 5s (2s); write_timeout 5s }`, the global log at DEBUG as JSON.

In the truth, `expected_connections` are the FastCGI connections (gateway -> upstream):
`verdict`/`finding` is the code, `class` what the client saw (`500`/`502`/`503`/`504` the gateway's
own answer or PHP's 500, `truncated` a cut body, `ok`), `gateway_log` the decisive line,
`evidence_frame` with `evidence_filter` (tshark), and for FastCGI content `evidence_stream_offset`
(from the first byte the upstream sent on that connection), `evidence_content_offset` (from the
first content byte of that record type, FCGI_STDOUT or FCGI_STDERR, on it) and
`evidence_record_type`. `client_hop_connections` are the client -> gateway connections (with the
frame of the gateway's response), `client_errors` every client 5xx with the FastCGI connection
behind it (`generated_by`: `upstream` when php-fpm's access log has the same status, i.e. PHP's own
answer, else `gateway`). `stderr_text` is the FCGI_STDERR content as sent.
"""

NOTES = """
## Codes not in issue 17's list

Scripted scenarios that end in a way issue 17 names no code for; their truths use a name the
analyzer may adopt or map (flagged here, not invented silently):

- `fcgi.end_request.unknown_role` (nginx-unknown-role): FCGI_END_REQUEST with protocolStatus
  FCGI_UNKNOWN_ROLE (3), which issue 17 names as a finding beside OVERLOADED and CANT_MPX_CONN
  without a code; nginx logs the same `unexpected FastCGI record: 3`.
- `fcgi.end_request.before_stdout` (nginx-end-before-stdout): FCGI_END_REQUEST (REQUEST_COMPLETE)
  with no FCGI_STDOUT at all; nginx: `upstream sent unexpected FastCGI record: 3`, the same line as
  for OVERLOADED and CANT_MPX_CONN (the protocolStatus, read from the scripted server's log, tells
  them apart).

nginx-no-end-request is `none`: with `fastcgi_keep_conn` off nginx takes the upstream's FIN after the
empty FCGI_STDOUT as the end of the response, answers 200 with the whole body and logs nothing, so
a missing FCGI_END_REQUEST is no failure there (the truth says what the gateway did).
"""


def cell(s):
    return (s or "").replace("|", "\\|").replace("\n", " ⏎ ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    rows = []
    for f in sorted(glob.glob(os.path.join(args.dir, "*.truth.json"))):
        t = json.load(open(f))
        for c in t["expected_connections"]:
            reqs = c["requests"]
            client = ", ".join("%d%s" % (r["status"], " (curl exit %d)" % r["curl_exit"] if r["curl_exit"] else "")
                               for r in reqs)
            log = " then ".join("`%s`" % cell(x[:300] + ("..." if len(x) > 300 else "")) for x in c["gateway_log_lines"]) or "(nothing)"
            rows.append("| `%s` | %s | %s | %s | %s | %s | `%s` | %s | %s |" % (
                t["capture"], t["gateway"], cell(t["upstream_sends"]), c["client"] + " -> " + c["server"], client, log,
                c["verdict"], c["class"], c["evidence_frame"] if c["evidence_frame"] is not None else "-"))
    with open(os.path.join(args.dir, "README.md"), "w") as f:
        f.write(INTRO)
        f.write("\n## The captures\n\n")
        f.write("| capture | gateway | upstream | FastCGI connection | client got | gateway's own log | expected code | class | evidence frame |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n")
        f.write(NOTES)
        extra = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fastcgi-notes.md")
        if os.path.exists(extra):
            f.write("\n" + open(extra).read())


if __name__ == "__main__":
    main()
