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
    tests/cluster.sh stop "$dir" || true
    rm -rf "$dir"
}

# bench_start FLAGS...: the cluster, then the proxy with FLAGS, ready when it answers PING.
bench_start() {
    dir=$(mktemp -d /tmp/slotproxy-bench.XXXXXX)
    proxy=
    trap bench_cleanup EXIT
    tests/cluster.sh start "$dir" 7101 $$ >/dev/null
    build/release/proxy/slotproxy -addr 127.0.0.1:7200 -startup-nodes 127.0.0.1:7101 \
        -log-file "$dir/proxy.log" "$@" &
    proxy=$!
    for _ in $(seq 1 100); do redis-cli -p 7200 ping >/dev/null 2>&1 && break; sleep 0.05; done
}
