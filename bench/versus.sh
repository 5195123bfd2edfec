#!/usr/bin/env bash
# This build against an earlier one, measured side by side: for a change to the request path (a
# refactoring that must cost nothing, a feature that must not slow down the clients that do not
# use it). Builds the slotproxy of REV (default: main's first parent of HEAD, HEAD~1) from a copy
# of that commit's tree, runs both in front of the same cluster, this build on port 7200 and REV
# on 7201, and lets them take turns, alternating which goes first: GET at -P 1 and -P 16, SET at
# -P 16, and ten-key MSET (keys over many slots: split and merged) at -P 16, 50 clients, 100,000
# keys, ROUNDS times each. Writes bench/results/<date>-versus.md with every run and the medians of
# ops/s and of each proxy's CPU per request; on this shared machine only ratios within the run
# mean something.
#   bench/versus.sh [-n REQUESTS] [-rounds R] [REV]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rev=HEAD~1
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    -n | -rounds) args+=("$1" "$2"); shift 2 ;;
    *) rev=$1; shift ;;
    esac
done
bench_n_rounds 1000000 5 "${args[@]}"
bench_build

old=$(mktemp -d /tmp/slotproxy-versus.XXXXXX)
trap 'rm -rf "$old"' EXIT
mkdir -p "$old/src"
git archive "$rev" | tar -x -C "$old/src"
cmake -S "$old/src" -B "$old/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$old/build" -j "$(nproc)" --target slotproxy >/dev/null

bench_start -threads 1 -log-level warn
bench_second_proxy 7201 "$old/build/proxy/slotproxy" -threads 1 -log-level warn
trap 'bench_cleanup; rm -rf "$old"' EXIT
redis-benchmark -p 7200 -c 50 -n 300000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit

bench_out versus
{
    echo "# slotproxy $(git rev-parse --short HEAD) against $(git rev-parse --short "$rev") $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- this build (HEAD $(git rev-parse --short HEAD)) on 7200, $rev ($(git rev-parse --short "$rev")) on 7201; -threads 1 each; both run throughout, in front of the same cluster, taking turns"
    echo
    echo "| workload | round | build | ops/s | proxy CPU µs/request |"
    echo "|---|---:|---|---:|---:|"
} >"$out"

for wl in get_P1 get_P16 set_P16 mset_P16; do
    P=${wl#*_P} t=${wl%_P*}
    reqs=$n
    [ "$P" = 1 ] && reqs=$((n / 5))
    [ "$t" = mset ] && reqs=$((n / 5))
    bench_turns "$out" "$wl" "$rounds" "$reqs" "new 7200 $proxy" "old 7201 $proxy2" \
        -c 50 -r 100000 -P "$P" -t "$t"
done

{
    echo
    echo "Medians. The old / new columns: for ops/s, above 1 means the old build served more; for CPU per request, above 1 means the new build costs less."
    echo
    bench_medians "$out" new old get_P1 get_P16 set_P16 mset_P16
    echo
} | bench_finish
