#!/usr/bin/env bash
# fmrt convert, self-contained (no ../shared): the shipped models to safetensors and
# back (identical files, identical samples), F16, a state dict without fmrt's
# metadata, wrong configs named by their first mismatch, and hostile safetensors
# files written here byte by byte: each must give an exit status 1..125 and exactly
# one line on stderr naming the problem, and write nothing.
# Usage: safetensors.sh FMRT
set -euo pipefail
fmrt=$1
root=$(cd "$(dirname "$0")/.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
export LC_ALL=C # ${#s} counts bytes

. "$(dirname "$0")/expect.sh"
# expect_one (expect.sh), and no output file $t/out.fmw left behind.
expect_none() {
    rm -f "$t/out.fmw"
    expect_one "$@"
    if [ -e "$t/out.fmw" ]; then echo "FAIL: '$*' wrote $t/out.fmw"; exit 1; fi
}
sample() { "$fmrt" sample --force "$1" --backend ref --n 2 --steps 2 --seed 3 --out "$t/s.png" --raw-out "$2" \
    >/dev/null 2>&1; }

# ---- round trips ---------------------------------------------------------------------------
for m in tiny-cond tiny-uncond; do
    w=$root/model/$m.fmw
    "$fmrt" convert --force "$w" "$t/$m.safetensors" >/dev/null
    "$fmrt" convert --force "$t/$m.safetensors" "$t/$m.fmw" >/dev/null
    cmp "$w" "$t/$m.fmw"
    sample "$w" "$t/$m.orig.u8"
    sample "$t/$m.fmw" "$t/$m.back.u8"
    cmp "$t/$m.orig.u8" "$t/$m.back.u8"
    # F16: half the size, read back as F32 (the same tensors, rounded once).
    "$fmrt" convert --force "$w" "$t/$m.f16.safetensors" --dtype f16 >/dev/null
    "$fmrt" convert --force "$t/$m.f16.safetensors" "$t/$m.f16.fmw" >/dev/null
    "$fmrt" info "$t/$m.f16.fmw" >"$t/info.txt"
    grep -q "^crc .* ok" "$t/info.txt"
    sample "$t/$m.f16.fmw" "$t/$m.f16.u8"
    echo "ok: $m.fmw -> safetensors -> fmw identical, samples identical; F16 round trip loads"
done
# The header: 8-byte length, JSON padded with spaces to a multiple of 8, fmrt's metadata.
st=$t/tiny-cond.safetensors
n=$(od -An -tu8 -N8 "$st" | tr -d ' ')
[ $((n % 8)) -eq 0 ] || { echo "FAIL: header length $n is not a multiple of 8"; exit 1; }
hdr=$(head -c $((8 + n)) "$st" | tail -c "$n")
case $hdr in
'{"__metadata__":{"format":"pt","fmrt.config":"in_channels=1 image=28 base_channels=32 channel_mult=1,2,2 res_blocks=1 time_dim=64 heads=4 groups=8 num_classes=10"'*) ;;
*) echo "FAIL: unexpected header start: ${hdr:0:200}"; exit 1 ;;
esac
echo "ok: header of $n bytes with fmrt.config"

# A PyTorch state dict carries no fmrt metadata: blank it out (spaces keep the length),
# then the config must come from the flags, as for fmrt train.
meta=$(grep -ao '"__metadata__":{[^}]*},' <<<"$hdr")
bare=$t/bare.safetensors
{ head -c 8 "$st"; printf '%s' "${hdr/"$meta"/$(printf '%*s' ${#meta} '')}"; tail -c +$((9 + n)) "$st"; } >"$bare"
[ "$(stat -c %s "$bare")" -eq "$(stat -c %s "$st")" ]
expect_none "bare.safetensors has no fmrt.config metadata: name the model's config with --preset" \
    "$fmrt" convert --force "$bare" "$t/out.fmw"
"$fmrt" convert --force "$bare" "$t/bare.fmw" --preset tiny --classes 10 >/dev/null
sample "$t/bare.fmw" "$t/bare.u8"
cmp "$t/tiny-cond.orig.u8" "$t/bare.u8"
echo "ok: a state dict without metadata converts with --preset tiny --classes 10, same samples"

# ---- wrong configs: the first mismatch, in canonical order -----------------------------------
expect_none "time_lin1.weight: shape 64x32, the config needs 128x64" \
    "$fmrt" convert --force "$bare" "$t/out.fmw" --preset mnist --classes 10
expect_none "unexpected tensor class_emb.weight \(F32 11x64\)" \
    "$fmrt" convert --force "$bare" "$t/out.fmw" --preset tiny
expect_none "missing tensor class_emb.weight \(shape 6x64\)" \
    "$fmrt" convert --force "$t/tiny-uncond.safetensors" "$t/out.fmw" --preset tiny --classes 5
expect_none "conv_in.weight: shape 32x1x3x3, the config needs 32x3x3x3" \
    "$fmrt" convert --force "$bare" "$t/out.fmw" --preset tiny --classes 10 --config in_channels=3
# heads shapes no tensor: a file whose metadata says otherwise is a different model.
expect_none "the flags give heads=2, the file's fmrt.config has heads=4" \
    "$fmrt" convert --force "$st" "$t/out.fmw" --preset tiny --classes 10 --config heads=2
expect_none "holds one set of weights \(no raw.\* tensors\): convert it without --raw" \
    "$fmrt" convert --force "$root/model/tiny-cond.fmw" "$t/out.safetensors" --raw
expect_none "OUT .*is also the input IN" "$fmrt" convert --force "$st" "$st"
expect_none "--raw and --dtype are for a weights IN" "$fmrt" convert --force "$st" "$t/out.fmw" --dtype f16
expect_none "--dtype: 'f64' is not f32 or f16" "$fmrt" convert --force "$root/model/tiny-cond.fmw" x --dtype f64

# ---- hostile files ----------------------------------------------------------------------------
# le64 N: N as 8 little-endian bytes.
le64() {
    local i
    for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf '%03o' $((($1 >> (8 * i)) & 255)))"; done
}
# mk NAME JSON [DATA_BYTES]: a file with that header and DATA_BYTES zero bytes after it.
mk() {
    { le64 ${#2}; printf '%s' "$2"; head -c "${3:-0}" /dev/zero; } >"$t/$1.safetensors"
}
# hostile NAME PATTERN JSON [DATA_BYTES]
hostile() {
    mk "$1" "$3" "${4:-0}"
    expect_none "$2" "$fmrt" convert --force "$t/$1.safetensors" "$t/out.fmw" --preset tiny
}
f32='"dtype":"F32","shape"'
printf 'abc' >"$t/short.safetensors"
expect_none "3 bytes: shorter than the 8-byte header length" "$fmrt" convert --force "$t/short.safetensors" "$t/out.fmw"
{ le64 1000; printf '{}'; } >"$t/past.safetensors"
expect_none "header length 1000 runs past the end of the file \(2 bytes after" \
    "$fmrt" convert --force "$t/past.safetensors" "$t/out.fmw"
{ printf '\377\377\377\377\377\377\377\377{}'; } >"$t/huge.safetensors"
expect_none "header length 18446744073709551615 runs past the end" \
    "$fmrt" convert --force "$t/huge.safetensors" "$t/out.fmw"
# A sparse file of 100 MiB + 16 bytes whose header claims all of it.
{ le64 $((100 * 1048576 + 8)); printf '{}'; } >"$t/big.safetensors"
truncate -s $((100 * 1048576 + 16)) "$t/big.safetensors"
expect_none "header length 104857608 is over the 100 MB limit" "$fmrt" convert --force "$t/big.safetensors" "$t/out.fmw"
hostile notjson "header is not JSON \(a syntax error at header byte 0\)" 'hello'
hostile cut "header is not JSON" '{"a":{"dtype":"F32"'
hostile array "header is an array, not a JSON object" '[1,2,3] '
hostile pad "header byte 2: text after the JSON object" '{}x'
hostile utf8 "header byte 2 \(0xff\) is not UTF-8" $'{"\xff":1}'
hostile ctrl "header byte 2 \(0x01\) is a control character" $'{"\x01":1}'
hostile entry "tensor 'a': its entry is a number, not an object" '{"a":1}'
hostile nodtype "tensor 'a': field dtype is missing" '{"a":{"shape":[1],"data_offsets":[0,4]}}' 4
hostile nooffsets "tensor 'a': field data_offsets is missing" "{\"a\":{$f32:[1]}}" 4
hostile dtype "tensor 'a': unknown dtype 'F17'" '{"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}' 4
hostile dtypetype "tensor 'a': dtype is a number, not a string" '{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}' 4
hostile negative "tensor 'a': shape\[0\] is -1, not an integer in 0..2\^53-1" "{\"a\":{$f32:[-1],\"data_offsets\":[0,4]}}" 4
hostile fraction "tensor 'a': shape\[1\] is 1.5, not an integer" "{\"a\":{$f32:[2,1.5],\"data_offsets\":[0,12]}}" 12
hostile string "tensor 'a': shape\[0\] is a string, not an integer" "{\"a\":{$f32:[\"4\"],\"data_offsets\":[0,16]}}" 16
hostile overflow "tensor 'a': shape 4294967296x4294967296x4294967296 overflows" \
    "{\"a\":{$f32:[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}" 4
hostile bytes "tensor 'a': shape 4294967296x1073741824 of F32 overflows \(more than 2\^64 bytes\)" \
    "{\"a\":{$f32:[4294967296,1073741824],\"data_offsets\":[0,4]}}" 4
hostile bignum "tensor 'a': shape\[0\] is 4.6116860184273879e\+18, not an integer in 0..2\^53-1" \
    "{\"a\":{$f32:[4611686018427387904],\"data_offsets\":[0,4]}}" 4
hostile offsets2 "tensor 'a': data_offsets is an array of another length, not \[begin, end\]" \
    "{\"a\":{$f32:[1],\"data_offsets\":[0,4,8]}}" 4
hostile backwards "tensor 'a': data_offsets \[4, 0\] end before they begin" "{\"a\":{$f32:[1],\"data_offsets\":[4,0]}}" 4
hostile bounds "tensor 'a': data_offsets \[0, 8\] run past the end of the data \(4 bytes after the header\)" \
    "{\"a\":{$f32:[2],\"data_offsets\":[0,8]}}" 4
hostile mismatch "tensor 'a': data_offsets \[0, 4\] hold 4 bytes, but F32 2 needs 8" \
    "{\"a\":{$f32:[2],\"data_offsets\":[0,4]}}" 4
hostile unaligned "tensor 'b': data_offsets begin 2 is not a multiple of F32's 4 bytes" \
    "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{$f32:[1],\"data_offsets\":[2,6]}}" 6
hostile overlap "tensors 'a' \[0, 8\] and 'b' \[4, 8\]: data_offsets overlap" \
    "{\"a\":{$f32:[2],\"data_offsets\":[0,8]},\"b\":{$f32:[1],\"data_offsets\":[4,8]}}" 8
hostile hole "bytes \[4, 8\) of the data belong to no tensor \(a hole before 'b'\)" \
    "{\"a\":{$f32:[1],\"data_offsets\":[0,4]},\"b\":{$f32:[1],\"data_offsets\":[8,12]}}" 12
hostile trailing "bytes \[4, 12\) of the data belong to no tensor \(trailing bytes" \
    "{\"a\":{$f32:[1],\"data_offsets\":[0,4]}}" 12
hostile duplicate "tensor 'a' appears twice in the header" \
    "{\"a\":{$f32:[1],\"data_offsets\":[0,4]},\"a\":{$f32:[1],\"data_offsets\":[4,8]}}" 8
hostile metanum "__metadata__ key 'k': its value is a number, not a string" '{"__metadata__":{"k":1}}'
hostile metadup "__metadata__ appears twice in the header" '{"__metadata__":{},"__metadata__":{}}'
mk badcfg '{"__metadata__":{"fmrt.config":"image=28 heads=banana"}}'
expect_none "__metadata__ fmrt.config: heads: 'banana' is not an integer" "$fmrt" convert --force "$t/badcfg.safetensors" "$t/out.fmw"
hostile i64 "time_lin1.weight: dtype I64, fmrt reads F32, F16 and BF16" \
    '{"time_lin1.weight":{"dtype":"I64","shape":[64,32],"data_offsets":[0,16384]}}' 16384
printf 'PK\003\004 a zip archive' >"$t/model.pt"
expect_none "model.pt is a zip archive \(torch.save's format\?\), not safetensors" \
    "$fmrt" convert --force "$t/model.pt" "$t/out.fmw" --preset tiny
# A NaN weight: the first tensor's first value.
nanst=$t/nan.safetensors
{ head -c $((8 + n)) "$st"; printf '\000\000\300\177'; tail -c +$((13 + n)) "$st"; } >"$nanst"
expect_none "tensor time_lin1.weight: 1 of its 2048 values are not finite" "$fmrt" convert --force "$nanst" "$t/out.fmw"
echo "safetensors: ok"
