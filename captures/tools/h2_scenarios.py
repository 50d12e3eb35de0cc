#!/usr/bin/env python3
"""The HTTP/2 and gRPC scenarios of captures/http2/ (issue 18): what each upstream sends, frame by
frame, which gateways run it, what the client does, and the outcome the scenario is designed for.

Read by h2_upstream.py (respond(): the steps for one request) and h2-run.py (the driver, which
also writes the truth). The designed outcome (`expect`) is only a check: the truth's code is
mapped from the gateway's log line, the client's outcome and the upstream's log by h2-run.py
(classify()), and the run fails when the two disagree. Never from edgescope.

Needs PyPI `hyperframe` (pip install h2 hyperframe hpack grpcio).

Step kinds (a list per request): ("send", bytes, note[, "evidence"]), ("sleep", seconds),
("close",) a FIN, ("reset",) an RST (SO_LINGER 0). The step marked "evidence" is the frame the
truth names: its first bytes are the evidence marker, and the upstream log says its offset.
"""

import json
import sys

from hyperframe.frame import (DataFrame, GoAwayFrame, HeadersFrame, RstStreamFrame,  # noqa: F401
                              SettingsFrame)


def frame(ftype, flags, sid, payload):
    """One frame, header written by hand (for the faults hyperframe refuses to build)."""
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def settings(ack=False, **values):
    f = SettingsFrame(0)
    if ack:
        f.flags.add("ACK")
    ids = {"max_concurrent_streams": 3, "initial_window_size": 4, "max_frame_size": 5}
    for k, v in values.items():
        f.settings[ids[k]] = v
    return f.serialize()


def hint(n, prefix_bits, first=0):
    """HPACK integer with an N-bit prefix (RFC 7541 5.1)."""
    mx = (1 << prefix_bits) - 1
    if n < mx:
        return bytes([first | n])
    out = [first | mx]
    n -= mx
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def lit(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    name, value = name.encode(), value.encode()
    return b"\x00" + hint(len(name), 7) + name + hint(len(value), 7) + value


def block(*pairs):
    return b"".join(lit(n, v) for n, v in pairs)


def headers(sid, hblock, end_stream=False):
    return frame(1, 0x4 | (0x1 if end_stream else 0), sid, hblock)


def data(sid, payload, end_stream=False):
    return frame(0, 0x1 if end_stream else 0, sid, payload)


def rst(sid, code):
    f = RstStreamFrame(sid)
    f.error_code = code
    return f.serialize()


def goaway(last, code, debug=b""):
    f = GoAwayFrame(0)
    f.last_stream_id, f.error_code, f.additional_data = last, code, debug
    return f.serialize()


BODY = b"hello from the h2 upstream\n"


def ok_head(sid, n=len(BODY), extra=()):
    return headers(sid, block((":status", "200"), ("content-type", "text/plain"),
                              ("content-length", str(n)), *extra))


def BIG_HEADERS(sid):
    return headers(sid, block((":status", "200"), ("x-pad", "a" * 20000)), True)


def healthy(sid, i, hd):
    body = b"stream %d: " % sid + BODY
    return [("send", ok_head(sid, len(body)), "HEADERS stream={sid} :status 200 content-length %d" % len(body)),
            ("send", data(sid, body, True), "DATA stream={sid} %d bytes END_STREAM" % len(body))]


def head_fault(hb, note):
    """A response whose header block is the fault (sent with END_STREAM: no body)."""
    return lambda sid, i, hd: [("send", headers(sid, hb, True), "HEADERS stream={sid} END_STREAM " + note, "evidence")]


# Each scenario: desc (the upstream's behaviour, for the README and the truth), upstream
# ("script": h2_upstream.py; "grpc": h2_grpc_upstream.py), steps (script: a function (sid,
# n-th request on this connection, request headers) -> steps), client ("curl" paths, or "grpc"
# calls), tls (None, "h2": TLS with ALPN h2, "no-alpn": TLS selecting no protocol), and
# expect: gateway -> (code, class, client status; a tuple: any of these, when the run races: nginx
# may reset the client's stream before or after it has sent the response head). The evidence frame's HTTP/2 type (tshark's
# http2.type) is `evidence_type` (None: the evidence is not an HTTP/2 frame).
SCENARIOS = {
    "h2-healthy-streams": dict(
        desc="SETTINGS; each request: HEADERS :status 200 + content-length, DATA with END_STREAM; keep-alive",
        steps=healthy, requests=4, client="curl",
        expect={"nginx": ("none", "ok", 200), "haproxy": ("none", "ok", 200)}),
    "h2-healthy-parallel": dict(
        desc="SETTINGS; each request: HEADERS :status 200 + content-length, DATA with END_STREAM; four requests at once (curl --parallel: four client connections; HAProxy `http-reuse always` puts them on one upstream connection)",
        steps=healthy, requests=4, client="curl", parallel=True, haproxy_backend="http-reuse always",
        expect={"haproxy": ("none", "ok", 200)}),
    "h2-rst-stream-before-response": dict(
        desc="SETTINGS; on the request's HEADERS: RST_STREAM REFUSED_STREAM (7) on its stream, no response",
        steps=lambda sid, i, hd: [("send", rst(sid, 7), "RST_STREAM stream={sid} error=7 (REFUSED_STREAM)", "evidence")],
        requests=1, client="curl", evidence_type=3,
        expect={"nginx": ("h2.rst_stream.before_response", "502", 502),
                "haproxy": ("h2.rst_stream.before_response", "truncated", None)}),
    "h2-goaway": dict(
        desc="SETTINGS; on the request's HEADERS: GOAWAY last_stream_id=0 NO_ERROR (the stream was not processed), then FIN",
        steps=lambda sid, i, hd: [("send", goaway(0, 0, b"shutting down"), "GOAWAY last_stream=0 error=0 (NO_ERROR)", "evidence"),
                                  ("sleep", 0.05), ("close",)],
        requests=1, client="curl", evidence_type=7,
        expect={"nginx": ("h2.goaway", "502", 502), "haproxy": ("h2.goaway", "truncated", None)}),
    "h2-h1-upstream": dict(
        desc="an HTTP/1.1 server: reads the preface `PRI * HTTP/2.0` as a request line, answers `HTTP/1.1 400 Bad Request`, closes",
        mode="h1", steps=None, requests=1, client="curl", evidence_type=None,
        expect={"nginx": ("proto.h1_response_to_h2", "502", 502), "haproxy": ("proto.h1_response_to_h2", "503", 503)}),
    "h2-frame-too-large": dict(
        desc="SETTINGS (no SETTINGS_MAX_FRAME_SIZE from the gateway: 16384 applies); a HEADERS frame of 20024 bytes (:status 200 and a 20000-byte x-pad)",
        steps=lambda sid, i, hd: [("send", BIG_HEADERS(sid), "HEADERS stream={sid} END_STREAM length %d (> 16384)" % (len(BIG_HEADERS(sid)) - 9), "evidence")],
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.frame.too_large", "502", 502)}),
    "h2-hpack-bad-index": dict(
        desc="SETTINGS; HEADERS whose block is `88 be`: :status 200 (static 8), then indexed field 62, the first dynamic entry, with an empty table",
        steps=lambda sid, i, hd: [("send", headers(sid, b"\x88\xbe", True), "HEADERS stream={sid} block 88 be (index 62, empty dynamic table)", "evidence")],
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.hpack.bad_index", "502", 502), "haproxy": ("h2.hpack.bad_index", "truncated", None)}),
    "h2-hpack-table-size-update": dict(
        desc="SETTINGS; HEADERS whose block is `3f e1 1f 88`: a dynamic table size update to 4096 (the gateway allowed 0 with SETTINGS_HEADER_TABLE_SIZE), then :status 200",
        steps=lambda sid, i, hd: [("send", headers(sid, b"\x3f\xe1\x1f\x88", True), "HEADERS stream={sid} block 3f e1 1f 88 (table size update 4096)", "evidence")],
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.hpack.error", "502", 502)}),   # HAProxy advertises no table size: 4096 is its default
    "h2-hpack-bad-huffman": dict(
        desc="SETTINGS; HEADERS with :status 200 (`88`) and a literal whose name is Huffman-coded `ff ff ff` (24 one-bits: padding longer than 7 bits, a decoding error by RFC 7541 5.2)",
        steps=lambda sid, i, hd: [("send", headers(sid, b"\x88\x00\x83\xff\xff\xff\x01x", True), "HEADERS stream={sid} block 88 00 83 ff ff ff 01 78 (Huffman padding of 24 bits in a name)", "evidence")],
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.hpack.error", "ok", 200), "haproxy": ("h2.hpack.error", "truncated", None)}),
    "h2-status-missing": dict(
        desc="SETTINGS; HEADERS with content-type and content-length 0 and no :status",
        steps=head_fault(block(("content-type", "text/plain"), ("content-length", "0")), "without :status"),
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.status.missing", "502", 502), "haproxy": ("h2.status.missing", "502", 502)}),
    "h2-status-duplicate": dict(
        desc="SETTINGS; HEADERS with :status 200 twice",
        steps=head_fault(block((":status", "200"), (":status", "200"), ("content-length", "0")), ":status 200 twice"),
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.status.duplicate", "502", 502), "haproxy": ("h2.status.duplicate", "502", 502)}),
    "h2-status-invalid": dict(
        desc="SETTINGS; HEADERS with :status 2000 (four digits)",
        steps=head_fault(block((":status", "2000"), ("content-length", "0")), ":status 2000"),
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.status.invalid", "502", 502), "haproxy": ("h2.status.invalid", "502", 502)}),
    "h2-header-request-pseudo": dict(
        desc="SETTINGS; HEADERS with :status 200 and the request pseudo-header :path /",
        steps=head_fault(block((":status", "200"), (":path", "/"), ("content-length", "0")), ":status 200, :path /"),
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.header.request_pseudo", "502", 502), "haproxy": ("h2.header.request_pseudo", "502", 502)}),
    "h2-header-uppercase": dict(
        desc="SETTINGS; HEADERS with :status 200 and an upper-case field name `X-Custom: value`",
        steps=head_fault(block((":status", "200"), ("X-Custom", "value"), ("content-length", "0")), ":status 200, X-Custom: value"),
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.header.uppercase", "502", 502), "haproxy": ("h2.header.uppercase", "502", 502)}),
    "h2-header-connection-specific": dict(
        desc="SETTINGS; HEADERS with :status 200, `connection: keep-alive` and `transfer-encoding: chunked` (connection-specific, RFC 9113 8.2.2), then DATA END_STREAM",
        steps=lambda sid, i, hd: [("send", ok_head(sid, len(BODY), (("connection", "keep-alive"), ("transfer-encoding", "chunked"))),
                                   "HEADERS stream={sid} :status 200 connection: keep-alive transfer-encoding: chunked", "evidence"),
                                  ("send", data(sid, BODY, True), "DATA stream={sid} %d bytes END_STREAM" % len(BODY))],
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.header.connection_specific", "ok", 200),
                "haproxy": ("h2.header.connection_specific", "502", 502)}),
    "h2-content-length-mismatch": dict(
        desc="SETTINGS; HEADERS :status 200 content-length 100; DATA of 27 bytes with END_STREAM",
        steps=lambda sid, i, hd: [("send", ok_head(sid, 100), "HEADERS stream={sid} :status 200 content-length 100"),
                                  ("send", data(sid, BODY, True), "DATA stream={sid} %d bytes END_STREAM" % len(BODY), "evidence")],
        requests=1, client="curl", evidence_type=0,
        expect={"nginx": ("h2.content_length.mismatch", "truncated", (200, None)),
                "haproxy": ("h2.content_length.mismatch", "truncated", 200)}),
    "h2-stream-closed": dict(
        desc="SETTINGS; HEADERS :status 200, DATA with END_STREAM, then (same write) another DATA on the closed stream",
        steps=lambda sid, i, hd: [("send", ok_head(sid) + data(sid, BODY, True) + data(sid, b"late data\n"),
                                   "HEADERS stream={sid} + DATA END_STREAM + DATA on the closed stream (one write)", "evidence")],
        evidence_offset_in_step="last_frame", evidence_marker_of=lambda sid: data(sid, b"late data\n"),
        requests=1, client="curl", evidence_type=0,
        expect={"nginx": ("h2.stream.closed", "truncated", (200, None))}),
    "h2-trailers-no-end-stream": dict(
        desc="SETTINGS; HEADERS :status 200 (grpc content-type), DATA, then trailers (grpc-status 0) without END_STREAM; holds the stream open",
        steps=lambda sid, i, hd: [
            ("send", headers(sid, block((":status", "200"), ("content-type", "application/grpc"))), "HEADERS stream={sid} :status 200 content-type application/grpc"),
            ("send", data(sid, b"\x00\x00\x00\x00\x05hello"), "DATA stream={sid} one 5-byte gRPC message"),
            ("send", headers(sid, block(("grpc-status", "0"), ("grpc-message", "ok"))), "HEADERS stream={sid} trailers grpc-status 0 without END_STREAM", "evidence"),
            ("sleep", 1.0)],
        requests=1, client="curl", evidence_type=1,
        expect={"nginx": ("h2.trailers.no_end_stream", "truncated", (200, None))}),
    "h2-settings-bad-stream": dict(
        desc="SETTINGS; on the request's HEADERS: a SETTINGS frame on stream 1 (SETTINGS belong to stream 0)",
        steps=lambda sid, i, hd: [("send", frame(4, 0, sid, b"\x00\x03\x00\x00\x00\x64"), "SETTINGS stream={sid} MAX_CONCURRENT_STREAMS=100", "evidence")],
        requests=1, client="curl", evidence_type=4,
        expect={"nginx": ("h2.settings.bad_stream", "502", 502), "haproxy": ("h2.settings.bad_stream", "truncated", None)}),
    "h2-preface-bad": dict(
        desc="no SETTINGS first: the server's first frame is a PING; then SETTINGS and a healthy response",
        on_connect=[("send", frame(6, 0, 0, b"edgescop"), "PING stream=0 (before any SETTINGS)", "evidence"),
                    ("send", settings(), "SETTINGS stream=0 (empty)")],
        steps=healthy, requests=1, client="curl", evidence_type=6,
        expect={"nginx": ("h2.preface.bad", "ok", 200), "haproxy": ("h2.preface.bad", "503", 503)}),
    "h2-flow-control": dict(
        desc="SETTINGS; HEADERS :status 200 content-length 70000 and five DATA frames (16384 x 4 + 4464) in one write: the fourth passes the 65535-byte stream and connection windows HAProxy advertised before any WINDOW_UPDATE of its can come (written frame by frame, HAProxy's updates kept up)",
        steps=lambda sid, i, hd: [("send", ok_head(sid, 70000) + b"".join(data(sid, bytes([0x61 + k]) * 16384) for k in range(4))
                                   + data(sid, b"e" * 4464, True),
                                   "HEADERS stream={sid} :status 200 content-length 70000 + DATA 16384 x 4 (65536 in all) + DATA 4464 END_STREAM (one write)",
                                   "evidence"),
                                  ("sleep", 0.5)],
        evidence_marker_of=lambda sid: data(sid, b"d" * 16384),
        requests=1, client="curl", evidence_type=0,
        expect={"haproxy": ("h2.flow_control", "ok", 200)}),
    "h2-fin-mid-body": dict(
        desc="SETTINGS; HEADERS :status 200 content-length 1000; DATA of 100 bytes without END_STREAM; FIN",
        steps=lambda sid, i, hd: [("send", ok_head(sid, 1000), "HEADERS stream={sid} :status 200 content-length 1000"),
                                  ("send", data(sid, b"x" * 100), "DATA stream={sid} 100 bytes"),
                                  ("sleep", 0.05), ("close",)],
        requests=1, client="curl", evidence_type=None,
        expect={"nginx": ("tcp.fin.mid_body", "truncated", (200, None)), "haproxy": ("tcp.fin.mid_body", "truncated", 200)}),
    # Control frames of the wrong length (RFC 9113 §4.2, §6.x: FRAME_SIZE_ERROR), each sent on the
    # request's HEADERS, and a PUSH_PROMISE where both gateways sent SETTINGS_ENABLE_PUSH 0.
    "h2-settings-bad-length": dict(
        desc="SETTINGS; on the request's HEADERS: a SETTINGS frame of 5 bytes (not a multiple of 6)",
        steps=lambda sid, i, hd: [("send", frame(4, 0, 0, b"\x00\x03\x00\x00\x00"), "SETTINGS stream=0 length 5 (frame size fault)", "evidence")],
        requests=1, client="curl", evidence_type=4,
        expect={"nginx": ("h2.frame.size_error", "502", 502), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-settings-ack-length": dict(
        desc="SETTINGS; on the request's HEADERS: a SETTINGS frame with ACK and 6 bytes of payload",
        steps=lambda sid, i, hd: [("send", frame(4, 1, 0, b"\x00\x03\x00\x00\x00\x64"), "SETTINGS stream=0 ACK length 6 (frame size fault)", "evidence")],
        requests=1, client="curl", evidence_type=4,
        expect={"nginx": ("h2.frame.size_error", "502", 502), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-ping-bad-length": dict(
        desc="SETTINGS; on the request's HEADERS: a PING frame of 7 bytes (not 8)",
        steps=lambda sid, i, hd: [("send", frame(6, 0, 0, b"edgesco"), "PING stream=0 length 7 (frame size fault)", "evidence")],
        requests=1, client="curl", evidence_type=6,
        expect={"nginx": ("h2.frame.size_error", "502", 502), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-window-update-bad-length": dict(
        desc="SETTINGS; on the request's HEADERS: a WINDOW_UPDATE frame of 3 bytes (not 4) on its stream",
        steps=lambda sid, i, hd: [("send", frame(8, 0, sid, b"\x00\x10\x00"), "WINDOW_UPDATE stream={sid} length 3 (frame size fault)", "evidence")],
        requests=1, client="curl", evidence_type=8,
        expect={"nginx": ("h2.frame.size_error", "502", 502), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-rst-stream-bad-length": dict(
        desc="SETTINGS; on the request's HEADERS: an RST_STREAM frame of 3 bytes (not 4) on its stream",
        steps=lambda sid, i, hd: [("send", frame(3, 0, sid, b"\x00\x00\x07"), "RST_STREAM length 3 on stream {sid} (frame size fault)", "evidence")],
        requests=1, client="curl", evidence_type=3,
        expect={"nginx": ("h2.frame.size_error", "502", 502), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-priority-bad-length": dict(
        desc="SETTINGS; on the request's HEADERS: a PRIORITY frame of 4 bytes (not 5) on its stream, then HEADERS :status 200 and DATA with END_STREAM",
        steps=lambda sid, i, hd: [("send", frame(2, 0, sid, b"\x00\x00\x00\x00"), "PRIORITY stream={sid} length 4 (frame size fault)", "evidence")]
        + healthy(sid, i, hd),
        requests=1, client="curl", evidence_type=2,
        expect={"nginx": ("h2.frame.size_error", "ok", 200), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-goaway-short": dict(
        desc="SETTINGS; on the request's HEADERS: a GOAWAY frame of 4 bytes (under the 8 of last-stream-id and error code)",
        steps=lambda sid, i, hd: [("send", frame(7, 0, 0, b"\x00\x00\x00\x00"), "GOAWAY stream=0 length 4 (frame size fault)", "evidence"),
                                  ("sleep", 0.05), ("close",)],
        requests=1, client="curl", evidence_type=7,
        expect={"nginx": ("h2.frame.size_error", "502", 502), "haproxy": ("h2.frame.size_error", "truncated", None)}),
    "h2-push-promise": dict(
        desc="SETTINGS; on the request's HEADERS: a PUSH_PROMISE on its stream promising stream 2 (GET /pushed), though the gateway sent SETTINGS_ENABLE_PUSH 0",
        steps=lambda sid, i, hd: [("send", frame(5, 0x4, sid, (2).to_bytes(4, "big") + block(
            (":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", "/pushed"))),
            "PUSH_PROMISE stream={sid} promised=2 GET /pushed (push disabled)", "evidence")],
        requests=1, client="curl", evidence_type=5,
        expect={"nginx": ("h2.push_promise.unexpected", "502", 502), "haproxy": ("h2.push_promise.unexpected", "truncated", None)}),
    "h2-rst-stream-after-head": dict(
        desc="SETTINGS; HEADERS :status 200 content-length 100; DATA of 10 bytes; RST_STREAM INTERNAL_ERROR (2) on the stream: the body is cut by a reset",
        steps=lambda sid, i, hd: [("send", ok_head(sid, 100), "HEADERS stream={sid} :status 200 content-length 100"),
                                  ("send", data(sid, b"0123456789"), "DATA stream={sid} 10 bytes"),
                                  ("sleep", 0.05),
                                  ("send", rst(sid, 2), "RST_STREAM error=2 (INTERNAL_ERROR) on stream {sid} (after the head)", "evidence")],
        requests=1, client="curl", evidence_type=3,
        expect={"nginx": ("tcp.rst.mid_body", "truncated", (200, None)), "haproxy": ("tcp.rst.mid_body", "truncated", 200)}),
    "h2-tls-healthy": dict(
        desc="TLS 1.3 with ALPN h2 (the upstream's own key log decrypts it); SETTINGS; each request: HEADERS :status 200 + content-length, DATA with END_STREAM",
        tls="h2", steps=healthy, requests=2, client="curl",
        expect={"nginx": ("none", "ok", 200), "haproxy": ("none", "ok", 200)}),
    "h2-tls-no-alpn": dict(
        desc="TLS 1.3 selecting no ALPN protocol (the gateway offered h2), an HTTP/1.1 server behind it: the preface gets `HTTP/1.1 400 Bad Request` and a close, any other request a 200",
        tls="no-alpn", mode="h1", steps=None, requests=1, client="curl", evidence_type=None,
        expect={"nginx": ("tls.alpn.no_h2", "502", 502), "haproxy": ("tls.alpn.no_h2", "ok", 200)}),
    "grpc-healthy-unary": dict(
        desc="grpcio server: /es.Test/Unary answers one message, grpc-status 0 in the trailers (two calls on one client channel)",
        upstream="grpc", client="grpc", calls=["unary:/es.Test/Unary", "unary:/es.Test/Unary"], steps=None,
        expect={"nginx": ("none", "ok", 200), "haproxy": ("none", "ok", 200)}),
    "grpc-streaming": dict(
        desc="grpcio server: /es.Test/Stream answers 5 messages (server streaming), grpc-status 0 in the trailers",
        upstream="grpc", client="grpc", calls=["stream:/es.Test/Stream"], steps=None,
        expect={"nginx": ("none", "ok", 200), "haproxy": ("none", "ok", 200)}),
    "grpc-status-unavailable": dict(
        desc="grpcio server: /es.Test/Unavailable aborts with UNAVAILABLE `backend draining` (a trailers-only response: :status 200, grpc-status 14, END_STREAM)",
        upstream="grpc", client="grpc", calls=["unary:/es.Test/Unavailable"], steps=None, evidence_type=1,
        expect={"nginx": ("grpc.status.unavailable", "relayed", 200), "haproxy": ("grpc.status.unavailable", "relayed", 200)}),
}

for _n, _s in SCENARIOS.items():
    _s.setdefault("upstream", "script")
    _s.setdefault("tls", None)


def respond(scn, sid, i, hd):
    return scn["steps"](sid, i, hd)


def evidence_step(scn, sid=1):
    """(marker bytes, note) of the scenario's evidence step for stream `sid`."""
    if scn.get("evidence_marker_of"):
        return scn["evidence_marker_of"](sid)[:16]
    steps = list(scn.get("on_connect") or [])
    if scn.get("steps"):
        steps += scn["steps"](sid, 1, {})
    for st in steps:
        if len(st) > 3 and st[3] == "evidence":
            return st[1][:16]
    return None


def jobs():
    for n, s in SCENARIOS.items():
        for g in s["expect"]:
            yield n, g, n + (".haproxy" if g == "haproxy" else "")


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        for j in jobs():
            print(" ".join(j))
    elif sys.argv[1:] == ["--show"]:
        print(json.dumps({n: {"desc": s["desc"], "expect": s["expect"]} for n, s in SCENARIOS.items()}, indent=2))
    else:
        sys.exit("usage: h2_scenarios.py --list | --show")
