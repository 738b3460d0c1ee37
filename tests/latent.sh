#!/usr/bin/env bash
# Latent flow matching end to end (docs/spec/vae.md) on the fixture digits: a tiny
# autoencoder (fmrt train-vae) and a flow model on its latents (fmrt train --vae);
# info of both; sample and eval decode the latents (the recorded autoencoder, --vae,
# or one of its name beside a moved model); eval of the autoencoder (PSNR and the
# floors); encode to .npy and decode it; a mismatched, a missing or a misplaced
# autoencoder and every bad latent file are one line each; plan --vae sums the
# pipeline. Usage: latent.sh FMRT SRC_DIR
set -euo pipefail
fmrt=$1
src=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$src/tests/expect.sh"
d=$src/tests/data/mnist
be=ref
"$fmrt" backends | grep -qx cpu && be=cpu
small=(--config channel_mult=1,2 --config base_channels=8)

"$fmrt" train-vae --data "$d" --preset vae-test --batch 16 --steps 6 --seed 1 --backend $be \
    --no-ckpt --out "$t/v.fmw" </dev/null 2>/dev/null
"$fmrt" train-vae --data "$d" --preset vae-test --batch 16 --steps 2 --seed 2 --backend $be \
    --no-ckpt --out "$t/v2.fmw" </dev/null 2>/dev/null
"$fmrt" train --data "$d" --vae "$t/v.fmw" --preset tiny "${small[@]}" --batch 16 --steps 4 \
    --backend $be --no-ckpt --out "$t/f.fmw" </dev/null 2>/dev/null
"$fmrt" info "$t/v.fmw" >"$t/info"
grep -q "autoencoder (fmrt train-vae): 1x28x28 images <-> 2x14x14 latents (f = 2)" "$t/info"
grep -Eq "^latent +scale k = [0-9.e+-]+ " "$t/info"
"$fmrt" info "$t/f.fmw" >"$t/info"
grep -Eq "^latent +latent model: needs autoencoder $t/v.fmw \(CRC [0-9a-f]{8}\)$" "$t/info"
grep -q "in_channels=2 image=14 " "$t/info"
echo "ok: train-vae and train --vae; info names the shapes, the scale, the autoencoder and its CRC"

# Sampling decodes: 1x28x28 pixels out of a 2x14x14 model, the recorded file or --vae.
samp=(--n 4 --cols 2 --steps 2 --backend $be)
"$fmrt" sample "$t/f.fmw" "${samp[@]}" --out "$t/s.png" --raw-out "$t/a.u8" \
    --traj "$t/traj.png" 2>"$t/err"
grep -q "decoded 2x14x14 latents to 1x28x28 images with $t/v.fmw" "$t/err"
test "$(stat -c %s "$t/a.u8")" -eq $((4 * 28 * 28))
"$fmrt" sample "$t/f.fmw" "${samp[@]}" --vae "$t/v.fmw" --out "$t/s2.png" --raw-out "$t/b.u8" \
    2>/dev/null
cmp "$t/a.u8" "$t/b.u8"
cmp "$t/s.png" "$t/s2.png"
echo "ok: sample decodes the latents (grid, --raw-out, --traj), the recorded autoencoder = --vae"

expect_one "trained with the autoencoder of CRC [0-9a-f]{8} \($t/v.fmw\), not $t/v2.fmw \(CRC" \
    "$fmrt" sample "$t/f.fmw" --vae "$t/v2.fmw" --out "$t/x.png"
expect_one "v.fmw is an autoencoder: use fmrt decode" "$fmrt" sample "$t/v.fmw" --out "$t/x.png"
expect_one "is a pixel model \(it records no autoencoder\)" \
    "$fmrt" sample "$src/model/tiny-cond.fmw" --vae "$t/v.fmw" --out "$t/x.png"
expect_one "not an autoencoder \(arch unet" \
    "$fmrt" sample "$t/f.fmw" --vae "$t/f.fmw" --out "$t/x.png"
mkdir "$t/moved"
cp "$t/f.fmw" "$t/moved/"
mv "$t/v.fmw" "$t/v.away"
expect_one "f.fmw is a latent model: its autoencoder $t/v.fmw \(CRC [0-9a-f]{8}\) is missing; give --vae FILE" \
    "$fmrt" sample "$t/moved/f.fmw" --out "$t/x.png"
expect_one "f.fmw is a latent model: its autoencoder .* is missing" \
    "$fmrt" eval "$t/moved/f.fmw" --n 4
# The pair copied elsewhere together: the autoencoder of the recorded name beside it.
cp "$t/v.away" "$t/moved/v.fmw"
"$fmrt" sample "$t/moved/f.fmw" "${samp[@]}" --out "$t/m.png" --raw-out "$t/m.u8" 2>/dev/null
cmp "$t/a.u8" "$t/m.u8"
cp "$t/v2.fmw" "$t/moved/v.fmw"
expect_one "trained with the autoencoder of CRC .* not $t/moved/v.fmw" \
    "$fmrt" sample "$t/moved/f.fmw" --out "$t/x.png"
mv "$t/v.away" "$t/v.fmw"
echo "ok: a mismatched, missing or foreign autoencoder is one line; a moved pair still samples"

# eval: the latent model's samples measured decoded; the autoencoder by its reconstructions.
"$fmrt" eval "$t/f.fmw" --n 12 --batch 6 --steps 2 --backend $be --samples-out "$t/e.u8" \
    >"$t/out" 2>"$t/err"
grep -Eq "^fid [0-9.]+  acc [0-9.]+%  .* n 12 .*sampling" "$t/out"
grep -q "latents decoded by $t/v.fmw" "$t/err"
test "$(stat -c %s "$t/e.u8")" -eq $((12 * 28 * 28))
"$fmrt" eval "$t/v.fmw" --data "$d" --n 20 --backend $be >"$t/out" 2>/dev/null
grep -Eq "^fid [0-9.]+  acc [0-9.]+%  .* n 20  ref 256  psnr [0-9.]+ dB  \(reconstructions of the first 20 train images" "$t/out"
grep -q "(originals: the 20 train images reconstructed)" "$t/out"
"$fmrt" eval "$t/v.fmw" --data "$d" --n 20 --backend $be --json 2>/dev/null | head -1 |
    grep -Eq '"psnr_db":[0-9.]+'
expect_one "v.fmw is an autoencoder: give --data DIR" "$fmrt" eval "$t/v.fmw"
expect_one "--data is for an autoencoder" "$fmrt" eval "$t/f.fmw" --data "$d"
expect_one "--class/--classes/--cfg/--raw/--vae are for a flow model" \
    "$fmrt" eval "$t/v.fmw" --data "$d" --class 3
expect_one "trained with the autoencoder of CRC" "$fmrt" eval "$t/f.fmw" --vae "$t/v2.fmw"
echo "ok: eval decodes a latent model's samples; an autoencoder's PSNR, FID and floors"

# encode / decode: the .npy file numpy reads (header, float32 (N, Z, s, s)), back to a grid.
"$fmrt" encode "$t/v.fmw" --data "$d" "$t/z.npy" --n 40 --batch 16 --backend $be 2>/dev/null
test "$(head -c 6 "$t/z.npy" | od -An -c | tr -d ' ')" = '223NUMPY'
head -c 128 "$t/z.npy" | grep -aq "{'descr': '<f4', 'fortran_order': False, 'shape': (40, 2, 14, 14), }"
test "$(stat -c %s "$t/z.npy")" -eq $((128 + 40 * 2 * 14 * 14 * 4))
"$fmrt" decode "$t/v.fmw" "$t/z.npy" "$t/z.png" --n 16 --cols 4 --backend $be 2>"$t/err"
grep -q "wrote $t/z.png (16 of 40 latents decoded" "$t/err"
test "$(od -An -tx1 -N4 "$t/z.png" | tr -d ' ')" = 89504e47
echo "ok: encode writes a .npy of k mu, decode draws it"

"$fmrt" train-vae --data "$d" --preset vae-test --config latent_channels=3 --steps 1 --batch 8 \
    --backend $be --no-ckpt --out "$t/v3.fmw" </dev/null 2>/dev/null
expect_one "z.npy holds latents \[40, 2, 14, 14\]; .*v3.fmw decodes \[N, 3, 14, 14\]" \
    "$fmrt" decode "$t/v3.fmw" "$t/z.npy" "$t/x.png"
expect_one "is not a .npy file" "$fmrt" decode "$t/v.fmw" "$t/v.fmw" "$t/x.png"
head -c 1000 "$t/z.npy" >"$t/short.npy"
expect_one "short.npy: .npy data of 872 bytes, its shape needs 62720" \
    "$fmrt" decode "$t/v.fmw" "$t/short.npy" "$t/x.png"
sed "s/<f4/>f4/" "$t/z.npy" >"$t/be.npy"
expect_one "be.npy: .npy dtype '>f4', not little-endian float32" \
    "$fmrt" decode "$t/v.fmw" "$t/be.npy" "$t/x.png"
sed "s/(40, 2, 14, 14)/(40, 392, 14)  /" "$t/z.npy" >"$t/3d.npy"
expect_one "3d.npy: .npy shape is not 4-D" "$fmrt" decode "$t/v.fmw" "$t/3d.npy" "$t/x.png"
cp "$t/z.npy" "$t/nan.npy"
printf '\000\000\300\177' | dd of="$t/nan.npy" bs=1 seek=$((128 + 4 * 5)) conv=notrunc 2>/dev/null
expect_one "nan.npy: value 5 \(latent 0\) is not finite" \
    "$fmrt" decode "$t/v.fmw" "$t/nan.npy" "$t/x.png"
expect_one "not an autoencoder \(arch unet" "$fmrt" decode "$t/f.fmw" "$t/z.npy" "$t/x.png"
expect_one "OUT .*x.jpg: decode writes a PNG grid" "$fmrt" decode "$t/v.fmw" "$t/z.npy" "$t/x.jpg"
expect_one "OUT .*z.png exists: --force" "$fmrt" decode "$t/v.fmw" "$t/z.npy" "$t/z.png"
expect_one "--data DIR missing" "$fmrt" encode "$t/v.fmw" "$t/y.npy"
expect_one "OUT .*y.bin: encode writes a NumPy .npy file" \
    "$fmrt" encode "$t/v.fmw" --data "$d" "$t/y.bin"
expect_one "has no test split" "$fmrt" encode "$t/v.fmw" --data "$d" --split test "$t/y.npy"
expect_one "not an autoencoder \(arch unet" "$fmrt" encode "$t/f.fmw" --data "$d" "$t/y.npy"
echo "ok: every bad latent file and encode/decode input is one line"

"$fmrt" plan --preset tiny "${small[@]}" --vae "$t/v.fmw" --batch 8 --sample-batch 4 >"$t/out"
grep -q "^config  in_channels=2 image=14 " "$t/out"
grep -Eq "^pipeline sample batch 4 +flow [0-9]+ \+ vae [0-9]+ = [0-9]+ bytes" "$t/out"
expect_one "the latents of .*v.fmw \(2x14x14\) do not fit this config" \
    "$fmrt" plan --preset tiny --vae "$t/v.fmw"
echo "ok: plan --vae: the flow model at the latent shape and the pipeline's arena"
# The shipped pair by bare name (looked up in share/fmrt, then the source tree's
# model/): the latent model recorded its autoencoder's path on the machine that trained
# it, and finds model/mnist-vae.fmw beside itself here by that file's name and CRC.
"$fmrt" sample latent-cond.fmw --class 3 --n 2 --steps 2 --backend $be --out "$t/shipped.png" \
    </dev/null 2>"$t/err"
grep -q "decoded 4x7x7 latents to 1x28x28 images with .*mnist-vae.fmw" "$t/err"
echo "ok: the shipped latent model samples through the shipped autoencoder"
echo "latent: all passed"
