#!/usr/bin/env bash
# Writes the benchmark captures with generate-capture.py into a cache directory
# (default Benchmarks/.captures, not committed).  Deterministic: same generator,
# same arguments, same bytes.  A capture is rewritten only when it is missing or
# when the generator or its arguments changed (NAME.stamp records both).
#
#   smoke-5MB          mixed, 5 MB: the smoke run's only capture
#   mixed-30MB         mixed, 30 MB
#   mixed-300MB        mixed, 300 MB
#   small-100MB        many small responses (50..800 B bodies)
#   large-100MB        few large responses (256 KiB..8 MiB bodies, 32 at a time)
#   many-conns-200MB   one wave of 100,000 concurrent connections
#   short-150MB        one request per connection, 5,000 new connections a second, with
#                      the gateway's access log of it (short-150MB.access.log)
#   short-600MB        the same traffic for four times as long (memory flat in time)
#   h2-30MB            HTTP/2 (h2c): 20..200 streams per connection, half of them gRPC
#
# Usage: make-captures.sh [--smoke] [--dir DIR] [--capture NAME PROFILE SIZE_MB]...
#   --smoke     only smoke-5MB
#   --dir       cache directory (default: $EDGESCOPE_BENCH_CAPTURES or Benchmarks/.captures)
#   --capture   only this capture (repeatable): DIR/NAME.pcap of PROFILE and SIZE_MB
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${EDGESCOPE_BENCH_CAPTURES:-$here/.captures}
smoke=0
only=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --smoke) smoke=1; shift ;;
        --dir) [[ $# -ge 2 ]] || { echo "--dir needs a directory" >&2; exit 2; }; dir=$2; shift 2 ;;
        --capture) [[ $# -ge 4 ]] || { echo "--capture needs NAME PROFILE SIZE_MB" >&2; exit 2; }
            only+=("$2 $3 $4"); shift 4 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

mkdir -p "$dir"
generator="$here/generate-capture.py"
generator_sum=$(sha256sum "$generator" | cut -d' ' -f1)

# capture NAME ARGS...: generate $dir/NAME.pcap with ARGS unless it is already up to date.
capture() {
    local name=$1; shift
    local out="$dir/$name.pcap" stamp="$dir/$name.stamp"
    local want="$generator_sum $*"
    if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    echo "generating $out ($*)" >&2
    rm -f "$stamp"
    python3 "$generator" --out "$out.tmp" "$@" 2>"$dir/$name.log" || { cat "$dir/$name.log" >&2; exit 1; }
    mv "$out.tmp" "$out"
    echo "$want" >"$stamp"
    tail -n 1 "$dir/$name.log" >&2
}

if [[ ${#only[@]} -gt 0 ]]; then
    for spec in "${only[@]}"; do
        read -r name profile size <<<"$spec"
        if [[ $profile == short ]]; then
            capture "$name" --profile "$profile" --size-mb "$size" --access-log "$dir/$name.access.log"
        else
            capture "$name" --profile "$profile" --size-mb "$size"
        fi
    done
    exit 0
fi

capture smoke-5MB --profile mixed --size-mb 5
if [[ $smoke -eq 0 ]]; then
    capture mixed-30MB --profile mixed --size-mb 30
    capture mixed-300MB --profile mixed --size-mb 300
    capture small-100MB --profile small --size-mb 100
    capture large-100MB --profile large --size-mb 100
    capture many-conns-200MB --profile many-conns --size-mb 200
    capture short-150MB --profile short --size-mb 150 --access-log "$dir/short-150MB.access.log"
    capture short-600MB --profile short --size-mb 600 --access-log "$dir/short-600MB.access.log"
    capture h2-30MB --profile h2 --size-mb 30
fi
