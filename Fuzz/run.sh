#!/usr/bin/env bash
# Builds the libFuzzer targets (AddressSanitizer + LeakSanitizer + libFuzzer coverage) and runs
# each for a bounded time, as many at once as there are cores.
#
#   Fuzz/run.sh [--time SECONDS] [--jobs N] [TARGET...]
#
# TARGET is one or more of FuzzPacketDecoder FuzzReassembly FuzzHTTP1 FuzzHTTP2 FuzzFastCGI FuzzTLS FuzzKeyLog
# FuzzDNS FuzzGatewayLog FuzzEngine (default: all). SECONDS is per target (default 60). Fails (exit 1) on any crash,
# trap (broken invariant), AddressSanitizer report, leak, timeout (-timeout=10 per input) or
# out-of-memory; prints executions per target; crash inputs are kept in the artifact directory
# it names (FUZZ_ARTIFACTS, default .build-fuzz/artifacts). The working corpus lives in
# .build-fuzz/corpus (FUZZ_CORPUS), seeded from captures/ by Fuzz/make-corpus.py, and grows
# from run to run. Reproduce a crash: .build-fuzz/release/TARGET ARTIFACT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

all=(FuzzPacketDecoder FuzzReassembly FuzzHTTP1 FuzzHTTP2 FuzzFastCGI FuzzTLS FuzzKeyLog FuzzDNS FuzzGatewayLog FuzzEngine)
seconds=60
jobs=$(nproc 2>/dev/null || echo 2)
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) seconds="$2"; shift 2 ;;
        --time=*) seconds="${1#--time=}"; shift ;;
        --jobs) jobs="$2"; shift 2 ;;
        --jobs=*) jobs="${1#--jobs=}"; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        Fuzz*) targets+=("$1"); shift ;;
        *) echo "run.sh: unknown argument '$1' (targets: ${all[*]})" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

scratch="$root/.build-fuzz"
artifacts="${FUZZ_ARTIFACTS:-$scratch/artifacts}"
corpus="${FUZZ_CORPUS:-$scratch/corpus}"
logs="$scratch/logs"
mkdir -p "$artifacts" "$logs"

# libpcap's headers and the OpenSSL headers the shared targets need (scripts/install-deps).
if [ -x scripts/install-deps ]; then scripts/install-deps >/dev/null; fi

echo "fuzz: building ${targets[*]} (release, -sanitize=fuzzer,address) in $scratch"
# One product at a time (swift build takes only the last --product); the shared modules build once.
for target in "${targets[@]}"; do
    # Not `--sanitize=fuzzer --sanitize=address`: SwiftPM passes those as two -sanitize= flags in
    # no fixed order and swiftc keeps only the last, so a build had either coverage or ASan.
    # `--sanitize=fuzzer` alone makes SwiftPM link libFuzzer's main; the -Xswiftc flag, last on
    # every command line, instruments for both.
    if ! (cd Fuzz && swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address \
            --scratch-path "$scratch" --product "$target") \
        >"$logs/build-$target.log" 2>&1; then
        grep -v "warning: Cannot export local symbol" "$logs/build-$target.log" | grep -E "error" -A3 | head -40 >&2
        echo "fuzz: $target did not build (log: $logs/build-$target.log)" >&2
        exit 1
    fi
done

export SWIFT_BACKTRACE=enable=no
mkdir -p "$scratch/empty"
for target in "${targets[@]}"; do
    # Both instrumentations or nothing: coverage (libFuzzer's "cov:") and AddressSanitizer.
    probe=$("$scratch/release/$target" -runs=1 "$scratch/empty" 2>&1 || true)
    symbols=$(nm "$scratch/release/$target" || true)
    if ! grep -aq "INITED cov: [1-9]" <<<"$probe" || ! grep -q "__asan_report_load8" <<<"$symbols"; then
        echo "fuzz: $target lacks coverage or AddressSanitizer instrumentation" >&2
        exit 1
    fi
done

if [ ! -d "$corpus/FuzzEngine" ] || [ ! -d "$corpus/FuzzHTTP2" ] || [ ! -d "$corpus/FuzzFastCGI" ] || [ ! -d "$corpus/FuzzDNS" ] || [ ! -d "$corpus/FuzzGatewayLog" ]; then
    python3 Fuzz/make-corpus.py "$corpus" captures
fi

# (SWIFT_BACKTRACE above: the Swift runtime's crash handler reads memory ASan would report.)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"

run_one() {
    local target=$1
    local dir="$corpus/$target" log="$logs/$target.log"
    local max_len=4096 dict=()
    mkdir -p "$dir"
    case "$target" in
        FuzzEngine) max_len=65536; dict=(-dict="$root/Fuzz/dict/http.dict") ;;
        FuzzHTTP1) max_len=8192; dict=(-dict="$root/Fuzz/dict/http.dict") ;;
        FuzzHTTP2) max_len=8192 ;;
        FuzzFastCGI) max_len=8192; dict=(-dict="$root/Fuzz/dict/fastcgi.dict") ;;
        FuzzTLS) max_len=16384 ;;
        FuzzReassembly) max_len=8192 ;;
        FuzzDNS) max_len=2048 ;;
    esac
    local status=0
    "$scratch/release/$target" "$dir" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len="$max_len" \
        -artifact_prefix="$artifacts/$target-" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    echo "$status" >"$logs/$target.status"
}

start=$(date +%s)
running=0
for target in "${targets[@]}"; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

failed=0
printf '%-18s %12s %10s %8s  %s\n' target executions exec/s corpus result
for target in "${targets[@]}"; do
    log="$logs/$target.log"
    status=$(cat "$logs/$target.status" 2>/dev/null || echo 1)
    runs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1 || true)
    speed=$(grep -a 'stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -1 || true)
    units=$(grep -aoE 'corp: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
    result=ok
    if [ "$status" != 0 ] || grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|invariant broken|SUMMARY: ' "$log"; then
        result="FAILED (exit $status): $(grep -aE 'ERROR: |invariant broken|SUMMARY: ' "$log" | head -1 | cut -c1-150)"
        failed=1
    fi
    printf '%-18s %12s %10s %8s  %s\n' "$target" "${runs:-?}" "${speed:-?}" "${units:-?}" "$result"
done
echo "fuzz: ${seconds}s per target, ${jobs} at a time, $(( $(date +%s) - start ))s in all; logs in $logs"
if [ "$failed" != 0 ]; then
    echo "fuzz: FAILED; crash inputs in $artifacts:" >&2
    ls -1 "$artifacts" >&2 || true
    exit 1
fi
echo "fuzz: no crash, leak, timeout or broken invariant"
