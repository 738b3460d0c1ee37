#!/usr/bin/env bash
# fmrt train-classifier (the sample-quality meter of fmrt eval) on the fixture digits:
# 4 epochs over 256 digits on ref and on cpu (when built) must learn them (train
# accuracy above 60%; measured 68.75% on ref, and on cpu under every forced path of
# FMRT_CPU_FORCE at 1, 2 and 3 threads alike: 32 steps from one seed do not amplify
# rounding), write a weights file fmrt info reads as a classifier, and a bad flag must
# give one error line and a non-zero exit.
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
echo "classifier: all passed"
