#!/usr/bin/env bash
# The OpenCL program-binary cache: the first open builds and stores the program, the
# second loads it (the entry is not rewritten), and a corrupt entry (flipped bytes,
# truncation, garbage) is rebuilt and rewritten, never trusted. A rebuilt entry need
# not be byte-identical to the first one (PoCL's binaries differ between a cold and a
# warm PoCL kernel cache), so the test checks that it is a new, valid entry: the run
# after it loads it without writing again. Usage: cl_cache.sh FMRT
set -euo pipefail
fmrt=$1
if ! "$fmrt" backends | grep -qx opencl; then echo "skipped: opencl not compiled in"; exit 77; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export FMRT_CACHE_DIR=$dir
run() { "$fmrt" conformance --backend opencl --op silu_fwd --model none >"$dir/out" 2>&1 ||
        { cat "$dir/out"; exit 1; }; }
# identity of the entry: inode and mtime change whenever it is written (temp + rename)
ident() { stat -c '%i %Y.%y' "$f"; }
fail() { echo "cl_cache: $*" >&2; exit 1; }

run
f=$(ls "$dir"/cl-*.bin)
test -s "$f" || fail "no entry stored"
echo "stored $(basename "$f") ($(stat -c %s "$f") bytes)"

# a hit reads the entry and leaves it alone
hit() {
  local before; before=$(ident)
  run
  [ "$(ident)" = "$before" ] || fail "$1: the entry was rewritten on a run that should load it"
}
hit "second run"

# a bad entry is rebuilt (a different file) and the next run loads that one
rebuilt() {
  local bad; bad=$(md5sum <"$f")
  run
  [ "$(md5sum <"$f")" != "$bad" ] || fail "$1: the bad entry was kept"
  hit "$1, run after the rebuild"
  echo "$1 rebuilt"
}

# Corrupt the binary in the middle: the CRC catches it.
size=$(stat -c %s "$f")
printf '\xff\xff\xff\xff' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
rebuilt "corrupt entry"
# Truncated entry, and garbage in place of the header.
head -c 100 "$f" >"$f.cut" && mv "$f.cut" "$f"
rebuilt "truncated entry"
printf 'not a cache entry' >"$f"
rebuilt "garbage entry"
