#!/usr/bin/env python3
"""Make one TLS sample capture: a real gateway (TLS client) in front of a TLS upstream.

  tls-run.py --name SCENARIO --gateway nginx|haproxy|nginx-plain|haproxy-plain|curl|apache|apache-plain
             --work DIR --out DIR --certs DIR [--base-port N]

Called by make-captures.sh for every (scenario, gateway) pair of tls_scenarios.py, with the
certificates tls-certs.sh made for this run in --certs. It:

  1. starts the upstream on 127.0.0.1:BASE+10: openssl s_server, tls-upstream.py (Python ssl,
     scripted), or a second nginx (TLS with `ssl_reject_handshake` for the SNI case, or plain
     HTTP);
  2. starts the gateway on 127.0.0.1:BASE: Debian's nginx (`proxy_pass https://up`,
     `proxy_ssl_verify on`, `proxy_ssl_trusted_certificate root.pem`, `proxy_ssl_name
     upstream.test`, `proxy_ssl_server_name on`, `proxy_ssl_protocols TLSv1.2 TLSv1.3`,
     `proxy_next_upstream off`) or HAProxy (`server s1 ... ssl verify required ca-file
     root.pem sni str(upstream.test)`, `retries 0`, the httplog fields plus the backend TLS
     error); none for the key-log scenarios (curl talks to the upstream itself and writes
     SSLKEYLOGFILE);
  3. runs tcpdump on the upstream port only (loopback), sends the requests with one curl run
     (one client connection), records what curl got per request;
  4. stops the gateway gracefully, waits 1.5 s, stops tcpdump (fails on any kernel drop) and
     the upstream;
  5. writes to --out: <base>.pcap, the gateway's log(s), <base>.upstream.log, <base>.client.log,
     <base>.keylog (key-log scenarios), then <base>.truth.json (tls-truth.py), and checks it
     (check-capture.py). <base> is nginx/SCENARIO, haproxy/SCENARIO.haproxy, apache/SCENARIO or
     no-gateway/SCENARIO (curl, openssl s_client).

Every process it starts is stopped on exit, on error and on SIGINT/SIGTERM. Exit status 0
only if every check passed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tls_scenarios  # noqa: E402
import gw_apache_lighttpd as gwx  # noqa: E402  (Apache httpd: --gateway apache|apache-plain)

PY = sys.executable or "/usr/bin/python3"
PROCS = []


class Fail(Exception):
    pass


def log(msg):
    sys.stderr.write("[tls-run] %s\n" % msg)
    sys.stderr.flush()


def start(name, cmd, sig, stdout=None, stderr=None, env=None):
    p = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                         env=env)
    PROCS.append((name, p, sig))
    return p


def stop(p, sig, wait=5.0):
    if p.poll() is not None:
        return p.returncode
    p.send_signal(sig)
    try:
        return p.wait(wait)
    except subprocess.TimeoutExpired:
        log("pid %d ignored signal %d; killing it" % (p.pid, sig))
        p.kill()
        return p.wait()


def stop_named(name):
    for n, p, sig in list(PROCS):
        if n == name:
            stop(p, sig)
            PROCS.remove((n, p, sig))


def cleanup():
    for n, p, sig in reversed(PROCS):
        stop(p, sig)
    PROCS.clear()


def wait_for(secs, what, fn):
    deadline = time.time() + secs
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise Fail("timed out waiting for %s" % what)


def listening(port):
    out = subprocess.run(["ss", "-Htln", "( sport = :%d )" % port], stdout=subprocess.PIPE, text=True).stdout
    return bool(out.strip())


def version_of(kind):
    if kind == "nginx":
        v = subprocess.run(["nginx", "-v"], stderr=subprocess.PIPE, text=True).stderr
        return "nginx " + v.split("nginx/")[1].split()[0]
    if kind == "haproxy":
        v = subprocess.run(["haproxy", "-v"], stdout=subprocess.PIPE, text=True).stdout
        return "HAProxy " + v.split("version ")[1].split()[0]
    if kind in gwx.KINDS:
        return gwx.version(kind)
    if kind == "s_client":
        v = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout
        return "openssl s_client %s (no gateway)" % v.split()[1]
    v = subprocess.run(["curl", "--version"], stdout=subprocess.PIPE, text=True).stdout
    return "curl %s (no gateway)" % v.split()[1]


# ------------------------------------------------------------------ certificates

ISSUER = {"other-ca": "other-intermediate", "other-ca-expired": "other-intermediate", "self-signed": None}


def cert_files(certs, leaf, chain):
    """(cert file to serve, key, chain file or None, intermediate name or None)."""
    crt, key = os.path.join(certs, "leaf-%s.pem" % leaf), os.path.join(certs, "leaf-%s.key" % leaf)
    inter = ISSUER.get(leaf, "intermediate")
    for f in (crt, key):
        if not os.path.exists(f):
            raise Fail("missing %s (run tls-certs.sh)" % f)
    return crt, key, (os.path.join(certs, inter + ".pem") if (chain and inter) else None), inter


CERT_REFS = {"@root": "root.pem", "@crl": "crl.pem"}


def cert_refs(text, certs):
    """Replace @root / @crl in a scenario's option by the file of this run's certificate dir."""
    for ref, name in CERT_REFS.items():
        text = text.replace(ref, os.path.join(certs, name))
    return text


# ------------------------------------------------------------------ nginx

NGINX_HEAD = """# generated by captures/tools/tls-run.py
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log {level};
events {{ worker_connections 64; }}
http {{
    log_format edgescope '$msec $status "$upstream_addr" "$upstream_status" "$upstream_connect_time" "$request" $remote_addr $remote_port';
    access_log {dir}/logs/access.log edgescope;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
{body}
}}
"""


def nginx_gateway_conf(d, gw_port, up_port, certs, spec, tls):
    directives = {"proxy_ssl_verify": "on",
                  "proxy_ssl_trusted_certificate": os.path.join(certs, "root.pem"),
                  "proxy_ssl_name": tls_scenarios.NAME,
                  "proxy_ssl_server_name": "on",
                  "proxy_ssl_protocols": "TLSv1.2 TLSv1.3"}
    for line in spec["nginx"]:
        k, v = cert_refs(line, certs).rstrip(";").split(None, 1)
        directives[k] = v
    loc = "proxy_pass %s://up;" % ("https" if tls else "http")
    if tls:
        loc += "".join("\n            %s %s;" % kv for kv in directives.items())
    body = """    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_next_upstream off;
    proxy_connect_timeout 2s;
    proxy_send_timeout 5s;
    proxy_read_timeout 5s;
    upstream up {{
        server 127.0.0.1:{up};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{gw};
        location / {{
            {loc}
        }}
    }}""".format(up=up_port, gw=gw_port, loc=loc)
    return NGINX_HEAD.format(dir=d, level="warn", body=body)


def nginx_upstream_conf(d, up_port, certs, up):
    if up["kind"] == "nginx-plain":
        body = """    server {{
        listen 127.0.0.1:{p};
        location / {{ return 200 "plain upstream\\n"; }}
    }}""".format(p=up_port)
    elif up.get("early_data"):
        # TLS 1.3 only, 0-RTT accepted; the body says whether the request came as early data.
        crt, key, chain, _ = cert_files(certs, up["cert"], True)
        full = os.path.join(d, "served-chain.pem")
        with open(full, "w") as f:
            f.write(open(crt).read() + open(chain).read())
        body = """    server {{
        listen 127.0.0.1:{p} ssl;
        server_name upstream.test;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        ssl_early_data on;
        location / {{ return 200 "early=$ssl_early_data\\n"; }}
    }}""".format(p=up_port, crt=full, key=key)
    else:
        crt, key, chain, _ = cert_files(certs, up["cert"], True)
        full = os.path.join(d, "served-chain.pem")
        with open(full, "w") as f:
            f.write(open(crt).read() + open(chain).read())
        body = """    server {{
        listen 127.0.0.1:{p} ssl default_server;
        ssl_reject_handshake on;
    }}
    server {{
        listen 127.0.0.1:{p} ssl;
        server_name upstream.test;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        location / {{ return 200 "tls upstream\\n"; }}
    }}""".format(p=up_port, crt=full, key=key)
        if not up.get("reject_no_sni"):
            raise Fail("nginx-tls upstream without reject_no_sni is not used")
    return NGINX_HEAD.format(dir=d, level="info", body=body)


def start_nginx(name, d, conf_text, port):
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    err = os.path.join(d, "logs/error.log")
    r = subprocess.run(["nginx", "-t", "-q", "-p", d + "/", "-c", conf, "-e", err],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise Fail("nginx -t (%s): %s" % (name, r.stdout))
    open(err, "w").close()
    start(name, ["nginx", "-p", d + "/", "-c", conf, "-e", err], signal.SIGQUIT,
          stderr=open(os.path.join(d, "nginx.stderr"), "w"))
    wait_for(10, "%s pid file" % name, lambda: os.path.exists(os.path.join(d, "nginx.pid")))
    wait_for(10, "%s listening on %d" % (name, port), lambda: listening(port))


# ------------------------------------------------------------------ HAProxy

# option httplog's fields, then what HAProxy knows about the backend TLS failure.
HAPROXY_LOG_FORMAT = ('%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc '
                      '%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r '
                      'ssl_bc_err=%[ssl_bc_err] ssl_bc_err_str=%{+Q}[ssl_bc_err_str] '
                      'bc_err=%[bc_err] bc_err_str=%{+Q}[bc_err_str]')

HAPROXY_CONF = """# generated by captures/tools/tls-run.py
global
    log stdout format raw local0
    pidfile {dir}/haproxy.pid
defaults
    mode http
    log global
    log-format "{fmt}"
    timeout connect 2s
    timeout client 10s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{gw}
    default_backend be
backend be
    server s1 127.0.0.1:{up}{opts}
"""


def haproxy_server_opts(certs, spec, tls):
    if not tls:
        return ""
    words = cert_refs(spec["haproxy"], certs).split()
    opts = ["ssl", "verify", "required", "ca-file", os.path.join(certs, "root.pem")]
    if "no-sni" in words:
        words.remove("no-sni")
    else:
        opts += ["sni", "str(%s)" % tls_scenarios.NAME]
    return " " + " ".join(opts + words)


def start_haproxy(d, gw_port, up_port, certs, spec, tls):
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    conf = os.path.join(d, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(HAPROXY_CONF.format(dir=d, gw=gw_port, up=up_port, fmt=HAPROXY_LOG_FORMAT.replace('"', '\\"'),
                                    opts=haproxy_server_opts(certs, spec, tls)))
    r = subprocess.run(["haproxy", "-c", "-q", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        raise Fail("haproxy -c: %s" % r.stdout)
    start("gateway", ["haproxy", "-db", "-f", conf], signal.SIGUSR1,
          stdout=open(os.path.join(d, "logs/haproxy.log"), "w"),
          stderr=open(os.path.join(d, "haproxy.stderr"), "w"))
    wait_for(10, "haproxy listening on %d" % gw_port, lambda: listening(gw_port))


# ------------------------------------------------------------------ upstreams

def start_upstream(d, up_port, certs, spec):
    up = spec["upstream"]
    kind = up["kind"]
    ulog = os.path.join(d, "upstream.log")
    if kind == "s_server":
        crt, key, chain, _ = cert_files(certs, up["cert"], up.get("chain", True))
        args = [cert_refs(a, certs).replace("@cert", crt).replace("@key", key) for a in up["args"]]
        cmd = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % up_port, "-cert", crt, "-key", key,
               "-www", "-no-CAfile", "-no-CApath", "-no-CAstore"]
        if chain:
            cmd += ["-cert_chain", chain]
        if spec.get("keylog") == "server":
            cmd += ["-keylogfile", os.path.join(d, "capture.keylog")]
        cmd += args
        with open(os.path.join(d, "upstream.cmd"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        out = open(ulog, "w")
        out.write("# %s\n" % " ".join(c.replace(certs + "/", "") for c in cmd))
        out.flush()
        start("upstream", cmd, signal.SIGTERM, stdout=out, stderr=subprocess.STDOUT)
        wait_for(10, "openssl s_server on %d" % up_port, lambda: listening(up_port))
    elif kind == "py":
        cmd = [PY, os.path.join(HERE, "tls-upstream.py"), "--port", str(up_port), "--mode", up["mode"],
               "--log", ulog, "--ready-file", os.path.join(d, "ready")]
        if up.get("cert"):
            crt, key, chain, _ = cert_files(certs, up["cert"], True)
            cmd += ["--cert", os.path.join(certs, "chain-%s.pem" % up["cert"]), "--key", key]
        for opt in ("min", "max"):
            if up.get(opt):
                cmd += ["--%s-version" % opt, up[opt]]
        if up.get("ciphers"):
            cmd += ["--ciphers", up["ciphers"]]
        start("upstream", cmd, signal.SIGTERM, stderr=open(os.path.join(d, "upstream.stderr"), "w"))
        wait_for(10, "tls-upstream.py", lambda: os.path.exists(os.path.join(d, "ready")))
    elif kind in ("nginx-tls", "nginx-plain"):
        ud = os.path.join(d, "up")
        os.makedirs(ud, exist_ok=True)
        os.chmod(ud, 0o755)
        start_nginx("upstream", ud, nginx_upstream_conf(ud, up_port, certs, up), up_port)
    else:
        raise Fail("unknown upstream kind %s" % kind)


def upstream_log_text(d, spec):
    kind = spec["upstream"]["kind"]
    if kind in ("nginx-tls", "nginx-plain"):
        ud = os.path.join(d, "up")
        text = "# upstream nginx error.log (level info)\n" + open(os.path.join(ud, "logs/error.log"), errors="backslashreplace").read()
        text += "# upstream nginx access.log\n" + open(os.path.join(ud, "logs/access.log"), errors="backslashreplace").read()
        return text
    return open(os.path.join(d, "upstream.log")).read() if os.path.exists(os.path.join(d, "upstream.log")) else ""


# ------------------------------------------------------------------ client

def run_curl(d, spec, gw, gw_port, up_port, certs):
    """One curl run for all the scenario's requests (one client connection)."""
    cmd = ["curl", "--noproxy", "*", "-sS", "--max-time", "8", "-H", "User-Agent:", "-H", "Accept:",
           "-w", "%{http_code} %{size_download} %{exitcode} %{url_effective} %{errormsg}\\n"]
    env = dict(os.environ)
    for k in ("SSLKEYLOGFILE", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY"):
        env.pop(k, None)
    if gw == "curl":
        keylog = os.path.join(d, "capture.keylog")
        env["SSLKEYLOGFILE"] = keylog
        cmd += ["--http1.1", "--cacert", os.path.join(certs, "root.pem"),
                "--resolve", "%s:%d:127.0.0.1" % (tls_scenarios.NAME, up_port)] + spec["curl"]
        base = "https://%s:%d" % (tls_scenarios.NAME, up_port)
    else:
        cmd += ["--http0.9"]
        base = "http://127.0.0.1:%d" % gw_port
        if tls_scenarios.GATEWAY_KIND[gw] in gwx.KINDS:
            # Apache (ProxyPreserveHost On): the name it sends as SNI and checks the certificate against.
            cmd += ["-H", "Host: %s" % tls_scenarios.NAME]
    for i, path in enumerate(spec["requests"]):
        cmd += [base + path, "-o", os.path.join(d, "body.%d" % (i + 1))]
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t1 = time.time()
    lines = r.stdout.splitlines()
    if len(lines) != len(spec["requests"]):
        raise Fail("curl printed %d result lines for %d requests: %r %r"
                   % (len(lines), len(spec["requests"]), r.stdout, r.stderr))
    stderr_lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    entries = []
    for i, (path, line) in enumerate(zip(spec["requests"], lines)):
        code, size, exitcode, url, msg = (line.split(" ", 4) + [""])[:5]
        if not url.endswith(path):
            raise Fail("curl result order: %s vs %s" % (url, path))
        e = {"request": "GET %s" % path, "curl_exit": int(exitcode), "http_code": int(code),
             "size_download": int(size), "curl_error": msg.strip() or None,
             "curl_stderr": [s for s in stderr_lines if msg.strip() and msg.strip() in s][:1] or None,
             "start": round(t0, 6), "end": round(t1, 6)}
        bodyf = os.path.join(d, "body.%d" % (i + 1))
        if os.path.exists(bodyf):
            e["body_hex"] = open(bodyf, "rb").read()[:64].hex()
        entries.append(e)
        log("  GET %s -> curl exit %s, http_code %s%s" % (path, exitcode, code,
                                                          (" (%s)" % msg.strip()) if msg.strip() else ""))
    with open(os.path.join(d, "client.log"), "w") as f:
        for e in entries:
            f.write(json.dumps(e, sort_keys=True) + "\n")
    return entries


def run_s_client(d, spec, up_port, certs):
    """openssl s_client once per request, each its own connection: the first a full handshake
    that saves the session (-sess_out), the others resuming it with the request as TLS 1.3
    early data (-sess_in -early_data). All append to one key log (-keylogfile)."""
    keylog, sess = os.path.join(d, "capture.keylog"), os.path.join(d, "session.pem")
    entries = []
    for i, path in enumerate(spec["requests"]):
        req = os.path.join(d, "request.%d" % (i + 1))
        with open(req, "wb") as f:
            f.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, tls_scenarios.NAME)).encode())
        cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % up_port, "-servername", tls_scenarios.NAME,
               "-CAfile", os.path.join(certs, "root.pem"), "-verify_return_error", "-keylogfile", keylog, "-ign_eof"]
        if i == 0:
            cmd += ["-sess_out", sess]
            stdin = open(req, "rb")
        else:
            cmd += ["-sess_in", sess, "-early_data", req]
            stdin = subprocess.DEVNULL
        t0 = time.time()
        r = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        t1 = time.time()
        out = r.stdout.decode("latin-1")
        status = re.search(r"^HTTP/1\.[01] (\d{3}) ", out, re.M)
        body = re.search(r"\r\n\r\n(early=[^\n]*)", out)
        early = re.search(r"^Early data was (accepted|rejected)", out, re.M)
        e = {"request": "GET %s" % path, "client": "openssl s_client", "curl_exit": r.returncode,
             "http_code": int(status.group(1)) if status else 0, "size_download": len(body.group(1)) + 1 if body else 0,
             "curl_error": None, "curl_stderr": None, "start": round(t0, 6), "end": round(t1, 6),
             "body": body.group(1) if body else None, "early_data": early.group(1) if early else None,
             "resumed": bool(re.search(r"^Reused, TLSv1\.3", out, re.M))}
        if i > 0 and (e["early_data"] != "accepted" or not e["resumed"]):
            raise Fail("s_client %d: early data %s, resumed %s" % (i + 1, e["early_data"], e["resumed"]))
        entries.append(e)
        log("  GET %s -> s_client exit %d, status %s, early data %s" % (path, r.returncode, e["http_code"], e["early_data"]))
    with open(os.path.join(d, "client.log"), "w") as f:
        for e in entries:
            f.write(json.dumps(e, sort_keys=True) + "\n")
    return entries


# ------------------------------------------------------------------ main flow

def run(args):
    spec = tls_scenarios.BY_NAME[args.name]
    gw = args.gateway
    kind = tls_scenarios.GATEWAY_KIND[gw]
    tls = gw in ("nginx", "haproxy", "curl", "s_client", "apache")
    base = tls_scenarios.base_name(args.name, gw)
    os.makedirs(os.path.join(args.out, os.path.dirname(base)), exist_ok=True)   # captures/<gateway>/
    d = os.path.join(args.work, base)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    gw_port, up_port = args.base_port, args.base_port + 10
    certs = os.path.abspath(args.certs)
    log("%s (%s)" % (base, gw))
    for p in (gw_port, up_port):
        if listening(p):
            raise Fail("port %d is in use" % p)

    start_upstream(d, up_port, certs, spec)
    if kind == "nginx":
        start_nginx("gateway", d, nginx_gateway_conf(d, gw_port, up_port, certs, spec, tls), gw_port)
    elif kind == "haproxy":
        start_haproxy(d, gw_port, up_port, certs, spec, tls)
    elif kind in gwx.KINDS:
        check, cmd, sig = gwx.prepare(kind, d, gw_port, ["127.0.0.1:%d" % up_port], "5s",
                                      tls={"ca": os.path.join(certs, "root.pem")} if tls else None)
        r = subprocess.run(check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise Fail("%s: %s" % (" ".join(check), r.stdout))
        start("gateway", cmd, sig, stdout=open(os.path.join(d, kind + ".stdout"), "w"),
              stderr=open(os.path.join(d, kind + ".stderr"), "w"))
        wait_for(10, "%s listening on %d" % (kind, gw_port), lambda: listening(gw_port))

    pcap = os.path.join(d, "capture.pcap")
    terr = open(os.path.join(d, "tcpdump.stderr"), "w")
    start("tcpdump", ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-B", "32768", "-s", "0",
                      "--time-stamp-precision=micro", "-w", pcap,
                      "tcp and net 127.0.0.0/8 and port %d" % up_port], signal.SIGINT, stderr=terr)
    wait_for(10, "tcpdump", lambda: "listening on" in open(os.path.join(d, "tcpdump.stderr")).read())

    log_mark = gwx.mark(d) if kind in gwx.KINDS else None
    if gw == "s_client":
        run_s_client(d, spec, up_port, certs)
    else:
        run_curl(d, spec, gw, gw_port, up_port, certs)

    if kind in gwx.KINDS:
        time.sleep(0.3)   # a line logged just after the client's answer
        gwx.cut(d, log_mark, os.path.join(d, "logs/error.run.log"))
    stop_named("gateway")
    time.sleep(1.5)
    stop_named("tcpdump")
    terr.close()
    stop_named("upstream")
    t = open(os.path.join(d, "tcpdump.stderr")).read()
    if "\n0 packets dropped by kernel" not in "\n" + t:
        raise Fail("tcpdump reports kernel drops: %s" % t)
    cleanup()

    out = args.out
    shutil.copy(pcap, os.path.join(out, base + ".pcap"))
    with open(os.path.join(out, base + ".upstream.log"), "w") as f:
        f.write(upstream_log_text(d, spec).replace(certs + "/", ""))
    shutil.copy(os.path.join(d, "client.log"), os.path.join(out, base + ".client.log"))
    cmd = [PY, os.path.join(HERE, "tls-truth.py"), "--name", base, "--scenario", args.name,
           "--gateway-kind", gw, "--gateway", version_of(kind), "--pcap", os.path.join(out, base + ".pcap"),
           "--capture", os.path.basename(base) + ".pcap", "--certs", certs, "--up-port", str(up_port),
           "--client-log", os.path.join(out, base + ".client.log"),
           "--upstream-log", os.path.join(out, base + ".upstream.log"),
           "--out", os.path.join(out, base + ".truth.json")]
    if spec.get("keylog"):
        if not os.path.exists(os.path.join(d, "capture.keylog")):
            raise Fail("no key log was written")
        shutil.copy(os.path.join(d, "capture.keylog"), os.path.join(out, base + ".keylog"))
        cmd += ["--keylog", os.path.join(out, base + ".keylog")]
    if kind == "nginx":
        shutil.copy(os.path.join(d, "logs/error.log"), os.path.join(out, base + ".nginx-error.log"))
        shutil.copy(os.path.join(d, "logs/access.log"), os.path.join(out, base + ".access.log"))
        cmd += ["--error-log", os.path.join(out, base + ".nginx-error.log"),
                "--access-log", os.path.join(out, base + ".access.log")]
    elif kind == "haproxy":
        shutil.copy(os.path.join(d, "logs/haproxy.log"), os.path.join(out, base + ".log"))
        cmd += ["--haproxy-log", os.path.join(out, base + ".log")]
    elif kind in gwx.KINDS:
        shutil.copy(os.path.join(d, "logs/error.run.log"), os.path.join(out, base + ".error.log"))
        shutil.copy(os.path.join(d, "logs/access.log"), os.path.join(out, base + ".access.log"))
        cmd += ["--error-log", os.path.join(out, base + ".error.log"),
                "--access-log", os.path.join(out, base + ".access.log")]
    if subprocess.run(cmd).returncode != 0:
        raise Fail("tls-truth.py failed for %s" % base)
    if subprocess.run([PY, os.path.join(HERE, "check-capture.py"), "--dir", os.path.dirname(os.path.join(out, base)),
                       "--truth", os.path.join(out, base + ".truth.json")]).returncode != 0:
        raise Fail("check-capture.py failed for %s" % base)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--gateway", required=True, choices=sorted(tls_scenarios.GATEWAY_KIND))
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--certs", required=True, help="the directory tls-certs.sh wrote")
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("EDGESCOPE_CAPTURE_BASE_PORT", "18080")))
    args = ap.parse_args()
    if args.name not in tls_scenarios.BY_NAME:
        sys.exit("tls-run.py: unknown TLS scenario %s" % args.name)
    if args.gateway not in tls_scenarios.BY_NAME[args.name]["gateways"]:
        sys.exit("tls-run.py: %s is not run with %s" % (args.name, args.gateway))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run(args)
    except Fail as exc:
        log("%s/%s failed: %s" % (args.name, args.gateway, exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
