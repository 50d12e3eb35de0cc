#!/usr/bin/env python3
"""Frame-scripted HTTP/2 upstream for the captures in captures/http2/ (issue 18).

Needs PyPI `hyperframe` and `hpack` (pip install h2 hyperframe hpack grpcio: the set the
http2 capture scripts use). One process listens on one address:port, plain (h2c with prior
knowledge) or TLS (--cert/--key, --alpn h2 or no ALPN at all, --keylog: the server's own NSS
key log from Python's ssl module, which is how the TLS captures are decrypted: nginx and
HAProxy cannot write one).

Each accepted connection reads the client preface and the client's frames; the reply to each
request is the scenario's list of steps (h2_scenarios.py): frames built with hyperframe where
hyperframe can build them, and by hand (the 9-byte frame header + payload) where the fault is
one hyperframe refuses (SETTINGS on a stream, a frame longer than the peer allows). Header
blocks are written as HPACK literals without indexing (new name, no Huffman) so every header
name and value is readable in the capture, except where a scenario writes its own bytes (a bad
index). Requests are decoded with hpack's Decoder.

Modes: h2 (default), h1 (an HTTP/1.1 server: reads the preface as a request line and answers
`HTTP/1.1 400 Bad Request`, as a plain HTTP/1 server does).

Log (--log, appended, one line per connection when it is finished):

  <iso time> accepted=<epoch.micro> conn=<n> peer=<addr:port> server=<addr:port> mode=<mode>
      scenario=<name> tls=<version or -> alpn=<selected or -> streams=<n> did="<step; step...>"
      end="<how it ended>"

Every frame the upstream sends is in `did` with its type, stream, flags and the offset of its
first byte in the upstream -> gateway byte stream (the decrypted stream for TLS): `sent
RST_STREAM stream=1 error=7 (REFUSED_STREAM) @offset=9+...`.
"""

import argparse
import datetime
import os
import shlex
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_scenarios  # noqa: E402

from hpack import Decoder  # noqa: E402
from hyperframe.frame import Frame  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE",
         6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}


def quote(v):
    v = str(v)
    return v if v and all(c.isalnum() or c in "-_.:/[]=+" for c in v) else '"' + v.replace('"', "'") + '"'


def ep(sa):
    return ("[%s]:%d" if ":" in sa[0] else "%s:%d") % (sa[0], sa[1])


class Conn:
    def __init__(self, sock, scn, n):
        self.sock, self.scn, self.n = sock, scn, n
        self.buf = b""
        self.did = []
        self.sent = 0          # bytes sent so far on this connection (offset of the next byte)
        self.streams = 0
        self.dec = Decoder()
        self.closed = False

    def note(self, s):
        self.did.append(s)

    def recv_some(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def recv_exact(self, n):
        while len(self.buf) < n:
            self.recv_some()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data, what):
        self.note("sent %s @offset=%d+%d" % (what, self.sent, len(data)))
        self.sock.sendall(data)
        self.sent += len(data)

    def read_frame(self):
        head = self.recv_exact(9)
        length = int.from_bytes(head[:3], "big")
        ftype, flags = head[3], head[4]
        sid = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        payload = self.recv_exact(length)
        return ftype, flags, sid, payload


def run_steps(c, steps, sid):
    for st in steps:
        kind = st[0]
        if kind == "send":
            c.send(st[1], st[2].format(sid=sid))
        elif kind == "sleep":
            time.sleep(st[1])
            c.note("slept %d ms" % int(st[1] * 1000))
        elif kind == "close":
            # FIN first, then read until the peer closes: a close() with unread bytes in the
            # receive buffer (a SETTINGS ACK, a WINDOW_UPDATE) would make the kernel send RST.
            c.sock.shutdown(socket.SHUT_WR)
            c.note("sent FIN (shutdown)")
            c.sock.settimeout(5)
            try:
                while c.sock.recv(65536):
                    pass
                c.note("peer closed (EOF)")
            except (OSError, socket.timeout) as e:
                c.note("peer: %s" % e.__class__.__name__)
            c.closed = True
            return
        elif kind == "reset":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.note("closed with RST")
            c.closed = True
            return
        else:
            raise ValueError(kind)


def serve_h1(c):
    """An HTTP/1.1 server: reads request heads; the HTTP/2 preface reads as the request line `PRI *
    HTTP/2.0` (a head ending in an empty line), which gets 400 and a close; any other request gets
    a 200 (keep-alive)."""
    while True:
        while b"\r\n\r\n" not in c.buf:
            c.recv_some()
        head, c.buf = c.buf.split(b"\r\n\r\n", 1)
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        if line == "PRI * HTTP/2.0":
            c.note("read the preface as an HTTP/1.1 request line (PRI * HTTP/2.0)")
            body = b"Bad Request\n"
            resp = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n" % len(body)) + body
            c.send(resp, "HTTP/1.1 400 Bad Request (%d bytes)" % len(resp))
            c.note("closed (FIN)")
            return
        c.streams += 1
        c.note("read %s" % line)
        body = b"hello from the HTTP/1.1 upstream\n"
        resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        c.send(resp, "HTTP/1.1 200 OK (%d bytes)" % len(resp))


def serve_h2(c):
    scn = c.scn
    got = c.recv_exact(len(PREFACE))
    if got != PREFACE:
        c.note("bad preface %r" % got)
        return
    c.note("read the client preface")
    for st in scn.get("on_connect", [("send", h2_scenarios.settings(), "SETTINGS stream=0 (empty)")]):
        run_steps(c, [st], 0)
        if c.closed:
            return
    pending = None   # (sid, flags, block) while CONTINUATION frames are due
    while not c.closed:
        ftype, flags, sid, payload = c.read_frame()
        name = TYPES.get(ftype, "type%d" % ftype)
        if ftype == 4:
            if flags & 1:
                c.note("recv SETTINGS ACK")
            else:
                fr = Frame.parse_frame_header(memoryview(struct.pack(">I", len(payload))[1:] + bytes([4, flags]) + sid.to_bytes(4, "big")))[0]
                fr.parse_body(memoryview(payload))
                c.note("recv SETTINGS %s" % ",".join("%d=%d" % kv for kv in sorted(fr.settings.items())))
                if scn.get("ack_settings", True):
                    c.send(h2_scenarios.settings(ack=True), "SETTINGS ACK stream=0")
        elif ftype == 6:
            if not flags & 1:
                c.send(h2_scenarios.frame(6, 1, 0, payload), "PING ACK stream=0")
        elif ftype in (1, 9):
            if ftype == 1:
                block = payload
                if flags & 0x8:   # PADDED
                    pad = block[0]
                    block = block[1:len(block) - pad]
                if flags & 0x20:  # PRIORITY
                    block = block[5:]
                pending = (sid, flags, block)
            else:
                pending = (pending[0], pending[1], pending[2] + payload)
            if flags & 0x4:   # END_HEADERS on this frame
                sid0, fl, block = pending
                pending = None
                hdrs = c.dec.decode(block, raw=False)
                hd = dict(hdrs)
                c.streams += 1
                c.note("recv HEADERS stream=%d %s %s%s" % (sid0, hd.get(":method"), hd.get(":path"),
                                                          " END_STREAM" if fl & 1 else ""))
                steps = h2_scenarios.respond(scn, sid0, c.streams, hd)
                run_steps(c, steps, sid0)
        elif ftype == 0:
            c.note("recv DATA stream=%d %d bytes%s" % (sid, len(payload), " END_STREAM" if flags & 1 else ""))
        elif ftype == 3:
            c.note("recv RST_STREAM stream=%d error=%d" % (sid, int.from_bytes(payload[:4], "big")))
        elif ftype == 7:
            c.note("recv GOAWAY last_stream=%d error=%d" % (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                                                          int.from_bytes(payload[4:8], "big")))
        elif ftype == 8:
            pass   # WINDOW_UPDATE: not logged (nginx and HAProxy send them freely)
        else:
            c.note("recv %s stream=%d" % (name, sid))


def handle(sock, peer, server, args, ctx, n, lock):
    accepted = time.time()
    scn = h2_scenarios.SCENARIOS[args.scenario]
    tlsv = alpn = "-"
    c = Conn(sock, scn, n)
    end = "closed"
    try:
        if ctx is not None:
            sock = ctx.wrap_socket(sock, server_side=True)
            c.sock = sock
            tlsv = sock.version() or "-"
            alpn = sock.selected_alpn_protocol() or "-"
            c.note("TLS handshake done (%s, ALPN %s)" % (tlsv, alpn))
        if args.mode == "h1" or scn.get("mode") == "h1":
            serve_h1(c)
        else:
            serve_h2(c)
    except EOFError:
        end = "peer closed (EOF); closed"
    except (ConnectionResetError, BrokenPipeError) as e:
        end = "peer reset (%s)" % e.__class__.__name__
    except ssl.SSLError as e:
        end = "TLS error: %s" % e
    except Exception as e:  # noqa: BLE001 - the log must say what happened
        end = "error: %r" % e
    finally:
        try:
            sock.close()
        except OSError:
            pass
    if c.closed:
        end = c.did[-1]
    line = "%s accepted=%.6f conn=%d peer=%s server=%s mode=%s scenario=%s tls=%s alpn=%s streams=%d did=%s end=%s\n" % (
        datetime.datetime.fromtimestamp(accepted, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        accepted, n, peer, server, "h1" if scn.get("mode") == "h1" else "h2", args.scenario, tlsv, alpn,
        c.streams, quote("; ".join(c.did)), quote(end))
    with lock:
        with open(args.log, "a") as f:
            f.write(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--mode", default="h2", choices=["h2", "h1"])
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--alpn", default="h2", help="comma list, or 'none' to select no protocol")
    ap.add_argument("--keylog")
    args = ap.parse_args()
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.alpn != "none":
            ctx.set_alpn_protocols(args.alpn.split(","))
        if args.keylog:
            ctx.keylog_filename = args.keylog
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.listen, args.port))
    s.listen(64)
    server = ep(s.getsockname())
    if args.ready_file:
        open(args.ready_file, "w").close()
    lock = threading.Lock()
    n = 0
    while True:
        conn, addr = s.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n += 1
        threading.Thread(target=handle, args=(conn, ep(addr), server, args, ctx, n, lock), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
