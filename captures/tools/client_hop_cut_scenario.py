#!/usr/bin/env python3
"""Both hops of Debian's nginx when the upstream's body breaks after its head: what the client
sees is no 5xx (issue 15 item 2). nginx has passed the upstream's 200 on (or was about to) when
the body fails, so it can only close the client's connection: the client gets a cut body (a
Content-Length body cut by the upstream's FIN or RST), or an empty reply (a chunked body whose
chunk size is not hex: nginx had not sent the head yet). nginx's access log says 200 for both.

Read by client-hop-run.py and client-hop-truth.py (`--scenario client_hop_cut_scenario`). The
upstreams run scenarios.py's scripts (upstream.py --mode script). Stdlib only.
"""

NAME = "client-hop-cut"

# (role, port offset from BASE, upstream.py arguments, designed finding, evidence kind, marker)
UPSTREAMS = [
    ("ok", 1, ["--mode", "healthy", "--compact"], "none", None, None),
    ("fin-body", 20, ["--mode", "script", "--scenario", "tcp-fin-mid-body-cl"], "tcp.fin.mid_body", "upstream_fin", None),
    ("rst-body", 21, ["--mode", "script", "--scenario", "tcp-rst-mid-body"], "tcp.rst.mid_body", "upstream_rst", None),
    ("chunk-bad", 22, ["--mode", "script", "--scenario", "http-chunked-bad-size"],
     "http.chunked.bad_size", "payload", b"zz\r\n"),
]

POOLS = {
    "up_ok": [("ok", "")],
    "up_fin_body": [("fin-body", "")],
    "up_rst_body": [("rst-body", "")],
    "up_chunk_bad": [("chunk-bad", "")],
}

LOCATIONS = [
    ("/ok/", "proxy_pass http://up_ok;"),
    ("/fin-body/", "proxy_pass http://up_fin_body;"),
    ("/rst-body/", "proxy_pass http://up_rst_body;"),
    ("/chunk-bad/", "proxy_pass http://up_chunk_bad;"),
]

# (path, X-Request-Id, the status the client must get (0: none), curl's exit status)
REQUESTS = [
    ("/ok/1", "es-cut-1", 200, 0),
    ("/fin-body/2", "es-cut-2", 200, 18),
    ("/rst-body/3", "es-cut-3", 200, 18),
    ("/chunk-bad/4", "es-cut-4", 0, 52),
    ("/ok/5", None, 200, 0),
]

# What the client saw per failed request (curl: 18 partial file, 52 empty reply, 56 reset) and
# what is behind it: generated_by (who made the status the client got), cause.
EXPECT = {
    "/fin-body/2": ("upstream", "tcp.fin.mid_body"),
    "/rst-body/3": ("upstream", "tcp.rst.mid_body"),
    "/chunk-bad/4": ("gateway", "http.chunked.bad_size"),
}

EXPECT_RETRIES = 0
