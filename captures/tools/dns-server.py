#!/usr/bin/env python3
"""A scripted DNS server for the DNS captures (issue 20 part 1), on UDP and TCP port 53 of one
loopback address. PyPI's dnslib parses each query and builds each answer; which answer a name
gets is decided here, by the first label of the name:

  ok.internal       A 127.0.0.1 (TTL 30), AAAA: no data (NOERROR, empty answer section)
  nx.internal       NXDOMAIN, both types
  fail.internal     SERVFAIL, both types
  refused.internal  REFUSED, both types
  silent.internal   no answer at all (the resolver times out)
  big.internal      over UDP: TC=1 and an empty answer section (the resolver retries over TCP);
                    over TCP: A 127.0.0.1 (TTL 30)
  drift.internal    A 127.0.0.1 until --drift-after seconds after the first query for it, then
                    A --drift-to (where nothing listens)

    dns-server.py --host 127.0.0.35 --log FILE [--drift-after 2.0] [--drift-to 127.0.0.9]

Log (--log, one line per message received): `<epoch.micro> <udp|tcp> <peer> id=<id> <qname>
<qtype> -> <rcode> [tc] answers=<addresses>`, or `-> dropped` for silent names.
"""
import argparse
import signal
import socket
import struct
import sys
import threading
import time

from dnslib import AAAA, A, DNSRecord, QTYPE, RCODE, RR

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=53)
ap.add_argument("--log", required=True)
ap.add_argument("--drift-after", type=float, default=2.0)
ap.add_argument("--drift-to", default="127.0.0.9")
ap.add_argument("--ready-file")
args = ap.parse_args()
if not args.host.startswith("127."):
    sys.exit("dns-server.py: loopback only")

LOG = open(args.log, "a", buffering=1)
LOCK = threading.Lock()
FIRST_DRIFT_QUERY = []


def answer(query, over_tcp):
    """The reply to one parsed query, or None to stay silent."""
    q = query.q
    name = str(q.qname).rstrip(".")
    label = name.split(".")[0]
    reply = query.reply()
    qtype = QTYPE[q.qtype]
    if label == "silent":
        return None
    if label == "nx":
        reply.header.rcode = RCODE.NXDOMAIN
    elif label == "fail":
        reply.header.rcode = RCODE.SERVFAIL
    elif label == "refused":
        reply.header.rcode = RCODE.REFUSED
    elif label == "big" and not over_tcp:
        reply.header.tc = 1
    elif qtype == "A" and label in ("ok", "big", "drift"):
        address = "127.0.0.1"
        if label == "drift":
            with LOCK:
                if not FIRST_DRIFT_QUERY:
                    FIRST_DRIFT_QUERY.append(time.time())
                if time.time() - FIRST_DRIFT_QUERY[0] >= args.drift_after:
                    address = args.drift_to
        reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(address), ttl=30))
    elif qtype == "AAAA" and label in ("ok", "big", "drift"):
        pass  # no data
    else:
        reply.header.rcode = RCODE.NXDOMAIN
    return reply


def log(transport, peer, query, reply):
    q = query.q
    if reply is None:
        outcome = "dropped"
    else:
        outcome = RCODE[reply.header.rcode] + (" tc" if reply.header.tc else "")
        outcome += " answers=" + ",".join(str(rr.rdata) for rr in reply.rr)
    LOG.write("%.6f %s %s:%d id=%d %s %s -> %s\n" % (time.time(), transport, peer[0], peer[1], query.header.id,
                                                      str(q.qname).rstrip("."), QTYPE[q.qtype], outcome))


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            query = DNSRecord.parse(data)
        except Exception:
            continue
        reply = answer(query, over_tcp=False)
        log("udp", peer, query, reply)
        if reply is not None:
            sock.sendto(reply.pack(), peer)


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def serve_tcp_conn(conn, peer):
    with conn:
        while True:
            head = read_exact(conn, 2)
            if head is None:
                return
            data = read_exact(conn, struct.unpack("!H", head)[0])
            if data is None:
                return
            query = DNSRecord.parse(data)
            reply = answer(query, over_tcp=True)
            log("tcp", peer, query, reply)
            if reply is not None:
                packed = reply.pack()
                conn.sendall(struct.pack("!H", len(packed)) + packed)


def serve_tcp(sock):
    while True:
        conn, peer = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, peer), daemon=True).start()


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((args.host, args.port))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((args.host, args.port))
tcp.listen(16)
threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
if args.ready_file:
    open(args.ready_file, "w").write("ready\n")
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
