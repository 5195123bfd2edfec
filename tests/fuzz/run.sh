#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS (default 30), one
# after the other, over a copy of the seed corpus in a temporary folder, so the corpus in the
# repository is never touched. Exits non-zero when a target crashes, fails a check, leaks or
# times out, and prints the input that did it (kept outside the repository).
#   tests/fuzz/run.sh          30 s per target
#   tests/fuzz/run.sh 20       what the test command runs
#   tests/fuzz/run.sh 3600     the long run
# Environment: PX_FUZZ_BUILD (build folder, default build/fuzz), JOBS (parallel build jobs),
# PX_FUZZ_KEEP=1 keeps the temporary folder (its corpus holds what the run discovered).
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-30}
case "$secs" in '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [seconds-per-target]" >&2; exit 2 ;; esac
build=${PX_FUZZ_BUILD:-build/fuzz}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
.ci/deps # clang and its libFuzzer runtime, when missing

CC=clang cmake -S . -B "$build" -DPX_FUZZ=ON -DPX_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_resp_req fuzz_resp_reply

work=$(mktemp -d "${TMPDIR:-/tmp}/slotproxy-fuzz.XXXXXX")
status=0
for t in req reply; do
    mkdir -p "$work/corpus-$t" "$work/artifacts-$t"
    cp tests/fuzz/corpus/$t/* "$work/corpus-$t/"
    # 8 KiB: room for RESP_MAX_DEPTH + 1 nested aggregates of 4 bytes each.
    echo "=== fuzz_resp_$t: ${secs}s"
    rc=0
    "$build/tests/fuzz/fuzz_resp_$t" -max_total_time="$secs" -max_len=8192 -timeout=5 \
        -rss_limit_mb=2048 -dict=tests/fuzz/resp.dict -print_final_stats=1 \
        -artifact_prefix="$work/artifacts-$t/" "$work/corpus-$t" >"$work/fuzz_resp_$t.log" 2>&1 ||
        rc=$?
    # The last status line has the executions, the coverage (cov) and the features (ft).
    grep -E '^#[0-9]+' "$work/fuzz_resp_$t.log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
        "$work/fuzz_resp_$t.log" || true
    if [ "$rc" -ne 0 ]; then
        status=1
        tail -40 "$work/fuzz_resp_$t.log"
        echo "fuzz_resp_$t FAILED (exit $rc); log: $work/fuzz_resp_$t.log"
        for a in "$work/artifacts-$t"/*; do
            [ -e "$a" ] && echo "crashing input: $a (replay: $build/tests/fuzz/fuzz_resp_$t $a)"
        done
    fi
done
if [ "$status" -eq 0 ] && [ "${PX_FUZZ_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
else
    echo "kept: $work"
fi
exit "$status"
