#!/usr/bin/env python3
"""Build <name>.truth.json for one sample capture from real program output only:

  * nginx's error.log       -> nginx_errors, and the verdict of each failed connection
  * nginx's access log      -> client_requests (and the cross-check of healthy ones)
  * the upstream script log -> one entry per accepted connection (client endpoint)
  * `nginx -v`              -> gateway
  * the capture file header -> link_type

Verdicts (taxonomy 2.A), decided by nginx's error.log text:
  connect() failed (111: Connection refused)                         -> tcp.connect.refused
  recv() failed (104: Connection reset by peer) while reading
      response header from upstream                                  -> tcp.rst.before_response
  upstream prematurely closed connection while reading response
      header from upstream                                           -> tcp.fin.before_response
  accepted, answered completely, every request on it logged 200     -> none

Every error line must match exactly one connection and every connection must be
explained; anything else is an error (exit 1), so a truth file is never a guess.
Python 3 stdlib only.
"""

import argparse
import json
import re
import shlex
import struct
import sys

LINKTYPES = {0: "NULL", 1: "EN10MB", 101: "RAW", 108: "LOOP", 113: "LINUX_SLL",
             228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2"}

ERROR_RULES = [
    ("connect() failed (111: Connection refused)", "tcp.connect.refused", None),
    ("recv() failed (104: Connection reset by peer) while reading response header from upstream",
     "tcp.rst.before_response", "rst"),
    ("upstream prematurely closed connection while reading response header from upstream",
     "tcp.fin.before_response", "fin"),
]

ERR_RE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")


class TruthError(Exception):
    pass


def link_type(path):
    with open(path, "rb") as f:
        head = f.read(64)
    magic = head[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        lt = struct.unpack("<I", head[20:24])[0]
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        lt = struct.unpack(">I", head[20:24])[0]
    elif magic == b"\x0a\x0d\x0d\x0a":
        # pcapng: SHB, then the first IDB holds the link type.
        bom = head[8:12]
        endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
        with open(path, "rb") as f:
            data = f.read(4096)
        off = 0
        lt = None
        while off + 12 <= len(data):
            btype, blen = struct.unpack(endian + "II", data[off:off + 8])
            if btype == 1:
                lt = struct.unpack(endian + "H", data[off + 8:off + 10])[0]
                break
            off += blen
        if lt is None:
            raise TruthError("%s: no interface description block" % path)
    else:
        raise TruthError("%s: not a pcap or pcapng file" % path)
    return LINKTYPES.get(lt, "LINKTYPE_%d" % lt)


def endpoint_from_url(url):
    m = re.match(r"^[a-z]+://(\[[0-9a-fA-F:.]+\]:\d+|[0-9.]+:\d+)", url)
    if not m:
        raise TruthError("cannot read upstream address from %r" % url)
    return m.group(1)


def strip_version(request):
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        return parts[0] + " " + parts[1]
    return request


def read_error_log(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            m = ERR_RE.match(raw)
            if not m:
                raise TruthError("%s:%d: unexpected error.log line %r" % (path, lineno, raw))
            text = m.group(3)
            fields = {}
            for key in ("request", "upstream"):
                fm = re.search(r', %s: "([^"]*)"' % key, text)
                fields[key] = fm.group(1) if fm else None
            out.append({"lineno": lineno, "raw": raw, "level": m.group(2), "text": text, **fields})
    return out


def read_access_log(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            p = shlex.split(raw)
            if len(p) != 8:
                raise TruthError("%s:%d: unexpected access.log line %r" % (path, lineno, raw))
            out.append({"lineno": lineno, "raw": raw, "msec": float(p[0]), "status": int(p[1]),
                        "upstream_addr": p[2], "upstream_status": p[3],
                        "upstream_connect_time": p[4], "request": p[5],
                        "client": p[6], "client_port": p[7]})
    return out


def read_upstream_log(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            toks = shlex.split(raw)
            kv = {}
            for tok in toks[1:]:
                k, _, v = tok.partition("=")
                kv[k] = v
            for need in ("accepted", "peer", "server", "mode", "requests", "did", "end"):
                if need not in kv:
                    raise TruthError("%s:%d: upstream log line lacks %s" % (path, lineno, need))
            kv["lineno"] = lineno
            kv["raw"] = raw
            kv["accepted"] = float(kv["accepted"])
            kv["requests"] = int(kv["requests"])
            out.append(kv)
    out.sort(key=lambda c: c["accepted"])
    return out


def build(args):
    errors = read_error_log(args.error_log)
    access = read_access_log(args.access_log)
    conns = read_upstream_log(args.upstream_log)
    ename = args.name + ".nginx-error.log"
    aname = args.name + ".access.log"
    uname = args.name + ".upstream.log"

    entries = []  # (sort time, entry)
    used_conns = set()
    used_access = set()

    def access_for(request_line, server, status):
        for i, a in enumerate(access):
            if i in used_access:
                continue
            if (strip_version(a["request"]) == strip_version(request_line)
                    and a["upstream_addr"] == server and a["status"] == status):
                used_access.add(i)
                return a
        raise TruthError("no access.log line for %r via %s with status %d"
                         % (request_line, server, status))

    for e in errors:
        rule = next((r for r in ERROR_RULES if r[0] in e["text"]), None)
        if rule is None:
            raise TruthError("%s:%d: error line with no verdict rule: %s" % (ename, e["lineno"], e["raw"]))
        needle, verdict, mode = rule
        if not e["upstream"] or not e["request"]:
            raise TruthError("%s:%d: no upstream/request field" % (ename, e["lineno"]))
        server = endpoint_from_url(e["upstream"])
        a = access_for(e["request"], server, 502)
        err_src = "%s line %d: %s" % (ename, e["lineno"], e["raw"])
        if mode is None:
            # Refused: never accepted, so the upstream never learned the client port.
            listening = [c for c in conns if c["server"] == server]
            if listening:
                raise TruthError("%s refused but the upstream log shows accepts on it" % server)
            entries.append((a["msec"], {"client": None, "server": server, "verdict": verdict,
                                        "source": err_src}))
            continue
        match = None
        for i, c in enumerate(conns):
            if i in used_conns or c["server"] != server or c["mode"] != mode:
                continue
            if ("read %s," % e["request"]) in c["did"]:
                match = i
                break
        if match is None:
            raise TruthError("%s:%d: no upstream log line for this error" % (ename, e["lineno"]))
        used_conns.add(match)
        c = conns[match]
        entries.append((c["accepted"], {
            "client": c["peer"], "server": server, "verdict": verdict,
            "source": "%s; %s line %d: %s" % (err_src, uname, c["lineno"], c["raw"])}))

    for i, c in enumerate(conns):
        if i in used_conns:
            continue
        if c["mode"] != "healthy":
            raise TruthError("%s line %d: %s connection has no nginx error line" % (uname, c["lineno"], c["mode"]))
        if c["requests"] < 1:
            raise TruthError("%s line %d: accepted connection carried no request" % (uname, c["lineno"]))
        served = [s.strip() for s in c["did"].split(";")]
        for s in served:
            m = re.match(r"^(.*) -> 200 ", s)
            if not m:
                raise TruthError("%s line %d: unexpected did %r" % (uname, c["lineno"], s))
            access_for(m.group(1), c["server"], 200)
        entries.append((c["accepted"], {
            "client": c["peer"], "server": c["server"], "verdict": "none",
            "source": "%s line %d: %s" % (uname, c["lineno"], c["raw"])}))

    leftover = [a for i, a in enumerate(access) if i not in used_access]
    if leftover:
        raise TruthError("access.log lines not explained by any connection: %s"
                         % "; ".join(a["raw"] for a in leftover))

    entries.sort(key=lambda t: t[0])
    return {
        "capture": args.capture,
        "gateway": args.gateway,
        "link_type": link_type(args.pcap),
        "client_requests": [{"request": strip_version(a["request"]), "status": a["status"]}
                            for a in access],
        "nginx_errors": [e["text"] for e in errors],
        "expected_connections": [e for _, e in entries],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True, help="scenario name, e.g. refused")
    ap.add_argument("--capture", required=True, help="capture file name recorded in the truth")
    ap.add_argument("--pcap", required=True, help="path of the capture (for the link type)")
    ap.add_argument("--gateway", required=True, help='e.g. "nginx 1.22.1" from nginx -v')
    ap.add_argument("--error-log", required=True)
    ap.add_argument("--access-log", required=True)
    ap.add_argument("--upstream-log", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        truth = build(args)
    except TruthError as exc:
        sys.exit("build-truth.py: %s: %s" % (args.name, exc))
    with open(args.out, "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
