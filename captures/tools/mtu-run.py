#!/usr/bin/env python3
"""Path-MTU black holes and the ICMP messages around them (issue 20 part 2), behind nginx 1.22.

Three network namespaces: the gateway (10.204.1.1), a router, and the upstream host (10.204.2.1),
joined by two veth pairs. One of the router's links has a lowered MTU (1000). The upstream's route
advertises MSS 1460 (`advmss`), so the gateway and the upstream both send 1500-byte packets, which
the router cannot forward: it answers with an ICMP fragmentation needed (type 3 code 4) that
nftables drops (at the router, so the gateway never sees it, or at the gateway's input, so the
capture has it and the kernel does not), and path-MTU discovery cannot work. Linux's own MTU
probing is off (net.ipv4.tcp_mtu_probing = 0, the default). A scripted upstream (a Python socket
server) answers each request once it has it whole. tcpdump runs on the gateway's side of its veth.

    sudo captures/tools/mtu-run.py [SCENARIO...]   # needs nft, ethtool and tshark (Debian packages)

Scenarios:
- request: the bottleneck is on the request path (router -> upstream link); curl POSTs 12000 bytes (less than
  the initial congestion window, so the whole request is sent at once),
  nginx sends them in full-size segments that never arrive; its small tail does, and the upstream
  acknowledges it out of order (SACK). ICMP dropped at the router.
- request-icmp-seen: the same, the ICMP dropped at the gateway's nftables input (the capture holds it).
- request-icmp-seen-v6: the same over IPv6 (the link at 1280, IPv6's minimum; the upstream's route
  advertises MSS 1440), the router's ICMPv6 packet too big dropped at the gateway's input.
- response: the bottleneck is on the response path (router -> gateway link); the upstream answers a
  GET with 12000 bytes; the gateway's capture holds only the response's small tail, which it
  acknowledges out of order. ICMP dropped at the router.
- adapts: the request path's bottleneck with the ICMP let through: the kernel lowers the path MTU,
  sends again in smaller segments, and the request succeeds.
- ttl: the router sets the TTL of the gateway's packets to the upstream to 1 (nftables prerouting),
  so it answers the SYN with an ICMP time exceeded; Linux fails the connect at once with
  EHOSTUNREACH, and nginx logs `connect() failed (113: No route to host)` and answers 502.

Writes nginx/<scenario>.pcap with nginx's error.log, curl's outcome, the upstream's log and a truth
each. Ground truth: nginx's own error.log, the scenario's rules, tshark's decode. Never edgescope.
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
GW, R_GW, R_UP, UP = "10.204.1.1", "10.204.1.2", "10.204.2.2", "10.204.2.1"
GW6, R_GW6, R_UP6, UP6 = "fd00:204:1::1", "fd00:204:1::2", "fd00:204:2::2", "fd00:204:2::1"
V4 = (GW, R_GW, R_UP, UP)
PORT = 9400
LOW_MTU = 1000

# name: (bottleneck link "request"/"response", where ICMP is dropped: "router"/"gateway"/None, method, expected)
SCENARIOS = {
    "tcp-mtu-blackhole-request": ("request", "router", "POST", "tcp.mtu_blackhole"),
    "tcp-mtu-blackhole-request-icmp-seen": ("request", "gateway", "POST", "tcp.mtu_blackhole"),
    # IPv6: the router's link at 1280 (IPv6's minimum), its ICMPv6 packet too big dropped at the gateway's input.
    "tcp-mtu-blackhole-request-icmp-seen-v6": ("request", "gateway", "POST", "tcp.mtu_blackhole"),
    "tcp-mtu-blackhole-response": ("response", "router", "GET", "tcp.mtu_blackhole"),
    "tcp-mtu-frag-needed-adapts": ("request", None, "POST", "ok"),
    "tcp-connect-icmp-time-exceeded": ("ttl", None, "GET", "tcp.connect.unreachable"),
}

NGINX = """daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{ access_log {d}/access.log; client_body_temp_path {d}/tmp/b; proxy_temp_path {d}/tmp/p; fastcgi_temp_path {d}/tmp/f;
  uwsgi_temp_path {d}/tmp/u; scgi_temp_path {d}/tmp/s; client_max_body_size 1m; client_body_buffer_size 64k;
  proxy_connect_timeout 3s; proxy_send_timeout 5s; proxy_read_timeout 5s;
  server {{ listen 127.0.0.1:8080; location / {{ proxy_pass http://{up}:{port}; proxy_http_version 1.1; }} }} }}
"""

UPSTREAM = r'''
import socket, sys, time
log = open(sys.argv[2], "w")
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], %d)); s.listen(8)
while True:
    c, peer = s.accept()
    c.settimeout(20)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk: break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length": length = int(value)
        while len(body) < length:
            chunk = c.recv(65536)
            if not chunk: break
            body += chunk
        log.write("%%.6f %%s request %%r body %%d of %%d\n" %% (time.time(), peer, head.split(b"\r\n")[0], len(body), length)); log.flush()
        if len(body) < length: c.close(); continue
        payload = b"x" * (12000 if head.startswith(b"GET") else 10)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %%d\r\nConnection: close\r\n\r\n" %% len(payload) + payload)
        log.write("%%.6f %%s answered %%d body bytes\n" %% (time.time(), peer, len(payload))); log.flush()
        time.sleep(0.2)
    except Exception as e:
        log.write("%%.6f %%s %%r\n" %% (time.time(), peer, e)); log.flush()
    c.close()
''' % PORT


def sh(ns, *cmd):
    run.sh((["ip", "netns", "exec", ns] if ns else []) + list(cmd))


def tshark(pcap, display_filter, *fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields"]
                         + [x for f in fields for x in ("-e", f)], capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def one(name, link, drop, method, expected):
    v6 = name.endswith("-v6")
    GW, R_GW, R_UP, UP = (GW6, R_GW6, R_UP6, UP6) if v6 else V4
    plen, ipf, low = (64, ["-6"], 1280) if v6 else (24, [], LOW_MTU)
    icmp_filter = "icmpv6.type == 2" if v6 else "icmp"
    not_icmp = "!icmpv6" if v6 else "!icmp"
    src_field = "ipv6.src" if v6 else "ip.src"
    bracket = (lambda a: "[%s]" % a) if v6 else (lambda a: a)
    tag = "%d" % os.getpid()
    ns_gw, ns_r, ns_up = "es-mg-" + tag, "es-mr-" + tag, "es-mu-" + tag
    a, b, c, d = ("esm%s%s" % (x, tag[-4:]) for x in "abcd")  # a(gw)-b(router), c(router)-d(up)
    work = tempfile.mkdtemp(prefix="edgescope-mtu-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "tmp"))
    out = os.path.join(CAPTURES, "nginx", name)
    pcap = out + ".pcap"
    rules = []
    try:
        for ns in (ns_gw, ns_r, ns_up):
            run.sh(["ip", "netns", "add", ns])
            run.NAMESPACES.append(ns)
            sh(ns, "ip", "link", "set", "lo", "up")
        run.sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        run.sh(["ip", "link", "add", c, "type", "veth", "peer", "name", d])
        for dev, ns in ((a, ns_gw), (b, ns_r), (c, ns_r), (d, ns_up)):
            run.sh(["ip", "link", "set", dev, "netns", ns])
        for ns, dev, addr in ((ns_gw, a, GW), (ns_r, b, R_GW), (ns_r, c, R_UP), (ns_up, d, UP)):
            sh(ns, "ip", *ipf, "addr", "add", "%s/%d" % (addr, plen), "dev", dev, *(["nodad"] if v6 else []))
            sh(ns, "ip", "link", "set", dev, "up")
            # No segmentation offload: the capture shows the segments as they go on the wire.
            sh(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")
        sh(ns_r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1" if v6 else "net.ipv4.ip_forward=1")
        for ns in (ns_gw, ns_up):
            sh(ns, "sysctl", "-qw", "net.ipv4.tcp_mtu_probing=0")
        sh(ns_gw, "ip", *ipf, "route", "add", "fd00:204:2::/64" if v6 else "10.204.2.0/24", "via", R_GW)
        # The upstream advertises MSS 1460 whatever the path: a clamp that does not know the bottleneck.
        sh(ns_up, "ip", *ipf, "route", "add", "fd00:204:1::/64" if v6 else "10.204.1.0/24", "via", R_UP, "advmss", "1440" if v6 else "1460")
        if link == "request":
            sh(ns_r, "ip", "link", "set", c, "mtu", str(low))
            rules.append("router %s mtu %d (towards the upstream)" % (c, low))
        elif link == "response":
            sh(ns_r, "ip", "link", "set", b, "mtu", str(LOW_MTU))
            rules.append("router %s mtu %d (towards the gateway)" % (b, LOW_MTU))
        if drop == "router":
            table = [["add", "table", "ip", "es"], ["add", "chain", "ip", "es", "out", "{ type filter hook output priority 0; }"],
                     ["add", "rule", "ip", "es", "out", "icmp", "type", "destination-unreachable", "drop"]]
            for command in table:
                sh(ns_r, "nft", *command)
            rules.append("router: nft output `icmp type destination-unreachable drop`")
        elif drop == "gateway" and v6:
            table = [["add", "table", "ip6", "es"], ["add", "chain", "ip6", "es", "in", "{ type filter hook input priority 0; }"],
                     ["add", "rule", "ip6", "es", "in", "icmpv6", "type", "packet-too-big", "drop"]]
            for command in table:
                sh(ns_gw, "nft", *command)
            rules.append("gateway: nft input `icmpv6 type packet-too-big drop`")
        elif drop == "gateway":
            table = [["add", "table", "ip", "es"], ["add", "chain", "ip", "es", "in", "{ type filter hook input priority 0; }"],
                     ["add", "rule", "ip", "es", "in", "icmp", "type", "destination-unreachable", "drop"]]
            for command in table:
                sh(ns_gw, "nft", *command)
            rules.append("gateway: nft input `icmp type destination-unreachable drop`")
        if link == "ttl":
            table = [["add", "table", "ip", "es"], ["add", "chain", "ip", "es", "pre", "{ type filter hook prerouting priority -300; }"],
                     ["add", "rule", "ip", "es", "pre", "ip", "daddr", UP, "tcp", "dport", str(PORT), "ip", "ttl", "set", "1"]]
            for command in table:
                sh(ns_r, "nft", *command)
            rules.append("router: nft prerouting `ip daddr %s tcp dport %d ip ttl set 1`" % (UP, PORT))
        upstream_log = os.path.join(work, "upstream.log")
        script = os.path.join(work, "upstream.py")
        open(script, "w").write(UPSTREAM)
        run.start("upstream", [sys.executable, script, UP, upstream_log], signal.SIGTERM, ns=ns_up)
        run.wait_for(10, "the upstream", lambda: run.listening(PORT, ns_up))
        conf = os.path.join(work, "nginx.conf")
        open(conf, "w").write(NGINX.format(d=work, up=bracket(UP), port=PORT))
        run.start("gateway", ["nginx", "-p", work + "/", "-c", conf, "-e", os.path.join(work, "error.log")], signal.SIGQUIT, ns=ns_gw)
        run.wait_for(10, "nginx", lambda: run.listening(8080, ns_gw))
        errors = tempfile.NamedTemporaryFile(mode="w+", suffix=".tcpdump")
        run.start("tcpdump", ["tcpdump", "-i", a, "-n", "-U", "--immediate-mode", "-s", "0",
                              "--time-stamp-precision=micro", "-w", pcap, "tcp or icmp6" if v6 else "tcp or icmp"], signal.SIGINT, ns=ns_gw, stderr=errors)
        run.wait_for(10, "tcpdump", lambda: "listening on" in open(errors.name).read())
        path = "/mtu/" + name
        curl = ["curl", "--noproxy", "*", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", "20"]
        if method == "POST":
            body = os.path.join(work, "body")
            open(body, "wb").write(b"b" * 12000)
            curl += ["-H", "Content-Type: application/octet-stream", "--data-binary", "@" + body]
        r = subprocess.run(run.ns_prefix(ns_gw) + curl + ["http://127.0.0.1:8080" + path], capture_output=True, text=True)
        time.sleep(0.5)
        run.stop_capture(errors.name, then=("upstream",))
    finally:
        run.cleanup()
    error_lines = [l for l in open(os.path.join(work, "error.log")).read().splitlines() if "upstream" in l]
    status = int(r.stdout or 0)
    timeout_line = [l for l in error_lines if "upstream timed out (110: Connection timed out)" in l]
    if expected == "ok":
        if status != 200 or error_lines:
            raise run.Fail("%s: expected 200 and no error, got %s %s" % (name, status, error_lines))
    elif expected == "tcp.mtu_blackhole":
        if status != 504 or len(timeout_line) != 1 or "while reading response header from upstream" not in timeout_line[0]:
            raise run.Fail("%s: expected 504 and a read timeout, got %s %s" % (name, status, error_lines))
    else:
        # Linux ends a connect on any ICMP error answering the SYN (tcp_v4_err): time exceeded is EHOSTUNREACH.
        timeout_line = [l for l in error_lines if "connect() failed (113: No route to host)" in l]
        if status != 502 or len(timeout_line) != 1:
            raise run.Fail("%s: expected 502 and a failed connect, got %s %s" % (name, status, error_lines))
    with open(out + ".error.log", "w") as f:
        f.write("".join(l + "\n" for l in error_lines))
    with open(out + ".client.log", "w") as f:
        f.write(json.dumps({"request": "%s %s" % (method, path), "http_code": status, "curl_exit": r.returncode}) + "\n")
    with open(out + ".upstream.log", "w") as f:
        f.write(open(upstream_log).read())
    prefix = "icmpv6" if v6 else "icmp"
    icmp = tshark(pcap, icmp_filter, "frame.number", prefix + ".type", prefix + ".code", prefix + ".mtu", "_ws.col.Info")
    syn = tshark(pcap, not_icmp + " && tcp.flags.syn == 1 && tcp.flags.ack == 0", "frame.number", "tcp.srcport")
    retrans = tshark(pcap, not_icmp + " && tcp.analysis.retransmission", "frame.number", "tcp.len", src_field)
    sack = tshark(pcap, not_icmp + " && tcp.options.sack_le", "frame.number", src_field)
    if not syn:
        raise run.Fail("%s: no SYN" % name)
    # The frame the verdict rests on, from tshark: the first full-size segment of the gateway's
    # sent again (request path), the small tail from the upstream after the hole tshark reports as
    # "previous segment not captured" (response path), the ICMP answering the SYN (time exceeded).
    evidence_frame = None
    if expected == "tcp.mtu_blackhole" and link == "request":
        longest = max(int(l) for _, l, s in retrans if s == GW)
        evidence_frame = min(int(f) for f, l, s in retrans if s == GW and int(l) == longest)
    elif expected == "tcp.mtu_blackhole":
        tail = tshark(pcap, "%s && %s == %s && tcp.len > 0 && tcp.analysis.lost_segment" % (not_icmp, src_field, UP), "frame.number", "tcp.len")
        if len(tail) != 1:
            raise run.Fail("%s: expected one upstream segment after a hole, got %s" % (name, tail))
        evidence_frame = int(tail[0][0])
    elif expected == "tcp.connect.unreachable":
        evidence_frame = int(icmp[0][0])
    version = "nginx " + subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.split("nginx/")[1].split()[0]
    truth = {
        "capture": os.path.basename(pcap),
        "gateway": version,
        "link_type": "EN10MB",
        "scenario": name,
        "network": "gateway %s -- router (%s | %s) -- upstream %s:%d; %s" % (GW, R_GW, R_UP, bracket(UP), PORT, "; ".join(rules) or "no rule"),
        "upstream_sends": "HTTP/1.1 200 once the request is whole (%s)" % ("12000 body bytes" if method == "GET" else "10 body bytes"),
        "client_requests": [{"request": "%s %s" % (method, path), "status": status}],
        "gateway_errors": error_lines,
        "nginx_errors": error_lines,
        "icmp": [{"frame": int(f), "type": int(t), "code": int(c), "mtu": int(m) if m else None, "tshark": info} for f, t, c, m, info in icmp],
        "syn_frames": [int(f) for f, _ in syn],
        "retransmissions": [{"frame": int(f), "length": int(l), "from": s} for f, l, s in retrans],
        "sack_frames": [{"frame": int(f), "from": s} for f, s in sack],
        "expected_connections": [{
            "client": "%s:%s" % (bracket(GW), syn[0][1]), "server": "%s:%d" % (bracket(UP), PORT), "verdict": "none" if expected == "ok" else expected,
            "evidence_frame": evidence_frame,
            "class": {"ok": "ok", "tcp.mtu_blackhole": "504", "tcp.connect.unreachable": "502"}[expected],
            "client_status": status, "gateway_log": timeout_line[0] if timeout_line else None,
            "source": "%s; %s" % (timeout_line[0] if timeout_line else "nginx logged no error and curl got %d" % status, "; ".join(rules)),
        }],
    }
    with open(out + ".truth.json", "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    run.log("%s: %d; %s; %d ICMP, %d retransmissions" % (name, status, (timeout_line or ["no error"])[0][:100], len(icmp), len(retrans)))


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    for name in names:
        one(name, *SCENARIOS[name])


if __name__ == "__main__":
    try:
        main()
    except run.Fail as exc:
        run.log("failed: %s" % exc)
        sys.exit(1)
