#!/usr/bin/env bash
# The embedded promise, checked: the runtime, the reference kernels and the model's
# sampling path cross-compiled for a Cortex-M7 (arm-none-eabi gcc, newlib-nano),
# linked into examples/mcu's sampler with its weights in flash, and a size report.
#
#   1. host build (build-mcu/host): fmrt trains the small default model for a few
#      steps and embed_weights turns it into fm_mcu_weights.c/.h; also the tiny
#      preset (about 4 MiB of f32: too big for a real M7's flash, built to prove it)
#   2. cross builds (build-mcu/small, build-mcu/tiny) with
#      cmake/arm-none-eabi-cortex-m7.cmake
#   3. size report (.text/.data/.bss) of libfmrt_embedded.a and both ELFs, and a
#      check that no allocator or syscall stub was linked
#
# Installs the toolchain when run as root (otherwise prints the apt-get line).
# Trains on the fixture digits of tests/data/mnist. Usage: scripts/mcu-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pkgs=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "fmrt mcu: installing ${missing[*]} (about 410 MB download, 2.5 GB on disk)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "fmrt mcu: missing packages; run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

data=$root/tests/data/mnist
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "fmrt mcu: $data/train-images-idx3-ubyte.gz not found (training data of the example)" >&2
  exit 1
fi

out=$root/build-mcu
jobs=$(nproc)
# 1. Host tools and the small model (the main build's examples/mcu block).
cmake -S . -B "$out/host" -DFMRT_TESTS=OFF -DFMRT_OPENCL=OFF -DFMRT_CUDA=OFF >/dev/null
cmake --build "$out/host" -j"$jobs" --target mcu_sample fmrt_cli fmrt_embed_weights >/dev/null
small_gen=$out/host/mcu
tiny_gen=$out/tiny-gen
mkdir -p "$tiny_gen"
if [ ! -f "$tiny_gen/fm_mcu_weights.c" ]; then
  "$out/host/fmrt" train --force --images "$data/train-images-idx3-ubyte.gz" \
    --labels "$data/train-labels-idx1-ubyte.gz" --limit 8 --batch 2 --steps 2 --preset tiny --classes 0 \
    --backend ref --seed 3 --out "$tiny_gen/tiny_train.fmw" </dev/null
  "$out/host/fmrt_embed_weights" "$tiny_gen/tiny_train.fmw" "$tiny_gen/tiny.fmw" \
    "$tiny_gen/fm_mcu_weights.c" "$tiny_gen/fm_mcu_weights.h"
fi

# 2. Cross builds. The small model fits a 2 MiB flash / 1 MiB RAM part; the tiny
# preset gets an imaginary 8 MiB flash and 16 MiB RAM.
cross() { # name gen_dir flash ram
  cmake -S examples/mcu -B "$out/$1" -DCMAKE_BUILD_TYPE=MinSizeRel \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cortex-m7.cmake" \
    -DFMRT_MCU_WEIGHTS_DIR="$2" -DFMRT_MCU_FLASH="$3" -DFMRT_MCU_RAM="$4" >/dev/null
  cmake --build "$out/$1" -j"$jobs" >/dev/null
}
cross small "$small_gen" 2M 1M
cross tiny "$tiny_gen" 8M 16M

# 3. Report.
echo
echo "== libfmrt_embedded.a (Cortex-M7, -Os, all objects) =="
arm-none-eabi-size -t "$out/small/libfmrt_embedded.a" | tail -1 |
  awk '{print "text", $1, "data", $2, "bss", $3}'
for m in small tiny; do
  elf=$out/$m/mcu_sample.elf
  echo
  gen=$small_gen
  [ $m = tiny ] && gen=$tiny_gen
  cfg=$(grep -o 'base_channels=[0-9]* channel_mult=[0-9,]*' "$gen/fm_mcu_weights.h" | head -1)
  echo "== mcu_sample.elf, $m model ($cfg) =="
  arm-none-eabi-size "$elf"
  arm-none-eabi-size -A "$elf" |
    awk '$1 ~ /^\.(isr_vector|text|ARM.exidx|data|bss)$/ {print "  " $1, $2}'
  # fmrt allocates nothing; startup_cm7.c's refusing _malloc_r/_free_r stand in for
  # newlib's (referenced, never called, by snprintf), so no heap or _sbrk is linked.
  nm_out=$(arm-none-eabi-nm "$elf")
  for sym in malloc free calloc realloc _sbrk _sbrk_r _write _read _close _lseek _exit; do
    if grep -qE " $sym\$" <<<"$nm_out"; then
      echo "fmrt mcu: $elf links $sym: the firmware must not allocate or need syscalls" >&2
      exit 1
    fi
  done
  if grep -q 'mallocr\.o' "$out/$m/mcu_sample.map"; then
    echo "fmrt mcu: $elf links newlib's allocator (see $out/$m/mcu_sample.map)" >&2
    exit 1
  fi
  echo "  no allocator or syscall linked"
done
