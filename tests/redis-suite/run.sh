#!/usr/bin/env bash
# Runs Redis 7.0.15's own test suite through slotproxy and counts what passes.
#
# The suite is the specification of how a Redis server answers, so a proxy that passes it behaves
# like Redis to its clients. This script starts a throwaway 3-master + 3-replica cluster
# (tests/cluster.sh) with slotproxy in front of it and runs every unit of the suite against the
# proxy, one runtest process per unit, as an external server in cluster mode. It builds nothing:
# it tests the binary it is given.
#
# A unit that aborts (an exception in its setup, a timeout, a crash) never reports the tests it
# did not reach, so the counts need to know what a unit holds. They come from tests/redis-suite/
# REFERENCE: the tests that pass when the same unit runs, in the same way, against one real
# redis-server in cluster mode that owns all 16384 slots, which is what the proxy presents to its
# clients. `--reference` regenerates that file. Every reference test that the proxy run neither
# passes nor fails counts as failed ("not reached").
#
# The suite expects a fresh server for every block, and the proxy cannot give it one, so between
# units the script resets the nodes directly, not through the proxy: FLUSHALL and FUNCTION FLUSH
# on the masters; SCRIPT FLUSH, CLIENT UNPAUSE, the ACL users and the CONFIG values that changed
# since the start (CONFIG GET * is taken of each node at the start) on every node; and CLIENT
# UNPAUSE through the proxy, whose pause is its own. It also checks
# that the proxy and the nodes still run; one that died is noted in the output and started again,
# so that one crash does not fail every unit after it.
#
# A failed or unreached test makes the script exit non-zero unless tests/redis-suite/
# EXPECTED_FAILURES lists it (unit<TAB>test name<TAB>why); listed tests that pass again are
# reported, so the list can shrink. The last line of the output is exactly `N passed, M failed`.
#
#   tests/redis-suite/run.sh                     every unit through the proxy (about 10 minutes)
#   tests/redis-suite/run.sh unit/type/string    only the units named
#   tests/redis-suite/run.sh --reference         regenerate REFERENCE (all units, or those named)
#
# Options (each also an environment variable):
#   --proxy PATH       slotproxy binary (SLOTPROXY; default build/release/proxy/slotproxy)
#   --suite PATH       the suite (REDIS_SUITE; default ../shared/redis-7.0.15-suite); it is
#                      copied into the work folder first, since runtest writes next to its tests
#   --base-port N      first port (SUITE_BASE_PORT; default 20701): the cluster takes N..N+5, the
#                      proxy N+7, the reference node N+8, runtest N+68..N+199; each cluster node
#                      also takes its port + 10000 for the cluster bus
#   --timeout S        seconds one unit may take before it is killed (SUITE_UNIT_TIMEOUT; 600)
#   --stall S          seconds one test may take before runtest gives the unit up
#                      (SUITE_STALL_TIMEOUT; 120): a test waiting for a reply that never comes
#                      would otherwise wait for ever, as the suite's client has no read timeout
#   --work DIR         logs and servers (SUITE_WORK; default build/redis-suite), emptied first;
#                      logs/<unit>.log is each unit's runtest output, results.tsv what was parsed
#   --proxy-args ARGS  extra slotproxy flags, split on spaces (SLOTPROXY_ARGS)
# Paths are relative to the repository root. Needs tclsh (Debian package tcl), redis-server and
# redis-cli: .ci/deps installs them.
set -euo pipefail
# The whole script is one block, which bash reads before it runs any of it: a run then goes on
# as it started even if this file is edited meanwhile.
{
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

proxy_bin=${SLOTPROXY:-build/release/proxy/slotproxy}
suite_src=${REDIS_SUITE:-../shared/redis-7.0.15-suite}
base=${SUITE_BASE_PORT:-20701}
unit_timeout=${SUITE_UNIT_TIMEOUT:-600}
stall_timeout=${SUITE_STALL_TIMEOUT:-120}
work=${SUITE_WORK:-build/redis-suite}
proxy_args=${SLOTPROXY_ARGS:-}
reference=0
units=()

usage() { # STATUS: the usage lines of the header; on stderr unless asked for
    sed -n '/^#   tests/,/^# redis-cli/p' "$here/$(basename "$0")" | sed 's/^# \{0,1\}//' >&"$(( $1 == 0 ? 1 : 2 ))"
    exit "$1"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --proxy) proxy_bin=${2:?}; shift 2 ;;
    --suite) suite_src=${2:?}; shift 2 ;;
    --base-port) base=${2:?}; shift 2 ;;
    --timeout) unit_timeout=${2:?}; shift 2 ;;
    --stall) stall_timeout=${2:?}; shift 2 ;;
    --work) work=${2:?}; shift 2 ;;
    --proxy-args) proxy_args=${2?}; shift 2 ;;
    --reference) reference=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage 2 ;;
    *) units+=("$1"); shift ;;
    esac
done
case "$base$unit_timeout$stall_timeout" in
*[!0-9]*) echo "--base-port, --timeout and --stall take numbers" >&2; exit 2 ;;
esac
[ "$base" -ge 1024 ] && [ "$((base + 10200))" -le 65535 ] || { echo "--base-port out of range" >&2; exit 2; }

for t in tclsh redis-server redis-cli timeout; do
    command -v "$t" >/dev/null || { echo "$t is missing; .ci/deps installs it" >&2; exit 1; }
done
[ -x "$suite_src/runtest" ] || { echo "no Redis test suite at $suite_src (--suite)" >&2; exit 1; }
if [ "$reference" = 0 ]; then
    [ -x "$proxy_bin" ] || { echo "no slotproxy binary at $proxy_bin (--proxy); build it first" >&2; exit 1; }
    proxy_bin=$(cd "$(dirname "$proxy_bin")" && pwd)/$(basename "$proxy_bin")
fi

ref_file=$here/REFERENCE
expected_file=$here/EXPECTED_FAILURES
proxy_port=$((base + 7))
ref_port=$((base + 8))
# runtest's own server listens in baseport-32..baseport-1; tests that need a free port take it
# from baseport..baseport+portcount-1. Both stay inside our range.
rt_baseport=$((base + 100))
rt_portcount=100
# The tags ABOUT.md names: these tests need a server process of their own.
deny_tags="-needs:debug -needs:repl -needs:save -needs:latency -needs:local-process -needs:pfdebug"
deny_tags+=" -needs:config-maxmemory -needs:config-resetstat"

start_time=$SECONDS
mkdir -p "$work"
work=$(cd "$work" && pwd)
rm -rf "${work:?}"/{logs,suite,cluster,reference,state}
rm -f "$work"/results.tsv "$work"/events.tsv "$work"/proxy.log "$work"/proxy.stderr
mkdir -p "$work/logs" "$work/state"
results=$work/results.tsv
events=$work/events.tsv
: >"$results"
: >"$events"

# The suite runs from a private copy: runtest writes tests/tmp and deletes what it finds there,
# which must not touch a suite shared with other runs. Its tests run src/redis-server and
# src/redis-cli (as in a Redis source tree); the installed ones stand in for them.
cp -r "$suite_src" "$work/suite"
chmod -R u+w "$work/suite"
mkdir -p "$work/suite/src" "$work/suite/tests/tmp"
for b in redis-server redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    p=$(command -v "$b" || true)
    [ -n "$p" ] && ln -sf "$p" "$work/suite/src/$b"
done

# The units named, each once; or every unit, but a proxy run leaves out those in which no test
# runs against the reference server either (all their tests need a server process of their own):
# each would cost a runtest start and a reset for nothing. Naming a unit runs it anyway.
skipped=()
if [ ${#units[@]} -gt 0 ]; then
    mapfile -t units < <(printf '%s\n' "${units[@]}" | awk '!seen[$0]++')
else
    mapfile -t units < <(cd "$work/suite" && ./runtest --list-tests)
    if [ "$reference" = 0 ] && [ -f "$ref_file" ]; then
        mapfile -t skipped < <(awk -F'\t' '$1 == "U" && $3 == 0 { print $2 }' "$ref_file")
        mapfile -t units < <(printf '%s\n' "${units[@]}" | grep -vxF -f <(printf '%s\n' "${skipped[@]}" ""))
    fi
fi

# ---------------------------------------------------------------------------------------------
# Servers. Everything started here is stopped by pid in cleanup, which runs on any exit.

proxy_pid=
ref_pid=
unit_pid=
watchdog_pid=
cli() { # PORT ARGS...: one command to one server, bounded so that a paused node cannot hang us
    local p=$1
    shift
    timeout 10 redis-cli -h 127.0.0.1 -p "$p" "$@" 2>/dev/null || true
}
alive() { # PID: 0 when it runs and is not a zombie
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$st" in Z*) return 1 ;; esac
}
stop_pid() { # PID: SIGTERM, then SIGKILL after 5 s
    local p=$1
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() {
    trap - EXIT INT TERM HUP
    # timeout runs each unit in a process group of its own: runtest's server and client with it.
    [ -n "$unit_pid" ] && kill -9 -- "-$unit_pid" 2>/dev/null
    stop_pid "$proxy_pid"
    stop_pid "$ref_pid"
    [ -d "$work/cluster" ] && tests/cluster.sh stop "$work/cluster" >/dev/null 2>&1
    [ -n "$watchdog_pid" ] && kill "$watchdog_pid" 2>/dev/null
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM HUP

note() { # UNIT TEXT: an event that the summary reports (a crash, a restart, a reset that failed)
    printf '%s\t%s\n' "$1" "$2" >>"$events"
    echo "  !! $2"
}

start_proxy() {
    local nodes=() i
    for i in 0 1 2 3 4 5; do nodes+=("127.0.0.1:$((base + i))"); done
    # shellcheck disable=SC2086 # proxy_args is a list of flags
    "$proxy_bin" -addr "127.0.0.1:$proxy_port" -startup-nodes "$(IFS=,; echo "${nodes[*]}")" \
        -log-file "$work/proxy.log" $proxy_args >>"$work/proxy.stderr" 2>&1 </dev/null &
    proxy_pid=$!
    echo "$proxy_pid" >"$work/state/pid.proxy"
    # Ready when it answers a command that needs the slot map (DBSIZE goes to every master).
    for _ in $(seq 1 100); do
        case "$(cli "$proxy_port" dbsize)" in [0-9]*) return 0 ;; esac
        alive "$proxy_pid" || break
        sleep 0.1
    done
    echo "slotproxy did not start; $work/proxy.stderr and proxy.log say why:" >&2
    tail -5 "$work/proxy.stderr" "$work/proxy.log" >&2 || true
    return 1
}

start_reference_node() {
    local d=$work/reference attempt
    # Three attempts, as for the cluster below.
    for attempt in 1 2 3; do
        stop_pid "$ref_pid"
        rm -rf "$d"
        mkdir -p "$d"
        # The same options as tests/cluster.sh gives its nodes, so that only the proxy differs.
        (cd "$d" && exec redis-server --port "$ref_port" --bind 127.0.0.1 --cluster-enabled yes \
            --cluster-config-file nodes.conf --save '' --appendonly no --daemonize no \
            --logfile "$d/redis.log" --enable-debug-command local) >/dev/null 2>&1 </dev/null &
        ref_pid=$!
        echo "$ref_pid" >"$work/state/pid.reference"
        for _ in $(seq 1 100); do [ "$(cli "$ref_port" ping)" = PONG ] && break; sleep 0.05; done
        [ "$(cli "$ref_port" cluster addslotsrange 0 16383)" = OK ] || continue
        for _ in $(seq 1 100); do
            cli "$ref_port" cluster info | grep -q cluster_state:ok && return 0
            sleep 0.1
        done
    done
    echo "the reference node did not start; $d/redis.log says why" >&2
    return 1
}

# Stops what this script started if the script itself is killed with SIGKILL, when no trap runs
# (the cluster has a watchdog of its own, through WATCH_PID).
(
    trap '' HUP INT
    while kill -0 $$ 2>/dev/null; do sleep 1; done
    for f in "$work"/state/pid.*; do [ -f "$f" ] && kill -9 -- "$(cat "$f")"; done
) >/dev/null 2>&1 </dev/null &
watchdog_pid=$!

# The nodes the reset goes to: the six cluster nodes, or the reference node.
node_ports=()
if [ "$reference" = 1 ]; then
    echo "reference: one redis-server in cluster mode owning all slots, on 127.0.0.1:$ref_port"
    start_reference_node
    node_ports=("$ref_port")
    target=$ref_port
else
    # The cluster bus ports (base + 10000) lie in Linux's ephemeral range (32768-60999), so an
    # outgoing connection of another program can hold one for a moment: try three times.
    for attempt in 1 2 3; do
        tests/cluster.sh start "$work/cluster" "$base" $$ >"$work/cluster.log" 2>&1 && break
        [ "$attempt" = 3 ] && { cat "$work/cluster.log" >&2; exit 1; }
        echo "the cluster did not start (attempt $attempt): $(tail -1 "$work/cluster.log")"
        sleep 2
    done
    for i in 0 1 2 3 4 5; do node_ports+=("$((base + i))"); done
    start_proxy
    echo "proxy: $proxy_bin on 127.0.0.1:$proxy_port, cluster on 127.0.0.1:$base-$((base + 5))"
    target=$proxy_port
fi

# Takes what the reset restores: CONFIG GET * and ACL LIST of every node, as they are now.
for p in "${node_ports[@]}"; do
    cli "$p" config get '*' >"$work/state/config.$p"
    cli "$p" acl list >"$work/state/acl.$p"
    [ -s "$work/state/config.$p" ] || { echo "CONFIG GET * failed on node $p" >&2; exit 1; }
done

# Sets back every parameter whose value differs from the snapshot. CONFIG GET * answers name and
# value on lines of their own (values never hold a newline). A parameter that cannot be set at
# run time cannot have changed either, so a refused CONFIG SET is noted, not fatal.
restore_config() { # UNIT PORT
    local u=$1 p=$2 name val r
    local -A now=()
    while IFS= read -r name && IFS= read -r val; do now[$name]=$val; done < <(cli "$p" config get '*')
    while IFS= read -r name && IFS= read -r val; do
        [ "${now[$name]-}" = "$val" ] && continue
        r=$(cli "$p" config set "$name" "$val")
        [ "$r" = OK ] || note "$u" "node $p: CONFIG SET $name back to '$val' failed: $r"
    done <"$work/state/config.$p"
}

# Deletes the ACL users that were not there at the start and gives those that changed their
# rules back. (Not `ACL SETUSER reset`: that adds sanitize-payload, which the default user of a
# fresh server does not show.)
restore_acl() { # UNIT PORT
    local u=$1 p=$2 line user rules now
    local snap=$work/state/acl.$p
    [ "$(cli "$p" acl list)" = "$(cat "$snap")" ] && return 0
    while read -r _ user _; do
        grep -q "^user $user " "$snap" || cli "$p" acl deluser "$user" >/dev/null
    done < <(cli "$p" acl list)
    now=$(cli "$p" acl list)
    while IFS= read -r line; do
        grep -qxF -- "$line" <<<"$now" && continue
        read -r _ user rules <<<"$line"
        # shellcheck disable=SC2086 # the rules are ACL LIST's words
        cli "$p" acl setuser "$user" resetpass resetkeys resetchannels clearselectors -@all $rules >/dev/null
    done <"$snap"
    [ "$(cli "$p" acl list)" = "$(cat "$snap")" ] || note "$u" "node $p: ACL users could not be restored"
}

# 0 when the node on port $1 answers PING. A node still running a script or function that a test
# left behind (it answers -BUSY) gets SCRIPT KILL and FUNCTION KILL first, and 5 s to recover.
node_ok() { # UNIT PORT
    local r
    r=$(cli "$2" ping)
    [ "$r" = PONG ] && return 0
    case "$r" in BUSY*) ;; *) return 1 ;; esac
    note "$1" "node $2 was still running a script: SCRIPT KILL and FUNCTION KILL"
    cli "$2" script kill >/dev/null
    cli "$2" function kill >/dev/null
    for _ in $(seq 1 50); do [ "$(cli "$2" ping)" = PONG ] && return 0; sleep 0.1; done
    return 1
}

# Waits until every node answers PING and says cluster_state:ok; restarts a node that died or
# does not answer (a restarted master comes back as a replica after its replica took over).
check_nodes() { # UNIT (the unit that just ran)
    local u=$1 p ok=1
    for p in "${node_ports[@]}"; do
        case "$(cli "$p" cluster info)" in *cluster_state:ok*) continue ;; esac
        ok=0
        node_ok "$u" "$p" && continue
        if [ "$reference" = 1 ]; then
            note "$u" "reference node died or hung; started again"
            start_reference_node
        else
            note "$u" "cluster node $p died or hung; started again"
            tests/cluster.sh restart "$work/cluster" "$p" >>"$work/cluster.log" 2>&1 || true
        fi
    done
    [ "$ok" = 1 ] && return 0
    for _ in $(seq 1 300); do
        ok=1
        for p in "${node_ports[@]}"; do cli "$p" cluster info | grep -q cluster_state:ok || ok=0; done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    note "$u" "the cluster is not ok after 30 s"
}

# Each node gets its commands in one redis-cli call: under load, every process counts.
reset_nodes() { # UNIT
    local u=$1 p r masters
    check_nodes "$u"
    # The masters as the cluster sees them now: a failover may have moved them.
    masters=$(cli "${node_ports[0]}" cluster nodes |
        awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }')
    [ -n "$masters" ] || note "$u" "CLUSTER NODES named no master: nothing was flushed"
    for p in "${node_ports[@]}"; do
        if grep -qx "$p" <<<"$masters"; then
            r=$(printf '%s\n' 'CLIENT UNPAUSE' 'SCRIPT FLUSH' 'FLUSHALL' 'FUNCTION FLUSH' | cli "$p" | tr '\n' ' ')
            [ "$r" = "OK OK OK OK " ] ||
                note "$u" "node $p: CLIENT UNPAUSE, SCRIPT FLUSH, FLUSHALL, FUNCTION FLUSH answered $r"
        else
            printf '%s\n' 'CLIENT UNPAUSE' 'SCRIPT FLUSH' | cli "$p" >/dev/null
        fi
        restore_config "$u" "$p"
        restore_acl "$u" "$p"
    done
    # The proxy's own pause, as a fresh server has none (a unit that stopped half-way through a
    # test can leave one for minutes).
    [ "$reference" = 1 ] || cli "$proxy_port" client unpause >/dev/null || true
}

# Notes a proxy that died or stopped answering during the unit, and starts a new one.
check_proxy() { # UNIT
    local u=$1 st=0
    [ "$reference" = 1 ] && return 0
    if alive "$proxy_pid"; then
        [ "$(cli "$proxy_port" ping)" = PONG ] && return 0
        note "$u" "PROXY HUNG (no PONG within 10 s); killed with SIGKILL and started again"
        stop_pid "$proxy_pid"
    else
        wait "$proxy_pid" 2>/dev/null || st=$?
        if [ "$st" -gt 128 ]; then st="signal $((st - 128))"; else st="exit status $st"; fi
        note "$u" "PROXY DIED ($st); started again; its stderr is in $work/proxy.stderr"
        tail -20 "$work/proxy.stderr" | sed 's/^/      /'
    fi
    start_proxy
}

# ---------------------------------------------------------------------------------------------
# Runs one unit and turns its log into lines of results.tsv: unit, kind, name. Kinds: ok, err
# (a test that failed, with its name), block (an error outside any test that ended a block, with
# the error), exception (the unit stopped), skip/ignore (tags), and end (how runtest ended).

parse_log() { # UNIT LOG RC
    awk -v unit="$1" -v rc="$3" '
        BEGIN { OFS = "\t"; done = 0; ex = "" }
        { sub(/\r$/, "") }
        /^\[ok\]: / {
            s = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", s); print unit, "ok", s; next }
        /^\[err\]: / {
            s = substr($0, 8)
            # A test failure is "<name> in tests/<file>.tcl"; anything else is an error that
            # --durable caught around a whole start_server block. runtest cuts the first 10
            # characters of that error; the next line, the Tcl stack, starts with all of it.
            if (match(s, / in tests\/[^ ]*\.tcl$/)) print unit, "err", substr(s, 1, RSTART - 1)
            else if ((getline nl) > 0) print unit, "block", nl
            else print unit, "block", s
            next }
        /^\[exception\]: / { ex = "exception: " substr($0, 14); next }
        /^\[skip\]: / { print unit, "skip", substr($0, 9); next }
        /^\[ignore\]: / { print unit, "ignore", substr($0, 11); next }
        /^\[TIMEOUT\]/ { ex = "stalled: a test ran longer than --stall allows" }
        / => \(IN PROGRESS\) / { if (ex != "") ex = ex ": " substr($0, index($0, "(IN PROGRESS) ") + 14) }
        /^\[[0-9]+\/[0-9]+ done\]: / { done = 1 }
        END {
            if (ex != "") print unit, "exception", ex
            if (rc == 124 || rc == 137) print unit, "end", "killed by the unit timeout"
            else if (!done) print unit, "end", "ended before its last test (exit status " rc ")"
            else print unit, "end", "done"
        }' "$2"
}

n_units=${#units[@]}
i=0
for unit in "${units[@]}"; do
    i=$((i + 1))
    log=$work/logs/${unit//\//_}.log
    t0=$SECONDS
    printf '[%d/%d] %-40s ' "$i" "$n_units" "$unit"
    # The subshell execs timeout, so $! is timeout's pid, and timeout puts itself and runtest's
    # processes in a new process group of that id: one kill stops them all.
    (cd "$work/suite" && exec env TERM=dumb timeout -k 10 "$unit_timeout" ./runtest \
        --host 127.0.0.1 --port "$target" --baseport "$rt_baseport" --portcount "$rt_portcount" \
        --cluster-mode --ignore-encoding --durable --timeout "$stall_timeout" \
        --tags "$deny_tags" --single "$unit") >"$log" 2>&1 </dev/null &
    unit_pid=$!
    echo "-$unit_pid" >"$work/state/pid.unit"
    rc=0
    wait "$unit_pid" || rc=$?
    kill -9 -- "-$unit_pid" 2>/dev/null || true
    unit_pid=
    rm -f "$work/state/pid.unit"
    parse_log "$unit" "$log" "$rc" >>"$results"
    awk -F'\t' -v u="$unit" -v s=$((SECONDS - t0)) '$1 == u { n[$2]++; if ($2 == "end") e = $3 }
        END { printf "%4ds  ok %-4d err %-4d %s\n", s, n["ok"], n["err"], (e == "done" ? "" : e) }' "$results"
    # What the unit left behind (a dead proxy or node, data, configuration) is put right now, and
    # noted against this unit.
    # The nodes first: a script a test left running makes the proxy's PING answer -BUSY too.
    reset_nodes "$unit"
    check_proxy "$unit"
done

wall=$((SECONDS - start_time))

# ---------------------------------------------------------------------------------------------
# The report. REFERENCE lines: U<TAB>unit<TAB>tests that pass, T<TAB>unit<TAB>test name (one per
# passing test, in order; a name can repeat), F<TAB>unit<TAB>test name (fails on the reference).

if [ "$reference" = 1 ]; then
    new=$(mktemp)
    {
        echo "# What Redis 7.0.15's test suite reports, unit by unit, against one redis-server in"
        echo "# cluster mode that owns all 16384 slots (what slotproxy presents), run externally as"
        echo "# tests/redis-suite/run.sh runs it. Written by \`tests/redis-suite/run.sh --reference\`."
        echo "# U<TAB>unit<TAB>tests that pass; T<TAB>unit<TAB>name of a test that passes (one line per"
        echo "# run of it); F<TAB>unit<TAB>name of a test that fails on the reference too."
        echo "# redis-server: $(redis-server --version)"
        # Units not run this time keep their lines; all are written in runtest's order, so that
        # regenerating some units changes only their lines.
        {
            if [ -f "$ref_file" ]; then
                awk -F'\t' 'NR == FNR { ran[$0] = 1; next } /^#/ { next } !($2 in ran)' \
                    <(printf '%s\n' "${units[@]}") "$ref_file"
            fi
            awk -F'\t' -v OFS='\t' '
                { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
                $2 == "ok" { ok[$1]++; t[$1] = t[$1] "T\t" $1 "\t" $3 "\n" }
                $2 == "err" { f[$1] = f[$1] "F\t" $1 "\t" $3 "\n" }
                END { for (i = 1; i <= n; i++) { u = order[i]; print "U", u, ok[u] + 0
                    printf "%s%s", t[u], f[u] } }' "$results"
        } | awk -F'\t' 'NR == FNR { order[++n] = $0; next }
                { if (!($2 in body)) late[++m] = $2; body[$2] = body[$2] $0 "\n" }
                END { for (i = 1; i <= n; i++) { printf "%s", body[order[i]]; done[order[i]] = 1 }
                      for (i = 1; i <= m; i++) if (!(late[i] in done)) printf "%s", body[late[i]] }' \
            <(cd "$work/suite" && ./runtest --list-tests) -
    } >"$new"
    mv "$new" "$ref_file"
fi

[ -f "$ref_file" ] || { echo "no $ref_file: run with --reference first" >&2; exit 1; }
report=$work/report.txt
set +e
awk -F'\t' -v OFS='\t' -v mode="$([ "$reference" = 1 ] && echo reference || echo proxy)" \
    -v failures="$work/failures.tsv" '
    FILENAME == ARGV[1] {                       # EXPECTED_FAILURES
        if ($0 ~ /^#/ || $0 ~ /^[ \t]*$/) next
        expected[$1 "\t" $2] = $3; next }
    FILENAME == ARGV[2] {                       # REFERENCE
        if ($1 == "U") refn[$2] = $3
        else if ($1 == "T") { refc[$2 "\t" $3]++; refnames[$2] = refnames[$2] $3 "\n" }
        next }
    FILENAME == ARGV[3] {                       # events
        ev[$1] = ev[$1] $2 "\n"; next }
    {                                           # results
        u = $1
        if (!(u in isunit)) { isunit[u] = 1; order[++n] = u }
        if ($2 == "ok") { ok[u]++; seen[u "\t" $3]++ }
        else if ($2 == "err") { err[u]++; seen[u "\t" $3]++; fail[++nf] = u "\t" $3 "\tfailed" }
        else if ($2 == "block") block[u] = block[u] $3 "\n"
        else if ($2 == "exception") exc[u] = $3
        else if ($2 == "end") end[u] = $3
    }
    END {
        printf "%-40s %5s %6s %6s %11s  %s\n", "unit", "ref", "passed", "failed", "not reached", "note"
        for (i = 1; i <= n; i++) {
            u = order[i]; nr = 0
            k = split(refnames[u], names, "\n")
            for (j = 1; j < k; j++) {
                key = u "\t" names[j]
                if (seen[key] > 0) seen[key]--
                else { nr++; fail[++nf] = key "\tnot reached" }
            }
            why = (end[u] == "done") ? "" : end[u]
            if (exc[u] != "") why = substr(exc[u], 1, 80)
            else if (block[u] != "") { split(block[u], b, "\n"); why = why (why == "" ? "" : "; ") "block error: " substr(b[1], 1, 60) }
            if (ev[u] != "") why = why (why == "" ? "" : "; ") "EVENT"
            printf "%-40s %5d %6d %6d %11d  %s\n", u, refn[u], ok[u], err[u], nr, why
            tref += refn[u]; tok += ok[u]; terr += err[u]; tnr += nr
        }
        printf "%-40s %5d %6d %6d %11d\n", "total", tref, tok, terr, tnr
        # Failed tests are named; tests a unit never reached are counted per unit, as there can
        # be hundreds (failures.tsv names them all).
        unexpected = 0; fixed = 0
        for (j = 1; j <= nf; j++) {
            split(fail[j], f, "\t"); key = f[1] "\t" f[2]
            print fail[j] > failures
            if (key in expected) { stillfails[key] = 1; continue }
            if (mode != "proxy") continue
            if (!unexpected++) print "\nfailed or not reached, and not in EXPECTED_FAILURES:"
            if (f[3] == "failed") print "  " f[1] ": " f[2]
            else if (!(f[1] in nrunlisted)) { nrunlisted[f[1]] = 0; nrorder[++nnr] = f[1] }
            if (f[3] != "failed") nrunlisted[f[1]]++
        }
        for (i = 1; i <= nnr; i++)
            print "  " nrorder[i] ": " nrunlisted[nrorder[i]] " tests not reached"
        for (key in expected) {
            split(key, f, "\t")
            if ((f[1] in isunit) && !(key in stillfails)) {
                if (!fixed++) print "\nin EXPECTED_FAILURES but passed (remove them from the list):"
                print "  " f[1] ": " f[2]
            }
        }
        for (i = 1; i <= n; i++) {
            u = order[i]
            if (block[u] != "") printf "\n%s: errors outside a test ended a block:\n%s", u, block[u]
            if (exc[u] != "") printf "\n%s: %s\n", u, exc[u]
            if (ev[u] != "") printf "\n%s: %s", u, ev[u]
        }
        print "__TOTALS__", tok, terr + tnr, unexpected
    }' "$( [ -f "$expected_file" ] && echo "$expected_file" || echo /dev/null)" "$ref_file" "$events" "$results" >"$report"
set -e
grep -v '^__TOTALS__' "$report"
read -r _ passed failed unexpected < <(grep '^__TOTALS__' "$report" | tr '\t' ' ')
echo
[ ${#skipped[@]} -eq 0 ] ||
    echo "not run: ${#skipped[@]} units in which no test runs against the reference either (REFERENCE)"
echo "wall time $((wall / 60))m$((wall % 60))s; logs in $work/logs, failing tests in $work/failures.tsv"
echo "$passed passed, $failed failed"
[ "$reference" = 1 ] || [ "$unexpected" = 0 ]
}
