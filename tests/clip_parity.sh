#!/usr/bin/env bash
# A Hugging Face CLIP text model run by fmrt: tests/data/clip/model.safetensors is a
# transformers.CLIPTextModel (random, tiny: byte-level vocabulary, ctx 8, width 4, 2
# layers, 2 heads, MLP 8) under the Hub's names (text_model.*); expected.f32 what
# transformers computes for the rows of case.txt (last_hidden_state and pooler_output,
# in float64; scripts/reference/clip_parity.py). fmrt convert makes it an arch=clip
# weights file, CLIP_PARITY runs it on BACKEND and compares both outputs. On ref, also
# convert's refusals of broken CLIP files (one line each, nothing written) and the
# round trip through fmrt's own safetensors.
# Usage: clip_parity.sh FMRT CLIP_PARITY DATA_DIR BACKEND
set -euo pipefail
fmrt=$1 parity=$2 data=$3/clip backend=$4
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
export LC_ALL=C # ${#s} counts bytes
"$fmrt" convert "$data/model.safetensors" "$t/clip.fmw" --heads 2 --tokenizer bytes
"$fmrt" info "$t/clip.fmw" | grep -q "^config *arch=clip text_tokenizer=1 text_vocab=259 text_ctx=8 text_width=4 text_depth=2 text_heads=2 text_ff=8$"
"$parity" "$t/clip.fmw" "$data" "$backend" 1e-5
[ "$backend" = ref ] || exit 0
"$parity" --grad

# fmrt's own safetensors of the clip model and back: the same file.
"$fmrt" convert "$t/clip.fmw" "$t/clip.safetensors" >/dev/null
"$fmrt" convert "$t/clip.safetensors" "$t/back.fmw" >/dev/null
cmp "$t/clip.fmw" "$t/back.fmw"
echo "ok: clip.fmw -> safetensors -> fmw identical"

. "$(dirname "$0")/expect.sh"
expect_none() {
    rm -f "$t/out.fmw"
    expect_one "$@"
    if [ -e "$t/out.fmw" ]; then echo "FAIL: '$*' wrote $t/out.fmw"; exit 1; fi
}
st=$data/model.safetensors
n=$(od -An -tu8 -N8 "$st" | tr -d ' ')
hdr=$(head -c $((8 + n)) "$st" | tail -c "$n")
# edit OUT FROM TO: the file with FROM replaced by TO (as long) in its header.
edit() {
    local new=${hdr/"$2"/"$3"}
    [ "$new" != "$hdr" ] && [ ${#new} -eq ${#hdr} ] || { echo "FAIL: edit $2 -> $3"; exit 1; }
    { head -c 8 "$st"; printf '%s' "$new"; tail -c +$((9 + n)) "$st"; } >"$1"
}
expect_none "width 4 is not a multiple of 64.*--heads" "$fmrt" convert "$st" "$t/out.fmw" --tokenizer bytes
expect_none "text_vocab 259 is below the 514 ids of the CLIP BPE tokenizer" "$fmrt" convert "$st" "$t/out.fmw" --heads 2
expect_none "text_width 4 is not a multiple of text_heads 3" "$fmrt" convert "$st" "$t/out.fmw" --heads 3 --tokenizer bytes
edit "$t/miss.safetensors" layers.1.mlp.fc2.bias layers.1.mlp.fc2.biaz
expect_none "missing tensor text_model.encoder.layers.1.mlp.fc2.bias$" "$fmrt" convert "$t/miss.safetensors" "$t/out.fmw" --heads 2 --tokenizer bytes
edit "$t/shape.safetensors" '"text_model.encoder.layers.1.mlp.fc1.weight":{"dtype":"F32","shape":[8,4]' \
    '"text_model.encoder.layers.1.mlp.fc1.weight":{"dtype":"F32","shape":[4,8]'
expect_none "text_model.encoder.layers.1.mlp.fc1.weight has shape 4x8, a CLIP text model of width 4 and MLP width 8 needs 8x4" \
    "$fmrt" convert "$t/shape.safetensors" "$t/out.fmw" --heads 2 --tokenizer bytes
edit "$t/notok.safetensors" embeddings.token_embedding.weight embeddings.token_embeddinx.weight
expect_none "missing tensor text_model.embeddings.token_embedding.weight" "$fmrt" convert "$t/notok.safetensors" "$t/out.fmw" --heads 2 --tokenizer bytes
expect_none "are for a CLIP text model: .*/unet_cond.safetensors has no text_model.embeddings.token_embedding.weight" \
    "$fmrt" convert "$3/torch/unet_cond.safetensors" "$t/out.fmw" --heads 2
expect_none "is a CLIP text model \(transformers\): its config comes from its shapes" \
    "$fmrt" convert "$st" "$t/out.fmw" --preset tiny
