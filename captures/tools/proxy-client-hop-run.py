#!/usr/bin/env python3
"""Both hops of HAProxy 2.6 with `send-proxy` (issue 20 part 3): the PROXY header's source names the
client connection each upstream request came from, where timing alone cannot.

Two client connections (Python sockets) send the same request (`GET /same`, no request id) to
HAProxy, all but its last byte, then 50 ms later both last bytes; HAProxy passes each on over its own connection with a PROXY v1 header. The
scripted upstream (Python, threads) reads the header and the request, waits until both requests are
in, then answers the first connection's head and two body bytes, the second connection's whole 503,
and 50 ms later the rest of the first: the second client's answer ends first, and both upstream
requests lie inside its time. By timing alone that error could be either upstream's (and would take
both, the other left unexplained). HAProxy relays each 503 to its client. tcpdump
records both hops on lo.

    sudo captures/tools/proxy-client-hop-run.py [BASE_PORT]     # default 27600

Writes haproxy/client-hop-proxy-concurrent.haproxy.pcap with HAProxy's log, the upstream's log
(each connection's peer port and the PROXY header's source), the clients' outcomes and a truth. Ground
truth: the upstream's log joins its peer (HAProxy's upstream connection) to the header's source,
which is a client's local port; HAProxy's log says 503 for each. Never edgescope.
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
BASE = int(sys.argv[1]) if len(sys.argv) > 1 else 27600
GW_PORT, UP_PORT = BASE, BASE + 1
NAME = "client-hop-proxy-concurrent"

HAPROXY_CONF = """global
    log stdout format raw local0
    pidfile {dir}/gateway.pid
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{gw}
    default_backend be
backend be
    server s1 127.0.0.1:{up} send-proxy
"""

UPSTREAM = r'''
import socket, sys, threading, time
log = open(sys.argv[2], "w")
waiting = {}
def answer_both():
    # Both requests are in. The first connection gets its head and part of its body, the second
    # its whole answer, then the first the rest 50 ms later: the gateway's first client sees its
    # answer begin first and end last.
    body = b"busy\n"
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    first, second = sorted(waiting)
    waiting[first][0].sendall(head + body[:2])
    waiting[second][0].sendall(head + body)
    time.sleep(0.05)
    waiting[first][0].sendall(body[2:])
    for n in (first, second):
        c, peer, line, request = waiting[n]
        log.write("%.6f conn=%d peer=%s:%d proxy=%r request=%r answered 503\n" % (time.time(), n, peer[0], peer[1], line.decode(), request.decode()))
    log.flush()
arrived = threading.Barrier(2, action=answer_both, timeout=10)
def serve(c, peer, n):
    data = b""
    while b"\r\n\r\n" not in data.partition(b"\r\n")[2]:
        chunk = c.recv(65536)
        if not chunk: break
        data += chunk
    line, _, rest = data.partition(b"\r\n")
    waiting[n] = (c, peer, line, rest.split(b"\r\n")[0])
    try:
        arrived.wait()
    except threading.BrokenBarrierError:
        pass
    time.sleep(0.2)
    c.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
n = 0
while True:
    c, peer = s.accept()
    n += 1
    threading.Thread(target=serve, args=(c, peer, n), daemon=True).start()
'''


def tshark(pcap, display_filter, *fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields"]
                         + [x for f in fields for x in ("-e", f)], capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def main():
    work = tempfile.mkdtemp(prefix="edgescope-ppch-")
    os.chmod(work, 0o755)
    base = os.path.join(CAPTURES, "haproxy", NAME + ".haproxy")
    pcap = base + ".pcap"
    upstream_log = os.path.join(work, "upstream.log")
    gateway_log = os.path.join(work, "haproxy.log")
    try:
        script = os.path.join(work, "upstream.py")
        open(script, "w").write(UPSTREAM)
        run.start("upstream", [sys.executable, script, str(UP_PORT), upstream_log], signal.SIGTERM)
        run.wait_for(10, "the upstream", lambda: run.listening(UP_PORT))
        conf = os.path.join(work, "haproxy.cfg")
        open(conf, "w").write(HAPROXY_CONF.format(dir=work, gw=GW_PORT, up=UP_PORT))
        run.start("gateway", ["haproxy", "-db", "-f", conf], signal.SIGUSR1, stdout=open(gateway_log, "w"))
        run.wait_for(10, "HAProxy", lambda: run.listening(GW_PORT))
        errors = tempfile.NamedTemporaryFile(mode="w+", suffix=".tcpdump")
        run.start("tcpdump", ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "0", "--time-stamp-precision=micro",
                              "-w", pcap, "tcp and (port %d or port %d)" % (GW_PORT, UP_PORT)], signal.SIGINT, stderr=errors)
        run.wait_for(10, "tcpdump", lambda: "listening on" in open(errors.name).read())
        # Both client connections open first, then both requests back to back: both reach
        # HAProxy before it has passed either on.
        import socket
        clients = [socket.create_connection(("127.0.0.1", GW_PORT)) for _ in range(2)]
        time.sleep(0.05)
        request = b"GET /same HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % GW_PORT
        # All but the last byte of each, then the last bytes: the requests begin before HAProxy
        # can pass either on.
        for c in clients:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(request[:-1])
        time.sleep(0.05)
        for c in clients:
            c.sendall(request[-1:])
        outcomes = []
        for c in clients:
            c.settimeout(10)
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk: break
                data += chunk
            local = "%s:%d" % c.getsockname()
            c.close()
            status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0
            outcomes.append({"request": "GET /same", "http_code": status, "bytes": len(data), "local": local})
        time.sleep(0.5)
        run.stop_capture(errors.name, then=("upstream",))
    finally:
        run.cleanup()
    up_lines = [l for l in open(upstream_log).read().splitlines() if l.strip()]
    gw_lines = [l for l in open(gateway_log).read().splitlines() if " fe be/s1 " in l]
    for suffix, lines in (("log", gw_lines), ("upstream.log", up_lines)):
        with open("%s.%s" % (base, suffix), "w") as f:
            f.write("".join(l + "\n" for l in lines))
    with open(base + ".client.log", "w") as f:
        for o in outcomes:
            f.write(json.dumps(o, sort_keys=True) + "\n")
    if [o["http_code"] for o in outcomes] != [503, 503] or len(up_lines) != 2 or len(gw_lines) != 2:
        raise run.Fail("expected two relayed 503s, got %s; upstream %s; HAProxy %s" % (outcomes, up_lines, gw_lines))
    # The scenario holds only when both client requests came before either upstream request.
    requests = tshark(pcap, "tcp.len > 0 && tcp.seq == 1 && (tcp.dstport == %d || tcp.dstport == %d)" % (GW_PORT, UP_PORT),
                      "frame.time_epoch", "tcp.dstport")
    client_times = [float(t) for t, port in requests if int(port) == GW_PORT]
    upstream_times = [float(t) for t, port in requests if int(port) == UP_PORT]
    if len(client_times) != 2 or len(upstream_times) != 2 or max(client_times) >= min(upstream_times):
        raise run.Fail("the client requests did not both come before the upstream ones: %s" % requests)
    # The upstream's log: its peer (HAProxy's side of the upstream connection) and the header's
    # source (`PROXY TCP4 src dst sport dport`), which is a client's local address and port.
    by_client = {}
    for line in up_lines:
        peer = line.split(" peer=")[1].split()[0]
        words = line.split(" proxy='")[1].split("'")[0].split()
        source = "%s:%s" % (words[2], words[4])
        by_client[source] = (peer, line)
    client_errors, client_conns, expected = [], [], []
    for o in outcomes:
        peer, up_line = by_client[o["local"]]
        said = [l for l in gw_lines if l.startswith(o["local"] + " ")]
        if len(said) != 1 or " 503 " not in said[0]:
            raise run.Fail("HAProxy's log has no 503 for %s: %s" % (o["local"], gw_lines))
        port = o["local"].split(":")[1]
        frame = tshark(pcap, "tcp.srcport == %d && tcp.dstport == %s && http.response.code == 503" % (GW_PORT, port), "frame.number")
        client_conns.append({"client": o["local"], "server": "127.0.0.1:%d" % GW_PORT, "request": "GET /same", "status": 503})
        client_errors.append({
            "client": o["local"], "status": 503, "failure": "error_status", "request": "GET /same", "request_id": None,
            "response_frame": int(frame[0][0]), "generated_by": "upstream",
            "upstream_connection": {"client": peer, "server": "127.0.0.1:%d" % UP_PORT},
            "earlier_upstream_connections": [], "cause": "http.upstream_5xx",
            "source": "HAProxy: %s; upstream: %s; client: %d bytes, status %d" % (said[0], up_line, o["bytes"], o["http_code"]),
        })
        expected.append({
            "client": peer, "server": "127.0.0.1:%d" % UP_PORT, "verdict": "http.upstream_5xx", "finding": "http.upstream_5xx",
            "class": "relayed", "client_status": 503, "gateway_log": said[0], "source": up_line,
        })
    version = "HAProxy " + subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split("version ")[1].split()[0]
    truth = {
        "capture": os.path.basename(pcap),
        "gateway": version,
        "link_type": "EN10MB",
        "scenario": NAME,
        "gateway_listen": "127.0.0.1:%d" % GW_PORT,
        "upstream_sends": "503 to both requests once both are in (a barrier): both upstream requests lie inside both client requests' times",
        "client_requests": [{"request": o["request"], "status": o["http_code"]} for o in outcomes],
        "gateway_errors": gw_lines,
        "nginx_errors": [],
        "upstream_log": up_lines,
        "client_hop_connections": client_conns,
        "client_errors": client_errors,
        "expected_connections": expected,
    }
    with open(base + ".truth.json", "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    run.log("%s: %s" % (NAME, "; ".join(up_lines)))


if __name__ == "__main__":
    try:
        main()
    except run.Fail as exc:
        run.log("failed: %s" % exc)
        sys.exit(1)
