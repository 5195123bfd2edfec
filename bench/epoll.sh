#!/usr/bin/env bash
# Level- or edge-triggered epoll, measured. The proxy's loop is level-triggered. This script
# builds a second binary from the same commit with EPOLLET added to every registration (and the
# node connection's read loop allowed to drain the socket, so no data is left behind without a
# new edge to announce it), runs both side by side in front of the same cluster, level on port
# 7200 and edge on 7201, and lets them take turns, alternating which goes first: GET at -P 1 and
# -P 16 and SET at -P 16 (50 clients, 100,000 keys), ROUNDS times each. Writes
# bench/results/<date>-epoll.md with every run and the medians of ops/s and of the proxy's CPU
# per request.
#
# The edge-triggered build is an experiment, not a mode of the proxy: a client socket is still
# read once per event, which is only safe when a client's pipeline fits one read (it does for
# these workloads; a client sending more than the read buffer at once could stall). It answers
# whether edge-triggering would buy anything worth making it safe.
#   bench/epoll.sh [-n REQUESTS] [-rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_n_rounds 1000000 5 "$@"
bench_build

# The edge-triggered build, from a copy of the committed tree.
et=$(mktemp -d /tmp/slotproxy-epoll-et.XXXXXX)
trap 'rm -rf "$et"' EXIT
mkdir -p "$et/src"
git archive HEAD | tar -x -C "$et/src"
grep -q '    ev.data.fd = fd;' "$et/src/net/loop_epoll.c"
grep -q '#define BACKEND_READS_PER_EVENT 4' "$et/src/cluster/backend.c"
sed -i 's/^    ev.data.fd = fd;/    ev.events |= EPOLLET;\n    ev.data.fd = fd;/' "$et/src/net/loop_epoll.c"
sed -i 's/#define BACKEND_READS_PER_EVENT 4/#define BACKEND_READS_PER_EVENT 1000000/' \
    "$et/src/cluster/backend.c"
cmake -S "$et/src" -B "$et/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$et/build" -j "$(nproc)" --target slotproxy >/dev/null

bench_start -threads 1 -log-level warn
bench_second_proxy 7201 "$et/build/proxy/slotproxy" -threads 1 -log-level warn
trap 'bench_cleanup; rm -rf "$et"' EXIT
redis-benchmark -p 7200 -c 50 -n 300000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit

bench_out epoll
{
    echo "# slotproxy, level- against edge-triggered epoll $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads 1; level-triggered (as shipped) on 7200, the EPOLLET build on 7201; both run throughout, in front of the same cluster, taking turns"
    echo
    echo "| workload | round | epoll | ops/s | proxy CPU µs/request |"
    echo "|---|---:|---|---:|---:|"
} >"$out"

for wl in get_P1 get_P16 set_P16; do
    P=${wl#*_P} t=${wl%_P*}
    reqs=$n
    [ "$P" = 1 ] && reqs=$((n / 5))
    bench_turns "$out" "$wl" "$rounds" "$reqs" "level 7200 $proxy" "edge 7201 $proxy2" \
        -c 50 -r 100000 -P "$P" -t "$t"
done

{
    echo
    echo "Medians:"
    echo
    bench_medians "$out" level edge get_P1 get_P16 set_P16
    echo
} | bench_finish
