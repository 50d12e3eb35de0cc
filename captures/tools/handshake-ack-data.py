#!/usr/bin/env python3
"""Captures whose first client bytes ride on the ACK that completes the three-way handshake
(issue 15 item 8), written into captures/no-gateway/ with their truth files.

Linux holds back the handshake's last ACK and sends it with the first data when the connecting
socket has TCP_DEFER_ACCEPT set (tcp_rcv_synsent_state_process), as other stacks do on their
own. The client here is Python with that option; the upstream a small server in this script.
No packet is written by hand; one capture is derived from another by removing the SYN-ACK with
editcap (a capture that lost that packet), and its truth says so.

    sudo captures/tools/handshake-ack-data.py [PORT]      # default port 28600 (and 28601)

Ground truth: what the client received (client.log) and what the upstream did (upstream.log).
"""
import json
import signal
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture_run as run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "no-gateway")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 28600

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


class Upstream(threading.Thread):
    """Answers each connection in turn: `plan[i]` is what connection i gets ("ok" answers every
    request with 200 until the client closes; "reset" reads one request and resets)."""

    def __init__(self, port, plan, context=None):
        super().__init__(daemon=True)
        self.plan, self.context, self.lines = plan, context, []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()

    def log(self, text):
        self.lines.append("%.6f %s" % (time.time(), text))

    def run(self):
        for number, mode in enumerate(self.plan, 1):
            raw, peer = self.sock.accept()
            conn = self.context.wrap_socket(raw, server_side=True) if self.context else raw
            peer = "%s:%d" % peer
            if mode == "reset":
                line = read_request(conn)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                raw.close()
                self.log("conn=%d peer=%s read %r, then reset (SO_LINGER 0) with no response byte" % (number, peer, line))
                continue
            served = []
            while True:
                line = read_request(conn)
                if line is None:
                    break
                conn.sendall(RESPONSE)
                served.append(line)
            conn.close()
            self.log("conn=%d peer=%s answered %s with 200 (2 bytes), then closed after the client" % (number, peer, served))


def client(port, requests, context=None, keep_open=False):
    """Connects with TCP_DEFER_ACCEPT (its first bytes go on the handshake's ACK), sends each
    request in turn and reads each answer; returns (local address, [(request, outcome)])."""
    raw = socket.socket()
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
    raw.connect(("127.0.0.1", port))
    local = "%s:%d" % raw.getsockname()
    conn = context.wrap_socket(raw, server_hostname="upstream.test") if context else raw
    outcomes = []
    for target in requests:
        request = "GET %s HTTP/1.1\r\nHost: upstream.test\r\n\r\n" % target
        conn.sendall(request.encode())
        try:
            answer = conn.recv(4096)
            outcome = answer.split(b"\r\n", 1)[0].decode() if answer else "connection closed, no byte"
        except ConnectionResetError:
            outcome = "connection reset, no byte"
        outcomes.append(("GET " + target, outcome))
    conn.close()
    return local, outcomes


def capture(name, port, body):
    pcap = os.path.join(OUT, name + ".pcap")
    errors = tempfile.NamedTemporaryFile(mode="w+", suffix=".tcpdump.stderr")
    dump = run.start("tcpdump", ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "0",
                                 "--time-stamp-precision=micro", "-w", pcap, "tcp and port %d" % port],
                     signal.SIGINT, stderr=errors)
    run.wait_for(10, "tcpdump", lambda: "listening on" in open(errors.name).read())
    try:
        result = body()
    finally:
        time.sleep(1.0)
        run.stop(dump, signal.SIGINT)
    run.check_no_drops(errors.name)
    return pcap, result


def frames(pcap, display_filter, port=None):
    decode = ["-d", "tcp.port==%d,tls" % port] if port else []
    out = subprocess.run(["tshark", "-r", pcap] + decode + ["-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True).stdout.split()
    return [int(x) for x in out]


def write(name, truth, client_lines, upstream_lines):
    with open(os.path.join(OUT, name + ".truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT, name + ".client.log"), "w") as f:
        f.write("\n".join(client_lines) + "\n")
    with open(os.path.join(OUT, name + ".upstream.log"), "w") as f:
        f.write("\n".join(upstream_lines) + "\n")


def plain():
    name = "tcp-data-on-handshake-ack"
    upstream = Upstream(PORT, ["ok", "reset"])
    upstream.start()

    def body():
        first = client(PORT, ["/h/1", "/h/2"])
        second = client(PORT, ["/h/3"])
        return first, second
    pcap, (first, second) = capture(name, PORT, body)
    server = "127.0.0.1:%d" % PORT
    data_acks = frames(pcap, "tcp.dstport == %d && tcp.len > 0 && tcp.seq == 1 && tcp.ack == 1" % PORT)
    rst = frames(pcap, "tcp.srcport == %d && tcp.flags.reset == 1" % PORT)
    client_lines = ["%s %s -> %s" % (first[0], r, o) for r, o in first[1]] + ["%s %s -> %s" % (second[0], r, o) for r, o in second[1]]
    truth = {
        "capture": name + ".pcap",
        "gateway": "Python %d.%d client with TCP_DEFER_ACCEPT (no gateway)" % sys.version_info[:2],
        "link_type": "EN10MB",
        "scenario": name,
        "upstream_sends": "connection 1: two keep-alive requests, each answered 200; connection 2: one request read, then a reset with no response byte. On both the client's first request rides on the ACK that completes the handshake (frames %s)." % data_acks,
        "client_requests": [{"request": r, "outcome": o} for r, o in first[1] + second[1]],
        "expected_connections": [
            {"client": first[0], "server": server, "verdict": "none", "class": "ok",
             "source": "%s.client.log lines 1-2: 200 OK twice on one connection; %s.upstream.log line 1" % (name, name),
             "request_frame": data_acks[0]},
            {"client": second[0], "server": server, "verdict": "tcp.rst.before_response", "class": "502",
             "source": "%s.client.log line 3: %s; %s.upstream.log line 2: reset after reading the request" % (name, second[1][0][1], name),
             "evidence_frame": rst[0], "request_frame": data_acks[1]},
        ],
    }
    write(name, truth, client_lines, upstream.lines)
    run.log("%s: handshake ACKs with data %s, RST %s" % (name, data_acks, rst))


def tls(workdir):
    name = "tls-data-on-handshake-ack-keylog"
    key, cert = os.path.join(workdir, "key.pem"), os.path.join(workdir, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=upstream.test",
                    "-addext", "subjectAltName=DNS:upstream.test"], check=True, capture_output=True)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    keylog = os.path.join(OUT, name + ".keylog")
    if os.path.exists(keylog):
        os.remove(keylog)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    client_context.keylog_filename = keylog
    port = PORT + 1
    upstream = Upstream(port, ["ok"], context=server_context)
    upstream.start()
    pcap, (local, outcomes) = capture(name, port, lambda: client(port, ["/t/1"], context=client_context))
    hello = frames(pcap, "tls.handshake.type == 1", port)
    data_acks = frames(pcap, "tcp.dstport == %d && tcp.len > 0 && tcp.seq == 1 && tcp.ack == 1" % port)
    assert hello == data_acks, (hello, data_acks)
    request = frames(pcap, "tcp.dstport == %d && tls.app_data" % port, port)
    server_hello = frames(pcap, "tls.handshake.type == 2", port)
    client_lines = ["%s %s -> %s" % (local, r, o) for r, o in outcomes]
    expected = {"client": local, "server": "127.0.0.1:%d" % port, "verdict": "none", "class": "ok",
                "source": "%s.client.log line 1: %s; %s.upstream.log line 1" % (name, outcomes[0][1], name),
                "client_hello_frame": hello[0], "server_hello_frame": server_hello[0], "request_frame": request[-1]}
    truth = {
        "capture": name + ".pcap",
        "gateway": "Python %d.%d client with TCP_DEFER_ACCEPT (no gateway)" % sys.version_info[:2],
        "link_type": "EN10MB",
        "scenario": name,
        "upstream_sends": "a TLS 1.3 server (Python ssl, a throwaway self-signed certificate) answering GET /t/1 with 200; the client's ClientHello rides on the ACK that completes the handshake (frame %d); the client writes the key log" % hello[0],
        "client_requests": [{"request": r, "outcome": o} for r, o in outcomes],
        "tls": {"keylog": "no-gateway/" + name + ".keylog", "keylog_written_by": "client"},
        "expected_connections": [expected],
    }
    write(name, truth, client_lines, upstream.lines)
    run.log("%s: ClientHello on the handshake ACK, frame %s" % (name, hello))

    # The same capture without its SYN-ACK: a capture that lost that packet. The connection
    # still carried data both ways, so it was established.
    lost = "tls-data-on-handshake-ack-no-synack-keylog"
    synack = frames(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 1")
    out = os.path.join(OUT, lost + ".pcap")
    subprocess.run(["editcap", "-F", "pcap", pcap, out, str(synack[0])], check=True, capture_output=True)
    with open(os.path.join(OUT, lost + ".keylog"), "w") as f:
        f.write(open(keylog).read())
    derived = dict(truth)
    derived["capture"] = lost + ".pcap"
    derived["scenario"] = lost
    derived["derived_from"] = "%s.pcap with frame %d (the SYN-ACK) removed by `editcap -F pcap IN OUT %d`" % (name, synack[0], synack[0])
    derived["tls"] = {"keylog": "no-gateway/" + lost + ".keylog", "keylog_written_by": "client"}
    moved = dict(expected)
    moved["client_hello_frame"] = hello[0] - 1 if hello[0] > synack[0] else hello[0]
    moved["request_frame"] = request[-1] - 1
    moved["server_hello_frame"] = server_hello[0] - 1
    moved["source"] = expected["source"] + " (the client got its 200: the handshake completed though the capture lacks the SYN-ACK)"
    derived["expected_connections"] = [moved]
    write(lost, derived, client_lines, upstream.lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    try:
        plain()
        with tempfile.TemporaryDirectory() as workdir:
            tls(workdir)
    finally:
        run.cleanup()


if __name__ == "__main__":
    main()
