#!/usr/bin/env python3
"""DNS captures (issue 20 part 1): nginx 1.22 resolving its upstream's name at request time
(`resolver 127.0.0.35 valid=1s; resolver_timeout 2s; proxy_pass http://$svc.internal:PORT`)
against a scripted DNS server (dns-server.py, PyPI dnslib) on 127.0.0.35:53, UDP and TCP.

    sudo captures/tools/dns-run.py [SCENARIO ...]      # pip install dnslib

One capture per scenario in captures/dns/, with both hops (client -> nginx, nginx -> upstream) and
the DNS traffic, taken on loopback by tcpdump (`port 53 or port 28580 or port 28581`):

  nginx-nxdomain   GET /ok/1 (resolves, 200), then GET /nx/1: NXDOMAIN -> 502
  nginx-servfail   the same with SERVFAIL
  nginx-refused    the same with REFUSED
  nginx-timeout    the same with no answer at all: 502 after resolver_timeout (2 s)
  nginx-truncated  GET /big/1: the UDP answer has TC set, nginx asks again over TCP and gets
                   the address there: 200
  nginx-drift      GET /drift/N every 0.2 s for 6 s; 2 s after the first query the server
                   answers 127.0.0.9 (nothing listens there) instead of 127.0.0.1

Each writes NAME.pcap, NAME.error.log, NAME.access.log, NAME.client.log, NAME.dns.log (what the
DNS server received and answered) and NAME.truth.json. The truth comes from nginx's error.log
and access.log, curl's results, the DNS server's log and tshark's decode of the capture; never
from edgescope.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture_run as run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "dns")
DNS_HOST = "127.0.0.35"
GW_PORT, UP_PORT = 28580, 28581
PY = sys.executable or "/usr/bin/python3"

NGINX = """daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  log_format edgescope '$msec $status "$upstream_addr" "$upstream_status" "$request" $remote_addr $remote_port "$http_x_request_id"';
  access_log {d}/access.log edgescope;
  client_body_temp_path {d}/tmp/b; proxy_temp_path {d}/tmp/p; fastcgi_temp_path {d}/tmp/f;
  uwsgi_temp_path {d}/tmp/u; scgi_temp_path {d}/tmp/s;
  resolver {dns} valid=1s;
  resolver_timeout 2s;
  proxy_connect_timeout 2s;
  proxy_next_upstream off;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server {{
    listen 127.0.0.1:{gw};
    location ~ ^/(?<svc>[a-z]+)/ {{ proxy_pass http://$svc.internal:{up}; }}
  }}
}}
"""

# name -> (requests as (path, delay before it), expected code, name that fails)
SCENARIOS = {
    "nginx-nxdomain": ([("/ok/1", 0), ("/nx/1", 0.3)], "dns.nxdomain", "nx.internal"),
    "nginx-servfail": ([("/ok/1", 0), ("/fail/1", 0.3)], "dns.servfail", "fail.internal"),
    "nginx-refused": ([("/ok/1", 0), ("/refused/1", 0.3)], "dns.refused", "refused.internal"),
    "nginx-timeout": ([("/ok/1", 0), ("/silent/1", 0.3)], "dns.timeout", "silent.internal"),
    "nginx-truncated": ([("/ok/1", 0), ("/big/1", 0.3)], None, "big.internal"),
    "nginx-drift": ([("/drift/%d" % i, 0.2) for i in range(1, 31)], "dns.drift", "drift.internal"),
}


def tshark(pcap, display_filter, *fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields", "-E", "separator=|"]
                         + [x for f in fields for x in ("-e", f)], capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def dns_messages(rows):
    """One entry per DNS message (a TCP segment may carry two: tshark lists their fields
    comma-separated); a frame's addresses go to its A messages."""
    out = []
    for f, _, r, q, ty, rc, addrs, tc, tp, i in rows:
        fields = [x.split(",") for x in (r, q, ty, rc, tc, i)]
        for resp, qname, qtype, rcode, trunc, ident in zip(*fields):
            out.append({"frame": int(f), "response": resp in ("True", "1"), "name": qname, "type": int(qtype) if qtype else None,
                        "rcode": int(rcode) if rcode else None,
                        "answers": [a for a in addrs.split(",") if a] if qtype == "1" else [],
                        "truncated": trunc in ("True", "1"), "over_tcp": bool(tp), "id": int(ident, 16) if ident.startswith("0x") else int(ident or 0)})
    return out


def one(name):
    requests, code, failing = SCENARIOS[name]
    work = tempfile.mkdtemp(prefix="edgescope-dns-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "tmp"))
    pcap = os.path.join(OUT, name + ".pcap")
    results = []
    try:
        run.start("upstream", [PY, os.path.join(HERE, "upstream.py"), "--port", str(UP_PORT), "--mode", "healthy",
                               "--log", os.path.join(work, "upstream.log")], signal.SIGTERM)
        run.start("dns", [PY, os.path.join(HERE, "dns-server.py"), "--host", DNS_HOST, "--log", os.path.join(work, "dns.log"),
                          "--ready-file", os.path.join(work, "dns.ready")], signal.SIGTERM)
        conf = os.path.join(work, "nginx.conf")
        open(conf, "w").write(NGINX.format(d=work, dns=DNS_HOST, gw=GW_PORT, up=UP_PORT))
        run.start("gateway", ["nginx", "-p", work + "/", "-c", conf, "-e", os.path.join(work, "error.log")], signal.SIGQUIT)
        run.wait_for(10, "the upstream", lambda: run.listening(UP_PORT))
        run.wait_for(10, "the gateway", lambda: run.listening(GW_PORT))
        run.wait_for(10, "the DNS server", lambda: os.path.exists(os.path.join(work, "dns.ready")))
        errors = tempfile.NamedTemporaryFile(mode="w+", suffix=".tcpdump")
        run.start("tcpdump", ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-B", "32768", "-s", "0", "--time-stamp-precision=micro",
                              "-w", pcap, "port 53 or port %d or port %d" % (GW_PORT, UP_PORT)], signal.SIGINT, stderr=errors)
        run.wait_for(10, "tcpdump", lambda: "listening on" in open(errors.name).read())
        for index, (path, delay) in enumerate(requests, 1):
            time.sleep(delay)
            rid = "es-dns-%d" % index
            r = subprocess.run(["curl", "--noproxy", "*", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Request-Id: " + rid,
                                "http://127.0.0.1:%d%s" % (GW_PORT, path)], capture_output=True, text=True)
            results.append({"request": "GET " + path, "status": int(r.stdout or 0), "curl_exit": r.returncode, "request_id": rid})
        time.sleep(0.5)
        run.stop_capture(errors.name, pause=0.5)
    finally:
        run.cleanup()
    base = os.path.join(OUT, name)
    error_lines = [l for l in open(os.path.join(work, "error.log")).read().splitlines() if "[error]" in l or "[warn]" in l]
    access_lines = open(os.path.join(work, "access.log")).read().splitlines()
    open(base + ".error.log", "w").write("".join(l + "\n" for l in error_lines))
    open(base + ".access.log", "w").write("".join(l + "\n" for l in access_lines))
    open(base + ".client.log", "w").write("".join(json.dumps(r) + "\n" for r in results))
    open(base + ".dns.log", "w").write(open(os.path.join(work, "dns.log")).read())
    return truth(name, pcap, results, error_lines, access_lines, code, failing)


def truth(name, pcap, results, error_lines, access_lines, code, failing):
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.split("nginx/")[1].split()[0]
    responses = tshark(pcap, "tcp.srcport == %d && http.response" % GW_PORT, "frame.number", "http.response.code", "tcp.dstport")
    dns = tshark(pcap, "dns", "frame.number", "frame.time_epoch", "dns.flags.response", "dns.qry.name", "dns.qry.type",
                 "dns.flags.rcode", "dns.a", "dns.flags.truncated", "tcp.srcport", "dns.id")
    t = {
        "capture": os.path.basename(pcap),
        "gateway": "nginx " + version,
        "link_type": "EN10MB",
        "scenario": name,
        "gateway_listen": "127.0.0.1:%d" % GW_PORT,
        "dns_server": DNS_HOST + ":53",
        "nginx_config": "resolver %s valid=1s; resolver_timeout 2s; proxy_pass http://$svc.internal:%d" % (DNS_HOST, UP_PORT),
        "client_requests": results,
        "nginx_errors": error_lines,
        "access_log": access_lines,
        "dns_messages": dns_messages(dns),
        "client_errors": [],
        "expected_findings": [],
    }
    # Each failed request: its 502 frame (the response frame to the client's port, in order),
    # nginx's log line naming the failing name, and the DNS frame nginx decided on.
    by_port = {}
    for frame, status, port in responses:
        by_port.setdefault(port, []).append((int(frame), int(status)))
    access_by_id = {l.split('"')[-2]: l for l in access_lines}
    for r in results:
        line = access_by_id.get(r["request_id"])
        if line is None:
            raise run.Fail("%s: no access log line for %s" % (name, r["request_id"]))
        port = line.split('"')[-3].split()[-1]
        frame, status = by_port[port][0]
        r["response_frame"] = frame
        r["client_port"] = int(port)
        r["upstream_addr"] = line.split('"')[1]
        if status != r["status"]:
            raise run.Fail("%s: tshark says %d for %s, curl %d" % (name, status, r["request"], r["status"]))
    if code in ("dns.nxdomain", "dns.servfail", "dns.refused", "dns.timeout"):
        failed = [r for r in results if r["status"] == 502]
        if len(failed) != 1:
            raise run.Fail("%s: expected one 502, got %s" % (name, results))
        err = failed[0]
        text = {"dns.nxdomain": "could not be resolved (3: Host not found)", "dns.servfail": "could not be resolved (2: Server failure)",
                "dns.refused": "could not be resolved (5: Operation refused)", "dns.timeout": "could not be resolved (110: Operation timed out)"}[code]
        logged = [l for l in error_lines if failing + " " + text in l]
        if len(logged) != 1:
            raise run.Fail("%s: expected nginx to log '%s %s', got %s" % (name, failing, text, error_lines))
        before = [m for m in t["dns_messages"] if m["name"] == failing and m["frame"] < err["response_frame"]]
        if code == "dns.timeout":
            evidence = [m for m in before if not m["response"]]
            if not evidence or any(m["response"] for m in before):
                raise run.Fail("%s: expected unanswered queries for %s, got %s" % (name, failing, before))
        else:
            rcode = {"dns.nxdomain": 3, "dns.servfail": 2, "dns.refused": 5}[code]
            evidence = [m for m in before if m["response"] and m["rcode"] == rcode]
            if not evidence:
                raise run.Fail("%s: expected an answer with rcode %d for %s, got %s" % (name, rcode, failing, before))
        t["client_errors"].append({
            "request": err["request"], "status": 502, "request_id": err["request_id"], "response_frame": err["response_frame"],
            "upstream_connection": None, "cause": code, "dns_frame": evidence[-1]["frame"], "dns_name": failing,
            "source": "error.log: " + logged[0]})
        t["expected_findings"].append({"code": code, "name": failing, "frame": evidence[-1]["frame"], "source": logged[0]})
    elif name == "nginx-truncated":
        tc = [m for m in t["dns_messages"] if m["name"] == failing and m["response"] and m["truncated"]]
        tcp = [m for m in t["dns_messages"] if m["name"] == failing and m["response"] and m["over_tcp"] and m["answers"]]
        if not tc or not tcp or any(r["status"] != 200 for r in results):
            raise run.Fail("%s: expected a TC answer, a TCP answer and two 200s: %s / %s / %s" % (name, tc, tcp, results))
        t["truncated_frame"] = tc[0]["frame"]
        t["tcp_answer_frame"] = tcp[0]["frame"]
    elif code == "dns.drift":
        new = [m for m in t["dns_messages"] if m["name"] == failing and m["response"] and "127.0.0.9" in m["answers"]]
        if not new:
            raise run.Fail("%s: the answers never changed" % name)
        refused = [l for l in error_lines if "connect() failed (111: Connection refused)" in l and "127.0.0.9" in l]
        to9 = [r for r in results if r["upstream_addr"].startswith("127.0.0.9")]
        failed9 = [r for r in to9 if r["status"] == 502]
        t["drift"] = {"name": failing, "address": "127.0.0.9", "appeared_frame": new[0]["frame"],
                      "connections_to_new_address": len(to9), "failed": len(failed9), "nginx_refused_lines": len(refused)}
        t["expected_findings"].append({"code": code, "name": failing, "frame": new[0]["frame"],
                                       "source": "access.log: %d requests sent to 127.0.0.9, %d got 502; error.log: %d connect() refused"
                                       % (len(to9), len(failed9), len(refused))})
        for r in failed9:
            t["client_errors"].append({"request": r["request"], "status": 502, "request_id": r["request_id"],
                                       "response_frame": r["response_frame"], "cause": "tcp.connect.refused",
                                       "upstream_server": "127.0.0.9:%d" % UP_PORT})
    with open(os.path.join(OUT, name + ".truth.json"), "w") as f:
        json.dump(t, f, indent=2)
        f.write("\n")
    run.log("%s: %s" % (name, [(r["request"], r["status"]) for r in results]))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in sys.argv[1:] or list(SCENARIOS):
        for attempt in range(3):
            try:
                one(name)
                break
            except run.Fail as failure:
                # A kernel drop on loopback now and then: the capture is made again.
                run.log("%s: %s; again" % (name, failure))
                time.sleep(1)
        else:
            raise run.Fail("%s failed three times" % name)


if __name__ == "__main__":
    main()
