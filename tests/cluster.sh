#!/usr/bin/env bash
# Start and stop a throwaway Redis Cluster on loopback: 3 masters + 3 replicas.
#
# CLUSTER_REPLICAS=2 gives each master two replicas (9 nodes); CLUSTER_SPREAD_IPS=1 puts the
# replicas on 127.0.0.2, 127.0.0.3, ... (one address per replica rank), for data-centre tests.
# CLUSTER_TLS=DIR makes a TLS-only cluster: every node runs with `--port 0 --tls-port PORT
# --tls-cluster yes --tls-replication yes`, with DIR/node.crt, DIR/node.key and DIR/ca.crt, and
# this script talks to the nodes with `redis-cli --tls` (the same certificate as a client one).
#
#   tests/cluster.sh start DIR [BASE_PORT] [WATCH_PID]
#   tests/cluster.sh stop DIR
#   tests/cluster.sh restart DIR PORT
#
# `start` runs six redis-servers on BASE_PORT..BASE_PORT+5 (default 7001), with their data, logs
# and pid files under DIR, joins them with `redis-cli --cluster create --cluster-replicas 1`, and
# returns when every node reports cluster_state:ok and agrees on the slot map. When WATCH_PID is
# given, a small watchdog stops the servers as soon as that process is gone, so a test runner
# that is killed never leaves servers behind. `stop` kills exactly the pids recorded in DIR
# (never by name) and waits for them to exit. `restart` starts the node on PORT again with the
# command line `start` gave it (same directory, same nodes.conf, so it rejoins the cluster as the
# node it was), after killing it with SIGKILL if it still runs; it updates the pid file, so `stop`
# and the watchdog still find it, and returns when the node answers PING.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
base=${3:-7001}
watch=${4:-}
replicas=${CLUSTER_REPLICAS:-1}
n=$((3 * (1 + replicas)))
node_timeout=${CLUSTER_NODE_TIMEOUT:-2000}
tls_dir=${CLUSTER_TLS:-}
tls_cli=()
if [ -n "$tls_dir" ]; then
    tls_dir=$(cd "$tls_dir" && pwd)
    tls_cli=(--tls --cacert "$tls_dir/ca.crt" --cert "$tls_dir/node.crt" --key "$tls_dir/node.key")
fi
# redis-cli, over TLS for a TLS cluster.
rcli() { redis-cli "${tls_cli[@]}" "$@"; }

# The address of node i: masters on 127.0.0.1; replicas on 127.0.0.(2 + rank) when spread.
node_ip() {
    if [ "${CLUSTER_SPREAD_IPS:-0}" = 1 ] && [ "$1" -ge 3 ]; then
        echo "127.0.0.$((2 + ($1 - 3) / 3))"
    else
        echo 127.0.0.1
    fi
}

usage() {
    echo "usage: $0 start DIR [BASE_PORT] [WATCH_PID] | stop DIR | restart DIR PORT" >&2
    exit 2
}

# 0 when pid runs: a process killed with SIGKILL stays a zombie until it is reaped, and a zombie
# holds no port any more.
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$st" in Z*) return 1 ;; esac
}

# Runs the node in directory $1 with the command line saved there by `start`, in the foreground
# of a background subshell so that $! is the server's own pid, and records that pid.
run_node() {
    local nd=$1
    (cd "$nd" && eval "exec $(cat "$nd/cmdline")") >/dev/null 2>&1 &
    echo $! >"$nd/redis.pid"
}

# Waits up to 5 s for the node on ip $1, port $2 to answer PING.
wait_ping() {
    for _ in $(seq 1 100); do
        rcli -h "$1" -p "$2" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    return 1
}

[ -n "$cmd" ] && [ -n "$dir" ] || usage

stop_pids() {
    local d=$1 pids=() p
    for f in "$d"/node-*/redis.pid "$d"/node-*/extra.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f" 2>/dev/null || true)
        [ -n "$p" ] && pids+=("$p")
    done
    [ -f "$d/watchdog.pid" ] && kill "$(cat "$d/watchdog.pid")" 2>/dev/null || true
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local running=0
        for p in "${pids[@]}"; do alive "$p" && running=1; done
        [ "$running" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -f "$d"/node-*/redis.pid "$d/watchdog.pid"
}

case "$cmd" in
stop)
    stop_pids "$dir"
    exit 0
    ;;
restart)
    [ -n "${3:-}" ] || usage
    nd="$dir/node-$3"
    [ -f "$nd/cmdline" ] || { echo "no node $3 in $dir" >&2; exit 1; }
    if [ -f "$nd/redis.pid" ]; then
        old=$(cat "$nd/redis.pid")
        if alive "$old"; then
            kill -CONT "$old" 2>/dev/null || true
            kill -9 "$old" 2>/dev/null || true
            for _ in $(seq 1 50); do alive "$old" || break; sleep 0.1; done
        fi
    fi
    run_node "$nd"
    wait_ping "$(cat "$nd/ip")" "$3" || { echo "node $3 did not answer PING after restart" >&2; exit 1; }
    exit 0
    ;;
start) ;;
*) usage ;;
esac

command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stop_pids "$dir"

for i in $(seq 0 $((n - 1))); do
    port=$((base + i))
    nd="$dir/node-$port"
    rm -rf "$nd"
    mkdir -p "$nd"
    ip=$(node_ip "$i")
    echo "$ip" >"$nd/ip"
    # Saved, so that `restart` runs the node exactly as it was started.
    ports=(--port "$port")
    if [ -n "$tls_dir" ]; then
        ports=(--port 0 --tls-port "$port" --tls-cluster yes --tls-replication yes
               --tls-cert-file "$tls_dir/node.crt" --tls-key-file "$tls_dir/node.key"
               --tls-ca-cert-file "$tls_dir/ca.crt")
    fi
    printf '%q ' redis-server "${ports[@]}" --bind "$ip" --cluster-announce-ip "$ip" \
        --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout "$node_timeout" \
        --save '' --appendonly no --daemonize no --logfile "$nd/redis.log" \
        --cluster-replica-validity-factor 0 --cluster-allow-replica-migration no \
        --enable-debug-command local --repl-ping-replica-period 1 >"$nd/cmdline"
    run_node "$nd"
done

if [ -n "$watch" ]; then
    (
        trap '' HUP
        while kill -0 "$watch" 2>/dev/null; do sleep 1; done
        for f in "$dir"/node-*/redis.pid "$dir"/node-*/extra.pid; do
            [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
        done
    ) >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/watchdog.pid"
fi

for i in $(seq 0 $((n - 1))); do
    wait_ping "$(node_ip "$i")" $((base + i)) || true
done

hosts=()
for i in $(seq 0 $((n - 1))); do hosts+=("$(node_ip "$i"):$((base + i))"); done
if ! rcli --cluster create "${hosts[@]}" --cluster-replicas "$replicas" --cluster-yes \
    >"$dir/create.log" 2>&1; then
    cat "$dir/create.log" >&2
    stop_pids "$dir"
    exit 1
fi

# Wait until every node says the cluster is ok and every node sees the replicas attached.
for _ in $(seq 1 300); do
    ok=1
    for i in $(seq 0 $((n - 1))); do
        port=$((base + i))
        cli=(rcli -h "$(node_ip "$i")" -p "$port")
        "${cli[@]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
        [ "$("${cli[@]}" cluster nodes 2>/dev/null | grep -c 'slave')" = $((3 * replicas)) ] || ok=0
        if "${cli[@]}" role 2>/dev/null | head -1 | grep -q slave; then
            "${cli[@]}" info replication 2>/dev/null | grep -q 'master_link_status:up' || ok=0
        fi
    done
    # Replicas count as usable once the masters gossip a non-zero replication offset for them.
    [ "$(rcli -p "$base" cluster shards 2>/dev/null | grep -c '^online$')" = "$n" ] || ok=0
    [ "$ok" = 1 ] && break
    sleep 0.1
done
if [ "$ok" != 1 ]; then
    echo "cluster on $base did not become healthy" >&2
    stop_pids "$dir"
    exit 1
fi
echo "cluster up: ${hosts[*]}"
