#!/usr/bin/env python3
"""Replay test: `edgescope replay` in front of the gateway that made each failing sample capture.

  replay-test.py [--edgescope PATH] [--only SUBSTRING ...] [--keep] [--base-port N]

For every failing connection of captures/nginx/*.truth.json and captures/haproxy/*.truth.json
(nginx logged a line for it, or its class is not `ok`), this

  1. finds its connection id with `edgescope analyze --json` (by the truth's client and server);
  2. starts `edgescope replay CAPTURE --connection ID --listen 127.0.0.1:UP --count 1`; for a
     certificate failure with `--forge-chain DIR --ca-file <the CA the gateway trusted>` (and the
     key log, when the capture has one), and the gateway then trusts DIR/ca.pem instead;
  3. starts the same gateway with the configuration the capture scripts used
     (captures/tools/run-scenario.py, tls-run.py: same timeouts, keep-alive, TLS settings),
     pointed at 127.0.0.1:UP, on loopback, in its own process group;
  4. sends the connection's requests (method and path from the truth) with curl, as the
     capture scripts did;
  5. stops the gateway (gracefully, by pid) and compares what it logged with the truth:
     nginx: the first error.log message, addresses and ports normalised, and the status it
     logged (access log); HAProxy: the status, the termination state, the request and (TLS
     captures, whose log format has it) the backend TLS error of its log line.

The ground truth is the gateway's own log beside the capture, never edgescope's output.
Connections the upstream never accepted (refused, connect timeout, ICMP) cannot be served:
for them the test checks that replay refuses them with one line and status 1.
Scenarios a replay cannot reproduce are listed in EXPECTED_MISS with the reason; the test
fails if one of them starts to reproduce (update the list) or any other does not.

Prints one line per connection and "N reproduced, N expected misses, N failed"; exits 1 on
a failure. Every process it starts runs in its own process group and is stopped by pid.
"""

import argparse
import glob
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURES = os.path.join(REPO, "captures")
TOOLS = os.path.join(CAPTURES, "tools")
sys.path.insert(0, TOOLS)
import scenarios  # noqa: E402


def load_tool(name, filename):
    spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS, filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_SCENARIO = load_tool("run_scenario", "run-scenario.py")   # NGINX_CONF, HAPROXY_CONF
TLS_RUN = load_tool("tls_run", "tls-run.py")                  # the TLS gateways' configuration
import tls_scenarios  # noqa: E402  (tls-run.py put it on the path)

# Connections a replay cannot reproduce, and why (capture base name -> reason).
EXPECTED_MISS = {
    "proxy-header-missing": "made by proxy-protocol-run.py with two gateways in a row (HAProxy, then an nginx upstream "
                            "that expects a PROXY header); this test sets up one gateway",
    "tcp-keepalive-race.haproxy": "the race needs request 2 to cross the upstream's FIN on a 50 ms wire (netns); on "
                                  "loopback HAProxy sees the FIN first and opens a new connection (503 SC--)",
    "tls-cert-revoked": "the forged chain has no CRL signed by its CA, so the gateway's CRL check cannot fail the same way",
    "tls-cert-revoked.haproxy": "the forged chain has no CRL signed by its CA, so the gateway's CRL check cannot fail the same way",
    "tls-cert-expired-1.3": "TLS 1.3 encrypts the certificate and the capture has no key log: there is no chain to forge",
    "tls-cert-expired-1.3.haproxy": "TLS 1.3 encrypts the certificate and the capture has no key log: there is no chain to forge",
    "tls-client-cert-required": "the upstream asked for a client certificate; replay's TLS server asks for none",
    "tls-client-cert-required.haproxy": "the upstream asked for a client certificate; replay's TLS server asks for none",
    "tls-client-cert-required-1.3-keylog": "the upstream asked for a client certificate; replay's TLS server asks for none",
    "tls-client-cert-required-1.3-keylog.haproxy": "the upstream asked for a client certificate; replay's TLS server asks for none",
    # A path-MTU black hole is the network path's, not the upstream's: replayed over loopback
    # every byte arrives. The request-path captures still time out in the same words, because the
    # replay repeats the upstream's silence, but the upstream address differs (10.204.2.1 and
    # fd00:204:2::1 in the namespaces), so the lines do not compare equal.
    "tcp-mtu-blackhole-request": "the loss is in the path (a lowered MTU between network namespaces); loopback delivers every byte",
    "tcp-mtu-blackhole-request-icmp-seen": "the loss is in the path (a lowered MTU between network namespaces); loopback delivers every byte",
    "tcp-mtu-blackhole-request-icmp-seen-v6": "the loss is in the path (a lowered MTU between network namespaces); loopback delivers every byte",
    "tcp-mtu-blackhole-response": "the loss is in the path: replayed over loopback nginx gets the tail after the hole and reads it as a bad head",
    "proxy-header-v2-tls-unexpected.haproxy": "made by proxy-protocol-run.py with HAProxy `ssl send-proxy-v2`; this test's HAProxy "
                                              "speaks plain HTTP to the replay, which answers its 400 as a normal response",
}

# Verdicts replayed over a forged chain (--forge-chain) rather than as the captured bytes.
FORGED = ("tls.cert.", "tls.client_cert")

PROCS = []   # (name, Popen, stop signal)


class Fail(Exception):
    pass


def start(name, cmd, sig, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    PROCS.append((name, p, sig))
    return p


def stop(p, sig, wait=8.0):
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
            p.wait(wait)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass
    for entry in list(PROCS):
        if entry[1] is p:
            PROCS.remove(entry)


def cleanup():
    for name, p, sig in reversed(list(PROCS)):
        stop(p, sig)


def wait_for(secs, what, fn):
    deadline = time.time() + secs
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.02)
    raise Fail("timed out waiting for %s" % what)


def listening(port):
    s = socket.socket()
    try:
        s.settimeout(0.2)
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ------------------------------------------------------------------ which connections

def failing_connections():
    """(truth path, truth, connection) for every failing connection of nginx/ and haproxy/."""
    out = []
    for folder in ("nginx", "haproxy"):
        for path in sorted(glob.glob(os.path.join(CAPTURES, folder, "*.truth.json"))):
            truth = json.load(open(path))
            if "client-hop" in os.path.basename(path):
                continue   # both hops in one file: the gateway itself is in the capture
            for conn in truth["expected_connections"]:
                nginx = truth["gateway"].startswith("nginx")
                logged = conn.get("gateway_log") if nginx else None
                if conn.get("class") not in ("ok", None) or logged:
                    out.append((path, truth, conn))
    return out


def connection_id(edgescope, capture, conn, keylog):
    cmd = [edgescope, "analyze", capture, "--json", "--list", "all", "--quiet"]
    if keylog:
        cmd += ["--keylog", keylog]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    doc = json.loads(r.stdout)
    for c in doc["connections"]:
        if c["client"] == conn["client"] and c["server"] == conn["server"]:
            return c["id"]
    raise Fail("no connection %s -> %s in analyze's report" % (conn["client"], conn["server"]))


# ------------------------------------------------------------------ gateways

def scenario_spec(truth):
    name = truth.get("scenario")
    return scenarios.BY_NAME.get(name, {}) if name else {}


def tls_spec(truth):
    name = truth.get("scenario") or os.path.splitext(truth["capture"])[0].replace(".haproxy", "")
    for s in tls_scenarios.SCENARIOS:
        if s["name"] == name:
            return s
    return None


def start_gateway(kind, truth, d, gw_port, up_port, certs=None):
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    tls = truth.get("tls")
    tspec = tls_spec(truth) if tls else None
    if kind == "nginx":
        if tspec:
            certs = certs or os.path.join(CAPTURES, os.path.dirname(tls["ca_file"]))
            conf_text = TLS_RUN.nginx_gateway_conf(d, gw_port, up_port, certs, tspec, tls.get("gateway_tls", True))
        else:
            spec = scenario_spec(truth)
            conf_text = RUN_SCENARIO.NGINX_CONF.format(
                dir=d, gw_port=gw_port, read_timeout="2s" if spec.get("read_timeout") else "5s",
                connect_timeout=spec.get("connect_timeout", "2s"),
                keepalive="        keepalive 4;" if spec.get("keepalive", True) else "",
                servers="        server 127.0.0.1:%d%s;" % (up_port, (" " + spec["server_params"]) if spec.get("server_params") else ""))
        conf = os.path.join(d, "nginx.conf")
        open(conf, "w").write(conf_text)
        err = os.path.join(d, "logs/error.log")
        r = subprocess.run(["nginx", "-t", "-q", "-p", d + "/", "-c", conf, "-e", err],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise Fail("nginx -t: %s" % r.stdout)
        open(err, "w").close()
        p = start("gateway", ["nginx", "-p", d + "/", "-c", conf, "-e", err], signal.SIGQUIT,
                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "nginx.stderr"), "w"))
    else:
        if tspec:
            certs = certs or os.path.join(CAPTURES, os.path.dirname(tls["ca_file"]))
            conf_text = TLS_RUN.HAPROXY_CONF.format(
                dir=d, gw=gw_port, up=up_port, fmt=TLS_RUN.HAPROXY_LOG_FORMAT.replace('"', '\\"'),
                opts=TLS_RUN.haproxy_server_opts(certs, tspec, tls.get("gateway_tls", True)))
        else:
            spec = scenario_spec(truth)
            conf_text = RUN_SCENARIO.HAPROXY_CONF.format(
                dir=d, gw_port=gw_port, read_timeout="2s" if spec.get("read_timeout") else "5s",
                connect_timeout=spec.get("connect_timeout", "2s"), servers="    server s1 127.0.0.1:%d" % up_port)
        conf = os.path.join(d, "haproxy.cfg")
        open(conf, "w").write(conf_text)
        r = subprocess.run(["haproxy", "-c", "-q", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise Fail("haproxy -c: %s" % r.stdout)
        p = start("gateway", ["haproxy", "-db", "-f", conf], signal.SIGUSR1,
                  stdout=open(os.path.join(d, "logs/haproxy.log"), "w"),
                  stderr=open(os.path.join(d, "haproxy.stderr"), "w"))
    wait_for(10, "%s listening on %d" % (kind, gw_port), lambda: listening(gw_port))
    return p


def curl_cmd(gw_port, request):
    method, path = request.split(" ", 1)
    cmd = ["curl", "--noproxy", "*", "-sS", "--max-time", "8", "-H", "User-Agent:", "-H", "Accept:", "--http0.9",
           "-o", "/dev/null", "-w", "%{http_code}\\n"]
    if method == "HEAD":
        cmd.append("--head")
    elif method == "POST":
        cmd += ["-X", "POST", "--data-binary", ""]
    return cmd + ["http://127.0.0.1:%d%s" % (gw_port, path)]


def send_requests(kind, gw_port, requests):
    """The connection's requests as the capture scripts sent them; the last one's http_code."""
    codes = []
    if kind == "haproxy" and len(requests) > 1:
        # HAProxy reuses a server connection within one client session: one curl, several URLs.
        cmd = curl_cmd(gw_port, requests[0])
        for req in requests[1:]:
            cmd += ["-o", "/dev/null", "http://127.0.0.1:%d%s" % (gw_port, req.split(" ", 1)[1])]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        codes = r.stdout.split()
    else:
        for req in requests:
            r = subprocess.run(curl_cmd(gw_port, req), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            codes.append((r.stdout.split() or ["000"])[0])
    return codes[-1] if codes else None


# ------------------------------------------------------------------ comparing logs

ADDR = re.compile(r"(\[[0-9a-f:]+\]|\d+\.\d+\.\d+\.\d+):\d+")


def norm_nginx(message):
    return re.sub(r"client: [0-9a-f.:]+,", "client: ADDR,", ADDR.sub("ADDR", message))


def nginx_lines(path):
    out = []
    for line in open(path, errors="replace"):
        m = re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)", line.rstrip("\n"))
        if m and m.group(1) in ("warn", "error", "crit", "alert", "emerg"):
            out.append(m.group(2))
    return out


HAPROXY_LINE = re.compile(r'\S+ \[[^\]]+\] \S+ \S+ \S+ (\d+|-1) \d+ \S+ \S+ (\S{4}) .*?"([A-Z]+ \S+) [^"]*"')


def haproxy_fields(line):
    """Status, termination state, request and (tls-run.py's log format) the backend TLS error."""
    m = HAPROXY_LINE.match(line)
    if not m:
        return None
    tls_error = re.search(r'ssl_bc_err_str="([^"]*)"', line)
    return (m.group(1), m.group(2), m.group(3)) + ((tls_error.group(1),) if tls_error else ())


def haproxy_lines(path):
    return [l.rstrip("\n") for l in open(path, errors="replace")
            if HAPROXY_LINE.match(l) and "Proxy " not in l[:6]]


# ------------------------------------------------------------------ one connection

def replay_one(args, path, truth, conn, work):
    folder = os.path.dirname(path)
    capture = os.path.join(folder, truth["capture"])
    base = os.path.basename(path)[:-len(".truth.json")]
    kind = "nginx" if truth["gateway"].startswith("nginx") else "haproxy"
    tls = truth.get("tls") or {}
    keylog = os.path.join(CAPTURES, tls["keylog"]) if tls.get("keylog") else None
    label = "%s %s->%s" % (base, conn.get("client"), conn["server"])
    d = os.path.join(work, base + "-" + (conn.get("client") or "x").replace(":", "_"))
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    up, gw = args.base_port + 10, args.base_port
    for port in (up, gw):
        if not port_free(port):
            raise Fail("port %d is in use" % port)

    if conn.get("client") is None:
        # Never accepted: replay must refuse the connection, with one line and status 1.
        cid = None
        r = subprocess.run([args.edgescope, "analyze", capture, "--json", "--list", "all", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in json.loads(r.stdout)["connections"]:
            if c["server"] == conn["server"] and c.get("verdict", {}).get("code", c.get("code")) == conn["verdict"]:
                cid = c["id"]
                break
        if cid is None:
            cid = json.loads(r.stdout)["connections"][0]["id"]
        r = subprocess.run([args.edgescope, "replay", capture, "--connection", cid, "--listen", "127.0.0.1:%d" % up],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        lines = r.stderr.splitlines()
        ok = r.returncode == 1 and len(lines) == 1 and "nothing to replay" in lines[0]
        return ("refused" if ok else "failed"), "%s: never accepted; replay says %r (status %d)" % (label, r.stderr.strip(), r.returncode)

    cid = connection_id(args.edgescope, capture, conn, keylog)
    replay_err = open(os.path.join(d, "replay.stderr"), "w")
    cmd = [args.edgescope, "replay", capture, "--connection", cid, "--listen", "127.0.0.1:%d" % up, "--count", "1"]
    forge = None
    if tls and any(conn["verdict"].startswith(p) for p in FORGED):
        # The certificate failure itself: a chain shaped like the captured one, judged with the
        # CA (and CRL) the gateway trusted; the gateway then trusts the forged CA instead.
        forge = os.path.join(d, "forged")
        cmd += ["--forge-chain", forge, "--ca-file", os.path.join(CAPTURES, tls["ca_file"])]
        if tls.get("crl_file"):
            cmd += ["--crl", os.path.join(CAPTURES, tls["crl_file"])]
    if keylog and (forge or tls.get("gateway_tls") is False):
        cmd += ["--keylog", keylog]
    replay = start("replay", cmd, signal.SIGTERM, stdout=subprocess.DEVNULL, stderr=replay_err)
    try:
        wait_for(30, "edgescope replay on %d" % up, lambda: "replaying" in open(os.path.join(d, "replay.stderr")).read()
                 or replay.poll() is not None)
        if replay.poll() is not None:
            said = open(os.path.join(d, "replay.stderr")).read().strip()
            if replay.returncode == 1 and "nothing to replay" in said and len(said.splitlines()) == 1:
                return "refused", "%s: never accepted; replay says %r (status 1)" % (label, said)
            raise Fail("replay exited %d: %s" % (replay.returncode, open(os.path.join(d, "replay.stderr")).read().strip()))
        certs = None
        if forge:
            certs = os.path.join(d, "certs")
            os.makedirs(certs, exist_ok=True)
            shutil.copy(os.path.join(forge, "ca.pem"), os.path.join(certs, "root.pem"))
        gateway = start_gateway(kind, truth, d, gw, up, certs)
        requests = [r["request"] for r in conn.get("requests", [])] or [truth["client_requests"][0]["request"]]
        code = send_requests(kind, gw, requests)
        time.sleep(0.3)
        stop(gateway, signal.SIGQUIT if kind == "nginx" else signal.SIGUSR1)
        try:
            replay.wait(10)
        except subprocess.TimeoutExpired:
            pass
    finally:
        cleanup()
        replay_err.close()
    served = open(os.path.join(d, "replay.stderr")).read().strip().splitlines()
    served = served[-1] if served else ""

    if kind == "nginx":
        got = nginx_lines(os.path.join(d, "logs/error.log"))
        want = conn.get("gateway_log")
        got_first = got[0] if got else None
        same_log = (norm_nginx(got_first) if got_first else None) == (norm_nginx(want) if want else None)
        # The status nginx logged (access log `$status`), as the truth's access_status.
        access = [l.split()[1] for l in open(os.path.join(d, "logs/access.log")) if l.strip()]
        got_status = access[-1] if access else None
        want_status = conn.get("access_status") or (str(conn["client_status"]) if conn.get("client_status") else None)
        same_status = want_status is None or want_status == got_status
        ok = same_log and same_status
        detail = "log %r%s, status %s (truth %s)" % (
            got_first, "" if same_log else " != truth %r" % want, got_status, want_status)
    else:
        got = haproxy_lines(os.path.join(d, "logs/haproxy.log"))
        want = haproxy_fields(conn["gateway_log"]) if conn.get("gateway_log") else None
        got_fields = haproxy_fields(got[-1]) if got else None
        ok = got_fields == want
        detail = "log %s%s" % (got_fields, "" if ok else " != truth %s" % (want,))
    return ("reproduced" if ok else "failed"), "%s [%s]: %s; replay: %s" % (label, cid, detail, served)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgescope", default=os.path.join(REPO, ".build/debug/edgescope"))
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("EDGESCOPE_REPLAY_BASE_PORT", "28080")))
    args = ap.parse_args()
    args.edgescope = os.path.abspath(args.edgescope)
    for tool in ("nginx", "haproxy", "curl"):
        if shutil.which(tool) is None:
            print("replay-test: skipped: %s is not installed" % tool)
            return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix="replay-test-")
    os.chmod(work, 0o755)
    counts = {"reproduced": 0, "expected miss": 0, "refused": 0, "failed": 0}
    failures = []
    try:
        for path, truth, conn in failing_connections():
            base = os.path.basename(path)[:-len(".truth.json")]
            if args.only and not any(o in base for o in args.only):
                continue
            try:
                outcome, line = replay_one(args, path, truth, conn, work)
            except Fail as exc:
                outcome, line = "failed", "%s: %s" % (base, exc)
            if base in EXPECTED_MISS:
                if outcome == "reproduced":
                    outcome, line = "failed", line + " (listed in EXPECTED_MISS, but reproduced: update the list)"
                elif outcome == "failed":
                    outcome, line = "expected miss", line + " (expected: %s)" % EXPECTED_MISS[base]
            counts[outcome] += 1
            print("%-13s %s" % (outcome, line), flush=True)
            if outcome == "failed":
                failures.append(line)
    finally:
        cleanup()
        if args.keep or failures:
            print("replay-test: work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("replay-test: %d reproduced, %d refused as never accepted, %d expected misses, %d failed"
          % (counts["reproduced"], counts["refused"], counts["expected miss"], counts["failed"]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
