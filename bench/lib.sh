# Shared by the bench scripts (sourced from the repository's root): builds the release binary,
# starts a throwaway cluster on 127.0.0.1:7101-7106 and slotproxy on 127.0.0.1:7200, and stops
# both when the script exits. After bench_start: $dir (the cluster's folder, the proxy logs to
# $dir/proxy.log) and $proxy (the proxy's pid).

bench_build() {
    .ci/deps
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build/release -j "$(nproc)" --target slotproxy >/dev/null
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

bench_cleanup() {
    [ -n "${proxy:-}" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null || true
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

# CPU time in nanoseconds, summed over the process's threads (schedstat: time on a CPU, user and
# system, at nanosecond resolution, where /proc/<pid>/stat counts 10 ms ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{t += $1} END {printf "%.0f", t}'; }
sum_ns() { local p; for p in "$@"; do cpu_ns "$p"; echo; done | awk '{t += $1} END {printf "%.0f", t}'; }
