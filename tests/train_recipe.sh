#!/usr/bin/env bash
# fmrt train's defaults and schedule: the quick recipe and the default checkpoint, a
# cosine schedule with warmup that a Ctrl-C'd run resumes bit-identically (from the
# checkpoint alone: no --steps, no model flags), the epoch's mean loss across that
# resume, and one error line for a schedule flag that disagrees with the checkpoint.
# Usage: train_recipe.sh FMRT DATA_DIR
set -euo pipefail
fmrt=$1
data=$2
if [ ! -d "$data" ]; then echo "$0: $data not found" >&2; exit 1; fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# 1. The quick recipe and a checkpoint beside --out, unasked.
"$fmrt" train --data "$data" --limit 64 --steps 1 --config base_channels=8 --out "$t/q.fmw" \
    </dev/null 2>"$t/q.log"
grep -q "batch 32, .*lr 0.0003," "$t/q.log"
test -f "$t/q.ckpt"
"$fmrt" train --data "$data" --limit 64 --steps 1 --config base_channels=8 --no-ckpt \
    --out "$t/n.fmw" </dev/null 2>/dev/null
test ! -e "$t/n.ckpt"
echo "defaults: the quick recipe, checkpoint q.ckpt beside q.fmw; --no-ckpt writes none"
# --preview-every: a PNG grid beside --out, and the weights of a run without previews.
"$fmrt" train --data "$data" --limit 64 --steps 2 --config base_channels=8 --no-ckpt \
    --preview-every 1 --out "$t/p.fmw" </dev/null 2>"$t/p.log"
grep -q "step 2: preview $t/p-preview.png" "$t/p.log"
test "$(head -c 8 "$t/p-preview.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a
"$fmrt" train --data "$data" --limit 64 --steps 2 --config base_channels=8 --no-ckpt \
    --out "$t/p2.fmw" </dev/null 2>/dev/null
cmp "$t/p.fmw" "$t/p2.fmw"
echo "previews: a PNG every step, training unchanged"

# 2. Cosine with warmup: an uninterrupted run, then one stopped by SIGINT wherever it
#    is and resumed with --data and --resume only.
common=(--data "$data" --limit 40 --batch 4 --seed 5 --config base_channels=8
        --lr 1e-3 --lr-schedule cosine --warmup 5)
"$fmrt" train "${common[@]}" --steps 24 --out "$t/A.fmw" --no-ckpt </dev/null 2>"$t/A.log"
grep -q "lr 0.001 cosine to 0 at step 24, warmup 5" "$t/A.log"
"$fmrt" train "${common[@]}" --steps 24 --out "$t/B.fmw" --ckpt-every 1 --log-every 1 \
    </dev/null 2>"$t/B.log" &
pid=$!
for _ in $(seq 1 600); do
  grep -q "^step 3/24" "$t/B.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -INT "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
test "$rc" -eq 0 || test "$rc" -eq 130
# The checkpoint records the data (its path, --limit as its image count) and the end.
"$fmrt" train --resume "$t/B.ckpt" --out "$t/B.fmw" </dev/null 2>>"$t/B.log"
cmp "$t/A.fmw" "$t/B.fmw"
a=$(grep "^epoch 2: mean loss" "$t/A.log")
b=$(grep "^epoch 2: mean loss" "$t/B.log" | tail -1)
test "$a" = "$b" || { echo "epoch means differ: '$a' vs '$b'" >&2; exit 1; }
echo "cosine + warmup: interrupted ($(grep -c '^step' "$t/B.log") progress lines) and resumed from the checkpoint alone: bit-identical; $b"

# 3. A schedule flag that disagrees with the checkpoint: one line, status 1.
rc=0
"$fmrt" train --data "$data" --limit 40 --resume "$t/B.ckpt" --lr-schedule constant --steps 30 \
    --out "$t/C.fmw" </dev/null 2>"$t/err" || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1 && grep -q "differs from the checkpoint's cosine" "$t/err"
rc=0
"$fmrt" train --data "$data" --recipe bogus 2>"$t/err" || rc=$?
test "$rc" -eq 2 && test "$(wc -l <"$t/err")" -eq 1
rc=0
"$fmrt" train --data "$data" --lr-schedule linear 2>"$t/err" || rc=$?
test "$rc" -eq 2 && test "$(wc -l <"$t/err")" -eq 1
echo "refusals: one line each"

# 4. Class names recorded in the model: info shows them and the data; sample takes them.
"$fmrt" train --data "$data" --limit 64 --steps 1 --config base_channels=8 --no-ckpt \
    --class-names zero,one,two,three,four,five,six,seven,eight,nine --out "$t/k.fmw" \
    </dev/null 2>/dev/null
"$fmrt" info "$t/k.fmw" >"$t/info"
grep -q "^classes *zero,one,two,three,four,five,six,seven,eight,nine$" "$t/info"
grep -q "^data *data=/.*mnist$" "$t/info"
"$fmrt" sample "$t/k.fmw" --class seven --n 2 --steps 2 --raw-out "$t/s7.u8" --out "$t/s7.png" 2>/dev/null
"$fmrt" sample "$t/k.fmw" --class 7 --n 2 --steps 2 --raw-out "$t/n7.u8" --out "$t/n7.png" 2>/dev/null
cmp "$t/s7.u8" "$t/n7.u8"
rc=0
"$fmrt" sample "$t/k.fmw" --classes two,sneaker --steps 2 --out "$t/x.png" 2>"$t/err" || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1 && grep -q "'sneaker' is not one of" "$t/err"
rc=0
"$fmrt" train --data "$data" --limit 64 --steps 1 --class-names a,b --out "$t/y.fmw" \
    </dev/null 2>"$t/err" || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1 && grep -q "2 names for 10 classes" "$t/err"
echo "class names: recorded, shown by info, taken by sample --class NAME"
# 5. The recorded data moved: one line that says so.
mkdir "$t/moved"
cp "$data"/train-* "$t/moved/"
"$fmrt" train --data "$t/moved" --limit 64 --steps 1 --config base_channels=8 --out "$t/m.fmw" \
    </dev/null 2>/dev/null
rm -r "$t/moved"
rc=0
"$fmrt" train --resume "$t/m.ckpt" --steps 2 --out "$t/m.fmw" </dev/null 2>"$t/err" || rc=$?
test "$rc" -eq 1 && test "$(wc -l <"$t/err")" -eq 1 && grep -q "training data .*moved.* is gone" "$t/err"
echo "recorded data gone: one line"
