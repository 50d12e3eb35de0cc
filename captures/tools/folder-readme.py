#!/usr/bin/env python3
"""Write the table of a gateway folder's README (captures/caddy/, captures/varnish/) from its
truth files, so that the table says exactly what the gateway's logs and curl said.

  folder-readme.py captures/caddy

Replaces the text between `<!-- table -->` and `<!-- /table -->` in DIR/README.md with one row
per request: scenario, what the upstream sent, the client's status (and curl's exit code when
not 0), the class, the gateway's log text (exact; see the README for what it is per gateway),
and the edgescope code expected (the truth's verdict). Python 3 stdlib only.
"""

import glob
import json
import os
import sys


def cell(text):
    if text is None:
        return "—"
    return "`%s`" % text.replace("|", "\\|").replace("`", "'")


def status(code, request):
    s = str(code) if code is not None else "—"
    curl = request.get("curl_exit") if request else None
    if curl:
        s += " (curl exit %d)" % curl
    return s


ALERTS = {0: "close_notify", 40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
          45: "certificate_expired", 48: "unknown_ca", 80: "internal_error"}


def tls_note(truth):
    """The TLS alerts tshark reads in the capture (with the committed key log, if any)."""
    tls = truth.get("tls")
    if not tls:
        return []
    up = int(truth["expected_connections"][0]["server"].rsplit(":", 1)[1])
    out = []
    for a in tls["alerts"]:
        who = "upstream" if a["from_port"] == up else "gateway"
        how = "encrypted, read with %s" % tls["keylog"] if tls.get("keylog") else "in the clear"
        out.append("TLS %s: alert %s %s (%d) in frame %d (%s)" % (
            tls["max_version"], who, ALERTS.get(a["description"], "?"), a["description"], a["frame"], how))
    return out


def more(c, truth=None):
    """What else the gateway's log (and, for TLS, the capture) says about the request."""
    if truth is not None and truth.get("tls"):
        return "; ".join(tls_note(truth) + [more(c)])
    if "varnish_backend_close" in c:
        parts = ["BogoHeader `%s`" % v for v in c["varnish_bogo_header"]]
        parts += ["HttpGarbage `%s`" % v for v in c["varnish_http_garbage"]]
        parts += ["BackendClose `%s`" % v for v in c["varnish_backend_close"]]
        if c.get("varnish_resp_content_length") and c["class"] in ("ok", "truncated"):
            parts += ["client's Content-Length %s" % ", ".join(c["varnish_resp_content_length"])]
        return "; ".join(parts) or "—"
    if "caddy_access_size" in c:
        return "access log: status %s, size %s" % (c["caddy_access_status"], c["caddy_access_size"])
    return "—"


def rows(truth):
    out = []
    name = truth["scenario"]
    sends = truth["upstream_sends"].replace("|", "\\|")
    for c in truth["expected_connections"]:
        for r in c["requests"] or [None]:
            if len(c["requests"]) > 2 and r is not c["requests"][0]:
                continue   # healthy: one row for the connection
            req = "%s (%d requests)" % (r["request"], c["request_count"]) if len(c["requests"]) > 2 else \
                r["request"] if r else "—"
            out.append((c["requests"][0]["request"] if c["requests"] else "", name, req, sends,
                        status(c["client_status"], r), c["class"], cell(c["gateway_log"]),
                        "`%s`" % c["verdict"], more(c, truth).replace("|", "\\|")))
    for n in truth.get("requests_without_connection", []):
        out.append((n["request"], name, n["request"], sends, status(n["client_status"], None), n["class"],
                    cell(n["gateway_log"]), "— (no connection: no SYN in the capture)", more(n)))
    out.sort(key=lambda r: r[0])
    # The upstream's behaviour once per scenario.
    return [r[1:3] + ((r[3] if i == 0 else "(the same)"),) + r[4:] for i, r in enumerate(out)]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: folder-readme.py captures/GATEWAY")
    d = sys.argv[1]
    truths = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, "*.truth.json")))]
    if not truths:
        sys.exit("folder-readme.py: no truth files in %s" % d)
    lines = ["| scenario | request | upstream sends | client status | class | gateway log (exact) | edgescope code "
             "| more from the gateway's log |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in truths:
        for r in rows(t):
            lines.append("| %s |" % " | ".join(r))
    readme = os.path.join(d, "README.md")
    text = open(readme).read()
    head, _, rest = text.partition("<!-- table -->\n")
    _, _, tail = rest.partition("<!-- /table -->\n")
    if not rest:
        sys.exit("folder-readme.py: %s has no <!-- table --> marker" % readme)
    with open(readme, "w") as f:
        f.write(head + "<!-- table -->\n" + "\n".join(lines) + "\n<!-- /table -->\n" + tail)


if __name__ == "__main__":
    main()
