#!/usr/bin/env bash
# Installs what fmrt needs on Debian/Ubuntu (as root), or prints the exact
# install line (otherwise), then configures and builds into ./build: everything, or
# with --target NAME only that CMake target and what it needs (scripts/run.sh builds
# fmrt_cli, the fmrt tool). Prints the backends configure found; its full output is
# in build/configure.log.
# Usage: scripts/setup.sh [--target NAME] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
target=""
if [ "${1:-}" = "--target" ]; then
  [ -n "${2:-}" ] || { echo "scripts/setup.sh: --target needs a CMake target name (e.g. fmrt_cli)" >&2; exit 2; }
  target=$2
  shift 2
fi

pkgs=(build-essential cmake pkg-config zlib1g-dev libpng-dev libjpeg-dev libstb-dev libcriterion-dev libopenblas-dev
      ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev libcjson-dev
      libopenmpi-dev openmpi-bin)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "fmrt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "fmrt: missing packages; run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# nvcc is optional: the CUDA backend is built when the toolkit is present.
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
# configure's messages go to build/configure.log; its errors still reach the terminal.
# One line then says which backends it found.
mkdir -p build
if ! cmake -S . -B build "$@" >build/configure.log; then
  echo "fmrt: cmake configure failed (the error is above; its full output: build/configure.log)" >&2
  exit 1
fi
# "-- fmrt backends: ref, cpu=ON (OpenBLAS ON), opencl=ON, cuda=OFF" -> a short line
line=$(sed -n 's/^-- fmrt backends: //p' build/configure.log | tail -n 1)
if [ -n "$line" ]; then
  built="" absent=""
  for b in cpu opencl cuda; do
    case "$line" in
      *"$b=ON"*) built+=" $b" ;;
      *) absent+="${absent:+, }$b" ;;
    esac
  done
  case "$line" in *"OpenBLAS ON"*) built=${built/ cpu/ cpu+OpenBLAS} ;; esac
  echo "fmrt: backends: ref$built${absent:+ (not built: $absent; see build/configure.log)}"
fi
cmake --build build -j"$(nproc)" ${target:+--target "$target"}
