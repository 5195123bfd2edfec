#!/usr/bin/env bash
# Instructions the proxy executes per request, counted by valgrind's callgrind: unlike time, the
# count does not drift with the machine's load, so it shows what a change to the request path
# bought. Starts its own cluster and the proxy (-threads 1) under callgrind, warms up, counts
# only while redis-benchmark runs each workload through it, and writes
# bench/results/<date>-callgrind.md with instructions per request and the functions that
# execute most of them (self and inclusive). System calls and the kernel are not counted: at
# -P 1 they are most of the proxy's CPU (see bench/README.md).
#   bench/callgrind.sh [-n REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=100000
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }

. bench/lib.sh
bench_build
cg=$(mktemp -d /tmp/slotproxy-callgrind.XXXXXX)
BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=$cg/cg.out --instr-atstart=no"
bench_start -threads 1 -log-level warn
trap 'bench_cleanup; rm -rf "$cg"' EXIT

bench_out callgrind
{
    echo "# slotproxy instructions per request (callgrind) $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads 1, under valgrind $(valgrind --version | sed 's/valgrind-//'); redis-benchmark -c 50 -r 100000 -n $n through the proxy"
    echo "- user-space instructions only (the proxy and the libraries it calls); system calls are not counted"
    echo
} >"$out"

# workload NAME redis-benchmark-args...: counts only while it runs.
workload() {
    local name=$1; shift
    redis-benchmark -p 7200 -c 50 -n 2000 -r 100000 "$@" >/dev/null 2>&1 # warm-up
    callgrind_control -i on "$proxy" >/dev/null
    redis-benchmark -p 7200 -c 50 -n "$n" -r 100000 "$@" >/dev/null 2>&1
    callgrind_control -i off "$proxy" >/dev/null
    callgrind_control -d "$proxy" >/dev/null
    callgrind_control -z "$proxy" >/dev/null
    local f total
    f=$(ls -t "$cg"/cg.out.* | head -n 1)
    total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    {
        echo "## $name: $(awk -v t="$total" -v n="$n" 'BEGIN {printf "%.0f", t / n}') instructions per request"
        echo
        echo '```'
        callgrind_annotate --inclusive=no "$f" 2>/dev/null | grep -E '^ *[0-9,]+ +\(' | grep -v 'PROGRAM TOTALS' \
            | sed 's|/[^ ]*/\([a-z_]*/[a-z_0-9]*\.[ch]\):|\1:|; s| \[[^]]*\]$||' | awk 'NR <= 25'
        echo '```'
        echo
    } >>"$out"
    echo "$name: $(awk -v t="$total" -v n="$n" 'BEGIN {printf "%.0f", t / n}') instructions per request" >&2
}

workload "GET -P 1" -P 1 -t get
workload "GET -P 16" -P 16 -t get
workload "SET -P 16" -P 16 -t set
k='key:__rand_int__'
workload "MSET of 10 keys -P 16" -P 16 MSET "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v
workload "MGET of 10 keys -P 16" -P 16 MGET "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k"
cat "$out"
echo "written to $out" >&2
