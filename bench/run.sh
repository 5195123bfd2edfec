#!/usr/bin/env bash
# The benchmark matrix, side by side in one run: every workload through slotproxy, directly
# against the cluster (redis-benchmark --cluster) and directly against one standalone
# redis-server. Starts its own cluster (127.0.0.1:7101-7106), proxy (7200) and server (7300).
#
# Workloads (redis-benchmark, 50 clients, 100,000 random keys unless said):
#   GET, SET at -P 1 and -P 16;
#   MSET and MGET of ten random keys (so over many slots) at -P 1 and -P 16; a cluster client
#   cannot send those across slots, so the cluster-direct MSET row uses redis-benchmark's
#   --cluster MSET (ten keys under one hash tag) and there is no cluster-direct MGET row;
#   the Go proxy's published benchmark: -c 500 -P 100 -r 10000 -t get,set (ten times N).
# For each: ops/s, p50 and p99 latency, the CPU (user + system, from schedstat) the proxy, the
# masters and the standalone server spent per million requests, the client's own (redis-benchmark,
# from bash's time), and resident memory. Writes bench/results/<date>.md with the detail and a
# summary table of the ratios issue 8 asks for, the throughput ratio split into the ceiling the
# CPU costs allow and the busy share; the machine's load average is recorded before and after.
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
bench_start_solo 7300

rss_kib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done; echo $t; }
masters=$(for p in 7101 7102 7103; do cat "$dir/node-$p/redis.pid"; done)

out="bench/results/$(date +%Y-%m-%d-%H%M).md"
mkdir -p bench/results
{
    echo "# slotproxy benchmark $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- redis-server: $(redis-server --version | awk '{print $3}'), slotproxy: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads $threads"
    echo "- redis-benchmark -c 50 -r 100000, -n $n at -P 1 and $((n * 5)) at -P 16 (MSET/MGET: a fifth of that); cluster: 3 masters + 3 replicas on loopback; server: one standalone redis-server"
    echo "- CPU columns: seconds of CPU (user + system, from schedstat) per million requests of the process(es) that served them: the proxy; the three masters (behind the proxy, or served directly); the standalone server. RSS: resident memory after the test, of the proxy, the masters (summed) or the server; client: redis-benchmark's own user + system time"
    echo
    echo "- idle: the share of the machine's CPU time that was idle during the test (/proc/stat); proxy wait: the time the proxy's threads were ready to run but waiting for a CPU (schedstat, summed over its threads), as a share of the test's time; see bench/README.md on why both are high through the proxy"
    echo
    echo "| test | -P | target | ops/s | p50 ms | p99 ms | proxy CPU s/1M | masters CPU s/1M | server CPU s/1M | client CPU s/1M | RSS MiB | idle | proxy wait |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$out"

# run KEY TARGET PIPELINE REQS CLIENTS KEYS redis-benchmark-args...: one line of the table, and
# the figures kept in variables named <field>_<KEY>_<TARGET> for the summary.
run() {
    local key=$1 target=$2 P=$3 reqs=$4 clients=$5 keys=$6; shift 6
    local pids port
    case $target in
    proxy) pids=$proxy port=(-p 7200) ;;
    cluster) pids=$masters port=(--cluster -p 7101) ;;
    server) pids=$solo port=(-p 7300) ;;
    esac
    local p0 m0 s0 p1 m1 s1 i0 i1 w0 w1 t0 t1 line
    p0=$(cpu_ns "$proxy"); m0=$(sum_ns $masters); s0=$(cpu_ns "$solo"); i0=$(cpu_idle)
    w0=$(wait_ns "$proxy"); t0=$(date +%s%N)
    # bash's time keyword: the client's own user + system time (getrusage), in seconds.
    local TIMEFORMAT='%3U %3S' ctime
    { time redis-benchmark "${port[@]}" -c "$clients" -n "$reqs" -r "$keys" -P "$P" --csv "$@" \
        >"$dir/rb.out" 2>/dev/null; } 2>"$dir/rb.time"
    line=$(tail -n 1 "$dir/rb.out")
    ctime=$(awk '{printf "%.0f", ($1 + $2) * 1e9}' "$dir/rb.time")
    p1=$(cpu_ns "$proxy"); m1=$(sum_ns $masters); s1=$(cpu_ns "$solo"); i1=$(cpu_idle)
    w1=$(wait_ns "$proxy"); t1=$(date +%s%N)
    local idle pwait="-"
    [ "$target" = proxy ] && pwait=$(awk -v w="$((w1 - w0))" -v t="$((t1 - t0))" 'BEGIN {printf "%.0f%%", 100 * w / t}')
    idle=$(echo "$i0 $i1" | awk '{d = $4 - $2; printf "%.0f%%", (d > 0 ? 100 * ($3 - $1) / d : 0)}')
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    local rps p50 p99 rss
    rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
    p50=$(echo "$line" | cut -d, -f5 | tr -d '"')
    p99=$(echo "$line" | cut -d, -f7 | tr -d '"')
    rss=$(awk -v k="$(rss_kib $pids)" 'BEGIN {printf "%.1f", k / 1024}')
    per1m() { awk -v a="$1" -v b="$2" -v n="$reqs" 'BEGIN {printf "%.3f", (b - a) / 1e9 / n * 1e6}'; }
    local pcpu mcpu scpu ccpu
    pcpu=$(per1m "$p0" "$p1") mcpu=$(per1m "$m0" "$m1") scpu=$(per1m "$s0" "$s1")
    ccpu=$(per1m 0 "$ctime")
    case $target in
    proxy) scpu="-" ;;
    cluster) pcpu="-" scpu="-" ;;
    server) pcpu="-" mcpu="-" ;;
    esac
    echo "| $key | $P | $target | $rps | $p50 | $p99 | $pcpu | $mcpu | $scpu | $ccpu | $rss | $idle | $pwait |" >>"$out"
    echo "$key $target: $rps ops/s p50 $p50 p99 $p99 ms, CPU s/1M proxy $pcpu masters $mcpu server $scpu client $ccpu, idle $idle, proxy wait $pwait" >&2
    printf -v "rps_${key}_${target}" %s "$rps"
    printf -v "p99_${key}_${target}" %s "$p99"
    printf -v "pcpu_${key}_${target}" %s "$pcpu"
    printf -v "mcpu_${key}_${target}" %s "$mcpu"
    printf -v "scpu_${key}_${target}" %s "$scpu"
    printf -v "ccpu_${key}_${target}" %s "$ccpu"
    printf -v "idle_${key}_${target}" %s "${idle%\%}"
}

# Every GET is a hit: the keys are written first, on the cluster and on the server alike (a miss
# costs a server less than half what a hit does, which would flatter whichever ran on empty).
# redis-benchmark --cluster names its keys with hash tags of its own, so the cluster is filled
# both through the proxy (the proxy's keys) and directly (the direct run's keys).
redis-benchmark -p 7200 -c 50 -n $((n * 2)) -r 100000 -P 16 -t set >/dev/null 2>&1
redis-benchmark --cluster -p 7101 -c 50 -n $((n * 2)) -r 100000 -P 16 -t set >/dev/null 2>&1
redis-benchmark -p 7300 -c 50 -n $((n * 2)) -r 100000 -P 16 -t set >/dev/null 2>&1
k='key:__rand_int__'
mset=(MSET "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v "$k" v)
mget=(MGET "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k")
keys=()
# -P 16 runs five times the requests (and MSET/MGET three times), so that each lasts about a
# second: redis-benchmark's rate includes its start, which would weigh on a short run.
for P in 1 16; do
    m=1
    [ "$P" = 16 ] && m=5
    for t in get set; do
        keys+=("${t}_P$P")
        for target in proxy cluster server; do
            run "${t}_P$P" $target "$P" $((n * m)) 50 100000 -t "$t"
        done
    done
    keys+=("mset_P$P" "mget_P$P")
    r=$((n * m * 3 / 15))
    run "mset_P$P" proxy "$P" $r 50 100000 "${mset[@]}"
    run "mset_P$P" cluster "$P" $r 50 100000 -t mset
    run "mset_P$P" server "$P" $r 50 100000 "${mset[@]}"
    run "mget_P$P" proxy "$P" $r 50 100000 "${mget[@]}"
    run "mget_P$P" server "$P" $r 50 100000 "${mget[@]}"
done
# The Go proxy's own benchmark: 500 clients pipelining 100, 10,000 keys.
for t in get set; do
    keys+=("go_$t")
    for target in proxy cluster server; do
        run "go_$t" $target 100 $((n * 10)) 500 10000 -t "$t"
    done
done
proxy_rss_peak=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$proxy/status")
proxy_errors=$(redis-cli -p 7200 info stats | tr -d '\r' | awk -F: '/^total_error_replies:/ {print $2}')

# ratio A B: A / B with two decimals, or "-" when either is missing.
ratio() { awk -v a="${1:--}" -v b="${2:--}" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}'; }
# The proxy's requests per CPU-second over the servers': the server's CPU per request over the
# proxy's. Above 1 means the hop costs less CPU than the servers' own work.
{
    echo
    echo "## Summary"
    echo
    echo "Throughput and p99 are proxy / cluster direct (redis-benchmark --cluster), same clients, same run. CPU is the proxy's requests per CPU-second divided by the servers' own serving the same workload directly: by one standalone redis-server, and by the three masters when redis-benchmark --cluster drives them (the same servers the proxy stands in front of). Above 1 means a request costs the proxy less CPU than it costs the servers."
    echo
    echo "| workload | ops/s proxy / cluster | p99 proxy / cluster | proxy req per CPU-s | CPU vs one server | CPU vs cluster masters | ceiling | busy |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for key in "${keys[@]}"; do
        eval "rp=\${rps_${key}_proxy:-} rc=\${rps_${key}_cluster:--}"
        eval "pp=\${p99_${key}_proxy:-} pc=\${p99_${key}_cluster:--}"
        eval "cp=\${pcpu_${key}_proxy:-} cs=\${scpu_${key}_server:--} cm=\${mcpu_${key}_cluster:--}"
        local_rate=$(awk -v c="$cp" 'BEGIN {if (c > 0) printf "%.0f", 1e6 / c; else print "-"}')
        eval "kc=\${ccpu_${key}_cluster:--} kp=\${ccpu_${key}_proxy:-} mp=\${mcpu_${key}_proxy:-}"
        eval "ic=\${idle_${key}_cluster:--} ip=\${idle_${key}_proxy:-}"
        ceiling=$(awk -v kc="$kc" -v cm="$cm" -v kp="$kp" -v mp="$mp" -v cp="$cp" 'BEGIN {
            if (kc == "-" || cm == "-") print "-"; else printf "%.2f", (kc + cm) / (kp + mp + cp) }')
        busy=$(awk -v ic="$ic" -v ip="$ip" 'BEGIN {if (ic == "-") print "-"; else printf "%.2f", (100 - ip) / (100 - ic)}')
        echo "| $key | $(ratio "$rp" "$rc") | $(ratio "$pp" "$pc") | $local_rate | $(ratio "$cs" "$cp") | $(ratio "$cm" "$cp") | $ceiling | $busy |"
    done
    echo
    echo "ceiling and busy split the throughput ratio in two (ops/s proxy / cluster is about their product). ceiling: the ratio if the machine's CPUs were busy all the time, both ways: the CPU per request of client + masters direct over that of client + masters + proxy through the proxy. The CPUs are the limit in both runs, so every µs the proxy spends, and every µs more the client and masters spend because the proxy batches their traffic differently, comes out of throughput. busy: the share of the machine's CPU time that was not idle through the proxy over the same share direct (below 1: CPUs idle while work waited, see bench/README.md, \"Idle CPU\")."
    echo
    echo "mset_P* cluster direct is MSET of ten keys under one hash tag (one slot); the proxy's MSET is ten random keys over many slots. mget has no cluster-direct row (a cluster client cannot send it across slots)."
    echo
    echo "- error replies the proxy sent over the whole run (INFO total_error_replies): $proxy_errors"
    echo "- proxy peak resident memory (VmHWM) over the whole run: $proxy_rss_peak MiB"
    echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out"
cat "$out"
echo "written to $out" >&2
