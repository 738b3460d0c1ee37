#!/usr/bin/env bash
# fmrt train-vae and fmrt train --vae (docs/spec/vae.md) on the fixture digits: an
# autoencoder trained a few steps records its latent scale and KL weight, logs rec and
# kl, and resumes bit-identically; a small U-Net trained on its latents (encoded each
# step) records the autoencoder (CRC and path), resumes bit-identically with it, and
# refuses another; and each misuse is one error line.
# Usage: vae_train.sh FMRT DATA_DIR (tests/data/mnist)
set -euo pipefail
fmrt=$1
data=$2
if [ ! -d "$data" ]; then echo "$0: $data not found" >&2; exit 1; fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$(dirname "$0")/expect.sh"
be=ref
"$fmrt" backends | grep -qx cpu && be=cpu

# A small autoencoder (the vae preset's shape, 8 channels): 28x28 -> 4x7x7 latents.
ae=(--data "$data" --limit 64 --batch 16 --config base_channels=8 --config groups=4
    --backend $be --threads 2)
# A one-level U-Net for the 7x7 latents (7 is not divisible by 2).
unet=(--data "$data" --limit 64 --batch 16 --preset tiny --config base_channels=8
      --config channel_mult=1 --backend $be --threads 2)

# 1. train-vae: 4 steps straight, and 2 + a resume to 4 from the checkpoint alone.
"$fmrt" train-vae "${ae[@]}" --steps 4 --kl-weight 0.01 --out "$t/A.fmw" --log "$t/A.csv" \
    --log-every 1 </dev/null 2>"$t/A.log"
grep -q "^training an autoencoder (KL weight 0.01)" "$t/A.log"
grep -Eq "^step 4/4 epoch 1 loss [0-9.]+ rec/px [0-9.]+ kl [0-9.]+ " "$t/A.log"
grep -Eq "^latent scale [0-9.]+ \(std of 64 latents [0-9.]+\)" "$t/A.log"
test "$(head -1 "$t/A.csv")" = "step,epoch,loss,img_per_s,rec,kl"
# loss = rec + beta kl in every row (to the log's 6 decimals).
awk -F, 'NR > 1 { d = $3 - ($5 + 0.01 * $6); if (d > 1e-3 || d < -1e-3) exit 1 }' "$t/A.csv"
"$fmrt" info "$t/A.fmw" >"$t/info" 2>&1
grep -q "latent_scale" "$t/info"
grep -q "kl_weight=0.01" "$t/info"
"$fmrt" train-vae "${ae[@]}" --steps 2 --kl-weight 0.01 --out "$t/B.fmw" </dev/null 2>/dev/null
"$fmrt" train-vae --resume "$t/B.ckpt" --steps 4 --out "$t/B.fmw" --backend $be --threads 2 \
    </dev/null 2>"$t/B.log"
grep -q "KL weight 0.01)" "$t/B.log" # the checkpoint's, not the default
cmp "$t/A.fmw" "$t/B.fmw"
"$fmrt" plot "$t/A.csv" --out "$t/A.svg" >/dev/null 2>&1
echo "train-vae: latent scale and kl_weight recorded, loss = rec + beta kl in the log (plot reads it), 2 + 2 steps resumed = 4 straight"
# fmrt train --preset vae is the same run.
"$fmrt" train --preset vae "${ae[@]}" --steps 4 --kl-weight 0.01 --out "$t/T.fmw" --no-ckpt \
    </dev/null 2>/dev/null
cmp "$t/A.fmw" "$t/T.fmw"
echo "fmrt train --preset vae = fmrt train-vae"

# 2. train --vae: a U-Net on A's latents, 4 straight = 2 + a resume (the recorded
#    autoencoder found by its path), then a resume given another autoencoder.
"$fmrt" train "${unet[@]}" --vae "$t/A.fmw" --steps 4 --out "$t/L.fmw" </dev/null 2>"$t/L.log"
grep -q "on 4x7x7 latents of $t/A.fmw" "$t/L.log"
grep -Eq "^encoded the 64 training images once: [0-9.]+ s" "$t/L.log"
# each batch encoded at its step instead (timed: the encode against the step)
"$fmrt" train "${unet[@]}" --vae "$t/A.fmw" --steps 4 --encode-each-step --out "$t/E.fmw" \
    --no-ckpt </dev/null 2>"$t/E.log"
grep -Eq "^encode [0-9.]+ s per batch of 16 \(upload included\), step [0-9.]+ s" "$t/E.log"
"$fmrt" info "$t/L.fmw" 2>&1 | grep -q "vae_crc"
"$fmrt" train "${unet[@]}" --vae "$t/A.fmw" --steps 2 --out "$t/M.fmw" </dev/null 2>/dev/null
"$fmrt" train --resume "$t/M.ckpt" --steps 4 --out "$t/M.fmw" --backend $be --threads 2 \
    </dev/null 2>/dev/null
cmp "$t/L.fmw" "$t/M.fmw"
echo "train --vae: the autoencoder recorded, 2 + 2 steps resumed = 4 straight"
"$fmrt" train-vae "${ae[@]}" --steps 1 --out "$t/C.fmw" --no-ckpt </dev/null 2>/dev/null
expect_one "trained with the autoencoder of CRC [0-9a-f]{8} .*, not .*C.fmw \(CRC" \
    "$fmrt" train --resume "$t/M.ckpt" --vae "$t/C.fmw" --steps 5 --out "$t/M.fmw"
cp "$t/A.fmw" "$t/A2.fmw"
mv "$t/A.fmw" "$t/gone.fmw"
expect_one "the checkpoint's autoencoder .*A.fmw is gone .*give --vae FILE" \
    "$fmrt" train --resume "$t/M.ckpt" --steps 5 --out "$t/M.fmw"
# The same file under another name is the same autoencoder (by its CRC).
"$fmrt" train --resume "$t/M.ckpt" --vae "$t/A2.fmw" --steps 5 --out "$t/M.fmw" \
    --backend $be --threads 2 </dev/null 2>/dev/null

# 3. Misuse: one line each.
expect_one "--classes: an autoencoder is unconditional" \
    "$fmrt" train-vae "${ae[@]}" --classes 10 --out "$t/x.fmw"
expect_one "--preview-every: an autoencoder" \
    "$fmrt" train-vae "${ae[@]}" --preview-every 1 --out "$t/x.fmw"
expect_one "--preset tiny is not an autoencoder's \(have: vae" \
    "$fmrt" train-vae "${ae[@]}" --preset tiny --out "$t/x.fmw"
expect_one "--kl-weight: '-1' is not a number in 0..1e\+06" \
    "$fmrt" train-vae "${ae[@]}" --kl-weight -1 --out "$t/x.fmw"
expect_one "--kl-weight is an autoencoder's" \
    "$fmrt" train "${unet[@]}" --kl-weight 0.1 --out "$t/x.fmw"
expect_one "--encode-each-step is for a model on latents" \
    "$fmrt" train "${unet[@]}" --encode-each-step --out "$t/x.fmw"
expect_one "--vae is fmrt train's" "$fmrt" train-vae "${ae[@]}" --vae "$t/A2.fmw" --out "$t/x.fmw"
expect_one "not an autoencoder \(arch unet" \
    "$fmrt" train "${unet[@]}" --vae "$t/L.fmw" --out "$t/x.fmw"
expect_one "--config in_channels=3: the latents of .* have 4 channels" \
    "$fmrt" train "${unet[@]}" --vae "$t/A2.fmw" --config in_channels=3 --out "$t/x.fmw"
expect_one "--preview-every: previews of a model on latents" \
    "$fmrt" train "${unet[@]}" --vae "$t/A2.fmw" --preview-every 1 --out "$t/x.fmw"
expect_one "u.ckpt holds a unet, not an autoencoder" \
    sh -c "cp '$t/M.ckpt' '$t/u.ckpt' && '$fmrt' train-vae --resume '$t/u.ckpt' --out '$t/x.fmw'"
expect_one "--vae: an autoencoder trains on images" \
    "$fmrt" train --resume "$t/B.ckpt" --vae "$t/A2.fmw" --out "$t/x.fmw"
"$fmrt" train "${unet[@]}" --steps 1 --out "$t/P.fmw" </dev/null 2>/dev/null
expect_one "--vae: .*P.ckpt was not trained on latents" \
    "$fmrt" train --resume "$t/P.ckpt" --vae "$t/A2.fmw" --out "$t/x.fmw"
expect_one "--out .*A2.fmw is also the input --vae" \
    "$fmrt" train "${unet[@]}" --vae "$t/A2.fmw" --out "$t/A2.fmw" --force
echo "vae_train: all passed"
