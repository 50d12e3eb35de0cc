#!/usr/bin/env python3
"""Keep-alive client for the HAProxy keep-alive race (stdlib only).

  race-client.py --port GW --path1 P1 --path2 P2 --gap-ms N --log FILE

Sends GET P1 on one client connection, reads the whole response (Content-Length), waits
until N ms after that response ended, then sends GET P2 on the SAME connection (HAProxy
with the default `http-reuse safe` only reuses an idle server connection for a later
request of the same client session, so curl's one-connection-per-run is no use here),
and reads until the response is complete, the connection closes, or 8 s pass.
Appends one JSON line per request to FILE, like run-scenario.py's client log.
"""

import argparse
import json
import re
import socket
import time


def read_response(s, deadline):
    buf = b""
    while True:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except ConnectionResetError:
            return buf, "reset"
        if not data:
            return buf, "closed"
        buf += data
        if b"\r\n\r\n" in buf:
            head, body = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                return buf, "complete"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path1", required=True)
    ap.add_argument("--path2", required=True)
    ap.add_argument("--gap-ms", type=float, required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    s = socket.create_connection(("127.0.0.1", args.port))
    out = []
    for i, path in enumerate((args.path1, args.path2)):
        if i == 1:
            time.sleep(max(0.0, out[0]["end"] + args.gap_ms / 1000.0 - time.time()))
        t0 = time.time()
        try:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path.encode(), args.port))
            data, how = read_response(s, t0 + 8)
        except OSError as exc:
            data, how = b"", "send failed: %s" % exc
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        out.append({"request": "GET %s" % path, "http_code": int(m.group(1)) if m else 0,
                    "size_download": len(data), "ended": how,
                    "curl_exit": 0 if how == "complete" else 52 if not data else 18,
                    "curl_stderr": "race-client.py (not curl): response %s after %d bytes" % (how, len(data)),
                    "start": round(t0, 6), "end": round(time.time(), 6)})
        if how != "complete":
            break
    s.close()
    with open(args.log, "a") as f:
        for e in out:
            f.write(json.dumps(e, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
