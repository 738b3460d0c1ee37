#!/usr/bin/env bash
# Data-parallel scaling on this machine's cpu backend: training img/s of one rank
# with 1 thread, two ranks with 1 thread each (mpirun -np 2 ... --dist), and one
# rank with 2 threads, per preset; the runs alternate (A B C A B C ...) so that
# machine noise hits all three, and the median of the repeats is printed.
# Usage: scripts/dist-scaling.sh [FMRT] [DATA_DIR] [STEPS] [REPEATS] [PRESETS...]
set -euo pipefail
fmrt=${1:-build/fmrt}
data=${2:-tests/data/mnist}
steps=${3:-40}
reps=${4:-3}
shift $(( $# < 4 ? $# : 4 ))
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(tiny dit-tiny)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

ips() { sed -n 's/.*(\([0-9.]*\) img\/s).*/\1/p' "$1" | tail -1; }
median() { tr ' ' '\n' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

printf '| preset | 1 rank x 1 thread | 2 ranks x 1 thread (--dist) | 1 rank x 2 threads | 2 ranks / 1 rank |\n'
printf '| --- | --- | --- | --- | --- |\n'
for p in "${presets[@]}"; do
  flags=(--data "$data" --preset "$p" --classes 10 --batch 32 --steps "$steps" --backend cpu
         --seed 1 --out "$t/w.fmw")
  a=() b=() c=()
  for _ in $(seq "$reps"); do
    "$fmrt" train --force --threads 1 "${flags[@]}" 2>"$t/a"; a+=("$(ips "$t/a")")
    mpirun -np 2 "$fmrt" train --force --threads 1 "${flags[@]}" --dist 2>"$t/b"; b+=("$(ips "$t/b")")
    "$fmrt" train --force --threads 2 "${flags[@]}" 2>"$t/c"; c+=("$(ips "$t/c")")
  done
  ma=$(echo "${a[*]}" | median) mb=$(echo "${b[*]}" | median) mc=$(echo "${c[*]}" | median)
  printf '| `%s` | %s img/s | %s img/s | %s img/s | %.2fx |\n' "$p" "$ma" "$mb" "$mc" \
      "$(echo "$mb $ma" | awk '{print $1 / $2}')"
done
