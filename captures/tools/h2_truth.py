#!/usr/bin/env python3
"""The truth of one captures/http2/ capture (issue 18), from the gateway's own log (nginx error.log
and access log; HAProxy's log line), the client's outcome (curl's -w %{json}, or the grpcio
client's status) and the upstream script's log only: never from edgescope. tshark on the finished
capture finds the frame the upstream's log names (the evidence), and checks its HTTP/2 decode.

classify() maps the log text to the issue-18 code:

nginx 1.22 (grpc_pass) error.log line             -> code
  upstream rejected request with error N while reading upstream -> tcp.rst.mid_body (after the head)
  upstream rejected request with error N          -> h2.rst_stream.before_response
  upstream sent goaway with error N               -> h2.goaway
  upstream sent too large http2 frame: 4740180    -> proto.h1_response_to_h2 (tls.alpn.no_h2 over TLS
                                                     when the upstream's log says it selected no ALPN)
  upstream sent too large http2 frame: N          -> h2.frame.too_large
  upstream sent invalid http2 table index: N      -> h2.hpack.bad_index
  upstream sent invalid http2 dynamic table size update: N -> h2.hpack.error
  upstream sent no :status header                 -> h2.status.missing
  upstream sent duplicate :status header          -> h2.status.duplicate
  upstream sent invalid :status "..."             -> h2.status.invalid
  upstream sent invalid header ":name: value"     -> h2.header.request_pseudo
  upstream sent invalid header: "Name: value"     -> h2.header.uppercase (a name with upper case)
  upstream sent settings frame with non-zero stream id -> h2.settings.bad_stream
  upstream sent settings|ping|rst stream|goaway|window update frame with invalid length: N,
  upstream sent settings frame with ack flag and non-zero length: N -> h2.frame.size_error
  upstream sent unexpected push promise frame     -> h2.push_promise.unexpected
  upstream sent frame for closed stream N         -> h2.stream.closed
  upstream sent trailer without end stream flag   -> h2.trailers.no_end_stream
  upstream prematurely closed stream              -> h2.content_length.mismatch
  recv() failed / upstream prematurely closed connection while reading upstream -> tcp.fin.mid_body
  no line, 200                                    -> what the upstream log says it sent that nginx
                                                     tolerates (connection-specific headers, no
                                                     SETTINGS first), else none; a gRPC client's
                                                     non-OK status -> grpc.status.<name> (relayed)
HAProxy 2.6 (proto h2) log line                   -> code (the line does not name the fault: the
                                                     upstream's log does)
  PH-- 502                                        -> the header fault the upstream sent
  SD-- 200                                        -> tcp.fin.mid_body (upstream FIN) or
                                                     h2.content_length.mismatch (short DATA)
  SC-- 503                                        -> proto.h1_response_to_h2 (upstream mode h1), or
                                                     h2.preface.bad (the upstream's first frame
                                                     was not SETTINGS)
  no line, curl: stream reset, retried            -> what the upstream sent before any response
                                                     (RST_STREAM, GOAWAY, bad index, SETTINGS on a
                                                     stream); class truncated, client status null
"""

import os
import re
import subprocess

import h2_scenarios as hs

GRPC_NAMES = {0: "ok", 1: "cancelled", 2: "unknown", 3: "invalid_argument", 4: "deadline_exceeded",
              5: "not_found", 6: "already_exists", 7: "permission_denied", 8: "resource_exhausted",
              9: "failed_precondition", 10: "aborted", 11: "out_of_range", 12: "unimplemented",
              13: "internal", 14: "unavailable", 15: "data_loss", 16: "unauthenticated"}

H2_ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT",
             5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
             10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}

NGINX_MAP = [
    (r"upstream rejected request with error \d+ while reading upstream", "tcp.rst.mid_body"),
    (r"upstream rejected request with error \d+", "h2.rst_stream.before_response"),
    (r"upstream sent goaway with error \d+", "h2.goaway"),
    (r"upstream sent too large http2 frame: 4740180\b", "proto.h1_response_to_h2"),
    (r"upstream sent too large http2 frame: \d+", "h2.frame.too_large"),
    (r"upstream sent invalid http2 table index", "h2.hpack.bad_index"),
    (r"upstream sent invalid http2 dynamic table size update", "h2.hpack.error"),
    (r"upstream sent no :status header", "h2.status.missing"),
    (r"upstream sent duplicate :status header", "h2.status.duplicate"),
    (r"upstream sent invalid :status", "h2.status.invalid"),
    (r'upstream sent invalid header ":', "h2.header.request_pseudo"),
    (r'upstream sent invalid header: "[^"]*[A-Z]', "h2.header.uppercase"),
    (r"upstream sent settings frame with non-zero stream id", "h2.settings.bad_stream"),
    (r"upstream sent (settings|ping|rst stream|goaway|window update) frame with (invalid length|ack flag and non-zero length)", "h2.frame.size_error"),
    (r"upstream sent unexpected push promise frame", "h2.push_promise.unexpected"),
    (r"upstream sent frame for closed stream", "h2.stream.closed"),
    (r"upstream sent trailer without end stream flag", "h2.trailers.no_end_stream"),
    (r"upstream prematurely closed stream", "h2.content_length.mismatch"),
    (r"(recv\(\) failed|upstream prematurely closed connection) .*while reading upstream", "tcp.fin.mid_body"),
]

# What the upstream log's notes say it sent -> code (HAProxy's log does not name the fault; nginx
# tolerates some of these).
UPSTREAM_MAP = [
    ("(frame size fault)", "h2.frame.size_error"),
    ("(after the head)", "tcp.rst.mid_body"),
    ("(push disabled)", "h2.push_promise.unexpected"),
    ("RST_STREAM stream=", "h2.rst_stream.before_response"),
    ("GOAWAY last_stream=", "h2.goaway"),
    ("block 88 be", "h2.hpack.bad_index"),
    ("table size update 4096", "h2.hpack.error"),
    ("Huffman padding of 24 bits", "h2.hpack.error"),
    ("SETTINGS stream=1 ", "h2.settings.bad_stream"),
    ("without :status", "h2.status.missing"),
    (":status 200 twice", "h2.status.duplicate"),
    (":status 2000", "h2.status.invalid"),
    (":path /", "h2.header.request_pseudo"),
    ("X-Custom: value", "h2.header.uppercase"),
    ("connection: keep-alive", "h2.header.connection_specific"),
    ("(65536 in all)", "h2.flow_control"),
    ("before any SETTINGS", "h2.preface.bad"),
    ("content-length 100 @", "h2.content_length.mismatch"),
    ("sent FIN (shutdown)", "tcp.fin.mid_body"),
    ("HTTP/1.1 400 Bad Request", "proto.h1_response_to_h2"),
]


ACCESS = []   # the nginx access log lines of the capture being built (build() fills it)


def open_access(u):
    return ACCESS


def access_status(lines):
    st = {int(l.split()[1]) for l in lines}
    return st.pop() if len(st) == 1 else None


def kv(line):
    out = {}
    for m in re.finditer(r'(\w+)=("(?:[^"]*)"|\S+)', line):
        out[m.group(1)] = m.group(2).strip('"')
    return out


def upstream_code(did):
    """The code of what the upstream itself sent (its `sent ...` notes; not what it received)."""
    sent = "; ".join(p for p in did.split("; ") if p.startswith("sent "))
    for needle, code in UPSTREAM_MAP:
        if needle in sent:
            return code
    return "none"


def decode_args(ports, keylog=None, alpn_none=False):
    """tshark's decode options: both hops as HTTP/2 (h2c); over TLS the upstream port as TLS (ALPN
    h2 then selects HTTP/2; with no ALPN the decrypted bytes as HTTP/1)."""
    gw, up = ports
    if not keylog:
        return ["-d", "tcp.port==%d,http2" % gw, "-d", "tcp.port==%d,http2" % up]
    out = ["-d", "tcp.port==%d,http2" % gw, "-d", "tcp.port==%d,tls" % up]
    return out


ALPN_NONE = []


def tshark(pcap, args, ports, keylog=None):
    cmd = ["tshark", "-r", pcap, "-n"] + decode_args(ports, keylog, bool(ALPN_NONE))
    if keylog:
        cmd += ["-o", "tls.keylog_file:" + keylog]
    r = subprocess.run(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("tshark %s: %s" % (args, r.stderr))
    return r.stdout


def first_frame(pcap, flt, ports, keylog=None):
    out = tshark(pcap, ["-Y", flt, "-T", "fields", "-e", "frame.number"], ports, keylog).split()
    return int(out[0]) if out else None


def strip_nginx(line):
    """`2026/12/06 22:44:13 [error] 6285#6285: *1 TEXT` -> `[error] TEXT`."""
    m = re.match(r"\S+ \S+ (\[\w+\]) \d+#\d+: (?:\*\d+ )?(.*)$", line)
    return "%s %s" % (m.group(1), m.group(2)) if m else line


def build(name, gw, cap, scn, w, client, gw_port, up_port):
    ports = (gw_port, up_port)
    pcap = w + "/cap.pcap"
    keylog = w + "/upstream.keylog" if scn["tls"] else None
    ALPN_NONE[:] = [1] if scn["tls"] == "no-alpn" else []
    ulines = [l.rstrip("\n") for l in open(w + "/upstream.log")] if os.path.exists(w + "/upstream.log") else []
    if scn["upstream"] == "grpc":
        ups = grpc_connections(ulines, pcap, ports, up_port)
    else:
        ups = sorted((kv(l) | {"_line": l} for l in ulines), key=lambda d: float(d["accepted"]))
    reqs = client["requests"]
    src = []
    if gw == "nginx":
        errs = [l.rstrip("\n") for l in open(w + "/error.log") if re.search(r"\[(error|crit|warn|alert)\]", l)]
        acc = [l.rstrip("\n") for l in open(w + "/access.log")]
        ACCESS[:] = acc
        gw_lines = errs
        for i, l in enumerate(errs):
            src.append("%s.error.log line %d: %s" % (cap, i + 1, l))
        for i, l in enumerate(acc):
            src.append("%s.access.log line %d: %s" % (cap, i + 1, l))
    else:
        hl = [l.rstrip("\n") for l in open(w + "/haproxy.log") if " fe be/" in l]
        gw_lines = hl
        for i, l in enumerate(hl):
            src.append("%s.haproxy.log line %d: %s" % (cap, i + 1, l))
    for r in reqs:
        src.append("client.log: %s -> %s" % (r["request"], {k: v for k, v in r.items() if k != "request"}))
    conns = []
    for u in ups:
        did = u.get("did", "")
        peer = u["peer"]
        peer_port = int(peer.rsplit(":", 1)[1])
        code, cls, status, log_line = classify(gw, scn, did, gw_lines, reqs, u)
        streams = [int(m.group(1)) for m in re.finditer(r"recv HEADERS stream=(\d+)", did)]
        paths = re.findall(r"recv HEADERS stream=\d+ (\w+ [^;\s]+)", did)
        h1_requests = re.findall(r"read (\w+ /[^;\s]+) HTTP/1", did)   # an HTTP/1.1 upstream (no ALPN h2)
        sid = streams[0] if streams else None
        ev_frame = ev_filter = marker = offset = None
        ev_type = scn.get("evidence_type")
        if code.startswith("grpc."):
            ev_filter = ('tcp.srcport == %d && tcp.dstport == %d && http2.type == 1 && http2.header.name == "grpc-status"'
                         ' && http2.header.value == "%d"') % (up_port, peer_port, grpc_code_of(code))
            ev_frame = first_frame(pcap, ev_filter, ports, keylog)
            if ev_frame is None:
                raise RuntimeError("%s: no frame matches %s" % (cap, ev_filter))
            check_decode(pcap, ev_frame, 1, sid, ports, keylog, code)
            offset = grpc_status_offset(upstream_bytes(pcap, peer_port, up_port, ports), grpc_code_of(code))
        elif code != "none":
            if code == "tls.alpn.no_h2":
                # the server's EncryptedExtensions (TLS 1.3, decrypted with the key log): no ALPN in it
                ev_filter = "tcp.srcport == %d && tcp.dstport == %d && tls.handshake.type == 8" % (up_port, peer_port)
                ev_type = None
            elif code == "tcp.fin.mid_body":
                ev_filter = "tcp.srcport == %d && tcp.dstport == %d && tcp.flags.fin == 1" % (up_port, peer_port)
                m = list(re.finditer(r"@offset=(\d+)\+(\d+)", did))
                offset = int(m[-1].group(1)) + int(m[-1].group(2))
            else:
                if scn.get("mode") == "h1":
                    mk = b"HTTP/1.1 400 Bad Request"
                else:
                    mk = hs.evidence_step(scn, sid or 1)
                marker = mk.hex()
                if keylog:
                    ev_filter = "tcp.srcport == %d && tcp.dstport == %d && %s" % (
                        up_port, peer_port, "http2.type == %d" % ev_type if ev_type is not None else
                        # the decrypted bytes tshark reassembles for the (wrongly guessed) HTTP/2 dissector
                        "tls.segment.data contains %s" % ":".join("%02x" % b for b in mk))
                else:
                    ev_filter = "tcp.srcport == %d && tcp.dstport == %d && tcp.payload contains %s" % (
                        up_port, peer_port, ":".join("%02x" % b for b in mk))
                m = re.search(r"@offset=(\d+)\+(\d+)", did[did.find(evidence_note(scn, sid or 1)):]) if evidence_note(scn, sid or 1) else None
                if scn.get("mode") == "h1":
                    m = re.search(r"@offset=(\d+)\+", did)
                if m:
                    offset = int(m.group(1))
                    if scn.get("evidence_marker_of"):   # the frame is inside a bigger write
                        whole = hs.respond(scn, sid or 1, 1, {})[0][1]
                        offset += whole.index(scn["evidence_marker_of"](sid or 1))
            ev_frame = first_frame(pcap, ev_filter, ports, keylog)
            if ev_frame is None:
                raise RuntimeError("%s: no frame matches %s" % (cap, ev_filter))
            check_decode(pcap, ev_frame, ev_type, sid, ports, keylog, code)
            if marker and offset is not None and not keylog:
                # the offset the upstream's log gives must hold the marker in the bytes tshark follows
                got = upstream_bytes(pcap, peer_port, up_port, ports)[offset:offset + len(marker) // 2]
                if got.hex() != marker:
                    raise RuntimeError("%s: offset %d holds %s, not the marker %s" % (cap, offset, got.hex(), marker))
        per_stream = []
        for s, p in zip(streams, paths):
            per_stream.append({"stream_id": s, "request": p, "finding": code})
        conn = {
            "client": peer, "server": u["server"], "verdict": code, "finding": code, "class": cls,
            "client_status": status, "stream_id": sid,
            "source": "; ".join(src + ["%s.upstream.log: %s" % (cap, u["_line"])]),
            "gateway_log": log_line, "gateway_log_lines": [strip_nginx(l) for l in gw_lines] if gw == "nginx" else gw_lines,
            "evidence_frame": ev_frame, "evidence_filter": ev_filter, "evidence_marker_hex": marker,
            "evidence_stream_offset": offset,
            "evidence_http2_type": ev_type if code not in ("none", "tcp.fin.mid_body", "proto.h1_response_to_h2",
                                                            "tls.alpn.no_h2") else None,
            "upstream_tls": u.get("tls"), "upstream_alpn": u.get("alpn"),
            "request_count": len(streams) or len(h1_requests), "streams": per_stream,
        }
        if gw == "haproxy":
            hm = [re.search(r" (\d{3}|-1) \d+ \S+ \S+ (\S{4}) ", l) for l in gw_lines]
            conn["haproxy_termination"] = hm[0].group(2) if hm and hm[0] else None
            conn["haproxy_status"] = int(hm[0].group(1)) if hm and hm[0] else None
        conns.append(conn)
    resets = []
    out = tshark(pcap, ["-Y", "tcp.srcport == %d && http2.type == 3" % gw_port, "-T", "fields", "-E", "aggregator=;",
                        "-e", "frame.number", "-e", "tcp.dstport", "-e", "http2.type", "-e", "http2.streamid",
                        "-e", "http2.rst_stream.error"], ports, keylog)
    for row in out.splitlines():
        f = row.split("\t")
        types, sids, errs = f[2].split(";"), f[3].split(";"), f[4].split(";")
        rst_sids = [sd for t, sd in zip(types, sids) if t == "3"]
        for sd, e in zip(rst_sids, errs):
            resets.append({"frame": int(f[0]), "client_port": int(f[1]), "stream_id": int(sd), "error_code": int(e),
                           "error": H2_ERRORS.get(int(e), str(e))})
    hop = client_hop(pcap, ports, keylog, gw_port)
    truth = {
        "capture": cap + ".pcap",
        "gateway": gateway_version(gw),
        "gateway_kind": gw,
        "link_type": "EN10MB",
        "scenario": name,
        "upstream_sends": scn["desc"],
        "gateway_listen": "127.0.0.1:%d" % gw_port,
        "client_hop_port": gw_port,
        "upstream_port": up_port,
        "tshark_decode": decode_args(ports, keylog, scn["tls"] == "no-alpn")
                         + (["-o", "tls.keylog_file:http2/%s.keylog" % cap] if keylog else []),
        "client_requests": [{"request": r["request"], "status": r.get("http_code") or None,
                             "curl_exit": r.get("curl_exit"), "errormsg": r.get("errormsg"),
                             "client_port": r.get("local_port"), **({k: r[k] for k in ("grpc_code", "grpc_code_name", "grpc_details", "messages")} if "grpc_code" in r else {})}
                            for r in reqs],
        "gateway_errors": [strip_nginx(l) for l in gw_lines] if gw == "nginx" else [],
        # What the gateway sent its client instead of (or after) a response: every RST_STREAM on the
        # client hop (tshark), with the client's port and stream.
        "client_hop_rst_streams": resets,
        # Every request stream of the client hop (tshark), and those that failed, joined to their
        # upstream connection (the shape of nginx/client-hop.truth.json, with stream ids).
        "client_hop_connections": hop,
        "client_errors": client_errors(hop, conns, cap),
        "expected_connections": conns,
    }
    if gw == "haproxy":
        truth["haproxy_log"] = gw_lines
    if keylog:
        truth["tls"] = {"keylog": "http2/%s.keylog" % cap, "ca_file": "http2/%s.root.pem" % cap, "alpn_offered": "h2"}
    return truth


def grpc_connections(ulines, pcap, ports, up_port):
    """The grpcio server logs one line per call with its peer; group them per connection, and read
    each call's stream id from tshark (the gateway's HEADERS on that connection, in order)."""
    by_peer = {}
    for l in ulines:
        d = kv(l)
        by_peer.setdefault(d["peer"], []).append((d, l))
    ups = []
    for peer, calls in by_peer.items():
        port = int(peer.rsplit(":", 1)[1])
        out = tshark(pcap, ["-Y", "tcp.srcport == %d && tcp.dstport == %d && http2.type == 1" % (port, up_port),
                            "-T", "fields", "-E", "aggregator=;", "-e", "http2.streamid", "-e", "http2.type"], ports)
        sids = []
        for row in out.splitlines():
            ids, types = row.split("\t")[0].split(";"), row.split("\t")[1].split(";")
            sids += [int(i) for i, t in zip(ids, types) if t == "1"]
        did = "; ".join("recv HEADERS stream=%s POST %s; sent %s; status %s" % (
            sids[i] if i < len(sids) else "?", d["method"], d["sent"], d["status"]) for i, (d, _) in enumerate(calls))
        ups.append({"peer": peer, "server": "127.0.0.1:%d" % up_port, "did": did, "accepted": "0",
                    "_line": " | ".join(l for _, l in calls), "tls": "-", "alpn": "-"})
    return ups


def client_hop(pcap, ports, keylog, gw_port):
    """Every request stream on the client hop (tshark's HTTP/2 decode, in frame order): the client's
    port and stream, the request, the first :status the gateway sent on it (and that frame), and the
    first RST_STREAM the gateway sent on it."""
    import json as _json
    out = tshark(pcap, ["-Y", "tcp.port == %d && http2" % gw_port, "-T", "json", "--no-duplicate-keys", "-J", "frame tcp http2"], ports, keylog)
    streams = {}
    order = []
    for p in _json.loads(out or "[]"):
        l = p["_source"]["layers"]
        frame, src, dst = int(l["frame"]["frame.number"]), int(l["tcp"]["tcp.srcport"]), int(l["tcp"]["tcp.dstport"])
        h2s = l.get("http2", [])
        for x in (h2s if isinstance(h2s, list) else [h2s]):
            st = x.get("http2.stream", [])
            for f in (st if isinstance(st, list) else [st]):
                t, sid = int(f.get("http2.type", -1)), int(f.get("http2.streamid", 0))
                if sid == 0:
                    continue
                hdrs = f.get("http2.header", [])
                hdrs = hdrs if isinstance(hdrs, list) else [hdrs]
                hv = {h.get("http2.header.name"): h.get("http2.header.value") for h in hdrs if isinstance(h, dict)}
                if dst == gw_port and t == 1 and ":path" in hv:
                    key = (src, sid)
                    if key not in streams:
                        streams[key] = {"client": "127.0.0.1:%d" % src, "server": "127.0.0.1:%d" % gw_port,
                                        "stream_id": sid, "request": "%s %s" % (hv.get(":method"), hv[":path"]),
                                        "request_frame": frame, "status": None, "response_frame": None,
                                        "reset": None, "reset_frame": None, "client_reset": None,
                                        "client_reset_frame": None}
                        order.append(key)
                elif dst == gw_port and t == 3 and (src, sid) in streams and streams[(src, sid)]["client_reset"] is None:
                    # the client itself reset the stream (curl, on a body shorter than its content-length)
                    e = int(f.get("http2.rst_stream.error", 0))
                    streams[(src, sid)]["client_reset"] = H2_ERRORS.get(e, str(e))
                    streams[(src, sid)]["client_reset_frame"] = frame
                elif src == gw_port and (dst, sid) in streams:
                    c = streams[(dst, sid)]
                    if t == 1 and ":status" in hv and c["status"] is None:
                        c["status"], c["response_frame"] = int(hv[":status"]), frame
                    elif t == 3 and c["reset"] is None:
                        e = int(f.get("http2.rst_stream.error", 0))
                        c["reset"], c["reset_frame"] = H2_ERRORS.get(e, str(e)), frame
    return [streams[k] for k in order]


def client_errors(hop, conns, cap):
    """Each client-hop stream that got a 5xx, a reset, or a non-OK gRPC status, joined to the upstream
    stream that carried its request: the i-th client stream of a path to the i-th upstream stream of
    that path (curl's retries and HAProxy's are in the same order on both hops)."""
    ups = {}
    for c in conns:
        for st in c.get("streams", []):
            ups.setdefault(st["request"], []).append((c, st))
    seen = {}
    out = []
    for h in hop:
        i = seen.get(h["request"], 0)
        seen[h["request"]] = i + 1
        pair = ups.get(h["request"], [])[i:i + 1]
        if not pair and h["request"] in ups:
            pair = ups[h["request"]][-1:]
        up = pair[0][0] if pair else None
        finding = up["finding"] if up else None
        bad = ((h["status"] or 0) >= 500 or h["reset"] is not None or h["client_reset"] is not None
               or (finding or "").startswith("grpc."))
        if not bad:
            continue
        out.append({
            "client": h["client"], "stream_id": h["stream_id"], "status": h["status"], "request": h["request"],
            "response_frame": h["response_frame"], "reset": h["reset"], "reset_frame": h["reset_frame"],
            "client_reset": h["client_reset"], "client_reset_frame": h["client_reset_frame"],
            "generated_by": "upstream" if (finding or "").startswith("grpc.") else "gateway",
            "upstream_connection": {"client": up["client"], "server": up["server"]} if up else None,
            "upstream_stream_id": pair[0][1]["stream_id"] if pair else None,
            "cause": finding,
        })
    return out


def evidence_note(scn, sid):
    steps = list(scn.get("on_connect") or []) + (hs.respond(scn, sid, 1, {}) if scn.get("steps") else [])
    for st in steps:
        if len(st) > 3 and st[3] == "evidence":
            return st[2].format(sid=sid)
    return None


def check_decode(pcap, frame, ev_type, sid, ports, keylog, code):
    """tshark must decode the evidence frame as the HTTP/2 frame the upstream's log names."""
    if ev_type is None:
        return
    out = tshark(pcap, ["-Y", "frame.number == %d" % frame, "-T", "fields", "-E", "aggregator=;",
                        "-e", "http2.type", "-e", "http2.streamid"], ports, keylog).strip()
    if not out:
        raise RuntimeError("tshark does not decode frame %d as HTTP/2" % frame)
    types, sids = out.split("\t")[0].split(";"), out.split("\t")[1].split(";")
    if str(ev_type) not in types:
        raise RuntimeError("frame %d: tshark says http2.type %s, not %d" % (frame, types, ev_type))
    want_sid = 0 if ev_type in (4, 6, 7) and code != "h2.settings.bad_stream" else sid
    if want_sid is not None and str(want_sid) not in sids:
        raise RuntimeError("frame %d: tshark says stream %s, not %s" % (frame, sids, want_sid))


def classify(gw, scn, did, gw_lines, reqs, u):
    """(code, class, client status, the decisive gateway log line) for one upstream connection."""
    paths = re.findall(r"(?:recv HEADERS stream=\d+|read) \w+ (/[^;\s]+)", did)
    mine = [r for r in reqs if r["request"].split(" ", 1)[1] in paths] if paths else list(reqs)
    if gw == "nginx":
        lines = [l for l in gw_lines if any('"GET %s ' % p in l for p in paths)] or (gw_lines if not paths else [])
        for l in lines:
            for rx, code in NGINX_MAP:
                if re.search(rx, l):
                    if code == "proto.h1_response_to_h2" and u.get("tls", "-") != "-" and u.get("alpn", "-") == "-":
                        # over TLS: the gateway offered h2 (nginx's grpcs always does), the server chose none
                        code = "tls.alpn.no_h2"
                    st = (mine[0]["http_code"] or None) if mine else None   # curl's 0: no response head
                    bad = any(r.get("curl_exit") for r in mine)
                    cls = "502" if st == 502 else ("truncated" if bad else "ok")
                    return code, cls, st, strip_nginx(l)
        code = upstream_code(did) if scn.get("upstream") == "script" else "none"
        grpc_bad = [r for r in mine if r.get("grpc_code") not in (None, 0)]
        acc = [l for l in open_access(u) if any('"POST %s ' % p in l for p in paths)]
        if grpc_bad:
            return "grpc.status." + GRPC_NAMES[grpc_bad[0]["grpc_code"]], "relayed", access_status(acc), None
        if scn.get("upstream") == "grpc":
            return "none", "ok", access_status(acc), None
        if code not in ("h2.header.connection_specific", "h2.preface.bad", "h2.flow_control", "h2.hpack.error", "h2.frame.size_error"):
            code = "none"
        st = mine[0]["http_code"] if mine else None
        return code, "ok", st, None
    # HAProxy
    lines = [l for l in gw_lines if any(" %s HTTP/2.0" % p in l or p + " HTTP" in l for p in paths)]
    if lines:
        m = re.search(r" (\d{3}|-1) \d+ \S+ \S+ (\S{4}) ", lines[0])
        status, term = int(m.group(1)), m.group(2)
        if term == "----":
            code = upstream_code(did) if scn.get("upstream") == "script" else "none"
            if u.get("tls", "-") != "-" and u.get("alpn", "-") == "-":
                code = "tls.alpn.no_h2"   # HAProxy offered h2 (alpn h2), the server chose none
            grpc_bad = [r for r in mine if r.get("grpc_code") not in (None, 0)]
            if grpc_bad:
                return "grpc.status." + GRPC_NAMES[grpc_bad[0]["grpc_code"]], "relayed", status, lines[0]
            return (code if code in ("h2.header.connection_specific", "h2.preface.bad", "tls.alpn.no_h2", "h2.flow_control") else "none"), "ok", status, lines[0]
        code = upstream_code(did)
        if term.startswith("PH"):
            return code, "502", status, lines[0]
        if term.startswith("SD"):
            return code, "truncated", status, lines[0]
        if term.startswith("SC"):
            return code, str(status), status, lines[0]
        return code, str(status), status, lines[0]
    if u.get("mode") == "h1" or "before any SETTINGS" in did:
        # a retried connect failure: HAProxy logs the request once, on its last connection
        hl = [l for l in gw_lines if re.search(r" SC-- ", l)]
        if hl:
            m = re.search(r" (\d{3}|-1) \d+ \S+ \S+ (\S{4}) ", hl[0])
            return upstream_code(did), m.group(1), int(m.group(1)), hl[0]
    # No line: HAProxy reset the client's stream (REFUSED_STREAM) and curl retried.
    return upstream_code(did), "truncated", None, None


def upstream_bytes(pcap, peer_port, up_port, ports):
    """The bytes the upstream sent on one connection, as tshark follows the TCP stream."""
    idx = tshark(pcap, ["-Y", "tcp.srcport == %d && tcp.dstport == %d" % (peer_port, up_port), "-T", "fields",
                        "-e", "tcp.stream"], ports).split()[0]
    out = tshark(pcap, ["-q", "-z", "follow,tcp,raw,%s" % idx], ports)
    body = out.split("Node 1:", 1)[1].split("\n", 1)[1]
    return bytes.fromhex("".join(l.strip() for l in body.splitlines() if l.startswith("\t")))


def grpc_status_offset(data, status):
    """Offset of the first HEADERS frame whose header block (HPACK-decoded with the connection's
    table, PyPI hpack) carries grpc-status `status`, walking the upstream's frames from byte 0."""
    from hpack import Decoder
    dec = Decoder()
    off, block, start = 0, b"", None
    while off + 9 <= len(data):
        n = int.from_bytes(data[off:off + 3], "big")
        t, fl = data[off + 3], data[off + 4]
        payload = data[off + 9:off + 9 + n]
        if t in (1, 9):
            if t == 1:
                start = off
                if fl & 0x8:
                    payload = payload[1:len(payload) - payload[0]]
                if fl & 0x20:
                    payload = payload[5:]
                block = b""
            block += payload
            if fl & 0x4:
                hdrs = dict(dec.decode(block, raw=False))
                if hdrs.get("grpc-status") == str(status):
                    return start
        off += 9 + n
    return None


def grpc_code_of(code):
    return next(k for k, v in GRPC_NAMES.items() if "grpc.status." + v == code)


def gateway_version(gw):
    if gw == "nginx":
        r = subprocess.run(["nginx", "-v"], stderr=subprocess.PIPE, text=True)
        return r.stderr.strip().replace("nginx version: nginx/", "nginx ")
    r = subprocess.run(["haproxy", "-v"], stdout=subprocess.PIPE, text=True)
    m = re.search(r"HAProxy version (\S+)", r.stdout)
    return "HAProxy " + (m.group(1) if m else "?")
