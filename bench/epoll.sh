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
n=1000000 rounds=5
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=$2; shift 2 ;;
    -rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS] [-rounds R]" >&2; exit 2 ;;
    esac
done

. bench/lib.sh
bench_build

# The edge-triggered build, from a copy of the committed tree.
et=$(mktemp -d /tmp/slotproxy-epoll-et.XXXXXX)
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
proxy1=$proxy
"$et/build/proxy/slotproxy" -addr 127.0.0.1:7201 -startup-nodes 127.0.0.1:7101 -threads 1 \
    -log-level warn -log-file "$dir/proxy-et.log" &
proxy2=$!
trap 'kill "$proxy2" 2>/dev/null; wait "$proxy2" 2>/dev/null; bench_cleanup; rm -rf "$et"' EXIT
for _ in $(seq 1 100); do redis-cli -p 7201 ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -p 7200 -c 50 -n 300000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit

out="bench/results/$(date +%Y-%m-%d-%H%M)-epoll.md"
mkdir -p bench/results
{
    echo "# slotproxy, level- against edge-triggered epoll $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) CPUs, kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads 1; level-triggered (as shipped) on 7200, the EPOLLET build on 7201; both run throughout, in front of the same cluster, taking turns"
    echo
    echo "| workload | round | epoll | ops/s | proxy CPU µs/request |"
    echo "|---|---:|---|---:|---:|"
} >"$out"

one() { # workload round mode port pid reqs args...
    local wl=$1 round=$2 mode=$3 port=$4 pid=$5 reqs=$6; shift 6
    local a b line rps cpu
    a=$(cpu_ns "$pid")
    line=$(redis-benchmark -p "$port" -c 50 -n "$reqs" -r 100000 --csv "$@" 2>/dev/null | tail -n 1)
    b=$(cpu_ns "$pid")
    rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
    cpu=$(awk -v a="$a" -v b="$b" -v n="$reqs" 'BEGIN {printf "%.3f", (b - a) / 1e3 / n}')
    echo "| $wl | $round | $mode | $rps | $cpu |" >>"$out"
    echo "$wl round $round $mode: $rps ops/s, $cpu µs CPU per request" >&2
}

for wl in get_P1 get_P16 set_P16; do
    P=${wl#*_P} t=${wl%_P*}
    reqs=$n
    [ "$P" = 1 ] && reqs=$((n / 5))
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then
            one "$wl" "$r" level 7200 "$proxy1" "$reqs" -P "$P" -t "$t"
            one "$wl" "$r" edge 7201 "$proxy2" "$reqs" -P "$P" -t "$t"
        else
            one "$wl" "$r" edge 7201 "$proxy2" "$reqs" -P "$P" -t "$t"
            one "$wl" "$r" level 7200 "$proxy1" "$reqs" -P "$P" -t "$t"
        fi
    done
done

{
    echo
    echo "Medians:"
    echo
    echo "| workload | level ops/s | edge ops/s | edge / level | level CPU µs/req | edge CPU µs/req | edge / level |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    awk -F' *\\| *' '
        /^\| (get|set)_P/ { k = $2 SUBSEP $4; ops[k] = ops[k] " " $5; cpu[k] = cpu[k] " " $6; wl[$2] = 1 }
        function median(s,   a, n, i, j, t) {
            n = split(s, a, " ")
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        END {
            split("get_P1 get_P16 set_P16", order, " ")
            for (i = 1; i <= 3; i++) {
                w = order[i]
                if (!(w in wl)) continue
                lo = median(ops[w SUBSEP "level"]); eo = median(ops[w SUBSEP "edge"])
                lc = median(cpu[w SUBSEP "level"]); ec = median(cpu[w SUBSEP "edge"])
                printf "| %s | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f |\n", w, lo, eo, eo / lo, lc, ec, ec / lc
            }
        }' "$out"
} >>"$out.tmp"
cat "$out.tmp" >>"$out"
rm -f "$out.tmp"
echo "written: $out" >&2
