#!/usr/bin/env bash
# The microcontroller sampler (static arena, weights from a const array, in place)
# gives the same bytes as `fmrt sample` on the reference backend for the same
# weights, seed, steps and image count.
# Usage: mcu_equal.sh FMRT MCU_SAMPLE WEIGHTS N STEPS SEED
set -euo pipefail
fmrt=$1 mcu=$2 weights=$3 n=$4 steps=$5 seed=$6
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$fmrt" sample "$weights" --backend ref --n "$n" --steps "$steps" --seed "$seed" \
    --raw-out "$t/fmrt.u8" --out "$t/fmrt.png"
"$mcu" "$t/mcu.u8"
test "$(stat -c %s "$t/mcu.u8")" -gt 0
cmp "$t/fmrt.u8" "$t/mcu.u8"
# Not a trivial image: the sampler moved the pixels away from one value.
test "$(od -An -tu1 -v "$t/mcu.u8" | tr -s ' ' '\n' | sort -u | wc -l)" -gt 16
echo "mcu_sample equals fmrt sample: $(stat -c %s "$t/mcu.u8") bytes"
