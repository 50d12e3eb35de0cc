#!/usr/bin/env bash
# Runs edgescope's benchmarks with one command: writes the captures if they are
# missing (make-captures.sh), builds the benchmark package in release mode, runs
# every benchmark, and prints one summary table.
#
# Usage: Benchmarks/run.sh [--quick | --smoke] [-- ARGS...]
#   (no option)    every capture, up to 10 passes per benchmark (about 10 minutes
#                  after the first build)
#   --quick        every capture, 3 passes per benchmark
#   --smoke        only the 5 MB capture, 3 passes per benchmark: for CI
#   -- ARGS        passed to `swift package benchmark` (e.g. -- --filter 'engine .*')
#
# The raw results (InfluxDB CSV, every percentile) are kept in
# Benchmarks/.results/Current_run.influx.csv.  For the framework's own tables,
# run it directly: swift package --package-path Benchmarks benchmark
# (with EDGESCOPE_BENCH_CAPTURES and EDGESCOPE_BENCH_QUICK as below).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mode=full
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) mode=quick; shift ;;
        --smoke) mode=smoke; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

export EDGESCOPE_BENCH_CAPTURES=${EDGESCOPE_BENCH_CAPTURES:-$here/.captures}
selection=()
case "$mode" in
    smoke)
        "$here/make-captures.sh" --smoke
        export EDGESCOPE_BENCH_QUICK=1
        selection=(--filter '.* smoke-5MB')
        ;;
    quick)
        "$here/make-captures.sh"
        export EDGESCOPE_BENCH_QUICK=1
        selection=(--skip '.* smoke-5MB')
        ;;
    full)
        "$here/make-captures.sh"
        export EDGESCOPE_BENCH_QUICK=0
        selection=(--skip '.* smoke-5MB')
        ;;
esac

results="$here/.results"
mkdir -p "$results"
rm -f "$results/Current_run.influx.csv"

swift package --package-path "$here" --allow-writing-to-directory "$results" \
    benchmark run "${selection[@]}" --no-progress --format influx --path "$results" ${extra[@]+"${extra[@]}"} \
    >"$results/run.log" 2>&1 || { tail -n 40 "$results/run.log" >&2; exit 1; }
[[ -s "$results/Current_run.influx.csv" ]] || { tail -n 40 "$results/run.log" >&2; echo "no results written" >&2; exit 1; }

python3 "$here/summarize.py" "$results/Current_run.influx.csv" "$EDGESCOPE_BENCH_CAPTURES"
