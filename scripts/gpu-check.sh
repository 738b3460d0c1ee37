#!/usr/bin/env bash
# gpu-check: the CUDA backend on one GPU, in one run (under 5 minutes on an H200):
#   1. configure and build with CUDA (this machine's architecture only, for speed)
#   2. the CUDA conformance suite: every op and the whole-model rows vs ref
#   3. the same under compute-sanitizer memcheck (op rows), where it is supported
#   4. training benchmark: img/s, mnist preset, batch 128, strict float32 and TF32
#   5. sampling benchmark: 64 digits x 50 Euler steps
#   6. train a few steps on cuda, sample the same seed on cuda and ref: the weights
#      file crosses backends (max pixel difference)
#   7. fmrt train --dist with one rank on cuda (NCCL) against a plain cuda run
# and prints one summary table. Logs go to $OUT (or ./gpu-check-out).
#
# A bare GPU machine may lack zlib/libpng headers and MNIST: run
#   scripts/gpu-check.sh --fetch-deps
# here first; it downloads the Debian packages and the 10k training digits into
# .gpu-deps/ (git-ignored), which the device run unpacks under /tmp when needed.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fetch-deps" ]; then
  mkdir -p .gpu-deps/mnist
  (cd .gpu-deps && apt-get download zlib1g zlib1g-dev libpng16-16 libpng-dev >/dev/null) || exit 1
  cp "${FMRT_SHARED_DIR:-../shared}"/data/mnist/train-10k-*.gz .gpu-deps/mnist/ 2>/dev/null || true
  ls -la .gpu-deps .gpu-deps/mnist
  exit 0
fi

out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH
start=$(date +%s)
declare -a rows
row() { rows+=("$(printf '%-34s %s' "$1" "$2")"); }

# --- dependencies a bare machine may lack -------------------------------------
cmake_extra=()
if ! printf '#include <zlib.h>\n#include <png.h>\n' | cc -E -x c - >/dev/null 2>&1; then
  if ls .gpu-deps/*.deb >/dev/null 2>&1; then
    mkdir -p /tmp/fmrt-deps
    for f in .gpu-deps/*.deb; do dpkg -x "$f" /tmp/fmrt-deps; done
    lib=/tmp/fmrt-deps/usr/lib/x86_64-linux-gnu
    cmake_extra+=(-DCMAKE_PREFIX_PATH=/tmp/fmrt-deps/usr -DCMAKE_LIBRARY_PATH="$lib"
                  -DCMAKE_INCLUDE_PATH=/tmp/fmrt-deps/usr/include)
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    echo "gpu-check: zlib/libpng headers missing and no .gpu-deps/ (run --fetch-deps first)" >&2
  fi
fi
data=${FMRT_SHARED_DIR:-../shared}/data/mnist
[ -d "$data" ] || data=.gpu-deps/mnist

# --- 1. build ----------------------------------------------------------------
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
arch=${arch:-90}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null ||
  echo "no nvidia-smi" > "$out/gpu.txt"
if cmake -S . -B build-gpu -DFMRT_CUDA=ON -DFMRT_OPENCL=OFF -DFMRT_TESTS=OFF -DFMRT_CPU=OFF \
     -DCMAKE_CUDA_ARCHITECTURES="$arch" "${cmake_extra[@]}" > "$out/build.log" 2>&1 &&
   cmake --build build-gpu -j"$(nproc)" >> "$out/build.log" 2>&1; then
  row "build (sm_$arch)" "ok ($(cat "$out/gpu.txt"))"
else
  row "build (sm_$arch)" "FAILED (see build.log)"
  tail -30 "$out/build.log"
  printf '%s\n' "${rows[@]}"
  exit 1
fi
fmrt=./build-gpu/fmrt
fail=0
if ! $fmrt bench --backend cuda --quick --preset tiny > "$out/probe.txt" 2>&1; then
  row "cuda backend" "cannot run: $(grep -m1 'fmrt' "$out/probe.txt")"
  printf '%s\n' "${rows[@]}" | tee "$out/summary.txt"
  exit 2
fi

# --- 2. conformance ----------------------------------------------------------
if timeout 600 $fmrt conformance --backend cuda --model all > "$out/conformance.txt" 2>&1; then
  row "conformance (strict)" "$(tail -1 "$out/conformance.txt")"
else
  row "conformance (strict)" "FAILED: $(grep -c -E 'FAIL|ERROR' "$out/conformance.txt") rows (conformance.txt)"
  fail=1
fi
if timeout 300 $fmrt conformance --backend cuda --tf32 --model tiny > "$out/conformance-tf32.txt" 2>&1; then
  row "conformance (tf32 tolerances)" "$(tail -1 "$out/conformance-tf32.txt")"
else
  row "conformance (tf32 tolerances)" "FAILED (conformance-tf32.txt)"
  fail=1
fi

# --- 3. compute-sanitizer ----------------------------------------------------
if command -v compute-sanitizer >/dev/null; then
  if timeout 600 compute-sanitizer --tool memcheck --error-exitcode 9 \
       $fmrt conformance --backend cuda --model none > "$out/memcheck.txt" 2>&1; then
    row "memcheck (op rows)" "clean"
  elif grep -q -i "not supported" "$out/memcheck.txt"; then
    row "memcheck (op rows)" "not supported here: $(grep -i -m1 'not supported' "$out/memcheck.txt")"
  else
    row "memcheck (op rows)" "ERRORS: $(grep -c 'Invalid' "$out/memcheck.txt") reports (memcheck.txt)"
    fail=1
  fi
else
  row "memcheck (op rows)" "compute-sanitizer not found"
fi

# --- 4-5. benchmarks ---------------------------------------------------------
bench() { # $1 label, rest: flags
  local label=$1; shift
  if timeout 600 $fmrt bench --backend cuda --preset mnist --batch 128 --sample-n 64 \
       --sample-steps 50 --repeats 5 --json "$out/bench-$label.json" "$@" > "$out/bench-$label.txt" 2>&1; then
    # result lines only ("cuda  train b128  mnist  VALUE UNIT"), not the per-op tables' titles
    row "sgemm ($label)" "$(awk '$1 == "cuda" && $2 == "sgemm" {print $5, $6}' "$out/bench-$label.txt")"
    row "train mnist b128 ($label)" "$(awk '$1 == "cuda" && $2 == "train" {print $5, $6}' "$out/bench-$label.txt")"
    row "sample 64x50 euler ($label)" \
        "$(awk '$1 == "cuda" && $2 == "sample" && $4 == "euler" {print $6, $7}' "$out/bench-$label.txt")"
    row "top op, sampling ($label)" \
        "$(awk '/sample n64 euler: per op/ {getline; getline; print $1, $NF == "shapes)" ? $(NF-2) : $NF; exit}' \
           "$out/bench-$label.txt")"
  else
    row "bench ($label)" "FAILED (bench-$label.txt)"
    fail=1
  fi
}
bench strict
bench tf32 --tf32

# --- 6. weights across backends ----------------------------------------------
if [ -d "$data" ]; then
  t=$out/cross
  mkdir -p "$t"
  if $fmrt train --data "$data" --preset tiny --classes 10 --batch 32 --steps 30 --backend cuda \
       --out "$t/w.fmw" > "$t/train.txt" 2>&1 &&
     $fmrt sample "$t/w.fmw" --backend cuda --n 16 --steps 10 --classes 0,1,2,3 --raw-out "$t/cuda.u8" \
       --out "$t/cuda.png" > "$t/sample-cuda.txt" 2>&1 &&
     $fmrt sample "$t/w.fmw" --backend ref --n 16 --steps 10 --classes 0,1,2,3 --raw-out "$t/ref.u8" \
       --out "$t/ref.png" > "$t/sample-ref.txt" 2>&1; then
    diff=$(paste <(od -An -v -tu1 -w1 "$t/cuda.u8") <(od -An -v -tu1 -w1 "$t/ref.u8") |
           awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 0) n++; if (d > m) m = d}
                END {printf "%d pixels differ, max %d/255", n, m}')
    row "cuda weights sampled on ref" "$diff (16 digits, same seed)"
  else
    row "cuda weights sampled on ref" "FAILED (cross/)"
    fail=1
  fi
else
  row "cuda weights sampled on ref" "skipped: no MNIST data"
fi

# --- 7. data-parallel training, one rank on cuda (NCCL) --------------------------
# One rank's NCCL average is the gradient itself: the weights must equal a plain
# cuda run's (fmrt diff, rel L2 0 up to the device's own run-to-run order).
if [ -d "$data" ] && $fmrt train --help | grep -q -- '--dist'; then
  t=$out/dist
  mkdir -p "$t"
  flags=(--data "$data" --preset tiny --classes 10 --batch 32 --steps 20 --backend cuda --seed 5)
  if $fmrt train "${flags[@]}" --out "$t/plain.fmw" > "$t/plain.txt" 2>&1 &&
     $fmrt train "${flags[@]}" --dist --out "$t/dist.fmw" > "$t/dist.txt" 2>&1; then
    row "--dist, 1 rank, NCCL" "$($fmrt diff "$t/plain.fmw" "$t/dist.fmw" 2>&1 | tail -1)"
  else
    row "--dist, 1 rank, NCCL" "FAILED: $(grep -m1 -i 'fmrt' "$t/dist.txt")"
    fail=1
  fi
else
  row "--dist, 1 rank, NCCL" "skipped: no MNIST data or a build without MPI"
fi

echo
echo "gpu-check summary ($(( $(date +%s) - start )) s)"
printf '%s\n' "${rows[@]}" | tee "$out/summary.txt"
exit $fail
