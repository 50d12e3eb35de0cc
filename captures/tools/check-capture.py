#!/usr/bin/env python3
"""Check one sample capture against its truth file with tshark and capinfos.

  check-capture.py --dir DIR --truth DIR/NAME.truth.json

Checks (exit 1 on any mismatch):
  * the file is under 200 KB (or the truth's size_limit_bytes) and capinfos reads it;
  * capinfos' encapsulation matches truth.link_type;
  * `tshark -q -z conv,tcp` counts exactly len(expected_connections) conversations (plus
    len(client_hop_connections) when the capture also holds the client -> gateway hop);
  * the gateway SYNs (client -> server) are exactly the expected connections
    (a null client matches any client port to that server), and the clients' SYNs to the
    gateway exactly the client_hop_connections;
  * no frame is a byte-for-byte duplicate of another at the IP/TCP level
    (what a doubled `-i any` capture on loopback would show);
  * every connection that was established ends with an RST or a FIN each way;
  * every evidence_frame exists and matches its evidence_filter (tshark), and a
    connection with a finding other than `none` has one.
Prints one summary line. Python 3 stdlib only (plus the tshark/capinfos programs).
"""

import argparse
import collections
import csv
import io
import json
import os
import subprocess
import sys

ENCAP = {"EN10MB": "ether", "LINUX_SLL2": "linux-sll2", "LINUX_SLL": "linux-sll",
         "NULL": "null", "RAW": "rawip"}


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("check-capture.py: %s failed: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout


def endpoint(ip4, ip6, port):
    return ("[%s]:%s" % (ip6, port)) if ip6 else ("%s:%s" % (ip4, port))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--truth", required=True)
    args = ap.parse_args()
    with open(args.truth) as f:
        truth = json.load(f)
    path = os.path.join(args.dir, truth["capture"])
    problems = []

    size = os.path.getsize(path)
    limit = truth.get("size_limit_bytes", 200 * 1024)
    if size >= limit:
        problems.append("file is %d bytes (limit %d)" % (size, limit))

    info = next(csv.DictReader(io.StringIO(run(["capinfos", "-T", "-m", path]))))
    encap = info["File encapsulation"]
    want = ENCAP.get(truth["link_type"])
    if encap != want:
        problems.append("capinfos encapsulation %s, truth link_type %s" % (encap, truth["link_type"]))

    conv = run(["tshark", "-r", path, "-q", "-z", "conv,tcp"])
    n_conv = sum(1 for line in conv.splitlines() if "<->" in line)
    # The client -> gateway connections of a capture of both hops are SYN pairs like the others.
    expected = truth["expected_connections"] + truth.get("client_hop_connections", [])
    if n_conv != len(expected):
        problems.append("tshark conv,tcp: %d conversations, truth: %d" % (n_conv, len(expected)))

    syns = run(["tshark", "-r", path, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0",
                "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport"])
    seen = []
    for line in syns.splitlines():
        s4, s6, sp, d4, d6, dp = line.split("\t")
        pair = (endpoint(s4, s6, sp), endpoint(d4, d6, dp))
        if pair not in seen:      # a retransmitted SYN is the same connection attempt
            seen.append(pair)
    remaining = list(seen)
    for e in sorted(expected, key=lambda e: e["client"] is None):
        hit = None
        for i, (c, s) in enumerate(remaining):
            if s == e["server"] and (e["client"] is None or e["client"] == c):
                hit = i
                break
        if hit is None:
            problems.append("no SYN for expected %s -> %s" % (e["client"], e["server"]))
        else:
            remaining.pop(hit)
    if remaining:
        problems.append("SYNs not in the truth: %s" % remaining)

    frames = run(["tshark", "-r", path, "-T", "fields", "-e", "ip.src", "-e", "ipv6.src",
                  "-e", "ip.dst", "-e", "ipv6.dst", "-e", "ip.id", "-e", "tcp.srcport",
                  "-e", "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw",
                  "-e", "tcp.flags", "-e", "tcp.len", "-e", "tcp.window_size_value",
                  "-e", "tcp.options"])
    counts = collections.Counter(frames.splitlines())
    dups = sum(n - 1 for n in counts.values() if n > 1)
    if dups:
        problems.append("%d duplicated frame(s)" % dups)

    # Every connection must be complete in the file: an RST, or a FIN each way.
    # (A capture stopped too early loses its last packets; this catches it.)
    ends = run(["tshark", "-r", path, "-Y", "tcp.flags.fin == 1 || tcp.flags.reset == 1",
                "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.flags.fin",
                "-e", "tcp.flags.reset"])
    fins = collections.defaultdict(set)
    rst = set()
    for line in ends.splitlines():
        stream, sport, fin, reset = line.split("\t")
        if reset in ("1", "True"):
            rst.add(stream)
        if fin in ("1", "True"):
            fins[stream].add(sport)
    # A connection never established (connect timeout: SYNs only) cannot end.
    streams = set(run(["tshark", "-r", path, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 1",
                       "-T", "fields", "-e", "tcp.stream"]).split())
    unfinished = sorted(s for s in streams if s not in rst and len(fins[s]) < 2)
    if unfinished:
        problems.append("connection(s) without RST or FIN both ways (capture cut short?): tcp.stream %s"
                        % ", ".join(unfinished))

    for e in truth["expected_connections"]:
        if "evidence_frame" not in e:
            problems.append("%s: no evidence_frame field" % e["client"])
            continue
        if e["evidence_frame"] is None:
            if e.get("finding", "none") != "none":
                problems.append("%s: finding %s without an evidence frame" % (e["client"], e["finding"]))
            continue
        hit = run(["tshark", "-r", path, "-Y", "frame.number == %d && (%s)"
                   % (e["evidence_frame"], e["evidence_filter"]), "-T", "fields", "-e", "frame.number"])
        if hit.strip() != str(e["evidence_frame"]):
            problems.append("evidence frame %d does not match %r" % (e["evidence_frame"], e["evidence_filter"]))

    verdicts = collections.Counter(e["verdict"] for e in truth["expected_connections"])
    summary = "%s: %d bytes, %s, %s, %s packets, %d TCP connection(s), verdicts %s, duplicates %d" % (
        truth["capture"], size, truth["link_type"], info["File time precision"],
        info["Number of packets"], n_conv,
        ", ".join("%s x%d" % kv for kv in sorted(verdicts.items())), dups)
    if problems:
        print(summary)
        sys.exit("check-capture.py: %s: %s" % (truth["capture"], "; ".join(problems)))
    print(summary)


if __name__ == "__main__":
    main()
