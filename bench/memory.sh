#!/usr/bin/env bash
# Memory of slotproxy: resident memory idle, with many idle client connections (bytes per
# connection), and during and after a burst of clients pipelining large values (is it returned
# to the OS, and how fast). Starts its own cluster (127.0.0.1:7101-7106) and proxy (port 7200)
# and writes bench/results/<date>-memory.md.
#   bench/memory.sh [-idle N] [-clients N] [-pipeline K] [-size BYTES] [-threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=10000 clients=1000 pipeline=4 size=100000 threads=2
while [ $# -gt 0 ]; do
    case "$1" in
    -idle) idle=$2; shift 2 ;;
    -clients) clients=$2; shift 2 ;;
    -pipeline) pipeline=$2; shift 2 ;;
    -size) size=$2; shift 2 ;;
    -threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [-idle N] [-clients N] [-pipeline K] [-size BYTES] [-threads N]" >&2; exit 2 ;;
    esac
done

. bench/lib.sh
bench_build
bench_start -threads "$threads" -maxclients $((idle + clients + 100)) -log-level warn

bench_out memory
{
    echo "# slotproxy memory $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- slotproxy $(git rev-parse --short HEAD 2>/dev/null || echo '?'), -threads $threads; resident memory is VmRSS from /proc"
    echo
    /usr/bin/python3 bench/memory.py --pid "$proxy" --port 7200 --idle "$idle" \
        --burst-clients "$clients" --burst-pipeline "$pipeline" --value-size "$size"
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
echo "written to $out" >&2
