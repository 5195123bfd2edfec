#!/usr/bin/env bash
# slotproxy beside another proxy, in front of the same single redis-server. twemproxy (Debian's
# nutcracker, the proxy most Redis deployments have run) cannot route Redis Cluster slots, so the
# server here is a one-node cluster: one cluster-enabled redis-server that owns all 16,384 slots,
# which both proxies can stand in front of. slotproxy (-threads 1, as twemproxy has one thread) on
# 127.0.0.1:7200, twemproxy on 7201, the server on 7110; all run throughout, and for each
# workload the three targets (the server directly, slotproxy, twemproxy) take turns, ROUNDS
# times, in a rotating order. Workloads: GET and SET at -P 1 and -P 16 (50 clients, 100,000
# random keys, every GET a hit), and MSET and MGET of ten random keys under one hash tag at -P 16
# (a cluster node refuses keys of more than one slot, so neither the direct run nor twemproxy
# could send keys of many slots; bench/run.sh measures slotproxy's fan-out over many slots).
#
# For each run: ops/s, p99, and the CPU per request (user + system, schedstat) of the proxy and
# of the server. Writes bench/results/<date>-peers.md with every run and the medians: each
# proxy's ops/s and p99 over the server's served directly, and the server's CPU per request
# (served directly) over the proxy's, the CPU target of issue 8 (above 1: a request costs the
# proxy less than it costs the server).
#
# With one server the proxy has one node connection to write to and read from per loop turn,
# where in front of bench/run.sh's three masters it has three: the same proxy, a smaller share of
# node traffic per request. bench/README.md compares the two.
#   bench/peers.sh [-n REQUESTS] [-rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_n_rounds 300000 3 "$@"
bench_build
if ! command -v nutcracker >/dev/null; then
    sudo=()
    [ "$(id -u)" != 0 ] && sudo=(sudo)
    echo "installing nutcracker (twemproxy)" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        nutcracker >/dev/null ||
        { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            "${sudo[@]}" apt-get install -y -qq --no-install-recommends nutcracker >/dev/null; }
fi

dir=$(mktemp -d /tmp/slotproxy-peers.XXXXXX)
node= proxy= nc=
peers_cleanup() {
    local p
    for p in $proxy $nc $node; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap peers_cleanup EXIT

(cd "$dir" && exec redis-server --port 7110 --bind 127.0.0.1 --save '' --appendonly no \
    --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --logfile "$dir/redis.log") &
node=$!
for _ in $(seq 1 100); do redis-cli -p 7110 ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p 7110 cluster addslotsrange 0 16383 >/dev/null
for _ in $(seq 1 100); do
    redis-cli -p 7110 cluster info | grep -q '^cluster_state:ok' && break
    sleep 0.1
done

build/release/proxy/slotproxy -addr 127.0.0.1:7200 -startup-nodes 127.0.0.1:7110 -threads 1 \
    -log-file "$dir/slotproxy.log" &
proxy=$!
cat >"$dir/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:7201
  hash: fnv1a_64
  distribution: ketama
  redis: true
  server_connections: 1
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:7110:1
EOF
nutcracker -c "$dir/nutcracker.yml" -o "$dir/nutcracker.log" -s 22299 -a 127.0.0.1 &
nc=$!
for port in 7200 7201; do
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "$port" ping >/dev/null || { echo "nothing answers on $port" >&2; exit 1; }
done

# Both proxies answer every workload's command as the server does (redis-benchmark does not
# count error replies, so a proxy that refused MSET would look fast).
for port in 7110 7200 7201; do
    got=$(redis-cli -p "$port" mset '{p}a' 1 '{p}b' 2; redis-cli -p "$port" mget '{p}a' '{p}b')
    [ "$(echo $got)" = "OK 1 2" ] || { echo "port $port answers MSET/MGET with: $got" >&2; exit 1; }
done
redis-benchmark -p 7110 -c 50 -n 400000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit

bench_out peers
{
    echo "# slotproxy and twemproxy in front of one redis-server $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- $(redis-server --version | cut -d' ' -f1-3), one cluster-enabled node owning every slot on 7110; slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?') -threads 1 on 7200; $(nutcracker --version 2>&1 | head -1 | sed 's/This is //') on 7201 (server_connections 1)"
    echo "- redis-benchmark -c 50 -r 100000; -n $n at -P 1, $((n * 5)) at -P 16, $n for ten-key MSET/MGET; $rounds rounds, the three targets taking turns in a rotating order"
    echo "- CPU: µs of user + system time per request (schedstat) of the proxy, and of the server (whether it was driven directly or through the proxy)"
    echo
    echo "| workload | round | target | ops/s | p99 ms | proxy CPU µs/req | server CPU µs/req |"
    echo "|---|---:|---|---:|---:|---:|---:|"
} >"$out"

# turn WORKLOAD ROUND TARGET REQUESTS redis-benchmark-args...
turn() {
    local wl=$1 round=$2 target=$3 reqs=$4 port pid=
    shift 4
    case $target in
    direct) port=7110 ;;
    slotproxy) port=7200 pid=$proxy ;;
    twemproxy) port=7201 pid=$nc ;;
    esac
    local p0 s0 p1 s1 line
    p0=$([ -n "$pid" ] && cpu_ns "$pid" || echo 0)
    s0=$(cpu_ns "$node")
    line=$(redis-benchmark -p "$port" -c 50 -r 100000 -n "$reqs" --csv "$@" 2>/dev/null | tail -n 1)
    p1=$([ -n "$pid" ] && cpu_ns "$pid" || echo 0)
    s1=$(cpu_ns "$node")
    awk -v wl="$wl" -v r="$round" -v t="$target" -v line="$line" -v p=$((p1 - p0)) \
        -v s=$((s1 - s0)) -v n="$reqs" 'BEGIN {
            split(line, f, ","); gsub(/"/, "", f[2]); gsub(/"/, "", f[7])
            printf "| %s | %d | %s | %.0f | %.3f | %s | %.3f |\n", wl, r, t, f[2], f[7],
                (t == "direct" ? "-" : sprintf("%.3f", p / 1e3 / n)), s / 1e3 / n
        }' | tee -a "$out" >&2
}

# MSET and MGET keys share a hash tag: a cluster node (and so the direct run and twemproxy, which
# sends a multi-key command to its one server whole) refuses keys of more than one slot.
k='{t}key:__rand_int__'
targets=(direct slotproxy twemproxy)
workloads=(get_P1 set_P1 get_P16 set_P16 mset_P16 mget_P16)
for wl in "${workloads[@]}"; do
    P=${wl#*_P} cmd=${wl%_P*} reqs=$n
    [ "$P" = 16 ] && [ "$cmd" = get -o "$cmd" = set ] && reqs=$((n * 5))
    case $cmd in
    get | set) args=(-t "$cmd") ;;
    mset) args=(MSET "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v) ;;
    mget) args=(MGET "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k") ;;
    esac
    for r in $(seq 1 "$rounds"); do
        for i in 0 1 2; do
            turn "$wl" "$r" "${targets[$(((r - 1 + i) % 3))]}" "$reqs" -P "$P" "${args[@]}"
        done
    done
done

{
    echo
    echo "## Medians"
    echo
    echo "ops/s and p99: the proxy's over the server's served directly (1.0: the hop costs nothing). CPU: the server's µs per request served directly over the proxy's (above 1: a request costs the proxy less CPU than it costs the server, issue 8's CPU target)."
    echo
    echo "| workload | direct ops/s | slotproxy ops/s | twemproxy ops/s | ops/s slotproxy / direct | ops/s twemproxy / direct | p99 slotproxy / direct | p99 twemproxy / direct | server CPU µs/req direct | slotproxy CPU µs/req | twemproxy CPU µs/req | CPU vs server, slotproxy | CPU vs server, twemproxy |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
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
            $2 == wl && $3 ~ /^[0-9]+$/ {
                rows++; tg[rows] = $4; v[rows, 1] = $5 + 0; v[rows, 2] = $6 + 0
                v[rows, 3] = $7 + 0; v[rows, 4] = $8 + 0
            }
            END {
                if (!rows) exit
                d = med("direct", 1); s = med("slotproxy", 1); t = med("twemproxy", 1)
                dp = med("direct", 2); sp = med("slotproxy", 2); tp = med("twemproxy", 2)
                dc = med("direct", 4); sc = med("slotproxy", 3); tc = med("twemproxy", 3)
                printf "| %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.3f | %.2f | %.2f |\n",
                    wl, d, s, t, s / d, t / d, sp / dp, tp / dp, dc, sc, tc, dc / sc, dc / tc
            }' "$out"
    done
    echo
    echo "- twemproxy errors: $(grep -c -i 'error' "$dir/nutcracker.log" 2>/dev/null || true) lines with \"error\" in its log"
} | bench_finish
