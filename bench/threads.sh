#!/usr/bin/env bash
# Does a second worker thread help? Two proxies in front of the same cluster, one with
# -threads 1 (port 7200) and one with -threads 2 (port 7201), take turns: PING at -P 16, which
# the proxy answers itself (the proxy's own path with no server in it; redis-benchmark with two
# threads of its own so that the client is not the limit), GET and SET at -P 16 (50 clients,
# 100,000 keys) and the Go proxy's benchmark (-c 500 -P 100), each ROUNDS times, alternating
# which goes first. On a machine whose CPUs the client and the six servers already fill, GET and
# SET cannot show what a second thread adds; PING can. Writes bench/results/<date>-threads.md with every run and the
# median ops/s and CPU per million requests of each.
#   bench/threads.sh [-n REQUESTS] [-rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
n=1500000 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=$2; shift 2 ;;
    -rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS] [-rounds R]" >&2; exit 2 ;;
    esac
done

. bench/lib.sh
bench_build
bench_start -threads 1 -log-level warn
proxy1=$proxy
build/release/proxy/slotproxy -addr 127.0.0.1:7201 -startup-nodes 127.0.0.1:7101 -threads 2 \
    -log-level warn -log-file "$dir/proxy2.log" &
proxy2=$!
trap 'kill "$proxy2" 2>/dev/null; wait "$proxy2" 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 1 100); do redis-cli -p 7201 ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -p 7200 -c 50 -n 300000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit

out="bench/results/$(date +%Y-%m-%d-%H%M)-threads.md"
mkdir -p bench/results
{
    echo "# slotproxy -threads 1 against -threads 2 $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) CPUs, kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'); both proxies run throughout, in front of the same cluster; they take turns, alternating which goes first"
    echo
    echo "| workload | round | threads | ops/s | proxy CPU s/1M |"
    echo "|---|---:|---:|---:|---:|"
} >"$out"

one() { # workload round threads port pid clients reqs keys args...
    local wl=$1 round=$2 th=$3 port=$4 pid=$5 c=$6 reqs=$7 keys=$8; shift 8
    local a b line rps
    a=$(cpu_ns "$pid")
    line=$(redis-benchmark -p "$port" -c "$c" -n "$reqs" -r "$keys" --csv "$@" 2>/dev/null | tail -n 1)
    b=$(cpu_ns "$pid")
    rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
    local cpu
    cpu=$(awk -v a="$a" -v b="$b" -v n="$reqs" 'BEGIN {printf "%.2f", (b - a) / 1e9 / n * 1e6}')
    echo "| $wl | $round | $th | $rps | $cpu |" >>"$out"
    echo "$wl round $round -threads $th: $rps ops/s, $cpu s CPU / 1M" >&2
}

for wl in ping get set go_get go_set; do
    case $wl in
    ping) args=(-P 16 -t ping_mbulk --threads 2) c=50 reqs=$((n * 2)) keys=100000 ;;
    get | set) args=(-P 16 -t "$wl") c=50 reqs=$n keys=100000 ;;
    go_*) args=(-P 100 -t "${wl#go_}") c=500 reqs=$((n * 2)) keys=10000 ;;
    esac
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then
            one "$wl" "$r" 1 7200 "$proxy1" "$c" "$reqs" "$keys" "${args[@]}"
            one "$wl" "$r" 2 7201 "$proxy2" "$c" "$reqs" "$keys" "${args[@]}"
        else
            one "$wl" "$r" 2 7201 "$proxy2" "$c" "$reqs" "$keys" "${args[@]}"
            one "$wl" "$r" 1 7200 "$proxy1" "$c" "$reqs" "$keys" "${args[@]}"
        fi
    done
done

{
    echo
    echo "Medians:"
    echo
    echo "| workload | -threads 1 ops/s | -threads 2 ops/s | 2 / 1 | -threads 1 CPU s/1M | -threads 2 CPU s/1M |"
    echo "|---|---:|---:|---:|---:|---:|"
    for wl in ping get set go_get go_set; do
        awk -F'|' -v wl="$wl" '
            function median(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            $2 ~ "^ " wl " $" { t = $4 + 0; if (t == 1) { r1[++n1] = $5 + 0; c1[n1] = $6 + 0 } else { r2[++n2] = $5 + 0; c2[n2] = $6 + 0 } }
            END {
                m1 = median(r1, n1); m2 = median(r2, n2)
                printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f |\n", wl, m1, m2, m2 / m1, median(c1, n1), median(c2, n2)
            }' "$out"
    done
    echo
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out.tmp"
cat "$out.tmp" >>"$out"
rm -f "$out.tmp"
cat "$out"
echo "written to $out" >&2
