#!/usr/bin/env bash
# Text prompts end to end (docs/spec/text.md) on colour MNIST made from the fixture
# digits: a tiny text U-Net trained on the captions (--captions, the default encoder
# changed by --config text_*) records them and resumes bit-identically from its
# checkpoint alone; a second model copies its encoder (--text), keeps it frozen across
# a resume; a text DiT the same; a converted CLIP text encoder (tests/data/clip) is taken the same way;
# sample --prompt / --prompts on cpu and ref, info and plan show the text setup, and
# every misuse is one error line; the shipped colour-mnist-text.fmw follows its prompts'
# colours.
# Usage: text.sh FMRT SRC_DIR
set -euo pipefail
fmrt=$1
src=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$src/tests/expect.sh"
be=ref
"$fmrt" backends | grep -qx cpu && be=cpu

"$fmrt" data colour-mnist "$src/tests/data/mnist" "$t/cm" >/dev/null
test "$(wc -l <"$t/cm/train-captions.txt")" -eq 256
# A small U-Net (one level) with a one-layer text encoder of width 16, context 16.
net=(--preset tiny --config base_channels=8 --config channel_mult=1,2 --config time_dim=16
     --config heads=2 --config groups=4 --config text_width=16 --config text_heads=2
     --config text_ff=32 --config text_ctx=16 --config text_depth=1)
run=(--data "$t/cm" --limit 64 --batch 8 --backend $be --threads 2 --seed 5)

# 1. --captions: straight 4 steps, and 2 + a resume to 4 from the checkpoint alone.
"$fmrt" train "${run[@]}" "${net[@]}" --captions "$t/cm/train-captions.txt" --steps 4 \
    --out "$t/A.fmw" --no-ckpt </dev/null 2>"$t/A.log"
grep -q "^captions .*/cm/train-captions.txt: 64 tokenized (bytes, context 16)" "$t/A.log"
grep -q "^training text-conditioned (bytes tokens, context 16, encoder trained)" "$t/A.log"
"$fmrt" train "${run[@]}" "${net[@]}" --captions "$t/cm" --steps 2 --out "$t/B.fmw" \
    </dev/null 2>/dev/null
"$fmrt" train --resume "$t/B.ckpt" --steps 4 --out "$t/B.fmw" --backend $be --threads 2 \
    </dev/null 2>/dev/null
cmp "$t/A.fmw" "$t/B.fmw"
echo "ok: a text model trained on captions; resumed from its checkpoint alone: the same bytes"

"$fmrt" info "$t/A.fmw" >"$t/info"
grep -q "^model *text-conditioned, " "$t/info"
grep -q "^text *tokenizer bytes (259 ids), context 16, width 16, depth 1, heads 2, MLP width 32; encoder 6656 parameters (0.03 MiB), trained$" "$t/info"
grep -q "^captions *.*/cm/train-captions.txt (CRC [0-9a-f]\{8\})$" "$t/info"
grep -q "^weights *canonical = EMA, raw" "$t/info"
# fmrt export --raw records that its canonical tensors are the raw weights.
"$fmrt" export "$t/B.ckpt" "$t/raw.fmw" --raw >/dev/null
"$fmrt" info "$t/raw.fmw" | grep -q "^weights *canonical = raw (fmrt export --raw)$"
"$fmrt" info "$t/raw.fmw" | grep -q "^data .* weights=raw$"
echo "ok: info shows the encoder, the captions, and which weights are canonical"

# The default encoder (no --config text_*): the spec's sizes.
"$fmrt" plan --config text_ctx=32 --batch 2 --sample-batch 2 >"$t/plan"
grep -q "^config .*text_tokenizer=1 text_vocab=259 text_ctx=32 text_width=64 text_depth=2 text_heads=4 text_ff=256" "$t/plan"
grep -q "^text *tokenizer bytes, context 32, width 64, depth 2, heads 4, MLP width 256: encoder 118720 parameters$" "$t/plan"
grep -q "^train *batch 2 " "$t/plan"
echo "ok: plan of a text model"

# 2. Sampling: a row per prompt (cpu and ref), a prompts file, a prompt past the context.
"$fmrt" sample "$t/A.fmw" --prompt "a red 7" --prompt "a blue 2" --cols 2 --steps 2 \
    --backend $be --raw-out "$t/p.u8" --out "$t/p.png" 2>"$t/s.log"
grep -q "^sampled 4 images x 2 euler steps with guidance (prompts)" "$t/s.log"
test "$(stat -c %s "$t/p.u8")" -eq $((4 * 3 * 28 * 28))
printf 'a red 7\na blue 2\n' >"$t/prompts.txt"
"$fmrt" sample "$t/A.fmw" --prompts "$t/prompts.txt" --cols 2 --steps 2 --backend $be \
    --raw-out "$t/f.u8" --out "$t/f.png" 2>/dev/null
cmp "$t/p.u8" "$t/f.u8"
"$fmrt" sample "$t/A.fmw" --prompt "a red 7" --prompt "a blue 2" --cols 2 --steps 2 \
    --backend ref --f32-out "$t/r.f32" --out "$t/r.png" 2>/dev/null
"$fmrt" sample "$t/A.fmw" --prompt "a magenta seven on a black background" --n 1 --steps 1 \
    --backend $be --out "$t/l.png" 2>"$t/l.log"
grep -q "note: 1 prompt is longer than the model's context of 16 tokens" "$t/l.log"
"$fmrt" sample "$t/A.fmw" --n 2 --steps 1 --backend $be --out "$t/e.png" 2>"$t/e.log"
grep -q "from the empty prompt" "$t/e.log"
echo "ok: sample --prompt and --prompts (cpu and ref), a long prompt cut, the empty prompt"

# 3. --text: A's encoder copied and frozen; the resume keeps it frozen, bit-identically.
frz=(--data "$t/cm" --limit 64 --batch 8 --backend $be --threads 2 --preset tiny
     --config base_channels=8 --config channel_mult=1,2 --config time_dim=16 --config heads=2
     --config groups=4 --captions "$t/cm" --text "$t/A.fmw")
"$fmrt" train "${frz[@]}" --steps 4 --out "$t/F.fmw" --no-ckpt </dev/null 2>"$t/F.log"
grep -q "encoder frozen from .*/A.fmw" "$t/F.log"
"$fmrt" train "${frz[@]}" --steps 2 --out "$t/G.fmw" </dev/null 2>/dev/null
"$fmrt" train --resume "$t/G.ckpt" --steps 4 --out "$t/G.fmw" --backend $be --threads 2 \
    </dev/null 2>/dev/null
cmp "$t/F.fmw" "$t/G.fmw"
"$fmrt" info "$t/G.fmw" >"$t/info"
grep -q "^text .*encoder 6656 parameters (0.03 MiB), frozen (copied from .*/A.fmw)$" "$t/info"
echo "ok: --text copies a frozen encoder; the resume keeps it frozen and is bit-identical"

# A CLIP text encoder converted from Hugging Face (byte-level vocabulary, width 4).
"$fmrt" convert "$src/tests/data/clip/model.safetensors" "$t/clip.fmw" --heads 2 \
    --tokenizer bytes >/dev/null 2>&1
"$fmrt" train "${frz[@]:0:${#frz[@]}-2}" --text "$t/clip.fmw" --steps 1 --out "$t/C.fmw" \
    --no-ckpt </dev/null 2>/dev/null
"$fmrt" info "$t/C.fmw" | grep -q "^text .*context 8, width 4, depth 2, heads 2, MLP width 8; .*frozen"
"$fmrt" sample "$t/C.fmw" --prompt "a green 1" --n 1 --steps 1 --backend $be --out "$t/c.png" \
    2>/dev/null
echo "ok: a converted CLIP text encoder, frozen"

# A DiT with a text encoder: the same, resumed bit-identically, sampled with a prompt.
dit=(--data "$t/cm" --limit 64 --batch 8 --backend $be --threads 2 --arch dit --preset dit-tiny
     --config text_width=16 --config text_ff=32 --config text_ctx=16 --config text_depth=1
     --captions "$t/cm")
"$fmrt" train "${dit[@]}" --steps 2 --out "$t/D.fmw" --no-ckpt </dev/null 2>/dev/null
"$fmrt" train "${dit[@]}" --steps 1 --out "$t/E.fmw" </dev/null 2>/dev/null
"$fmrt" train --resume "$t/E.ckpt" --steps 2 --out "$t/E.fmw" --backend $be --threads 2 \
    </dev/null 2>/dev/null
cmp "$t/D.fmw" "$t/E.fmw"
"$fmrt" sample "$t/D.fmw" --prompt "a red 7" --n 2 --steps 1 --backend $be --out "$t/d.png" \
    2>/dev/null
echo "ok: a text DiT, resumed bit-identically and sampled"

# colour-mnist --hold-out: the folder's held-out.txt recorded (held_out=) for eval --prompts.
"$fmrt" data colour-mnist "$src/tests/data/mnist" "$t/ho" --hold-out "red 7,green 2" \
    >/dev/null 2>&1
"$fmrt" train --data "$t/ho" --captions "$t/ho" --limit 16 "${net[@]}" --batch 8 --steps 1 \
    --backend $be --out "$t/H.fmw" --no-ckpt </dev/null 2>/dev/null
"$fmrt" info "$t/H.fmw" | grep -q "^data .* held_out=red 7,green 2$"
echo "ok: the held-out pairs of colour-mnist --hold-out recorded"

# 4. Misuse: one line each, non-zero, nothing written.
base=(--data "$t/cm" --limit 64 --batch 8 --steps 1 --backend $be --no-ckpt --out "$t/x.fmw")
head -5 "$t/cm/train-captions.txt" >"$t/five.txt"
: >"$t/empty.txt"
expect_one "--captions .*five.txt has 5 lines, the training data has 256 images" \
    "$fmrt" train "${base[@]}" --captions "$t/five.txt"
expect_one "--captions .*missing.txt: No such file" "$fmrt" train "${base[@]}" --captions "$t/missing.txt"
expect_one "--captions .*empty.txt: the file is empty" \
    "$fmrt" train "${base[@]}" --captions "$t/empty.txt"
expect_one "--classes with --captions: a model is conditioned on classes or on text prompts" \
    "$fmrt" train "${base[@]}" --captions "$t/cm" --classes 80
expect_one "--text .*tiny-cond.fmw has no text encoder \(text_depth=0\)" \
    "$fmrt" train "${base[@]}" --captions "$t/cm" --text "$src/model/tiny-cond.fmw"
expect_one "--text needs --captions" "$fmrt" train "${base[@]}" --text "$t/A.fmw"
expect_one "a text model \(--config text_\*\) trains on captions" \
    "$fmrt" train "${base[@]}" --config text_ctx=8
expect_one "--vocab .*prompts.txt: " \
    "$fmrt" train "${base[@]}" --captions "$t/cm" --vocab "$t/prompts.txt"
sed '1s/.*/a grey 9/' "$t/cm/train-captions.txt" >"$t/other.txt"
expect_one "--captions .*other.txt: CRC [0-9a-f]{8}, the checkpoint's run read captions of CRC" \
    "$fmrt" train --resume "$t/B.ckpt" --steps 5 --out "$t/B.fmw" --captions "$t/other.txt"
test ! -e "$t/x.fmw"
"$fmrt" sample "$src/model/tiny-cond.fmw" --n 1 --steps 1 --out "$t/k.png" 2>/dev/null
expect_one "tiny-cond.fmw is not a text model \(it has no text encoder\): --prompt applies" \
    "$fmrt" sample "$src/model/tiny-cond.fmw" --prompt "a red 7" --out "$t/y.png"
expect_one "A.fmw is a text model: --class/--classes do not apply" \
    "$fmrt" sample "$t/A.fmw" --class 3 --out "$t/y.png"
expect_one "--prompts .*empty.txt: the file is empty" \
    "$fmrt" sample "$t/A.fmw" --prompts "$t/empty.txt" --out "$t/y.png"
expect_one "give --prompt or --prompts, not both" \
    "$fmrt" sample "$t/A.fmw" --prompt a --prompts "$t/prompts.txt" --out "$t/y.png"
expect_one "--cfg: without --prompt a text model samples the empty prompt" \
    "$fmrt" sample "$t/A.fmw" --cfg 3 --out "$t/y.png"
expect_one "clip.fmw is a clip, not an image model" \
    "$fmrt" sample "$t/clip.fmw" --out "$t/y.png"
expect_one "text model" "$fmrt" eval "$t/A.fmw" --n 4
test ! -e "$t/y.png"

# The shipped model by bare name (model/colour-mnist-text.fmw): a prompt sets the colour
# (stroke-colour accuracy over 16 images with margin: 100% where it was trained), and the
# held-out pairs it records group the table.
printf 'a blue 3\na red 7\n' >"$t/two.txt"
"$fmrt" eval colour-mnist-text.fmw --prompts "$t/two.txt" --n-per-prompt 8 --steps 6 --batch 8 \
    --backend $be >"$t/ship.txt" 2>/dev/null
awk '$1 == "all" { found = 1; if ($6 < 75) exit 1 } END { exit !found }' "$t/ship.txt" \
    || { echo "FAIL: the shipped text model's colours:"; cat "$t/ship.txt"; exit 1; }
grep -q "^held-out .* a red 7$" "$t/ship.txt"
echo "ok: the shipped text model follows the prompts' colours; its held-out pairs are known"
echo "text: all passed"
