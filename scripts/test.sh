#!/usr/bin/env bash
# Sets up, builds and runs every test suite (Criterion, via ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"
ctest --test-dir build --output-on-failure -j"$(nproc)"
