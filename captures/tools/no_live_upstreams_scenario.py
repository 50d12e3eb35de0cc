#!/usr/bin/env python3
"""Both hops of Debian's nginx in front of a pool whose members all refuse: "no live upstreams".

Read by client-hop-run.py and client-hop-truth.py (`--scenario no_live_upstreams_scenario`).
The pool has nginx's default `max_fails=1 fail_timeout=10s`. The first request fails over both
members (two refused SYNs, two `connect() failed (111: Connection refused)` lines, and a [warn]
`upstream server temporarily disabled` for each); every later request within fail_timeout gets a
502 with no upstream attempt at all (`no live upstreams while connecting to upstream`). No request
is ever passed on, so the listener cannot be inferred from forwarded requests. Stdlib only.
"""

NAME = "client-hop-no-live-upstreams"

# (role, port offset from BASE, upstream.py arguments or None when nothing listens,
#  designed finding, evidence kind, evidence marker)
UPSTREAMS = [
    ("refused", 2, None, "tcp.connect.refused", "upstream_rst", None),
    ("refused-too", 3, None, "tcp.connect.refused", "upstream_rst", None),
]

POOLS = {
    "up_down": [("refused", ""), ("refused-too", "")],
}

LOCATIONS = [
    ("/down/", "proxy_next_upstream error timeout; proxy_pass http://up_down;"),
]

REQUESTS = [
    ("/down/1", "es-nl-1", 502),
    ("/down/2", "es-nl-2", 502),
    ("/down/3", "es-nl-3", 502),
]

EXPECT = {
    "/down/1": ("gateway", "tcp.connect.refused"),
    "/down/2": ("gateway", "gateway.no_live_upstreams"),
    "/down/3": ("gateway", "gateway.no_live_upstreams"),
}

# Client errors that follow an nginx retry on another member: the first request's.
EXPECT_RETRIES = 1
