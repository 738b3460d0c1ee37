#!/usr/bin/env bash
# The OpenCL program-binary cache: the first open builds and stores the program, the
# second loads it, and a corrupt entry (flipped bytes, truncation) is rebuilt and
# rewritten, never trusted. Usage: cl_cache.sh FMRT
set -euo pipefail
fmrt=$1
if ! "$fmrt" backends | grep -qx opencl; then echo "skipped: opencl not compiled in"; exit 77; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export FMRT_CACHE_DIR=$dir
run() { "$fmrt" conformance --backend opencl --op silu_fwd --model none >"$dir/out" 2>&1 ||
        { cat "$dir/out"; exit 1; }; }

run
f=$(ls "$dir"/cl-*.bin)
test -s "$f"
good=$(md5sum <"$f")
echo "stored $(basename "$f") ($(stat -c %s "$f") bytes)"

run # from the cache
test "$(md5sum <"$f")" = "$good"

# Corrupt the binary in the middle: the CRC catches it; the entry is rebuilt.
size=$(stat -c %s "$f")
printf '\xff\xff\xff\xff' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
test "$(md5sum <"$f")" != "$good"
run
test "$(md5sum <"$f")" = "$good"
echo "corrupt entry rebuilt"

# Truncated entry, and garbage in place of the header.
head -c 100 "$f" >"$f.cut" && mv "$f.cut" "$f"
run
test "$(md5sum <"$f")" = "$good"
printf 'not a cache entry' >"$f"
run
test "$(md5sum <"$f")" = "$good"
echo "truncated and garbage entries rebuilt"
