#!/usr/bin/env bash
# Builds ctorch with warnings as errors and runs every test: once in a normal build and once
# under AddressSanitizer + UndefinedBehaviorSanitizer. Exits non-zero on any failure.
#   scripts/test.sh            both builds
#   CTORCH_TEST_SANITIZE=0 scripts/test.sh   normal build only
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup.sh
scripts/fetch_models.sh   # real-model tests use them; they report "skipped" without them

run_suite() { # run_suite BUILD_DIR [cmake args...]
    local dir=$1; shift
    cmake -S . -B "$dir" -DCTORCH_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
    ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

run_suite build
if [ "${CTORCH_TEST_SANITIZE:-1}" != 0 ]; then
    # The sanitizer build is CPU-only: the CUDA code was compiled above and has no host
    # behaviour to check here.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCTORCH_SANITIZE=address,undefined -DCTORCH_CUDA=OFF
fi
