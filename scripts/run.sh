#!/usr/bin/env bash
# The main job: set up, build, check the build, then train a small digit model on
# the MNIST files found and sample a grid of digits from it into digits.png.
#   scripts/run.sh [--data DIR] [--steps N] [--backend NAME]
# DIR holds MNIST under the standard names (default: ../shared/data/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data/mnist steps=300 backend=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    *) echo "usage: scripts/run.sh [--data DIR] [--steps N] [--backend NAME]" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
./build/fmrt selftest
if [ ! -d "$data" ]; then
  echo "fmrt: no MNIST folder at $data; download the four MNIST .gz files and pass --data DIR" >&2
  exit 1
fi
# A short run of the tiny class-conditional model: enough to see the pipeline end
# to end and the loss fall; recognisable digits need thousands of steps.
./build/fmrt train --data "$data" --preset tiny --classes 10 --batch 32 --steps "$steps" \
    --backend "$backend" --out build/digits.fmw --log build/loss.csv
./build/fmrt sample build/digits.fmw --backend "$backend" --classes 0,1,2,3,4,5,6,7,8,9 \
    --n 40 --cols 10 --steps 25 --out digits.png
echo "wrote digits.png"
