#!/usr/bin/env bash
# Hostile files, round three (issue 30), self-contained: every input is built here
# with printf/head/dd/gzip from tests/data and the shipped model/ files. Each must
# give an exit status 1..125 and exactly one line on stderr naming the problem.
#   weights   a tensor the config does not use (a DiT file edited to depth=1 that
#             still holds blocks 1..3) is refused by name, for sample and convert;
#   .fms      statistics with a correct CRC but an asymmetric or indefinite
#             covariance, a huge mean or a count of 2^53 are refused on read;
#   safetensors  \u0000 in a name, a key twice in fmrt.config, channel_mult=1,2,,
#             sizes spelled 1.0 / 1e0 / -0, a field twice, headers over 16 MiB or
#             with too many entries or values (before the JSON is parsed);
#   IDX       a type other than u8 named by its code, a header claiming more
#             labels than the file holds named as truncated;
#   convert   a PNG, gzip, IDX or .fms IN named for what it is.
# A file's CRC-32 is fixed up with gzip's trailer, which holds the CRC-32 (zlib's
# polynomial, as the weights and .fms formats use) of the uncompressed bytes.
# Usage: hostile_files.sh FMRT
set -euo pipefail
fmrt=$1
root=$(cd "$(dirname "$0")/.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
export LC_ALL=C # ${#s} counts bytes

. "$(dirname "$0")/expect.sh"
# fixcrc FILE: its last 4 bytes become the CRC-32 of the bytes before them.
fixcrc() {
    local n
    n=$(stat -c %s "$1")
    head -c $((n - 4)) "$1" >"$1.body"
    { cat "$1.body"; gzip -c <"$1.body" | tail -c 8 | head -c 4; } >"$1"
    rm -f "$1.body"
}
# patch SRC DST OFFSET BYTES: DST = SRC with BYTES (printf escapes) at OFFSET, CRC fixed.
patch() {
    cp "$1" "$2"
    printf "$4" | dd of="$2" bs=1 seek="$3" conv=notrunc status=none
    fixcrc "$2"
}
# le64 N: N as 8 little-endian bytes.
le64() {
    local i
    for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf '%03o' $((($1 >> (8 * i)) & 255)))"; done
}
# st NAME JSON [DATA_BYTES]: a safetensors file with that header and zero data bytes.
st() {
    { le64 ${#2}; printf '%s' "$2"; head -c "${3:-0}" /dev/zero; } >"$t/$1.safetensors"
}
convert() { "$fmrt" convert --force "$t/$1.safetensors" "$t/out.fmw" "${@:2}"; }
digits=$root/tests/data/mnist/train-images-idx3-ubyte.gz
labels=$root/tests/data/mnist/train-labels-idx1-ubyte.gz

# ---- 1. every tensor of a weights file is the model's --------------------------------------
# dit-tiny-cond.fmw has depth=4; config slot 4 (depth) is the u32 at byte 24 + 4 * 4.
patch "$root/model/dit-tiny-cond.fmw" "$t/depth1.fmw" 40 '\001\000\000\000'
expect_one "depth1.fmw: tensor 'blocks.1.ada.weight' is not part of this model \(config arch=dit .*depth=1" \
    "$fmrt" sample --force "$t/depth1.fmw" --backend ref --n 1 --steps 1 --out "$t/s.png"
expect_one "tensor 'blocks.1.ada.weight' is not part of this model" \
    "$fmrt" convert --force "$t/depth1.fmw" "$t/out.safetensors"
[ ! -e "$t/out.safetensors" ] || { echo "FAIL: convert wrote out.safetensors"; exit 1; }

# ---- 2. .fms statistics: values checked on read ---------------------------------------------
# model/mnist-test.fms: dim 128, n at byte 16, mean at 24, covariance at 24 + 8 * 128.
fms=$root/model/mnist-test.fms
cov=$((24 + 8 * 128))
patch "$fms" "$t/asym.fms" $((cov + 8)) '\000\000\000\000\000\000\360\077'  # [0][1] = 1
patch "$fms" "$t/indef.fms" "$cov" '\000\000\000\000\000\000\000\000'        # [0][0] = 0
patch "$fms" "$t/huge.fms" 24 '\234\165\000\210\074\344\067\176'             # mean[0] = 1e300
patch "$fms" "$t/count.fms" 16 '\000\000\000\000\000\000\040\000'            # n = 2^53
patch "$fms" "$t/negvar.fms" "$cov" '\000\000\000\000\000\000\360\277'       # [0][0] = -1
expect_one "asym.fms: covariance not symmetric: \[1\]\[0\] = 3.288.*, \[0\]\[1\] = 1$" \
    "$fmrt" eval "$digits" --ref "$t/asym.fms" --backend ref
# The PSD check needs LAPACK's eigensolver; a build without it computes no FID ("fid -").
if "$fmrt" eval "$digits" --ref "$fms" --backend ref | grep -q '^fid [0-9]'; then
    expect_one "indef.fms: covariance not positive semi-definite: smallest eigenvalue -[0-9.]+, largest [0-9.]+$" \
        "$fmrt" eval "$digits" --ref "$t/indef.fms" --backend ref
fi
expect_one "huge.fms: mean\[0\] = 1e\+300 is outside \+-1e6" \
    "$fmrt" eval "$digits" --ref "$t/huge.fms" --backend ref
expect_one "count.fms: bad header: 9007199254740992 images summarised, expected 2..2\^40" \
    "$fmrt" eval "$digits" --ref "$t/count.fms" --backend ref
expect_one "negvar.fms: variance covariance\[0\]\[0\] = -1 is negative" \
    "$fmrt" eval "$digits" --ref "$t/negvar.fms" --backend ref

# ---- 3. safetensors: names, keys, numbers, sizes --------------------------------------------
f32='"dtype":"F32","shape"'
st nul "{\"a\\u0000evil\":{$f32:[1],\"data_offsets\":[0,4]}}" 4
expect_one "header byte 3: \\\\u0000 \(a NUL byte\) inside a string" convert nul --preset tiny
st dupkey '{"__metadata__":{"fmrt.config":"image=28 image=32"}}'
expect_one "__metadata__ fmrt.config: key image appears twice" convert dupkey
st comma '{"__metadata__":{"fmrt.config":"image=28 channel_mult=1,2,"}}'
expect_one "__metadata__ fmrt.config: channel_mult: '1,2,' has an empty list item" convert comma
for num in 1.0 1e0 01; do
    st "num$num" "{\"a\":{$f32:[$num],\"data_offsets\":[0,4]}}" 4
    expect_one "tensor 'a': number '$num' \(header byte [0-9]+\) is not written as an integer" \
        convert "num$num" --preset tiny
done
st minus0 "{\"a\":{$f32:[1],\"data_offsets\":[-0,4]}}" 4
expect_one "tensor 'a': number '-0' \(header byte [0-9]+\) is not written as an integer" \
    convert minus0 --preset tiny
st field2 "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}" 4
expect_one "tensor 'a': field dtype appears twice" convert field2 --preset tiny
# A sparse file whose header claims 60 MB (the reference limit is 100 MB).
{ le64 60000000; printf '{}'; } >"$t/big.safetensors"
truncate -s 60000008 "$t/big.safetensors"
expect_one "header length 60000000 is over the 16 MiB fmrt reads" convert big --preset tiny
# 2000 empty tensors (90 KB), and one shape of 30000 dimensions (60 KB).
entries=$(printf '"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' $(seq 2000))
st many "{${entries%,}}"
expect_one "header has 2000 entries; fmrt reads at most 1032" convert many --preset tiny
dims=$(printf '1,%.0s' $(seq 30000))
st values "{\"a\":{$f32:[${dims%,}],\"data_offsets\":[0,4]}}" 4
expect_one "header holds 30011 JSON values; fmrt reads at most 24768" convert values --preset tiny

# ---- 4 and 5. IDX files --------------------------------------------------------------------
printf '\000\000\010\003\000\000\000\001\000\000\000\034\000\000\000\034' >"$t/img.idx"
head -c 784 /dev/zero >>"$t/img.idx"
printf '\000\000\010\001\000\000\000\001\000' >"$t/lab.idx"
printf '\000\000\015\003\000\000\000\001\000\000\000\034\000\000\000\034' >"$t/f32.idx"
head -c $((784 * 4)) /dev/zero >>"$t/f32.idx"
printf '\000\000\010\001\004\001\004\011\001\002\003\004' >"$t/claim.idx"
train=(train --backend ref --preset tiny --steps 1 --batch 1 --out "$t/w.fmw" --force)
expect_one "f32.idx: IDX type 0x0d \(f32\?\) is not u8 images/labels" \
    "$fmrt" "${train[@]}" --images "$t/f32.idx" --labels "$t/lab.idx"
expect_one "^fmrt eval: [^ ]*f32.idx: IDX type 0x0d \(f32\?\) is not u8" \
    "$fmrt" eval "$t/f32.idx" --backend ref
expect_one "claim.idx: truncated: header claims 67175433 labels, file has 12 bytes" \
    "$fmrt" "${train[@]}" --images "$t/img.idx" --labels "$t/claim.idx"
# A gzip'd IDX whose header claims 2^31 - 1 labels over 1000 bytes.
{ printf '\000\000\010\001\177\377\377\377'; head -c 992 /dev/zero; } | gzip -c >"$t/lie.gz"
expect_one "lie.gz: truncated: header claims 2147483647 labels \(2147483655 bytes\), more than a [0-9]+-byte gzip file can inflate to" \
    "$fmrt" "${train[@]}" --images "$t/img.idx" --labels "$t/lie.gz"

# ---- 5. convert names what IN is -----------------------------------------------------------
printf '\211PNG\r\n\032\n\000\000\000\015IHDR' >"$t/x.png"
expect_one "x.png is a PNG image, not a safetensors file" "$fmrt" convert --force "$t/x.png" "$t/out.fmw"
expect_one "train-labels-idx1-ubyte.gz is gzip-compressed data" "$fmrt" convert --force "$labels" "$t/out.fmw"
expect_one "img.idx is an IDX data set \(MNIST-style images or labels\), not a safetensors file" \
    "$fmrt" convert --force "$t/img.idx" "$t/out.fmw"
expect_one "mnist-test.fms is fmrt eval's feature statistics \(.fms\), not a safetensors file" \
    "$fmrt" convert --force "$fms" "$t/out.fmw"
[ ! -e "$t/out.fmw" ] || { echo "FAIL: a refused convert wrote out.fmw"; exit 1; }

# A gzip'd IDX whose trailer claims 2 GiB: memory is sized by the IDX header (bounded
# by the file), so 1.5 GB of address space is plenty and zlib names the lie. (Not under
# ASan, whose shadow memory needs terabytes of address space.)
libs=$(ldd "$fmrt" 2>/dev/null || true) # whole first: grep -q must not SIGPIPE ldd
if ! grep -q libasan <<<"$libs"; then
    gzip -dc "$root/tests/data/mnist/train-images-idx3-ubyte.gz" | gzip -c >"$t/big.gz"
    n=$(stat -c %s "$t/big.gz")
    printf '\x00\x00\x00\x80' | dd of="$t/big.gz" bs=1 seek=$((n - 4)) conv=notrunc 2>/dev/null
    (
        ulimit -v 1500000
        expect_one "big.gz: corrupt gzip stream" "$fmrt" train --images "$t/big.gz" \
            --labels "$root/tests/data/mnist/train-labels-idx1-ubyte.gz" --steps 1 --no-ckpt \
            --backend ref --out "$t/big.fmw"
    )
fi
echo "hostile_files: all refused with one line"
