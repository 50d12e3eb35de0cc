#!/usr/bin/env python3
"""The client-hop capture: both hops of one Debian nginx, client -> nginx and nginx -> upstreams.

Read by client-hop-run.py (which upstreams to start, the nginx locations, the requests) and
client-hop-truth.py (the designed finding of each upstream, its evidence, the outcome the
committed run showed). Stdlib only.

Every request path is unique and carries its number (`/rst/2`); every request but the last
sends `X-Request-Id: es-hop-<n>`, which nginx passes on to the upstream unchanged (no
proxy_set_header for it), so the id is on both hops. nginx logs `$request_id` and
`$http_x_request_id` in its access log.
"""

import json
import sys

NAME = "client-hop"

# Upstreams: (role, port offset from BASE, upstream.py arguments or None when nothing listens,
#             designed finding, evidence kind, evidence marker).
# Ports BASE+1..+4 are the ones make-captures.sh's first captures use for the same roles.
UPSTREAMS = [
    ("ok", 1, ["--mode", "healthy", "--compact"], "none", None, None),
    ("refused", 2, None, "tcp.connect.refused", "upstream_rst", None),
    ("rst", 3, ["--mode", "rst"], "tcp.rst.before_response", "upstream_rst", None),
    ("fin", 4, ["--mode", "fin"], "tcp.fin.before_response", "upstream_fin", None),
    ("bad", 10, ["--mode", "script", "--scenario", "http-header-name-ctl-or-space"],
     "http.header.name_ctl_or_space", "payload", b"Content-Length : 5"),
    ("busy", 11, ["--mode", "script", "--scenario", "http-upstream-5xx"],
     "http.upstream_5xx", "payload", b"HTTP/1.1 503 "),
]

# nginx upstream blocks: name -> [(role, server parameters)].
POOLS = {
    "up_ok": [("ok", "")],
    "up_refused": [("refused", "")],
    "up_rst": [("rst", "")],
    "up_fin": [("fin", "")],
    "up_bad": [("bad", "")],
    "up_busy": [("busy", "")],
    # nginx's retry (proxy_next_upstream error): the RST upstream, then the FIN one (or the
    # other way round: nginx's round robin picks the first; the access log says which).
    "up_retry": [("rst", "max_fails=0"), ("fin", "max_fails=0")],
}

# Locations: path prefix -> nginx directives.
LOCATIONS = [
    ("/ok/", "proxy_pass http://up_ok;"),
    ("/refused/", "proxy_pass http://up_refused;"),
    ("/rst/", "proxy_pass http://up_rst;"),
    ("/fin/", "proxy_pass http://up_fin;"),
    ("/bad/", "proxy_pass http://up_bad;"),
    ("/busy/", "proxy_pass http://up_busy;"),
    ("/retry/", "proxy_next_upstream error timeout; proxy_pass http://up_retry;"),
    # A 502 nginx makes itself: no upstream is asked.
    ("/gw/", "return 502;"),
]

# Requests, in order: (path, X-Request-Id or None, the status the client must get).
REQUESTS = [
    ("/ok/1", "es-hop-1", 200),
    ("/rst/2", "es-hop-2", 502),
    ("/fin/3", "es-hop-3", 502),
    ("/bad/4", "es-hop-4", 502),
    ("/busy/5", "es-hop-5", 503),
    ("/retry/6", "es-hop-6", 502),
    ("/refused/7", "es-hop-7", 502),
    ("/gw/8", "es-hop-8", 502),
    ("/ok/9", None, 200),
]

# What the committed run showed per client error: generated_by, and the cause of the last
# upstream connection (None: no upstream connection, the error is the gateway's own).
EXPECT = {
    "/rst/2": ("gateway", "tcp.rst.before_response"),
    "/fin/3": ("gateway", "tcp.fin.before_response"),
    "/bad/4": ("gateway", "http.header.name_ctl_or_space"),
    "/busy/5": ("upstream", "http.upstream_5xx"),
    "/retry/6": ("gateway", None),   # the cause depends on which peer nginx tried last
    "/refused/7": ("gateway", "tcp.connect.refused"),
    "/gw/8": ("gateway", None),
}


def by_role():
    return {u[0]: u for u in UPSTREAMS}


if __name__ == "__main__":
    if sys.argv[1:] == ["--show"]:
        print(json.dumps({"upstreams": [[u[0], u[1], u[2], u[3], u[4], u[5] and u[5].hex()] for u in UPSTREAMS],
                          "pools": POOLS, "locations": LOCATIONS, "requests": REQUESTS}, indent=2))
    else:
        sys.exit("usage: client_hop_scenario.py --show")
