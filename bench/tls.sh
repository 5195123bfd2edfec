#!/usr/bin/env bash
# What TLS costs through the proxy, measured side by side: one proxy (-threads 1) in front of the
# cluster, with its plain-text port (7200) and a TLS port (7201), and redis-benchmark taking turns
# on each, alternating which goes first: GET and SET at -P 1 and -P 16, 50 clients, 100,000 keys,
# ROUNDS times each. The TLS client verifies the proxy's certificate and shows its own (the
# default -tls-auth-clients yes); the certificates are throwaway ones from tests/tls_certs.sh (EC
# P-256). The nodes are reached over plain TCP either way: this is the cost of the clients' side.
# Then connections: PING with redis-benchmark -k 0, a new connection for every request (20
# clients), so that each TLS request is a full handshake (redis-benchmark does not resume
# sessions): its ops/s on the TLS port is the proxy's handshakes per second, and its CPU per
# request what a connection with its handshake costs the proxy.
# Writes bench/results/<date>-tls.md with every run and the medians of ops/s and of the proxy's
# CPU per request, TLS against plain; on this shared machine only ratios within the run mean
# something.
#   bench/tls.sh [-n REQUESTS] [-rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_n_rounds 500000 3 "$@"
bench_build

certs=$(mktemp -d /tmp/slotproxy-tls-certs.XXXXXX)
tests/tls_certs.sh "$certs" >/dev/null
bench_start -threads 1 -log-level warn -tls-port 7201 -tls-cert-file "$certs/server.crt" \
    -tls-key-file "$certs/server.key" -tls-ca-cert-file "$certs/ca.crt"
trap 'bench_cleanup; rm -rf "$certs"' EXIT
tls=(--tls --cacert "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key")
redis-cli "${tls[@]}" -p 7201 ping | grep -q PONG || { echo "no PONG on the TLS port" >&2; exit 1; }
redis-benchmark -p 7200 -c 50 -n 300000 -r 100000 -P 16 -t set >/dev/null 2>&1 # GETs hit
session=$(printf 'QUIT\r\n' | openssl s_client -connect 127.0.0.1:7201 -CAfile "$certs/ca.crt" \
    -cert "$certs/client.crt" -key "$certs/client.key" -ign_eof 2>/dev/null |
    grep -m1 -E '^(New|Reused),' || true)

bench_out tls
{
    echo "# TLS against plain text through slotproxy $(git rev-parse --short HEAD) $(date '+%Y-%m-%d %H:%M')"
    echo
    bench_machine
    echo "- one proxy, -threads 1: plain-text port 7200 and TLS port 7201 in the same process, taking turns; nodes over plain TCP"
    echo "- $(openssl version); the session: ${session:-?}; certificates EC P-256, client certificate verified"
    echo "- redis-benchmark $(redis-benchmark --version 2>/dev/null | awk '{print $2}' | tr -d v), 50 clients, 100,000 keys; n = $n (-P 1: n / 5)"
    echo
    echo "| workload | round | port | ops/s | proxy CPU µs/request |"
    echo "|---|---:|---|---:|---:|"
} >"$out"

for wl in get_P1 set_P1 get_P16 set_P16; do
    P=${wl#*_P} t=${wl%_P*}
    reqs=$n
    [ "$P" = 1 ] && reqs=$((n / 5))
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then
            bench_turn "$out" "$wl" "$r" plain 7200 "$proxy" "$reqs" -c 50 -r 100000 -P "$P" -t "$t"
            bench_turn "$out" "$wl" "$r" tls 7201 "$proxy" "$reqs" "${tls[@]}" -c 50 -r 100000 \
                -P "$P" -t "$t"
        else
            bench_turn "$out" "$wl" "$r" tls 7201 "$proxy" "$reqs" "${tls[@]}" -c 50 -r 100000 \
                -P "$P" -t "$t"
            bench_turn "$out" "$wl" "$r" plain 7200 "$proxy" "$reqs" -c 50 -r 100000 -P "$P" -t "$t"
        fi
    done
done

# Connections: PING on a new connection each time; n / 100 requests a turn.
hs_count() { redis-cli -p 7200 info proxy | tr -d '\r' | awk -F: '$1 == "tls_client_handshakes" {print $2}'; }
creqs=$((n / 100))
hs0=$(hs_count)
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then
        bench_turn "$out" connect "$r" plain 7200 "$proxy" "$creqs" -c 20 -k 0 -t ping_mbulk
        bench_turn "$out" connect "$r" tls 7201 "$proxy" "$creqs" "${tls[@]}" -c 20 -k 0 -t ping_mbulk
    else
        bench_turn "$out" connect "$r" tls 7201 "$proxy" "$creqs" "${tls[@]}" -c 20 -k 0 -t ping_mbulk
        bench_turn "$out" connect "$r" plain 7200 "$proxy" "$creqs" -c 20 -k 0 -t ping_mbulk
    fi
done
hs1=$(hs_count)

hs=$(redis-cli -p 7200 info proxy | tr -d '\r' | grep -E '^tls_client_handshake' | tr '\n' ' ')
{
    echo
    echo "Medians. The tls / plain columns: for ops/s, the share of plain text's throughput TLS keeps; for CPU per request, how many times the plain request's CPU a TLS request costs the proxy."
    echo
    bench_medians "$out" plain tls get_P1 set_P1 get_P16 set_P16 connect
    echo
    echo "- connect: PING with redis-benchmark -k 0 (a new connection per request, 20 clients, $creqs requests a turn); on the TLS port each is a full handshake, so its ops/s is handshakes per second; the proxy counted $((hs1 - hs0)) TLS handshakes during these turns ($((creqs * rounds)) requests)"
    echo "- proxy counters after the run: $hs"
} | bench_finish
