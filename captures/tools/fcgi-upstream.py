#!/usr/bin/env python3
"""A scripted FastCGI application server for the record-level faults php-fpm never makes (issue 17).

  fcgi-upstream.py --port N --scenario NAME --log FILE --ready-file FILE [--host 127.0.0.1]

Raw sockets and its own record writer (FastCGI 1.0: an 8-byte header of version, type, request id,
content length, padding length, reserved); no FastCGI library. One listener; every accepted
connection is served by the scenario below, in a thread of its own. It first reads the gateway's
request (FCGI_BEGIN_REQUEST, FCGI_PARAMS up to the empty one, FCGI_STDIN up to the empty one),
except in `http-server`, which reads whatever bytes come and answers them as an HTTP/1.1 server
would. Then it writes exactly the bytes of its scenario:

  healthy            STDOUT `Status: 200 OK` head + body, empty STDOUT, END_REQUEST (COMPLETE)
  bad-version        one STDOUT record whose header says version 2 (a full head and body), then
                     waits for the gateway to close
  truncated          a STDOUT record header announcing 100 content bytes, 20 of them
                     (`Content-Type: text/`), then FIN
  overloaded         FCGI_END_REQUEST, appStatus 0, protocolStatus FCGI_OVERLOADED (2), no STDOUT
  cant-mpx-conn      FCGI_END_REQUEST, protocolStatus FCGI_CANT_MPX_CONN (1), no STDOUT
  unknown-role       FCGI_END_REQUEST, protocolStatus FCGI_UNKNOWN_ROLE (3), no STDOUT
  end-before-stdout  FCGI_END_REQUEST, appStatus 0, protocolStatus FCGI_REQUEST_COMPLETE (0), no STDOUT
  fin-mid-body       STDOUT head + 1000 body bytes (whole records), then FIN: no empty STDOUT, no
                     FCGI_END_REQUEST
  no-end-request     STDOUT head + body, the empty STDOUT that ends the stream, then FIN with no
                     FCGI_END_REQUEST
  http-server        `HTTP/1.1 400 Bad Request` (Content-Length 0, Connection: close), then FIN: what an
                     HTTP/1.1 server answers the FastCGI bytes with

One log line per accepted connection: its time, `peer=` (the gateway's endpoint), `server=`,
`scenario=`, the request's REQUEST_URI and HTTP_X_REQUEST_ID from FCGI_PARAMS, what it did
(`did=`) and how the connection ended (`end=`).
"""

import argparse
import socket
import struct
import sys
import threading
import time

FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 1, 2, 3, 4, 5, 6, 7
COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE = 0, 1, 2, 3

HEAD = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
BODY = b"hello from the scripted FastCGI server\n"

LOCK = threading.Lock()


def record(rtype, rid, content=b"", version=1, padding=None):
    """One FastCGI record: header, content, padding to a multiple of 8 (as php-fpm does)."""
    pad = (-len(content)) % 8 if padding is None else padding
    return struct.pack(">BBHHBB", version, rtype, rid, len(content), pad, 0) + content + b"\0" * pad


def end_request(rid, app_status=0, protocol_status=COMPLETE):
    return record(FCGI_END_REQUEST, rid, struct.pack(">IB3x", app_status, protocol_status))


def parse_params(data):
    out, i = {}, 0

    def length():
        nonlocal i
        b = data[i]
        if b < 128:
            i += 1
            return b
        v = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return v
    while i < len(data):
        nl = length()
        vl = length()
        out[data[i:i + nl].decode("latin-1")] = data[i + nl:i + nl + vl].decode("latin-1")
        i += nl + vl
    return out


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def record(self):
        if not self.need(8):
            return None
        version, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", self.buf[:8])
        if not self.need(8 + clen + plen):
            return None
        content = self.buf[8:8 + clen]
        self.buf = self.buf[8 + clen + plen:]
        return version, rtype, rid, content


def read_request(reader):
    """The gateway's request: (request id, params, stdin bytes, flags) or None at EOF."""
    rid, params, stdin, flags = None, b"", b"", None
    params_done = stdin_done = False
    while not (params_done and stdin_done):
        r = reader.record()
        if r is None:
            return None
        version, rtype, rid_, content = r
        if rtype == FCGI_BEGIN_REQUEST:
            rid = rid_
            flags = content[2] if len(content) > 2 else 0
        elif rtype == FCGI_PARAMS:
            if content:
                params += content
            else:
                params_done = True
        elif rtype == FCGI_STDIN:
            if content:
                stdin += content
            else:
                stdin_done = True
    return rid, parse_params(params), stdin, flags


def wait_close(sock, secs=10.0):
    sock.settimeout(secs)
    try:
        while sock.recv(65536):
            pass
        return "peer closed (EOF)"
    except socket.timeout:
        return "no close within %.0f s" % secs
    except ConnectionResetError:
        return "peer reset"


def serve(sock, peer, server, scenario, logf):
    accepted = time.time()
    did, end, uri, xid = [], "", "-", "-"
    try:
        if scenario == "http-server":
            sock.settimeout(2.0)
            got = b""
            try:
                # The gateway's BEGIN_REQUEST, PARAMS and STDIN come in one or two segments.
                got = sock.recv(65536)
                time.sleep(0.05)
                sock.setblocking(False)
                try:
                    got += sock.recv(65536)
                except BlockingIOError:
                    pass
                sock.setblocking(True)
            except socket.timeout:
                pass
            did.append("read %d bytes (first 8: %s)" % (len(got), got[:8].hex()))
            reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            sock.sendall(reply)
            did.append("sent %d bytes `HTTP/1.1 400 Bad Request`" % len(reply))
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN)"
            return
        reader = Reader(sock)
        req = read_request(reader)
        if req is None:
            end = "peer closed before a whole request"
            return
        rid, params, stdin, flags = req
        uri, xid = params.get("REQUEST_URI", "-"), params.get("HTTP_X_REQUEST_ID", "-")
        did.append("read request id %d keep_conn=%d %s %s stdin=%d" % (rid, flags & 1, params.get("REQUEST_METHOD", "-"),
                                                                       uri, len(stdin)))
        if scenario == "healthy":
            out = record(FCGI_STDOUT, rid, HEAD + BODY) + record(FCGI_STDOUT, rid) + end_request(rid)
            sock.sendall(out)
            did.append("sent STDOUT %d bytes, empty STDOUT, END_REQUEST complete" % len(HEAD + BODY))
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN)"
        elif scenario == "bad-version":
            out = record(FCGI_STDOUT, rid, HEAD + BODY, version=2)
            sock.sendall(out)
            did.append("sent one STDOUT record with version 2 (%d content bytes)" % len(HEAD + BODY))
            end = wait_close(sock) + "; closed (FIN)"
        elif scenario == "truncated":
            content = b"Content-Type: text/"
            sock.sendall(struct.pack(">BBHHBB", 1, FCGI_STDOUT, rid, 100, 4, 0) + content)
            did.append("sent a STDOUT header announcing 100 content bytes and %d of them" % len(content))
            time.sleep(0.05)
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN) mid-record"
        elif scenario in ("overloaded", "cant-mpx-conn", "unknown-role", "end-before-stdout"):
            status = {"overloaded": OVERLOADED, "cant-mpx-conn": CANT_MPX_CONN, "unknown-role": UNKNOWN_ROLE,
                      "end-before-stdout": COMPLETE}[scenario]
            sock.sendall(end_request(rid, 0, status))
            did.append("sent END_REQUEST appStatus 0 protocolStatus %d, no STDOUT" % status)
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN)"
        elif scenario == "fin-mid-body":
            part = HEAD + b"0123456789" * 100
            sock.sendall(record(FCGI_STDOUT, rid, part))
            did.append("sent STDOUT %d bytes (head + 1000 body bytes) in whole records" % len(part))
            time.sleep(0.1)
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN) mid-body, without the empty STDOUT or END_REQUEST"
        elif scenario == "wrong-request-id":
            other = rid + 1
            out = record(FCGI_STDOUT, other, HEAD + BODY) + record(FCGI_STDOUT, other) + end_request(other)
            sock.sendall(out)
            did.append("sent the answer under request id %d (STDOUT %d bytes, empty STDOUT, END_REQUEST)" % (other, len(HEAD + BODY)))
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN)"
        elif scenario == "no-end-request":
            sock.sendall(record(FCGI_STDOUT, rid, HEAD + BODY) + record(FCGI_STDOUT, rid))
            did.append("sent STDOUT %d bytes, empty STDOUT, no END_REQUEST" % len(HEAD + BODY))
            time.sleep(0.05)
            sock.shutdown(socket.SHUT_WR)
            end = wait_close(sock) + "; closed (FIN) without END_REQUEST"
        else:
            end = "unknown scenario"
    except OSError as exc:
        end = "error: %s" % exc
    finally:
        try:
            sock.close()
        except OSError:
            pass
        line = ('%s accepted=%.6f peer=%s:%d server=%s:%d scenario=%s uri="%s" request_id=%s did="%s" end="%s"\n'
                % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(accepted)), accepted, peer[0], peer[1],
                   server[0], server[1], scenario, uri, xid, "; ".join(did), end))
        with LOCK:
            logf.write(line)
            logf.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(16)
    logf = open(args.log, "a")
    open(args.ready_file, "w").write("ready\n")
    while True:
        c, peer = ls.accept()
        threading.Thread(target=serve, args=(c, peer, c.getsockname(), args.scenario, logf), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
