#!/usr/bin/env bash
# examples/sample_digits (the library's fm_sampler_* calls) against fmrt sample: the
# same digits, byte for byte, on cpu (the API is the same on every backend; ref takes
# minutes under the sanitizers); and one error line, status 1, for a file that is no
# weights file.
# Usage: sample_digits.sh FMRT SAMPLE_DIGITS WEIGHTS
set -euo pipefail
fmrt=$1 example=$2 weights=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
for be in cpu; do
  "$example" "$weights" "$be" "$t/ex.u8" >"$t/ex.txt"
  "$fmrt" sample "$weights" --backend "$be" --n 10 --steps 20 --seed 1 --cfg 2.0 \
      --classes 0,1,2,3,4,5,6,7,8,9 --out "$t/s.png" --raw-out "$t/cli.u8" --force 2>/dev/null
  cmp "$t/ex.u8" "$t/cli.u8"
  test "$(wc -l <"$t/ex.txt")" -eq 14
  echo "sample_digits on $be: the same 10 digits as fmrt sample"
done
printf 'not weights' >"$t/bad.fmw"
rc=0
"$example" "$t/bad.fmw" ref 2>"$t/err" >/dev/null || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1
cat "$t/err"
