#!/usr/bin/env bash
# Runs the whole Swift test suite under AddressSanitizer (with LeakSanitizer) and/or
# ThreadSanitizer, each in its own scratch path (.build-asan, .build-tsan) so the normal
# .build is not invalidated. Fails on a failing test or on any sanitizer report.
#
#   scripts/sanitize.sh [address|thread]...     (default: address thread)
#
# Logs: .build-asan/sanitize.log, .build-tsan/sanitize.log.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)
scripts/install-deps
scripts/install-test-deps

# The Swift runtime's crash handler would itself trip the sanitizers after a report.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

failed=0
for sanitizer in "${sanitizers[@]}"; do
    case "$sanitizer" in
        address) scratch=.build-asan ;;
        thread) scratch=.build-tsan ;;
        *) echo "sanitize.sh: unknown sanitizer '$sanitizer' (address or thread)" >&2; exit 2 ;;
    esac
    mkdir -p "$scratch"
    log="$scratch/sanitize.log"
    echo "sanitize: swift test --sanitize=$sanitizer --scratch-path $scratch (log: $log)"
    start=$(date +%s)
    status=0
    swift test --sanitize="$sanitizer" --scratch-path "$scratch" >"$log" 2>&1 || status=$?
    reports=$(grep -acE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|runtime error:" "$log" || true)
    summary=$(grep -aE "Test run with [0-9]+ tests?|Executed [0-9]+ tests?" "$log" | tail -2 | tr '\n' ' ')
    echo "sanitize: $sanitizer: exit $status, $reports sanitizer report(s), $(( $(date +%s) - start ))s; $summary"
    if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ]; then
        grep -aE -A12 "ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|runtime error:|✘ Test" "$log" | head -60 >&2 || true
        failed=1
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "sanitize: FAILED" >&2
    exit 1
fi
echo "sanitize: clean"
