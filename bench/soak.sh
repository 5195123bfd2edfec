#!/usr/bin/env bash
# Soak: many client connections with mixed traffic and writers that check every acknowledged
# write, while faults are injected every few seconds (SIGSTOP, manual failover, replica restart,
# master SIGKILL + restart). Starts its own cluster (127.0.0.1:7101-7106) and proxy (port 7200)
# and writes bench/results/<date>-soak.md: requests, faults, lost writes, errors by type, peak
# memory.
#   bench/soak.sh [-duration SECONDS] [-conns N] [-rate REQ_PER_S] [-writers N] [-fault-interval S]
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    -duration|-conns|-rate|-writers|-fault-interval) args+=("-$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [-duration S] [-conns N] [-rate R] [-writers N] [-fault-interval S]" >&2; exit 2 ;;
    esac
done

. bench/lib.sh
bench_build
bench_start -threads 2 -maxclients 20000 -backend-timeout 1s

bench_out soak
{
    echo "# slotproxy soak $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads 2 -backend-timeout 1s; cluster-node-timeout 2 s"
    echo
    /usr/bin/python3 bench/soak.py --port 7200 --pid "$proxy" --cluster-dir "$dir" "${args[@]}"
    if kill -0 "$proxy" 2>/dev/null; then echo "- the proxy ran throughout"; else echo "- **the proxy died**"; fi
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- proxy log: $(grep -c ' warn ' "$dir/proxy.log" || true) warnings, $(grep -c ' error ' "$dir/proxy.log" || true) errors"
} | tee "$out"
echo "written to $out" >&2
