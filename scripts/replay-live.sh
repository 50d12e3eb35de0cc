#!/usr/bin/env bash
# Replays a capture onto a veth pair whose far end is in a network namespace of its own, with
# `edgescope capture` listening on that far end: how a live capture keeps up with a busy link.
# Prints what tcpreplay sent, what edgescope received and the kernel dropped, its CPU time
# and peak memory, and its verdict totals next to `edgescope analyze` of the same file.
#
# Usage: scripts/replay-live.sh [--mbps N | --topspeed] [--edgescope BIN] [--keep DIR] FILE
#   FILE        an Ethernet capture (Benchmarks/generate-capture.py writes one)
#   --mbps N    replay rate (default 1000); --topspeed: as fast as tcpreplay can
#   --edgescope the binary (default .build/release/edgescope)
#   --keep DIR  leave the live run's report.json, incidents.jsonl and slices in DIR
# Needs root, tcpreplay and /usr/bin/time (apt-get install tcpreplay time). The namespace and
# the veth pair are deleted on exit; no packet leaves them.
set -euo pipefail

usage() { echo "usage: $0 [--mbps N | --topspeed] [--edgescope BIN] [--keep DIR] FILE" >&2; exit 2; }

rate=(--mbps 1000)
edgescope=.build/release/edgescope
keep=""
file=""
while [[ $# -gt 0 ]]; do
    arg=$1; shift
    case "$arg" in
        --mbps) [[ $# -gt 0 ]] || usage; rate=(--mbps "$1"); shift ;;
        --topspeed) rate=(--topspeed) ;;
        --edgescope) [[ $# -gt 0 ]] || usage; edgescope=$1; shift ;;
        --keep) [[ $# -gt 0 ]] || usage; keep=$1; shift ;;
        -h|--help) usage ;;
        -*) echo "unknown option: $arg" >&2; usage ;;
        *) [[ -z "$file" ]] || usage; file=$arg ;;
    esac
done
[[ -n "$file" ]] || usage
[[ $(id -u) -eq 0 ]] || { echo "replay-live: needs root (network namespaces, packet capture)" >&2; exit 2; }
for tool in tcpreplay /usr/bin/time ip python3; do
    command -v "$tool" >/dev/null || { echo "replay-live: $tool is missing (apt-get install tcpreplay time iproute2 python3)" >&2; exit 2; }
done
[[ -x "$edgescope" ]] || { echo "replay-live: $edgescope is not built (swift build -c release)" >&2; exit 2; }
edgescope=$(realpath "$edgescope")

ns=edgescope-replay-$$
send=esr$$s
recv=esr$$r
work=$(mktemp -d /tmp/replay-live.XXXXXX)
chmod 755 "$work"   # the capture runs as nobody once the interface is open
capture_pid=""
cleanup() {
    [[ -n "$capture_pid" ]] && kill "$capture_pid" 2>/dev/null || true
    ip link del "$send" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    if [[ -n "$keep" && -d "$work/live" ]]; then mkdir -p "$keep" && cp -r "$work/live/." "$keep/"; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip link add "$send" type veth peer name "$recv" netns "$ns"
# Nothing but the replayed frames on the link: no IPv6 autoconfiguration chatter.
sysctl -qw "net.ipv6.conf.$send.disable_ipv6=1"
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$recv.disable_ipv6=1"
ip link set "$send" up
ip -n "$ns" link set "$recv" up
ip -n "$ns" link set lo up

echo "replay-live: offline analysis of $file" >&2
"$edgescope" analyze "$file" --json > "$work/offline.json"

ip netns exec "$ns" /usr/bin/time -v -o "$work/time.txt" \
    "$edgescope" capture -i "$recv" --filter tcp --out "$work/live" ${EXTRA:-} ${EXTRA:-} 2> "$work/capture.err" > /dev/null &
time_pid=$!
for _ in $(seq 1 100); do
    grep -q "capturing on" "$work/capture.err" 2>/dev/null && break
    sleep 0.1
done
grep -q "capturing on" "$work/capture.err" || { cat "$work/capture.err" >&2; echo "replay-live: the capture did not start" >&2; exit 1; }
# `ip netns exec` execs time(1), whose child is edgescope: signal edgescope, not time.
capture_pid=$(pgrep -P "$time_pid" -f "capture -i $recv")

echo "replay-live: tcpreplay ${rate[*]} onto $send" >&2
tcpreplay -i "$send" "${rate[@]}" "$file" > "$work/tcpreplay.txt" 2>&1
# Closed connections are judged 5 s after their close; then stop and let it write its reports.
sleep 6
kill -TERM "$capture_pid"
wait "$time_pid" || { cat "$work/capture.err" >&2; echo "replay-live: the capture failed" >&2; exit 1; }
capture_pid=""
[[ -f "$work/live/report.json" ]] || { cat "$work/capture.err" "$work/time.txt" >&2; echo "replay-live: the capture wrote no report" >&2; exit 1; }

python3 - "$work" <<'EOF'
import json, re, sys
work = sys.argv[1]
replay = open(f"{work}/tcpreplay.txt").read()
timing = open(f"{work}/time.txt").read()
live = json.load(open(f"{work}/live/report.json"))
offline = json.load(open(f"{work}/offline.json"))
def grab(pattern, text, default="?"):
    m = re.search(pattern, text)
    return m.group(1) if m else default
cap = live["capture"]
print("tcpreplay:  %s packets, %s bytes in %s s (%s Mbps)" % (
    grab(r"Actual: (\d+) packets", replay), grab(r"\((\d+) bytes\)", replay),
    grab(r"sent in ([\d.]+) seconds", replay), grab(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps", replay)))
print("edgescope:  received %s, kernel drops %s, interface drops %s, frames analysed %s" % (
    cap["received"], cap["kernel_drops"], cap["interface_drops"], live["source"]["packets"]))
user = float(grab(r"User time \(seconds\): ([\d.]+)", timing, "0"))
system = float(grab(r"System time \(seconds\): ([\d.]+)", timing, "0"))
wall = grab(r"Elapsed \(wall clock\) time.*: (.*)", timing)
print("edgescope:  CPU %.2f s user + %.2f s system over %s wall; peak RSS %s KiB" % (
    user, system, wall, grab(r"Maximum resident set size \(kbytes\): (\d+)", timing)))
for name, report in (("offline", offline), ("live", live)):
    t = report["totals"]
    causes = {}
    for row in report["upstreams"]:
        for code, n in row["causes"].items():
            causes[code] = causes.get(code, 0) + n
    print("%-8s    %d connections, %d failed: %s" % (name, t["connections"], t["failed"],
          ", ".join("%s %d" % kv for kv in sorted(causes.items()))))
EOF
