#!/usr/bin/env bash
# The main job: set up, build, check the build, then sample digits.png from the
# class-conditional weights shipped in model/ (one row per class, guidance 2.0) on
# the best backend this machine has. No data set and no training needed.
#   scripts/run.sh [--backend NAME] [--steps N] [--seed S] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
backend=auto steps=25 seed=1 out=digits.png
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: scripts/run.sh [--backend NAME] [--steps N] [--seed S] [--out FILE]" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
./build/fmrt selftest
# Ten rows, one per digit class, eight samples each.
classes=$(for c in 0 1 2 3 4 5 6 7 8 9; do for _ in 1 2 3 4 5 6 7 8; do printf '%d,' "$c"; done; done)
time ./build/fmrt sample model/tiny-cond.fmw --backend "$backend" --classes "${classes%,}" \
    --n 80 --cols 8 --steps "$steps" --sampler euler --cfg 2.0 --seed "$seed" --out "$out"
echo "wrote $out"
