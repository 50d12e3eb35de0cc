#!/usr/bin/env python3
"""Connection attempts answered by the kernel's own ICMP errors (issue 20 part 2): a firewall's
REJECT (icmp port-unreachable, icmp admin-prohibited) and a host unreachable, in front of nginx
1.22 and HAProxy 2.6.

Two network namespaces joined by a veth pair: the gateway in one (10.203.0.1), the upstream host in
the other (10.203.0.2) with an nftables input chain that rejects the upstream port with one ICMP
type. Nothing listens there: without the rule the kernel would answer with a TCP RST. tcpdump runs
on the gateway's side of the veth (TCP and ICMP).

    sudo captures/tools/icmp-run.py          # needs nft (Debian's nftables)

Writes nginx/tcp-connect-icmp-<type>.pcap and haproxy/tcp-connect-icmp-<type>.haproxy.pcap with
the gateway's log, curl's outcome and a truth each. Ground truth: the gateway's own log (nginx
error.log's errno, HAProxy's termination state), the rule the scenario installed, and tshark's
decode of the ICMP message. Never edgescope.
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
CAPTURES = os.path.dirname(HERE)
GW, UP = "10.203.0.1", "10.203.0.2"
PORT = 9300

# (name, nft reject clause, the code the scenario means, what tshark must call the ICMP message)
SCENARIOS = [
    ("port-unreachable", "reject with icmp type port-unreachable", "tcp.connect.prohibited", "Port unreachable"),
    ("admin-prohibited", "reject with icmp type admin-prohibited", "tcp.connect.prohibited", "Communication administratively filtered"),
    ("host-unreachable", "reject with icmp type host-unreachable", "tcp.connect.unreachable", "Host unreachable"),
]

NGINX = """daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{ access_log {d}/access.log; client_body_temp_path {d}/tmp/b; proxy_temp_path {d}/tmp/p; fastcgi_temp_path {d}/tmp/f;
  uwsgi_temp_path {d}/tmp/u; scgi_temp_path {d}/tmp/s; proxy_connect_timeout 2s;
  server {{ listen 127.0.0.1:8080; location / {{ proxy_pass http://{up}:{port}; }} }} }}
"""

HAPROXY = """global
    log stdout format raw local0
    pidfile {d}/haproxy.pid
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    server s1 {up}:{port}
"""


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True)


def tshark(pcap, display_filter, *fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields"]
                         + [x for f in fields for x in ("-e", f)], capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def one(name, rule, code, icmp_name, gateway):
    tag = "%d" % os.getpid()
    ns_gw, ns_up = "es-icg-" + tag, "es-icu-" + tag
    work = tempfile.mkdtemp(prefix="edgescope-icmp-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "tmp"))
    base = "nginx/tcp-connect-icmp-%s" % name if gateway == "nginx" else "haproxy/tcp-connect-icmp-%s.haproxy" % name
    out = os.path.join(CAPTURES, base)
    pcap = out + ".pcap"
    try:
        for ns in (ns_gw, ns_up):
            sh("ip", "netns", "add", ns)
            run.NAMESPACES.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "esicg" + tag[-4:], "type", "veth", "peer", "name", "esicu" + tag[-4:])
        sh("ip", "link", "set", "esicg" + tag[-4:], "netns", ns_gw)
        sh("ip", "link", "set", "esicu" + tag[-4:], "netns", ns_up)
        sh("ip", "-n", ns_gw, "addr", "add", GW + "/24", "dev", "esicg" + tag[-4:])
        sh("ip", "-n", ns_up, "addr", "add", UP + "/24", "dev", "esicu" + tag[-4:])
        sh("ip", "-n", ns_gw, "link", "set", "esicg" + tag[-4:], "up")
        sh("ip", "-n", ns_up, "link", "set", "esicu" + tag[-4:], "up")
        for command in (["add", "table", "inet", "es"], ["add", "chain", "inet", "es", "input", "{ type filter hook input priority 0; }"],
                        ["add", "rule", "inet", "es", "input", "tcp", "dport", str(PORT)] + rule.split()):
            sh("ip", "netns", "exec", ns_up, "nft", *command)
        if gateway == "nginx":
            conf = os.path.join(work, "nginx.conf")
            open(conf, "w").write(NGINX.format(d=work, up=UP, port=PORT))
            run.start("gateway", ["nginx", "-p", work + "/", "-c", conf, "-e", os.path.join(work, "error.log")], signal.SIGQUIT, ns=ns_gw)
            log_file = os.path.join(work, "error.log")
        else:
            conf = os.path.join(work, "haproxy.cfg")
            open(conf, "w").write(HAPROXY.format(d=work, up=UP, port=PORT))
            log_file = os.path.join(work, "haproxy.log")
            run.start("gateway", ["haproxy", "-db", "-f", conf], signal.SIGUSR1, ns=ns_gw, stdout=open(log_file, "w"))
        run.wait_for(10, "the gateway", lambda: run.listening(8080, ns_gw))
        errors = tempfile.NamedTemporaryFile(mode="w+", suffix=".tcpdump")
        run.start("tcpdump", ["tcpdump", "-i", "esicg" + tag[-4:], "-n", "-U", "--immediate-mode", "-s", "0",
                              "--time-stamp-precision=micro", "-w", pcap, "tcp or icmp"], signal.SIGINT, ns=ns_gw, stderr=errors)
        run.wait_for(10, "tcpdump", lambda: "listening on" in open(errors.name).read())
        path = "/icmp/%s" % name
        r = subprocess.run(run.ns_prefix(ns_gw) + ["curl", "--noproxy", "*", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                                   "http://127.0.0.1:8080" + path], capture_output=True, text=True)
        time.sleep(0.5)
        run.stop_capture(errors.name)
    finally:
        run.cleanup()
    lines = [l for l in open(log_file).read().splitlines() if ("connect() failed" in l or " fe be/" in l)]
    if len(lines) != 1:
        raise run.Fail("%s: expected one log line about the connect, got %s" % (base, lines))
    with open(out + (".error.log" if gateway == "nginx" else ".log"), "w") as f:
        f.write(lines[0] + "\n")
    with open(out + ".client.log", "w") as f:
        f.write(json.dumps({"request": "GET " + path, "http_code": int(r.stdout or 0), "curl_exit": r.returncode}) + "\n")
    syn = tshark(pcap, "!icmp && tcp.flags.syn == 1 && tcp.flags.ack == 0", "frame.number", "tcp.srcport")
    icmp = tshark(pcap, "icmp.type == 3", "frame.number", "_ws.col.Info")
    # HAProxy's socket may send its SYN again after the first ICMP (same port: one connection).
    if not syn or len({port for _, port in syn}) != 1 or not icmp or any(icmp_name not in i[1] for i in icmp):
        raise run.Fail("%s: expected one SYN and one ICMP %s, got %s / %s" % (base, icmp_name, syn, icmp))
    errno = lines[0].split("connect() failed (")[1].split(")")[0] if gateway == "nginx" else None
    version = ("nginx " + subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.split("nginx/")[1].split()[0]
               if gateway == "nginx" else
               "HAProxy " + subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("version ")[1].split()[0])
    truth = {
        "capture": os.path.basename(pcap),
        "gateway": version,
        "link_type": "EN10MB",
        "scenario": "tcp-connect-icmp-" + name,
        "upstream_sends": "nothing listens on %s:%d; its host's nftables input chain has `tcp dport %d %s`" % (UP, PORT, PORT, rule),
        "client_requests": [{"request": "GET " + path, "status": int(r.stdout or 0)}],
        "gateway_errors": lines,
        "nginx_errors": lines if gateway == "nginx" else [],
        "icmp": [{"frame": int(f), "tshark": info} for f, info in icmp],
        "syn_frames": [int(f) for f, _ in syn],
        "expected_connections": [{
            "client": "%s:%s" % (GW, syn[0][1]), "server": "%s:%d" % (UP, PORT), "verdict": code, "finding": code,
            "class": "502" if gateway == "nginx" else "503", "client_status": int(r.stdout or 0),
            "evidence_frame": int(icmp[0][0]), "errno": errno,
            "gateway_log": lines[0], "source": "%s; the scenario's rule: %s; tshark: frame %s %s" % (lines[0], rule, icmp[0][0], icmp[0][1]),
        }],
    }
    with open(out + ".truth.json", "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    run.log("%s: %s; %s" % (base, lines[0][:120], icmp[0][1]))


def main():
    for name, rule, code, icmp_name in SCENARIOS:
        for gateway in ("nginx", "haproxy"):
            one(name, rule, code, icmp_name, gateway)


if __name__ == "__main__":
    try:
        main()
    except run.Fail as exc:
        run.log("failed: %s" % exc)
        sys.exit(1)
