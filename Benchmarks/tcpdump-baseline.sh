#!/usr/bin/env bash
# Baseline cost of reading a capture with standard tools, for comparison with
# edgescope.  Prints wall time and peak RSS (from /usr/bin/time -v) for:
#   tcpdump -r FILE -w /dev/null
#   tcpdump -nn -r FILE > /dev/null   (also decodes and prints every packet)
#   tshark  -r FILE -q -z expert      (if installed; skipped with --no-tshark)
#   edgescope analyze FILE --out DIR  (with --edgescope BIN, e.g. .build/release/edgescope)
#
# Note: with default preferences tshark does not reassemble out-of-order TCP
# segments, so after each reordered segment in generated captures it loses
# HTTP sync and reports "Illegal characters"/"Malformed"; add
# -o tcp.reassemble_out_of_order:TRUE by hand to see only the intended errors.
#
# Usage: tcpdump-baseline.sh [--no-tshark] [--edgescope BIN] FILE
# Needs: tcpdump, /usr/bin/time (apt package "time"); optionally tshark.
set -euo pipefail

usage() { echo "usage: $0 [--no-tshark] [--edgescope BIN] FILE" >&2; exit 2; }

no_tshark=0
edgescope=""
file=""
while [[ $# -gt 0 ]]; do
    arg=$1; shift
    case "$arg" in
        --no-tshark) no_tshark=1 ;;
        --edgescope) [[ $# -gt 0 ]] || usage; edgescope=$1; shift ;;
        -h|--help) usage ;;
        -*) echo "unknown option: $arg" >&2; usage ;;
        *) [[ -z "$file" ]] || usage; file="$arg" ;;
    esac
done
[[ -n "$file" ]] || usage
[[ -r "$file" ]] || { echo "cannot read $file" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "tcpdump missing (apt-get install tcpdump)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME CMD...: time CMD (stdout discarded), append a table row
rows=()
run() {
    local name=$1; shift
    local log="$tmp/time.log" rc=0
    /usr/bin/time -v -o "$log" "$@" >/dev/null 2>"$tmp/stderr" || rc=$?
    local wall rss
    wall=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log")
    wall=${wall:-0}; rss=${rss:-0}
    # convert [h:]m:ss.ss to seconds
    local secs
    secs=$(awk -v t="$wall" 'BEGIN { n = split(t, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.2f", s }')
    local note=""
    if [[ $rc -ne 0 ]]; then
        note="exit $rc: $(head -c 120 "$tmp/stderr" | tr '\n' ' ')"
    fi
    local row
    row=$(printf '%-34s %10s %12s' "$name" "$secs" "$((rss / 1024))")
    [[ -z "$note" ]] || row="$row  $note"
    rows+=("$row")
}

size_mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", b / 1048576 }')

run "tcpdump -r FILE -w /dev/null" tcpdump -r "$file" -w /dev/null
# same read plus per-packet decoding and printing (output discarded)
run "tcpdump -nn -r FILE >/dev/null" tcpdump -nn -r "$file"

if [[ -n "$edgescope" ]]; then
    run "edgescope analyze FILE --out DIR" "$edgescope" analyze "$file" --out "$tmp/edgescope-out"
fi

tshark_note=""
if [[ $no_tshark -eq 1 ]]; then
    tshark_note="tshark skipped (--no-tshark)"
elif ! command -v tshark >/dev/null; then
    tshark_note="tshark not installed, skipped"
else
    run "tshark -r FILE -q -z expert" tshark -r "$file" -q -z expert
fi

echo "file: $file (${size_mb} MB)"
printf '%-34s %10s %12s\n' "command" "wall_s" "peak_rss_MB"
printf '%s\n' "${rows[@]}"
[[ -z "$tshark_note" ]] || echo "note: $tshark_note"
