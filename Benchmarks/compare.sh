#!/usr/bin/env bash
# Times edgescope against the floor and the incumbents on the same capture, in one
# run, and checks issue 7's targets:
#   bare read   a tiny C loop over pcap_next_ex (bare-read.c, built here with cc -O2 -lpcap)
#   tcpdump     tcpdump -r FILE -w /dev/null
#   tshark      tshark -r FILE -q -z expert
#   edgescope   edgescope analyze FILE --out DIR   (and, for reference, without --out)
# Warm cache (the file is read once, untimed, first); best of N runs by wall time
# (default 3; tshark 1); peak RSS from /usr/bin/time -v (the highest of the runs);
# wall time from the shell's nanosecond clock (time -v rounds to 10 ms); CPU is
# user+sys of the best run (10 ms resolution), shown because on a busy machine wall
# time includes waiting for a core.  GB/s is 10^9 bytes of capture file per second.
#
# Usage:
#   compare.sh [options] FILE
#   compare.sh [options] --size-mb N          generate a mixed capture of N MB first
#   compare.sh [options] --memory-scaling     peak memory on the mixed capture of
#                                             --size-mb (default 300) and one --factor
#                                             (default 10) times larger
#   compare.sh [options] --short              the short-connection shape (issue 16): bare
#                                             read and edgescope with and without --out on
#                                             short-600MB, short-150MB and mixed-300MB, in one
#                                             run, with issue 16's targets (no tcpdump, tshark),
#                                             and short-150MB with its access log as --gateway-log
# Options:
#   --edgescope BIN   the binary to time (default .build/release/edgescope; built
#                     with `swift build -c release` when that is missing)
#   --runs N          runs per command (default 3)
#   --tshark-runs N   runs of tshark (default 1)
#   --no-tshark       skip tshark
#   --dir DIR         where --size-mb captures go (default Benchmarks/.captures)
#   --big-dir DIR     where --memory-scaling puts the large capture (default /tmp)
#   --factor F        size ratio for --memory-scaling (default 10)
#   --threads N       also time `edgescope analyze FILE --out DIR --threads N`
# Needs: cc, libpcap-dev, tcpdump (not for --short), tshark, time (Debian packages of those names).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { sed -n '2,34p' "$0" >&2; exit 2; }

edgescope="$root/.build/release/edgescope"
edgescope_given=0
runs=3
tshark_runs=1
no_tshark=0
size_mb=""
dir=${EDGESCOPE_BENCH_CAPTURES:-$here/.captures}
big_dir=/tmp
factor=10
memory_scaling=0
short=0
threads=""
file=""
while [[ $# -gt 0 ]]; do
    arg=$1; shift
    case "$arg" in
        --edgescope) [[ $# -gt 0 ]] || usage; edgescope=$1; edgescope_given=1; shift ;;
        --runs) [[ $# -gt 0 ]] || usage; runs=$1; shift ;;
        --tshark-runs) [[ $# -gt 0 ]] || usage; tshark_runs=$1; shift ;;
        --no-tshark) no_tshark=1 ;;
        --size-mb) [[ $# -gt 0 ]] || usage; size_mb=$1; shift ;;
        --dir) [[ $# -gt 0 ]] || usage; dir=$1; shift ;;
        --big-dir) [[ $# -gt 0 ]] || usage; big_dir=$1; shift ;;
        --factor) [[ $# -gt 0 ]] || usage; factor=$1; shift ;;
        --memory-scaling) memory_scaling=1 ;;
        --short) short=1 ;;
        --threads) [[ $# -gt 0 ]] || usage; threads=$1; shift ;;
        -h|--help) usage ;;
        -*) echo "unknown option: $arg" >&2; usage ;;
        *) [[ -z "$file" ]] || usage; file=$arg ;;
    esac
done

# --short times no tcpdump: only the other modes need it.
needed=(cc)
[[ $short -eq 1 ]] || needed+=(tcpdump)
for tool in "${needed[@]}"; do
    command -v "$tool" >/dev/null || { echo "$tool missing (apt-get install $tool)" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }
[[ -f /usr/include/pcap/pcap.h ]] || { echo "pcap.h missing (apt-get install libpcap-dev)" >&2; exit 1; }
if [[ $no_tshark -eq 0 ]] && ! command -v tshark >/dev/null; then
    echo "note: tshark not installed (apt-get install tshark), skipped" >&2
    no_tshark=1
fi
if [[ ! -x "$edgescope" ]]; then
    if [[ $edgescope_given -eq 1 ]]; then
        echo "$edgescope is not an executable" >&2; exit 1
    fi
    echo "building $edgescope (swift build -c release)" >&2
    (cd "$root" && swift build -c release --product edgescope >&2)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -o "$tmp/bare-read" "$here/bare-read.c" -lpcap

# measure NAME RUNS CMD...: runs CMD (stdout to /dev/null) RUNS times after $tmp/out is
# removed; keeps the best wall time, that run's CPU time, and the highest peak RSS.
declare -A wall_ns cpu_s rss_kb note
measure() {
    local name=$1 n=$2; shift 2
    local best="" best_cpu="" max_rss=0 i
    note[$name]=""
    for ((i = 0; i < n; i++)); do
        rm -rf "$tmp/out"
        local start end rc=0
        start=$(date +%s%N)
        /usr/bin/time -v -o "$tmp/time.log" "$@" >/dev/null 2>"$tmp/stderr" || rc=$?
        end=$(date +%s%N)
        local elapsed=$((end - start)) rss user sys
        rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tmp/time.log")
        user=$(sed -n 's/^[[:space:]]*User time (seconds): //p' "$tmp/time.log")
        sys=$(sed -n 's/^[[:space:]]*System time (seconds): //p' "$tmp/time.log")
        if [[ $rc -ne 0 ]]; then
            note[$name]="exit $rc: $(grep -v '^Command exited' "$tmp/stderr" | head -c 100 | tr '\n' ' ')"
        fi
        ((${rss:-0} > max_rss)) && max_rss=${rss:-0}
        if [[ -z "$best" || $elapsed -lt $best ]]; then
            best=$elapsed
            best_cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.2f", u + s }')
        fi
    done
    wall_ns[$name]=$best
    cpu_s[$name]=$best_cpu
    rss_kb[$name]=$max_rss
}

secs() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.1f", a / b }'; }
gbps() { awk -v bytes="$1" -v ns="$2" 'BEGIN { printf "%.2f", bytes / ns }'; }
verdict() { if awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { exit !((op == "<=" && v <= t) || (op == ">=" && v >= t) || (op == "<" && v < t)) }'; then echo met; else echo MISSED; fi; }

# generate NAME SIZE DIR [PROFILE]: a capture (mixed by default) through make-captures.sh
# (reused when up to date)
generate() {
    "$here/make-captures.sh" --dir "$3" --capture "$1" "${4:-mixed}" "$2" >&2
    echo "$3/$1.pcap"
}

machine() {
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

compare_file() {
    local file=$1
    local bytes packets
    bytes=$(stat -c %s "$file")
    cat "$file" >/dev/null  # warm the page cache, untimed
    packets=$("$tmp/bare-read" "$file" | sed -n 's/^packets=\([0-9]*\).*/\1/p')

    measure bare "$runs" "$tmp/bare-read" "$file"
    measure tcpdump "$runs" tcpdump -r "$file" -w /dev/null
    measure edgescope "$runs" "$edgescope" analyze "$file" --out "$tmp/out"
    measure edgescope_noout "$runs" "$edgescope" analyze "$file"
    [[ -z "$threads" ]] || measure edgescope_threads "$runs" "$edgescope" analyze "$file" --out "$tmp/out" --threads "$threads"
    [[ $no_tshark -eq 1 ]] || measure tshark "$tshark_runs" tshark -r "$file" -q -z expert

    echo "file: $file ($(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB, $packets packets)"
    machine
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ); warm cache; best of $runs runs by wall time (tshark: $tshark_runs); edgescope: $edgescope"
    echo
    echo "| command | wall | CPU | peak RSS | GB/s | × bare read | CPU × bare read |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    local key label
    for key in bare tcpdump edgescope edgescope_noout edgescope_threads tshark; do
        [[ -n "${wall_ns[$key]:-}" ]] || continue
        case "$key" in
            bare) label="bare libpcap read loop (pcap_next_ex)" ;;
            tcpdump) label="\`tcpdump -r FILE -w /dev/null\`" ;;
            edgescope) label="\`edgescope analyze FILE --out DIR\`" ;;
            edgescope_noout) label="\`edgescope analyze FILE\` (no --out)" ;;
            edgescope_threads) label="\`edgescope analyze FILE --out DIR --threads $threads\`" ;;
            tshark) label="\`tshark -r FILE -q -z expert\`" ;;
        esac
        echo "| $label | $(secs "${wall_ns[$key]}") s | ${cpu_s[$key]} s | $(mib "${rss_kb[$key]}") MiB | $(gbps "$bytes" "${wall_ns[$key]}") | $(ratio "${wall_ns[$key]}" "${wall_ns[bare]}") | $(ratio "${cpu_s[$key]}" "${cpu_s[bare]}") |${note[$key]:+ ${note[$key]}}"
    done
    echo
    local r
    echo "targets (issue 7), for edgescope analyze FILE --out DIR:"
    r=$(ratio "${wall_ns[edgescope]}" "${wall_ns[bare]}")
    printf '  %-28s %10s   target <= 3x      %s\n' "edgescope / bare read" "${r}x" "$(verdict "$r" "<=" 3)"
    if [[ -n "${wall_ns[tshark]:-}" ]]; then
        r=$(ratio "${wall_ns[tshark]}" "${wall_ns[edgescope]}")
        printf '  %-28s %10s   target >= 20x     %s\n' "tshark / edgescope" "${r}x" "$(verdict "$r" ">=" 20)"
    fi
    r=$(gbps "$bytes" "${wall_ns[edgescope]}")
    printf '  %-28s %10s   target >= 1 GB/s  %s\n' "throughput" "$r GB/s" "$(verdict "$r" ">=" 1)"
    r=$(mib "${rss_kb[edgescope]}")
    printf '  %-28s %10s   target < 64 MiB   %s\n' "peak memory" "$r MiB" "$(verdict "$r" "<" 64)"
    r=$(ratio "${wall_ns[edgescope_noout]}" "${wall_ns[bare]}")
    printf '  %-28s %10s   (without --out, for reference)\n' "edgescope (no --out) / bare" "${r}x"
}

memory_scaling() {
    local base_mb=${size_mb:-300}
    local big_mb
    big_mb=$(awk -v a="$base_mb" -v f="$factor" 'BEGIN { printf "%d", a * f }')
    # Room for the large capture: its size plus 10% and 1 GB to spare.
    mkdir -p "$big_dir"
    local avail_mb need_mb
    avail_mb=$(df -Pm "$big_dir" | awk 'NR == 2 { print $4 }')
    local big_name="mixed-${big_mb}MB"
    if [[ ! -f "$big_dir/$big_name.pcap" ]]; then
        need_mb=$(awk -v m="$big_mb" 'BEGIN { printf "%d", m * 1.1 + 1000 }')
        if ((avail_mb < need_mb)); then
            local fits=$(((avail_mb - 1000) * 10 / 11))
            echo "note: $big_dir has $avail_mb MB free, not enough for ${big_mb} MB; using ${fits} MB (the largest that fits)" >&2
            big_mb=$fits
            big_name="mixed-${big_mb}MB"
        fi
    fi
    local small big
    small=$(generate "mixed-${base_mb}MB" "$base_mb" "$dir")
    big=$(generate "$big_name" "$big_mb" "$big_dir")

    echo "memory against capture size: edgescope analyze FILE --out DIR, best of $runs runs"
    machine
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ); edgescope: $edgescope"
    echo
    echo "| capture | size | packets | connections | wall | GB/s | peak RSS | bare read peak RSS |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    local f rss_small="" rss_big="" connections
    for f in "$small" "$big"; do
        local bytes packets
        bytes=$(stat -c %s "$f")
        cat "$f" >/dev/null
        packets=$("$tmp/bare-read" "$f" | sed -n 's/^packets=\([0-9]*\).*/\1/p')
        connections=$(sed -n 's/.* connections=\([0-9]*\).*/\1/p' "${f%.pcap}.log" 2>/dev/null | tail -n 1)
        measure bare "$runs" "$tmp/bare-read" "$f"
        measure edgescope "$runs" "$edgescope" analyze "$f" --out "$tmp/out"
        echo "| $(basename "$f") | $(awk -v b="$bytes" 'BEGIN { printf "%.0f MB", b / 1e6 }') | $packets | ${connections:-?} | $(secs "${wall_ns[edgescope]}") s | $(gbps "$bytes" "${wall_ns[edgescope]}") | $(mib "${rss_kb[edgescope]}") MiB | $(mib "${rss_kb[bare]}") MiB |${note[edgescope]:+ ${note[edgescope]}}"
        if [[ -z "$rss_small" ]]; then rss_small=${rss_kb[edgescope]}; else rss_big=${rss_kb[edgescope]}; fi
    done
    echo
    local growth
    growth=$(awk -v a="$rss_small" -v b="$rss_big" 'BEGIN { printf "%.0f", (b / a - 1) * 100 }')
    printf 'peak memory growth for a %sx larger capture: %s%%   target <= 10%%   %s\n' \
        "$(ratio "$big_mb" "$base_mb")" "$growth" "$(verdict "$growth" "<=" 10)"
}

# The short-connection shape beside the keep-alive one: every command on every capture in one
# run, so the ratios compare like with like on a machine whose load changes.
short_shape() {
    # generate-capture.py --access-log writes this nginx log_format.
    local access_format='nginx:$msec $status "$upstream_addr" "$upstream_status" "$request" $request_time'
    local short150 short600 mixed300
    short150=$(generate short-150MB 150 "$dir" short)
    short600=$(generate short-600MB 600 "$dir" short)
    mixed300=$(generate mixed-300MB 300 "$dir" mixed)
    echo "the short-connection shape (issue 16): best of $runs runs by wall time, warm cache"
    machine
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ); edgescope: $edgescope"
    echo
    echo "| capture | command | wall | CPU | peak RSS | MB/s | × bare read |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    local f tag bytes
    declare -A size_of
    for f in "$short600" "$short150" "$mixed300"; do
        tag=$(basename "$f" .pcap)
        bytes=$(stat -c %s "$f")
        size_of[$tag]=$bytes
        cat "$f" >/dev/null
        measure "bare_$tag" "$runs" "$tmp/bare-read" "$f"
        measure "out_$tag" "$runs" "$edgescope" analyze "$f" --out "$tmp/out"
        measure "noout_$tag" "$runs" "$edgescope" analyze "$f"
        local keys=(bare out noout)
        # With the gateway's access log of the same traffic (a line per connection) beside it.
        if [[ $tag == short-150MB && -f "${f%.pcap}.access.log" ]]; then
            measure "log_$tag" "$runs" "$edgescope" analyze "$f" --out "$tmp/out" --gateway-log "${f%.pcap}.access.log" \
                --gateway-log-format "$access_format"
            keys+=(log)
        fi
        local key label
        for key in "${keys[@]}"; do
            case "$key" in
                bare) label="bare libpcap read loop" ;;
                out) label="\`edgescope analyze FILE --out DIR\`" ;;
                noout) label="\`edgescope analyze FILE\`" ;;
                log) label="\`edgescope analyze FILE --out DIR --gateway-log FILE.access.log\`" ;;
            esac
            local k="${key}_$tag"
            echo "| $tag | $label | $(secs "${wall_ns[$k]}") s | ${cpu_s[$k]} s | $(mib "${rss_kb[$k]}") MiB | $(awk -v b="$bytes" -v ns="${wall_ns[$k]}" 'BEGIN { printf "%.0f", b / ns * 1000 }') | $(ratio "${wall_ns[$k]}" "${wall_ns[bare_$tag]}") |${note[$k]:+ ${note[$k]}}"
        done
    done
    echo
    echo "targets (issue 16):"
    local r
    for key in out noout; do
        local what="--out"; [[ $key == out ]] || what="no --out"
        r=$(ratio "${wall_ns[${key}_short-600MB]}" "${wall_ns[bare_short-600MB]}")
        printf '  %-44s %10s   target <= 5x       %s\n' "short-600MB ($what) / bare read" "${r}x" "$(verdict "$r" "<=" 5)"
        r=$(awk -v b="${size_of[short-600MB]}" -v ns="${wall_ns[${key}_short-600MB]}" 'BEGIN { printf "%.0f", b / ns * 1000 }')
        printf '  %-44s %10s   target >= 600 MB/s %s\n' "short-600MB ($what) throughput" "$r MB/s" "$(verdict "$r" ">=" 600)"
        r=$(mib "${rss_kb[${key}_short-600MB]}")
        printf '  %-44s %10s   target <= 64 MiB   %s\n' "short-600MB ($what) peak RSS" "$r MiB" "$(verdict "$r" "<=" 64)"
        r=$(awk -v a="${rss_kb[${key}_short-600MB]}" -v b="${rss_kb[${key}_short-150MB]}" 'BEGIN { printf "%.2f", a / b }')
        printf '  %-44s %10s   target <= 1.1      %s\n' "peak RSS short-600MB / short-150MB ($what)" "$r" "$(verdict "$r" "<=" 1.1)"
    done
    r=$(ratio "${wall_ns[out_mixed-300MB]}" "${wall_ns[bare_mixed-300MB]}")
    printf '  %-44s %10s   target <= 4.8x     %s\n' "mixed-300MB (--out) / bare read" "${r}x" "$(verdict "$r" "<=" 4.8)"
    r=$(ratio "${wall_ns[noout_mixed-300MB]}" "${wall_ns[bare_mixed-300MB]}")
    printf '  %-44s %10s   (without --out, for reference: 3.0x before)\n' "mixed-300MB (no --out) / bare read" "${r}x"
}

if [[ $short -eq 1 ]]; then
    [[ -z "$file" && $memory_scaling -eq 0 ]] || { echo "--short takes no FILE and no --memory-scaling (it generates its captures)" >&2; exit 2; }
    short_shape
    exit 0
fi

if [[ $memory_scaling -eq 1 ]]; then
    [[ -z "$file" ]] || { echo "--memory-scaling takes no FILE (it generates both captures)" >&2; exit 2; }
    memory_scaling
    exit 0
fi

if [[ -z "$file" ]]; then
    [[ -n "$size_mb" ]] || usage
    file=$(generate "mixed-${size_mb}MB" "$size_mb" "$dir")
fi
[[ -r "$file" ]] || { echo "cannot read $file" >&2; exit 1; }
compare_file "$file"
