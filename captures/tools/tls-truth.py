#!/usr/bin/env python3
"""Build <name>.truth.json for one TLS sample capture from real program output only:

  * the gateway's own logs    nginx error.log + access log, or HAProxy's log line (httplog
                              fields + ssl_bc_err/bc_err), or (key-log captures) curl's
                              exit code and error message
  * the client log            what curl got per request (tls-run.py)
  * the upstream's log        tls-upstream.py's line per connection, s_server's output, or the
                              upstream nginx's logs
  * tshark on the capture     connections, the TLS records of each (decode-as TLS on the
                              upstream port, and the key log when there is one), alerts, SNI,
                              versions, the Certificate message, and the evidence frame
  * the certificate files     the leaf's DER bytes (the evidence marker for a Certificate)
  * tls_scenarios.py          the designed finding and the outcome the committed run showed

Never from edgescope. Same shape as build-truth.py's files (expected_connections with client,
server, verdict, finding, class, client_status, gateway_log, evidence_frame, evidence_filter, ...),
plus a top-level `tls` object {version, sni, keylog, ca_file, expected_name} and, per
connection, `tls_handshake` (what tshark read from the records) and, for nginx, `verify_error`
{code, text} from its `upstream SSL certificate verify error: (N:text)` line.

Any difference from tls_scenarios.py's `expect` (status, class, curl exit, log line, HAProxy
termination, readable fatal alerts, handshake completion, nginx verify code, TLS version, SNI,
certificates sent) exits 1 after writing the file, so the mismatch can be read.
"""

import argparse
import base64
import importlib.util
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tls_scenarios  # noqa: E402
import gw_apache_lighttpd as gwx  # noqa: E402  (Apache httpd)

_spec = importlib.util.spec_from_file_location("build_truth", os.path.join(HERE, "build-truth.py"))
bt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bt)

ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
          40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
          44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
          47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
          51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
          110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
          120: "no_application_protocol"}
HS_NAMES = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 8: "EncryptedExtensions",
            11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
            15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished"}
VERSIONS = {"0x0304": "1.3", "0x0303": "1.2", "0x0302": "1.1", "0x0301": "1.0"}
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"


class TruthError(Exception):
    pass


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise TruthError("%s failed: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout


def pem_der(path):
    text = open(path).read()
    m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return base64.b64decode("".join(m.group(1).split()))


def ints(s):
    return [int(x, 0) for x in s.split(",") if x != ""] if s else []


# ------------------------------------------------------------------ tshark view of the capture

FIELDS = ["frame.number", "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack",
          "tcp.flags.fin", "tcp.flags.reset", "tcp.len", "tcp.seq_raw", "tls.record.content_type",
          "tls.record.opaque_type", "tls.record.length", "tls.handshake.type", "tls.alert_message.level",
          "tls.alert_message.desc", "tls.handshake.extensions_server_name",
          "tls.handshake.extensions.supported_version", "tls.handshake.version",
          "tls.handshake.ciphersuite", "tls.handshake.random", "tls.handshake.certificate_length",
          "tcp.payload"]


class Capture:
    def __init__(self, path, up_port, keylog):
        self.path, self.up_port, self.keylog = path, up_port, keylog
        self.opts = ["-d", "tcp.port==%d,tls" % up_port]
        if keylog:
            self.opts += ["-o", "tls.keylog_file:%s" % keylog]
        out = run(["tshark", "-r", path] + self.opts + ["-T", "fields", "-E", "occurrence=a",
                                                          "-E", "aggregator=,"]
                  + sum((["-e", f] for f in FIELDS), []))
        self.frames = []
        for line in out.splitlines():
            v = dict(zip(FIELDS, line.split("\t")))
            self.frames.append(v)

    def decrypted(self, frame):
        """The decrypted TLS plaintext blocks of one frame, from tshark -x (needs the key log)."""
        out = run(["tshark", "-r", self.path] + self.opts + ["-x", "-Y", "frame.number == %d" % frame])
        blocks, cur = [], None
        for line in out.splitlines():
            if line.endswith("bytes):"):
                cur = [] if line.startswith("Decrypted TLS") else None
                if cur is not None:
                    blocks.append(cur)
            elif cur is not None and re.match(r"^[0-9a-f]{4}  ", line):
                cur.extend(int(x, 16) for x in line[6:54].split())
        return [bytes(b) for b in blocks]

    def check_filter(self, flt):
        """Frame numbers that match a display filter with tshark's default settings."""
        return [int(x) for x in run(["tshark", "-r", self.path, "-Y", flt, "-T", "fields",
                                     "-e", "frame.number"]).split()]


def connections(cap):
    """Per TCP stream: the handshake facts tshark reads, in SYN order."""
    conns = {}
    for f in cap.frames:
        s = f["tcp.stream"]
        c = conns.setdefault(s, {"stream": int(s), "frames": []})
        c["frames"].append(f)
    out = []
    for s, c in conns.items():
        syn = [f for f in c["frames"] if f["tcp.flags.syn"] in ("1", "True") and f["tcp.flags.ack"] in ("0", "False")]
        if not syn:
            raise TruthError("tcp.stream %s has no SYN (capture started late?)" % s)
        gw_port = int(syn[0]["tcp.srcport"])
        c["client_port"], c["syn_frame"] = gw_port, int(syn[0]["frame.number"])
        out.append(c)
    out.sort(key=lambda c: c["syn_frame"])
    recs = record_view(cap)
    for c in out:
        analyse(c, cap.up_port, recs)
    return out


def aslist(x):
    return x if isinstance(x, list) else ([] if x is None else [x])


def find_keys(obj, key):
    """Every value of `key` anywhere inside a tshark JSON object (lists flattened)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                out += aslist(v)
            else:
                out += find_keys(v, key)
    elif isinstance(obj, list):
        for v in obj:
            out += find_keys(v, key)
    return out


def record_view(cap):
    """{frame: [record, ...]} from tshark -T json: per TLS record its type (the inner type when
    the key log decrypted it), whether it was encrypted, its length, handshake messages, alert."""
    data = json.loads(run(["tshark", "-r", cap.path] + cap.opts + ["-T", "json", "--no-duplicate-keys",
                                                                    "-Y", "tls"]))
    out = {}
    for pkt in data:
        layers = pkt["_source"]["layers"]
        num = int(aslist(layers["frame"])[0]["frame.number"])
        for tl in aslist(layers.get("tls")):
            if not isinstance(tl, dict):
                continue
            for rec in aslist(tl.get("tls.record")):
                if not isinstance(rec, dict):
                    continue
                opaque = rec.get("tls.record.opaque_type")
                inner = rec.get("tls.record.content_type")
                rtype = int(inner if inner is not None else opaque)
                hs = []
                for h in aslist(rec.get("tls.handshake")):
                    if isinstance(h, dict) and "tls.handshake.type" in h:
                        hs.append(h)
                alert = rec.get("tls.alert_message")
                r = {"type": rtype, "encrypted": opaque is not None or rtype == 23,
                     "length": int(rec.get("tls.record.length", "0")),
                     "handshake": [int(h["tls.handshake.type"]) for h in hs], "hs": hs,
                     "alert": alert if isinstance(alert, dict) else None}
                # TLS 1.2 records after ChangeCipherSpec carry no "encrypted" marker in tshark's
                # JSON; an alert or handshake whose body tshark could not read is encrypted (and
                # application data always is).
                if rtype == 21 and r["alert"] is None:
                    r["encrypted"] = True
                if rtype == 22 and not hs:
                    r["encrypted"] = True
                out.setdefault(num, []).append(r)
    return out


def analyse(c, up_port, recs):
    h = {"client_hello_frame": None, "sni": None, "offered_versions": [], "server_hello_frame": None,
         "hello_retry_request": False, "version": None, "cipher": None, "certificate_frame": None,
         "certificates_sent": None, "certificate_request": False, "alerts": [], "encrypted_alerts": [],
         "complete": False, "gateway_records_after_handshake": [], "gateway_close_frame": None,
         "gateway_close": None, "upstream_close_frame": None, "upstream_close": None, "records": []}
    ccs = {"gateway": False, "server": False}
    flow = []
    for f in c["frames"]:
        num = int(f["frame.number"])
        sender = "server" if int(f["tcp.srcport"]) == up_port else "gateway"
        for flag, what in (("tcp.flags.fin", "FIN"), ("tcp.flags.reset", "RST")):
            if f[flag] in ("1", "True"):
                key = "gateway_close" if sender == "gateway" else "upstream_close"
                if h[key + "_frame"] is None:
                    h[key + "_frame"], h[key] = num, what
        rs = recs.get(num, [])
        if not rs:
            continue
        seen_ccs = ccs[sender]
        for r in rs:
            if seen_ccs and r["type"] != 20:
                r["encrypted"] = True    # TLS 1.2: everything after this side's ChangeCipherSpec
            if r["type"] == 20:
                seen_ccs = True
        h["records"].append({"frame": num, "from": sender,
                             "records": ["%s%s(%d)%s" % ({20: "ccs", 21: "alert", 22: "handshake", 23: "appdata"}
                                                         .get(r["type"], str(r["type"])),
                                                         "[enc]" if r["encrypted"] else "", r["length"],
                                                         (":" + "+".join(HS_NAMES.get(t, str(t)) for t in r["handshake"]))
                                                         if r["handshake"] else "")
                                         for r in rs]})
        for r in rs:
            flow.append((num, sender, r))
            for hm in r["hs"]:
                t = int(hm["tls.handshake.type"])
                if t == 1 and h["client_hello_frame"] is None:
                    h["client_hello_frame"] = num
                    sni = find_keys(hm, "tls.handshake.extensions_server_name")
                    h["sni"] = sni[0] if sni else None
                    sv = [VERSIONS.get(v, v) for v in find_keys(hm, "tls.handshake.extensions.supported_version")]
                    h["offered_versions"] = sv or [VERSIONS.get(hm.get("tls.handshake.version"), "?")]
                elif t == 2 and sender == "server" and h["server_hello_frame"] is None:
                    h["server_hello_frame"] = num
                    if (hm.get("tls.handshake.random") or "").replace(":", "") == HRR_RANDOM:
                        h["hello_retry_request"] = True
                    sv = find_keys(hm, "tls.handshake.extensions.supported_version")
                    h["version"] = VERSIONS.get(sv[0] if sv else hm.get("tls.handshake.version"))
                    h["cipher"] = hm.get("tls.handshake.ciphersuite")
                elif t == 11 and sender == "server" and h["certificate_frame"] is None:
                    h["certificate_frame"] = num
                    h["certificates_sent"] = len(find_keys(hm, "tls.handshake.certificate_length"))
                elif t == 13:
                    h["certificate_request"] = True
            if r["type"] == 20:
                ccs[sender] = True
            if r["type"] == 21:
                if r["alert"]:
                    lvl = int(r["alert"].get("tls.alert_message.level", "0"))
                    desc = int(r["alert"].get("tls.alert_message.desc", "-1"))
                    h["alerts"].append({"frame": num, "from": sender, "level": "fatal" if lvl == 2 else "warning",
                                        "description": ALERTS.get(desc, str(desc)), "encrypted": r["encrypted"]})
                else:
                    h["encrypted_alerts"].append({"frame": num, "from": sender, "record_length": r["length"]})
    fatal_from_gw = any(a["from"] == "gateway" and a["level"] == "fatal" for a in h["alerts"])
    if h["version"] == "1.2":
        # Both sides sent ChangeCipherSpec (and the encrypted Finished after it), no fatal alert.
        h["complete"] = ccs["gateway"] and ccs["server"] and not any(a["level"] == "fatal" for a in h["alerts"])
        after = False
        for num, sender, r in flow:
            if sender != "gateway":
                continue
            if after:
                h["gateway_records_after_handshake"].append({"frame": num, "type": r["type"], "length": r["length"],
                                                             "encrypted": r["encrypted"]})
            if r["type"] == 22 and r["encrypted"] or (r["type"] == 22 and 20 in r["handshake"]):
                after = True   # the gateway's Finished
    elif h["version"] == "1.3":
        # The gateway's first encrypted record after the ServerHello is its Finished; a plaintext
        # alert instead means it gave up inside the handshake.
        # (With a key log the Finished is named; without one it is the first encrypted record.)
        enc = [(num, r) for num, sender, r in flow
               if sender == "gateway" and num > h["server_hello_frame"] and r["type"] != 20
               and (r["encrypted"] or 20 in r["handshake"])]
        named = [i for i, (num, r) in enumerate(enc) if 20 in r["handshake"]]
        fin = named[0] if named else 0
        h["complete"] = bool(enc) and not fatal_from_gw
        h["gateway_finished_record_length"] = enc[fin][1]["length"] if enc else None
        h["gateway_records_after_handshake"] = [{"frame": num, "type": r["type"], "length": r["length"],
                                                 "encrypted": r["encrypted"]} for num, r in enc[fin + 1:]]
    c["tls"] = h


# ------------------------------------------------------------------ evidence

def marker_filter(marker):
    return "tcp.payload contains %s" % ":".join("%02x" % b for b in marker)


def find_evidence(cap, rule, conn, spec_marker, leaf_der, up_port):
    sp, cp = up_port, conn["client_port"]
    s2g = "tcp.srcport == %d && tcp.dstport == %d" % (sp, cp)
    g2s = "tcp.srcport == %d && tcp.dstport == %d" % (cp, sp)
    h = conn["tls"]
    marker = None
    if rule is None:
        return None, None, None, None
    if rule == "certificate":
        marker = leaf_der[:40]
        flt = "%s && %s" % (s2g, marker_filter(marker))
    elif rule in ("server_alert", "gateway_alert"):
        who = "server" if rule == "server_alert" else "gateway"
        fatal = [a for a in h["alerts"] if a["from"] == who and a["level"] == "fatal"]
        if not fatal:
            raise TruthError("no readable fatal alert from the %s" % who)
        frame = fatal[0]["frame"]
        payload = bytes.fromhex(next(f["tcp.payload"] for f in cap.frames if int(f["frame.number"]) == frame).replace(":", ""))
        desc = next(k for k, v in ALERTS.items() if v == fatal[0]["description"])
        m = re.search(rb"\x15\x03[\x00-\x04]\x00\x02\x02" + re.escape(bytes([desc])), payload)
        side = s2g if who == "server" else g2s
        if m:
            marker = m.group(0)
            flt = "%s && %s" % (side, marker_filter(marker))
        elif cap.keylog:
            # An encrypted alert tshark decrypted with the key log: pin its frame.
            seq = next(f["tcp.seq_raw"] for f in cap.frames if int(f["frame.number"]) == frame)
            flt = "%s && tcp.len > 0 && tcp.seq_raw == %s" % (side, seq)
            got = cap.check_filter(flt)
            if got[:1] != [frame]:
                raise TruthError("alert evidence: filter %r gives %s, expected %d" % (flt, got, frame))
            return frame, flt, bytes([2, desc]), (
                "tshark -o tls.keylog_file:KEYLOG -d tcp.port==%d,tls: frame %d holds an encrypted record "
                "that decrypts to the fatal alert %s (plaintext 02 %02x)" % (up_port, frame, fatal[0]["description"], desc))
        else:
            raise TruthError("frame %d: no plaintext alert record with description %d" % (frame, desc))
    elif rule == "server_warning":
        warn = [a for a in h["alerts"] if a["from"] == "server" and a["level"] == "warning"]
        if not warn:
            raise TruthError("no readable warning alert from the server")
        desc = next(k for k, v in ALERTS.items() if v == warn[0]["description"])
        marker = b"\x15\x03\x03\x00\x02\x01" + bytes([desc])
        flt = "%s && %s" % (s2g, marker_filter(marker))
    elif rule == "gateway_close":
        flt = "%s && (tcp.flags.fin == 1 || tcp.flags.reset == 1)" % g2s
    elif rule == "upstream_fin":
        flt = "%s && tcp.flags.fin == 1" % s2g
    elif rule == "payload":
        marker = bytes.fromhex(spec_marker)
        flt = "%s && %s" % (s2g, marker_filter(marker))
    elif rule in ("decrypted", "certificate_decrypted"):
        marker = leaf_der[:40] if rule == "certificate_decrypted" else bytes.fromhex(spec_marker)
        hit = None
        for f in cap.frames:
            if int(f["tcp.srcport"]) == sp and int(f["tcp.dstport"]) == cp and int(f["tcp.len"] or 0) > 0:
                if any(marker in b for b in cap.decrypted(int(f["frame.number"]))):
                    hit = int(f["frame.number"])
                    break
        if hit is None:
            raise TruthError("no decrypted record from the server holds %r (key log?)" % marker)
        seq = next(f["tcp.seq_raw"] for f in cap.frames if int(f["frame.number"]) == hit)
        flt = "%s && tcp.len > 0 && tcp.seq_raw == %s" % (s2g, seq)
        got = cap.check_filter(flt)
        if got[:1] != [hit]:
            raise TruthError("decrypted evidence: filter %r gives %s, expected %d" % (flt, got, hit))
        return hit, flt, marker, ("tshark -o tls.keylog_file:KEYLOG -d tcp.port==%d,tls -x: the "
                                  "'Decrypted TLS' data of frame %d contains %s" % (up_port, hit, marker.hex()))
    else:
        raise TruthError("unknown evidence rule %s" % rule)
    got = cap.check_filter(flt)
    if not got:
        raise TruthError("no frame matches the evidence filter %r" % flt)
    return got[0], flt, marker, None


# ------------------------------------------------------------------ logs

def read_haproxy(path):
    out = []
    for lineno, raw in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        raw = raw.rstrip("\n")
        if not raw or bt.HAP_NOISE.match(raw):
            continue
        head, sep, tail = raw.partition(" ssl_bc_err=")
        m = bt.HAP_RE.match(head)
        if not m or not sep:
            raise TruthError("%s:%d: unexpected HAProxy log line %r" % (path, lineno, raw))
        extra = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', "ssl_bc_err=" + tail))
        out.append({"lineno": lineno, "raw": raw, "status": int(m.group(12)), "termination": m.group(16),
                    "request": bt.strip_version(m.group(19)),
                    "tls_error": {k: v.strip('"') for k, v in extra.items()}})
    return out


def read_clients(path):
    return [json.loads(line) for line in open(path) if line.strip()]


# ------------------------------------------------------------------ build

def build(args):
    spec = tls_scenarios.BY_NAME[args.scenario]
    gw = args.gateway_kind
    kind = tls_scenarios.GATEWAY_KIND[gw]
    exp = spec["expect"][kind]
    cap = Capture(args.pcap, args.up_port, args.keylog)
    conns = connections(cap)
    clients = read_clients(args.client_log)
    problems = []

    # The leaf the upstream served (for the evidence marker and the truth's certificate notes).
    up = spec["upstream"]
    leaf = up.get("cert")
    leaf_der = pem_der(os.path.join(args.certs, "leaf-%s.pem" % leaf)) if leaf else None

    # Gateway view per request.
    per_req = {c["request"]: {"client": c, "errors": [], "access": None, "hap": None} for c in clients}
    errors, hap = [], []
    if kind == "nginx":
        errors = bt.read_error_log(args.error_log)
        for a in bt.read_access_log(args.access_log):
            r = bt.strip_version(a["request"])
            if r not in per_req:
                raise TruthError("access log request %s was not sent by the client" % r)
            per_req[r]["access"] = a
        for e in errors:
            r = bt.strip_version(e["request"]) if e["request"] else None
            if r not in per_req:
                raise TruthError("error.log line %d for no request: %s" % (e["lineno"], e["raw"]))
            per_req[r]["errors"].append(e)
        missing = [r for r, v in per_req.items() if v["access"] is None]
        if missing:
            raise TruthError("requests not in the access log: %s" % missing)
    elif kind == "haproxy":
        hap = read_haproxy(args.haproxy_log)
        for h in hap:
            if h["request"] not in per_req:
                raise TruthError("HAProxy logged a request the client did not send: %s" % h["raw"])
            per_req[h["request"]]["hap"] = h
        missing = [r for r, v in per_req.items() if v["hap"] is None]
        if missing:
            raise TruthError("requests not in HAProxy's log: %s" % missing)
    elif kind in gwx.KINDS:
        try:
            errors, entries = gwx.read_entries(kind, args.error_log, args.access_log,
                                               {c["request"]: c for c in clients})
        except gwx.TruthError as exc:
            raise TruthError(str(exc))
        for e in entries:
            if e["request"] not in per_req:
                raise TruthError("access log request %s was not sent by the client" % e["request"])
            per_req[e["request"]]["access"] = e
            per_req[e["request"]]["errors"] = e["errors"]
        missing = [r for r, v in per_req.items() if v["access"] is None]
        if missing:
            raise TruthError("requests not in the access log: %s" % missing)

    # Requests -> connections: one request per connection (every failure here ends its
    # connection), or all requests on the only connection (healthy keep-alive).
    reqs = [c["request"] for c in clients]
    if len(conns) == len(reqs):
        mapping = [[r] for r in reqs]
    elif len(conns) == 1:
        mapping = [reqs]
    else:
        raise TruthError("%d connections for %d requests: cannot pair them" % (len(conns), len(reqs)))
    # The upstream's own log confirms the pairing where it names peers (tls-upstream.py).
    uplines = [ln for ln in open(args.upstream_log) if " accepted=" in ln and " peer=" in ln]
    if uplines:
        peers = [re.search(r" peer=(\S+)", ln).group(1) for ln in uplines]
        got = sorted(int(p.rsplit(":", 1)[1]) for p in peers)
        if got != sorted(c["client_port"] for c in conns):
            raise TruthError("upstream log peers %s differ from the capture's connections %s"
                             % (got, [c["client_port"] for c in conns]))
        for c, rs in zip(conns, mapping):
            ln = next(ln for ln in uplines if re.search(r" peer=\S+:%d " % c["client_port"], ln))
            n = int(re.search(r" requests=(\d+)", ln).group(1))
            if up.get("mode") in ("healthy", "bad-chunked") and n != len(rs):
                raise TruthError("upstream read %d requests on port %d, the pairing says %d"
                                 % (n, c["client_port"], len(rs)))

    server = "127.0.0.1:%d" % args.up_port
    out_conns = []
    ename = os.path.basename(args.error_log or args.haproxy_log or args.client_log)
    uname = os.path.basename(args.upstream_log)
    for c, rs in zip(conns, mapping):
        h = c["tls"]
        last = per_req[rs[-1]]
        cl = last["client"]
        src = []
        verify = None
        if kind == "nginx":
            errs = [e for r in rs for e in per_req[r]["errors"]]
            gwlog = errs[0]["text"] if errs else None
            for e in errs:
                src.append("%s line %d: %s" % (ename, e["lineno"], e["raw"]))
                m = re.search(r"verify error: \((\d+):([^)]*)\)", e["text"])
                if m:
                    verify = {"code": int(m.group(1)), "text": m.group(2)}
            acc = last["access"]
            status = acc["status"]
            access_status = acc["raw"].split()[1]
            failed = [e for e in errs if e["level"] in ("error", "crit", "alert", "emerg")]
            generated = bool(failed)
        elif kind == "haproxy":
            hp = last["hap"]
            gwlog = hp["raw"]
            src.append("%s line %d: %s" % (ename, hp["lineno"], hp["raw"]))
            status = hp["status"]
            generated = hp["termination"][:2] != "--"
        elif kind in gwx.KINDS:
            errs = [e for r in rs for e in per_req[r]["errors"]]
            gwlog, gwlog_lines = gwx.gateway_log(errs)
            for e in errs:
                src.append("%s line %d: %s" % (ename, e["lineno"], e["raw"]))
            acc = last["access"]
            src.append("%s line %d: %s" % (os.path.basename(args.access_log), acc["access"]["lineno"],
                                           acc["access"]["raw"]))
            src.append("%s: curl exit %s, http_code %s, %s bytes" % (os.path.basename(args.client_log),
                       cl["curl_exit"], cl["http_code"], cl["size_download"]))
            status = cl["http_code"] or None
            if status != acc["status"]:
                raise TruthError("%s: the access log says %s, curl got %s" % (rs[-1], acc["status"], status))
            generated = bool(errs)
        else:
            gwlog = "curl: (%d) %s" % (cl["curl_exit"], cl["curl_error"]) if cl["curl_exit"] else None
            src.append("%s: %s" % (os.path.basename(args.client_log), json.dumps(
                {k: cl[k] for k in ("request", "curl_exit", "http_code", "curl_error")})))
            status = cl["http_code"] or None
            generated = False
        note = None
        if kind == "s_client":
            gwlog = None
        if kind == "nginx" and access_status == "009":
            status = cl["http_code"] or None
            note = ("HTTP/0.9 relay: nginx logged $status 009 and $upstream_status %s and sent the upstream's "
                    "raw bytes with no status line of its own; curl exit %s, http_code %s, %s bytes (%s)"
                    % (acc["upstream_status"], cl["curl_exit"], cl["http_code"], cl["size_download"],
                       cl.get("body_hex")))
        if cl["curl_exit"] in (18, 56, 92) and status and status < 500:
            cls = "truncated"
        elif status and 500 <= status <= 599:
            cls = str(status) if generated and (status in (502, 503, 504) or
                                                (kind in gwx.KINDS and status == 500)) else "relayed"
        else:
            cls = "ok"
        for ln in open(args.upstream_log):
            if re.search(r" peer=\S+:%d " % c["client_port"], ln):
                src.append("%s: %s" % (uname, ln.strip()[:600]))
        if not any(s.startswith(uname) for s in src):
            src.append("%s: %d line(s) of upstream output, see the file" % (uname, sum(1 for _ in open(args.upstream_log))))

        finding = spec["finding"]
        verdict = exp["verdict"]
        frame, flt, marker, dec_note = find_evidence(cap, exp["evidence"], c, exp["marker"], leaf_der, args.up_port)
        conn = {"client": "127.0.0.1:%d" % c["client_port"], "server": server, "verdict": verdict,
                "source": "; ".join(src), "finding": finding, "client_status": status, "class": cls,
                "gateway_log": gwlog}
        if kind == "nginx":
            conn["access_status"] = access_status
            conn["upstream_status"] = acc["upstream_status"]
            conn["verify_error"] = verify
        if note:
            conn["client_note"] = note
        if kind == "haproxy":
            conn["haproxy_termination"] = last["hap"]["termination"]
            conn["haproxy_status"] = last["hap"]["status"]
            conn["haproxy_tls_error"] = last["hap"]["tls_error"]
        if kind in gwx.KINDS:
            conn["gateway_log_lines"] = gwlog_lines
            conn["access_status"] = last["access"]["status"]
            conn["curl_exit"] = cl["curl_exit"]
            conn["size_download"] = cl["size_download"]
        if kind == "curl":
            conn["curl_error"] = gwlog
        if kind == "s_client":
            # Where the request went: tshark decrypts the client's records with the key log
            # (CLIENT_EARLY_TRAFFIC_SECRET for 0-RTT); early data comes before the ServerHello.
            hit = None
            for f in c["frames"]:
                if int(f["tcp.srcport"]) == c["client_port"] and int(f["tcp.len"] or 0) > 0:
                    if any(rs[0].encode() in b for b in cap.decrypted(int(f["frame.number"]))):
                        hit = int(f["frame.number"])
                        break
            conn["request_frame"] = hit
            conn["request_in_early_data"] = bool(hit and h["server_hello_frame"] and hit < h["server_hello_frame"])
            conn["s_client"] = {k: cl.get(k) for k in ("early_data", "resumed", "body")}
            if cl.get("early_data") == "accepted" and not conn["request_in_early_data"]:
                problems.append("%s: s_client says early data was accepted, but tshark finds the request in "
                                "frame %s (ServerHello %s)" % (conn["client"], hit, h["server_hello_frame"]))
        conn["evidence_frame"] = frame
        conn["evidence_filter"] = flt
        conn["evidence_marker_hex"] = marker.hex() if marker else None
        conn["evidence_rule"] = exp["evidence"]
        if dec_note:
            conn["evidence_decrypted"] = dec_note
        hs = dict(h)
        hs.pop("records")
        conn["tls_handshake"] = hs
        conn["tls_records"] = h["records"]
        rq = [{"request": r, "status": (per_req[r]["access"]["status"] if kind in ("nginx",) + gwx.KINDS else
                                        per_req[r]["hap"]["status"] if kind == "haproxy" else
                                        per_req[r]["client"]["http_code"]),
               "curl_exit": per_req[r]["client"]["curl_exit"], "http_code": per_req[r]["client"]["http_code"]}
              for r in rs]
        conn["request_count"] = len(rq)
        summary = {}
        for q in rq:
            summary[str(q["status"])] = summary.get(str(q["status"]), 0) + 1
        conn["request_statuses"] = summary
        conn["requests"] = rq
        out_conns.append(conn)

        # ---- expectations (a scenario may list alternative outcomes of a race)
        def outcome_problems(exp):
            problems = []
            want = {"status": exp["status"], "class": exp["class"]}
            got = {"status": status, "class": cls}
            if exp.get("curl_exit") is not None:
                want["curl_exit"], got["curl_exit"] = exp["curl_exit"], cl["curl_exit"]
            if exp.get("termination"):
                want["termination"], got["termination"] = exp["termination"], conn.get("haproxy_termination")
            if exp.get("handshake"):
                want["handshake"] = exp["handshake"]
                got["handshake"] = "complete" if h["complete"] else "incomplete"
            fatal = [[a["from"], a["description"]] for a in h["alerts"] if a["level"] == "fatal"]
            want["fatal_alerts"], got["fatal_alerts"] = exp["alerts"], fatal
            if kind == "nginx":
                want["verify"] = exp["verify"]
                got["verify"] = [verify["code"], verify["text"]] if verify else None
            if got != want:
                problems.append("%s: expected %s, got %s" % (conn["client"], want, got))
            if exp.get("log"):
                if not gwlog or not re.search(exp["log"], gwlog):
                    problems.append("%s: gateway log %r does not match %r" % (conn["client"], gwlog, exp["log"]))
            elif kind != "curl" and gwlog and kind == "nginx":
                problems.append("%s: unexpected gateway log %r" % (conn["client"], gwlog))
            return problems

        variants = [exp] + exp.get("alternatives", [])
        results = [outcome_problems(v) for v in variants]
        matched = [i for i, r in enumerate(results) if not r]
        if matched:
            if len(variants) > 1:
                conn["outcome_variant"] = ("outcome %d of the %d tls_scenarios.py allows (a race; see README)"
                                           % (matched[0] + 1, len(variants)))
                # The race is inside the gateway, not on the wire: the same bytes can end either
                # way, so a checker must accept every class the scenario allows.
                conn["allowed_classes"] = sorted({v["class"] for v in variants})
        else:
            problems += results[0]

        if gw in ("nginx", "haproxy", "curl", "s_client", "apache"):
            if h["sni"] != spec["sni"]:
                problems.append("%s: ClientHello SNI %r, expected %r" % (conn["client"], h["sni"], spec["sni"]))
            seen = h["version"] or (max(h["offered_versions"]) if h["offered_versions"] else None)
            if seen != spec["version"]:
                problems.append("%s: TLS version %s (offered %s), expected %s"
                                % (conn["client"], h["version"], h["offered_versions"], spec["version"]))
        if exp["evidence"] == "certificate" and h["version"] == "1.2":
            want_n = 1 if (leaf == "self-signed" or not up.get("chain", True)) else 2
            if h["certificates_sent"] != want_n:
                problems.append("%s: the Certificate message holds %s certificates, expected %d"
                                % (conn["client"], h["certificates_sent"], want_n))
            if frame != h["certificate_frame"]:
                problems.append("%s: leaf DER found in frame %s, tshark's Certificate is in frame %s"
                                % (conn["client"], frame, h["certificate_frame"]))

    tls = {"version": spec["version"], "sni": spec["sni"],
           # Relative to captures/, as every path in a truth: the capture's folder (--name is
           # its base name, nginx/SCENARIO or haproxy/SCENARIO.haproxy), then the file.
           "keylog": os.path.join(os.path.dirname(args.name), os.path.basename(args.keylog)) if args.keylog else None,
           "keylog_written_by": spec.get("keylog"),
           "ca_file": tls_scenarios.ca_file(spec), "expected_name": tls_scenarios.NAME,
           "gateway_tls": gw in ("nginx", "haproxy", "curl", "s_client", "apache")}
    if spec.get("crl"):
        # The gateway checked revocation against this file: the intermediate's and the root's CRL
        # (nginx proxy_ssl_crl / HAProxy crl-file check every CA of the chain).
        tls["crl_file"] = spec["crl"]
        tls["crl_scope"] = "chain"
    if leaf:
        chain = ["tls/leaf-%s.pem" % leaf]
        if leaf != "self-signed" and up.get("chain", True) and up["kind"] != "nginx-plain":
            chain.append("tls/%s.pem" % ("other-intermediate" if leaf.startswith("other-ca") else "intermediate"))
        tls["served_chain"] = [spec["certs"] + c[len("tls"):] for c in chain]
        dates = run(["openssl", "x509", "-in", os.path.join(args.certs, "leaf-%s.pem" % leaf), "-noout",
                     "-subject", "-issuer", "-startdate", "-enddate", "-fingerprint", "-sha256"])
        tls["leaf"] = dict(line.split("=", 1) for line in dates.strip().splitlines())
    if kind in gwx.KINDS:
        # Apache's TLS captures have a certificate set of their own (captures/apache/tls/).
        tls["ca_file"] = gwx.APACHE_TLS_CERTS + "/root.pem"
        if tls.get("served_chain"):
            tls["served_chain"] = [gwx.APACHE_TLS_CERTS + "/" + c.split("/", 1)[1] for c in tls["served_chain"]]
    truth = {
        "capture": args.capture,
        "gateway": args.gateway,
        "link_type": bt.link_type(args.pcap),
        "client_requests": [{"request": r, "status": (per_req[r]["access"]["status"] if kind in ("nginx",) + gwx.KINDS else
                                                      per_req[r]["hap"]["status"] if kind == "haproxy" else
                                                      per_req[r]["client"]["http_code"])} for r in reqs],
        "nginx_errors": [e["text"] for e in errors] if kind == "nginx" else [],
        "scenario": spec["name"],
        "upstream_sends": spec["sends"],
        "gateway_kind": kind,
    }
    if kind == "haproxy":
        truth["haproxy_log"] = [h["raw"] for h in hap]
    if kind in gwx.KINDS:
        truth["gateway_errors"] = [e["raw"] for e in errors]
    truth["tls"] = tls
    truth["expected_connections"] = out_conns
    return truth, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--gateway-kind", required=True)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--capture", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--up-port", type=int, required=True)
    ap.add_argument("--client-log", required=True)
    ap.add_argument("--upstream-log", required=True)
    ap.add_argument("--keylog")
    ap.add_argument("--error-log")
    ap.add_argument("--access-log")
    ap.add_argument("--haproxy-log")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        truth, problems = build(args)
    except TruthError as exc:
        sys.exit("tls-truth.py: %s: %s" % (args.name, exc))
    with open(args.out, "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    if problems:
        sys.exit("tls-truth.py: %s: outcome differs from tls_scenarios.py: %s" % (args.name, "; ".join(problems)))


if __name__ == "__main__":
    main()
