#!/usr/bin/env python3
"""The process harness the capture drivers in captures/tools share (stdlib only), imported as
`capture_run` (run-scenario.py re-exports it to client-hop-run.py).

Every process a driver starts (gateway, upstream, tcpdump, wire.py) goes through start(), which
remembers it; cleanup() stops them all in reverse start order (and deletes the network namespaces
a driver listed in NAMESPACES), on exit, on error and on SIGINT/SIGTERM. A failed step raises Fail.
Log lines go to stderr as `[DRIVER] message`, DRIVER the running script's name."""
import os
import subprocess
import sys
import time

PROCS = []          # [(name, Popen, stop signal)] in start order
NAMESPACES = []     # network namespaces to delete on cleanup (run-scenario.py's Net)
DRIVER = os.path.splitext(os.path.basename(sys.argv[0] or "capture_run"))[0]


class Fail(Exception):
    pass


def log(msg):
    sys.stderr.write("[%s] %s\n" % (DRIVER, msg))
    sys.stderr.flush()


def ns_prefix(ns):
    return ["ip", "netns", "exec", ns] if ns else []


def start(name, cmd, sig, ns=None, stdout=None, stderr=None, env=None):
    p = subprocess.Popen(ns_prefix(ns) + cmd, stdout=stdout or subprocess.DEVNULL,
                         stderr=stderr or subprocess.DEVNULL, env=env)
    PROCS.append((name, p, sig))
    return p


def stop(p, sig, wait=5.0):
    if p.poll() is not None:
        return p.returncode
    p.send_signal(sig)
    try:
        return p.wait(wait)
    except subprocess.TimeoutExpired:
        log("pid %d ignored signal %d; killing it" % (p.pid, sig))
        p.kill()
        return p.wait()


def stop_named(name):
    for n, p, sig in list(PROCS):
        if n == name:
            stop(p, sig)
            PROCS.remove((n, p, sig))


def cleanup():
    for n, p, sig in reversed(PROCS):
        stop(p, sig)
    PROCS.clear()
    for ns in NAMESPACES:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    NAMESPACES.clear()


def wait_for(secs, what, fn):
    deadline = time.time() + secs
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise Fail("timed out waiting for %s" % what)


def listening(port, ns=None):
    out = subprocess.run(ns_prefix(ns) + ["ss", "-Htln", "( sport = :%d )" % port],
                         stdout=subprocess.PIPE, text=True).stdout
    return bool(out.strip())


def sh(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise Fail("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r.stdout


def check_no_drops(tcpdump_stderr):
    """Fails unless tcpdump's summary (in the file it wrote its stderr to) counts no dropped packets."""
    summary = open(tcpdump_stderr).read()
    if "\n0 packets dropped by kernel" not in "\n" + summary:
        raise Fail("tcpdump dropped packets: " + summary.strip())


def stop_capture(tcpdump_stderr, pause=0.3, then=()):
    """Ends a run: the gateway first, then after `pause` (for its last packets) tcpdump, then the
    processes named in `then`; fails if tcpdump dropped packets."""
    stop_named("gateway")
    time.sleep(pause)
    stop_named("tcpdump")
    for name in then:
        stop_named(name)
    check_no_drops(tcpdump_stderr)
