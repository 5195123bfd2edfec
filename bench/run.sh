#!/usr/bin/env bash
# Side-by-side benchmark: redis-benchmark through slotproxy and, in the same run, directly
# against the cluster with --cluster. Starts its own cluster (127.0.0.1:7101-7106) and proxy
# (port 7200), runs GET and SET with 50 clients over 100,000 random keys at -P 1 and -P 16, and
# writes bench/results/<date>.md with ops/s, p50/p99 latency, the proxy's CPU time per million
# requests (from /proc) and the ratio proxy/direct. Then the Go proxy's published benchmark,
# redis-benchmark -c 500 -P 100 -r 10000 -t get,set (n scaled to this machine), the same way.
# Machine load is recorded with the figures.
#   bench/run.sh [-n REQUESTS] [-threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-300000}
threads=2
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=$2; shift 2 ;;
    -threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS] [-threads N]" >&2; exit 2 ;;
    esac
done

. bench/lib.sh
bench_build
bench_start -threads "$threads" -log-level warn

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
masters=$(for p in 7101 7102 7103; do cat "$dir/node-$p/redis.pid"; done)
masters_ticks() { local t=0; for p in $masters; do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }

out="bench/results/$(date +%Y-%m-%d-%H%M).md"
mkdir -p bench/results
{
    echo "# slotproxy benchmark $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- redis-server: $(redis-server --version | awk '{print $3}'), slotproxy: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads $threads"
    echo "- redis-benchmark -c 50 -n $n -r 100000, 3 masters + 3 replicas on loopback"
    echo
    echo "| test | pipeline | target | ops/s | p50 ms | p99 ms | proxy CPU s / 1M req | masters CPU s / 1M req |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
} >"$out"

run() { # name pipeline target-args...
    local t=$1 P=$2 label=$3; shift 3
    local p0 m0 p1 m1 line
    p0=$(cpu_ticks "$proxy"); m0=$(masters_ticks)
    line=$(redis-benchmark "$@" -c "$clients" -n "$reqs" -r "$keys" -P "$P" -t "$t" --csv \
        2>/dev/null | tail -n 1)
    p1=$(cpu_ticks "$proxy"); m1=$(masters_ticks)
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    local rps p50 p99
    rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
    p50=$(echo "$line" | cut -d, -f5 | tr -d '"')
    p99=$(echo "$line" | cut -d, -f7 | tr -d '"')
    local pcpu mcpu
    pcpu=$(awk -v d=$((p1 - p0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", d / hz / n * 1e6}')
    mcpu=$(awk -v d=$((m1 - m0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", d / hz / n * 1e6}')
    [ "$label" = direct ] && pcpu="-"
    echo "| $t -c $clients | $P | $label | $rps | $p50 | $p99 | $pcpu | $mcpu |" >>"$out"
    echo "$t P$P $label: $rps ops/s p50 $p50 p99 $p99 ms" >&2
    eval "rps_${t}_${P}_${label}=$rps"
}

clients=50 reqs=$n keys=100000
for P in 1 16; do
    for t in get set; do
        run "$t" "$P" proxy -p 7200
        run "$t" "$P" direct --cluster -p 7101
    done
done

{
    echo
    echo "Ratio proxy / direct (ops/s, same run):"
    echo
    for P in 1 16; do
        for t in get set; do
            eval "a=\$rps_${t}_${P}_proxy b=\$rps_${t}_${P}_direct"
            echo "- $t -P $P: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')"
        done
    done
} >>"$out"

# The Go proxy's own benchmark: 500 clients pipelining 100, 10,000 keys.
clients=500 reqs=$((n * 10)) keys=10000
{
    echo
    echo "| test | pipeline | target | ops/s | p50 ms | p99 ms | proxy CPU s / 1M req | masters CPU s / 1M req |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
} >>"$out"
for t in get set; do
    run "$t" 100 proxy -p 7200
    run "$t" 100 direct --cluster -p 7101
done
{
    echo
    echo "Go proxy benchmark (-c 500 -P 100 -r 10000 -n $((n * 10))), ratio proxy / direct:"
    echo
    for t in get set; do
        eval "a=\$rps_${t}_100_proxy b=\$rps_${t}_100_direct"
        echo "- $t: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')"
    done
    echo
    echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out"
cat "$out"
