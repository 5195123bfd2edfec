#!/usr/bin/env bash
# Requests per CPU-second and latency, side by side in one run (issue 23): slotproxy -threads 2
# with -io epoll (127.0.0.1:7200) and with -io uring (7201), predixy with 2 worker threads (7230),
# all three in front of the same 3-master + 3-replica cluster (7101-7106), and one standalone
# redis-server (7300) serving the same workload directly. For each workload the targets take
# turns in a rotating order, ROUNDS times: GET and SET at -P 1 and -P 16, and MSET of ten random
# keys (so over many slots: split by the proxies) at -P 1, 50 clients, 100,000 keys, every GET a
# hit.
#
# For each run: ops/s; p50, p99 and p99.9 latency (redis-benchmark --precision 3: p50 and p99 from
# its summary, p99.9 the first line of its percentile distribution at or above 99.9%); and the CPU
# the serving process spent per request (user + system over all its threads, from
# /proc/<pid>/task/*/schedstat before and after: the same time /proc/<pid>/stat counts, at
# nanosecond resolution), from which requests per CPU-second. Writes
# bench/results/<date>-cpu.md with every run and the medians, with the machine's load average
# before and after: on this shared 2-CPU machine only ratios within one run mean something.
#
#   bench/cpu.sh [-n REQUESTS] [-rounds R] [-threads1] [-only WORKLOAD,...]
#     -n        requests per run at -P 1 (default 100000; five times that at -P 16, half for MSET)
#     -threads1 also slotproxy -io uring -threads 1 (7202), and -threads 2 with its clients spread
#               over both workers whatever the load (-worker-busy 0, 7203), for the thread figures
#               (by default, -threads 2 packs clients on one worker until it is 70% busy)
#     -only     a subset of get_P1,set_P1,get_P16,set_P16,mset_P1
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

n=100000 rounds=3 threads1=0 only=
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=$2; shift 2 ;;
    -rounds) rounds=$2; shift 2 ;;
    -threads1) threads1=1; shift ;;
    -only) only=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS] [-rounds R] [-threads1] [-only WORKLOAD,...]" >&2; exit 2 ;;
    esac
done
predixy_bin=${PREDIXY:-/work/shared/peers/predixy/predixy}
[ -x "$predixy_bin" ] || { echo "no predixy at $predixy_bin (set PREDIXY)" >&2; exit 1; }

bench_build
bench_start -threads 2 -io epoll -log-level warn
bench_second_proxy 7201 build/release/proxy/slotproxy -threads 2 -io uring -log-level warn
bench_start_solo 7300
proxy3= proxy4= px=
cpu_cleanup() {
    local p
    for p in $proxy3 $proxy4 $px; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
    bench_cleanup
}
trap cpu_cleanup EXIT
if [ "$threads1" = 1 ]; then
    build/release/proxy/slotproxy -addr 127.0.0.1:7202 -startup-nodes 127.0.0.1:7101 -threads 1 \
        -io uring -log-level warn -log-file "$dir/proxy-7202.log" &
    proxy3=$!
    build/release/proxy/slotproxy -addr 127.0.0.1:7203 -startup-nodes 127.0.0.1:7101 -threads 2 \
        -io uring -worker-busy 0 -log-level warn -log-file "$dir/proxy-7203.log" &
    proxy4=$!
fi
cat >"$dir/predixy.conf" <<EOF
Name PeerBench
Bind 127.0.0.1:7230
WorkerThreads 2
ClientTimeout 0
LogVerbSample 0
LogDebugSample 0
LogInfoSample 0
LogNoticeSample 0
LogWarnSample 1
LogErrorSample 1
Authority {
    Auth {
        Mode admin
    }
}
ClusterServerPool {
    MasterReadPriority 60
    StaticSlaveReadPriority 50
    DynamicSlaveReadPriority 50
    RefreshInterval 1
    ServerTimeout 1
    ServerFailureLimit 10
    ServerRetryTimeout 1
    KeepAlive 120
    Servers {
        + 127.0.0.1:7101
        + 127.0.0.1:7102
        + 127.0.0.1:7103
    }
}
EOF
"$predixy_bin" "$dir/predixy.conf" >"$dir/predixy.log" 2>&1 &
px=$!
ports=(7200 7201 7230 7300)
[ "$threads1" = 1 ] && ports+=(7202 7203)
for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "$port" ping >/dev/null || { echo "nothing answers on $port" >&2; exit 1; }
done
if grep -q "io_uring is not available" "$dir/proxy-7201.log"; then
    echo "slotproxy -io uring runs on epoll here:" >&2
    grep "io_uring is not available" "$dir/proxy-7201.log" >&2
    exit 1
fi
# Each target answers a ten-key MSET over many slots as the server does (redis-benchmark does not
# count error replies, so a proxy that refused it would look fast).
for port in "${ports[@]}"; do
    got=$(redis-cli -p "$port" mset a 1 b 2 c 3 d 4 e 5 f 6 g 7 h 8 i 9 j 10; redis-cli -p "$port" mget a j)
    [ "$(echo $got)" = "OK 1 10" ] || { echo "port $port answers MSET/MGET with: $got" >&2; exit 1; }
done
# Every key exists, in the cluster and in the server: every GET is a hit.
redis-benchmark -p 7200 -c 50 -n 400000 -r 100000 -P 16 -t set >/dev/null 2>&1
redis-benchmark -p 7300 -c 50 -n 400000 -r 100000 -P 16 -t set >/dev/null 2>&1

bench_out cpu
{
    echo "# slotproxy (epoll, io_uring), predixy and one redis-server: requests per CPU-second $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- $(redis-server --version | cut -d' ' -f1-3); slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?') -threads 2 -io epoll on 7200 and -io uring on 7201$([ "$threads1" = 1 ] && echo ", -io uring -threads 1 on 7202, -io uring -threads 2 -worker-busy 0 (clients spread over both workers) on 7203"); predixy $("$predixy_bin" -v 2>&1 | head -1 | awk '{print $NF}') WorkerThreads 2 on 7230; all in front of one 3-master + 3-replica cluster on 7101-7106; one standalone redis-server on 7300"
    echo "- redis-benchmark -c 50 -r 100000 --precision 3; -n $n at -P 1, $((n * 5)) at -P 16, $((n / 2)) for MSET of ten random keys at -P 1; $rounds rounds, the targets taking turns in a rotating order"
    echo "- CPU: µs of user + system time per request of the process that served it (the proxy, or the server when served directly), from /proc/<pid>/task/*/schedstat; req/CPU-s = 10^6 / that"
    echo
    echo "| workload | round | target | ops/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | req/CPU-s |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
} >"$out"

pid_of() {
    case $1 in
    redis) echo "$solo" ;;
    epoll) echo "$proxy" ;;
    uring) echo "$proxy2" ;;
    uring-t1) echo "$proxy3" ;;
    uring-spread) echo "$proxy4" ;;
    predixy) echo "$px" ;;
    esac
}
port_of() {
    case $1 in
    redis) echo 7300 ;; epoll) echo 7200 ;; uring) echo 7201 ;; uring-t1) echo 7202 ;; uring-spread) echo 7203 ;;
    predixy) echo 7230 ;;
    esac
}

# turn WORKLOAD ROUND TARGET REQUESTS redis-benchmark-args...
turn() {
    local wl=$1 round=$2 target=$3 reqs=$4
    shift 4
    local pid port a b
    pid=$(pid_of "$target") port=$(port_of "$target")
    a=$(cpu_ns "$pid")
    redis-benchmark -p "$port" -c 50 -r 100000 -n "$reqs" --precision 3 "$@" 2>/dev/null |
        tr '\r' '\n' >"$dir/rb.out"
    b=$(cpu_ns "$pid")
    awk -v wl="$wl" -v r="$round" -v t="$target" -v cpu=$((b - a)) -v n="$reqs" '
        /throughput summary:/ { rps = $3 }
        /^ *avg +min +p50/ { getline; p50 = $3; p99 = $5 }
        /^[0-9.]+% <= / && !p999 { pct = $1; sub(/%/, "", pct); if (pct + 0 >= 99.9) p999 = $3 }
        END {
            us = cpu / 1e3 / n
            printf "| %s | %d | %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.0f |\n", wl, r, t, rps, p50, p99, p999, us, 1e6 / us
        }' "$dir/rb.out" | tee -a "$out" >&2
}

targets=(redis epoll uring predixy)
[ "$threads1" = 1 ] && targets+=(uring-t1 uring-spread)
nt=${#targets[@]}
workloads=(get_P1 set_P1 get_P16 set_P16 mset_P1)
[ -n "$only" ] && IFS=, read -r -a workloads <<<"$only"
k='key:__rand_int__'
for wl in "${workloads[@]}"; do
    P=${wl#*_P} cmd=${wl%_P*} reqs=$n
    [ "$P" = 16 ] && reqs=$((n * 5))
    case $cmd in
    get | set) args=(-t "$cmd") ;;
    mset) args=(MSET "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v); reqs=$((n / 2)) ;;
    esac
    for r in $(seq 1 "$rounds"); do
        for i in $(seq 0 $((nt - 1))); do
            turn "$wl" "$r" "${targets[$(((r - 1 + i) % nt))]}" "$reqs" -P "$P" "${args[@]}"
        done
    done
done

{
    echo
    echo "## Medians"
    echo
    echo "Requests per CPU-second of the serving process (higher is better), and the ratios the issue's targets ask for: slotproxy over the redis-server serving directly (target >= 1.0) and over predixy (target >= 1.25); io_uring over epoll. Latency: p99 through each proxy over the server's (target at -P 1: <= 2)."
    echo
    echo "| workload | redis req/CPU-s | predixy | slotproxy epoll | slotproxy uring |$([ "$threads1" = 1 ] && echo " uring -threads 1 | uring spread |") uring / redis | uring / predixy | epoll / redis | epoll / predixy | uring / epoll |"
    echo "|---|---:|---:|---:|---:|$([ "$threads1" = 1 ] && echo "---:|---:|")---:|---:|---:|---:|---:|"
    for wl in "${workloads[@]}"; do
        awk -F' *[|] *' -v wl="$wl" -v t1="$threads1" '
            function median(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            function med(t, col,   i, n, a) {
                n = 0
                for (i = 1; i <= rows; i++) if (tg[i] == t) a[++n] = v[i, col]
                return n ? median(a, n) : 0
            }
            $2 == wl && $3 ~ /^[0-9]+$/ { rows++; tg[rows] = $4; for (c = 5; c <= 10; c++) v[rows, c] = $c + 0 }
            END {
                if (!rows) exit
                rd = med("redis", 10); pd = med("predixy", 10); ep = med("epoll", 10); ur = med("uring", 10)
                printf "| %s | %.0f | %.0f | %.0f | %.0f |", wl, rd, pd, ep, ur
                if (t1) printf " %.0f | %.0f |", med("uring-t1", 10), med("uring-spread", 10)
                printf " %.2f | %.2f | %.2f | %.2f | %.2f |\n", ur / rd, ur / pd, ep / rd, ep / pd, ur / ep
            }' "$out"
    done
    echo
    echo "| workload | ops/s redis | predixy | epoll | uring | p50 ms redis | predixy | epoll | uring | p99 ms redis | predixy | epoll | uring | p99.9 ms redis | predixy | epoll | uring | p99 uring / redis | p99 epoll / redis | p99 predixy / redis |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for wl in "${workloads[@]}"; do
        awk -F' *[|] *' -v wl="$wl" '
            function median(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            function med(t, col,   i, n, a) {
                n = 0
                for (i = 1; i <= rows; i++) if (tg[i] == t) a[++n] = v[i, col]
                return n ? median(a, n) : 0
            }
            $2 == wl && $3 ~ /^[0-9]+$/ { rows++; tg[rows] = $4; for (c = 5; c <= 10; c++) v[rows, c] = $c + 0 }
            END {
                if (!rows) exit
                printf "| %s | %.0f | %.0f | %.0f | %.0f", wl, med("redis", 5), med("predixy", 5), med("epoll", 5), med("uring", 5)
                for (c = 6; c <= 8; c++) printf " | %.3f | %.3f | %.3f | %.3f", med("redis", c), med("predixy", c), med("epoll", c), med("uring", c)
                rp = med("redis", 7)
                printf " | %.2f | %.2f | %.2f |\n", med("uring", 7) / rp, med("epoll", 7) / rp, med("predixy", 7) / rp
            }' "$out"
    done
    echo
} | bench_finish
