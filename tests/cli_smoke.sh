#!/usr/bin/env bash
# End-to-end checks of the fmrt tool on real MNIST digits (tests/data/mnist, 256 of them):
# train -> weights -> sample (PNG, trajectory, raw bytes); resume is bit-identical
# to an uninterrupted run across an epoch boundary; bad inputs give one error line
# and a non-zero exit. Usage: cli_smoke.sh FMRT DATA_DIR
set -euo pipefail
fmrt=$1
data=$2 # train-images-idx3-ubyte.gz and labels (tests/data/mnist)
if [ ! -d "$data" ]; then echo "$0: $data not found" >&2; exit 1; fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
common=(--data "$data" --preset tiny --classes 10 --batch 4 --limit 40 --seed 5)

"$fmrt" train "${common[@]}" --steps 14 --out "$t/A.fmw" --log "$t/loss.csv" </dev/null
"$fmrt" train "${common[@]}" --steps 6 --ckpt "$t/c.fmw" --out "$t/B1.fmw" </dev/null
"$fmrt" train --data "$data" --limit 40 --resume "$t/c.fmw" --steps 14 --out "$t/B.fmw" --no-ckpt \
    </dev/null
cmp "$t/A.fmw" "$t/B.fmw"
# The original command with --resume added: its model flags agree, so it resumes.
"$fmrt" train "${common[@]}" --resume "$t/c.fmw" --steps 14 --out "$t/B2.fmw" </dev/null 2>/dev/null
cmp "$t/A.fmw" "$t/B2.fmw"
rc=0
"$fmrt" train "${common[@]}" --classes 5 --resume "$t/c.fmw" --steps 14 --out "$t/B3.fmw" \
    </dev/null 2>"$t/err" || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1 && grep -q "num_classes is 10 in the file, 5" "$t/err"
echo "resume: bit-identical, also with the original command's flags"
# Ctrl-C: the run finishes its step, saves --out and --ckpt, and exits with 130, so
# that "train ... && sample ..." stops there.
"$fmrt" train "${common[@]}" --steps 1000000 --ckpt "$t/i.ckpt" --out "$t/I.fmw" --log-every 1 \
    </dev/null 2>"$t/int.log" &
pid=$!
until grep -q '^step ' "$t/int.log" || ! kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
test "$rc" -eq 130 || { echo "Ctrl-C: exit status $rc, expected 130"; cat "$t/int.log"; exit 1; }
grep -q '^interrupted at step' "$t/int.log"
# The hint is whole: the checkpoint records the data, --limit, model and end.
grep -qx "resume with: fmrt train --resume $t/i.ckpt --out $t/I.fmw" "$t/int.log"
"$fmrt" info "$t/I.fmw" >"$t/iinfo" && grep -q '^crc .* ok' "$t/iinfo"
"$fmrt" info "$t/i.ckpt" >"$t/iinfo" && grep -q '^crc .* ok' "$t/iinfo"
echo "Ctrl-C: saved, exit status 130"
# An existing output that this run did not write is kept unless --force: one line,
# status 1, before any work; the file untouched. A resumed run's own files are exempt.
cp "$t/A.fmw" "$t/A.keep"
rc=0
"$fmrt" train "${common[@]}" --steps 2 --out "$t/A.fmw" </dev/null 2>"$t/err" || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1 && grep -q -- "--out .*A.fmw exists: --force" "$t/err"
cmp "$t/A.fmw" "$t/A.keep"
cp "$t/A.fmw" "$t/keep.png" # sample's --out must be .png (cli_names.sh)
rc=0
"$fmrt" sample "$t/A.fmw" --n 1 --steps 1 --out "$t/keep.png" </dev/null 2>"$t/err" || rc=$?
test "$rc" -eq 1 && grep -q -- "--out .*keep.png exists" "$t/err"
"$fmrt" sample "$t/A.fmw" --n 1 --steps 1 --out "$t/keep.png" --force </dev/null 2>/dev/null
head -c 8 "$t/keep.png" | od -An -c | grep -q 'P   N   G'
"$fmrt" train --data "$data" --limit 40 --resume "$t/i.ckpt" --ckpt "$t/i.ckpt" --out "$t/I.fmw" \
    --steps "$(($(sed -n 's/^interrupted at step \([0-9]*\).*/\1/p' "$t/int.log") + 1))" \
    </dev/null 2>/dev/null
echo "outputs: kept without --force, replaced with it; a resumed run's own replaced"
# A conditional model samples a row per class by default, with guidance; --classes none
# keeps the "no label" row.
"$fmrt" sample "$t/A.fmw" --steps 1 --cols 2 --out "$t/rows.png" </dev/null 2>"$t/err"
grep -q "^sampled 20 images x 1 euler steps with guidance" "$t/err"
"$fmrt" sample "$t/A.fmw" --steps 1 --n 3 --classes none --out "$t/none.png" </dev/null 2>"$t/err"
grep -q "^sampled 3 images x 1 euler steps in" "$t/err"
echo "sample: a row per class by default"
# The same for the DiT: train, checkpoint, resume bit-identically, sample.
dit=(--data "$data" --preset dit-tiny --classes 10 --batch 4 --limit 40 --seed 5)
"$fmrt" train "${dit[@]}" --steps 6 --out "$t/DA.fmw" </dev/null
"$fmrt" train "${dit[@]}" --steps 3 --ckpt "$t/dc.fmw" --out "$t/DB1.fmw" </dev/null
"$fmrt" train --data "$data" --limit 40 --resume "$t/dc.fmw" --steps 6 --out "$t/DB.fmw" </dev/null
cmp "$t/DA.fmw" "$t/DB.fmw"
"$fmrt" sample "$t/DA.fmw" --n 4 --steps 3 --sampler heun --classes 1,2 --out "$t/dit.png" </dev/null
"$fmrt" info "$t/DA.fmw" >"$t/dinfo"
grep -q "^config *arch=dit" "$t/dinfo"
echo "dit: resume bit-identical, samples, info"
head -2 "$t/loss.csv"
"$fmrt" plot "$t/loss.csv" --out "$t/loss.svg" --smooth 3
grep -q '<svg' "$t/loss.svg" && grep -q 'optimizer step' "$t/loss.svg"

"$fmrt" info "$t/A.fmw" >"$t/info.txt"
head -5 "$t/info.txt"
"$fmrt" sample "$t/A.fmw" --n 4 --steps 4 --sampler heun --classes 3,7 --traj "$t/tr.png" \
    --traj-steps 0,2,4 --raw-out "$t/s.u8" --out "$t/s.png"
test "$(stat -c %s "$t/s.u8")" -eq $((4 * 28 * 28))
head -c 8 "$t/s.png" | od -An -c | grep -q 'P   N   G'

# bench: every figure and the per-op tables, on the host backends, with JSON
hb=ref; "$fmrt" backends | grep -qx cpu && hb=cpu
"$fmrt" bench --backend $hb --preset tiny --quick --top 3 --json "$t/bench.json" >"$t/bench.txt"
grep -q 'sgemm (linear_fwd)' "$t/bench.txt" && grep -q 'per op, per run' "$t/bench.txt"
grep -q 'conv2d_bwd' "$t/bench.txt" && grep -q 'per op, per step' "$t/bench.txt"
grep -q '"ops": \[' "$t/bench.json" && grep -q '"op": "conv2d_fwd"' "$t/bench.json"
"$fmrt" bench --backend ref --preset tiny --quick --no-ops >"$t/bench.txt"
if grep -q 'per op' "$t/bench.txt"; then echo "bench --no-ops printed a profile"; exit 1; fi

# Bad inputs: one line on stderr, exit != 0, nothing overwritten.
expect_fail() {
    if "$@" >"$t/out" 2>"$t/err"; then echo "unexpected success: $*"; exit 1; fi
    test "$(wc -l <"$t/err")" -ge 1
    echo "rejected ($(head -1 "$t/err"))"
}
head -c 1000 "$t/A.fmw" >"$t/trunc.fmw"
expect_fail "$fmrt" sample "$t/trunc.fmw" --out "$t/x.png"
expect_fail "$fmrt" sample "$t/missing.fmw"
expect_fail "$fmrt" sample "$t/A.fmw" --steps 0
expect_fail "$fmrt" sample "$t/A.fmw" --class 12
expect_fail "$fmrt" train --data "$t/nowhere" --steps 1
expect_fail "$fmrt" train "${common[@]}" --batch 0
expect_fail "$fmrt" sample "$t/A.fmw" --backend tpu
expect_fail "$fmrt" frobnicate
expect_fail "$fmrt" bench --top -1
expect_fail "$fmrt" bench --backend tpu --quick
# fmrt diff: a file against itself is 0, against its resumed twin too; two models
# that differ are over a tolerance; files that do not match are refused.
"$fmrt" diff "$t/A.fmw" "$t/B.fmw" --tol 0 | grep -q "rel L2 0.000e+00"
"$fmrt" diff "$t/A.fmw" "$t/B1.fmw" --all >"$t/diff.txt"
grep -q "conv_in.weight" "$t/diff.txt"
expect_fail "$fmrt" diff "$t/A.fmw" "$t/B1.fmw" --tol 1e-9
expect_fail "$fmrt" diff "$t/A.fmw" "$t/DA.fmw"
expect_fail "$fmrt" diff "$t/A.fmw"
expect_fail "$fmrt" diff "$t/A.fmw" "$t/trunc.fmw"
expect_fail "$fmrt" train "${common[@]}" --steps 1 --dist --dist-check 0 --out "$t/x.fmw"
cp "$t/A.fmw" "$t/keep.fmw"
expect_fail "$fmrt" train "${common[@]}" --steps 1 --out "$t/nodir/x.fmw"
cmp "$t/A.fmw" "$t/keep.fmw"
echo "cli smoke: ok"
