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

HERE = os.path.dirname(os.path.abspath(__file__))

INTRO = {
    "apache": """# Apache httpd 2.4 captures

Captures of the gateway -> upstream hop behind **{gateway}** (Debian 12's `apache2`), each with
its ground truth from Apache's own error log and access log, the scripted upstream's log and
curl's result (never from edgescope). Made by `sudo captures/make-captures.sh apache` (one:
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
curl's result (never from edgescope). Made by `sudo captures/make-captures.sh lighttpd` (one:
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


def cell(text):
    return (text or "").replace("|", "\\|").replace("\n", " ")


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in INTRO:
        sys.exit("usage: gw-readme.py apache|lighttpd")
    kind = sys.argv[1]
    folder = os.path.join(HERE, kind)
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
        if t["scenario"] == "healthy-control":
            extra = ["%d requests on %d upstream connection(s)" % (sum(x["request_count"] for x in t["expected_connections"]),
                                                                   len(t["expected_connections"]))]
        lines = c.get("gateway_log_lines") or []
        logcell = "`%s`" % c["gateway_log"] if c.get("gateway_log") else "(nothing)"
        if len(lines) > 1:
            logcell += " then " + ", ".join("`%s`" % l for l in lines[1:])
        rows.append("| %s | %s | %s (%s) | %s | %s | `%s` |" % (
            t["scenario"], cell(t["upstream_sends"]), client, ", ".join(extra), c["class"],
            cell(logcell), c["verdict"]))
    out = [INTRO[kind].format(gateway=gateway), "",
           "| scenario | upstream sends | client status (curl) | class | gateway error log | edgescope code |",
           "|---|---|---|---|---|---|"] + rows
    notes = os.path.join(folder, "NOTES.md.in")
    if os.path.exists(notes):
        out += ["", open(notes).read().rstrip()]
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
