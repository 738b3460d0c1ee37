#!/usr/bin/env bash
# Data-parallel training with mpirun -np 2 on the fixture digits, cpu
# ranks of 1 thread each (and ref ranks, and opencl ranks where a device exists),
# against one rank with the same global batch:
# - after one step the weights equal the 1-rank run's within 1e-6 relative L2 (only
#   the summation order of the gradient average differs);
# - after 50 steps both loss logs agree to within 2e-5 on average over the steps and
#   the weights within 1e-4 relative L2 (measured: largest step 1e-6, weights 1.6e-6);
# - a 2-rank run resumed from its own checkpoint writes the very bytes of the
#   uninterrupted 2-rank run;
# - a rank killed mid-run (SIGKILL after step 15) ends the job with an error and
#   leaves the step-10 checkpoint whole; the run resumes from it;
# - a batch that does not divide among the ranks is one clear error.
# Usage: dist.sh FMRT DATA_DIR (the fixture digits) MPIEXEC
set -euo pipefail
fmrt=$1
data=$2
mpiexec=${3:-mpirun}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$(dirname "$0")/expect.sh"

# Open MPI refuses root without these (CI runs as root); oversubscribe: 2 ranks
# on a machine that may report one slot.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Under scripts/sanitize.sh, LeakSanitizer cannot name Open MPI's own leaks: its
# plugins are unloaded before the exit-time report ("<unknown module>"), so no
# library suppression matches. The MPI runs keep ASan and UBSan but not the leak
# check; the same training code runs leak-checked in the 1-rank runs.
mpi2() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$mpiexec" -np 2 "$fmrt" "$@"; }

b=ref
if "$fmrt" backends | grep -qx cpu; then b=cpu; fi
model=(--preset tiny --classes 10 --config base_channels=8 --config "channel_mult=1,2"
       --config time_dim=16 --config heads=2 --config groups=4 --seed 3)
run=(--data "$data" --limit 64 --batch 8 --lr 1e-3 --threads 1)

bes=("$b" ref)
# opencl ranks stage the gradients through host memory (where a device exists)
if grep -q "^backend opencl  *opencl: " <<<"$("$fmrt" selftest 2>&1)"; then
  bes+=(opencl)
fi
for be in "${bes[@]}"; do
  "$fmrt" train --force "${run[@]}" "${model[@]}" --backend $be --steps 1 --out "$t/one.fmw" 2>"$t/log"
  mpi2 train --force "${run[@]}" "${model[@]}" --backend $be --steps 1 --out "$t/two.fmw" --dist 2>"$t/log"
  echo "$be, 1 step, 1 rank vs 2: $("$fmrt" diff "$t/one.fmw" "$t/two.fmw" --tol 1e-6)"
done

"$fmrt" train --force "${run[@]}" "${model[@]}" --backend $b --steps 50 --out "$t/one50.fmw" \
    --log "$t/one.csv" 2>"$t/log"
mpi2 train --force "${run[@]}" "${model[@]}" --backend $b --steps 50 --out "$t/two50.fmw" \
    --log "$t/two.csv" --dist --dist-check 10 2>"$t/log"
echo "$b, 50 steps, 1 rank vs 2: $("$fmrt" diff "$t/one50.fmw" "$t/two50.fmw" --tol 1e-4)"
# Training amplifies the gradient average's rounding step by step, so the loss logs are
# judged by their mean difference, not the worst step's.
paste -d, "$t/one.csv" "$t/two.csv" | awk -F, 'NR > 1 { d = $3 - $7; if (d < 0) d = -d; s += d; k++; if (d > m) m = d }
    END { printf "loss logs: mean difference %.1e over %d steps (largest %.1e)\n", s / k, k, m
          exit !(k > 0 && s / k <= 2e-5) }'

# resume bit-identical
mpi2 train --force "${run[@]}" "${model[@]}" --backend $b --steps 20 --ckpt "$t/ca.fmw" --ckpt-every 10 \
    --out "$t/a.fmw" --dist 2>"$t/log"
mpi2 train --force "${run[@]}" "${model[@]}" --backend $b --steps 10 --ckpt "$t/cb.fmw" \
    --out "$t/b10.fmw" --dist 2>"$t/log"
mpi2 train --force "${run[@]}" --backend $b --resume "$t/cb.fmw" --steps 20 --out "$t/b.fmw" --dist \
    2>"$t/log"
cmp "$t/a.fmw" "$t/b.fmw"
echo "ok: a 2-rank run resumed at step 10 writes the bytes of the uninterrupted run"

# a rank killed mid-run
rc=0
FMRT_TEST_DIE_RANK=1 FMRT_TEST_DIE_STEP=15 mpi2 train --force "${run[@]}" "${model[@]}" --backend $b \
    --steps 30 --ckpt "$t/ck.fmw" --ckpt-every 10 --out "$t/k.fmw" --dist >"$t/kill.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] || [ -e "$t/k.fmw" ]; then echo "FAIL: the killed run did not fail"; exit 1; fi
grep -q "rank 1 .*exited on signal 9\|this rank was ended by the launcher" "$t/kill.log" ||
    { echo "FAIL: no error naming the lost rank"; cat "$t/kill.log"; exit 1; }
"$fmrt" info "$t/ck.fmw" >"$t/info"
grep -Eq "^ +step +10$" "$t/info" || { echo "FAIL: checkpoint not at step 10"; cat "$t/info"; exit 1; }
mpi2 train --force "${run[@]}" --backend $b --resume "$t/ck.fmw" --steps 20 --out "$t/k20.fmw" --dist \
    2>"$t/log"
cmp "$t/a.fmw" "$t/k20.fmw"
echo "ok: rank 1 killed at step 15: job failed (exit $rc), checkpoint at step 10 whole, resumed to the same bytes"

expect_fail "batch 9 does not divide among 2 ranks" \
    mpi2 train --force "${run[@]}" "${model[@]}" --backend $b --batch 9 --steps 1 --out "$t/x.fmw" --dist
echo "dist: all checks passed"
