#!/usr/bin/env python3
"""Build <name>.truth.json for one sample capture from real program output only:

  * the gateway's own logs   -> what the gateway did and what each client got
      nginx:   error.log (nginx_errors, gateway_log) and the access log (client_requests)
      HAProxy: the `option httplog` lines (haproxy_log, termination state, status)
      Apache httpd, lighttpd (--kind): the error log and access log, read by
               gw_apache_lighttpd.py (gateway_errors, gateway_log, gateway_log_lines, class 500)
  * the upstream script log  -> one entry per accepted connection (client endpoint,
                                the requests it read, what it sent, how it closed)
  * the client log           -> curl's exit code and http_code per request (optional)
  * scenarios.py             -> the designed finding of each connection, the evidence
                                marker, and the outcome the committed run showed
  * tshark on the capture    -> evidence_frame, and the connection of a request the
                                upstream never read (keep-alive race)
  * the capture file header  -> link_type;  `nginx -v` / `haproxy -v` -> gateway

Never from edgescope.

Per expected connection (in connection start order):
  client, server, verdict, source      (the original fields)
  finding          the code the upstream's bytes violate (scenarios.py); `none` if healthy
  verdict          = finding, except `none` for lint-only codes (scenarios.LINT_ONLY)
  client_status    status of the last request carried by (or attempted on) the connection,
                   as the gateway logged it; null if there was none
  class            502|503|504 (the gateway made that status), truncated (the client got
                   the upstream's status and a cut body), relayed (the upstream's own 5xx),
                   ok, or closed (no response and no gateway log line: the gateway closed
                   the client connection silently; HAProxy's keep-alive race)
  gateway_log      the gateway's line about this connection (nginx error.log message, or
                   the HAProxy log line), or null
  haproxy_termination, haproxy_status   (HAProxy captures)
  evidence_frame   1-based tshark frame number of the first offending byte (see scenarios.py)
  evidence_filter  the tshark display filter that found it
  evidence_marker_hex
  requests         [{request, status, curl_exit, http_code}]: the last 20 at most
  request_count, request_statuses   all requests on the connection, and a count per status

Every gateway log line, upstream connection and access-log line must be explained, and
the outcome must equal scenarios.py's `expect`, or this exits 1 (after writing the file,
so the mismatch can be read). Python 3 stdlib + the tshark program.

Invoked without --scenario (the first seven captures of make-captures.sh) the finding of
each connection comes from the upstream's --mode and nginx's error text, as before:
  connect() failed (111: Connection refused)                  -> tcp.connect.refused
  recv() failed (104: Connection reset by peer) while reading
      response header from upstream                           -> tcp.rst.before_response
  upstream prematurely closed connection while reading
      response header from upstream                           -> tcp.fin.before_response
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402
import gw_apache_lighttpd as gwx  # noqa: E402  (Apache httpd, lighttpd: --kind)

LINKTYPES = {0: "NULL", 1: "EN10MB", 101: "RAW", 108: "LOOP", 113: "LINUX_SLL",
             228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2"}

LEGACY_RULES = [
    ("connect() failed (111: Connection refused)", "tcp.connect.refused", None),
    ("recv() failed (104: Connection reset by peer) while reading response header from upstream",
     "tcp.rst.before_response", "rst"),
    ("upstream prematurely closed connection while reading response header from upstream",
     "tcp.fin.before_response", "fin"),
]
LEGACY_EVIDENCE = {"tcp.connect.refused": "upstream_rst", "tcp.rst.before_response": "upstream_rst",
                   "tcp.fin.before_response": "upstream_fin", "none": None}

ERR_RE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")
# option httplog: %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r
HAP_RE = re.compile(r'^(\S+):(\d+) \[([^\]]+)\] (\S+) (\S+)/(\S+) (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(\+?-?\d+) '
                    r'(-?\d+) (\+?\d+) (\S+) (\S+) (\S{4}) (\S+) (\S+) "(.*)"$')
HAP_NOISE = re.compile(r"^Proxy \S+ stopped \(cumulated conns: .*\)\.$")
REQ_RE = re.compile(r"\b(GET|HEAD|POST|PUT|DELETE|OPTIONS) (/\S*) HTTP/1\.[01]")


class TruthError(Exception):
    pass


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise TruthError("%s failed: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout


def link_type(path):
    with open(path, "rb") as f:
        head = f.read(64)
    magic = head[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        lt = struct.unpack("<I", head[20:24])[0]
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        lt = struct.unpack(">I", head[20:24])[0]
    elif magic == b"\x0a\x0d\x0d\x0a":
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


def port_of(ep):
    return int(ep.rsplit(":", 1)[1])


# ------------------------------------------------------------------ readers

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
            t = calendar.timegm(time.strptime(m.group(1), "%Y/%m/%d %H:%M:%S"))
            out.append({"lineno": lineno, "raw": raw, "level": m.group(2), "text": text,
                        "time": t, **fields})
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


def read_haproxy_log(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw or HAP_NOISE.match(raw):
                continue
            m = HAP_RE.match(raw)
            if not m:
                raise TruthError("%s:%d: unexpected HAProxy log line %r" % (path, lineno, raw))
            date = m.group(3)  # 22/Nov/2026:00:39:06.615
            t = calendar.timegm(time.strptime(date[:20], "%d/%b/%Y:%H:%M:%S")) + float("0" + date[20:])
            out.append({"lineno": lineno, "raw": raw, "time": t, "status": int(m.group(12)),
                        "backend": m.group(5), "server": m.group(6),
                        "timers": "/".join(m.group(i) for i in range(7, 12)),
                        "termination": m.group(16), "request": strip_version(m.group(19))})
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
            kv["request_lines"] = ["%s %s" % m for m in REQ_RE.findall(kv["did"])]
            if "unexpected " in kv["did"]:
                raise TruthError("%s:%d: the upstream got bytes its script did not expect: %s"
                                 % (path, lineno, kv["did"]))
            out.append(kv)
    out.sort(key=lambda c: c["accepted"])
    return out


def read_client_log(path):
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                out[e["request"]] = e
    return out


# ------------------------------------------------- gateways with their own folder

# Codes whose failure comes after the response head: a 2xx the gateway does not turn into an
# error of its own ends as a cut (or hidden-cut) body for the client.
BODY_PHASE = {"tcp.fin.mid_body", "tcp.rst.mid_body", "http.chunked.bad_size",
              "http.chunked.size_overflow", "http.chunked.data_len_mismatch", "http.chunked.bad_trailer"}
# Caddy's reverse proxy logs these (at error level, without the request) when the upstream's
# body fails after the response head was sent to the client.
CADDY_BODY_MSGS = ("reading from backend", "aborting with incomplete response")
CADDY_NOISE = re.compile(r"^(admin endpoint disabled|automatic HTTPS is completely disabled for server|"
                         r"started background certificate maintenance|cleaning storage unit|"
                         r"finished cleaning storage units|starting server loop|server running|"
                         r"autosaved config \(load with --resume flag\)|serving initial configuration|"
                         r"shutting down|exiting; byeee!! .*|servers shutting down with eternal grace period|"
                         r"stopped background certificate maintenance|shutdown complete|"
                         r"HTTP/2 skipped because it requires TLS|HTTP/3 skipped because it requires TLS)$")


def read_caddy_log(path):
    """Caddy's JSON log: one entry per access-log line (logger http.log.access*), with the
    http.log.error entry and the reverse proxy's entries of the same request (matched by
    method, URI and client port). Every other line must be start/stop noise."""
    name = os.path.basename(path)
    entries, pending = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            d = json.loads(raw)
            d["lineno"], d["raw"] = lineno, raw
            req = d.get("request")
            logger = d.get("logger", "")
            if req is None:
                if logger == "http.handlers.reverse_proxy" and d["msg"] in CADDY_BODY_MSGS + ("selected upstream",):
                    # These carry no request: they belong to the next access-log line.
                    pending.append(d)
                    continue
                if not CADDY_NOISE.match(d["msg"]):
                    raise TruthError("%s:%d: unexpected Caddy log line %r" % (path, lineno, raw))
                continue
            key = (req["method"], req["uri"], req["remote_port"])
            if logger.startswith("http.log.access"):
                lines = [x for x in pending if x.get("key") == key or "key" not in x]
                pending = [x for x in pending if x not in lines]
                entries.append({"request": "%s %s" % (req["method"], req["uri"]), "status": d["status"],
                                "time": d["ts"] - d.get("duration", 0), "server": None, "raw": raw,
                                "errors": [], "access": d, "lines": lines, "log_name": name})
            elif logger in ("http.log.error", "http.handlers.reverse_proxy"):
                d["key"] = key
                pending.append(d)
            else:
                raise TruthError("%s:%d: unexpected Caddy log line %r" % (path, lineno, raw))
    if pending:
        raise TruthError("%s: Caddy log lines with no access-log line: %s" % (path, pending[0]["raw"]))
    for e in entries:
        err = [x for x in e["lines"] if x.get("logger") == "http.log.error"]
        trip = [x for x in e["lines"] if x.get("msg") == "upstream roundtrip"]
        body = [x for x in e["lines"] if x.get("msg") in CADDY_BODY_MSGS]
        e["failed"] = bool(err)
        e["body_failed"] = bool(body)
        # gateway_log: the error entry's msg (Caddy puts the error text there), or, for a body
        # failure, the reverse proxy's "msg: error".
        e["gateway_log"] = (err[0]["msg"] if err else
                            "; ".join("%s: %s" % (x["msg"], x.get("error")) for x in body) if body else None)
        e["deciding"] = err[0] if err else body[0] if body else e["access"]
        e["detail"] = {"caddy_error_msg": err[0]["msg"] if err else None,
                       "caddy_error_status": err[0].get("status") if err else None,
                       "caddy_roundtrip_error": next((x["error"] for x in trip if x.get("error")), None),
                       "caddy_upstream_status": next((x["status"] for x in trip if x.get("status")), None),
                       "caddy_body_errors": [{"msg": x["msg"], "error": x.get("error")} for x in body],
                       "caddy_access_status": e["access"]["status"], "caddy_access_size": e["access"].get("size")}
    return entries


VSL_RE = re.compile(r"^(-+)\s+(\w+)\s?(.*)$")


def read_varnish_log(path):
    """varnishlog -g request: one entry per client request (ReqURL, RespStatus), with its
    backend fetch (BackendOpen, FetchError, BerespStatus, BackendClose)."""
    name = os.path.basename(path)
    groups, cur = [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            if raw.startswith("*"):
                kind = "req" if "<< Request" in raw else "bereq" if "<< BeReq" in raw else None
                if kind is None:
                    raise TruthError("%s:%d: unexpected varnishlog group %r" % (path, lineno, raw))
                if kind == "req":
                    cur = {"req": [], "bereq": [], "lineno": lineno}
                    groups.append(cur)
                    target = cur["req"]
                else:
                    target = []
                    cur["bereq"].append(target)
                continue
            m = VSL_RE.match(raw)
            if not m or cur is None:
                raise TruthError("%s:%d: unexpected varnishlog line %r" % (path, lineno, raw))
            target.append((m.group(2), m.group(3).strip(), lineno, raw))
    entries = []
    for g in groups:
        tags = {}
        for tag, val, lineno, raw in g["req"]:
            tags.setdefault(tag, []).append((val, lineno, raw))
        if "ReqURL" not in tags:
            raise TruthError("%s:%d: a request group without ReqURL" % (path, g["lineno"]))
        start = float(next(v for v, _, _ in tags["Timestamp"] if v.startswith("Start:")).split()[1])
        status = int(tags["RespStatus"][-1][0]) if "RespStatus" in tags else None
        fetch_errors, errors, opens, closes, bstatus, deciding = [], [], [], [], [], None
        bogo, garbage = [], []
        for be in g["bereq"]:
            for tag, val, lineno, raw in be:
                if tag == "FetchError":
                    fetch_errors.append(val)
                    deciding = deciding or (lineno, raw)
                elif tag == "Error":
                    # e.g. "Body cannot be fetched" (CL+TE): an error with no FetchError.
                    errors.append(val)
                    deciding = deciding or (lineno, raw)
                elif tag == "BogoHeader":
                    bogo.append(val)   # what Varnish found wrong in the head
                elif tag == "HttpGarbage":
                    garbage.append(val)
                elif tag == "BackendOpen":
                    opens.append(val)
                elif tag == "BackendClose":
                    closes.append(val)
                elif tag == "BerespStatus":
                    bstatus.append(int(val))
        resp_line = tags["RespStatus"][-1] if "RespStatus" in tags else None
        reason = tags["RespReason"][-1][0] if "RespReason" in tags else None
        e = {"request": "%s %s" % (tags["ReqMethod"][0][0], tags["ReqURL"][0][0]), "status": status,
             "time": start, "server": None, "raw": resp_line[2] if resp_line else None, "errors": [],
             "log_name": name,
             # Varnish made the answer itself: a FetchError and its own "Backend fetch failed".
             "failed": bool(fetch_errors or errors) and reason == "Backend fetch failed",
             "gateway_log": "; ".join(fetch_errors or errors) if (fetch_errors or errors) else None}
        e["deciding"] = ({"lineno": deciding[0], "raw": deciding[1]} if deciding else
                         {"lineno": resp_line[1], "raw": resp_line[2]} if resp_line else None)
        e["detail"] = {"varnish_fetch_errors": fetch_errors, "varnish_errors": errors,
                       "varnish_resp_status": status,
                       "varnish_resp_content_length": [v.split(":", 1)[1].strip() for v, _, _ in tags.get("RespHeader", [])
                                                       if v.lower().startswith("content-length:")],
                       "varnish_resp_reason": reason, "varnish_beresp_status": bstatus,
                       "varnish_backend_open": opens, "varnish_backend_close": closes,
                       "varnish_bogo_header": bogo, "varnish_http_garbage": garbage}
        entries.append(e)
    return entries


def tls_alerts(pcap, keylog):
    """Every TLS alert tshark reads in the capture (decrypting with the key log, if any):
    [{frame, from_port, level, description}]."""
    cmd = ["tshark", "-r", pcap, "-Y", "tls.alert_message", "-T", "fields", "-e", "frame.number",
           "-e", "tcp.srcport", "-e", "tls.alert_message.level", "-e", "tls.alert_message.desc"]
    if keylog:
        cmd[3:3] = ["-o", "tls.keylog_file:%s" % keylog]
    out = []
    for line in run(cmd).splitlines():
        if line.strip():
            f, sp, level, desc = line.split("\t")
            out.append({"frame": int(f), "from_port": int(sp), "level": int(level), "description": int(desc)})
    return out


def classify_folder(spec, entry, client):
    """Caddy, Varnish: the class from the gateway's own log, the client and the scenario."""
    status = entry["status"]
    body = spec is not None and spec["finding"] in BODY_PHASE
    if client and client.get("curl_exit") in (18, 56, 92):
        return "truncated"
    if entry["failed"]:
        return str(status) if status in (500, 502, 503, 504) else "relayed"
    if status is not None and 200 <= status < 300 and (body or entry.get("body_failed") or (
            client and client.get("curl_exit") == 28 and client.get("size_download"))):
        # The gateway logged no failure and sent a 2xx, but the upstream's body was cut or
        # broken (the upstream log and the scenario say so): a cut or hidden-cut body.
        return "truncated"
    if status is not None and 500 <= status <= 599:
        return "relayed"
    return "ok"


# ------------------------------------------------------------------ tshark

class Capture:
    def __init__(self, path, keylog=None):
        self.path = path
        self.keylog = keylog   # decrypts TLS 1.3 handshake messages for the filters, when given
        self._requests = None

    def frames(self, flt, fields=("frame.number",)):
        cmd = ["tshark", "-r", self.path, "-Y", flt, "-T", "fields"]
        if self.keylog:
            cmd[3:3] = ["-o", "tls.keylog_file:%s" % self.keylog]
        for f in fields:
            cmd += ["-e", f]
        return [line.split("\t") for line in run(cmd).splitlines() if line.strip()]

    def first(self, flt):
        rows = self.frames(flt)
        return int(rows[0][0]) if rows else None

    def requests(self):
        """{request ("GET /x"): (client_port, server_port, frame)} from gateway payloads."""
        if self._requests is None:
            self._requests = {}
            for num, sp, dp, payload in self.frames("tcp.len > 0", ("frame.number", "tcp.srcport",
                                                                      "tcp.dstport", "tcp.payload")):
                data = bytes.fromhex(payload.replace(":", "")).decode("latin-1")
                for m in REQ_RE.finditer(data):
                    self._requests.setdefault("%s %s" % (m.group(1), m.group(2)),
                                              (int(sp), int(dp), int(num)))
        return self._requests

    def time_of(self, frame):
        rows = self.frames("frame.number == %d" % frame, ("frame.time_epoch",))
        return float(rows[0][0])


def marker_filter(marker):
    return "tcp.payload contains %s" % ":".join("%02x" % b for b in marker)


def evidence_for(cap, kind, marker, client, server, used):
    """(frame, filter) of the first offending byte, found with tshark."""
    sp = port_of(server)
    cp = port_of(client) if client else None
    conn = "tcp.srcport == %d && tcp.dstport == %d" % (sp, cp) if cp else "tcp.srcport == %d" % sp
    if kind is None:
        return None, None
    if kind == "payload":
        flt = "%s && %s" % (conn, marker_filter(marker))
    elif kind == "upstream_fin":
        flt = "%s && tcp.flags.fin == 1" % conn
    elif kind == "upstream_rst":
        flt = "%s && tcp.flags.reset == 1" % conn
    elif kind == "gateway_alert":
        # The gateway's (TLS client's) frame carrying the cleartext alert record `marker`.
        flt = "tcp.srcport == %d && tcp.dstport == %d && %s" % (cp, sp, marker_filter(marker))
    elif kind == "server_certificate":
        # The upstream's frame carrying its Certificate message: the bytes a certificate verdict
        # is about (decrypted with the key log in TLS 1.3).
        flt = "%s && tls.handshake.type == 11" % conn
    elif kind == "gateway_close":
        flt = "tcp.srcport == %d && tcp.dstport == %d && (tcp.flags.fin == 1 || tcp.flags.reset == 1)" % (cp, sp)
    elif kind == "first_syn":
        flt = "tcp.dstport == %d && tcp.flags.syn == 1 && tcp.flags.ack == 0" % sp
    else:
        raise TruthError("unknown evidence kind %r" % kind)
    rows = [int(r[0]) for r in cap.frames(flt)]
    rows = [r for r in rows if r not in used] if not cp else rows
    if not rows:
        raise TruthError("no frame matches the evidence filter %r" % flt)
    used.add(rows[0])
    return rows[0], flt


# ------------------------------------------------------------------ build

def classify(gw_kind, entry, errors, client):
    if entry.get("unlogged"):
        # Not logged by the gateway at all: what the client saw is all there is.
        if client and client.get("size_download") == 0 and client.get("ended") == "closed":
            # docs/json-report.md's classes have no "closed": the client's connection ended with no
            # complete response and no status from the gateway, which reports call truncated.
            return "truncated"
        raise TruthError("request %s is not in the gateway's log" % entry["request"])
    status = entry["status"]
    if gw_kind == "nginx":
        # [warn] lines (duplicate header ignored, extra data discarded) are not failures.
        failed = [e for e in errors if e["level"] in ("error", "crit", "alert", "emerg")]
        body_phase = any("while reading upstream" in e["text"] for e in failed)
        generated = bool(failed)
    else:
        term = entry["hap"]["termination"]
        body_phase = term[1] == "D"
        generated = term[:2] != "--"
    if body_phase or (client and client.get("curl_exit") in (18, 56, 92)):
        return "truncated"
    if 500 <= status <= 599:
        return str(status) if generated and status in (502, 503, 504) else "relayed"
    return "ok"


def build(args):
    spec = scenarios.BY_NAME.get(args.scenario) if args.scenario else None
    gw_kind = args.kind or ("haproxy" if args.haproxy_log else "caddy" if args.caddy_log
                            else "varnish" if args.varnish_log else "nginx")
    conns = read_upstream_log(args.upstream_log)
    clients = read_client_log(args.client_log)
    cap = Capture(args.pcap, keylog=getattr(args, "tls_keylog", None))
    uname = os.path.basename(args.upstream_log)

    # Gateway view: one entry per client request, with its error lines.
    errors, access, hap = [], [], []
    if gw_kind in gwx.KINDS:
        try:
            errors, entries = gwx.read_entries(gw_kind, args.error_log, args.access_log, clients)
        except gwx.TruthError as exc:
            raise TruthError(str(exc))
        ename = os.path.basename(args.error_log)
        by_req = {e["request"]: e for e in entries}
    elif gw_kind == "nginx":
        errors = read_error_log(args.error_log)
        access = read_access_log(args.access_log)
        ename = os.path.basename(args.error_log)
        entries = [{"request": strip_version(a["request"]), "status": a["status"], "time": a["msec"],
                    "server": a["upstream_addr"], "raw": a["raw"], "errors": [], "access": a}
                   for a in access]
        by_req = {}
        for e in entries:
            if e["request"] in by_req:
                raise TruthError("request %s logged twice; paths must be unique" % e["request"])
            by_req[e["request"]] = e
        for err in errors:
            req = strip_version(err["request"]) if err["request"] else None
            if req not in by_req:
                raise TruthError("%s:%d: error line for no logged request: %s" % (ename, err["lineno"], err["raw"]))
            by_req[req]["errors"].append(err)
    elif gw_kind in ("caddy", "varnish"):
        ename = os.path.basename(args.caddy_log or args.varnish_log)
        entries = read_caddy_log(args.caddy_log) if gw_kind == "caddy" else read_varnish_log(args.varnish_log)
        by_req = {e["request"]: e for e in entries}
        if len(by_req) != len(entries):
            raise TruthError("a request is logged twice; paths must be unique")
    else:
        hap = read_haproxy_log(args.haproxy_log)
        ename = os.path.basename(args.haproxy_log)
        entries = [{"request": h["request"], "status": h["status"], "time": h["time"],
                    "server": None, "raw": h["raw"], "errors": [], "hap": h} for h in hap]
        by_req = {e["request"]: e for e in entries}
        if len(by_req) != len(entries):
            raise TruthError("a request is logged twice; paths must be unique")

    # A request the client sent that the gateway never logged (HAProxy's abort_keep_alive:
    # a reused server connection failed, the client connection is closed without a
    # response and without a log line).
    for req, cl in sorted(clients.items(), key=lambda kv: kv[1].get("start", 0)):
        if req not in by_req:
            e = {"request": req, "status": None, "time": cl.get("start", 0), "server": None,
                 "raw": None, "errors": [], "unlogged": True, "client": cl}
            if gw_kind == "haproxy":
                e["hap"] = None
            entries.append(e)
            by_req[req] = e

    servers = args.servers.split(",") if args.servers else []

    # Connections: every accepted one from the upstream log, with the requests it read.
    expected = []
    explained = set()
    for c in conns:
        reqs = [strip_version(r) for r in c["request_lines"]]
        for r in reqs:
            if r not in by_req:
                raise TruthError("%s line %d: request %s is not in the gateway's log" % (uname, c["lineno"], r))
            explained.add(r)
        expected.append({"time": c["accepted"], "client": c["peer"], "server": c["server"],
                         "up": c, "requests": reqs})
    no_connection = []
    # Requests the upstream never read: find their bytes in the capture (keep-alive race),
    # else they never reached an accepted connection (refused, connect timeout).
    for e in entries:
        if e["request"] in explained:
            continue
        loc = cap.requests().get(e["request"])
        if loc:
            cport, sport, frame = loc
            hit = [x for x in expected if x["client"] and port_of(x["client"]) == cport
                   and port_of(x["server"]) == sport]
            if len(hit) != 1:
                raise TruthError("request %s was sent on port %d (frame %d), which no upstream log line explains"
                                 % (e["request"], cport, frame))
            hit[0]["requests"].append(e["request"])
            hit[0]["located"] = "request %s found with tshark in frame %d" % (e["request"], frame)
        else:
            server = e["server"]
            if gw_kind == "nginx":
                ups = [err["upstream"] for err in e["errors"] if err["upstream"]]
                server = endpoint_from_url(ups[0]) if ups else server
            elif len(servers) == 1:
                server = servers[0]
            elif e.get("hap") and re.fullmatch(r"s\d+", e["hap"]["server"] or ""):
                # run-scenario.py names HAProxy's servers s1, s2... in --servers order.
                server = servers[int(e["hap"]["server"][1:]) - 1]
            if not server or server == "-":
                raise TruthError("request %s: no upstream address" % e["request"])
            idle = [x for x in expected if x["up"] is not None and x["server"] == server
                    and not x["requests"] and x["up"]["requests"] == 0]
            if gw_kind in ("caddy", "varnish") and idle:
                # The upstream accepted a connection but read no request on it (it spoke first
                # and the gateway gave up before writing the request).
                idle[0]["requests"].append(e["request"])
                idle[0]["located"] = ("request %s was never read by the upstream: its only "
                                      "connection to %s carried none" % (e["request"], server))
                explained.add(e["request"])
                continue
            if any(c["server"] == server for c in conns):
                raise TruthError("%s never accepted, but the upstream log shows accepts on it" % server)
            if gw_kind in ("caddy", "varnish"):
                # A gateway may answer without trying the server at all (Varnish holds a refused
                # backend down): connection attempts are the distinct SYNs to it in the capture.
                # A SYN belongs to the request whose client exchange (curl's start to end) holds it.
                cl = clients.get(e["request"], {})
                t0, t1 = cl.get("start", e["time"]), cl.get("end", e["time"] + 10)
                syns = cap.frames("tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == %d"
                                  % port_of(server), ("tcp.srcport", "frame.time_epoch"))
                if not any(t0 <= float(t) <= t1 for _, t in syns):
                    no_connection.append(e)
                    explained.add(e["request"])
                    continue
            expected.append({"time": e["time"], "client": None, "server": server, "up": None,
                             "requests": [e["request"]]})
        explained.add(e["request"])

    used_frames = set()
    out_conns = []
    for x in sorted(expected, key=lambda x: x["time"]):
        c = x["up"]
        reqs = x["requests"]
        ents = [by_req[r] for r in reqs]
        last = ents[-1] if ents else None
        errs = [err for en in ents for err in en["errors"]]
        # The designed finding of this connection.
        if spec is None:
            if c is None:
                finding = None
            elif c["mode"] == "healthy":
                finding = "none"
            else:
                finding = {"rst": "tcp.rst.before_response", "fin": "tcp.fin.before_response"}[c["mode"]]
            rule_hits = [r for r in LEGACY_RULES for err in errs if r[0] in err["text"]]
            if errs and len(rule_hits) != len(errs):
                raise TruthError("error line with no verdict rule: %s" % "; ".join(e["raw"] for e in errs))
            if c is None:
                if not rule_hits or rule_hits[0][2] is not None:
                    raise TruthError("unaccepted connection without a refused error line")
                finding = rule_hits[0][1]
            elif rule_hits and rule_hits[0][1] != finding:
                raise TruthError("%s line %d: mode %s, but nginx says %s"
                                 % (uname, c["lineno"], c["mode"], rule_hits[0][1]))
            elif finding != "none" and not rule_hits:
                raise TruthError("%s line %d: %s connection has no nginx error line" % (uname, c["lineno"], c["mode"]))
            ev_kind, marker = LEGACY_EVIDENCE[finding], None
        else:
            kind = spec.get("kind", "script")
            own = re.search(r" -> (5\d\d) ", c["did"]) if kind == "pool-mixed" and c and c["mode"] == "healthy" else None
            if own:
                # A healthy member's own well-formed 5xx (upstream.py /own-5NN/): relayed.
                finding = "http.upstream_5xx"
            elif kind in ("pool", "pool-mixed", "then-healthy") and c is not None and c["mode"] == "healthy":
                finding = "none"
            elif kind == "pool-turns-bad" and c is not None and "`Content Type`" not in c["did"]:
                finding = "none"
            elif kind == "keepalive-race" and not x.get("located"):
                finding = "none"
            elif kind == "healthy":
                finding = "none"
            else:
                finding = spec["finding"]
            ev_kind = spec["evidence"] if finding != "none" else None
            marker = spec["marker"]
            if own:
                ev_kind, marker = "payload", b"HTTP/1.1 %s " % own.group(1).encode("ascii")
        if finding == "none":
            bad = [en for en in ents if en["status"] != 200 or en["errors"]]
            if bad or not ents:
                raise TruthError("healthy connection %s with a failed or no request: %s"
                                 % (x["client"], bad[:1]))
        verdict = ((spec or {}).get("wire_verdict") if finding == (spec or {}).get("finding") else None) \
            or scenarios.verdict_for(finding) if finding != "none" else "none"

        frame, flt = evidence_for(cap, ev_kind, marker, x["client"], x["server"], used_frames)

        client = clients.get(last["request"]) if last else None
        gw_note = None
        if gw_kind in gwx.KINDS:
            try:
                cls, gw_note = gwx.classify(gw_kind, last, finding, client) if last else (None, None)
            except gwx.TruthError as exc:
                raise TruthError(str(exc))
        elif gw_kind in ("caddy", "varnish"):
            cls = classify_folder(spec, last, client) if last else None
        else:
            cls = classify(gw_kind, last, errs if gw_kind == "nginx" else [], client) if last else None
        if gw_kind in gwx.KINDS:
            gwlog, gwlog_all = gwx.gateway_log(errs)
        elif gw_kind == "nginx":
            # The line that says why the request failed: the first at error level or above
            # (a [warn] such as "upstream server temporarily disabled" comes first).
            failed = [err for err in errs if err["level"] in ("error", "crit", "alert", "emerg")]
            gwlog = (failed or errs)[0]["text"] if errs else None
        elif gw_kind in ("caddy", "varnish"):
            gwlog = last["gateway_log"] if last else None
        else:
            gwlog = last["raw"] if last else None
        if last and last.get("unlogged"):
            gwlog = None
        src = []
        for err in errs:
            src.append("%s line %d: %s" % (ename, err["lineno"], err["raw"]))
        if gw_kind == "haproxy" and last and last.get("hap"):
            src.append("%s line %d: %s" % (ename, last["hap"]["lineno"], last["raw"]))
        if gw_kind in gwx.KINDS and last and last.get("access"):
            src.append("%s line %d: %s" % (os.path.basename(args.access_log), last["access"]["lineno"],
                                           last["access"]["raw"]))
            if client:
                src.append("client.log: curl exit %s, http_code %s, %s bytes%s"
                           % (client.get("curl_exit"), client.get("http_code"), client.get("size_download"),
                              (" (%s)" % client["curl_stderr"]) if client.get("curl_stderr") else ""))
        if gw_kind in ("caddy", "varnish") and last and last.get("deciding"):
            src.append("%s line %d: %s" % (ename, last["deciding"]["lineno"], last["deciding"]["raw"]))
        if last and last.get("unlogged"):
            src.append("%s: no line for %s; the client log says: %s"
                       % (ename, last["request"], last["client"].get("curl_stderr")))
        if c is not None:
            raw = c["raw"] if len(c["raw"]) <= 600 else c["raw"][:600] + " ... (%d characters)" % len(c["raw"])
            src.append("%s line %d: %s" % (uname, c["lineno"], raw))
        if x.get("located"):
            src.append(x["located"])
        status = last["status"] if last else None
        if gw_kind in ("caddy", "varnish") and client is not None:
            # What curl got (null: no status line reached it), which is not always what the
            # gateway logged (Caddy logs 200 for a response whose head it never flushed).
            status = client.get("http_code") or None
        note = None
        if gw_kind == "nginx" and last and last.get("access") and last["access"]["raw"].split()[1] == "009":
            # nginx relayed the upstream's bytes as an HTTP/0.9 response: no status line of
            # its own; the access log says 009 ($upstream_status 200). What the client saw
            # is whatever status line the raw bytes held, if curl could parse one.
            status = client["http_code"] if client and client.get("http_code") else None
            note = ("HTTP/0.9 relay: nginx logged $status 009 and $upstream_status %s and sent the "
                    "upstream's raw bytes with no status line of its own; curl exit %s, http_code %s, "
                    "%s bytes%s" % (last["access"]["upstream_status"], client and client.get("curl_exit"),
                                    client and client.get("http_code"), client and client.get("size_download"),
                                    " (the client connection stayed open: curl timed out)"
                                    if client and client.get("curl_exit") == 28 else ""))
        if gw_kind in gwx.KINDS and client and client.get("http_code") is not None and last:
            # What curl got (the access log's status is what the gateway meant to send).
            status = client["http_code"] or None
            note = gw_note
        conn = {"client": x["client"], "server": x["server"], "verdict": verdict,
                "source": "; ".join(src), "finding": finding,
                "client_status": status, "class": cls,
                "gateway_log": gwlog}
        if gw_kind in gwx.KINDS:
            conn["gateway_log_lines"] = gwlog_all
            conn["access_status"] = last["status"] if last else None
            conn["curl_exit"] = client.get("curl_exit") if client else None
            conn["size_download"] = client.get("size_download") if client else None
        if gw_kind == "nginx" and last and last.get("access"):
            conn["access_status"] = last["access"]["raw"].split()[1]
            conn["upstream_status"] = last["access"]["upstream_status"]
        if gw_kind in ("caddy", "varnish") and last and not last.get("unlogged"):
            conn["gateway_status"] = last["status"]
            conn.update(last["detail"])
            if client and client.get("curl_exit"):
                note = "curl exit %d: %s" % (client["curl_exit"], client.get("curl_stderr"))
        if note:
            conn["client_note"] = note
        if gw_kind == "haproxy":
            conn["haproxy_termination"] = last["hap"]["termination"] if last and last.get("hap") else None
            conn["haproxy_status"] = last["hap"]["status"] if last and last.get("hap") else None
        conn["evidence_frame"] = frame
        conn["evidence_filter"] = flt
        conn["evidence_marker_hex"] = marker.hex() if (marker and ev_kind in ("payload", "gateway_alert")) else None
        rq = []
        for r, en in zip(reqs, ents):
            cl = clients.get(r, {})
            rq.append({"request": r, "status": en["status"], "curl_exit": cl.get("curl_exit"),
                       "http_code": cl.get("http_code")})
        summary = {}
        for q in rq:
            summary[str(q["status"])] = summary.get(str(q["status"]), 0) + 1
        conn["request_count"] = len(rq)
        conn["request_statuses"] = summary
        conn["requests"] = rq[-20:]   # the last 20 at most (healthy-control has 1000 on one)
        if spec and spec.get("kind") == "keepalive-race" and finding != "none":
            conn["race"] = race_check(cap, x, reqs[-1])
        if spec and spec["name"] == "proto-server-speaks-first":
            if gw_kind in ("caddy", "varnish") and x["requests"] and x["requests"][-1] not in cap.requests():
                # The gateway saw the banner before it wrote the request, and gave up.
                conn["server_first"] = {"banner_frame": frame, "request_frame": None,
                                        "note": "the gateway never wrote the request (tshark finds none)"}
            else:
                conn["server_first"] = server_first_check(cap, x, frame)
        out_conns.append(conn)

    # Expectations (what the committed run showed).
    problems = []
    if spec is not None:
        if gw_kind in ("caddy", "varnish"):
            exp = scenarios.GATEWAY_FOLDER_EXPECT[gw_kind].get(spec["name"])
            if exp is None:
                problems.append("scenarios.py has no expectation yet for %s (first run)" % gw_kind)
                exp = {}
        else:
            exp = spec["expect"].get(gw_kind)
        if exp is None:
            raise TruthError("scenarios.py has no expectation for %s" % gw_kind)
        for conn in out_conns:
            if conn["finding"] == "none" and spec["finding"] != "none":
                continue
            if conn["finding"] != spec["finding"] and spec.get("expect_relayed"):
                # pool-mixed-5xx: a member's own 5xx must reach the client as it was sent.
                got = {"status": conn["client_status"], "class": conn["class"]}
                want = {"status": int(conn["upstream_status"]), "class": spec["expect_relayed"][gw_kind]}
                if got != want:
                    problems.append("%s: expected %s, got %s" % (conn["client"], want, got))
                continue
            got = {"status": conn["client_status"], "class": conn["class"]}
            if "termination" in exp:
                got["termination"] = conn.get("haproxy_termination")
            if "curl_exit" in exp:
                req = conn["requests"][-1]["request"] if conn["requests"] else None
                got["curl_exit"] = clients.get(req, {}).get("curl_exit")
            if "log" in exp:
                # Apache, lighttpd: the decisive error-log line (None: the gateway logged nothing).
                got["log"] = conn["gateway_log"]
                if exp["log"] is not None and got["log"] is not None and re.search(exp["log"], got["log"]):
                    got["log"] = exp["log"]
            if "log_re" in exp:
                # The gateway's text must match in full (None: the gateway logged no failure).
                log_text = conn["gateway_log"]
                ok = (log_text is None) if exp["log_re"] is None else \
                    bool(log_text is not None and re.fullmatch(exp["log_re"], log_text))
                got["log_re"] = exp["log_re"] if ok else log_text
            if not exp:
                continue
            want = {k: exp[k] for k in got}
            if got != want:
                problems.append("%s: expected %s, got %s" % (conn["client"], want, got))
        if "no_connection" in exp and len(no_connection) != exp["no_connection"]:
            problems.append("%d request(s) made no connection, expected %d"
                            % (len(no_connection), exp["no_connection"]))
        if not any(c["finding"] == spec["finding"] for c in out_conns):
            problems.append("no connection with the designed finding %s" % spec["finding"])

    truth = {
        "capture": args.capture,
        "gateway": args.gateway,
        "link_type": link_type(args.pcap),
        "client_requests": [{"request": e["request"], "status": e["status"]} for e in entries
                            if not e.get("unlogged")],
        "nginx_errors": [e["text"] for e in errors] if gw_kind == "nginx" else [],
    }
    if gw_kind in gwx.KINDS:
        truth["gateway_errors"] = [e["raw"] for e in errors]
    if spec is not None:
        truth["scenario"] = spec["name"]
        truth["upstream_sends"] = spec["sends"]
        truth["gateway_kind"] = gw_kind
        if spec.get("size_limit"):
            truth["size_limit_bytes"] = spec["size_limit"]
    if gw_kind == "haproxy":
        truth["haproxy_log"] = [h["raw"] for h in hap]
    if gw_kind in ("caddy", "varnish"):
        truth["gateway_log_file"] = os.path.basename(args.caddy_log or args.varnish_log)
        if args.tls_ca_file:
            # Paths relative to captures/, as every truth's are: the gateway's folder first.
            folder = gw_kind + "/" if gw_kind in ("caddy", "varnish") else ""
            truth["tls"] = {"ca_file": folder + args.tls_ca_file,
                            "leaf_file": folder + args.tls_leaf_file if args.tls_leaf_file else None,
                            "keylog": folder + os.path.basename(args.tls_keylog) if args.tls_keylog else None,
                            "keylog_written_by": "server" if args.tls_keylog else None,
                            "server_name": "upstream.test", "max_version": spec.get("tls_max") or "1.3",
                            "alerts": tls_alerts(args.pcap, args.tls_keylog)}
        truth["gateway_log_lines"] = [e["gateway_log"] for e in entries if e.get("gateway_log")]
        # Requests the gateway answered without any connection to the upstream (no SYN).
        truth["requests_without_connection"] = [
            dict({"request": e["request"], "verdict": None,
                  "client_status": clients.get(e["request"], {}).get("http_code") or None,
                  "gateway_status": e["status"],
                  "class": classify_folder(spec, e, clients.get(e["request"])),
                  "gateway_log": e["gateway_log"],
                  "source": "%s line %d: %s; no SYN to %s for it in the capture"
                            % (ename, e["deciding"]["lineno"], e["deciding"]["raw"], servers[0] if servers else "?")},
                 **e["detail"]) for e in no_connection]
    truth["expected_connections"] = out_conns
    return truth, problems


def race_check(cap, x, request):
    """The upstream FIN must come before, or within one RTT after, the gateway's request."""
    sp, cp = port_of(x["server"]), port_of(x["client"])
    req_frame = cap.requests()[request][2]
    fin = cap.first("tcp.srcport == %d && tcp.dstport == %d && tcp.flags.fin == 1" % (sp, cp))
    syn = cap.first("tcp.srcport == %d && tcp.dstport == %d && tcp.flags.syn == 1 && tcp.flags.ack == 0" % (cp, sp))
    synack = cap.first("tcp.srcport == %d && tcp.dstport == %d && tcp.flags.syn == 1 && tcp.flags.ack == 1" % (sp, cp))
    rst = cap.first("tcp.srcport == %d && tcp.dstport == %d && tcp.flags.reset == 1" % (sp, cp))
    rtt = cap.time_of(synack) - cap.time_of(syn)
    delta = cap.time_of(fin) - cap.time_of(req_frame)
    ok = delta <= rtt
    if not ok:
        raise TruthError("keep-alive race not reproduced: upstream FIN %.1f ms after the request, RTT %.1f ms"
                         % (delta * 1000, rtt * 1000))
    return {"request_frame": req_frame, "upstream_fin_frame": fin, "upstream_rst_frame": rst,
            "fin_minus_request_ms": round(delta * 1000, 3), "rtt_ms": round(rtt * 1000, 3),
            "crossed": delta > 0}


def server_first_check(cap, x, banner_frame):
    """The banner must precede the gateway's request, and must not acknowledge it."""
    sp, cp = port_of(x["server"]), port_of(x["client"])
    req_frame = cap.requests()[x["requests"][-1]][2]
    ack = cap.frames("frame.number == %d" % banner_frame, ("tcp.ack",))[0][0]
    if not banner_frame < req_frame or ack != "1":
        raise TruthError("server-speaks-first not shown: banner frame %d, request frame %d, banner ack %s"
                         % (banner_frame, req_frame, ack))
    return {"banner_frame": banner_frame, "request_frame": req_frame, "banner_relative_ack": 1}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True, help="capture base name, e.g. refused or refused.haproxy")
    ap.add_argument("--scenario", help="scenario name from scenarios.py (omit for the first seven captures)")
    ap.add_argument("--capture", required=True, help="capture file name recorded in the truth")
    ap.add_argument("--pcap", required=True, help="path of the capture")
    ap.add_argument("--gateway", required=True, help='e.g. "nginx 1.22.1" or "HAProxy 2.6.12-1+deb12u4"')
    ap.add_argument("--error-log")
    ap.add_argument("--access-log")
    ap.add_argument("--haproxy-log")
    ap.add_argument("--kind", choices=gwx.KINDS, help="apache or lighttpd (with --error-log and --access-log)")
    ap.add_argument("--caddy-log", help="Caddy's JSON log of the run (captures/caddy/)")
    ap.add_argument("--tls-ca-file", help="the CA file the gateway trusted, its name in the truth's folder (the truth records it relative to captures/)")
    ap.add_argument("--tls-keylog", help="the upstream's key log of the capture (TLS 1.3 scenarios)")
    ap.add_argument("--tls-leaf-file", help="the leaf certificate the upstream served, its name in the truth's folder")
    ap.add_argument("--varnish-log", help="varnishlog -g request output of the run (captures/varnish/)")
    ap.add_argument("--upstream-log", required=True)
    ap.add_argument("--client-log")
    ap.add_argument("--servers", help="comma-separated upstream endpoints the gateway was given")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not (args.haproxy_log or args.caddy_log or args.varnish_log) and not (args.error_log and args.access_log):
        sys.exit("build-truth.py: give --error-log and --access-log (nginx) or --haproxy-log")
    try:
        truth, problems = build(args)
    except TruthError as exc:
        sys.exit("build-truth.py: %s: %s" % (args.name, exc))
    with open(args.out, "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    if problems:
        sys.exit("build-truth.py: %s: outcome differs from scenarios.py: %s" % (args.name, "; ".join(problems)))


if __name__ == "__main__":
    main()
