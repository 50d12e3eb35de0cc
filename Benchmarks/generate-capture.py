#!/usr/bin/env python3
"""Deterministic synthetic pcap generator for edgescope benchmarks.

Writes a classic pcap (LINKTYPE_ETHERNET) of HTTP/1.1 keep-alive traffic on a
gateway-to-upstream hop:

  gateways  10.0.0.1 .. 10.0.0.4   (ephemeral ports 32768..60999)
  upstreams 10.0.3.10 .. 10.0.3.40 (port 8080)

Every connection does a 3-way handshake, K request/response exchanges
(Content-Length and chunked bodies, segmented at MSS 1448, pure ACKs from
the receiver every 2 segments) and a FIN/ACK close from either side.  Many
connections are live at once and their packets are interleaved.

Deterministic impairments: ~0.5% of data segments swapped with the next
segment of the same direction (out of order), ~0.5% sent twice (exact
duplicate a little later), ~1 in 2000 responses malformed (space before the
colon in a header name, invalid chunk size, non-numeric Content-Length, or an
upstream RST instead of a response).  After a malformed response the gateway
closes the connection.

IPv4 header checksums and TCP checksums are computed and valid.

Same arguments => byte-identical output (everything is driven by
random.Random(seed) and a simulated clock).

Usage:
  generate-capture.py --out FILE --size-mb N [--seed S]
      [--profile mixed|small|large|many-conns|short] [--concurrency C] [--nanosecond]

Profiles:
  mixed       bodies 200 B .. 64 KiB (log-uniform), 1..50 requests/conn, C=200
  small       bodies 50 .. 800 B, 1..200 requests/conn, C=200
  large       bodies 256 KiB .. 8 MiB, 1..6 requests/conn, C=32
  many-conns  C=100000: open all connections, then each does one request
              (interleaved), then closes; repeated in waves.  A wave costs
              ~2 KB per connection, so with --size-mb below ~200 the wave is
              scaled down to fit (a note is printed).
  short       nginx's default upstream shape: one request per connection
              (HTTP/1.0 request, `Connection: close`), responses of 100 B .. 4 KB
              (Content-Length), the upstream closes first.  Connections start at
              a steady 5,000 a second (--rate) from 2 gateways to 3 upstreams
              and overlap in time: handshake round trip 0.1-0.4 ms, upstream
              think time 0.3-40 ms.  About 1 response in 1000 has a space before
              the colon in Content-Length; the same segment impairments as above.
              Frames are timed by a simulated clock driven by the schedule, so
              the capture spans size / (rate * ~2.6 KB) seconds.

Gateway log (--access-log FILE, short profile): the gateway's nginx access log of the same
traffic, one line per request, written as nginx writes it when the response has been relayed:
  log_format bench '$msec $status "$upstream_addr" "$upstream_status" "$request" $request_time';
(a malformed response is logged 502 with upstream status 200, as nginx logs the upstream's
status line).  The capture is the same bytes with or without it.

Size: the budget is estimated as messages are planned; a connection is opened
only while budget remains and always does at least one exchange, so the file
ends near --size-mb (overshoot is at most about one in-flight response per
live connection; noticeable only for the large profile).  All connections are
closed properly at the end.

SYN/SYN-ACK carry MSS, SACK-permitted, window scale and (for ~85% of the
connections) TCP timestamps; all other segments have data offset 5, or 8 with
NOP NOP TS when timestamps were negotiated.
"""

import argparse
import heapq
import math
import random
import struct
import sys

MSS = 1448                 # TCP payload bytes per full segment
WINDOW_SEGS = 32           # segments sent per scheduling step (burst)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
M32 = 0xFFFFFFFF
BASE_EPOCH = 1717495200    # 2024-06-04 10:00:00 UTC, start of the capture
P_OOO = 0.005
P_RETX = 0.005
P_MALFORMED = 1.0 / 2000

GATEWAYS = 4
UPSTREAMS = 31             # 10.0.3.10 .. 10.0.3.40
UP_PORT = 8080
EPH_LO, EPH_HI = 32768, 60999

ROUTER_MAC = bytes.fromhex("02005e0003fe")
GW_MACS = [bytes((0x02, 0x00, 0x0a, 0x00, 0x00, i + 1)) for i in range(GATEWAYS)]

PROFILES = {
    #             body lo, body hi, req lo, req hi, concurrency
    "mixed":      (200, 64 * 1024, 1, 50, 200),
    "small":      (50, 800, 1, 200, 200),
    "large":      (256 * 1024, 8 * 1024 * 1024, 1, 6, 32),
    "many-conns": (50, 800, 1, 1, 100000),
    "short":      (100, 4096, 1, 1, 0),
    # HTTP/2 (h2c, nginx grpc_pass's opening): many streams per connection, half gRPC.
    "h2":         (200, 64 * 1024, 20, 200, 200),
}
SHORT_RATE = 5000          # new connections per second (short profile)
SHORT_GATEWAYS = 2
SHORT_UPSTREAMS = 3
P_SHORT_MALFORMED = 1.0 / 1000

# Frame layouts: Ethernet(14) + IPv4(20) + TCP(20) [+ NOP NOP TS(10)]
HDR = struct.Struct("!14sBBHHHBBH4s4sHHIIHHHH")
HDR_TS = struct.Struct("!14sBBHHHBBH4s4sHHIIHHHHBBBBII")
REC = struct.Struct("<IIII")
CONN_OVERHEAD = 620        # approx. file bytes of handshake + close

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

HOSTS = ["api.example.com", "shop.example.com", "m.example.com",
         "static.example.net", "partners.example.org", "auth.example.com"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
    "ExampleShop/5.3.1 (Android 14; Pixel 8)",
    "curl/8.7.1",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
]
SERVERS = ["nginx/1.25.5", "envoy", "gunicorn", "Jetty(11.0.20)", "Kestrel", "openresty"]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu red green blue cyan magenta yellow black white orange").split()
STATUS = [(200, "OK")] * 90 + [(404, "Not Found")] * 5 + [(302, "Found")] * 2 + \
         [(500, "Internal Server Error"), (503, "Service Unavailable"), (400, "Bad Request")]
MALFORM_KINDS = ("space-colon", "bad-chunk", "cl-abc", "rst")


def ip_words(ip):
    return ((ip[0] << 8) | ip[1]) + ((ip[2] << 8) | ip[3])


def http_date(epoch):
    days, rem = divmod(epoch, 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    # civil-from-days (Howard Hinnant)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    wd = (days + 3) % 7  # 1970-01-01 was a Thursday
    return "%s, %02d %s %d %02d:%02d:%02d GMT" % (DAYS[wd], d, MONTHS[m - 1], y, hh, mm, ss)


def build_pool(rng, size):
    """Text/JSON-ish content that bodies are sliced from."""
    parts = []
    n = 0
    i = 0
    while n < size:
        w = rng.sample(WORDS, 3)
        rec = ('{"id":%d,"sku":"%s-%05d","name":"%s %s","tags":["%s","%s"],'
               '"price":%d.%02d,"stock":%d,"active":%s}\n' % (
                   100000 + i, w[0][:3].upper(), rng.randrange(100000), w[0], w[1],
                   w[1], w[2], rng.randrange(1000), rng.randrange(100),
                   rng.randrange(5000), "true" if rng.random() < 0.8 else "false"))
        parts.append(rec)
        n += len(rec)
        i += 1
    return "".join(parts).encode("ascii")[:size]


class Conn:
    __slots__ = ("eth", "src", "dst", "ttl", "ipc", "psc", "sp", "dp", "isn", "nxt",
                 "ipid", "win", "ts", "tsbase", "tslast", "key", "host", "ua", "client")

    def __init__(self, g, gwi, upi, port):
        rng = g.rng
        gw_ip = bytes((10, 0, 0, gwi + 1))
        up_ip = bytes((10, 0, 3, 10 + upi))
        gw_mac = GW_MACS[gwi]
        self.key = (gwi, upi, port)
        self.eth = (ROUTER_MAC + gw_mac + b"\x08\x00", gw_mac + ROUTER_MAC + b"\x08\x00")
        self.src = (gw_ip, up_ip)
        self.dst = (up_ip, gw_ip)
        self.ttl = (64, 63)
        self.ipc = [0x4500 + 0x4000 + ((self.ttl[d] << 8) | 6) + ip_words(self.src[d]) +
                    ip_words(self.dst[d]) for d in (0, 1)]
        self.psc = [ip_words(self.src[d]) + ip_words(self.dst[d]) + 6 for d in (0, 1)]
        self.sp = (port, UP_PORT)
        self.dp = (UP_PORT, port)
        self.isn = (rng.getrandbits(32), rng.getrandbits(32))
        self.nxt = [0, 0]              # relative next sequence number per direction
        self.ipid = [rng.getrandbits(16), rng.getrandbits(16)]
        self.win = (502, 509)          # scaled by 2^7 after the handshake
        self.ts = rng.random() < 0.85  # TCP timestamps negotiated?
        self.tsbase = (rng.getrandbits(31), rng.getrandbits(31))
        self.tslast = [0, 0]
        self.host = rng.choice(HOSTS)
        self.ua = rng.choice(USER_AGENTS)
        self.client = "%d.%d.%d.%d" % (rng.choice((198, 203, 81, 91, 176)), rng.randrange(256),
                                       rng.randrange(256), rng.randrange(1, 255))

    def frame(self, g, d, flags, payload=b"", ack_rel=None):
        """Build one Ethernet/IPv4/TCP frame from direction d (0 gw->up, 1 up->gw)."""
        o = 1 - d
        nxt = self.nxt
        seq = (self.isn[d] + nxt[d]) & M32
        if flags & ACK:
            ack = (self.isn[o] + (nxt[o] if ack_rel is None else ack_rel)) & M32
        else:
            ack = 0
        plen = len(payload)
        thl = 32 if self.ts else 20
        tcplen = thl + plen
        tot = 20 + tcplen
        ipid = self.ipid[d]
        self.ipid[d] = (ipid + 1) & 0xFFFF
        s = (self.ipc[d] + tot + ipid) % 0xFFFF
        ipck = 0xFFFF - s if s else 0
        offflags = ((thl >> 2) << 12) | flags
        win = self.win[d]
        sp = self.sp[d]
        dp = self.dp[d]
        s = (self.psc[d] + tcplen + sp + dp + (seq >> 16) + (seq & 0xFFFF) +
             (ack >> 16) + (ack & 0xFFFF) + offflags + win)
        if plen:
            v = int.from_bytes(payload, "big")
            if plen & 1:
                v <<= 8
            s += v % 0xFFFF
        if self.ts:
            tsval = (self.tsbase[d] + g.clock // 1000000) & M32
            tsecr = self.tslast[o]
            self.tslast[d] = tsval
            s += 0x0101 + 0x080A + (tsval >> 16) + (tsval & 0xFFFF) + (tsecr >> 16) + (tsecr & 0xFFFF)
            s %= 0xFFFF
            ck = 0xFFFF - s if s else 0
            hdr = HDR_TS.pack(self.eth[d], 0x45, 0, tot, ipid, 0x4000, self.ttl[d], 6, ipck,
                              self.src[d], self.dst[d], sp, dp, seq, ack, offflags, win, ck, 0,
                              1, 1, 8, 10, tsval, tsecr)
        else:
            s %= 0xFFFF
            ck = 0xFFFF - s if s else 0
            hdr = HDR.pack(self.eth[d], 0x45, 0, tot, ipid, 0x4000, self.ttl[d], 6, ipck,
                           self.src[d], self.dst[d], sp, dp, seq, ack, offflags, win, ck, 0)
        nxt[d] += plen + (1 if flags & (SYN | FIN) else 0)
        return hdr + payload if plen else hdr

    def syn_frame(self, g, d, flags):
        """SYN or SYN/ACK with options (slow path, once per connection and side)."""
        o = 1 - d
        seq = self.isn[d]
        ack = (self.isn[o] + 1) & M32 if flags & ACK else 0
        if self.ts:
            tsval = (self.tsbase[d] + g.clock // 1000000) & M32
            tsecr = self.tslast[o]
            self.tslast[d] = tsval
            opts = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" +
                    struct.pack("!BBII", 8, 10, tsval, tsecr) + b"\x01\x03\x03\x07")
        else:
            opts = struct.pack("!BBH", 2, 4, 1448) + b"\x01\x03\x03\x07\x01\x01\x04\x02"
        thl = 20 + len(opts)
        tot = 20 + thl
        win = 64240 if d == 0 else 65160
        ipid = self.ipid[d]
        self.ipid[d] = (ipid + 1) & 0xFFFF
        s = (self.ipc[d] + tot + ipid) % 0xFFFF
        ipck = 0xFFFF - s if s else 0
        tcp0 = struct.pack("!HHIIHHHH", self.sp[d], self.dp[d], seq, ack,
                           ((thl >> 2) << 12) | flags, win, 0, 0) + opts
        s = (self.psc[d] + thl + int.from_bytes(tcp0, "big")) % 0xFFFF
        ck = 0xFFFF - s if s else 0
        tcp = tcp0[:16] + struct.pack("!H", ck) + tcp0[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, ipid, 0x4000, self.ttl[d], 6, ipck,
                         self.src[d], self.dst[d])
        self.nxt[d] = 1
        return self.eth[d] + ip + tcp


class Generator:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.profile = args.profile
        self.short = args.profile == "short"
        self.rate = args.rate
        blo, bhi, self.req_lo, self.req_hi, conc = PROFILES[args.profile]
        self.lblo, self.lbhi = math.log(blo), math.log(bhi)
        self.concurrency = args.concurrency or conc
        self.target = int(args.size_mb * 1024 * 1024)
        self.nano = args.nanosecond
        self.out = open(args.out, "wb", buffering=0)
        self.access_log = open(args.access_log, "w") if args.access_log else None
        self.buf = []
        self.bufbytes = 0
        self.nbytes = 24
        self.planned = 24         # estimated final file size of what is committed so far
        # budget reserved when a connection is opened: handshake + close + one
        # average exchange (bodies are log-uniform: mean = (hi - lo) / ln(hi / lo))
        avg_body = (bhi - blo) / (self.lbhi - self.lblo)
        self.avg_exchange = int(self.estimate(avg_body + 900))
        self.per_conn = CONN_OVERHEAD + self.avg_exchange
        self.wave_noted = False
        self.clock = 0             # simulated ns since BASE_EPOCH
        self.packets = 0
        self.conns = 0
        self.requests = 0
        self.responses = 0
        self.malformed = {k: 0 for k in MALFORM_KINDS}
        self.ooo = 0
        self.retx = 0
        self.live = set()
        self.next_port = {}
        pool = build_pool(self.rng, 2 * 1024 * 1024)
        self.pool = pool * 5       # 10 MiB, enough for 8 MiB slices
        magic = 0xA1B23C4D if self.nano else 0xA1B2C3D4
        self.out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, 1))

    # ------------------------------------------------------------------ output
    def emit(self, frames):
        rng = self.rng
        clock = self.clock + rng.randrange(20000)
        buf = self.buf
        pack = REC.pack
        nano = self.nano
        n_out = 0
        for f in frames:
            n = len(f)
            clock += 1000 + 8 * n              # >= 1 us per frame: strictly increasing
            sec, ns = divmod(clock, 1000000000)
            buf.append(pack(BASE_EPOCH + sec, ns if nano else ns // 1000, n, n))
            buf.append(f)
            n_out += 16 + n
        self.clock = clock
        self.packets += len(frames)
        self.nbytes += n_out
        self.bufbytes += n_out
        if self.bufbytes >= (8 << 20):
            self.flush()

    def flush(self):
        if self.buf:
            self.out.write(b"".join(self.buf))
            self.buf = []
            self.bufbytes = 0

    @staticmethod
    def estimate(nbytes):
        """Approximate file bytes for a message of nbytes (frames, ACKs, records)."""
        return nbytes + (nbytes + MSS - 1) // MSS * 125

    # ------------------------------------------------------------------ content
    def body(self, n):
        off = self.rng.randrange(len(self.pool) - n)
        return self.pool[off:off + n]

    def uuid(self):
        h = "%032x" % self.rng.getrandbits(128)
        return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])

    def build_request(self, c):
        rng = self.rng
        rid = self.uuid()
        r = rng.random()
        post = r < 0.15
        if post:
            path = rng.choice(("/api/v1/orders", "/api/v1/cart/items", "/api/v2/events",
                               "/graphql", "/api/v1/sessions"))
        elif r < 0.55:
            path = "/api/v1/%s/%d" % (rng.choice(("products", "users", "orders", "reviews")),
                                      rng.randrange(1, 10 ** 7))
        elif r < 0.75:
            path = "/search?q=%s+%s&page=%d" % (rng.choice(WORDS), rng.choice(WORDS),
                                                rng.randrange(1, 30))
        elif r < 0.92:
            path = "/static/%s.%08x.%s" % (rng.choice(("app", "vendor", "main", "runtime")),
                                           rng.getrandbits(32), rng.choice(("js", "css")))
        else:
            path = "/api/v1/catalog?category=%s&limit=%d" % (rng.choice(WORDS),
                                                             rng.choice((20, 50, 100)))
        h = ["%s %s HTTP/1.%d" % ("POST" if post else "GET", path, 0 if self.short else 1),
             "Host: " + c.host,
             "User-Agent: " + c.ua,
             "Accept: " + ("application/json" if path.startswith("/api") or post else "*/*"),
             "Accept-Encoding: gzip, deflate, br",
             "X-Request-Id: " + rid,
             "X-Forwarded-For: " + c.client,
             "X-Forwarded-Proto: https"]
        if self.short:
            h.append("Connection: close")
        if rng.random() < 0.5:
            h.append("Accept-Language: en-US,en;q=0.9")
        if rng.random() < 0.4:
            h.append("traceparent: 00-%032x-%016x-01" % (rng.getrandbits(128), rng.getrandbits(64)))
        if rng.random() < 0.3:
            h.append("Cookie: sid=%024x; theme=dark" % rng.getrandbits(96))
        body = b""
        if post:
            n = int(math.exp(rng.uniform(math.log(20), math.log(16384))))
            body = self.body(n)
            h.append("Content-Type: application/json")
            h.append("Content-Length: %d" % n)
        h.append("")
        h.append("")
        return ("\r\n".join(h)).encode("latin-1") + body, rid, post

    def build_response(self, rid, post, close, malformed):
        rng = self.rng
        n = int(math.exp(rng.uniform(self.lblo, self.lbhi)))
        body = self.body(n)
        code, reason = rng.choice(STATUS)
        if post and code == 200 and rng.random() < 0.5:
            code, reason = 201, "Created"
        chunked = rng.random() < 0.35 and not self.short
        if malformed == "bad-chunk":
            chunked = True
        elif malformed is not None:
            chunked = False
        h = ["HTTP/1.1 %d %s" % (code, reason),
             "Date: " + http_date(BASE_EPOCH + self.clock // 1000000000),
             "Server: " + rng.choice(SERVERS),
             "Content-Type: " + ("application/json" if rng.random() < 0.7 else "text/plain; charset=utf-8")]
        if code == 302:
            h.append("Location: https://www.example.com/login?next=%2F")
        if chunked:
            h.append("Transfer-Encoding: chunked")
        elif malformed == "space-colon":
            h.append("Content-Length : %d" % n)
        elif malformed == "cl-abc":
            h.append("Content-Length: abc")
        else:
            h.append("Content-Length: %d" % n)
        h.append("Cache-Control: " + rng.choice(("no-store", "private, max-age=0", "public, max-age=300")))
        h.append("X-Request-Id: " + rid)
        if rng.random() < 0.5:
            h.append("Vary: Accept-Encoding")
        if close:
            h.append("Connection: close")
        h.append("")
        h.append("")
        head = "\r\n".join(h).encode("latin-1")
        if not chunked:
            return head + body
        k = max(2, min(rng.randint(2, 8) + n // 32768, 300, n))
        cuts = sorted(rng.sample(range(1, n), k - 1)) if k > 1 else []
        cuts.append(n)
        bad = rng.randrange(k) if malformed == "bad-chunk" else -1
        parts = [head]
        prev = 0
        for i, cut in enumerate(cuts):
            parts.append(b"zz\r\n" if i == bad else b"%x\r\n" % (cut - prev))
            parts.append(body[prev:cut])
            parts.append(b"\r\n")
            prev = cut
        parts.append(b"0\r\n\r\n")
        return b"".join(parts)

    # ------------------------------------------------------------------ TCP
    def send(self, c, d, data):
        """Yield bursts of frames carrying `data` from direction d, with the
        receiver's pure ACKs every 2 segments and deterministic impairments."""
        rng = self.rng
        o = 1 - d
        n = len(data)
        off = 0
        rcv = c.nxt[d]           # receiver's cumulative ack point (relative)
        unacked = 0
        while off < n:
            end = min(n, off + WINDOW_SEGS * MSS)
            segs = []
            while off < end:
                e = off + MSS if off + MSS < n else n
                s0 = c.nxt[d]
                f = c.frame(self, d, ACK | PSH if e == n else ACK, data[off:e])
                segs.append((s0, c.nxt[d], f))
                off = e
            # impairments: swap with next segment, or duplicate a bit later
            dups = {}
            i = 0
            ns = len(segs)
            while i < ns:
                r = rng.random()
                if r < P_OOO and i + 1 < ns:
                    segs[i], segs[i + 1] = segs[i + 1], segs[i]
                    self.ooo += 1
                    i += 2
                    continue
                if r > 1.0 - P_RETX:
                    j = min(ns - 1, i + rng.randint(1, 4))
                    dups.setdefault(j, []).append(segs[i])
                    self.retx += 1
                i += 1
            out = []
            held = {}
            for i in range(ns):
                items = [segs[i]]
                if i in dups:
                    items.extend(dups[i])
                for s0, s1, f in items:
                    out.append(f)
                    if s0 == rcv:
                        rcv = s1
                        filled = bool(held)
                        while rcv in held:
                            rcv = held.pop(rcv)
                        unacked += 1
                        if filled or unacked >= 2:
                            out.append(c.frame(self, o, ACK, b"", rcv))
                            unacked = 0
                    else:
                        if s0 > rcv:
                            held[s0] = s1
                        # out-of-order or duplicate: immediate duplicate ACK
                        out.append(c.frame(self, o, ACK, b"", rcv))
            yield out

    def alloc(self):
        rng = self.rng
        gwi = rng.randrange(GATEWAYS)
        upi = rng.randrange(UPSTREAMS)
        k = (gwi, upi)
        port = self.next_port.get(k)
        if port is None:
            port = rng.randint(EPH_LO, EPH_HI)
        while (gwi, upi, port) in self.live:
            port = port + 1 if port < EPH_HI else EPH_LO
        self.next_port[k] = port + 1 if port < EPH_HI else EPH_LO
        self.live.add((gwi, upi, port))
        return gwi, upi, port

    # ------------------------------------------------------------------ HTTP/2
    @staticmethod
    def h2_frame(kind, flags, stream, payload=b""):
        return struct.pack("!I", len(payload))[1:] + bytes((kind, flags)) + struct.pack("!I", stream) + payload

    @staticmethod
    def h2_literal(name, value):
        # RFC 7541 6.2.2: literal without indexing, new name, no Huffman; lengths under 127.
        return b"\x00" + bytes((len(name),)) + name + bytes((len(value),)) + value

    def h2_connection(self, c, nreq):
        """One h2c connection: nginx grpc_pass's preface and SETTINGS, then `nreq` streams one
        after another, each a request HEADERS and a response of HEADERS, DATA (16 KiB frames)
        and, for gRPC, trailers."""
        rng = self.rng
        f, lit = self.h2_frame, self.h2_literal
        yield [c.syn_frame(self, 0, SYN), c.syn_frame(self, 1, SYN | ACK), c.frame(self, 0, ACK)]
        opening = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                   + f(4, 0, 0, bytes.fromhex("00010000000000020000000000047fffffff"))
                   + f(8, 0, 0, b"\x7f\xff\x00\x00"))
        yield from self.send(c, 0, opening)
        yield from self.send(c, 1, f(4, 0, 0) + f(4, 1, 0))
        for i in range(nreq):
            if i > 0 and self.planned >= self.target:
                break
            stream = 2 * i + 1
            grpc = rng.random() < 0.5
            rid = self.uuid().encode()
            path = (b"/pkg.Service/Method%d" % rng.randrange(8)) if grpc else (b"/api/v1/items/%d" % rng.randrange(1, 10 ** 7))
            req = f(1, 5, stream, lit(b":method", b"POST" if grpc else b"GET") + lit(b":scheme", b"http")
                    + lit(b":path", path) + lit(b":authority", c.host.encode()) + lit(b"x-request-id", rid)
                    + (lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers") if grpc else b""))
            n = int(math.exp(rng.uniform(self.lblo, self.lbhi)))
            body = self.body(n)
            if grpc:
                body = b"\x00" + struct.pack("!I", len(body)) + body
            head = b"\x88" + (lit(b"content-type", b"application/grpc") if grpc else lit(b"content-length", str(len(body)).encode()))
            resp = f(1, 4, stream, head)
            for at in range(0, len(body), 16384):
                last = at + 16384 >= len(body) and not grpc
                resp += f(0, 1 if last else 0, stream, body[at:at + 16384])
            if grpc:
                resp += f(1, 5, stream, lit(b"grpc-status", b"0"))
            self.requests += 1
            self.planned += (self.estimate(len(req)) + self.estimate(len(resp)) - (self.avg_exchange if i == 0 else 0))
            yield from self.send(c, 0, req)
            yield from self.send(c, 1, resp)
            self.responses += 1
        yield [c.frame(self, 0, FIN | ACK)]
        yield [c.frame(self, 1, FIN | ACK), c.frame(self, 0, ACK)]
        self.live.discard(c.key)

    def connection(self, c, nreq):
        rng = self.rng
        if self.profile == "h2":
            yield from self.h2_connection(c, nreq)
            return
        # handshake (one burst)
        yield [c.syn_frame(self, 0, SYN), c.syn_frame(self, 1, SYN | ACK), c.frame(self, 0, ACK)]
        closer = 0
        aborted = False
        for i in range(nreq):
            # the first exchange was reserved when the connection was opened
            if i > 0 and self.planned >= self.target:
                break
            last = i == nreq - 1
            req, rid, post = self.build_request(c)
            self.requests += 1
            malformed = None
            if rng.random() < P_MALFORMED:
                malformed = rng.choice(MALFORM_KINDS)
            up_close = last and malformed is None and rng.random() < 0.5
            yield from self.send(c, 0, req)
            if malformed == "rst":
                self.malformed["rst"] += 1
                self.planned += self.estimate(len(req)) + 100 - (self.avg_exchange if i == 0 else 0)
                yield [c.frame(self, 1, RST | ACK)]
                aborted = True
                break
            resp = self.build_response(rid, post, up_close, malformed)
            self.planned += (self.estimate(len(req)) + self.estimate(len(resp)) -
                             (self.avg_exchange if i == 0 else 0))
            yield from self.send(c, 1, resp)
            self.responses += 1
            if malformed:
                self.malformed[malformed] += 1
                closer = 0
                break
            closer = 1 if up_close else 0
        if not aborted:
            o = 1 - closer
            yield [c.frame(self, closer, FIN | ACK)]
            yield [c.frame(self, o, FIN | ACK), c.frame(self, closer, ACK)]
        self.live.discard(c.key)

    def short_connection(self, c):
        """One HTTP/1.0 exchange on a new connection, closed by the upstream.
        Yields (frames, ns until the connection's next burst)."""
        rng = self.rng
        rtt = rng.randrange(100000, 400000)
        yield [c.syn_frame(self, 0, SYN)], rtt // 2
        yield [c.syn_frame(self, 1, SYN | ACK)], rtt // 2
        req, rid, post = self.build_request(c)
        self.requests += 1
        malformed = "space-colon" if rng.random() < P_SHORT_MALFORMED else None
        burst = [c.frame(self, 0, ACK)]
        for frames in self.send(c, 0, req):
            burst.extend(frames)
        think = int(math.exp(rng.uniform(math.log(300000), math.log(40000000))))
        yield burst, think
        # Resumed `think` after the request went out (self.clock is about now).
        requested = self.clock - think
        resp = self.build_response(rid, post, True, malformed)
        burst = []
        for frames in self.send(c, 1, resp):
            burst.extend(frames)
        burst.append(c.frame(self, 1, FIN | ACK))
        self.responses += 1
        if malformed:
            self.malformed[malformed] += 1
        yield burst, rng.randrange(30000, 200000)
        self.log_access(c, req, resp, requested, malformed is not None)
        yield [c.frame(self, 0, FIN | ACK)], rtt // 2
        yield [c.frame(self, 1, ACK)], 0
        self.live.discard(c.key)

    def log_access(self, c, req, resp, requested, malformed):
        """One line of the gateway's access log (--access-log), written now (self.clock is
        when the response's last frame went out); draws nothing from the generator's rng."""
        if self.access_log is None:
            return
        request = req.split(b"\r\n", 1)[0].decode("ascii")
        upstream_status = resp.split(b" ", 2)[1].decode("ascii")
        status = "502" if malformed else upstream_status
        now = self.clock
        sec, ns = divmod(now, 1000000000)
        self.access_log.write('%d.%03d %s "%d.%d.%d.%d:%d" "%s" "%s" %.3f\n' % (
            BASE_EPOCH + sec, ns // 1000000, status, *c.src[1], UP_PORT, upstream_status, request,
            max(0, now - requested) / 1e9))

    def emit_at(self, when, frames):
        """emit() at simulated time `when` (or just after the last frame)."""
        self.clock = max(self.clock, when - 1000)
        self.emit(frames)

    def run_short(self):
        """Connections start every 1/rate s and run concurrently: a queue of
        (time of next burst, connection number, generator)."""
        rng = self.rng
        interval = 1000000000 // self.rate
        queue = []
        start = 0
        n = 0
        avg = 2700                # approx. file bytes of one short connection
        while True:
            # next due: a new connection, or a burst of a live one
            if self.nbytes + len(queue) * avg < self.target and (not queue or start <= queue[0][0]):
                gwi = rng.randrange(SHORT_GATEWAYS)
                upi = rng.randrange(SHORT_UPSTREAMS)
                port = self.next_port.get((gwi, upi)) or rng.randint(EPH_LO, EPH_HI)
                while (gwi, upi, port) in self.live:
                    port = port + 1 if port < EPH_HI else EPH_LO
                self.next_port[(gwi, upi)] = port + 1 if port < EPH_HI else EPH_LO
                self.live.add((gwi, upi, port))
                self.clock = max(self.clock, start - 1000)
                c = Conn(self, gwi, upi, port)
                self.conns += 1
                heapq.heappush(queue, (start, n, self.short_connection(c)))
                n += 1
                start += interval + rng.randrange(-interval // 4, interval // 4 + 1)
                continue
            if not queue:
                break
            when, k, gen = heapq.heappop(queue)
            try:
                frames, delay = next(gen)
            except StopIteration:
                continue
            self.emit_at(when, frames)
            heapq.heappush(queue, (self.clock + delay, k, gen))
        self.flush()
        self.out.close()
        if self.access_log is not None:
            self.access_log.close()

    def spawn(self, active):
        rng = self.rng
        gwi, upi, port = self.alloc()
        c = Conn(self, gwi, upi, port)
        nreq = rng.randint(self.req_lo, self.req_hi)
        gen = self.connection(c, nreq)
        self.conns += 1
        self.planned += self.per_conn
        self.emit(next(gen))
        active.append(gen)

    def run(self):
        if self.short:
            return self.run_short()
        rng = self.rng
        active = []
        many = self.profile == "many-conns"
        while True:
            if many:
                room = (self.target - self.planned) // self.per_conn
                # first wave always; later waves only if a sizeable one still fits
                if not active and (self.conns == 0 or room >= min(self.concurrency, 1000)):
                    wave = min(self.concurrency, max(1, room))
                    if wave < self.concurrency and not self.wave_noted:
                        self.wave_noted = True
                        print("note: many-conns %s wave scaled to %d connections to fit --size-mb "
                              "(a wave of %d needs ~%d MB)" % (
                                  "first" if self.conns == 0 else "last", wave,
                                  self.concurrency, self.concurrency * self.per_conn >> 20),
                              file=sys.stderr)
                    for _ in range(wave):
                        self.spawn(active)
            else:
                while len(active) < self.concurrency and self.planned < self.target:
                    self.spawn(active)
            if not active:
                break
            i = rng.randrange(len(active))
            try:
                frames = next(active[i])
            except StopIteration:
                active[i] = active[-1]
                active.pop()
                continue
            self.emit(frames)
        self.flush()
        self.out.close()


def main():
    ap = argparse.ArgumentParser(description="Deterministic HTTP/1.1 gateway->upstream pcap generator")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size-mb", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="mixed")
    ap.add_argument("--concurrency", type=int, default=0,
                    help="live connections (default: 200; large 32; many-conns 100000)")
    ap.add_argument("--rate", type=int, default=SHORT_RATE,
                    help="short profile: new connections per second (default %d)" % SHORT_RATE)
    ap.add_argument("--nanosecond", action="store_true", help="write nanosecond pcap (magic 0xa1b23c4d)")
    ap.add_argument("--access-log", metavar="FILE",
                    help="short profile: also write the gateway's nginx access log of the traffic to FILE")
    args = ap.parse_args()
    if args.access_log and args.profile != "short":
        ap.error("--access-log is written for the short profile only")
    if args.size_mb <= 0 or args.concurrency < 0 or args.rate <= 0:
        ap.error("--size-mb must be > 0, --concurrency >= 0 and --rate > 0")
    g = Generator(args)
    g.run()
    m = g.malformed
    print("packets=%d connections=%d requests=%d responses=%d bytes=%d malformed=%d "
          "(space-colon=%d bad-chunk=%d cl-abc=%d rst=%d) out-of-order=%d retransmitted=%d "
          "profile=%s seed=%d duration=%.3fs" % (
              g.packets, g.conns, g.requests, g.responses, g.nbytes, sum(m.values()),
              m["space-colon"], m["bad-chunk"], m["cl-abc"], m["rst"], g.ooo, g.retx,
              g.profile, args.seed, g.clock / 1e9), file=sys.stderr)


if __name__ == "__main__":
    main()
