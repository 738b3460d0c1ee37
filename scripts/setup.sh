#!/usr/bin/env bash
# Installs what fmrt needs on Debian/Ubuntu (as root), or prints the exact
# install line (otherwise), then configures and builds into ./build.
# Usage: scripts/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config zlib1g-dev libpng-dev libcriterion-dev libopenblas-dev
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
cmake -S . -B build "$@" >/dev/null
cmake --build build -j"$(nproc)"
