#!/usr/bin/env python3
"""Writes edgescope's corpus of broken captures into a directory, with manifest.json saying
what each must give: a report with a warning (exit 0), or one error line (exit 2).

  make-broken-captures.py DIR

Every file holds, where the damage allows it, one healthy HTTP exchange on 10.0.0.5:40001 ->
10.0.3.24:8080 (handshake, request, response, FIN both ways: 8 frames), so "a report for the
rest" can be checked: the frames before the damage still make a connection. Stdlib only;
same bytes every run.
"""
import json
import os
import struct
import sys

GATEWAY = (bytes([10, 0, 0, 5]), 40001)
UPSTREAM = (bytes([10, 0, 3, 24]), 8080)
REQUEST = b"GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
T0 = 1776075462


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_frame(src, dst, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = src[0] + dst[0] + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src[0], dst[0])
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + tcp


SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def exchange():
    g, u = GATEWAY, UPSTREAM
    a = 101 + len(REQUEST)
    b = 901 + len(RESPONSE)
    return [
        tcp_frame(g, u, 100, 0, SYN),
        tcp_frame(u, g, 900, 101, SYN | ACK),
        tcp_frame(g, u, 101, 901, ACK),
        tcp_frame(g, u, 101, 901, PSH | ACK, REQUEST),
        tcp_frame(u, g, 901, a, PSH | ACK, RESPONSE),
        tcp_frame(g, u, a, b, FIN | ACK),
        tcp_frame(u, g, b, a + 1, FIN | ACK),
        tcp_frame(g, u, a + 1, b + 1, ACK),
    ]


def pcap_header(snaplen=65535, linktype=1, magic=0xA1B2C3D4):
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def record(frame, ts_usec=0, caplen=None, length=None, seconds=T0):
    caplen = len(frame) if caplen is None else caplen
    length = len(frame) if length is None else length
    return struct.pack("<IIII", seconds, ts_usec, caplen, length) + frame


def healthy_records(step=1000):
    return b"".join(record(f, ts_usec=i * step) for i, f in enumerate(exchange()))


# pcapng blocks (little-endian)
def block(kind, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def shb():
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype=1, snaplen=65535):
    return block(0x00000001, struct.pack("<HHI", linktype, 0, snaplen))


def epb(frame, interface=0, usec=0):
    ts = T0 * 1_000_000 + usec
    return block(0x00000006, struct.pack("<IIIII", interface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "broken-captures"
    os.makedirs(out, exist_ok=True)
    frames = exchange()
    cases = []

    def case(name, data, expect, says, connections=None):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        cases.append({"file": name, "expect": expect, "says": says, "connections": connections})

    whole = pcap_header() + healthy_records()
    case("bad-magic.pcap", b"\x01\x02\x03\x04" + whole[4:], "error", "not a pcap or pcapng capture")
    case("truncated-global-header.pcap", whole[:10], "error", "truncated")
    # The fifth record (the response) ends 20 bytes early: four frames before it still count.
    cut = pcap_header() + b"".join(record(f, ts_usec=i) for i, f in enumerate(frames[:4]))
    cut += record(frames[4], ts_usec=4)[:-20]
    case("record-cut-mid-way.pcap", cut, "warning", "cut short", connections=1)
    # caplen larger than the wire length: the bytes are there; the record is impossible.
    bigger = pcap_header() + b"".join(
        record(f, ts_usec=i, length=len(f) - 10 if i == 3 else None) for i, f in enumerate(frames))
    case("caplen-greater-than-len.pcap", bigger, "warning", "claim more captured bytes than their length on the wire", connections=1)
    # A record longer than the file's snap length (60 here).
    oversnap = pcap_header(snaplen=60) + healthy_records()
    # libpcap cuts such a record to the snap length: the response's bytes are missing, so the
    # verdict is unknown (capture.truncated), never an invented framing error.
    case("caplen-greater-than-snaplen.pcap", oversnap, "report", "capture.truncated", connections=1)
    zero = pcap_header() + b"".join(
        (record(b"", ts_usec=i) if i == 2 else record(f, ts_usec=i)) for i, f in enumerate(frames))
    case("caplen-zero.pcap", zero, "warning", "cut by the snap length inside their headers", connections=1)
    huge = pcap_header() + b"".join(record(f, ts_usec=i) for i, f in enumerate(frames[:3]))
    huge += struct.pack("<IIII", T0, 3, 0xFFFFFFFF, 0xFFFFFFFF) + frames[3]
    case("caplen-four-gigabytes.pcap", huge, "warning", "cut short", connections=1)
    huge_first = pcap_header() + struct.pack("<IIII", T0, 0, 0xFFFFFFFF, 0xFFFFFFFF) + frames[0]
    case("caplen-four-gigabytes-first.pcap", huge_first, "error", "invalid packet capture length 4294967295")
    backwards = pcap_header() + b"".join(
        record(f, ts_usec=(7 - i) * 1000) for i, f in enumerate(frames))
    case("timestamps-backwards.pcap", backwards, "warning", "earlier than the record before", connections=1)
    unknown = shb() + idb() + epb(frames[0]) + block(0x0BAD0BAD, b"mystery block") + b"".join(
        epb(f, usec=i) for i, f in enumerate(frames[1:], 1))
    case("pcapng-unknown-block.pcapng", unknown, "report", "1 connection(s), 0 not healthy", connections=1)
    # dumpcap on two interfaces: both descriptions first. libpcap takes one link type per file.
    mixed = shb() + idb(1) + idb(113) + b"".join(epb(f, usec=i) for i, f in enumerate(frames[:4]))
    mixed += epb(b"\0" * 16 + frames[4][14:], interface=1, usec=4)
    case("pcapng-mixed-link-types.pcapng", mixed, "error", "interfaces of different link types")
    # The second interface described after four packets: those four are reported.
    late = shb() + idb(1) + b"".join(epb(f, usec=i) for i, f in enumerate(frames[:4])) + idb(113)
    late += epb(b"\0" * 16 + frames[4][14:], interface=1, usec=4)
    case("pcapng-second-link-type-later.pcapng", late, "warning", "interfaces of different link types", connections=1)
    truncated = shb() + idb() + b"".join(epb(f, usec=i) for i, f in enumerate(frames[:5]))
    truncated += epb(frames[5], usec=5)[:30]
    case("pcapng-truncated-block.pcapng", truncated, "warning", "cut short", connections=1)
    case("pcapng-only-header.pcapng", shb()[:20], "error", "cut off in the middle of a record")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
