#!/usr/bin/env python3
"""Peak memory of `edgescope capture --gateway-log` over time, as a busy gateway's access log grows.

    sudo Benchmarks/capture-log-memory.py [--edgescope BIN] [--rate LINES_PER_SECOND] [--seconds N]

Runs `capture -i lo --filter 'tcp port 9'` (loopback only; nothing on port 9, so no connection is
seen) with `--gateway-log` on a fresh file, and appends nginx access lines stamped with the
present time to that file at RATE a second (default 5000) for N seconds (default 60). Prints the
capture's resident memory (VmRSS) every 10 s, then its exit status. Memory that stays flat means
lines are let go once nothing the final report lists can join them; memory that grows by the
same amount every 10 s means every line is held. Run it with `--rate 0` for the capture's own
baseline. Needs root (capture opens the interface, then runs as nobody).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

FORMAT = 'nginx:$msec $status "$upstream_addr" "$upstream_status" "$request" $request_time'


def rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edgescope", default=os.path.join(here, "..", ".build", "release", "edgescope"))
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("capture-log-memory: needs root (capture opens lo)", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="edgescope-log-memory-")
    # capture writes its reports as nobody.
    os.chmod(work, 0o755)
    log = os.path.join(work, "access.log")
    open(log, "w").close()
    proc = subprocess.Popen(
        [args.edgescope, "capture", "-i", "lo", "--filter", "tcp port 9", "--duration", str(args.seconds + 2),
         "--gateway-log", log, "--gateway-log-format", FORMAT, "--out", os.path.join(work, "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    stop = threading.Event()

    def write_lines():
        written = 0
        start = time.time()
        with open(log, "a") as f:
            while not stop.is_set():
                due = int((time.time() - start) * args.rate)
                while written < due:
                    f.write('%.3f 200 "10.0.3.%d:8080" "200" "GET /api/v1/orders/%d HTTP/1.0" 0.001\n'
                            % (time.time(), 10 + written % 3, written))
                    written += 1
                f.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=write_lines)
    writer.start()
    samples = []
    try:
        for second in range(1, args.seconds + 1):
            time.sleep(1)
            if second % 10 == 0:
                samples.append("%ds %s MiB" % (second, rss_mib(proc.pid)))
    finally:
        stop.set()
        writer.join()
    try:
        status = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    print("rate %d lines/s: %s; exit %d" % (args.rate, ", ".join(samples), status))
    if status != 0:
        print(stderr[-600:], file=sys.stderr)
    shutil.rmtree(work)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
