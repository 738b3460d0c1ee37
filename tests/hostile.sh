#!/usr/bin/env bash
# Hostile inputs to the fmrt tool, self-contained: the data is a few
# made-up MNIST-format digits written here, no ../shared needed. Every case must give
# one clear error line and an exit status 1..125 (no crash), before any work starts
# where the case is about the command line, and leave the files already on disk as
# they were. The file-format cases (NaN tensors, checkpoint fields, a header that
# claims more memory than its file holds) are Criterion tests in test_model.c.
# Usage: hostile.sh FMRT
set -euo pipefail
fmrt=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# 16 images of 28x28 (IDX3, big-endian header) and their labels 0..9,0..5 (IDX1).
{ printf '\x00\x00\x08\x03\x00\x00\x00\x10\x00\x00\x00\x1c\x00\x00\x00\x1c'
  head -c $((16 * 784)) /dev/zero | tr '\0' '\200'; } >"$t/img.idx"
{ printf '\x00\x00\x08\x01\x00\x00\x00\x10'
  printf '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x00\x01\x02\x03\x04\x05'; } >"$t/lab.idx"
data=(--images "$t/img.idx" --labels "$t/lab.idx" --backend ref --log-every 1000)
model=(--preset tiny --config base_channels=8 --config "channel_mult=1,2" --config time_dim=16
       --config heads=2 --config groups=4 --batch 4 --seed 5)

. "$(dirname "$0")/expect.sh"
# expect_early PATTERN CMD...: expect_fail, with one error line and no sign that work
# started (no "training" or "sampled" line).
expect_early() {
    expect_fail "$@"
    if grep -Eq '^(training|sampled) ' "$t/err" || [ "$(wc -l <"$t/err")" -ne 1 ]; then
        echo "FAIL: '$*' started work or printed more than one line:"; cat "$t/err"; exit 1
    fi
}

"$fmrt" train "${data[@]}" "${model[@]}" --steps 2 --ckpt "$t/c.fmw" --out "$t/w.fmw" \
    2>"$t/train.log" </dev/null
cp "$t/c.fmw" "$t/c.keep"
cp "$t/w.fmw" "$t/w.keep"

# ---- outputs (item 6) ------------------------------------------------------------------
expect_early "--out and --ckpt name the same file" \
    "$fmrt" train "${data[@]}" "${model[@]}" --steps 2 --ckpt "$t/c.fmw" --out "$t/./c.fmw"
expect_early "--out .*is also the input --resume" \
    "$fmrt" train "${data[@]}" --resume "$t/c.fmw" --steps 3 --out "$t/c.fmw"
cmp "$t/c.fmw" "$t/c.keep"
ln -s "$t/w.fmw" "$t/link.fmw"
expect_early "is a symbolic link" "$fmrt" train "${data[@]}" "${model[@]}" --steps 2 --out "$t/link.fmw"
cmp "$t/w.fmw" "$t/w.keep"
test -L "$t/link.fmw"
expect_early "/dev/null is not a regular file" "$fmrt" sample "$t/w.fmw" --n 2 --steps 1 --out /dev/null
long=$t/$(printf 'a%.0s' $(seq 253))
expect_early "temporary suffix" "$fmrt" train "${data[@]}" "${model[@]}" --steps 2 --out "$long"
expect_early "temporary suffix" "$fmrt" sample "$t/w.fmw" --n 2 --steps 1 --out "$long"
expect_early "output file name is empty" "$fmrt" sample "$t/w.fmw" --n 2 --steps 1 --out ''
expect_early "folder .*/nodir does not exist" "$fmrt" sample "$t/w.fmw" --n 2 --out "$t/nodir/s.png"
expect_early "--out and --traj name the same file" \
    "$fmrt" sample "$t/w.fmw" --n 2 --steps 1 --traj "$t/s.png" --out "$t/s.png"
expect_early "--raw-out .*is also the input WEIGHTS" \
    "$fmrt" sample "$t/w.fmw" --n 2 --steps 1 --raw-out "$t/w.fmw"
cmp "$t/w.fmw" "$t/w.keep"
expect_early "OUT .*is also the input IN" "$fmrt" export "$t/w.fmw" "$t/w.fmw"
cmp "$t/w.fmw" "$t/w.keep"

# A killed save leaves "<file>.tmp": the next save reuses it, and it is gone after.
printf 'the remains of a killed save' >"$t/c.fmw.tmp"
"$fmrt" train "${data[@]}" --resume "$t/c.fmw" --ckpt "$t/c.fmw" --steps 3 --out "$t/w3.fmw" \
    2>>"$t/train.log" </dev/null
test ! -e "$t/c.fmw.tmp"
"$fmrt" info "$t/c.fmw" >"$t/info.txt"
grep -q "^crc .* ok" "$t/info.txt"
echo "ok: a stale $t/c.fmw.tmp was reused and removed by the next save"

# ---- backends and flags (items 5, 7) -----------------------------------------------------
expect_early "plan backend counts bytes and computes nothing" \
    "$fmrt" sample "$t/w.fmw" --n 2 --steps 1 --backend plan --out "$t/p.png"
expect_early "plan backend counts bytes and computes nothing" \
    "$fmrt" train "${data[@]}" "${model[@]}" --steps 1 --backend plan --out "$t/p.fmw"
expect_early "--lr 0: lr 0 is outside \(0, 10\]" "$fmrt" train "${data[@]}" --lr 0
expect_early "--ema 1.5: ema_decay 1.5 is outside \[0, 1\]" "$fmrt" train "${data[@]}" --ema 1.5
expect_early "--label-drop: 'nan' is not a finite number" "$fmrt" train "${data[@]}" --label-drop nan

# ---- non-finite values in a golden case (item 1) -----------------------------------------
mkdir "$t/g"
printf '# config in_channels=1 image=4x4 base_channels=4 channel_mult=1 res_blocks=1 time_dim=4 heads=1 groups=2 num_classes=0 batch=1\nparam.conv_in.bias f32 0 2\n' >"$t/g/case.txt"
printf '\000\000\200\077\000\000\300\177' >"$t/g/case.bin" # 1.0f, NaN
expect_early "tensor param.conv_in.bias: 1 of its 2 values are not finite" "$fmrt" golden "$t/g"

# ---- terminal escapes in messages (item 7) -------------------------------------------------
esc=$(printf 'x\033[2Jy')
expect_early 'cannot open x\\x1b\[2Jy' "$fmrt" info "$esc"
if grep -q "$(printf '\033')" "$t/err"; then echo "FAIL: a raw ESC reached stderr"; exit 1; fi
echo "hostile: ok"
