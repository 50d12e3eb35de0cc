#!/usr/bin/env python3
"""Scripted HTTP/1.1 upstream for edgescope's sample captures (stdlib only).

One process listens on one address:port and behaves as chosen by --mode:

  healthy  keep-alive HTTP/1.1 server. Every request gets a valid 200, except
           a path containing "/own-5NN/" (e.g. /own-503/): a well-formed 5NN
           of its own, Content-Length framed (the application behind a healthy
           server failing; used by pool-mixed-5xx).
           Framing is chosen by the request path:
             path contains "chunked" -> Transfer-Encoding: chunked, several
                                        chunks, each written by its own send()
             otherwise               -> Content-Length
           Path contains "slow"     -> wait --slow-ms before answering (used to
                                        make the gateway open a second
                                        keep-alive connection).
           The connection stays open until the peer closes it.
  rst      read one request head, then close with SO_LINGER {1, 0}: the kernel
           sends RST and not one response byte.
  fin      read one request head, then close() normally: FIN, no response byte.
  script   run the byte-exact steps of one scenario from scenarios.py
           (--scenario NAME): raw socket writes, no HTTP library. Each accepted
           connection runs the steps once; see scenarios.py for the step kinds.

Healthy-mode options: --idle-close-ms N closes a keep-alive connection that has
been idle N ms after its last response (a server keep-alive timeout: used for the
keep-alive race); --compact sends a chunked response in one send() unless the
path contains "split".

Log (--log, appended, one line per accepted connection, written when that
connection is finished):

  <iso time> accepted=<epoch.micro> conn=<n> peer=<addr:port> server=<addr:port>
      mode=<mode> requests=<n> did="<what it did>" end="<how it ended>"

`peer` is the gateway's client-side endpoint of the upstream connection,
`server` is this listener. IPv6 endpoints are written as [addr]:port.
Values with spaces are double-quoted (shlex-compatible).

Script mode adds scenario=<name> to the line, and `did` lists, in order, every
request it read ("read <request line>") and what it then did.

--ready-file is created once the socket listens, so the driver never has to
probe the port with a connection of its own (which would show up in the
capture and in this log).
"""

import argparse
import datetime
import os
import signal
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402  (the table of scripted misbehaviours)

MAX_HEAD = 64 * 1024


def fmt_endpoint(sockaddr, family):
    host, port = sockaddr[0], sockaddr[1]
    if family == socket.AF_INET6:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Logger:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.lock = threading.Lock()

    def line(self, text):
        with self.lock:
            os.write(self.fd, (text + "\n").encode("utf-8"))


def read_head(conn, buf):
    """Read until the end of a request head. Returns (head, rest) or (None, buf) on EOF."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            raise ValueError("request head too large")
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    parts = request_line.split(" ")
    method = parts[0] if parts else ""
    target = parts[1] if len(parts) > 1 else ""
    return request_line, method, target, headers


def body_for(target, n):
    return ("edgescope sample response %d for %s\n" % (n, target)).encode("ascii")


ANSWERS = {"n": 0, "lock": threading.Lock()}


def next_answer():
    """--turn-bad-after: this answer's number over every connection of the process (1-based)."""
    with ANSWERS["lock"]:
        ANSWERS["n"] += 1
        return ANSWERS["n"]


def serve_healthy(conn, args, conn_no):
    did = []
    buf = b""
    served = 0
    while True:
        try:
            if args.idle_close_ms and served and not buf:
                # Server-side keep-alive timeout, counted from the last response.
                conn.settimeout(args.idle_close_ms / 1000.0)
            head, buf = read_head(conn, buf)
            conn.settimeout(None)
        except socket.timeout:
            return served, did, "idle %d ms after the last response: closed (FIN)" % args.idle_close_ms
        except ConnectionResetError:
            return served, did, "peer reset the connection"
        if head is None:
            if buf:
                return served, did, "peer closed (EOF) mid-request; closed"
            return served, did, "peer closed (EOF); closed"
        request_line, method, target, headers = parse_head(head)
        # Consume a request body framed by Content-Length (the samples use GET).
        length = int(headers.get("content-length", "0") or "0")
        while len(buf) < length:
            data = conn.recv(65536)
            if not data:
                return served, did, "peer closed (EOF) mid-body; closed"
            buf += data
        buf = buf[length:]
        served += 1
        if "slow" in target:
            time.sleep(args.slow_ms / 1000.0)
        body = body_for(target, served)
        own = re.search(r"/own-(5\d\d)/", target)
        if own:
            # The upstream's own, well-formed 5xx (a busy or broken application behind a
            # healthy server): the gateway relays it.
            status = int(own.group(1))
            reason = {500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
            conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (status, reason.encode("ascii"), len(body), body))
            did.append("%s -> %d content-length %d" % (request_line, status, len(body)))
        elif "chunked" in target and args.compact and "split" not in target:
            # The whole chunked message in one send() (keeps big captures small).
            pieces = [body[i:i + 16] for i in range(0, len(body), 16)]
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
                         + b"0\r\n\r\n")
            did.append("%s -> 200 chunked in one send (%d data chunks, %d body bytes)"
                       % (request_line, len(pieces), len(body)))
        elif "chunked" in target:
            # Several chunks, each in its own send() so they are separate segments.
            pieces = [body[i:i + 16] for i in range(0, len(body), 16)]
            conn.sendall(b"HTTP/1.1 200 OK\r\n"
                         b"Content-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n"
                         b"Connection: keep-alive\r\n\r\n")
            for piece in pieces:
                time.sleep(0.005)
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            time.sleep(0.005)
            conn.sendall(b"0\r\n\r\n")
            did.append("%s -> 200 chunked (%d data chunks, %d body bytes)"
                       % (request_line, len(pieces), len(body)))
        elif args.turn_bad_after is not None and next_answer() > args.turn_bad_after:
            # Past its first N answers (over all its connections) this member misspells a field
            # name: `Content Type` (a space, not a hyphen), the head otherwise as below.
            conn.sendall(b"HTTP/1.1 200 OK\r\n"
                         b"Content Type: text/plain\r\n"
                         b"Content-Length: %d\r\n"
                         b"Connection: keep-alive\r\n\r\n%s" % (len(body), body))
            did.append("%s -> 200 content-length %d with `Content Type`" % (request_line, len(body)))
        elif args.compact:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            did.append("%s -> 200 content-length %d" % (request_line, len(body)))
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\n"
                         b"Content-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n"
                         b"Connection: keep-alive\r\n\r\n%s" % (len(body), body))
            did.append("%s -> 200 content-length %d" % (request_line, len(body)))


def serve_script(conn, args):
    """Run the steps of one scenario on one connection. Returns (requests, did, end, conn)."""
    sc = scenarios.BY_NAME[args.scenario]
    did = []
    buf = b""
    requests = 0
    end = "steps done; closed"
    for step in sc["steps"]:
        kind = step[0]
        if kind == "read":
            try:
                head, buf = read_head(conn, buf)
            except ConnectionResetError:
                return requests, did, "peer reset before a request", conn
            if head is None:
                return requests, did, "peer closed (EOF) before a request; closed", conn
            requests += 1
            did.append("read %s" % parse_head(head)[0])
        elif kind == "send":
            try:
                conn.sendall(step[1])
            except OSError as exc:
                return requests, did, "send failed: %s" % exc, conn
            did.append("sent %d bytes" % len(step[1]))
        elif kind == "sleep":
            time.sleep(step[1] / 1000.0)
        elif kind == "close":
            conn.close()
            return requests, did, "closed normally (FIN)", conn
        elif kind == "rst":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return requests, did, "closed with SO_LINGER {1,0} (RST)", conn
        elif kind == "wait_eof":
            extra = 0
            conn.settimeout(60)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        end = "peer closed (EOF); closed"
                        break
                    extra += len(data)
                    buf += data
            except ConnectionResetError:
                end = "peer reset the connection"
            except socket.timeout:
                end = "no EOF from the peer in 60 s; closed"
            if extra:
                # A request the script did not expect: log its first line so the
                # truth builder can refuse to explain it away.
                did.append("unexpected %d bytes: %s" % (extra, buf[:80].decode("latin-1")))
            conn.close()
            return requests, did, end, conn
        elif kind == "tls_accept":
            # Wait until the whole plain request head is in the receive queue (peek,
            # so the TLS stack still sees every byte), then try a server handshake.
            deadline = time.time() + 5
            data = b""
            while b"\r\n\r\n" not in data and time.time() < deadline:
                data = conn.recv(65536, socket.MSG_PEEK)
                if not data:
                    break
                time.sleep(0.01)
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            requests += 1 if line else 0
            did.append("read %s (peeked; left for the TLS stack)" % line)
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
            tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
                did.append("TLS handshake succeeded?!")
            except (ssl.SSLError, OSError) as exc:
                did.append("TLS handshake failed: %s" % exc)
            tls.close()
            return requests, did, "closed after the failed handshake", tls
        else:
            raise ValueError("unknown step %r" % (kind,))
    conn.close()
    return requests, did, end, conn


def handle(conn, peer, family, server_ep, args, conn_no, logger, active):
    accepted = time.time()
    peer_ep = fmt_endpoint(peer, family)
    requests = 0
    did = ""
    end = ""
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.mode == "healthy":
            requests, did_list, end = serve_healthy(conn, args, conn_no)
            did = "; ".join(did_list) if did_list else "no request"
            conn.close()
        elif args.mode == "script":
            requests, did_list, end, conn = serve_script(conn, args)
            did = "; ".join(did_list) if did_list else "nothing"
        else:
            head, _ = read_head(conn, b"")
            if head is None:
                did = "no request"
                end = "peer closed (EOF) before a request; closed"
                conn.close()
            else:
                request_line = parse_head(head)[0]
                requests = 1
                if args.mode == "rst":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    conn.close()
                    did = "read %s, sent no response byte" % request_line
                    end = "closed with SO_LINGER {1,0} (RST)"
                else:
                    conn.close()
                    did = "read %s, sent no response byte" % request_line
                    end = "closed normally (FIN)"
    except Exception as exc:  # keep the log honest about anything unexpected
        end = "error: %r" % (exc,)
        try:
            conn.close()
        except OSError:
            pass
    finally:
        stamp = datetime.datetime.fromtimestamp(accepted, datetime.timezone.utc)
        mode = args.mode if args.mode != "script" else "script scenario=%s" % args.scenario
        logger.line("%s accepted=%.6f conn=%d peer=%s server=%s mode=%s requests=%d did=%s end=%s"
                    % (stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), accepted, conn_no, peer_ep,
                       server_ep, mode, requests, quote(did), quote(end)))
        with active["lock"]:
            active["n"] -= 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1 (loopback only)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=["healthy", "rst", "fin", "script"], required=True)
    ap.add_argument("--scenario", help="script mode: scenario name from scenarios.py")
    ap.add_argument("--tls-cert", help="script mode, tls_accept step: PEM certificate")
    ap.add_argument("--tls-key", help="script mode, tls_accept step: PEM key")
    ap.add_argument("--idle-close-ms", type=int, default=0,
                    help="healthy mode: close a keep-alive connection idle this long")
    ap.add_argument("--turn-bad-after", type=int,
                    help="healthy mode: after N answers, send `Content Type:` (a space in the field name)")
    ap.add_argument("--compact", action="store_true",
                    help="healthy mode: short heads, chunked bodies in one send()")
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    ap.add_argument("--slow-ms", type=int, default=300)
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    if args.host != "::1" and not args.host.startswith("127.") and not args.host.startswith("10.201."):
        # 10.201.0.0/16 only exists inside the network namespaces run-scenario.py creates.
        sys.exit("upstream.py: refusing to listen on a non-loopback address")
    if args.mode == "script" and args.scenario not in scenarios.BY_NAME:
        sys.exit("upstream.py: --mode script needs --scenario NAME from scenarios.py")

    logger = Logger(args.log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(64)
    lsock.settimeout(0.1)
    server_ep = fmt_endpoint(lsock.getsockname(), family)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("%d %s\n" % (os.getpid(), server_ep))

    active = {"n": 0, "lock": threading.Lock()}
    threads = []
    conn_no = 0
    while not stop.is_set():
        try:
            conn, peer = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            if stop.is_set():
                break
            raise
        conn.settimeout(None)
        conn_no += 1
        with active["lock"]:
            active["n"] += 1
        t = threading.Thread(target=handle, daemon=True,
                             args=(conn, peer, family, server_ep, args, conn_no, logger, active))
        t.start()
        threads.append(t)
    lsock.close()
    # Give open connections a moment to finish and log; then leave.
    deadline = time.time() + 3.0
    for t in threads:
        t.join(max(0.0, deadline - time.time()))
    with active["lock"]:
        left = active["n"]
    if left:
        sys.stderr.write("upstream.py: %d connection(s) still open at exit\n" % left)
        sys.exit(3)


if __name__ == "__main__":
    main()
