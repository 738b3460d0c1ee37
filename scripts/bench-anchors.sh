#!/usr/bin/env bash
# fmrt against the strong CPU anchors in one run: PyTorch 2 eager (NCHW and
# channels-last) and ONNX Runtime, from ../shared/anchors/bench_modern.py, with the
# same thread count, interleaved round by round (fmrt, anchors, fmrt, anchors, ...)
# so that machine noise hits both. Prints each contender's median and minimum over
# the rounds and the ratios anchor / fmrt (above 1: fmrt is faster).
#
# The anchors need Python; fmrt does not. Their venv, once:
#   python3 -m venv /tmp/av && /tmp/av/bin/pip install torch onnxruntime onnx numpy
# fmrt samples at both precisions (float32, and --precision bf16 where the cpu backend
# has AVX512-BF16; elsewhere that row measures float32 again, as the backend says).
# Usage: scripts/bench-anchors.sh [--python PY] [--anchors DIR] [--fmrt BIN]
#            [--threads 2] [--rounds 3] [--preset mnist]
set -euo pipefail
cd "$(dirname "$0")/.."
py=/tmp/av/bin/python anchors=${FMRT_SHARED_DIR:-../shared}/anchors fmrt=build/fmrt
threads=2 rounds=3 preset=mnist
while [ $# -gt 0 ]; do
  case $1 in
    --python) py=$2 ;; --anchors) anchors=$2 ;; --fmrt) fmrt=$2 ;;
    --threads) threads=$2 ;; --rounds) rounds=$2 ;; --preset) preset=$2 ;;
    *) echo "usage: scripts/bench-anchors.sh [--python PY] [--anchors DIR] [--fmrt BIN] [--threads N] [--rounds N] [--preset P]" >&2; exit 2 ;;
  esac
  shift 2 || { echo "bench-anchors.sh: $1 needs a value" >&2; exit 2; }
done
[ -x "$py" ] || { echo "bench-anchors.sh: no Python at $py (see the venv line at the top)" >&2; exit 1; }
[ -f "$anchors/bench_modern.py" ] || { echo "bench-anchors.sh: $anchors/bench_modern.py not found" >&2; exit 1; }
[ -x "$fmrt" ] || { echo "bench-anchors.sh: $fmrt not built (scripts/setup.sh)" >&2; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# name seconds: one line per measurement into $t/all
for r in $(seq "$rounds"); do
  echo "round $r/$rounds: fmrt" >&2
  "$fmrt" bench --backend cpu --preset "$preset" --batch 128 --sample-n 64 --sample-steps 50 \
      --repeats 1 --warmup 1 --no-ops --threads "$threads" 2>/dev/null |
    awk '$1 == "cpu" && $2 == "train" { sub(/.*median /, ""); print "fmrt_train", $1 }
         $1 == "cpu" && $2 == "sample" && $4 == "euler" { sub(/.*median /, ""); print "fmrt_sample", $1 }' >> "$t/all"
  echo "round $r/$rounds: fmrt --precision bf16" >&2
  "$fmrt" bench --backend cpu --preset "$preset" --batch 128 --sample-n 64 --sample-steps 50 \
      --repeats 1 --warmup 1 --no-ops --threads "$threads" --precision bf16 2>/dev/null |
    awk '$1 == "cpu" && $2 == "sample" && $4 == "euler" { sub(/.*median /, ""); print "fmrt_bf16_sample", $1 }' >> "$t/all"
  echo "round $r/$rounds: anchors" >&2
  OMP_NUM_THREADS=$threads "$py" "$anchors/bench_modern.py" --preset "$preset" --threads "$threads" \
      --repeats 1 --what train,sample,ort 2>/dev/null |
    awk '/^torch /{ print > "/dev/stderr" }
         $2 ~ /^(batch|n)=/ { m = $0; sub(/.* median=/, "", m); sub(/s .*/, "", m); print $1, m }' \
      >> "$t/all"
done

stat() { # name -> "median min"
  awk -v n="$1" '$1 == n { v[++k] = $2 } END { if (!k) { print "- -"; exit }
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
    printf "%s %s\n", v[int((k + 1) / 2)], v[1] }' "$t/all"
}
row() { # label fmrt-name anchor-name
  read -r fm fmin <<<"$(stat "$2")"; read -r am amin <<<"$(stat "$3")"
  awk -v l="$1" -v fm="$fm" -v fmin="$fmin" -v am="$am" -v amin="$amin" 'BEGIN {
    printf "| %s | %.3f s | %.3f s | %.3f s | %.3f s | %.2fx | %.2fx |\n", l, fm, fmin, am, amin, am / fm, amin / fmin }'
}
echo "$preset preset, $threads threads, $rounds rounds interleaved; median and minimum over the rounds"
echo "| anchor | fmrt median | fmrt min | anchor median | anchor min | ratio (medians) | ratio (minimums) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
row "PyTorch 2 eager, train step b128" fmrt_train torch_train
row "PyTorch 2 eager, sample 64 x 50 Euler" fmrt_sample torch_sample
row "PyTorch 2 channels-last, sample" fmrt_sample torch_sample_channels_last
row "ONNX Runtime, sample" fmrt_sample ort_sample
if grep -q '^fmrt_bf16_sample ' "$t/all"; then
  row "ONNX Runtime, sample; fmrt --precision bf16" fmrt_bf16_sample ort_sample
  row "fmrt f32 sample; fmrt --precision bf16" fmrt_bf16_sample fmrt_sample
fi
