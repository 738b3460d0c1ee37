#!/usr/bin/env bash
# The main job: set up, build, and run fmrt. Until the model lands this runs the
# self-test of the build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
./build/fmrt selftest
