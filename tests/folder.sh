#!/usr/bin/env bash
# A folder of PNG/JPEG images as --data (tools/fmrt/folder.c, issue #31), on images
# tests/make_images.c writes here (no image is committed):
#   - the layouts: class folders (sorted, images at any depth, hidden names and other
#     files skipped), loose images (unlabelled), train/ test/ val/ splits;
#   - the pixels, exactly, through the data layer (make_images dump): every PNG colour
#     type, 16-bit scaled, alpha on black, a grey palette as grey, JPEG grey/RGB,
#     RGB to BT.601 luma, grey to RGB, a 2x2 image area-averaged to 1x1;
#   - fmrt train on a labelled colour folder, an unlabelled grey one and mixed sizes
#     with --config image=16; fmrt info shows the channels and class names;
#   - each refusal as one error line naming what is wrong.
# Usage: folder.sh FMRT MAKE_IMAGES SRC_DIR
set -euo pipefail
fmrt=$1
mk=$2
src=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$src/tests/expect.sh"

img() { mkdir -p "$(dirname "$5")" && "$mk" "$@"; } # img KIND W H SEED PATH
dump() { "$mk" dump "$@"; }                         # dump DIR SPLIT IMAGE CHANNELS
train() { "$fmrt" train --preset tiny --config base_channels=8 --backend ref --steps 2 \
              --batch 4 --no-ckpt "$@"; }

# ---- layouts ----
L=$t/lab
img rgb 8 8 1 "$L/train/cat/b.png"
img grey 8 8 2 "$L/train/cat/a.png"
img jpeg-rgb 8 8 3 "$L/train/cat/c.JPG"
img palette 8 8 4 "$L/train/dog/y.png"
img jpeg-grey 8 8 5 "$L/train/dog/z.jpeg"
img rgba 8 8 6 "$L/train/dog/deep/er/c.PNG"
img ga 8 8 7 "$L/train/dog/B.png"
img grey 9 9 8 "$L/train/dog/.hidden.png"      # hidden: skipped (its size would clash)
img grey 9 9 8 "$L/train/.git/x.png"
echo notes >"$L/train/dog/notes.txt"
img grey 8 8 1 "$L/test/cat/x.png"
img grey 8 8 2 "$L/test/dog/x.png"
dump "$L" train 0 0 >"$t/d"
test "$(head -1 "$t/d")" = "n=7 c=3 h=8 w=8 classes=2 names=cat,dog"
# cat: a b c; dog: B y z (strcmp: capitals first), then deep/er/c.PNG
test "$(cut -d: -f1 "$t/d" | tail -n +2 | tr -d '\n')" = "0001111"
dump "$L" test 0 0 | head -1 | grep -qx "n=2 c=1 h=8 w=8 classes=2 names=cat,dog"
echo "ok: classes = sorted folders, images at any depth, files before sub-folders;"
echo "    hidden and other files skipped; train/ and test/"

U=$t/flat # no train/: the folder itself, its val/ the test split and not a class
img grey 8 8 1 "$U/cat/a.png"
img grey 8 8 1 "$U/dog/a.png"
img grey 8 8 1 "$U/val/cat/a.png"
img grey 8 8 1 "$U/val/dog/a.png"
img grey 8 8 1 "$U/val/dog/b.png"
dump "$U" train 0 0 | head -1 | grep -qx "n=2 c=1 h=8 w=8 classes=2 names=cat,dog"
dump "$U" test 0 0 | head -1 | grep -qx "n=3 c=1 h=8 w=8 classes=2 names=cat,dog"
echo "ok: without train/, the folder is the train split (val/ not a class) and val/ the test split"

# ---- pixels ----
one() { # one KIND W H SEED IMAGE CHANNELS: the dump line of a folder of that one image
    rm -rf "$t/one" && img "$1" "$2" "$3" "$4" "$t/one/x.png" && dump "$t/one" train "$5" "$6" |
        tail -1 | cut -d: -f2
}
test "$(one grey 2 2 0 0 0)" = " 0 37 91 128"
test "$(one grey 2 2 0 1 0)" = " 64"      # (0 + 37 + 91 + 128) / 4: the area filter
test "$(one rgba 1 1 10 0 0)" = " 3 17 32" # (10, 63, 116) * 70 / 255, rounded
test "$(one ga 1 1 10 0 0)" = " 3"
test "$(one grey16 1 1 200 0 0)" = " 199"  # 51200 * 255 / 65535 = 199.2 (a strip: 200)
test "$(one rgb16 1 1 200 0 0)" = " 199 252 50"
test "$(one palette 1 1 9 0 0)" = " 9 27 246"
test "$(one greypal 2 2 9 0 0)" = " 9 46 100 137" # one channel
test "$(one rgb 1 1 10 0 1)" = " 53"       # 0.299*10 + 0.587*63 + 0.114*116 = 53.2
test "$(one grey 1 1 77 0 3)" = " 77 77 77"
test "$(one rgbi 3 3 0 0 0)" = "$(one rgb 3 3 0 0 0)" # Adam7-interlaced
test "$(one jpeg-grey 4 4 0 0 0 | wc -w)" = 16 # one channel
echo "ok: exact pixels: 2x2 -> 1x1 by area, alpha on black, 16 bits scaled, palettes, luma,"
echo "    grey to RGB, interlaced"

# ---- fmrt train ----
train --data "$L" --out "$t/lab.fmw" </dev/null 2>"$t/log"
"$fmrt" info "$t/lab.fmw" >"$t/info"
grep -q "in_channels=3 image=8 .*num_classes=2" "$t/info"
grep -q "^classes *cat,dog$" "$t/info"
G=$t/grey
for k in grey grey16 ga greypal jpeg-grey; do img $k 8 8 3 "$G/$k.png"; done
mkdir -p "$G/empty-sub" # no images: ignored beside loose ones
train --data "$G" --out "$t/grey.fmw" </dev/null 2>"$t/log"
"$fmrt" info "$t/grey.fmw" | grep -q "in_channels=1 image=8 "
S=$t/sizes
img rgb 16 16 1 "$S/a.png"
img rgb 24 20 2 "$S/b.png"
img jpeg-rgb 10 10 3 "$S/c.jpg"
img grey 12 12 4 "$S/d.png"
train --data "$S" --config image=16 --out "$t/sizes.fmw" </dev/null 2>"$t/log"
"$fmrt" info "$t/sizes.fmw" | grep -q "in_channels=3 image=16 "
echo "ok: fmrt train on labelled colour, unlabelled grey, mixed sizes with image=16"

# ---- refusals, one line each ----
expect_one "sizes/a.png is 16x16 but .*sizes/b.png is 24x20: give the model's side \(--config image=N\)" \
    train --data "$S" --out "$t/x.fmw"
img grey 16 12 1 "$t/wide/a.png"
expect_one "wide: the images are 16x12, not square: give the model's side \(--config image=N\)" \
    train --data "$t/wide" --out "$t/x.fmw"
B=$t/bad
img rgb 16 16 1 "$B/a.png"
img rgb 16 16 1 "$t/ok.png"
half() { head -c $(($(stat -c %s "$1") / 2)) "$1"; }
half "$t/ok.png" >"$B/b.png"
expect_one "bad/b.png: corrupt or truncated PNG \(libpng: Read Error\)" \
    train --data "$B" --config image=16 --out "$t/x.fmw"
img jpeg-rgb 64 64 1 "$t/ok.jpg"
half "$t/ok.jpg" >"$B/b.png" # misnamed: the signature picks the decoder
expect_one "bad/b.png: corrupt or truncated JPEG \(libjpeg: Premature end of JPEG file\)" \
    train --data "$B" --config image=16 --out "$t/x.fmw"
echo "not an image" >"$B/b.png"
expect_one "bad/b.png: not a PNG or JPEG image" train --data "$B" --config image=16 --out "$t/x.fmw"
: >"$B/b.png"
expect_one "bad/b.png: an empty file" train --data "$B" --config image=16 --out "$t/x.fmw"
img jpeg-cmyk 16 16 1 "$B/b.jpg" && rm "$B/b.png"
expect_one "bad/b.jpg: a CMYK JPEG; save it as RGB or greyscale" \
    train --data "$B" --config image=16 --out "$t/x.fmw"
img grey 16385 1 1 "$B/b.jpg"
expect_one "bad/b.jpg: 16385x1 pixels, more than 16384 on a side" \
    train --data "$B" --config image=16 --out "$t/x.fmw"
mkdir -p "$t/empty/train/cat"
expect_one "empty/train: no PNG or JPEG images" train --data "$t/empty" --out "$t/x.fmw"
img grey 8 8 1 "$t/empty/train/dog/a.png"
expect_one "empty/train/cat: a class folder without PNG or JPEG images" \
    train --data "$t/empty" --out "$t/x.fmw"
M=$t/mixed
img grey 8 8 1 "$M/loose.png"
img grey 8 8 1 "$M/cat/a.png"
expect_one "mixed: images beside class folders \(.*mixed/loose.png and .*mixed/cat/\)" \
    train --data "$M" --out "$t/x.fmw"
img grey 8 8 1 "$t/names/a,b/x.png"
expect_one "names/a,b: the folder's name is not a class name \(1 to 63 printable bytes" \
    train --data "$t/names" --out "$t/x.fmw"
expect_one "grey has no test split \(.*grey/test or .*grey/val\)" dump "$t/grey" test 0 0
for i in $(seq 0 256); do mkdir -p "$t/many/c$i" && cp "$t/lab/test/cat/x.png" "$t/many/c$i/"; done
expect_one "many: more than 256 class folders; labels are one byte" dump "$t/many" train 0 0
if [ "$(id -u)" -ne 0 ]; then # root reads any file
    img grey 8 8 1 "$t/locked/a.png" && chmod 000 "$t/locked/a.png"
    expect_one "cannot open .*locked/a.png: Permission denied" dump "$t/locked" train 0 0
fi
echo "folder: all passed"
