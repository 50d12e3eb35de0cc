#!/usr/bin/env python3
"""The FastCGI captures (issue 17): real gateways in front of Debian's php8.2-fpm or the scripted
FastCGI server (fcgi-upstream.py), both hops in one capture. Read by fastcgi-run.py (what to start,
the requests) and fastcgi-truth.py (the rules that turn a gateway's own log text into the expected
code). Stdlib only.

  python3 fastcgi_scenarios.py --list      # "NAME GATEWAY fastcgi/GATEWAY-NAME" per capture

Each capture is `fastcgi/<gateway>-<scenario>.pcap`. Every request path is unique
(`/<script>.php?c=<capture>&n=<i>`) and carries `X-Request-Id: fcgi-<capture>-<i>`, which the gateways
pass on as HTTP_X_REQUEST_ID in FCGI_PARAMS, so a log line, a FastCGI connection and a client result
are joined by it.
"""

import re
import sys

# Ports: BASE (the gateway's listener), BASE+1 php-fpm, BASE+2 the scripted server, BASE+3 nothing.
DEFAULT_BASE = 19380
OFF_GW, OFF_FPM, OFF_SCRIPT, OFF_REFUSED = 0, 1, 2, 3

GATEWAYS = ("nginx", "apache", "caddy")


def S(name, gateways, upstream, requests, note, read_timeout="5s", max_children=2, keep_conn=False, pm="static"):
    """upstream: "php" (php-fpm), "script:<scenario>" (fcgi-upstream.py) or None (nothing listens).
    requests: [(script, start offset in seconds, client status expected per gateway {gw: code})]."""
    return {"name": name, "gateways": gateways, "upstream": upstream, "requests": requests, "note": note,
            "read_timeout": read_timeout, "max_children": max_children, "keep_conn": keep_conn, "pm": pm}


ALL = GATEWAYS
SCENARIOS = [
    S("healthy", ALL, "php", [("hello.php", 0, 200)],
      "php-fpm answers `hello.php` (200, a short text body)"),
    S("healthy-keep-conn", ("nginx",), "php", [("hello.php", 0, 200)] * 4,
      "four requests in turn over one FastCGI connection (`fastcgi_keep_conn on`, upstream `keepalive 4`)",
      keep_conn=True),
    S("killed-before-output", ALL, "php", [("kill.php", 0, {"nginx": 502, "apache": 503, "caddy": 502})],
      "`posix_kill(getmypid(), 9)` before any output"),
    S("killed-mid-body", ALL, "php", [("kill-mid-body.php", 0, 200)],
      "headers and 2000 body bytes (flushed), then `posix_kill(getmypid(), 9)`"),
    S("fatal-error", ALL, "php", [("fatal.php", 0, 500)],
      "an uncaught Error (`Call to undefined function undefined_function_es()`)"),
    S("stderr-warning", ALL, "php", [("warning.php", 0, 200)],
      "a PHP Warning (undefined array key) on FCGI_STDERR, then a good 200"),
    S("invalid-header", ALL, "php", [("bad-header.php", 0, {"nginx": 502, "apache": 500, "caddy": 200})],
      "`header(\"Content Type: text/plain\")`: a space in the header name"),
    S("status-invalid", ("nginx",), "php", [("bad-status.php", 0, 502)],
      "`header(\"Status: abc\")`: a Status header with no status code"),
    S("read-timeout", ALL, "php", [("sleep.php", 0, 504)],
      "`usleep` 10 s; the gateway's read timeout is 2 s (php-fpm answers after the capture ends)",
      read_timeout="2s"),
    S("pool-exhausted", ("nginx",), "php", [("sleep.php?s=1.5", 0, 200), ("sleep.php?s=1.5", 0.3, 504)],
      "pm = ondemand, pm.max_children = 1: the first request sleeps 1.5 s; the second (0.3 s later) waits for the only "
      "worker, which answers it at about 3 s, after the gateway's 2 s read timeout closed it",
      read_timeout="2s", max_children=1, pm="ondemand"),
    S("refused", ALL, None, [("hello.php", 0, {"nginx": 502, "apache": 503, "caddy": 502})],
      "nothing listens on the FastCGI port (php-fpm not running): the SYN is answered by RST"),
    S("header-too-big", ("nginx", "caddy"), "php", [("big-header.php", 0, {"nginx": 502, "caddy": 200})],
      "80 header fields of 100 value bytes (about 9 KB of head); nginx's `fastcgi_buffer_size` is 4k"),
    S("script-unknown", ("nginx", "apache"), "php", [("missing.php", 0, 404)],
      "a script that does not exist: php-fpm writes `Primary script unknown` to FCGI_STDERR and answers "
      "`Status: 404 Not Found`"),
    # Several causes in one capture, one client connection each: for matching every client error to
    # the FastCGI connection behind it (by HTTP_X_REQUEST_ID in FCGI_PARAMS, and by time).
    S("mixed", ALL, "php", [("hello.php", 0, 200),
                            ("kill.php", 0, {"nginx": 502, "apache": 503, "caddy": 502}),
                            ("fatal.php", 0, 500),
                            ("warning.php", 0, 200),
                            ("bad-header.php", 0, {"nginx": 502, "apache": 500, "caddy": 200}),
                            ("hello.php", 0, 200),
                            ("sleep.php", 0, 504)],
      "in turn: hello.php, kill.php, fatal.php, warning.php, bad-header.php, hello.php, sleep.php (10 s; "
      "read timeout 2 s)", read_timeout="2s"),
    # The scripted server: record-level faults php-fpm never makes.
    S("bad-version", ALL, "script:bad-version", [("hello.php", 0, {"nginx": 502, "apache": 503, "caddy": 502})],
      "SCRIPTED: one FCGI_STDOUT record whose header says version 2"),
    S("truncated", ALL, "script:truncated", [("hello.php", 0, {"nginx": 502, "apache": 503, "caddy": 502})],
      "SCRIPTED: an FCGI_STDOUT header announcing 100 content bytes, 19 of them (`Content-Type: text/`), then FIN"),
    S("overloaded", ALL, "script:overloaded", [("hello.php", 0, {"nginx": 502, "apache": 200, "caddy": 502})],
      "SCRIPTED: FCGI_END_REQUEST with protocolStatus FCGI_OVERLOADED (2) and no FCGI_STDOUT"),
    S("cant-mpx-conn", ("nginx",), "script:cant-mpx-conn", [("hello.php", 0, 502)],
      "SCRIPTED: FCGI_END_REQUEST with protocolStatus FCGI_CANT_MPX_CONN (1) and no FCGI_STDOUT"),
    S("unknown-role", ("nginx",), "script:unknown-role", [("hello.php", 0, 502)],
      "SCRIPTED: FCGI_END_REQUEST with protocolStatus FCGI_UNKNOWN_ROLE (3) and no FCGI_STDOUT"),
    S("end-before-stdout", ("nginx",), "script:end-before-stdout", [("hello.php", 0, 502)],
      "SCRIPTED: FCGI_END_REQUEST (REQUEST_COMPLETE, appStatus 0) before any FCGI_STDOUT"),
    S("wrong-request-id", ("nginx",), "script:wrong-request-id", [("hello.php", 0, 502)],
      "SCRIPTED: the answer in FCGI_STDOUT records under request id 2, where the gateway's request was 1"),
    S("fin-mid-body", ("nginx", "apache"), "script:fin-mid-body", [("hello.php", 0, 200)],
      "SCRIPTED: FCGI_STDOUT with the head and 1000 body bytes (whole records), then FIN: no empty STDOUT, "
      "no FCGI_END_REQUEST"),
    S("fin-mid-body-keep-conn", ("nginx",), "script:fin-mid-body", [("hello.php", 0, 200)],
      "SCRIPTED: as fin-mid-body, with `fastcgi_keep_conn on` (nginx then needs FCGI_END_REQUEST)", keep_conn=True),
    S("no-end-request-keep-conn", ("nginx",), "script:no-end-request", [("hello.php", 0, 200)],
      "SCRIPTED: as no-end-request, with `fastcgi_keep_conn on`", keep_conn=True),
    S("no-end-request", ("nginx",), "script:no-end-request", [("hello.php", 0, 200)],
      "SCRIPTED: a whole response in FCGI_STDOUT and the empty STDOUT record, then FIN without FCGI_END_REQUEST"),
    S("http-server", ("nginx", "caddy"), "script:http-server", [("hello.php", 0, 502)],
      "SCRIPTED: an HTTP/1.1 server: `HTTP/1.1 400 Bad Request` to the FastCGI bytes, then FIN"),
]

# Which capture names exist: (scenario, gateway) -> base name "fastcgi/<gateway>-<scenario>".
def jobs():
    for s in SCENARIOS:
        for gw in s["gateways"]:
            yield s, gw, "fastcgi/%s-%s" % (gw, s["name"])


def by_capture(base):
    """The (scenario, gateway) of a capture base name (`nginx-healthy` or `fastcgi/nginx-healthy`)."""
    base = base.split("/")[-1]
    for s, gw, b in jobs():
        if b.split("/")[-1] == base:
            return s, gw
    return None


def client_status(request, gw):
    want = request[2]
    return want[gw] if isinstance(want, dict) else want


# ---------------------------------------------------------------------------------------------
# From a gateway's own log text to the expected code. Each rule: (gateway, regular expression on
# the log message, upstream-log condition or None, code, class). The first rule that matches the
# request's decisive line wins; a request whose lines match no rule fails the truth (unexplained).
# The upstream condition is a regular expression the upstream's own log must match (php-fpm's log
# or fcgi-upstream.py's line for that connection).
RULES = [
    # nginx 1.22 (ngx_http_fastcgi_module)
    ("nginx", r'^FastCGI sent in stderr: "PHP message: PHP Fatal error', None, "fcgi.stderr.fatal", "500"),
    ("nginx", r'^FastCGI sent in stderr: "PHP message: PHP (Warning|Notice|Deprecated)', None, "fcgi.stderr.warning", "ok"),
    # php-fpm's own message for a SCRIPT_FILENAME it cannot find, with a 404: stderr beside an answer that
    # is no gateway failure (a finding).
    ("nginx", r'^FastCGI sent in stderr: "Primary script unknown"', None, "fcgi.stderr.warning", "ok"),
    ("nginx", r"^recv\(\) failed \(104: Connection reset by peer\) while reading response header from upstream", None,
     "tcp.rst.before_response", "502"),
    ("nginx", r"^(recv|readv)\(\) failed \(104: Connection reset by peer\) while reading upstream", None,
     "tcp.rst.mid_body", "truncated"),
    ("nginx", r"^upstream prematurely closed FastCGI stdout while reading response header from upstream",
     r"mid-record", "fcgi.record.truncated", "502"),
    ("nginx", r"^upstream prematurely closed FastCGI stdout while reading response header from upstream", None,
     "tcp.fin.before_response", "502"),
    # A FIN inside a record's content, before the head ended: nginx says "connection", not "FastCGI stdout".
    ("nginx", r"^upstream prematurely closed connection while reading response header from upstream",
     r"mid-record", "fcgi.record.truncated", "502"),
    ("nginx", r"^upstream prematurely closed connection while reading response header from upstream", None,
     "tcp.fin.before_response", "502"),
    ("nginx", r"^upstream prematurely closed FastCGI stdout while reading upstream", None, "tcp.fin.mid_body", "truncated"),
    # With fastcgi_keep_conn on, a FIN before FCGI_END_REQUEST (after the empty STDOUT or not) cuts the
    # client's chunked body: the response is complete only at END_REQUEST.
    ("nginx", r"^upstream prematurely closed connection while reading upstream", None, "tcp.fin.mid_body", "truncated"),
    ("nginx", r'^upstream sent invalid header: "[^"]*\\x20', None, "http.header.name_ctl_or_space", "502"),
    ("nginx", r'^upstream sent invalid status "', None, "fcgi.status.invalid", "502"),
    ("nginx", r"^upstream sent too big header while reading response header from upstream", None,
     "http.header.too_large", "502"),
    ("nginx", r"^upstream timed out \(110: Connection timed out\) while reading response header from upstream",
     r"server reached (pm\.)?max_children", "fcgi.pool_exhausted", "504"),
    ("nginx", r"^upstream timed out \(110: Connection timed out\) while reading response header from upstream", None,
     "tcp.read_timeout", "504"),
    ("nginx", r"^connect\(\) failed \(111: Connection refused\) while connecting to upstream", None,
     "tcp.connect.refused", "502"),
    ("nginx", r"^upstream sent unsupported FastCGI protocol version: 72 ", None, "proto.http_response_to_fcgi", "502"),
    ("nginx", r"^upstream sent unsupported FastCGI protocol version: \d+ ", None, "fcgi.record.bad_version", "502"),
    ("nginx", r"^upstream sent unexpected FastCGI record: 3 ", r"protocolStatus 2\b", "fcgi.end_request.overloaded", "502"),
    ("nginx", r"^upstream sent unexpected FastCGI record: 3 ", r"protocolStatus 1\b", "fcgi.end_request.cant_mpx_conn", "502"),
    ("nginx", r"^upstream sent unexpected FastCGI record: 3 ", r"protocolStatus 3\b", "fcgi.end_request.unknown_role", "502"),
    ("nginx", r"^upstream sent unexpected FastCGI record: 3 ", r"protocolStatus 0\b", "fcgi.end_request.before_stdout", "502"),
    ("nginx", r"^upstream sent unexpected FastCGI request id ", None, "fcgi.record.unexpected", "502"),
    # With fastcgi_keep_conn off, nginx takes the upstream's FIN as the end of the response: a body cut
    # by a FIN (no empty STDOUT, no END_REQUEST) reaches the client as a clean 200 and nginx logs
    # nothing. The scripted server's log says it closed mid-body: the client's body is cut although
    # it cannot tell (curl exit 0).
    ("nginx", None, r"closed \(FIN\) mid-body", "tcp.fin.mid_body", "truncated", r"status=200 curl_exit=0"),
]


# Apache 2.4 (mod_proxy_fcgi): the rule's pattern is matched against all of the request's lines,
# joined by " || " (the errno of a failed read is on the AH01075 line after AH01067). A rule may also
# name the client's outcome (`status=503`, `curl_exit=18`) where the same lines end two ways.
RULES += [
    ("apache", r"AH01071: Got error 'PHP message: PHP Fatal error", None, "fcgi.stderr.fatal", "500"),
    ("apache", r"AH01071: Got error 'PHP message: PHP (Warning|Notice|Deprecated)", None, "fcgi.stderr.warning", "ok"),
    ("apache", r"AH01071: Got error 'Primary script unknown'", None, "fcgi.stderr.warning", "ok"),
    ("apache", r"AH01067: Failed to read FastCGI header.*\(104\)Connection reset by peer: .*AH01075", None,
     "tcp.rst.before_response", "503", r"status=503 "),
    ("apache", r"AH01067: Failed to read FastCGI header.*\(104\)Connection reset by peer: .*AH01075", None,
     "tcp.rst.mid_body", "truncated", r"status=200 curl_exit=18"),
    ("apache", r"AH01067: Failed to read FastCGI header.*\(70014\)End of file found: .*AH01075", None,
     "tcp.fin.mid_body", "truncated", r"status=200 curl_exit=18"),
    ("apache", r"AH01068: Got bogus version 72\b", None, "proto.http_response_to_fcgi", "503"),
    ("apache", r"AH01068: Got bogus version \d+", None, "fcgi.record.bad_version", "503"),
    ("apache", r"\(70014\)End of file found: .*AH01075: Error dispatching request to .*\(reading response body\)",
     r"mid-record", "fcgi.record.truncated", "503"),
    ("apache", r"AH02429: Response header name '[^']* [^']*' contains invalid characters", None,
     "http.header.name_ctl_or_space", "500"),
    ("apache", r"\(70007\)The timeout specified has expired: .*AH01075: Error dispatching request to .*\(polling\)", None,
     "tcp.read_timeout", "504"),
    ("apache", r"\(111\)Connection refused: AH00957: FCGI: attempt to connect to ", None, "tcp.connect.refused", "503"),
    # Apache logs nothing for an FCGI_END_REQUEST saying OVERLOADED: the client gets a 200 with an
    # empty body. The scripted server's log says what it sent.
    ("apache", None, r"protocolStatus 2\b", "fcgi.end_request.overloaded", "ok", r"status=200 curl_exit=0"),
]

# Caddy 2.6 (php_fastcgi): the pattern is matched against the request's entries joined by " || ":
# `http.log.error: MSG (status N)`, `upstream roundtrip: status=N headers=[names]` or `upstream
# roundtrip: error ERR` (DEBUG), and the reverse proxy's own error entries (`reading from backend: ERR`,
# `aborting with incomplete response: ERR`). Caddy logs no FCGI_STDERR at all: for the fatal error and
# the warning the rule also names what php-fpm's access log says it ran (`"GET /fatal.php..." status=500`);
# the truth marks those `gateway_log_silent`.
RULES += [
    # Caddy's FastCGI client says only "EOF" for a worker that died before any output, whether the
    # kernel closed with FIN or RST; php-fpm's log says the worker was killed (signal 9), and nginx
    # and Apache, in front of the same kill.php, logged "(104) Connection reset by peer": a reset.
    ("caddy", r"http\.log\.error: EOF \(status 502\)", r"exited on signal 9", "tcp.rst.before_response", "502"),
    ("caddy", r"http\.log\.error: read tcp \S+: read: connection reset by peer \(status 502\)", None,
     "tcp.rst.before_response", "502"),
    ("caddy", r"reading from backend: read tcp \S+: read: connection reset by peer .*aborting with incomplete response",
     None, "tcp.rst.mid_body", "truncated"),
    ("caddy", r"reading from backend: (unexpected )?EOF .*aborting with incomplete response", None, "tcp.fin.mid_body", "truncated"),
    ("caddy", r"http\.log\.error: read tcp \S+: i/o timeout \(status 504\)", None, "tcp.read_timeout", "504"),
    ("caddy", r"http\.log\.error: dialing backend: dial tcp \S+: connect: connection refused \(status 502\)", None,
     "tcp.connect.refused", "502"),
    # Caddy's FastCGI client names no version and no record: the scripted server's log says what it sent.
    ("caddy", r"http\.log\.error: fcgi: invalid header version \(status 502\)", r"HTTP/1\.1 400", "proto.http_response_to_fcgi", "502"),
    ("caddy", r"http\.log\.error: fcgi: invalid header version \(status 502\)", r"with version 2", "fcgi.record.bad_version", "502"),
    ("caddy", r"http\.log\.error: EOF \(status 502\)", r"mid-record", "fcgi.record.truncated", "502"),
    ("caddy", r"http\.log\.error: EOF \(status 502\)", r"protocolStatus 2\b", "fcgi.end_request.overloaded", "502"),
    ("caddy", r'upstream roundtrip: status=200 headers=\[[^]]*"[^",]* [^",]*"', None, "http.header.name_ctl_or_space", "ok"),
    ("caddy", r"^upstream roundtrip: status=500 ", r'"GET /fatal\.php\S*" status=500 ', "fcgi.stderr.fatal", "500"),
    ("caddy", r"^upstream roundtrip: status=200 ", r'"GET /warning\.php\S*" status=200 ', "fcgi.stderr.warning", "ok"),
]


def rule_for(gw, message, upstream_text, client=""):
    """message: the request's log text (None: the gateway logged nothing about it)."""
    for rule in RULES:
        g, pattern, up, code, klass = rule[:5]
        want_client = rule[5] if len(rule) > 5 else None
        if g != gw:
            continue
        if pattern is None:
            if message is not None:
                continue
        elif message is None or not re.search(pattern, message, re.S):
            continue
        if up is not None and not re.search(up, upstream_text or ""):
            continue
        if want_client is not None and not re.search(want_client, client):
            continue
        return code, klass, pattern
    return None


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        for s, gw, b in jobs():
            print(s["name"], gw, b)
    else:
        sys.exit("usage: fastcgi_scenarios.py --list")
