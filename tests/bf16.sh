#!/usr/bin/env bash
# --precision bf16 (issue 20): the cpu backend's bfloat16 sampling path.
# - conformance on cpu with --precision bf16 (the conv rows, which bf16 changes, and
#   the model rows of MODELS) passes its documented tolerances (TOL_BF16_* in
#   model/conformance/conf_rows.h), and the backend says whether the bf16 kernels run
#   (AVX512-BF16) or float32 stands in;
# - the shipped conditional model samples the same digits at both precisions: the
#   largest pixel difference of 16 digits after 10 steps is a few grey levels;
# - bad values and backends without a bf16 path are one error line each.
# Usage: bf16.sh FMRT SOURCE_DIR [MODELS (default tiny; none under the sanitizers)]
set -euo pipefail
fmrt=$1
src=$2
models=${3:-tiny}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

. "$(dirname "$0")/expect.sh"

if ! "$fmrt" backends | grep -qx cpu; then
    echo "skip: this build has no cpu backend (the bf16 path is the cpu backend's)"
    exit 0
fi
"$fmrt" conformance --backend cpu --precision bf16 --op conv2d --model "$models" >"$t/conf" 2>&1 ||
    { cat "$t/conf"; echo "FAIL: conformance --precision bf16"; exit 1; }
grep -E "^== cpu" "$t/conf"
grep -Eq "bf16 3x3 convs \(AVX512-BF16\)|bf16 asked: no AVX512-BF16" "$t/conf" ||
    { echo "FAIL: the backend does not say which bf16 path it runs"; exit 1; }
tail -1 "$t/conf"

for p in f32 bf16; do
    "$fmrt" sample "$src/model/tiny-cond.fmw" --backend cpu --precision "$p" --n 16 --steps 10 \
        --classes 0,1,2,3,4,5,6,7,8,9 --out "$t/$p.png" --raw-out "$t/$p.u8" >"$t/log" 2>&1 ||
        { cat "$t/log"; echo "FAIL: sample --precision $p"; exit 1; }
done
# largest |difference| of the u8 pixels
# (cmp -l prints the differing bytes in octal)
worst=$(cmp -l "$t/f32.u8" "$t/bf16.u8" | awk '
    function v(o,   n, i) { for (i = 1; i <= length(o); i++) n = n * 8 + substr(o, i, 1); return n }
    { d = v($2) - v($3); if (d < 0) d = -d; if (d > m) m = d } END { print m + 0 }' || true)
echo "largest pixel difference, f32 against bf16, 16 digits x 10 steps: $worst / 255"
if [ "$worst" -gt 64 ]; then
    echo "FAIL: bf16 samples differ from f32's by $worst grey levels"; exit 1
fi

expect_fail "precision 'fp8': f32 or bf16" "$fmrt" sample "$src/model/tiny-cond.fmw" --precision fp8
expect_fail "precision needs a value" "$fmrt" sample "$src/model/tiny-cond.fmw" --precision
expect_fail "only the cpu backend has a bfloat16 path" "$fmrt" sample "$src/model/tiny-cond.fmw" \
    --backend ref --precision bf16 --n 1 --steps 1 --out "$t/x.png"
expect_fail "unknown option" "$fmrt" train --precision bf16
expect_fail "only the cpu backend has a bfloat16 path" "$fmrt" conformance --backend ref \
    --precision bf16 --op add
echo "bf16: ok"
