#!/usr/bin/env python3
"""Build client-hop.truth.json from what nginx, the upstreams, curl and tshark say. Never from edgescope.

  client-hop-truth.py --dir DIR --base-port N --gateway "nginx 1.22.1"

Reads DIR/client-hop.{pcap,access.log,nginx-error.log,upstream.log,client.log}. The access log
format is client-hop-run.py's:

  $msec $status "$upstream_addr" "$upstream_status" "$upstream_connect_time" "$request"
  $remote_addr $remote_port $request_id "$http_x_request_id"

The truth has build-truth.py's fields (capture, gateway, link_type, client_requests,
nginx_errors, expected_connections: the gateway -> upstream connections only, each with its
verdict, class, gateway_log, evidence_frame), and for the client hop:

  gateway_listen           the endpoint nginx listened on
  client_hop_connections   one per client request: client (curl's local endpoint, = nginx's
                           $remote_addr:$remote_port), server, request, status, request_id,
                           response_frame (tshark: the frame carrying nginx's status line)
  client_errors            one per client response with status 502, 503 or 504 (access log),
                           and one per request whose client saw a failure (curl: 18 a cut body,
                           52 an empty reply, 56 a reset) whatever the access log's status:
                           client, status (null for an empty reply), failure (error_status,
                           cut_body, empty_reply, reset), request, request_id, response_frame,
                           generated_by ("upstream" when the last $upstream_status equals
                           $status and nginx logged no error for the request, else "gateway"),
                           upstream_connection ({client, server} of the last upstream attempt
                           in $upstream_addr, joined to the upstream's log line by server and
                           request; null when nginx asked no upstream), earlier_upstream_connections
                           (nginx's earlier tries: proxy_next_upstream), cause (the last attempt's
                           designed finding; http.upstream_5xx when relayed; null without one),
                           source (the log lines that prove it)

An upstream connection never accepted (refused) has client null, as in build-truth.py. Exits 1
if any access-log line, error-log line or upstream-log line is left unexplained, if curl's port
differs from nginx's $remote_port, or if the outcome differs from client_hop_scenario.EXPECT.
"""

import argparse
import importlib.util
import json
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client_hop_scenario  # noqa: E402

# The scenario module (--scenario): client_hop_scenario, or another with the same names.
hop = client_hop_scenario

_spec = importlib.util.spec_from_file_location("build_truth", os.path.join(HERE, "build-truth.py"))
bt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bt)

ERROR_STATUSES = (502, 503, 504)
# What the client saw, by curl's exit status: 18 a body shorter than its framing said, 52 no byte
# at all before the close, 56 the connection reset.
CURL_FAILURES = {18: "cut_body", 52: "empty_reply", 56: "reset"}


class TruthError(Exception):
    pass


def read_access_log(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            p = shlex.split(raw)
            if len(p) != 10:
                raise TruthError("%s:%d: unexpected access.log line %r" % (path, lineno, raw))
            addrs = [] if p[2] == "-" else p[2].split(", ")
            statuses = [] if p[3] == "-" else p[3].split(", ")
            out.append({"lineno": lineno, "raw": raw, "msec": float(p[0]), "status": int(p[1]),
                        "upstream_addrs": addrs, "upstream_statuses": statuses,
                        "request": bt.strip_version(p[5]), "client": "%s:%s" % (p[6], p[7]),
                        "client_port": int(p[7]), "nginx_request_id": p[8],
                        "request_id": None if p[9] == "-" else p[9]})
    return out


def first_frame(cap, flt):
    rows = cap.frames(flt)
    return int(rows[0][0]) if rows else None


def build(args):
    d = args.dir
    name = hop.NAME
    gw = "127.0.0.1:%d" % args.base_port
    roles = {"127.0.0.1:%d" % (args.base_port + u[1]): u for u in hop.UPSTREAMS}
    files = {k: os.path.join(d, "%s.%s" % (name, k)) for k in
             ("pcap", "access.log", "nginx-error.log", "upstream.log", "client.log")}
    aname, ename, uname = (os.path.basename(files[k]) for k in ("access.log", "nginx-error.log", "upstream.log"))
    access = read_access_log(files["access.log"])
    errors = bt.read_error_log(files["nginx-error.log"])
    ups = bt.read_upstream_log(files["upstream.log"])
    clients = bt.read_client_log(files["client.log"])
    cap = bt.Capture(files["pcap"])

    if [a["request"] for a in access] != ["GET %s" % r[0] for r in hop.REQUESTS]:
        raise TruthError("%s does not list the scenario's requests in order" % aname)
    for a in access:
        a["failure"] = CURL_FAILURES.get(clients.get(a["request"], {}).get("curl_exit"))

    # The client hop: one connection per request (curl), found in the capture by nginx's $remote_port.
    hop_conns = []
    for a in access:
        cl = clients.get(a["request"])
        # An empty reply: nginx logged the status it meant to send, the client got no byte.
        got = a["status"] if a["failure"] != "empty_reply" else 0
        if not cl or cl["local"] != a["client"] or cl["http_code"] != got:
            raise TruthError("%s line %d: curl's log says %s" % (aname, a["lineno"], cl))
        syn = first_frame(cap, "tcp.srcport == %d && tcp.dstport == %d && tcp.flags.syn == 1 && tcp.flags.ack == 0"
                          % (a["client_port"], args.base_port))
        status_line = ("HTTP/1.1 %d " % a["status"]).encode()
        response = first_frame(cap, "tcp.srcport == %d && tcp.dstport == %d && %s"
                               % (args.base_port, a["client_port"], bt.marker_filter(status_line)))
        if a["failure"] == "empty_reply":
            if response is not None:
                raise TruthError("%s line %d: curl got an empty reply, but the capture has nginx's status line"
                                 % (aname, a["lineno"]))
        elif syn is None or response is None:
            raise TruthError("%s line %d: no SYN or no status line on the client hop in the capture"
                             % (aname, a["lineno"]))
        a["response_frame"] = response
        hop_conns.append({"client": a["client"], "server": gw, "request": a["request"], "status": a["status"],
                          "request_id": a["request_id"], "syn_frame": syn, "response_frame": response,
                          "source": "%s line %d: %s" % (aname, a["lineno"], a["raw"])})

    # Upstream attempts: each ($upstream_addr[i], request) is one upstream connection. An accepted
    # one is the upstream's log line for that server and request; a refused one has none.
    errors_left = list(errors)
    ups_left = list(ups)
    attempts = []   # [(access entry, index, connection)]
    conns = []
    for a in access:
        if len(a["upstream_addrs"]) != len(a["upstream_statuses"]):
            raise TruthError("%s line %d: $upstream_addr and $upstream_status differ in length" % (aname, a["lineno"]))
        for i, server in enumerate(a["upstream_addrs"]):
            role = roles.get(server)
            if role is None and server in hop.POOLS:
                # nginx tried no member: $upstream_addr is the pool's name, and error.log says
                # "no live upstreams while connecting to upstream".
                errs = [e for e in errors_left if e["request"] == a["request"] + " HTTP/1.1"
                        and "no live upstreams" in e["text"]]
                if len(errs) != 1:
                    raise TruthError("%s line %d: $upstream_addr %s without one \"no live upstreams\" line"
                                     % (aname, a["lineno"], server))
                errors_left.remove(errs[0])
                a["no_live"] = errs[0]
                continue
            if role is None:
                raise TruthError("%s line %d: upstream %s is not one of the scenario's" % (aname, a["lineno"], server))
            errs = [e for e in errors_left if e["request"] == a["request"] + " HTTP/1.1"
                    and e["upstream"] and bt.endpoint_from_url(e["upstream"]) == server]
            # nginx's [warn] "upstream server temporarily disabled" (max_fails reached) rides along
            # with the attempt's own error line.
            for e in [e for e in errs if e["level"] == "warn" and "temporarily disabled" in e["text"]]:
                errors_left.remove(e)
                errs.remove(e)
            if len(errs) > 1:
                raise TruthError("two error.log lines for %s on %s" % (a["request"], server))
            for e in errs:
                errors_left.remove(e)
            hit = [u for u in ups_left if u["server"] == server and a["request"] in
                   [bt.strip_version(r) for r in u["request_lines"]]]
            if role[2] is None:
                if hit:
                    raise TruthError("%s accepted a connection, but nothing listens there" % server)
                conn = {"client": None, "server": server, "up": None, "requests": [a["request"]]}
                conns.append(conn)
            else:
                if not hit:
                    raise TruthError("%s line %d: no %s line for %s on %s" % (aname, a["lineno"], uname, a["request"], server))
                u = hit[0]
                existing = [c for c in conns if c["up"] is u]
                if existing:
                    conn = existing[0]
                    conn["requests"].append(a["request"])
                else:
                    conn = {"client": u["peer"], "server": server, "up": u, "requests": [a["request"]]}
                    conns.append(conn)
                if len([bt.strip_version(r) for r in u["request_lines"]]) == len(conn["requests"]):
                    ups_left.remove(u)
            conn.setdefault("attempts", []).append((a, i, errs[0] if errs else None))
            attempts.append((a, i, conn))
    if errors_left:
        raise TruthError("%s lines not explained: %s" % (ename, [e["raw"] for e in errors_left]))
    if ups_left:
        raise TruthError("%s lines not explained: %s" % (uname, [u["raw"] for u in ups_left]))

    # Each upstream connection: designed finding, class from nginx's logs, evidence with tshark.
    used = set()
    for c in conns:
        role, _, _, finding, ev_kind, marker = roles[c["server"]]
        sp = bt.port_of(c["server"])
        if c["client"]:
            c["syn_frame"] = first_frame(cap, "tcp.srcport == %d && tcp.dstport == %d && tcp.flags.syn == 1 && tcp.flags.ack == 0"
                                         % (bt.port_of(c["client"]), sp))
        else:
            c["syn_frame"] = first_frame(cap, "tcp.dstport == %d && tcp.flags.syn == 1 && tcp.flags.ack == 0" % sp)
        a, i, err = c["attempts"][-1]
        upstream_status = a["upstream_statuses"][i]
        if err and err["level"] == "error" and a["failure"] is not None:
            cls = "truncated"   # nginx had the upstream's head and failed in its body
        elif err and err["level"] in ("error", "crit", "alert", "emerg"):
            cls = upstream_status   # nginx made this status for this attempt (502 here)
        elif upstream_status == str(a["status"]) and a["status"] >= 500:
            cls = "relayed"
        elif upstream_status == "200":
            cls = "ok"
        else:
            raise TruthError("%s on %s: upstream status %s, no rule" % (a["request"], c["server"], upstream_status))
        frame, flt = bt.evidence_for(cap, ev_kind, marker, c["client"], c["server"], used)
        src = ["%s line %d: %s" % (aname, x[0]["lineno"], x[0]["raw"]) for x in c["attempts"]]
        src += ["%s line %d: %s" % (ename, x[2]["lineno"], x[2]["raw"]) for x in c["attempts"] if x[2]]
        if c["up"]:
            src.append("%s line %d: %s" % (uname, c["up"]["lineno"], c["up"]["raw"]))
        c["out"] = {
            "client": c["client"], "server": c["server"], "verdict": finding, "source": "; ".join(src),
            "finding": finding, "role": role, "client_status": a["status"], "class": cls,
            "gateway_log": err["text"] if err else None,
            "access_status": str(a["status"]), "upstream_status": upstream_status,
            "evidence_frame": frame, "evidence_filter": flt,
            "evidence_marker_hex": marker.hex() if (marker and ev_kind == "payload") else None,
            "request_count": len(c["requests"]),
            "requests": [{"request": r, "status": next(x[0]["status"] for x in c["attempts"] if x[0]["request"] == r)}
                         for r in c["requests"]],
        }
    conns.sort(key=lambda c: c["syn_frame"])

    # Client errors: every 502/503/504 the client got, with the upstream attempt behind it.
    client_errors = []
    problems = []
    for a in access:
        if a["status"] not in ERROR_STATUSES and a["failure"] is None:
            continue
        tried = [conn for (x, i, conn) in sorted(((x, i, conn) for (x, i, conn) in attempts if x is a),
                                                  key=lambda t: t[1])]
        a_errors = [e for e in errors if e["request"] == a["request"] + " HTTP/1.1"]
        last = tried[-1] if tried else None
        disabled_by = []
        if a.get("no_live"):
            # Every member was down (max_fails/fail_timeout): the connections that failed last
            # on each member before this request are what disabled them.
            generated_by, cause = "gateway", "gateway.no_live_upstreams"
            members = [role for role, _ in hop.POOLS[a["upstream_addrs"][-1]]]
            for role in members:
                server = next(addr for addr, u in roles.items() if u[0] == role)
                failed = [conn for (x, i, conn) in attempts if conn["server"] == server
                          and x["msec"] <= a["msec"] and conn["out"]["class"] != "ok"]
                if failed:
                    disabled_by.append({"client": failed[-1]["client"], "server": server})
        elif a["failure"] is not None:
            # What the client saw is nginx's; the status, when one was sent, the upstream's.
            sent = a["failure"] != "empty_reply" and last and a["upstream_statuses"][-1] == str(a["status"])
            generated_by, cause = ("upstream" if sent else "gateway"), (last["out"]["verdict"] if last else None)
        elif last and not a_errors and a["upstream_statuses"][-1] == str(a["status"]):
            generated_by, cause = "upstream", "http.upstream_5xx"
        else:
            generated_by, cause = "gateway", (last["out"]["verdict"] if last else None)
        src = ["%s line %d: %s" % (aname, a["lineno"], a["raw"])]
        src += ["%s line %d: %s" % (ename, e["lineno"], e["raw"]) for e in a_errors]
        src += ["%s line %d: %s" % (uname, c["up"]["lineno"], c["up"]["raw"]) for c in tried if c["up"]]
        entry = {
            "client": a["client"], "status": None if a["failure"] == "empty_reply" else a["status"],
            "failure": a["failure"] or "error_status", "request": a["request"], "request_id": a["request_id"],
            "nginx_request_id": a["nginx_request_id"], "response_frame": a["response_frame"],
            "generated_by": generated_by,
            "upstream_connection": {"client": last["client"], "server": last["server"]} if last else None,
            "earlier_upstream_connections": [{"client": c["client"], "server": c["server"]} for c in tried[:-1]],
            "cause": cause, "source": "; ".join(src),
        }
        if a.get("no_live"):
            entry["disabled_by"] = disabled_by
        client_errors.append(entry)
        want = hop.EXPECT.get(a["request"].split(" ", 1)[1])
        if want is None:
            problems.append("%s: a client error the scenario does not expect" % a["request"])
            continue
        want_cause = want[1] if want[1] is not None or last is None else cause
        if (generated_by, cause) != (want[0], want_cause):
            problems.append("%s: expected %s, got %s" % (a["request"], (want[0], want_cause), (generated_by, cause)))
    expected_errors = [p for p in hop.EXPECT]
    if len(client_errors) != len(expected_errors):
        problems.append("%d client errors, the scenario expects %d" % (len(client_errors), len(expected_errors)))
    retry = [e for e in client_errors if e["earlier_upstream_connections"]]
    if len(retry) != getattr(hop, "EXPECT_RETRIES", 1):
        problems.append("expected %d client error(s) after an nginx retry, found %d"
                        % (getattr(hop, "EXPECT_RETRIES", 1), len(retry)))

    truth = {
        "capture": name + ".pcap",
        "gateway": args.gateway,
        "link_type": bt.link_type(files["pcap"]),
        "scenario": name,
        "gateway_listen": gw,
        "client_requests": [{"request": a["request"], "status": a["status"], "request_id": a["request_id"]}
                            for a in access],
        "nginx_errors": [e["text"] for e in errors],
        "expected_connections": [c["out"] for c in conns],
        "client_hop_connections": [{k: h[k] for k in ("client", "server", "request", "status", "request_id",
                                                      "response_frame", "source")} for h in hop_conns],
        "client_errors": client_errors,
    }
    return truth, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--base-port", type=int, required=True)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--scenario", default="client_hop_scenario")
    args = ap.parse_args()
    global hop
    hop = importlib.import_module(args.scenario)
    try:
        truth, problems = build(args)
    except (TruthError, bt.TruthError) as exc:
        sys.exit("client-hop-truth.py: %s" % exc)
    out = os.path.join(args.dir, hop.NAME + ".truth.json")
    with open(out, "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    if problems:
        sys.exit("client-hop-truth.py: outcome differs from client_hop_scenario.py: %s" % "; ".join(problems))


if __name__ == "__main__":
    main()
