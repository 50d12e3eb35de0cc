#!/usr/bin/env python3
"""Scripted TLS (or TLS-looking) upstream for edgescope's TLS sample captures (stdlib only).

One process listens on one address:port and behaves as chosen by --mode:

  healthy            TLS server (Python ssl = OpenSSL 3), keep-alive HTTP/1.1: every request
                     gets a valid 200; path contains "chunked" -> a chunked body in one
                     send(), otherwise Content-Length. Until the peer closes.
  bad-chunked        TLS server: reads one request, sends a chunked head, 30 ms later (its own
                     TLS record) `zz\\r\\nhello\\r\\n0\\r\\n\\r\\n` (`zz` is no hex chunk size),
                     then waits for the peer to close.
  close-after-hello  plain TCP: reads exactly the first TLS record (the ClientHello), then
                     close(): FIN, not one byte sent. (A server that drops the handshake.)
  hang-after-hello   plain TCP: reads exactly the first TLS record (the ClientHello), then sends
                     nothing and keeps the socket open until the peer closes (then close()).
                     (A server that stalls the handshake: the gateway's timer decides.)
  alert-to-plain     plain TCP: reads one plain HTTP request head, writes the 7 bytes
                     `15 03 03 00 02 02 46` (a fatal TLS 1.2 protocol_version alert record),
                     then close(). SCRIPTED: OpenSSL 3 itself sends no alert to plain bytes
                     (it resets, see proto-plain-to-tls-port); some other TLS stacks do.

TLS options: --cert (leaf + chain, PEM, in sending order), --key, --max-version/--min-version
(1.2 | 1.3), --ciphers (TLS 1.2 cipher list; Python cannot restrict TLS 1.3 suites, the client
does that), --keylog FILE (the server's own NSS key log, optional).

Log (--log, appended, one line per accepted connection, the format of upstream.py):

  <iso time> accepted=<epoch.micro> conn=<n> peer=<addr:port> server=<addr:port>
      mode=<mode> requests=<n> did="<what it did>" end="<how it ended>"

--ready-file is created once the socket listens (no probe connection ever shows up in a capture).
"""

import argparse
import datetime
import os
import signal
import socket
import ssl
import sys
import threading
import time

MAX_HEAD = 64 * 1024
SNI = threading.local()   # the server_name the current thread's handshake received
ALERT_PROTOCOL_VERSION = bytes.fromhex("15030300020246")


def quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ep(sockaddr):
    return "%s:%d" % (sockaddr[0], sockaddr[1])


def read_head(conn, buf):
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            raise ValueError("request head too large")
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def request_line(head):
    return head.split(b"\r\n", 1)[0].decode("latin-1")


def recv_exact(conn, n):
    out = b""
    while len(out) < n:
        data = conn.recv(n - len(out))
        if not data:
            break
        out += data
    return out


def wait_eof(conn, did):
    conn.settimeout(30)
    extra = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return "peer closed (EOF); closed"
            extra += data
    except (ConnectionResetError, ssl.SSLError) as exc:
        return "peer ended the connection: %s" % exc
    except socket.timeout:
        return "no EOF from the peer in 30 s; closed"
    finally:
        if extra:
            did.append("unexpected %d bytes: %s" % (len(extra), extra[:80].decode("latin-1")))


def serve(conn, args, ctx):
    """Returns (requests, did list, end)."""
    did = []
    mode = args.mode
    if mode in ("close-after-hello", "hang-after-hello"):
        hdr = recv_exact(conn, 5)
        if len(hdr) < 5:
            return 0, did, "peer closed before a TLS record header"
        body = recv_exact(conn, int.from_bytes(hdr[3:5], "big"))
        kind = {0x16: "handshake"}.get(hdr[0], "type 0x%02x" % hdr[0])
        hs = "ClientHello" if kind == "handshake" and body[:1] == b"\x01" else "handshake type %r" % body[:1]
        did.append("read one %s record of %d bytes (%s); sent nothing" % (kind, 5 + len(body), hs))
        if mode == "hang-after-hello":
            t0 = time.time()
            end = wait_eof(conn, did)
            did.append("held the connection open %.3f s without answering" % (time.time() - t0))
            conn.close()
            return 0, did, end
        conn.close()
        return 0, did, "closed normally (FIN) after the ClientHello"
    if mode == "alert-to-plain":
        head, _ = read_head(conn, b"")
        if head is None:
            return 0, did, "peer closed (EOF) before a request; closed"
        did.append("read %s" % request_line(head))
        conn.sendall(ALERT_PROTOCOL_VERSION)
        did.append("sent 7 bytes 15 03 03 00 02 02 46 (fatal alert protocol_version)")
        time.sleep(0.03)
        conn.close()
        return 1, did, "closed normally (FIN)"

    tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
    try:
        tls.do_handshake()
    except (ssl.SSLError, OSError) as exc:
        did.append("TLS handshake failed: %s" % exc)
        tls.close()
        return 0, did, "closed after the failed handshake"
    did.append("TLS handshake done: %s %s sni=%s" % (tls.version(), tls.cipher()[0],
                                                     getattr(SNI, "name", None)))
    requests = 0
    buf = b""
    if mode == "bad-chunked":
        try:
            head, buf = read_head(tls, buf)
        except (ssl.SSLError, OSError) as exc:
            tls.close()
            return 0, did, "read failed: %s" % exc
        if head is None:
            tls.close()
            return 0, did, "peer closed (EOF) before a request; closed"
        requests = 1
        did.append("read %s" % request_line(head))
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        did.append("sent the chunked head")
        time.sleep(0.03)
        tls.sendall(b"zz\r\nhello\r\n0\r\n\r\n")
        did.append("sent zz\\r\\nhello\\r\\n0\\r\\n\\r\\n (16 bytes)")
        end = wait_eof(tls, did)
        tls.close()
        return requests, did, end
    # healthy
    while True:
        try:
            head, buf = read_head(tls, buf)
        except (ssl.SSLError, OSError) as exc:
            tls.close()
            return requests, did, "peer ended the connection: %s" % exc
        if head is None:
            tls.close()
            return requests, did, "peer closed (EOF); closed"
        requests += 1
        line = request_line(head)
        target = line.split(" ")[1] if " " in line else ""
        body = ("edgescope TLS sample response %d for %s\n" % (requests, target)).encode()
        if "chunked" in target:
            pieces = [body[i:i + 16] for i in range(0, len(body), 16)]
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n")
            did.append("%s -> 200 chunked (%d data chunks, %d body bytes)" % (line, len(pieces), len(body)))
        else:
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body))
            did.append("%s -> 200 content-length %d" % (line, len(body)))


def handle(conn, peer, server_ep, args, ctx, n, log, active):
    accepted = time.time()
    requests, did, end = 0, [], ""
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        requests, did, end = serve(conn, args, ctx)
    except Exception as exc:  # keep the log honest about anything unexpected
        end = "error: %r" % (exc,)
        try:
            conn.close()
        except OSError:
            pass
    finally:
        stamp = datetime.datetime.fromtimestamp(accepted, datetime.timezone.utc)
        line = ("%s accepted=%.6f conn=%d peer=%s server=%s mode=%s requests=%d did=%s end=%s\n"
                % (stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), accepted, n, ep(peer), server_ep,
                   args.mode, requests, quote("; ".join(did) or "nothing"), quote(end)))
        with active["lock"]:
            log.write(line)
            log.flush()
            active["n"] -= 1


VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", required=True,
                    choices=["healthy", "bad-chunked", "close-after-hello", "hang-after-hello", "alert-to-plain"])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--min-version", choices=sorted(VERSIONS))
    ap.add_argument("--max-version", choices=sorted(VERSIONS))
    ap.add_argument("--ciphers")
    ap.add_argument("--keylog")
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    args = ap.parse_args()
    if args.host != "127.0.0.1":
        sys.exit("tls-upstream.py: loopback only")

    ctx = None
    if args.mode in ("healthy", "bad-chunked"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.min_version:
            ctx.minimum_version = VERSIONS[args.min_version]
        if args.max_version:
            ctx.maximum_version = VERSIONS[args.max_version]
        if args.ciphers:
            ctx.set_ciphers(args.ciphers)
        if args.keylog:
            ctx.keylog_filename = args.keylog

        def remember_sni(sslobj, name, context):
            SNI.name = name
            return None
        ctx.sni_callback = remember_sni

    log = open(args.log, "a")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(64)
    lsock.settimeout(0.1)
    server_ep = ep(lsock.getsockname())
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("%d %s\n" % (os.getpid(), server_ep))
    active = {"n": 0, "lock": threading.Lock()}
    threads = []
    n = 0
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
        n += 1
        with active["lock"]:
            active["n"] += 1
        t = threading.Thread(target=handle, daemon=True,
                             args=(conn, peer, server_ep, args, ctx, n, log, active))
        t.start()
        threads.append(t)
    lsock.close()
    deadline = time.time() + 3.0
    for t in threads:
        t.join(max(0.0, deadline - time.time()))
    with active["lock"]:
        left = active["n"]
    if left:
        sys.stderr.write("tls-upstream.py: %d connection(s) still open at exit\n" % left)
        sys.exit(3)


if __name__ == "__main__":
    main()
