#!/usr/bin/env bash
# Builds and runs every test: unit + integration on the release build, the ASan+UBSan build and
# the TSan build (its integration suites on the epoll engine with clients spread over the workers,
# the others' on io_uring with clients packed, the default), then a short fuzz run of the RESP
# parsers (tests/fuzz/run.sh, 20 s per target).
# Each build has its own folder under build/. Stops at the first failure.
#   tests/run-all.sh            everything
#   tests/run-all.sh release    one flavour (release, asan, tsan or fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/deps

jobs=$(nproc 2>/dev/null || echo 2)
flavours=("$@")
[ ${#flavours[@]} -eq 0 ] && flavours=(release asan tsan fuzz)

for f in "${flavours[@]}"; do
    if [ "$f" = fuzz ]; then
        echo "=== fuzz: build and run"
        start=$(date +%s)
        JOBS=$jobs tests/fuzz/run.sh 20
        echo "=== fuzz: passed in $(( $(date +%s) - start ))s"
        continue
    fi
    case "$f" in
    release) opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) opts=(-DCMAKE_BUILD_TYPE=Debug -DPX_ASAN=ON) ;;
    tsan) opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPX_TSAN=ON) ;;
    *) echo "unknown flavour $f (release, asan, tsan, fuzz)" >&2; exit 2 ;;
    esac
    echo "=== $f: build"
    cmake -S . -B "build/$f" -DPX_WERROR=ON "${opts[@]}" >/dev/null
    cmake --build "build/$f" -j "$jobs"
    echo "=== $f: tests"
    start=$(date +%s)
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
    # The TSan pass runs the integration suites on the epoll engine, the others on io_uring (the
    # default), so that every run passes the whole suite under both engines. It also spreads the
    # clients over the workers (-worker-busy 0), so that what crosses workers (CLIENT LIST,
    # REDIRECT targets, pauses) runs under TSan; the others pack them, as by default (and the
    # conn suite moves clients between workers in both).
    flags=${PX_PROXY_FLAGS-}
    if [ "$f" = tsan ] && [ -z "$flags" ]; then flags="-io epoll -worker-busy 0"; fi
    (cd "build/$f" && PX_PROXY_FLAGS="$flags" ctest --output-on-failure)
    echo "=== $f: passed in $(( $(date +%s) - start ))s"
done
