#!/usr/bin/env bash
# Colour data end to end on a synthetic CIFAR-10-format set (tests/data/make-cifar.sh):
# a new run takes the data's 3 channels, 32x32 size, classes and class names; previews
# and sample grids are RGB PNGs; a run resumed from its checkpoint alone is
# bit-identical (with --flip too); a malformed batch, a label above 9 and a short names file are one
# line each. Usage: colour.sh FMRT SRC_DIR
set -euo pipefail
fmrt=$1
src=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$src/tests/expect.sh"
"$src/tests/data/make-cifar.sh" "$t/cifar" 48 10
# PNG colour type, the IHDR byte at offset 25: 0 grey, 2 RGB.
colour_type() { od -An -tu1 -j25 -N1 "$1" | tr -d ' '; }

common=(--data "$t/cifar" --batch 8 --seed 4 --config base_channels=8 --backend ref)
"$fmrt" train "${common[@]}" --steps 4 --out "$t/a.fmw" --no-ckpt --preview-every 4 \
    </dev/null 2>"$t/a.log"
grep -q "training conditional (the labels' classes" "$t/a.log"
"$fmrt" info "$t/a.fmw" >"$t/info"
grep -q "in_channels=3 image=32 .*num_classes=10" "$t/info"
grep -q "^classes *red,green,blue,yellow,magenta,cyan,orange,grey,purple,white$" "$t/info"
test "$(colour_type "$t/a-preview.png")" = 2
echo "ok: 3 channels, 32x32, 10 classes and their names from the data; an RGB preview"

"$fmrt" sample "$t/a.fmw" --cols 2 --steps 2 --backend ref --out "$t/s.png" 2>/dev/null
test "$(colour_type "$t/s.png")" = 2
# A row per class, named in a margin: wider than 2 tiles of 32 and 3 gaps of 2.
width=$(od -An -tu1 -j16 -N4 "$t/s.png" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
test "$width" -gt 70 || { echo "FAIL: no class-name margin (width $width)"; exit 1; }
"$fmrt" sample "$t/a.fmw" --class magenta --n 2 --steps 2 --backend ref --raw-out "$t/m.u8" \
    --out "$t/m.png" 2>/dev/null
"$fmrt" sample "$t/a.fmw" --class 4 --n 2 --steps 2 --backend ref --raw-out "$t/4.u8" \
    --out "$t/4.png" 2>/dev/null
cmp "$t/m.u8" "$t/4.u8"
test "$(stat -c %s "$t/m.u8")" -eq $((2 * 3 * 32 * 32))
echo "ok: RGB sample grids, rows named by class; --class magenta is class 4"

"$fmrt" train "${common[@]}" --steps 2 --out "$t/b.fmw" </dev/null 2>/dev/null
"$fmrt" train --resume "$t/b.ckpt" --steps 4 --out "$t/b.fmw" --backend ref </dev/null 2>/dev/null
"$fmrt" diff "$t/a.fmw" "$t/b.fmw" --tol 0 >/dev/null
# The original command with --resume added: the data's shape counts as given, as its classes.
"$fmrt" train "${common[@]}" --steps 2 --out "$t/c.fmw" </dev/null 2>/dev/null
"$fmrt" train "${common[@]}" --resume "$t/c.ckpt" --steps 4 --out "$t/c.fmw" </dev/null 2>/dev/null
"$fmrt" diff "$t/a.fmw" "$t/c.fmw" --tol 0 >/dev/null
echo "ok: resumed from the checkpoint alone (the data's path recorded), and with the original flags: the same weights"

# --flip: recorded in the checkpoint, so a resume from it alone mirrors the same rows.
"$fmrt" train "${common[@]}" --flip --steps 4 --out "$t/f.fmw" --no-ckpt </dev/null 2>/dev/null
"$fmrt" train "${common[@]}" --flip --steps 2 --out "$t/g.fmw" </dev/null 2>/dev/null
"$fmrt" train --resume "$t/g.ckpt" --steps 4 --out "$t/g.fmw" --backend ref </dev/null 2>/dev/null
cmp "$t/f.fmw" "$t/g.fmw"
! cmp -s "$t/f.fmw" "$t/a.fmw"
expect_one "--flip: the checkpoint's run did not flip" \
    "$fmrt" train --resume "$t/b.ckpt" --flip --steps 5 --out "$t/b.fmw"
echo "ok: --flip changes the run, and its resume is bit-identical"

mkdir "$t/bad"
head -c 5000 "$t/cifar/data_batch_1.bin" >"$t/bad/data_batch_1.bin"
expect_one "data_batch_1.bin: 5000 bytes is not a whole number of 3073-byte CIFAR-10 records" \
    "$fmrt" train --data "$t/bad" --steps 1 --out "$t/x.fmw"
{ printf '\014'; head -c 3072 /dev/zero; } >"$t/bad/data_batch_1.bin"
expect_one "record 0 has label 12; CIFAR-10 labels are 0..9" \
    "$fmrt" train --data "$t/bad" --steps 1 --out "$t/x.fmw"
cp "$t/cifar/data_batch_1.bin" "$t/bad/"
printf 'a\nb\n' >"$t/bad/batches.meta.txt"
expect_one "batches.meta.txt: 2 names, CIFAR-10 has 10 classes" \
    "$fmrt" train --data "$t/bad" --steps 1 --out "$t/x.fmw"
# The model's shape, when the config gives it, is what the images become: grey by
# BT.601 luma, and 32x32 shrunk to 16x16 by the area filter.
"$fmrt" train --data "$t/cifar" --config in_channels=1 --config image=16 --steps 1 \
    --out "$t/grey.fmw" --no-ckpt >"$t/log" 2>&1 || { cat "$t/log"; exit 1; }
"$fmrt" info "$t/grey.fmw" >"$t/info" 2>&1
grep -q "in_channels=1 image=16 " "$t/info" ||
    { echo "FAIL: the grey 16x16 model"; cat "$t/info"; exit 1; }
# fmrt data colour-mnist: deterministic from its seed, a caption per image that names
# its label, and a set fmrt train takes (RGB, 80 named classes).
"$fmrt" data colour-mnist "$src/tests/data/mnist" "$t/cm" >/dev/null
"$fmrt" data colour-mnist "$src/tests/data/mnist" "$t/cm2" >/dev/null
"$fmrt" data colour-mnist "$src/tests/data/mnist" "$t/cm3" --seed 1 >/dev/null
cmp "$t/cm/train.fmd" "$t/cm2/train.fmd"
! cmp -s "$t/cm/train.fmd" "$t/cm3/train.fmd"
test "$(grep -c -E '^a (red|green|blue|yellow|magenta|cyan|orange|white) [0-9]$' \
        "$t/cm/train-captions.txt")" -eq 256
"$fmrt" train --data "$t/cm" --batch 8 --steps 1 --config base_channels=8 --backend ref \
    --out "$t/cm.fmw" --no-ckpt </dev/null 2>/dev/null
"$fmrt" info "$t/cm.fmw" >"$t/info"
grep -q "in_channels=3 image=28 .*num_classes=80" "$t/info"
grep -q "^classes *red 0,red 1," "$t/info"
expect_one "cm/train.fmd exists: give --force to replace it" \
    "$fmrt" data colour-mnist "$src/tests/data/mnist" "$t/cm"
echo "ok: colour-mnist is deterministic, captioned, and trains an 80-class RGB model"
# The shipped colour and Fashion-MNIST models, found by their bare names.
"$fmrt" sample colour-mnist-cond.fmw --class "red 7" --n 2 --steps 2 --backend ref \
    --out "$t/r7.png" 2>/dev/null
test "$(colour_type "$t/r7.png")" = 2
"$fmrt" info fashion-cond.fmw >"$t/info"
grep -q "^classes *T-shirt/top,Trouser,Pullover," "$t/info"
echo "ok: the shipped colour-mnist-cond and fashion-cond models"
echo "colour: all passed"
