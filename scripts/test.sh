#!/usr/bin/env bash
# Sets up, builds and runs every test suite (Criterion, via ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
# FMRT_CUDA=AUTO first: scripts/run.sh may have configured build/ without CUDA
# (no GPU); every backend whose compiler is here is built and tested.
scripts/setup.sh -DFMRT_CUDA=AUTO "$@"
ctest --test-dir build --output-on-failure -j"$(nproc)"
