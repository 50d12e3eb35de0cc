#!/usr/bin/env python3
"""The grpcio client of the gRPC captures of captures/http2/ (issue 18): one channel (one h2c
connection to the gateway), the calls in order, each call's outcome as one JSON line in --log.

Needs PyPI grpcio (pip install h2 hyperframe hpack grpcio).

  --call unary:/es.Test/Unary        a unary call with a 4-byte request
  --call stream:/es.Test/Stream      a server-streaming call
"""

import argparse
import json
import time

import grpc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--call", action="append", required=True)
    args = ap.parse_args()
    ch = grpc.insecure_channel(args.target)
    out = []
    for c in args.call:
        kind, method = c.split(":", 1)
        t0 = time.time()
        msgs, code, details = [], None, None
        try:
            if kind == "unary":
                resp, call = ch.unary_unary(method).with_call(b"ping", timeout=8)
                msgs = [resp]
            else:
                call = ch.unary_stream(method)(b"ping", timeout=8)
                msgs = list(call)
            code, details = call.code(), call.details()
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        out.append({"request": "POST " + method, "grpc_code": code.value[0], "grpc_code_name": code.name,
                    "grpc_details": details, "messages": len(msgs), "message_bytes": sum(len(m) for m in msgs),
                    "start": round(t0, 6), "end": round(time.time(), 6)})
    ch.close()
    with open(args.log, "w") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


if __name__ == "__main__":
    main()
