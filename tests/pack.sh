#!/usr/bin/env bash
# Packed data sets (fmrt data pack and info; tools/fmrt/pack.c, docs/data-pack.md):
#  1. packs of the fixture digits (IDX) and of a CIFAR-10-format set, their summary
#     lines, a pack of a pack (the same bytes), fitting on the fly equal to fitting
#     in memory;
#  2. each damaged or foreign file refused in one line naming it (a flipped pixel, a
#     flipped header byte, a flipped label, another version, a truncated file, a
#     weights file), a damaged image named mid-run, an existing OUT kept without --force;
#  3. training from a pack: the very weights of training from its source, and
#     of a run stopped and resumed from its checkpoint;
#  4. a pack larger than the memory the run may use (ulimit -d, the data size: the small
#     pack's peak plus less than the pack) trains, stops and resumes bit-identically,
#     while the same images as IDX files cannot even load (skipped under ASan, whose
#     shadow memory needs terabytes of address space).
# Usage: pack.sh FMRT SRC_DIR   (the big files go to a scratch folder in the current
# directory, ctest's build folder, and are removed at exit)
set -euo pipefail
fmrt=$1
src=$2
t=$(mktemp -d "$PWD/pack-test.XXXXXX")
trap 'rm -rf "$t"' EXIT
. "$src/tests/expect.sh"
# OpenBLAS, linked for the cpu backend, starts worker threads at load whose buffers
# count against the limit and which loop forever when an allocation fails at exit.
export OPENBLAS_NUM_THREADS=1
mnist=$src/tests/data/mnist
start=$SECONDS

# ---- 1. packs --------------------------------------------------------------------------
"$fmrt" data pack "$mnist" "$t/m.fmd" >"$t/out"
size=$(stat -c %s "$t/m.fmd")
crc=$(sed -n 's/.*crc \(0x[0-9a-f]\{8\}\).*/\1/p' "$t/out")
grep -q "^wrote $t/m.fmd: 256 images 1x28x28, 10 classes, $size bytes, crc 0x[0-9a-f]\{8\} (from IDX $mnist)$" "$t/out"
test ! -e "$t/m.fmd.tmp"
"$fmrt" data info "$t/m.fmd" >"$t/info"
grep -q "^$t/m.fmd: 256 images 1x28x28, 10 classes, $size bytes, crc $crc, every image's CRC checks$" "$t/info"
"$fmrt" data pack "$t/m.fmd" "$t/m2.fmd" >/dev/null
cmp "$t/m.fmd" "$t/m2.fmd"
echo "ok: IDX digits packed ($size bytes, $crc), checked by data info; a pack of the pack is the same file"

"$src/tests/data/make-cifar.sh" "$t/cifar" 48 10
"$fmrt" data pack "$t/cifar" "$t/c.fmd" >"$t/out"
grep -q ": 48 images 3x32x32, 10 classes (named), .* (from CIFAR-10 $t/cifar)$" "$t/out"
"$fmrt" data info "$t/c.fmd" >"$t/info"
grep -q "^classes red,green,blue,yellow,magenta,cyan,orange,grey,purple,white$" "$t/info"
"$fmrt" data pack "$t/cifar" "$t/ct.fmd" --split test | grep -q ": 10 images 3x32x32, "
"$fmrt" data pack "$t/cifar" "$t/c16.fmd" --config image=16 --channels 1 | grep -q ": 48 images 1x16x16, "
"$fmrt" data pack "$t/c.fmd" "$t/c16b.fmd" --image 16 --channels 1 >/dev/null
cmp "$t/c16.fmd" "$t/c16b.fmd"
echo "ok: CIFAR-10 batches packed with their class names, the test split, resized to grey 16x16 alike from the batches and from their pack"

# ---- 2. refusals -----------------------------------------------------------------------
# Byte `at` of file f inverted.
flip() {
    local f=$1 at=$2 b
    b=$(od -An -tu1 -j"$at" -N1 "$f" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 255)))" | dd of="$f" bs=1 seek="$at" conv=notrunc 2>/dev/null
}
pixels=$((size - 256 * 784)) # where image 0 starts
cp "$t/m.fmd" "$t/bad.fmd" && flip "$t/bad.fmd" $((pixels + 3 * 784 + 400))
expect_one "bad.fmd: image 3 has CRC 0x[0-9a-f]{8}, the pack records 0x[0-9a-f]{8}: the file is damaged" \
    "$fmrt" data info "$t/bad.fmd"
expect_one "bad.fmd: image 3 has CRC" "$fmrt" data pack "$t/bad.fmd" "$t/x.fmd"
test ! -e "$t/x.fmd" && test ! -e "$t/x.fmd.tmp"
# Opening reads no pixels: the damage is named by the batch that reads image 3. A seed
# whose first batch of 8 (of 16 images) lacks it, so that the second, read ahead by the
# background thread, has it: the thread's failure is silent while nobody asks for that
# batch (one step passes), and named once, on the caller's thread, when a step does.
bad=(--data "$t/bad.fmd" --limit 16 --batch 8 --config base_channels=8 --backend ref --no-ckpt --force
     --out "$t/x.fmw")
seed=1
until "$fmrt" train "${bad[@]}" --steps 1 --seed $seed </dev/null >/dev/null 2>&1; do
    seed=$((seed + 1))
    test $seed -le 20
done
expect_fail "bad.fmd: image 3 has CRC" "$fmrt" train "${bad[@]}" --steps 2 --seed $seed
test "$(grep -c "image 3 has CRC" "$t/err")" -eq 1
rm -f "$t/x.fmw"
cp "$t/m.fmd" "$t/bad.fmd" && flip "$t/bad.fmd" 20
expect_one "bad.fmd: the header's CRC is 0x[0-9a-f]{8}, it records 0x[0-9a-f]{8}: the file is damaged" \
    "$fmrt" data info "$t/bad.fmd"
cp "$t/m.fmd" "$t/bad.fmd" && flip "$t/bad.fmd" $((64 + 5))
expect_one "bad.fmd: the CRC of its names, labels and image CRCs is 0x[0-9a-f]{8}, the header records" \
    "$fmrt" train --data "$t/bad.fmd" --steps 1 --no-ckpt --out "$t/x.fmw"
cp "$t/m.fmd" "$t/bad.fmd" && printf '\002' | dd of="$t/bad.fmd" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_one "bad.fmd: pack version 2; this fmrt reads version 1" "$fmrt" data info "$t/bad.fmd"
head -c $((size - 100)) "$t/m.fmd" >"$t/bad.fmd"
expect_one "bad.fmd: truncated: $((size - 100)) bytes, the header gives $size" "$fmrt" data info "$t/bad.fmd"
expect_one "bad.fmd: truncated: $((size - 100)) bytes" "$fmrt" data pack "$t/bad.fmd" "$t/x.fmd"
head -c 40 "$t/m.fmd" >"$t/bad.fmd"
expect_one "bad.fmd: truncated: 40 bytes, a pack's header alone is 64" "$fmrt" data info "$t/bad.fmd"
weights=$(ls "$src"/model/*.fmw | head -1)
expect_one "is an fmrt weights or checkpoint file, not a data pack" "$fmrt" data info "$weights"
expect_one "is gzip-compressed data .*, not a data pack" "$fmrt" data info "$mnist/train-images-idx3-ubyte.gz"
expect_one "is (a file but not a pack|an fmrt weights or checkpoint file, not a data pack)" \
    "$fmrt" data pack "$weights" "$t/x.fmd"
expect_one "OUT $t/m.fmd exists: --force replaces it" "$fmrt" data pack "$mnist" "$t/m.fmd"
expect_one "OUT $t/m.fmd is also the input SRC" "$fmrt" data pack "$t/m.fmd" "$t/m.fmd" --force
"$fmrt" data pack "$t/cifar" "$t/m.fmd" --force >/dev/null
"$fmrt" data pack "$mnist" "$t/m.fmd" --force >/dev/null
cmp "$t/m.fmd" "$t/m2.fmd"
expect_one "--split 'val': train or test" "$fmrt" data pack "$mnist" "$t/x.fmd" --split val
expect_one "--channels '2': 1 \(grey\) or 3 \(RGB\)" "$fmrt" data pack "$mnist" "$t/x.fmd" --channels 2
echo "ok: refusals, one line each"

# ---- 3. training from a pack ----------------------------------------------------------
# The source folder and the pack under one path (DIR/train.fmd is the training split of
# DIR), so that the weights files record the same data and compare whole; 6 steps of
# 4 per epoch cross an epoch, and the resume starts mid-epoch. (Small: at -O0 under
# ASan a step of batch 4 takes seconds.)
mkdir "$t/same"
cp "$mnist"/train-* "$t/same/"
common=(--data "$t/same" --limit 16 --batch 4 --seed 7 --config base_channels=8 --backend ref
        --log-every 1000)
"$fmrt" train "${common[@]}" --steps 6 --no-ckpt --out "$t/folder.fmw" </dev/null 2>/dev/null
"$fmrt" data pack "$t/same" "$t/same.fmd" >/dev/null
rm "$t/same"/train-*
mv "$t/same.fmd" "$t/same/train.fmd"
"$fmrt" train "${common[@]}" --steps 6 --no-ckpt --out "$t/pack.fmw" </dev/null 2>/dev/null
# The same weights (the files differ in text.data, where a pack's CRC is recorded):
# the same images from the same noise.
same_weights() {
    for f in "$1" "$2"; do
        "$fmrt" sample "$f" --n 4 --steps 2 --backend ref --out "$f.png" --raw-out "$f.u8" \
            --force 2>/dev/null
    done
    cmp "$1.u8" "$2.u8"
}
same_weights "$t/folder.fmw" "$t/pack.fmw"
"$fmrt" train "${common[@]}" --steps 3 --out "$t/r.fmw" </dev/null 2>/dev/null
"$fmrt" train --resume "$t/r.ckpt" --steps 6 --backend ref --out "$t/r.fmw" </dev/null 2>/dev/null
cmp "$t/pack.fmw" "$t/r.fmw"
echo "ok: training from the pack = training from its IDX files (the same samples), and so is 3 steps resumed to 6"
# The checkpoint records the pack's CRC: a resume refuses a pack rewritten since.
"$fmrt" data pack "$mnist" "$t/same/train.fmd" --force --image 16 >/dev/null
expect_one "the pack's CRC is [0-9a-f]{8}, the checkpoint's run read a pack of CRC [0-9a-f]{8}" \
    "$fmrt" train --resume "$t/r.ckpt" --steps 7 --backend ref --out "$t/r.fmw"

# ---- 4. a pack larger than the data-size limit -------------------------------------
libs=$(ldd "$fmrt" 2>/dev/null || true) # whole first: grep -q must not SIGPIPE ldd
if grep -q libasan <<<"$libs"; then
    echo "skip: the ulimit -d part under ASan (its shadow memory needs terabytes of address space)"
    echo "pack: all passed ($((SECONDS - start)) s)"
    exit 0
fi
# The peak data size (VmData, kB: private writable memory, heap and anonymous maps,
# which is what RLIMIT_DATA counts) of a command run under `ulimit -d $1`, polled until
# it exits; its exit status is the function's. A peak that came in the last instant
# could be missed: the runs below write a checkpoint every step, so theirs comes early.
# The data limit rather than the whole address space (ulimit -v): the shared libraries
# of a build with CUDA and OpenCL map about a GiB of code before main, the same for any
# data set, and the pack's file is never mapped in either case.
peak=0
peak_under() {
    local lim=$1 k v _ rc=0
    shift
    (ulimit -d "$lim" && exec "$@") </dev/null 2>>"$t/big.log" &
    local pid=$!
    peak=0
    while kill -0 "$pid" 2>/dev/null; do
        while read -r k v _; do [ "$k" = VmData: ] && [ "$v" -gt "$peak" ] && peak=$v; done \
            <"/proc/$pid/status" 2>/dev/null || true
        sleep 0.02
    done
    wait "$pid" || rc=$?
    return "$rc"
}
# The same run on the 256-digit pack: its peak is the baseline.
run=(--batch 8 --seed 9 --config base_channels=8 --backend ref --log-every 1000 --ckpt-every 1)
peak_under unlimited "$fmrt" train --data "$t/m.fmd" "${run[@]}" --steps 3 --ckpt "$t/s.ckpt" \
    --out "$t/s.fmw"
base=$peak
peak_under unlimited "$fmrt" train --resume "$t/s.ckpt" --ckpt "$t/s.ckpt" --steps 6 \
    --backend ref --ckpt-every 1 --out "$t/s.fmw"
base=$((peak > base ? peak : base))
# The limit: the baseline plus 48 MiB (a few batches and the reader's buffers fit in
# that; the whole set does not).
limit=$((base + 48 * 1024))
# 256 digits doubled until they are a quarter larger than the limit: as IDX files, then
# as a pack (a build with CUDA and OpenCL has a baseline near 250 MiB: 524288 images,
# 411 MiB).
big=$t/big
mkdir "$big"
be32() { printf "$(printf '\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
gzip -dc "$mnist/train-images-idx3-ubyte.gz" | tail -c +17 >"$t/img.0"
gzip -dc "$mnist/train-labels-idx1-ubyte.gz" | tail -c +9 >"$t/lab.0"
doublings=0
while [ $(((256 * 784) << doublings)) -le $((limit * 1024 / 4 * 5)) ]; do
    doublings=$((doublings + 1))
done
for i in $(seq 1 "$doublings"); do
    cat "$t/img.$((i - 1))" "$t/img.$((i - 1))" >"$t/img.$i" && rm "$t/img.$((i - 1))"
    cat "$t/lab.$((i - 1))" "$t/lab.$((i - 1))" >"$t/lab.$i" && rm "$t/lab.$((i - 1))"
done
n=$((256 << doublings))
{ printf '\0\0\10\3'; be32 $n; be32 28; be32 28; cat "$t/img.$doublings"; } >"$big/train-images-idx3-ubyte"
{ printf '\0\0\10\1'; be32 $n; cat "$t/lab.$doublings"; } >"$big/train-labels-idx1-ubyte"
rm "$t/img.$doublings" "$t/lab.$doublings"
t0=$SECONDS
"$fmrt" data pack "$big" "$t/big.fmd" >"$t/out"
big_bytes=$(stat -c %s "$t/big.fmd")
echo "packed $n images: $(cat "$t/out") in $((SECONDS - t0)) s"

test $((big_bytes / 1024)) -gt "$limit"
echo "data-size limit: ulimit -d $limit kB (the small pack's peak $base kB + 48 MiB); the pack: $((big_bytes / 1024)) kB"
# The same images as IDX files do not fit: the limit bites.
if peak_under "$limit" "$fmrt" train --data "$big" "${run[@]}" --steps 1 --out "$t/x.fmw"; then
    echo "FAIL: $n IDX images ($big_bytes bytes) loaded under ulimit -d $limit"
    exit 1
fi
tail -1 "$t/big.log" | grep "cannot allocate"
rm -r "$big"
# Straight to 6 steps; 3 steps, then resumed to 6 from the checkpoint: both under it.
t0=$SECONDS
peak_under "$limit" "$fmrt" train --data "$t/big.fmd" "${run[@]}" --steps 6 --ckpt "$t/A.ckpt" \
    --out "$t/A.fmw" || { cat "$t/big.log"; exit 1; }
pa=$peak
peak_under "$limit" "$fmrt" train --data "$t/big.fmd" "${run[@]}" --steps 3 --ckpt "$t/B.ckpt" \
    --out "$t/B.fmw" || { cat "$t/big.log"; exit 1; }
pb=$peak
peak_under "$limit" "$fmrt" train --resume "$t/B.ckpt" --ckpt "$t/B.ckpt" --steps 6 \
    --backend ref --ckpt-every 1 --out "$t/B.fmw" || { cat "$t/big.log"; exit 1; }
pc=$peak
cmp "$t/A.fmw" "$t/B.fmw"
echo "ok: a $((big_bytes >> 20)) MiB pack trained under ulimit -d $((limit >> 10)) MiB (peaks $pa, $pb, $pc kB), 3 steps resumed to 6 = 6 straight (cmp); $((SECONDS - t0)) s"
# fmrt data pack streams a pack source too (chunks of 4 MiB, the next one read ahead).
t0=$SECONDS
peak_under "$limit" "$fmrt" data pack "$t/big.fmd" "$t/big2.fmd" || { cat "$t/big.log"; exit 1; }
cmp "$t/big.fmd" "$t/big2.fmd"
echo "ok: the pack packed again under the same limit (peak $peak kB): the same bytes; $((SECONDS - t0)) s"
rm "$t/big.fmd" "$t/big2.fmd"
echo "pack: all passed ($((SECONDS - start)) s)"
