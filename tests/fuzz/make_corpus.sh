#!/bin/sh
# Regenerate the seed corpora of tests/fuzz/corpus/<harness>/ with our own tools:
# a tiny MNIST-format IDX pair written here, then `fmrt train` and `fmrt sample`
# on a tiny model (2x2 images, 4 channels) so that every weights and checkpoint
# file loads into a real model and stays a few KiB.
#
#   tests/fuzz/make_corpus.sh [path/to/fmrt]     (default: build/fmrt)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fmrt=${1:-$here/../../build/fmrt}
[ -x "$fmrt" ] || { echo "make_corpus.sh: $fmrt not found; build first or pass its path" >&2; exit 1; }
out=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out/weights" "$out/checkpoint" "$out/idx" "$out/cli"
rm -f "$out"/weights/* "$out"/checkpoint/* "$out"/idx/* "$out"/cli/*

# IDX, big-endian: 00 00 08 ndim, u32 dims, u8 payload. 4 images of 2x2, labels 0..1.
printf '\000\000\010\003\000\000\000\004\000\000\000\002\000\000\000\002' > "$tmp/images"
printf '\000\377\200\020\377\000\020\200\001\002\003\004\372\373\374\375' >> "$tmp/images"
printf '\000\000\010\001\000\000\000\004\000\001\000\001' > "$tmp/labels"
cp "$tmp/images" "$out/idx/images-3d.idx"
cp "$tmp/labels" "$out/idx/labels-1d.idx"
gzip -9 -n -c "$tmp/images" > "$out/idx/images-3d.idx.gz"
gzip -9 -n -c "$tmp/labels" > "$out/idx/labels-1d.idx.gz"
# A 4-D header and a single item, the two extremes of ndim.
printf '\000\000\010\004\000\000\000\001\000\000\000\001\000\000\000\002\000\000\000\001\007\011' \
    > "$out/idx/tiny-4d.idx"
printf '\000\000\010\001\000\000\000\001\052' > "$out/idx/one-1d.idx"

# The smallest model the planner accepts with every module kind: one level,
# attention in the middle, GroupNorm with 2 groups.
cfg="--config image=2 --config base_channels=4 --config channel_mult=1 --config res_blocks=1"
cfg="$cfg --config time_dim=4 --config heads=1 --config groups=2"
data="--images $tmp/images --labels $tmp/labels"
# shellcheck disable=SC2086
"$fmrt" train $data --preset tiny $cfg --backend ref --batch 2 --steps 2 --seed 7 \
    --out "$tmp/u.fmw" --ckpt "$tmp/u.ckpt" >/dev/null 2>&1
# shellcheck disable=SC2086
"$fmrt" train $data --preset tiny $cfg --classes 2 --backend ref --batch 2 --steps 1 \
    --out "$tmp/c.fmw" --ckpt "$tmp/c.ckpt" >/dev/null 2>&1
# shellcheck disable=SC2086
"$fmrt" train $data --resume "$tmp/u.ckpt" --backend ref --steps 3 \
    --out "$tmp/r.fmw" --ckpt "$tmp/r.ckpt" >/dev/null 2>&1
"$fmrt" sample "$tmp/u.fmw" --backend ref --n 2 --steps 2 --out "$tmp/s.png" >/dev/null 2>&1
# No .fmw / .ckpt suffixes: .gitignore keeps those out of the repository.
for f in u c r; do
    cp "$tmp/$f.fmw" "$out/weights/$f-weights"
    cp "$tmp/$f.ckpt" "$out/checkpoint/$f-checkpoint"
done
cp "$tmp/u.fmw" "$out/checkpoint/u-weights" # weights files load through the same path
# Version 3 (docs/weights-format.md): u-weights with a text encoder's config in slots
# 16..22, the 64 bytes of slots 16..31 after the 112-byte header, header_bytes 176, the
# payload 64 bytes later. For the container parser only: no tensor of the text encoder.
python3 - "$out/weights/u-weights" "$out/weights/t-weights-v3" <<'EOF'
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
h = bytearray(b[:112])
po = struct.unpack_from('<Q', h, 96)[0]
struct.pack_into('<I', h, 8, 3)
struct.pack_into('<I', h, 16, 176)
struct.pack_into('<Q', h, 96, po + 64)
hi = struct.pack('<16i', 259, 16, 32, 2, 4, 128, 1, *[0] * 9)  # text_vocab .. text_tokenizer
out = bytes(h) + hi + b[112:po] + b[po:-4]
open(sys.argv[2], 'wb').write(out + struct.pack('<I', zlib.crc32(out)))
EOF

# CLI: argv strings separated by NUL bytes, the command name first.
arg() { printf '%s\000' "$@"; }
arg train --data d --batch 64 --steps 100 --preset tiny --config channel_mult=1,2 \
    --classes 10 --lr 3e-4 --ckpt c.ckpt --ckpt-every 10 > "$out/cli/train"
arg train --images i --labels l --epochs 2 --limit 100 --seed 5 --ema 0.99 --wd 0 \
    --label-drop 0.2 --log l.csv --log-every 5 --out w.fmw > "$out/cli/train-files"
arg train --data d --resume c.ckpt --steps 20 > "$out/cli/train-resume"
arg train --data d --batch 64 --dist --dist-check 10 > "$out/cli/train-dist"
arg train --data d --captions c.txt --config text_ctx=16 --config text_width=32 \
    --text f.fmw --vocab v.txt --steps 10 > "$out/cli/train-text"
arg diff a.fmw b.fmw --tol 1e-6 --all > "$out/cli/diff"
arg sample w.fmw --n 16 --steps 10 --sampler heun --classes 0,1,2 --cfg 1.5 --traj t.png \
    --traj-steps 0,5,10 --cols 4 --raw --raw-out r.u8 --seed 3 > "$out/cli/sample"
arg sample w.fmw --class 3 --backend ref --out s.png > "$out/cli/sample-class"
arg sample w.fmw --prompt "a red 7" --prompt "" --cfg 3 --vocab v.txt --cols 4 \
    > "$out/cli/sample-prompt"
arg plan --config text_ctx=8 --config text_depth=1 --batch 4 > "$out/cli/plan-text"
arg info w.fmw > "$out/cli/info"
arg plan --preset mnist --config groups=4 --batch 32 --sample-batch 8 > "$out/cli/plan"
arg plan --config in_channels=3 --config image=32 --config channel_mult=1,2,2,2 \
    --config heads=8 > "$out/cli/plan-config"
arg eval w.fmw --n 100 --steps 10 --sampler heun --classes 1,2 --cfg 3 --batch 50 --raw \
    --samples-out s.u8 --ref d --classifier c.fmw --json > "$out/cli/eval"
arg eval --sanity --ref d --n 200 --backend cpu > "$out/cli/eval-sanity"
arg eval d/t10k-images-idx3-ubyte.gz --labels l --save-stats s.fms > "$out/cli/eval-digits"
# Statistics files (.fms, tools/fmrt/fid.h): "FMRTFID1", u32 dim, u32 classifier CRC,
# u64 n, f64 mean[dim], f64 cov[dim*dim], then the CRC-32 of all that, little-endian.
# gzip's trailer holds the same CRC-32 (of the uncompressed bytes): it is borrowed.
mkdir -p "$out/stats"
rm -f "$out"/stats/*
f64() { # the IEEE bytes of a few exact values
    case $1 in
        0) printf '\000\000\000\000\000\000\000\000' ;; 0.5) printf '\000\000\000\000\000\000\340\077' ;;
        1) printf '\000\000\000\000\000\000\360\077' ;; -1) printf '\000\000\000\000\000\000\360\277' ;;
        2) printf '\000\000\000\000\000\000\000\100' ;; 3) printf '\000\000\000\000\000\000\010\100' ;;
        0.25) printf '\000\000\000\000\000\000\320\077' ;;
    esac
}
# stats NAME DIM N_BYTES VALUES...: DIM as one byte, n as 8 printf-escaped bytes.
stats() {
    name=$1 dim=$2 n=$3
    shift 3
    { printf 'FMRTFID1'; printf "\\$(printf %03o "$dim")\000\000\000"; printf '\001\002\003\004'
      printf "$n"; for v in "$@"; do f64 "$v"; done; } > "$tmp/body"
    { cat "$tmp/body"; gzip -c < "$tmp/body" | tail -c 8 | head -c 4; } > "$out/stats/$name.fms"
}
n100='\144\000\000\000\000\000\000\000'
stats dim2 2 "$n100" 0.5 -1 2 0.5 0.5 1
stats dim1-zero-variance 1 '\002\000\000\000\000\000\000\000' 3 0
stats asymmetric 2 "$n100" 0.5 -1 2 0.5 0.25 1
stats indefinite 2 "$n100" 0 0 1 2 2 1
stats n-2pow53 2 '\000\000\000\000\000\000\040\000' 0.5 -1 2 0.5 0.5 1
head -c 40 "$out/stats/dim2.fms" > "$out/stats/truncated.fms"
# diff: u32 LE length of A, A, then B (tests/fuzz/fuzz_diff.c).
mkdir -p "$out/diff"
rm -f "$out"/diff/*
pair() { # pair NAME A B
    n=$(wc -c < "$2")
    printf "\\$(printf %03o $((n & 255)))\\$(printf %03o $((n >> 8 & 255)))"  > "$out/diff/$1"
    printf "\\$(printf %03o $((n >> 16 & 255)))\\$(printf %03o $((n >> 24 & 255)))" >> "$out/diff/$1"
    cat "$2" "$3" >> "$out/diff/$1"
}
pair same "$out/weights/u-weights" "$out/weights/u-weights"
pair uncond-cond "$out/weights/u-weights" "$out/weights/c-weights"
pair weights-checkpoint "$out/weights/r-weights" "$out/checkpoint/u-checkpoint"
ls -l "$out"/*
