#!/usr/bin/env bash
# The main job: set up, build the fmrt tool (only it and what it needs; scripts/test.sh
# builds everything), check the build, then sample digits.png from the
# class-conditional weights shipped in model/ (one row per class, guidance 2.0) on
# the best backend this machine has. No data set and no training needed.
#   scripts/run.sh [--arch unet|dit] [--backend NAME] [--steps N] [--seed S] [--out FILE]
# --arch dit samples the shipped DiT (model/dit-tiny-cond.fmw) instead of the U-Net.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=auto steps=25 seed=1 out=digits.png arch=unet
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    *) echo "usage: scripts/run.sh [--arch unet|dit] [--backend NAME] [--steps N] [--seed S] [--out FILE]" >&2; exit 2 ;;
  esac
done
case "$arch" in
  unet) weights=model/tiny-cond.fmw ;;
  dit) weights=model/dit-tiny-cond.fmw ;;
  *) echo "scripts/run.sh: --arch must be unet or dit, not '$arch'" >&2; exit 2 ;;
esac
# Without an NVIDIA GPU the CUDA kernels (most of the build's time where nvcc is
# installed) are left out; scripts/test.sh configures them back (FMRT_CUDA=AUTO).
cuda=()
if ! nvidia-smi -L >/dev/null 2>&1; then
  cuda=(-DFMRT_CUDA=OFF)
  echo "fmrt: no NVIDIA GPU visible: the quick start builds without the cuda backend"
fi
scripts/setup.sh --target fmrt_cli "${cuda[@]}"
./build/fmrt selftest
# A conditional model's default: a row of --cols samples per class (ten rows of
# eight), guidance 2.0.
time ./build/fmrt sample --force "$weights" --backend "$backend" --cols 8 --steps "$steps" \
    --sampler euler --seed "$seed" --out "$out"
echo "wrote $out"
