#!/usr/bin/env bash
# Valgrind memcheck over a short run of the tool on the reference backend: train a
# tiny conditional model (with a checkpoint), resume it, read it with `fmrt info`
# and sample from it with Heun and guidance. Any memory error or leak fails (exit 1).
# Builds its own RelWithDebInfo tree (build-valgrind; ASan and valgrind do not mix).
# Usage: scripts/valgrind.sh [DATA_DIR]     (default tests/data/mnist, the fixture digits)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-tests/data/mnist}
if [ ! -d "$data" ]; then echo "valgrind.sh: $data not found" >&2; exit 1; fi
command -v valgrind >/dev/null || { echo "valgrind.sh: apt-get install valgrind" >&2; exit 1; }
b=build-valgrind
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFMRT_TESTS=OFF -DFMRT_CUDA=OFF >/dev/null
cmake --build "$b" -j"$(nproc)" --target fmrt_cli >/dev/null
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# VALGRIND_ARGS adds options, e.g. --track-origins=yes to find where an undefined
# value came from (about twice as slow).
# shellcheck disable=SC2206
vg=(valgrind --error-exitcode=1 --leak-check=full "--show-leak-kinds=definite,indirect,possible"
    "--errors-for-leak-kinds=definite,indirect,possible" --quiet ${VALGRIND_ARGS:-})
fmrt=$b/fmrt
tiny=(--data "$data" --limit 16 --batch 2 --backend ref --log-every 1)
model=(--preset tiny --classes 10 --config base_channels=8 --config "channel_mult=1,2"
       --config time_dim=16 --config heads=2 --config groups=4 --seed 3)
run() { echo "+ valgrind fmrt $*"; "${vg[@]}" "$fmrt" "$@"; }
run train "${tiny[@]}" "${model[@]}" --steps 2 --ckpt "$t/c.fmw" --ckpt-every 1 --out "$t/a.fmw"
run train "${tiny[@]}" --resume "$t/c.fmw" --steps 3 --out "$t/b.fmw"
run info "$t/c.fmw" >/dev/null
run sample "$t/b.fmw" --backend ref --n 2 --steps 2 --sampler heun --classes 3,7 \
    --traj "$t/tr.png" --raw-out "$t/s.u8" --out "$t/s.png"
echo "valgrind: clean"
