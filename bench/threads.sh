#!/usr/bin/env bash
# Does a second worker thread help? Two proxies in front of the same cluster, one with
# -threads 1 (port 7200) and one with -threads 2 (port 7201; -worker-busy 0, so that its clients
# are spread over both workers rather than packed on one until it is busy), take turns: PING at
# -P 16, which the proxy answers itself (the proxy's own path with no server in it;
# redis-benchmark with two threads of its own so that the client is not the limit), GET and SET
# at -P 16 (50 clients, 100,000 keys) and the Go proxy's benchmark (-c 500 -P 100), each ROUNDS
# times, alternating which goes first. On a machine whose CPUs the client and the six servers
# already fill, GET and SET cannot show what a second thread adds; PING can. Writes
# bench/results/<date>-threads.md with every run and the median ops/s and CPU per million
# requests of each.
#   bench/threads.sh [-n REQUESTS] [-rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_n_rounds 1500000 3 "$@"
bench_build
bench_start -threads 1 -log-level warn
bench_second_proxy 7201 build/release/proxy/slotproxy -threads 2 -worker-busy 0 -log-level warn
redis-benchmark -p 7200 -c 50 -n 300000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit

bench_out threads
{
    echo "# slotproxy -threads 1 against -threads 2 $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'); both proxies run throughout, in front of the same cluster; they take turns, alternating which goes first"
    echo
    echo "| workload | round | threads | ops/s | proxy CPU µs/request |"
    echo "|---|---:|---:|---:|---:|"
} >"$out"

for wl in ping get set go_get go_set; do
    case $wl in
    ping) args=(-c 50 -r 100000 -P 16 -t ping_mbulk --threads 2) reqs=$((n * 2)) ;;
    get | set) args=(-c 50 -r 100000 -P 16 -t "$wl") reqs=$n ;;
    go_*) args=(-c 500 -r 10000 -P 100 -t "${wl#go_}") reqs=$((n * 2)) ;;
    esac
    bench_turns "$out" "$wl" "$rounds" "$reqs" "1 7200 $proxy" "2 7201 $proxy2" "${args[@]}"
done

{
    echo
    echo "Medians (threads 1 and 2):"
    echo
    bench_medians "$out" 1 2 ping get set go_get go_set
    echo
} | bench_finish
