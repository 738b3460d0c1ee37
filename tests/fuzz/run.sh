#!/bin/sh
# Build the libFuzzer harnesses with clang in build-fuzz and run each for SECONDS.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]     (default 60 s; every harness)
#
# Each run starts from tests/fuzz/corpus/<h> (and tests/fuzz/regress/<h>) and keeps
# what it learns in build-fuzz/fuzz/corpus/<h>, so later runs continue from there.
# A crash, leak, timeout or sanitizer report leaves its input in
# build-fuzz/fuzz/artifacts/ and makes the script exit non-zero: add the input to
# tests/fuzz/regress/<h>/ with the fix, and a Criterion test for it.
# Needs clang with libFuzzer (Debian: apt-get install clang).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-weights checkpoint idx cli plot ckpt_meta safetensors stats diff tokenizer}
build=$root/build-fuzz
command -v clang >/dev/null 2>&1 || {
    echo "run.sh: clang not found (apt-get install clang)" >&2
    exit 1
}
CC=clang cmake -S "$root" -B "$build" -DFMRT_FUZZ=ON -DFMRT_TESTS=OFF -DFMRT_OPENCL=OFF -DFMRT_CPU=OFF \
    -DFMRT_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=""
for h in $harnesses; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target $targets
status=0
for h in $harnesses; do
    corpus=$build/fuzz/corpus/$h
    mkdir -p "$corpus" "$build/fuzz/artifacts"
    seeds=$root/tests/fuzz/corpus/$h
    [ -d "$root/tests/fuzz/regress/$h" ] && seeds="$seeds $root/tests/fuzz/regress/$h"
    echo "== fuzz_$h for $secs s"
    # shellcheck disable=SC2086
    if ! "$build/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/artifacts/$h-" "$corpus" $seeds \
        2>"$build/fuzz/$h.log"; then
        status=1
        echo "fuzz_$h: FINDING, see $build/fuzz/$h.log and $build/fuzz/artifacts/" >&2
    fi
    grep -E "^#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec)" \
        "$build/fuzz/$h.log" || tail -n 30 "$build/fuzz/$h.log"
done
exit $status
