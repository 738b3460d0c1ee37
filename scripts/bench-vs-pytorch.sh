#!/usr/bin/env bash
# fmrt against PyTorch on this machine, in one run: the anchor
# script ../shared/anchors/bench_pytorch.py (the same network, timed the same way,
# Debian's python3-torch) next to `fmrt bench`, then the ratios.
#
#   scripts/bench-vs-pytorch.sh [--backend cpu] [--preset mnist] [--repeats 3]
#                               [--torch-threads N] [--fmrt-threads N]
#
# --torch-threads sets OMP_NUM_THREADS for PyTorch (default: PyTorch's own choice,
# which is 1 thread on some machines; the table says what it used). fmrt uses
# --fmrt-threads (default: the cores available). Python is needed only for this
# measuring stick, never by fmrt. Logs go to $OUT or ./bench-out.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=cpu preset=mnist repeats=3 tthreads="" fthreads=0
while [ $# -gt 0 ]; do
  case $1 in
    --backend) backend=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --torch-threads) tthreads=$2; shift 2 ;;
    --fmrt-threads) fthreads=$2; shift 2 ;;
    *) echo "bench-vs-pytorch: unknown option '$1'" >&2; exit 2 ;;
  esac
done
anchors=${FMRT_SHARED_DIR:-../shared}/anchors
[ -f "$anchors/bench_pytorch.py" ] || { echo "bench-vs-pytorch: no $anchors/bench_pytorch.py" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "bench-vs-pytorch: PyTorch is missing (apt-get install python3-torch)" >&2; exit 1; }
[ -x build/fmrt ] || scripts/setup.sh
out=${OUT:-$PWD/bench-out}
mkdir -p "$out"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
env ${tthreads:+OMP_NUM_THREADS=$tthreads} /usr/bin/python3 "$anchors/bench_pytorch.py" --preset "$preset" \
    --repeats "$repeats" | tee "$out/pytorch.txt"
build/fmrt bench --backend "$backend" --preset "$preset" --repeats "$repeats" --threads "$fthreads" \
    --json "$out/fmrt.json" | tee "$out/fmrt.txt"

# ratios: PyTorch time / fmrt time (> 1: fmrt is faster)
pt_train=$(sed -n 's/^train_step .* median=\([0-9.]*\)s.*/\1/p' "$out/pytorch.txt")
pt_sample=$(sed -n 's/^sample .* median=\([0-9.]*\)s.*/\1/p' "$out/pytorch.txt")
pt_threads=$(sed -n 's/.*threads=\([0-9]*\).*/\1/p' "$out/pytorch.txt" | head -1)
fm_train=$(awk -v p="$preset" '$2 == "train" && $4 == p {print $0}' "$out/fmrt.txt" | sed -n 's/.*(median \([0-9.]*\) s.*/\1/p')
fm_sample=$(awk -v p="$preset" '$2 == "sample" && $4 == "euler" && $5 == p {print $0}' "$out/fmrt.txt" |
            sed -n 's/.*(median \([0-9.]*\) s.*/\1/p')
fm_sgemm=$(awk '$2 == "sgemm" {print $5}' "$out/fmrt.txt")
fm_rate=$(awk -v p="$preset" '$2 == "sample" && $3 == "throughput" && $4 == p {print $5}' "$out/fmrt.txt")
echo
printf '%-30s %14s %14s %10s\n' "$preset, $backend vs PyTorch ($pt_threads thr)" "PyTorch" "fmrt" "speed-up"
awk -v a="$pt_train" -v b="$fm_train" 'BEGIN { printf "%-30s %12.3f s %12.3f s %9.2fx\n", "train step, batch 128", a, b, a / b }'
awk -v a="$pt_sample" -v b="$fm_sample" 'BEGIN { printf "%-30s %12.3f s %12.3f s %9.2fx\n", "sample 64 x 50 Euler", a, b, a / b }'
awk -v r="$fm_rate" -v s="$fm_sgemm" 'BEGIN { printf "%-30s %29.1f GFLOP/s = %.0f%% of SGEMM (%.1f)\n", "fmrt sampling throughput", r, 100 * r / s, s }'
