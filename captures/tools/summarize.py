#!/usr/bin/env python3
"""Print the Markdown table of README.md's "Scenarios" section from the truth files.

  python3 captures/tools/summarize.py [DIR]
  python3 captures/tools/summarize.py --tls [DIR]     # the table of the "TLS captures" section

One row per connection of the first seven captures, then one row per capture made from
scenarios.py (nginx first, then its HAProxy twin), and
for each the connection(s) with the designed finding (a healthy capture: its connections).
Stdlib only; reads nothing but the *.truth.json files.
"""

import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))   # captures/tools
CAPS = os.path.dirname(HERE)                          # captures/: the default DIR
sys.path.insert(0, HERE)
import scenarios  # noqa: E402


def short_log(conn, kind):
    g = conn.get("gateway_log")
    if not g:
        return "—"
    if kind == "haproxy":
        return "`%s` %s" % (conn.get("haproxy_termination"), conn.get("haproxy_status"))
    msg = g.split(", client:")[0]
    return "`%s`" % msg.replace("|", "\\|")


def cell(s):
    return s.replace("|", "\\|").replace("\n", " ")


FIRST_SEVEN = [
    ("healthy-keepalive", "healthy keep-alive upstream, 8 GETs (CL and chunked), 2 connections"),
    ("healthy-keepalive.pcapng", "the same packets as pcapng"),
    ("refused", "nothing listens: RST/ACK to the SYN"),
    ("rst-before-response", "reads the request, then RST (SO_LINGER 0), no response byte"),
    ("fin-before-response", "reads the request, then FIN, no response byte"),
    ("any-mixed", "`-i any` (LINUX_SLL2): healthy, refused and RST-before-response upstreams"),
    ("ipv6-loopback", "[::1]: a healthy upstream and a FIN-before-response one"),
]


def first_seven(d):
    for base, sends in FIRST_SEVEN:
        path = os.path.join(d, "nginx", base + ".truth.json")
        if not os.path.exists(path):
            continue
        t = json.load(open(path))
        for c in t["expected_connections"]:
            n = c["request_count"]
            print("| `%s` | %s | %s | %s | %s | %s | %s | %s |" % (
                "nginx/" + t["capture"], t["gateway"], cell(sends), short_log(c, "nginx"), c["client_status"],
                c["finding"] if n == 1 else "%s (%d requests)" % (c["finding"], n), c["class"],
                c["evidence_frame"] if c["evidence_frame"] is not None else "—"))


def tls_log(conn, kind):
    """The gateway's line, short: nginx's message, HAProxy's state + TLS error, curl's error."""
    if kind == "haproxy":
        err = (conn.get("haproxy_tls_error") or {}).get("ssl_bc_err_str") or \
            (conn.get("haproxy_tls_error") or {}).get("bc_err_str")
        return "`%s` %s%s" % (conn.get("haproxy_termination"), conn.get("haproxy_status"),
                              (", `%s`" % cell(err)) if err and err != "Success" else "")
    g = conn.get("gateway_log")
    if not g:
        return "—"
    return "`%s`" % cell(g.split(", client:")[0])


def tls_table(d):
    """The TLS captures (tls_scenarios.py): one row per capture."""
    import tls_scenarios
    print("| capture | gateway | TLS | upstream sends | gateway log | client status | finding → verdict | class | evidence frame (rule) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, gw, base in tls_scenarios.jobs():
        path = os.path.join(d, base + ".truth.json")
        if not os.path.exists(path):
            print("| %s | %s | | (missing) | | | | | |" % (base, gw))
            continue
        t = json.load(open(path))
        spec = tls_scenarios.BY_NAME[name]
        for c in t["expected_connections"]:
            fv = c["finding"] if c["verdict"] == c["finding"] else "%s → %s" % (c["finding"], c["verdict"])
            status = "none (HTTP/0.9)" if c["client_status"] is None else str(c["client_status"])
            if t["gateway_kind"] == "curl":
                status += " (curl exit %s)" % c["requests"][-1]["curl_exit"]
            n = "" if c["request_count"] == 1 else " (%d requests)" % c["request_count"]
            keylog = " + `.keylog` (%s)" % t["tls"]["keylog_written_by"] if t["tls"]["keylog"] else ""
            ev = "—" if c["evidence_frame"] is None else "%d (%s)" % (c["evidence_frame"], c["evidence_rule"])
            print("| `%s`%s%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                os.path.join(os.path.dirname(base), t["capture"]), n, keylog, t["gateway"], t["tls"]["version"], cell(spec["sends"]),
                tls_log(c, t["gateway_kind"]), status, fv, c["class"], ev))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--tls":
        tls_table(sys.argv[2] if len(sys.argv) > 2 else CAPS)
        return
    d = sys.argv[1] if len(sys.argv) > 1 else CAPS
    print("| capture | gateway | upstream sends | gateway log | client status | finding → verdict | class | evidence frame |")
    print("|---|---|---|---|---|---|---|---|")
    first_seven(d)
    for name, gw, base in scenarios.jobs():
        path = os.path.join(d, base + ".truth.json")
        if not os.path.exists(path):
            print("| %s | %s | (missing) | | | | | |" % (base, gw))
            continue
        t = json.load(open(path))
        spec = scenarios.BY_NAME[name]
        conns = [c for c in t["expected_connections"] if c["finding"] == spec["finding"]]
        others = len(t["expected_connections"]) - len(conns)
        c = conns[-1]
        statuses = sorted(set(str(x["client_status"]) for x in conns))
        frames = ", ".join(str(x["evidence_frame"]) for x in conns)
        if c["verdict"] == c["finding"]:
            fv = c["finding"]
        elif c["verdict"] == "none":
            fv = "%s → none (lint)" % c["finding"]
        else:
            fv = "%s → %s (what the wire shows)" % (c["finding"], c["verdict"])
        n = "" if len(conns) == 1 else " (%d conns)" % len(conns)
        if others:
            n += " + %d healthy" % others
        status = "/".join(statuses).replace("None", "none (HTTP/0.9)")
        print("| `%s.pcap`%s | %s | %s | %s | %s | %s | %s | %s |" % (
            base, n, t["gateway"], cell(spec["sends"]), short_log(c, gw), status, fv, c["class"],
            "—" if all(x["evidence_frame"] is None for x in conns) else frames))


if __name__ == "__main__":
    main()
