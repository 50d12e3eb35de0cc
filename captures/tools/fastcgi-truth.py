#!/usr/bin/env python3
"""The truth of one FastCGI capture (issue 17), from the gateway's own logs, curl's results and the
upstream's own log; tshark (never edgescope) finds the frames. Then the capture is checked.

  fastcgi-truth.py --dir captures/fastcgi --name nginx-killed-before-output --meta META.json
  fastcgi-truth.py --dir captures/fastcgi --name nginx-killed-before-output   # rebuild from the committed files

What it reads (all in --dir, named <name>.*):
  .client.log           curl, one JSON line per request: status, exit code, body bytes, local port
  .error.log            nginx's or Apache's error log; Caddy's JSON log (error and access entries)
  .access.log           nginx's or Apache's access log ($remote_port / %{remote}p joins a client connection)
  .upstream.log         php-fpm's own log (`child N exited on signal 9`, `server reached
                        pm.max_children`), or fcgi-upstream.py's line per connection (what it sent)
  .upstream-access.log  php-fpm's access log (status and request id of each request it answered)
  .pcap                 with tshark: the TCP connections of both hops, the bytes of each FastCGI
                        connection (to read which request it carried from its FCGI_PARAMS:
                        HTTP_X_REQUEST_ID, REQUEST_URI; and to find the evidence frame and offsets)

The expected code of each request is fastcgi_scenarios.RULES applied to the gateway's decisive log
line (the first line about that request at level error or above, else the first) and, where a
rule says so, the upstream's log; a request the gateway logged nothing about is `none` when the
client got a clean 200. Any log line, client request or connection left unexplained fails the truth.

Evidence (where the FastCGI bytes or the TCP event show the cause), per code:
  tcp.rst.*                      the upstream's first RST on that connection
  tcp.fin.*                      the upstream's first FIN
  tcp.connect.refused            the RST answering the gateway's SYN
  tcp.read_timeout               the gateway's first FIN (or RST) to the upstream
  fcgi.pool_exhausted            the gateway's first FIN (the give-up); `late_answer_frame` is the
                                 upstream's first FCGI_STDOUT after it
  fcgi.stderr.*                  the frame holding the first byte of the PHP message (`PHP Fatal
                                 error` / `PHP Warning`) inside FCGI_STDERR content
  http.header.name_ctl_or_space  the bad field name in FCGI_STDOUT content (`Content Type:`)
  fcgi.status.invalid            the `Status:` line in FCGI_STDOUT content
  http.header.too_large          the byte at offset 4096 of the upstream's record stream (the first
                                 one nginx's 4k fastcgi_buffer_size cannot hold; the head has no end
                                 before it)
  fcgi.record.bad_version        the header of the first record whose version is not 1
  fcgi.record.truncated          the header of the record the stream ends inside (`fin_frame`: the FIN)
  fcgi.end_request.*             the FCGI_END_REQUEST record's header
  proto.http_response_to_fcgi    the first byte of the upstream's stream (`H`)
`evidence_stream_offset` counts from the first byte the upstream sent on that connection;
`evidence_content_offset` from the first content byte of that record type (STDOUT or STDERR) on it.
"""

import argparse
import calendar
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fastcgi_scenarios as fs  # noqa: E402

TYPES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST", 4: "PARAMS", 5: "STDIN", 6: "STDOUT", 7: "STDERR"}


class TruthError(Exception):
    pass


def tshark(pcap, display, fields):
    cmd = ["tshark", "-r", pcap, "-o", "tcp.relative_sequence_numbers:TRUE", "-Y", display, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise TruthError("tshark %s: %s" % (display, r.stderr.strip()))
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------------ the capture (tshark)

class Conn:
    def __init__(self, stream, client, server):
        self.stream, self.client, self.server = stream, client, server
        self.frames = []          # (frame, from_client, seq, payload bytes, flags)
        self.up = b""             # bytes server -> client, by relative seq
        self.down = b""           # bytes client -> server

    def data(self, from_client):
        buf = bytearray()
        for frame, fc, seq, payload, flags in self.frames:
            if fc != from_client or not payload:
                continue
            off = seq - 1
            if len(buf) < off + len(payload):
                buf.extend(b"\0" * (off + len(payload) - len(buf)))
            buf[off:off + len(payload)] = payload
        return bytes(buf)

    def frame_at(self, from_client, offset):
        """The first frame carrying byte `offset` of one direction."""
        for frame, fc, seq, payload, flags in self.frames:
            if fc == from_client and payload and seq - 1 <= offset < seq - 1 + len(payload):
                return frame
        return None

    def first_flag(self, from_client, bit):
        for frame, fc, seq, payload, flags in self.frames:
            if fc == from_client and flags & bit:
                return frame
        return None


def read_capture(pcap):
    rows = tshark(pcap, "tcp", ["frame.number", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
                                "tcp.seq", "tcp.flags", "tcp.payload"])
    conns = {}
    for frame, stream, src, sport, dst, dport, seq, flags, payload in rows:
        frame, stream, flags = int(frame), int(stream), int(flags, 16)
        a, b = "%s:%s" % (src, sport), "%s:%s" % (dst, dport)
        c = conns.get(stream)
        if c is None:
            if flags & 0x02 and not flags & 0x10:     # SYN: the sender is the client
                c = Conn(stream, a, b)
            else:
                raise TruthError("stream %d starts without a SYN (frame %d)" % (stream, frame))
            conns[stream] = c
        c.frames.append((frame, a == c.client, int(seq), bytes.fromhex(payload.replace(":", "")), flags))
    return [conns[k] for k in sorted(conns)]


def records(data):
    """FastCGI records of a byte stream: (stream offset, version, type, id, content offset, content, complete)."""
    out, i = [], 0
    while i + 8 <= len(data):
        version, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", data[i:i + 8])
        complete = i + 8 + clen + plen <= len(data)
        out.append((i, version, rtype, rid, i + 8, data[i + 8:i + 8 + clen], complete))
        if version != 1:
            break
        i += 8 + clen + plen
    if i < len(data) and (not out or out[-1][0] != i) and (not out or out[-1][1] == 1):
        out.append((i, None, None, None, None, data[i:], False))   # a header cut short
    return out


def parse_params(data):
    out, i = {}, 0

    def length():
        nonlocal i
        b = data[i]
        if b < 128:
            i += 1
            return b
        v = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return v
    while i < len(data):
        nl = length()
        vl = length()
        out[data[i:i + nl].decode("latin-1")] = data[i + nl:i + nl + vl].decode("latin-1")
        i += nl + vl
    return out


def fcgi_requests(conn):
    """The requests the gateway sent on a FastCGI connection: [params] in order."""
    reqs, params = [], b""
    for off, version, rtype, rid, coff, content, complete in records(conn.data(True)):
        if rtype == 4:
            if content:
                params += content
            else:
                reqs.append(parse_params(params))
                params = b""
    return reqs


def content_map(conn, rtype):
    """(content bytes of every record of `rtype` the upstream sent, [(content offset, stream offset)])."""
    content, spans = b"", []
    for off, version, rt, rid, coff, c, complete in records(conn.data(False)):
        if rt == rtype and version == 1:
            spans.append((len(content), coff, len(c)))
            content += c
    return content, spans


def stream_offset(spans, content_offset):
    for cstart, soff, n in spans:
        if cstart <= content_offset < cstart + n:
            return soff + content_offset - cstart
    return None


# ------------------------------------------------------------------ the logs

NGINX_ERR_RE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] \d+#\d+: (?:\*\d+ )?")


def read_nginx_error(path):
    entries = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            m = NGINX_ERR_RE.match(raw)
            if m:
                entries.append({"lineno": lineno, "raw": raw, "level": m.group(2), "text": raw[m.end():]})
            elif entries:   # a PHP stack trace inside "FastCGI sent in stderr" spans lines
                entries[-1]["raw"] += "\n" + raw
                entries[-1]["text"] += "\n" + raw
            elif raw:
                raise TruthError("%s:%d: unexpected nginx error-log line %r" % (path, lineno, raw))
    for e in entries:
        m = re.search(r', client: [^,]*, server: [^,]*, request: "([^"]*)"', e["text"])
        e["request"] = m.group(1) if m else None
        e["message"] = e["text"][:m.start()] if m else e["text"]
    return entries


APACHE_ERR_RE = re.compile(r"^\[(\w{3} \w{3} \d\d \d\d:\d\d:\d\d)(\.\d+)? (\d{4})\] \[([\w-]+):(\w+)\] "
                           r"\[pid \d+(?::tid \d+)?\] (.*)$")
APACHE_CLIENT_RE = re.compile(r"\[client ([0-9.]+):(\d+)\] ")


def read_apache_error(path):
    entries = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            m = APACHE_ERR_RE.match(raw)
            if not m:
                if entries:
                    entries[-1]["raw"] += "\n" + raw
                    entries[-1]["text"] += "\n" + raw
                    continue
                if raw:
                    raise TruthError("%s:%d: unexpected Apache error-log line %r" % (path, lineno, raw))
                continue
            cm = APACHE_CLIENT_RE.search(m.group(6))
            text = "[%s:%s] %s" % (m.group(4), m.group(5), m.group(6))
            entries.append({"lineno": lineno, "raw": raw, "level": m.group(5), "text": text,
                            "client_port": int(cm.group(2)) if cm else None,
                            "t": calendar.timegm(time.strptime(m.group(1) + " " + m.group(3), "%a %b %d %H:%M:%S %Y"))})
    for e in entries:
        e["message"] = APACHE_CLIENT_RE.sub("[client 127.0.0.1:PORT] ", e["text"])
    return entries


def read_caddy(path):
    """Caddy's JSON log: (entries about requests, access entries). An entry about a request is an
    error entry (`http.log.error`), the reverse proxy's `upstream roundtrip` (DEBUG: the status and
    header names it got from the FastCGI transport, or the error), or a reverse-proxy error with no
    request in it (`reading from backend`, `aborting with incomplete response`: joined to the
    request in flight by time). Start-up and shut-down entries are about no request."""
    entries, access = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            j = json.loads(raw)
            logger, msg = j.get("logger", ""), j.get("msg", "")
            req = j.get("request", {})
            port = int(req.get("remote_port", 0) or 0) or None
            if logger.startswith("http.log.access"):
                access.append({"lineno": lineno, "raw": raw, "j": j})
                continue
            if logger.startswith("http.log.error"):
                text = "http.log.error: %s (status %s)" % (msg, j.get("status"))
            elif logger == "http.handlers.reverse_proxy" and msg == "upstream roundtrip":
                if "error" in j:
                    text = "upstream roundtrip: error %s" % j["error"]
                else:
                    text = "upstream roundtrip: status=%s headers=%s" % (j.get("status"), json.dumps(sorted(j.get("headers", {}))))
            elif logger == "http.handlers.reverse_proxy" and j.get("level") in ("warn", "error"):
                text = "%s: %s" % (msg, j.get("error", ""))
            else:
                continue
            entries.append({"lineno": lineno, "raw": raw, "level": j.get("level"), "client_port": port,
                            "ts": j.get("ts"), "message": re.sub(r"127\.0\.0\.1:\d+->", "127.0.0.1:PORT->", text),
                            "text": text})
    return entries, access


LEVELS = {"debug": 0, "info": 1, "notice": 2, "warn": 3, "warning": 3, "error": 4, "crit": 5, "alert": 6, "emerg": 7}


def decisive(lines):
    if not lines:
        return None
    for e in lines:
        if LEVELS.get(e["level"], 4) >= 4:
            return e
    return lines[0]


# ------------------------------------------------------------------ the truth

def build(args):
    d, name = args.dir, args.name
    if args.meta:
        meta = json.load(open(args.meta))
    else:
        # Rebuild from the committed files: what the run's meta said is in the old truth.
        old = json.load(open(os.path.join(d, name + ".truth.json")))
        meta = {"capture": name, "scenario": old["scenario"], "gateway_kind": old["gateway_kind"],
                "gateway": old["gateway"], "upstream_kind": old["upstream_kind"],
                "upstream_software": old["upstream_software"], "gateway_listen": old["gateway_listen"],
                "upstream": old["fastcgi_upstream"], "read_timeout": old["read_timeout"],
                "base_port": int(old["gateway_listen"].rsplit(":", 1)[1]) - fs.OFF_GW}
    s, gw = fs.by_capture(name)
    p = lambda ext: os.path.join(d, "%s.%s" % (name, ext))
    pcap = p("pcap")
    clients = [json.loads(l) for l in open(p("client.log")) if l.strip()]
    gw_host, gw_port = meta["gateway_listen"].rsplit(":", 1)
    up_host, up_port = meta["upstream"].rsplit(":", 1)
    base = meta["base_port"]
    fcgi_ports = {str(base + fs.OFF_FPM), str(base + fs.OFF_SCRIPT), str(base + fs.OFF_REFUSED)}

    conns = read_capture(pcap)
    hop = [c for c in conns if c.server.endswith(":" + gw_port)]
    ups = [c for c in conns if c.server.rsplit(":", 1)[1] in fcgi_ports]
    if len(hop) + len(ups) != len(conns):
        raise TruthError("connections on other ports: %s" % [c.server for c in conns if c not in hop and c not in ups])
    if not hop or not ups:
        raise TruthError("both hops must be in the capture: %d client-hop and %d FastCGI connections" % (len(hop), len(ups)))

    up_text = open(p("upstream.log"), encoding="utf-8", errors="replace").read() if os.path.exists(p("upstream.log")) else ""
    up_lines = [l for l in up_text.splitlines() if l.strip()]
    up_access = []
    if os.path.exists(p("upstream-access.log")):
        for lineno, l in enumerate(open(p("upstream-access.log")), 1):
            m = re.search(r'"(\S+) (\S+)" status=(\d+) duration_ms=([\d.]+) request_id=(\S+)', l)
            if m:
                up_access.append({"lineno": lineno, "raw": l.rstrip("\n"), "request": m.group(1) + " " + m.group(2),
                                  "status": int(m.group(3)), "request_id": m.group(5)})

    # The gateway's logs.
    access = []
    if gw == "nginx":
        errs = read_nginx_error(p("error.log"))
        for lineno, l in enumerate(open(p("access.log")), 1):
            f = shlex.split(l)
            access.append({"lineno": lineno, "raw": l.rstrip("\n"), "status": int(f[1]), "request": f[4],
                           "client_port": int(f[6]), "request_id": f[8], "upstream_status": f[3]})
    elif gw == "apache":
        errs = read_apache_error(p("error.log"))
        for lineno, l in enumerate(open(p("access.log")), 1):
            f = shlex.split(l)
            access.append({"lineno": lineno, "raw": l.rstrip("\n"), "status": int(f[1]), "request": f[2],
                           "client_port": int(f[4]), "request_id": f[7]})
    else:
        errs, cacc = read_caddy(p("error.log"))
        for a in cacc:
            req = a["j"]["request"]
            access.append({"lineno": a["lineno"], "raw": a["raw"], "status": int(a["j"]["status"]),
                           "request": "%s %s" % (req["method"], req["uri"]), "client_port": int(req["remote_port"]),
                           "request_id": (req.get("headers", {}).get("X-Request-Id") or ["-"])[0]})
    used_errs = set()

    # Each client request: its client-hop connection, its access-log line, its gateway log lines.
    reqs = []
    for e in clients:
        port = e["local"].rsplit(":", 1)[1]
        c = [h for h in hop if h.client.endswith(":" + port)]
        if len(c) != 1:
            raise TruthError("%s: %d client-hop connections from port %s" % (e["request"], len(c), port))
        c = c[0]
        resp = next((fr for fr, fc, seq, pl, fl in c.frames if not fc and pl.startswith(b"HTTP/1.1 ")), None)
        acc = [a for a in access if a["client_port"] == int(port)]
        if len(acc) != 1:
            raise TruthError("%s: %d access-log lines for client port %s" % (e["request"], len(acc), port))
        acc = acc[0]
        path = e["request"].split(" ", 1)[1]
        if gw == "nginx":
            lines = [x for x in errs if x["request"] == "GET %s HTTP/1.1" % path]
        elif gw == "apache":
            lines = [x for x in errs if x["client_port"] == int(port)]
        else:
            lines = [x for x in errs if x["client_port"] == int(port) or
                     (x["client_port"] is None and e["start"] <= x["ts"] <= e["end"])]
        for x in lines:
            used_errs.add(x["lineno"])
        reqs.append({"client": e, "hop": c, "response_frame": resp, "access": acc, "lines": lines, "path": path})
    # Apache logs some lines without the client (AH00957 connect failures): they belong to the only
    # request whose client run covers them.
    for x in errs:
        if x["lineno"] in used_errs:
            continue
        if gw == "apache" and x.get("client_port") is None and len(reqs) == 1:
            reqs[0]["lines"].insert(0, x)
            used_errs.add(x["lineno"])
            continue
        raise TruthError("gateway log line %d is about no client request: %s" % (x["lineno"], x["raw"]))

    # Each FastCGI connection: the requests it carried (FCGI_PARAMS), matched by X-Request-Id.
    by_id = {r["client"]["request_id"]: r for r in reqs}
    conn_reqs = {}
    for c in ups:
        params = fcgi_requests(c)
        ids = [pp.get("HTTP_X_REQUEST_ID") for pp in params]
        for rid in ids:
            if rid not in by_id:
                raise TruthError("FastCGI connection %s carried an unknown request id %s" % (c.client, rid))
            if "upstream" in by_id[rid]:
                raise TruthError("request %s on two FastCGI connections" % rid)
            by_id[rid]["upstream"] = c
        conn_reqs[c.stream] = [by_id[rid] for rid in ids]
    # Connections that carried no request (refused: SYN, RST): the requests without a connection.
    orphans = [c for c in ups if not conn_reqs[c.stream]]
    lonely = [r for r in reqs if "upstream" not in r]
    if len(orphans) != len(lonely):
        raise TruthError("%d FastCGI connections without a request, %d requests without a connection"
                         % (len(orphans), len(lonely)))
    for c, r in zip(orphans, lonely):
        r["upstream"] = c
        conn_reqs[c.stream] = [r]

    # Per request: the code from the gateway's log text (and the upstream's log where a rule says).
    for r in reqs:
        c = r["upstream"]
        line = decisive(r["lines"])
        if gw == "caddy" and line is not None and LEVELS.get(line["level"], 4) < 4:
            line = None    # Caddy's DEBUG roundtrip entries are context, not a complaint
        script_line = next((l for l in up_lines if "peer=%s " % c.client in l), "")
        up_for_rule = (up_text + "\n" + "\n".join(a["raw"] for a in up_access if a["request_id"] == r["client"]["request_id"])
                       if meta["upstream_kind"] == "php-fpm" else script_line)
        r["upstream_log"] = script_line
        status, curl_exit = r["client"]["http_code"], r["client"]["curl_exit"]
        client = "status=%d curl_exit=%d " % (status, curl_exit)
        if gw == "caddy":
            text = " || ".join(x["message"] for x in r["lines"]) or None
        else:
            text = None if line is None else (line["message"] if gw == "nginx" else " || ".join(x["message"] for x in r["lines"]))
        hit = fs.rule_for(gw, text, up_for_rule, client)
        if hit is not None:
            code, klass, why = hit[0], hit[1], "rule %r" % hit[2]
        elif line is None:
            if status == 200 and curl_exit == 0:
                code, klass, why = "none", "ok", "no gateway log line; the client got a clean 200"
            else:
                raise TruthError("%s: client got %s (curl exit %d) and the gateway logged nothing" % (r["path"], status, curl_exit))
        else:
            raise TruthError("%s: no rule for the gateway's line %r" % (r["path"], text))
        r.update(code=code, klass=klass, rule=why, line=line)
        if klass == "ok" and status >= 500:
            raise TruthError("%s: rule says ok, client got %s" % (r["path"], status))
        if klass in ("500", "502", "503", "504") and int(klass) != status:
            raise TruthError("%s: rule says class %s, client got %s" % (r["path"], klass, status))

    # Evidence frames.
    for r in reqs:
        r.update(evidence(r, r["upstream"]))

    # Connection verdicts: the request with a code other than none (one per connection here).
    expected = []
    for c in ups:
        rs = conn_reqs[c.stream]
        bad = [r for r in rs if r["code"] != "none"]
        main = bad[0] if bad else rs[0]
        if len(bad) > 1:
            raise TruthError("connection %s: more than one failed request" % c.client)
        src = []
        for r in rs:
            for x in r["lines"]:
                src.append("%s.error.log line %d: %s" % (name, x["lineno"], x["raw"].split("\n")[0]))
            src.append("%s.access.log line %d: %s" % (name, r["access"]["lineno"], r["access"]["raw"][:400]))
            src.append("client.log: curl exit %d, http_code %d, %d bytes" % (r["client"]["curl_exit"], r["client"]["http_code"],
                                                                            r["client"]["size_download"]))
            if r["upstream_log"]:
                src.append("%s.upstream.log: %s" % (name, r["upstream_log"]))
            for a in up_access:
                if a["request_id"] == r["client"]["request_id"]:
                    src.append("%s.upstream-access.log line %d: %s" % (name, a["lineno"], a["raw"]))
        if main["code"] != "none":
            for l in up_lines:
                if re.search(r"exited on signal|server reached (pm\.)?max_children", l):
                    src.append("%s.upstream.log: %s" % (name, l))
        ent = {
            "client": c.client,
            "server": c.server,
            "verdict": main["code"],
            "source": "; ".join(dict.fromkeys(src)),
            "finding": main["code"],
            "client_status": main["client"]["http_code"],
            "class": main["klass"],
            "gateway_log": main["line"]["message"] if main["line"] else None,
            "gateway_log_lines": [x["message"] for r in rs for x in r["lines"]],
            "access_status": main["access"]["status"],
            "curl_exit": main["client"]["curl_exit"],
            "size_download": main["client"]["size_download"],
            "rule": main["rule"],
            # The gateway said nothing at error level about it: the code rests on the upstream's log
            # (and, for Caddy, its DEBUG roundtrip entry), see the rule.
            "gateway_log_silent": main["code"] != "none" and main["line"] is None,
        }
        for k in ("evidence_frame", "evidence_filter", "evidence_marker_hex", "evidence_stream_offset",
                  "evidence_content_offset", "evidence_record_type", "fin_frame", "late_answer_frame", "stderr_text"):
            ent[k] = main.get(k)
        ent["request_count"] = len(rs)
        ent["requests"] = [{"request": r["client"]["request"], "request_id": r["client"]["request_id"],
                            "status": r["client"]["http_code"], "curl_exit": r["client"]["curl_exit"],
                            "verdict": r["code"], "class": r["klass"]} for r in rs]
        if main["code"] != "none" and ent["evidence_frame"] is None:
            raise TruthError("%s: no evidence frame for %s" % (c.client, main["code"]))
        expected.append(ent)

    hop_conns, client_errors = [], []
    for r in reqs:
        e = r["client"]
        gen = "gateway"
        for a in up_access:
            if a["request_id"] == e["request_id"] and a["status"] == e["http_code"]:
                gen = "upstream"    # php-fpm logged the same status: PHP's own answer, relayed
        hop_conns.append({"client": r["hop"].client, "server": r["hop"].server, "request": e["request"],
                          "status": e["http_code"], "request_id": e["request_id"], "response_frame": r["response_frame"],
                          "source": "%s.access.log line %d: %s" % (name, r["access"]["lineno"], r["access"]["raw"][:400])})
        if e["http_code"] >= 500:
            if r["response_frame"] is None:
                raise TruthError("%s: no response frame on the client hop" % e["request"])
            client_errors.append({"client": r["hop"].client, "status": e["http_code"], "request": e["request"],
                                  "request_id": e["request_id"], "response_frame": r["response_frame"],
                                  "generated_by": gen,
                                  "upstream_connection": {"client": r["upstream"].client, "server": r["upstream"].server},
                                  "earlier_upstream_connections": [], "cause": r["code"],
                                  "source": "%s.access.log line %d: %s" % (name, r["access"]["lineno"], r["access"]["raw"][:400])})

    truth = {
        "capture": name + ".pcap",
        "gateway": meta["gateway"],
        "gateway_kind": gw,
        "link_type": "EN10MB",
        "scenario": s["name"],
        "upstream_kind": meta["upstream_kind"],
        "upstream_software": meta["upstream_software"],
        "upstream_sends": s["note"],
        "gateway_listen": meta["gateway_listen"],
        "fastcgi_upstream": meta["upstream"],
        "read_timeout": meta["read_timeout"],
        "client_requests": [{"request": e["request"], "status": e["http_code"], "request_id": e["request_id"]} for e in clients],
        "nginx_errors": [x["text"] for x in errs] if gw == "nginx" else [],
        "gateway_errors": [x["raw"] for x in errs],
        "expected_connections": expected,
        "client_hop_connections": hop_conns,
        "client_errors": client_errors,
    }
    with open(p("truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    check(pcap, truth, len(conns))
    print("%s: ok (%d FastCGI connection(s), %d client connection(s)): %s" % (
        name, len(ups), len(hop), ", ".join("%s/%s frame %s" % (x["verdict"], x["class"], x["evidence_frame"]) for x in expected)))


def evidence(r, c):
    code = r["code"]
    cport, sport = c.client.rsplit(":", 1)[1], c.server.rsplit(":", 1)[1]
    up_filter = "tcp.srcport == %s && tcp.dstport == %s" % (sport, cport)
    gw_filter = "tcp.srcport == %s && tcp.dstport == %s" % (cport, sport)
    out = {}
    if code == "none":
        return out
    if code in ("tcp.rst.before_response", "tcp.rst.mid_body", "tcp.connect.refused"):
        out["evidence_frame"] = c.first_flag(False, 0x04)
        out["evidence_filter"] = up_filter + " && tcp.flags.reset == 1"
    elif code in ("tcp.fin.before_response", "tcp.fin.mid_body"):
        out["evidence_frame"] = c.first_flag(False, 0x01)
        out["evidence_filter"] = up_filter + " && tcp.flags.fin == 1"
    elif code in ("tcp.read_timeout", "fcgi.pool_exhausted"):
        fin = c.first_flag(True, 0x01)
        rst = c.first_flag(True, 0x04)
        out["evidence_frame"] = min(x for x in (fin, rst) if x is not None)
        out["evidence_filter"] = gw_filter + " && (tcp.flags.fin == 1 || tcp.flags.reset == 1)"
        late = None
        for frame, fc, seq, payload, flags in c.frames:
            if not fc and payload and frame > out["evidence_frame"]:
                late = frame
                break
        if code == "fcgi.pool_exhausted":
            if late is None:
                raise TruthError("pool exhausted, but no answer after the gateway closed")
            out["late_answer_frame"] = late
        elif late is not None:
            raise TruthError("read timeout, but the upstream answered after the gateway closed (frame %d)" % late)
    elif code.startswith("fcgi.stderr."):
        content, spans = content_map(c, 7)
        marker = b"PHP Fatal error" if code.endswith("fatal") else b"PHP Warning"
        if marker not in content and b"Primary script unknown" in content:
            marker = b"Primary script unknown"
        i = content.find(marker)
        if i < 0:
            raise TruthError("%s: no %r in FCGI_STDERR" % (code, marker))
        so = stream_offset(spans, i)
        out.update(evidence_frame=c.frame_at(False, so), evidence_stream_offset=so, evidence_content_offset=i,
                   evidence_record_type="FCGI_STDERR", evidence_marker_hex=marker.hex(),
                   evidence_filter=up_filter + " && tcp.payload contains %s" % ":".join("%02x" % b for b in marker),
                   stderr_text=content.decode("utf-8", "replace").rstrip("\0"))
    elif code in ("http.header.name_ctl_or_space", "fcgi.status.invalid"):
        content, spans = content_map(c, 6)
        marker = b"Content Type:" if code == "http.header.name_ctl_or_space" else b"Status: "
        i = content.find(marker)
        if i < 0:
            raise TruthError("%s: no %r in FCGI_STDOUT" % (code, marker))
        so = stream_offset(spans, i)
        out.update(evidence_frame=c.frame_at(False, so), evidence_stream_offset=so, evidence_content_offset=i,
                   evidence_record_type="FCGI_STDOUT", evidence_marker_hex=marker.hex(),
                   evidence_filter=up_filter + " && tcp.payload contains %s" % ":".join("%02x" % b for b in marker))
    elif code == "http.header.too_large":
        content, spans = content_map(c, 6)
        head_end = content.find(b"\r\n\r\n")
        so = 4096
        ci = None
        for cstart, soff, n in spans:
            if soff <= so < soff + n:
                ci = cstart + so - soff
        if ci is None or (head_end >= 0 and head_end < ci):
            raise TruthError("header-too-big: stream offset 4096 is no head byte (head ends at content %d)" % head_end)
        out.update(evidence_frame=c.frame_at(False, so), evidence_stream_offset=so, evidence_content_offset=ci,
                   evidence_record_type="FCGI_STDOUT", evidence_filter=up_filter + " && tcp.len > 0")
    elif code in ("fcgi.record.bad_version", "fcgi.record.truncated", "fcgi.record.unexpected") or code.startswith("fcgi.end_request."):
        recs = records(c.data(False))
        if code == "fcgi.record.unexpected":
            # The first record under a request id the gateway did not send (it sends 1).
            rec = next((x for x in recs if x[3] not in (1, None)), None)
        elif code == "fcgi.record.bad_version":
            rec = next((x for x in recs if x[1] not in (1, None)), None)
        elif code == "fcgi.record.truncated":
            rec = next((x for x in recs if not x[6]), None)
            out["fin_frame"] = c.first_flag(False, 0x01)
        else:
            rec = next((x for x in recs if x[2] == 3), None)
        if rec is None:
            raise TruthError("%s: no such record on the wire" % code)
        so = rec[0]
        out.update(evidence_frame=c.frame_at(False, so), evidence_stream_offset=so,
                   evidence_record_type=TYPES.get(rec[2]) and "FCGI_" + TYPES[rec[2]],
                   evidence_marker_hex=c.data(False)[so:so + 8].hex(), evidence_filter=up_filter + " && tcp.len > 0")
    elif code == "fcgi.end_request.missing":
        out["evidence_frame"] = c.first_flag(False, 0x01)
        out["evidence_filter"] = up_filter + " && tcp.flags.fin == 1"
    elif code == "proto.http_response_to_fcgi":
        data = c.data(False)
        if not data.startswith(b"HTTP/"):
            raise TruthError("the upstream's stream does not start with HTTP/")
        out.update(evidence_frame=c.frame_at(False, 0), evidence_stream_offset=0, evidence_marker_hex=b"HTTP/1.1".hex(),
                   evidence_filter=up_filter + " && tcp.payload contains 48:54:54:50:2f")
    else:
        raise TruthError("no evidence rule for %s" % code)
    return out


def check(pcap, truth, nconns):
    """capinfos and tshark on the finished capture: encapsulation, size, the conversations, both hops."""
    r = subprocess.run(["capinfos", "-E", "-c", "-M", pcap], stdout=subprocess.PIPE, text=True)
    if not re.search(r"encapsulation:\s+ether", r.stdout):
        raise TruthError("capinfos: not Ethernet: %s" % r.stdout)
    size = os.path.getsize(pcap)
    if size > 300 * 1024:
        raise TruthError("capture is %d bytes (> 300 KB)" % size)
    r = subprocess.run(["tshark", "-r", pcap, "-q", "-z", "conv,tcp"], stdout=subprocess.PIPE, text=True)
    conv = [l for l in r.stdout.splitlines() if "<->" in l]
    want = len(truth["expected_connections"]) + len(truth["client_hop_connections"])
    if len(conv) != want or nconns != want:
        raise TruthError("tshark conv,tcp: %d conversations, the truth has %d" % (len(conv), want))
    for x in truth["expected_connections"]:
        if x["evidence_frame"] is not None:
            rows = tshark(pcap, "frame.number == %d && (%s)" % (x["evidence_frame"], x["evidence_filter"]), ["frame.number"])
            if len(rows) != 1:
                raise TruthError("evidence frame %d does not match %s" % (x["evidence_frame"], x["evidence_filter"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--meta", help="the run's meta.json (fastcgi-run.py); without it, the truth is rebuilt from "
                    "the committed files (the old truth gives the gateway, the ports and the upstream)")
    args = ap.parse_args()
    try:
        build(args)
    except TruthError as exc:
        sys.stderr.write("[fastcgi-truth] %s: %s\n" % (args.name, exc))
        sys.exit(1)


if __name__ == "__main__":
    main()
