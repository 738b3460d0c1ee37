#!/usr/bin/env bash
# fmrt train-classifier (the sample-quality meter of fmrt eval) on the fixture digits:
# 4 epochs over 256 digits on ref and on cpu (when built) must learn them (train
# accuracy above 60%; measured 68.75% on ref, and on cpu under every forced path of
# FMRT_CPU_FORCE at 1, 2 and 3 threads alike: 32 steps from one seed do not amplify
# rounding), write a weights file fmrt info reads as a classifier, and a bad flag must
# give one error line and a non-zero exit. Any labelled set: a synthetic CIFAR-format
# one (tests/data/make-cifar.sh: 3x32x32, 10 named classes) gives a colour classifier
# whose shape, K, class names and data fmrt info shows (6 epochs at lr 3e-3 learn its
# coloured squares: 100% on its test split, measured on cpu; above 90% asked);
# unlabelled images are one error line.
# Usage: classifier.sh FMRT DATA_DIR
set -euo pipefail
fmrt=$1
data=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

. "$(dirname "$0")/expect.sh"

backends=(ref)
if "$fmrt" backends | grep -qx cpu; then backends+=(cpu); fi
for b in "${backends[@]}"; do
    "$fmrt" train-classifier --data "$data" --limit 256 --epochs 4 --batch 32 --shift 0 --seed 1 \
        --backend "$b" --out "$t/cls_$b.fmw" 2>"$t/train_$b.log" </dev/null
    cat "$t/train_$b.log"
    acc=$(sed -n 's/^train accuracy \([0-9.]*\)% .*/\1/p' "$t/train_$b.log")
    if [ -z "$acc" ] || ! awk -v a="$acc" 'BEGIN { exit !(a > 60) }'; then
        echo "FAIL: $b: train accuracy '${acc}' is not above 60%"; exit 1
    fi
    "$fmrt" info "$t/cls_$b.fmw" --tensors >"$t/info_$b"
    if ! grep -q '^model *classifier' "$t/info_$b" || ! grep -q 'fc2.bias' "$t/info_$b"; then
        echo "FAIL: $b: fmrt info does not describe the classifier:"; cat "$t/info_$b"; exit 1
    fi
    echo "ok: $b: train accuracy $acc%, fmrt info reads the file"
done

# A bad flag: one error line, a non-zero exit, no file written.
# expect_one (expect.sh), and a bad flag writes no file.
expect_one_nofile() {
    expect_one "$@"
    if [ -e "$t/bad.fmw" ]; then echo "FAIL: a bad flag wrote a file"; exit 1; fi
}
expect_one_nofile "unknown argument '--bogus'" \
    "$fmrt" train-classifier --data "$data" --bogus --out "$t/bad.fmw"
expect_one_nofile "--epochs" "$fmrt" train-classifier --data "$data" --epochs 0 --out "$t/bad.fmw"
expect_one_nofile "--out FILE missing" "$fmrt" train-classifier --data "$data"

# Any labelled set, colour included: shape, classes, names and data from the set.
"$(dirname "$0")/data/make-cifar.sh" "$t/cifar" 160 40
"$fmrt" train-classifier --data "$t/cifar" --epochs 6 --lr 3e-3 --batch 32 --seed 2 \
    --backend "${backends[-1]}" --out "$t/colour.fmw" 2>"$t/colour.log" </dev/null
cat "$t/colour.log"
grep -q "^training classifier (3x32x32, 10 classes) on 160 images of $t/cifar (CIFAR-10)" \
    "$t/colour.log"
acc=$(sed -n 's/^test accuracy \([0-9.]*\)% (40 images)$/\1/p' "$t/colour.log")
if [ -z "$acc" ] || ! awk -v a="$acc" 'BEGIN { exit !(a > 90) }'; then
    echo "FAIL: colour: test accuracy '${acc}' is not above 90%"; exit 1
fi
"$fmrt" info "$t/colour.fmw" >"$t/info_colour"
for want in '^config *arch=classifier in_channels=3 image=32 num_classes=10$' \
    '^model *classifier .*: 3x32x32 images, 10 classes (named below), 10 parameter tensors, 549290 parameters' \
    '^classes *red,green,blue,yellow,magenta,cyan,orange,grey,purple,white$' \
    "^data *data=$(realpath "$t/cifar")\$"; do
    grep -q "$want" "$t/info_colour" || { echo "FAIL: fmrt info lacks /$want/:"; cat "$t/info_colour"; exit 1; }
done
"$fmrt" info "$(dirname "$0")/../model/classifier.fmw" >"$t/info_shipped"
grep -q '^model *classifier .*: 1x28x28 images, 10 classes (unnamed), 10 parameter tensors, 426122 parameters' \
    "$t/info_shipped" || { echo "FAIL: fmrt info of the shipped classifier:"; cat "$t/info_shipped"; exit 1; }
echo "ok: a colour classifier, test accuracy $acc%; fmrt info shows its shape, K, names and data"

# Unlabelled images (every label 0): one error line.
mkdir "$t/unlabelled"
cp "$data/train-images-idx3-ubyte.gz" "$t/unlabelled/"
{ printf '\000\000\010\001\000\000\001\000'; head -c 256 /dev/zero; } >"$t/unlabelled/train-labels-idx1-ubyte"
expect_one_nofile "unlabelled/? holds unlabelled images \(IDX, every label 0\)" \
    "$fmrt" train-classifier --data "$t/unlabelled" --out "$t/bad.fmw"
echo "classifier: all passed"
