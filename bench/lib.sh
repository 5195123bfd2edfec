# Shared by the bench scripts (sourced from the repository's root): builds the release binary,
# starts a throwaway cluster on 127.0.0.1:7101-7106 and slotproxy on 127.0.0.1:7200, and stops
# both when the script exits. After bench_start: $dir (the cluster's folder, the proxy logs to
# $dir/proxy.log) and $proxy (the proxy's pid).

bench_build() {
    .ci/deps
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build/release -j "${BENCH_JOBS:-$(nproc)}" --target slotproxy >/dev/null
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

bench_cleanup() {
    [ -n "${proxy:-}" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null || true
    [ -n "${proxy2:-}" ] && kill "$proxy2" 2>/dev/null && wait "$proxy2" 2>/dev/null || true
    [ -n "${solo:-}" ] && kill "$solo" 2>/dev/null && wait "$solo" 2>/dev/null || true
    tests/cluster.sh stop "$dir" || true
    rm -rf "$dir"
}

# bench_start FLAGS...: the cluster, then the proxy with FLAGS, ready when it answers PING.
bench_start() {
    dir=$(mktemp -d /tmp/slotproxy-bench.XXXXXX)
    proxy=
    trap bench_cleanup EXIT
    tests/cluster.sh start "$dir" 7101 $$ >/dev/null
    # BENCH_WRAP: a command to run the proxy under (bench/callgrind.sh uses valgrind).
    ${BENCH_WRAP:-} build/release/proxy/slotproxy -addr 127.0.0.1:7200 \
        -startup-nodes 127.0.0.1:7101 -log-file "$dir/proxy.log" "$@" &
    proxy=$!
    for _ in $(seq 1 400); do redis-cli -p 7200 ping >/dev/null 2>&1 && break; sleep 0.05; done
}

# bench_start_solo PORT (after bench_start): one standalone redis-server (no cluster, no
# persistence) on 127.0.0.1:PORT, for the "one redis-server direct" figures; $solo is its pid.
bench_start_solo() {
    mkdir -p "$dir/solo"
    (cd "$dir/solo" && exec redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile "$dir/solo/redis.log") &
    solo=$!
    for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && break; sleep 0.05; done
}

# bench_out KIND: sets $out to bench/results/<date>-KIND.md and makes the folder.
bench_out() {
    out="bench/results/$(date +%Y-%m-%d-%H%M)-$1.md"
    mkdir -p bench/results
}
# The machine line at the head of a results file.
bench_machine() {
    echo "- machine: $(nproc) CPUs, kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench_finish: appends standard input to $out, then the load average, prints the whole file
# and says where it is. The tail goes through a temporary file because it is usually made by
# reading $out (bench_medians), which must not see its own output.
bench_finish() {
    cat >"$out.tmp"
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out.tmp"
    cat "$out.tmp" >>"$out"
    rm -f "$out.tmp"
    cat "$out"
    echo "written to $out" >&2
}

# CPU time in nanoseconds, summed over the process's threads (schedstat: time on a CPU, user and
# system, at nanosecond resolution, where /proc/<pid>/stat counts 10 ms ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{t += $1} END {printf "%.0f", t}'; }
# Time spent runnable but waiting for a CPU, in nanoseconds, summed over the process's threads.
wait_ns() { cat /proc/"$1"/task/*/schedstat | awk '{t += $2} END {printf "%.0f", t}'; }
# The machine's idle and total CPU time so far, in clock ticks (/proc/stat: idle + iowait, and all).
cpu_idle() { awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
sum_ns() { local p; for p in "$@"; do cpu_ns "$p"; echo; done | awk '{t += $1} END {printf "%.0f", t}'; }

# ---- two proxies in front of the same cluster, taking turns (threads.sh, epoll.sh) ----

# bench_n_rounds DEFAULT_N DEFAULT_ROUNDS ARGS...: sets n and rounds from -n and -rounds.
bench_n_rounds() {
    n=$1 rounds=$2
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
        -n) n=$2; shift 2 ;;
        -rounds) rounds=$2; shift 2 ;;
        *) echo "usage: $0 [-n REQUESTS] [-rounds R]" >&2; exit 2 ;;
        esac
    done
}

# bench_second_proxy PORT BINARY FLAGS... (after bench_start): a second proxy on PORT; $proxy2 is
# its pid, stopped with the rest.
bench_second_proxy() {
    local port=$1 bin=$2
    shift 2
    "$bin" -addr "127.0.0.1:$port" -startup-nodes 127.0.0.1:7101 -log-file "$dir/proxy-$port.log" "$@" &
    proxy2=$!
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
}

# bench_turn OUT WORKLOAD ROUND VARIANT PORT PID REQUESTS redis-benchmark-args...: one run through
# the proxy on PORT (pid PID), appended to OUT as "| workload | round | variant | ops/s | µs of the
# proxy's CPU per request |".
bench_turn() {
    local out=$1 wl=$2 round=$3 variant=$4 port=$5 pid=$6 reqs=$7
    shift 7
    local a b line rps cpu
    a=$(cpu_ns "$pid")
    line=$(redis-benchmark -p "$port" -n "$reqs" --csv "$@" 2>/dev/null | tail -n 1)
    b=$(cpu_ns "$pid")
    rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
    cpu=$(awk -v a="$a" -v b="$b" -v n="$reqs" 'BEGIN {printf "%.3f", (b - a) / 1e3 / n}')
    echo "| $wl | $round | $variant | $rps | $cpu |" >>"$out"
    echo "$wl round $round $variant: $rps ops/s, $cpu µs CPU per request" >&2
}

# bench_turns OUT WORKLOAD ROUNDS REQUESTS "VARIANT_A PORT_A PID_A" "VARIANT_B PORT_B PID_B"
# redis-benchmark-args...: ROUNDS rounds of both, alternating which goes first.
bench_turns() {
    local out=$1 wl=$2 rounds=$3 reqs=$4 a=$5 b=$6 r
    shift 6
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then
            bench_turn "$out" "$wl" "$r" $a "$reqs" "$@"
            bench_turn "$out" "$wl" "$r" $b "$reqs" "$@"
        else
            bench_turn "$out" "$wl" "$r" $b "$reqs" "$@"
            bench_turn "$out" "$wl" "$r" $a "$reqs" "$@"
        fi
    done
}

# bench_medians OUT VARIANT_A VARIANT_B WORKLOADS...: the table of medians of OUT's rows.
bench_medians() {
    local out=$1 va=$2 vb=$3 wl
    shift 3
    echo "| workload | $va ops/s | $vb ops/s | $vb / $va | $va CPU µs/req | $vb CPU µs/req | $vb / $va |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for wl in "$@"; do
        awk -F' *[|] *' -v wl="$wl" -v va="$va" -v vb="$vb" '
            function median(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            $2 == wl && $3 ~ /^[0-9]+$/ {
                if ($4 == va) { ra[++na] = $5 + 0; ca[na] = $6 + 0 }
                if ($4 == vb) { rb[++nb] = $5 + 0; cb[nb] = $6 + 0 }
            }
            END {
                if (!na || !nb) exit
                oa = median(ra, na); ob = median(rb, nb); pa = median(ca, na); pb = median(cb, nb)
                printf "| %s | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f |\n", wl, oa, ob, ob / oa, pa, pb, pb / pa
            }' "$out"
    done
}
