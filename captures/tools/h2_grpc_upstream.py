#!/usr/bin/env python3
"""A real gRPC server (PyPI grpcio) for the gRPC captures of captures/http2/ (issue 18).

Needs PyPI grpcio (pip install h2 hyperframe hpack grpcio). No .proto: the methods take and return
raw bytes (generic handlers), which is what is on the wire anyway.

  /es.Test/Unary        unary: answers b"pong: " + the request (grpc-status 0)
  /es.Test/Unavailable  unary: aborts with UNAVAILABLE "backend draining" (a trailers-only response)
  /es.Test/Stream       server streaming: 5 messages, then grpc-status 0 in the trailers

Log (--log, appended, one line per call when it ends):
  <iso time> peer=<addr:port> method=<path> request_bytes=<n> sent=<what> status=<grpc code name>
"""

import argparse
import datetime
import threading
import time
from concurrent import futures

import grpc

LOCK = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    args = ap.parse_args()

    def log(ctx, method, req, sent, status):
        peer = ctx.peer().replace("ipv4:", "")
        line = "%s peer=%s method=%s request_bytes=%d sent=\"%s\" status=%s\n" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), peer, method, len(req),
            sent, status)
        with LOCK:
            with open(args.log, "a") as f:
                f.write(line)

    def unary(req, ctx):
        out = b"pong: " + req
        log(ctx, "/es.Test/Unary", req, "one %d-byte message" % len(out), "OK")
        return out

    def unavailable(req, ctx):
        log(ctx, "/es.Test/Unavailable", req, "no message; grpc-status 14 grpc-message 'backend draining'", "UNAVAILABLE")
        ctx.abort(grpc.StatusCode.UNAVAILABLE, "backend draining")

    def stream(req, ctx):
        for i in range(5):
            yield b"message %d" % i
            time.sleep(0.01)
        log(ctx, "/es.Test/Stream", req, "5 messages", "OK")

    handler = grpc.method_handlers_generic_handler("es.Test", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Unavailable": grpc.unary_unary_rpc_method_handler(unavailable),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    if args.ready_file:
        open(args.ready_file, "w").close()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
