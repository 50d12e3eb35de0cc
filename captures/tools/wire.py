#!/usr/bin/env python3
"""A userspace "wire" between two network namespaces (stdlib only, Linux, root).

This kernel has no netem qdisc, so delay and loss are done here instead. wire.py
creates one TUN device in each namespace (IFF_TUN | IFF_NO_PI: raw IPv4 packets),
reads every packet one side sends and writes it into the other side, after a delay
or not at all:

  --delay-ms N        every packet, both ways, arrives N ms after it was sent
  --drop-syn-port P   SYNs from the gateway side to port P are dropped (connect timeout)
  --hold-data-ms N    gateway -> upstream segments that carry payload are held N ms;
                      handshake and pure ACK segments before them pass at once (so an
                      upstream that speaks first is seen to speak first on the upstream
                      side); every later segment of the same connection queues behind a
                      held one, so nothing is reordered within a direction of a connection

The gateway's namespace (--ns-a) gets device --dev-a, the upstream's (--ns-b) --dev-b.
The driver (run-scenario.py) gives them addresses and brings them up after the ready
file appears. The devices disappear when this process exits.

One log line per packet that was dropped or held, to --log.
"""

import argparse
import ctypes
import fcntl
import heapq
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    os.set_blocking(fd, False)
    return fd


def tcp_info(pkt):
    """(flags, dport, payload_len, sport) of an IPv4 TCP packet, or None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    if len(pkt) < ihl + 20:
        return None
    dport = struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0]
    doff = (pkt[ihl + 12] >> 4) * 4
    flags = pkt[ihl + 13]
    sport = struct.unpack("!H", pkt[ihl:ihl + 2])[0]
    return flags, dport, total - ihl - doff, sport


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns-a", required=True)
    ap.add_argument("--ns-b", required=True)
    ap.add_argument("--dev-a", default="esgw0")
    ap.add_argument("--dev-b", default="esup0")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--drop-syn-port", type=int, default=0)
    ap.add_argument("--hold-data-ms", type=float, default=0.0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()

    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    setns("/run/netns/" + args.ns_a)
    fa = open_tun(args.dev_a)
    setns("/run/netns/" + args.ns_b)
    fb = open_tun(args.dev_b)
    if libc.setns(home, CLONE_NEWNET) != 0:
        sys.exit("wire.py: cannot return to the original namespace")
    os.close(home)

    log = open(args.log, "a", buffering=1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(args.ready_file, "w") as f:
        f.write("%d\n" % os.getpid())

    queue = []  # (due, seq, fd, packet)
    last_due = {}  # (direction, sport, dport) -> due time of its last queued packet
    seq = 0
    counts = {"a2b": 0, "b2a": 0, "dropped": 0, "held": 0}
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
            except OSError as exc:
                log.write("%.6f write failed: %s\n" % (time.time(), exc))
        timeout = max(0.0, queue[0][0] - now) if queue else 0.2
        try:
            ready, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            while True:
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                now = time.monotonic()
                delay = args.delay_ms / 1000.0
                info = tcp_info(pkt)
                if fd == fa:
                    counts["a2b"] += 1
                    out = fb
                    if info and args.drop_syn_port and info[1] == args.drop_syn_port \
                            and info[0] & 0x02 and not info[0] & 0x10:
                        counts["dropped"] += 1
                        log.write("%.6f dropped SYN to port %d\n" % (time.time(), info[1]))
                        continue
                    if info and args.hold_data_ms and info[2] > 0:
                        counts["held"] += 1
                        delay += args.hold_data_ms / 1000.0
                        log.write("%.6f held a %d-byte data segment to port %d for %g ms\n"
                                  % (time.time(), info[2], info[1], args.hold_data_ms))
                else:
                    counts["b2a"] += 1
                    out = fa
                due = now + delay
                if info:
                    key = (fd == fa, info[3], info[1])
                    due = max(due, last_due.get(key, 0.0))   # FIFO within a connection
                    last_due[key] = due
                seq += 1
                heapq.heappush(queue, (due, seq, out, pkt))
    log.write("%.6f stopped: %s\n" % (time.time(), counts))


if __name__ == "__main__":
    main()
