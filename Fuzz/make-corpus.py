#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from the captures in captures/.

Usage: Fuzz/make-corpus.py OUT_DIR [CAPTURES_DIR]

Writes OUT_DIR/<Target>/<name> files in each target's input format (see the comment at the
top of each Fuzz/Sources/<Target>/<Target>.swift):
  FuzzEngine         the capture files themselves (those up to 64 KiB; bigger ones cut after 64 KiB of records)
  FuzzPacketDecoder  the link type and the first frames of each capture
  FuzzReassembly     each connection's segments, with absolute sequence numbers
  FuzzHTTP1          each plain connection's two reassembled streams
  FuzzHTTP2          each h2c connection's two streams (the preface taken off the client's), and a
                     few HTTP/2 exchanges built here (nginx grpc_pass's opening, gRPC, resets)
  FuzzFastCGI        each FastCGI connection's two reassembled streams (the gateway's first byte 1)
  FuzzTLS            each TLS connection's two streams, the ClientHello random set to 11..11
                     so the target's key log opens it
  FuzzKeyLog         the key logs beside the captures
  FuzzDNS            each DNS message (UDP port 53) of the captures in dns/
  FuzzGatewayLog     the gateway logs beside the captures (access, error, HAProxy, gateway
                     logs), each read by detection and with one of the target's layouts
Only the standard library is used; the reader knows pcap, pcapng and the link types edgescope decodes.
"""
import hashlib
import os
import struct
import sys


def records(path):
    """(linktype, [(ts_ns, frame bytes)]) of a pcap or pcapng file."""
    data = open(path, "rb").read()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    frames = []
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        little = magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
        e = "<" if little else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
        pos = 24
        while pos + 16 <= len(data):
            sec, frac, caplen, _ = struct.unpack(e + "IIII", data[pos:pos + 16])
            frame = data[pos + 16:pos + 16 + caplen]
            frames.append((sec * 10**9 + (frac if nano else frac * 1000), frame))
            pos += 16 + caplen
        return linktype, frames
    if magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        linktypes = []
        pos = 0
        while pos + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[pos:pos + 8])
            if blen < 12:
                break
            body = data[pos + 8:pos + blen - 4]
            if btype == 1:
                linktypes.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6:
                _, hi, lo, caplen, _ = struct.unpack(e + "IIIII", body[:20])
                frames.append(((hi << 32 | lo) * 1000, body[20:20 + caplen]))
            elif btype == 3:
                frames.append((0, body[4:]))
            pos += blen
        return (linktypes[0] if linktypes else 1), frames
    return None, []


def ip_start(linktype, frame):
    """Offset of the IP header and the EtherType-like protocol, or None."""
    if linktype == 1:
        pos, etype = 12, None
        while pos + 2 <= len(frame):
            etype = struct.unpack(">H", frame[pos:pos + 2])[0]
            pos += 2
            if etype in (0x8100, 0x88A8, 0x9100):
                pos += 2
                continue
            break
        return pos, etype
    if linktype == 113:
        return 16, struct.unpack(">H", frame[14:16])[0] if len(frame) >= 16 else None
    if linktype == 276:
        return 20, struct.unpack(">H", frame[0:2])[0] if len(frame) >= 2 else None
    if linktype in (0, 108):
        family = struct.unpack("<I", frame[:4])[0] if len(frame) >= 4 else 0
        if family > 0xFFFF:
            family = struct.unpack(">I", frame[:4])[0]
        return 4, 0x0800 if family == 2 else 0x86DD
    if linktype in (12, 14, 101, 228, 229):
        if not frame:
            return None, None
        return 0, 0x0800 if frame[0] >> 4 == 4 else 0x86DD
    return None, None


def tcp_segment(linktype, frame):
    """(src, dst, seq, ack, flags, payload) of a TCP segment, or None."""
    pos, etype = ip_start(linktype, frame)
    if pos is None:
        return None
    if etype == 0x0800 and len(frame) >= pos + 20:
        ihl = (frame[pos] & 15) * 4
        total = struct.unpack(">H", frame[pos + 2:pos + 4])[0]
        if frame[pos + 9] != 6 or struct.unpack(">H", frame[pos + 6:pos + 8])[0] & 0x3FFF:
            return None
        src, dst = frame[pos + 12:pos + 16], frame[pos + 16:pos + 20]
        tcp, end = pos + ihl, min(len(frame), pos + total)
    elif etype == 0x86DD and len(frame) >= pos + 40:
        if frame[pos + 6] != 6:
            return None
        src, dst = frame[pos + 8:pos + 24], frame[pos + 24:pos + 40]
        tcp, end = pos + 40, min(len(frame), pos + 40 + struct.unpack(">H", frame[pos + 4:pos + 6])[0])
    else:
        return None
    if end < tcp + 20:
        return None
    sport, dport, seq, ack = struct.unpack(">HHII", frame[tcp:tcp + 12])
    offset = (frame[tcp + 12] >> 4) * 4
    flags = frame[tcp + 13]
    return (src, sport), (dst, dport), seq, ack, flags, frame[tcp + offset:end]


def connections(linktype, frames):
    """{key: {"client": endpoint, "segments": [(from_client, seq, ack, flags, payload)]}} in first-seen order."""
    table = {}
    for _, frame in frames:
        seg = tcp_segment(linktype, frame)
        if seg is None:
            continue
        src, dst, seq, ack, flags, payload = seg
        key = tuple(sorted([src, dst]))
        if key not in table:
            # The SYN's sender, else the higher port, is the client (as docs/design.md says).
            client = src if flags & 0x12 == 0x02 or (not flags & 0x02 and src[1] > dst[1]) else dst
            if flags & 0x12 == 0x12:
                client = dst
            table[key] = {"client": client, "segments": []}
        table[key]["segments"].append((src == table[key]["client"], seq, ack, flags, payload))
    return table


def stream(segments, from_client):
    """The direction's bytes in sequence order, first copy kept, stopping at the first hole."""
    pieces = [(seq + (1 if flags & 0x02 else 0), payload) for c, seq, _, flags, payload in segments if c == from_client]
    syn = [seq for c, seq, _, flags, _ in segments if c == from_client and flags & 0x02]
    data = [p for p in pieces if p[1]]
    if not data:
        return b""
    start = (syn[0] + 1) if syn else data[0][0]
    out = bytearray()
    for seq, payload in sorted(data, key=lambda p: (p[0] - start) & 0xFFFFFFFF):
        rel = (seq - start) & 0xFFFFFFFF
        if rel > len(out):
            break
        out += payload[len(out) - rel:]
    return bytes(out)


def write(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(out, target, f"{name}-{digest}"), "wb") as f:
        f.write(data)


LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]


def set_client_random(client):
    """The client stream with its ClientHello's random set to 11..11 (record 5 + handshake 4 + version 2)."""
    if len(client) >= 43 and client[0] == 0x16 and client[5] == 0x01:
        return client[:11] + b"\x11" * 32 + client[43:]
    return client


def main():
    out = sys.argv[1]
    captures = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "captures")
    # nginx's captures, their HAProxy twins and the gateway-less key-log ones (names unique across them).
    folders = ("nginx", "haproxy", "no-gateway", "http2")
    entries = sorted((e, os.path.join(captures, f, e)) for f in folders if os.path.isdir(os.path.join(captures, f))
                     for e in os.listdir(os.path.join(captures, f)))
    for entry, path in entries:
        stem = entry.rsplit(".", 1)[0]
        if entry.endswith(".keylog"):
            write(out, "FuzzKeyLog", stem, b"\x80" + open(path, "rb").read()[:8192])
            continue
        if not (entry.endswith(".pcap") or entry.endswith(".pcapng")):
            continue
        raw = open(path, "rb").read()
        linktype, frames = records(path)
        if linktype is None:
            continue
        write(out, "FuzzEngine", stem, raw[:65536])
        link_index = LINKS.index(linktype) if linktype in LINKS else 1
        decoder = bytes([link_index])
        for _, frame in frames[:12]:
            decoder += struct.pack(">HBB", len(frame) & 0x0FFF, 0, 1) + frame[:0x0FFF]
        write(out, "FuzzPacketDecoder", stem, decoder)
        for number, conn in enumerate(list(connections(linktype, frames).values())[:4]):
            segs = conn["segments"]
            flows = bytearray()
            for from_client, seq, ack, flags, payload in segs[:80]:
                # Relative-to-nothing: absolute numbers (select bit 3), server bit 2.
                select = 0x08 | (0 if from_client else 0x04)
                flow_flags = (flags & 0x0F) | (0x10 if flags & 0x10 else 0)
                flows += struct.pack(">BBIIBBB", flow_flags, select, seq, ack, min(len(payload), 255), 0, 1) + payload[:255]
            write(out, "FuzzReassembly", f"{stem}-c{number}", bytes(flows))
            client, server = stream(segs, True)[:16384], stream(segs, False)[:16384]
            if not client and not server:
                continue
            seed = struct.pack(">Q", number + 1)
            if client[:1] == b"\x16":
                client = set_client_random(client)
                for mode in (0x1F, 0x3F):
                    write(out, "FuzzTLS", f"{stem}-c{number}-m{mode:02x}", seed + bytes([mode]) + struct.pack(">H", len(client)) + client + server)
            elif client.startswith(H2_PREFACE):
                client = client[len(H2_PREFACE):]
                write(out, "FuzzHTTP2", f"{stem}-c{number}", seed + struct.pack(">HH", len(client), 0) + client + server)
            elif client[:1] == b"\x01":
                write(out, "FuzzFastCGI", f"{stem}-c{number}", seed + struct.pack(">HH", len(client), 0) + client + server)
            else:
                write(out, "FuzzHTTP1", f"{stem}-c{number}", seed + struct.pack(">HH", len(client), 0) + client + server)
    dns_folder = os.path.join(captures, "dns")
    for entry in sorted(os.listdir(dns_folder)) if os.path.isdir(dns_folder) else []:
        if not entry.endswith(".pcap"):
            continue
        linktype, frames = records(os.path.join(dns_folder, entry))
        for number, message in enumerate(dns_messages(linktype, frames)[:24]):
            write(out, "FuzzDNS", f"{entry[:-5]}-m{number}", struct.pack(">Q", number + 1) + message)
    # Gateway logs: the first 8 KiB of a few of each kind, by detection (layout 0) and with the
    # target's layouts 1-4 (combined, then three custom ones).
    kinds = (".access.log", ".error.log", ".haproxy.log", ".nginx-error.log", ".gateway.log", ".upstream-access.log")
    logs = sorted(os.path.join(root, name) for root, _, names in os.walk(captures) for name in names if name.endswith(kinds))
    taken = {}
    for path in logs:
        kind = next(k for k in kinds if path.endswith(k))
        if taken.get(kind, 0) >= 12:
            continue
        taken[kind] = taken.get(kind, 0) + 1
        text = open(path, "rb").read()[:8192]
        stem = os.path.basename(path)[:-4]
        for layout in range(5):
            write(out, "FuzzGatewayLog", f"{stem}-l{layout}", bytes([layout]) + text)
    for name, (client, server) in h2_seeds().items():
        for number in range(3):
            gap = 0 if number < 2 else 5
            write(out, "FuzzHTTP2", f"{name}-{number}", struct.pack(">QHH", number + 1, len(client), gap) + client + server)


def dns_messages(linktype, frames):
    """The UDP payloads to or from port 53 of Ethernet IPv4 frames."""
    out = []
    for _, frame in frames:
        if linktype != 1 or len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl:]
        if len(udp) >= 8 and 53 in struct.unpack(">HH", udp[:4]):
            out.append(udp[8:])
    return out


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def h2_literal(name, value):
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def h2_seeds():
    """Client streams (after the preface) and server streams of a few HTTP/2 exchanges."""
    opening = h2_frame(4, 0, 0, bytes.fromhex("00010000000000020000000000047fffffff")) + h2_frame(8, 0, 0, b"\x7f\xff\x00\x00")
    request = lambda s: h2_frame(1, 5, s, h2_literal(b":method", b"POST") + h2_literal(b":path", b"/pkg.Svc/M") + h2_literal(b":authority", b"a"))
    server_open = h2_frame(4, 0, 0) + h2_frame(4, 1, 0)
    grpc_head = b"\x88" + h2_literal(b"content-type", b"application/grpc")
    return {
        "h2-grpc-ok": (opening + request(1) + request(3), server_open + h2_frame(1, 4, 1, grpc_head)
                       + h2_frame(0, 0, 1, b"\x00\x00\x00\x00\x02\x08\x01") + h2_frame(1, 5, 1, h2_literal(b"grpc-status", b"0"))
                       + h2_frame(1, 5, 3, grpc_head + h2_literal(b"grpc-status", b"14"))),
        "h2-rst": (opening + request(1), server_open + h2_frame(3, 0, 1, b"\x00\x00\x00\x07")),
        "h2-goaway": (opening + request(1) + request(3), server_open + h2_frame(7, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00")),
        "h2-continuation": (opening + request(1), server_open + h2_frame(1, 0, 1, b"\x88") + h2_frame(9, 4, 1, h2_literal(b"X-A", b"b"))
                            + h2_frame(0, 1, 1, b"ok")),
        "h2-index": (opening + request(1), server_open + h2_frame(1, 5, 1, b"\x88\x40\x01a\x01b\xbe")),
        "h2-http1": (opening + request(1), b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
    }


if __name__ == "__main__":
    main()
