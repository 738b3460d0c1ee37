#!/usr/bin/env bash
# fmrt eval on the fixture digits with the shipped classifier:
# - FID of a set against itself is ~0, also through a saved statistics file;
# - the interleaved halves of a set are far closer than noise (--sanity);
# - the label accuracy of labelled real digits is the classifier's own test accuracy
#   (train-classifier's, on the same digits) within one digit;
# - a weights file is sampled (2 steps) and measured, with labels from --classes;
# - every bad input is one error line and a non-zero exit;
# - any classifier (--classifier): a colour one trained on a synthetic CIFAR-format
#   set measures a tiny colour model of the same set (finite numbers, a line per class
#   by the classifier's names, its recorded data as the default reference, statistics
#   that record their classifier and data), and a model of another shape or class
#   count is refused, a model, reference or statistics file of another data set than
#   the classifier's warned about, each in one line.
# Usage: eval.sh FMRT TEST_DATA_DIR (tests/data) SOURCE_DIR
set -euo pipefail
fmrt=$1
data=$(cd "$2" && pwd)
src=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

. "$(dirname "$0")/expect.sh"

im=$data/mnist/train-images-idx3-ubyte.gz
lb=$data/mnist/train-labels-idx1-ubyte.gz
b=ref
if "$fmrt" backends | grep -qx cpu; then b=cpu; fi

# field NAME < one JSON line: the number after "NAME":
field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }
check() { # check WHAT AWK-CONDITION (on x)
    if ! awk -v x="$2" "BEGIN { exit !($3) }"; then echo "FAIL: $1: $2 fails $3"; exit 1; fi
    echo "ok: $1 = $2"
}

# FID against itself, then the same through --save-stats and --ref STATS.
"$fmrt" eval "$im" --labels "$lb" --ref "$im" --json --backend $b --save-stats "$t/fix.fms" >"$t/self"
cat "$t/self"
check "FID of the fixture against itself" "$(field fid <"$t/self")" "x >= 0 && x < 1e-6"
"$fmrt" eval "$im" --ref "$t/fix.fms" --json --backend $b >"$t/self2"
check "FID against its saved statistics" "$(field fid <"$t/self2")" "x >= 0 && x < 1e-6"

# The scale on 1000 test digits: interleaved halves against noise (and blurred digits in
# between; with fewer digits than feature dimensions the halves' FID is mostly the
# estimator's bias).
"$fmrt" eval --sanity --ref "$data/mnist_t10k" --n 500 --json --backend $b >"$t/sanity"
cat "$t/sanity"
half=$(grep '"halves' "$t/sanity" | field fid)
blur=$(grep '"blurred' "$t/sanity" | field fid)
noise=$(grep '"noise' "$t/sanity" | field fid)
check "halves FID below a tenth of noise's ($noise)" "$half" "x < $noise / 10"
check "blurred FID between halves ($half) and noise ($noise)" "$blur" "x > $half && x < $noise"

# Label accuracy = the classifier's test accuracy on the same digits: a folder whose
# t10k split is the fixture, so train-classifier reports its test accuracy there.
mkdir "$t/d"
ln -s "$im" "$t/d/t10k-images-idx3-ubyte.gz"
ln -s "$lb" "$t/d/t10k-labels-idx1-ubyte.gz"
ln -s "$im" "$t/d/train-images-idx3-ubyte.gz"
ln -s "$lb" "$t/d/train-labels-idx1-ubyte.gz"
"$fmrt" train-classifier --data "$t/d" --epochs 2 --batch 32 --shift 0 --seed 3 --backend $b \
    --out "$t/cls.fmw" 2>"$t/train.log" </dev/null
test_acc=$(sed -n 's/^test accuracy \([0-9.]*\)% .*/\1/p' "$t/train.log")
"$fmrt" eval "$t/d" --classifier "$t/cls.fmw" --ref "$im" --backend $b >"$t/acc"
cat "$t/acc"
eval_acc=$(sed -n 's/.* acc \([0-9.]*\)% .*/\1/p' "$t/acc")
# The two classify in batches of different sizes (250 and 32), so on the cpu backend the
# GEMMs may sum in another order; a digit whose two top logits tie within that rounding
# may flip. One digit of the 256 (0.39 points) is allowed; more is a real difference.
n_test=$(sed -n 's/^test accuracy [0-9.]*% (\([0-9]*\) images).*/\1/p' "$t/train.log")
if [ -z "$test_acc" ] || [ -z "$eval_acc" ] ||
    ! awk -v a="$eval_acc" -v b="$test_acc" -v n="${n_test:-256}" \
        'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 100 / n + 0.005) }'; then
    echo "FAIL: eval's label accuracy '$eval_acc' is not train-classifier's '$test_acc'" \
        "(within one digit)"; exit 1
fi
echo "ok: label accuracy $eval_acc%, the classifier's test accuracy $test_acc% (within one digit)"

# A conditional model sampled here: labels cycle through --classes, the pixels are written.
"$fmrt" eval "$src/model/tiny-cond.fmw" --n 12 --steps 2 --batch 5 --classes 3,7 --cfg 1 \
    --ref "$t/fix.fms" --samples-out "$t/s.u8" --json --backend $b >"$t/cond" 2>"$t/cond.err"
cat "$t/cond"
if [ "$(stat -c %s "$t/s.u8")" -ne $((12 * 784)) ]; then echo "FAIL: --samples-out size"; exit 1; fi
for k in fid label_accuracy confidence class_kl; do
    if [ -z "$(field $k <"$t/cond")" ]; then echo "FAIL: no $k in the JSON"; exit 1; fi
done
# The written pixels measure the same as the sampled ones (labels: 3,7,3,7,...).
printf '\x03\x07%.0s' 1 2 3 4 5 6 >"$t/s.lab"
"$fmrt" eval "$t/s.u8" --labels "$t/s.lab" --ref "$t/fix.fms" --json --backend $b >"$t/cond2"
for k in fid label_accuracy confidence; do
    if [ "$(field $k <"$t/cond")" != "$(field $k <"$t/cond2")" ]; then
        echo "FAIL: $k differs between the sampled digits and their --samples-out file"; exit 1
    fi
done
echo "ok: --samples-out holds the digits that were measured"

# Bad inputs: one error line each, a non-zero exit.
head -c 785 /dev/zero >"$t/odd.u8"
cp "$t/fix.fms" "$t/bad.fms"
printf '\xff' | dd of="$t/bad.fms" bs=1 seek=100 conv=notrunc status=none
expect_one "SAMPLES missing" "$fmrt" eval
expect_one "unknown option '--bogus'" "$fmrt" eval "$im" --bogus
expect_one "cannot open $t/none" "$fmrt" eval "$t/none" --ref "$im"
expect_one "785 bytes is not a whole number" "$fmrt" eval "$t/odd.u8" --ref "$im"
expect_one "CRC mismatch" "$fmrt" eval "$im" --ref "$t/bad.fms"
expect_one "another classifier" "$fmrt" eval "$im" --ref "$t/fix.fms" --classifier "$t/cls.fmw"
expect_one "12 labels for 256 digits|labels for 256" "$fmrt" eval "$im" --labels "$t/s.lab" --ref "$im"
expect_one "is for a weights file|are for a weights file" "$fmrt" eval "$im" --cfg 2 --ref "$im"
expect_one "unconditional model" "$fmrt" eval "$src/model/tiny-uncond.fmw" --class 3 --ref "$im"
expect_one "statistics file" "$fmrt" eval --sanity --ref "$t/fix.fms"
expect_one "not a classifier" "$fmrt" eval "$im" --classifier "$src/model/tiny-cond.fmw" --ref "$im"
expect_one "--sampler" "$fmrt" eval "$src/model/tiny-cond.fmw" --sampler rk4

# Any classifier: a colour one (3x32x32, 10 named classes) and a tiny colour model of
# the same synthetic CIFAR-format set.
"$src/tests/data/make-cifar.sh" "$t/cifar" 160 40
"$fmrt" train-classifier --data "$t/cifar" --epochs 6 --lr 3e-3 --batch 32 --seed 2 --backend $b \
    --out "$t/cc.fmw" 2>"$t/cc.log" </dev/null || { cat "$t/cc.log"; exit 1; }
tiny=(--batch 8 --seed 4 --config base_channels=8 --steps 2 --no-ckpt --backend $b)
"$fmrt" train --data "$t/cifar" "${tiny[@]}" --out "$t/cm.fmw" </dev/null 2>/dev/null
"$fmrt" eval "$t/cm.fmw" --classifier "$t/cc.fmw" --n 24 --steps 2 --batch 12 --backend $b \
    --samples-out "$t/cm.u8" --save-stats "$t/cm.fms" >"$t/col" 2>"$t/col.err"
cat "$t/col"
line=$(head -1 "$t/col")
for k in fid conf kl; do # finite: digits, not nan or inf
    v=$(sed -n "s/^\(.* \)\{0,1\}$k \([^ ]*\) .*/\2/p" <<<"$line")
    if ! grep -Eqx '[0-9]+\.[0-9]+' <<<"$v"; then echo "FAIL: colour $k '$v' is not finite"; exit 1; fi
    echo "ok: colour $k = $v"
done
grep -q "ref 40 " <<<"$line" || { echo "FAIL: the default reference is not the classifier's test split (40)"; exit 1; }
grep -q "^  class red  *predicted [0-9]*  asked [0-9]*  right [0-9.]*%$" "$t/col" &&
    [ "$(grep -c '^  class ' "$t/col")" -eq 10 ] ||
    { echo "FAIL: no line per class by the classifier's names"; exit 1; }
"$fmrt" eval "$t/cm.u8" --classifier "$t/cc.fmw" --json --backend $b >"$t/raw.json" 2>/dev/null
grep -q '"class_names":\["red","green","blue"' "$t/raw.json" || { echo "FAIL: class_names"; cat "$t/raw.json"; exit 1; }
if [ "$(sed -n 's/^fid \([0-9.]*\) .*/\1/p' "$t/col")" != "$(printf '%.3f' "$(field fid <"$t/raw.json")")" ]; then
    echo "FAIL: the raw colour images (--samples-out) measure another FID"; exit 1
fi
"$fmrt" eval "$t/cm.u8" --classifier "$t/cc.fmw" --ref "$t/cm.fms" --json --backend $b >"$t/self3" 2>/dev/null
check "colour FID against its saved statistics" "$(field fid <"$t/self3")" "x >= 0 && x < 1e-6"
echo "ok: a colour model measured by a colour classifier; its raw images and statistics agree"

# Refusals, one line each: statistics of another classifier (named by the file's record),
# a model of another shape, a conditional model of another class count (a classifier
# of 5 digit classes: the fixture's labels mod 5).
expect_one "cm.fms holds the features of another classifier \(cc.fmw, CRC 0x" \
    "$fmrt" eval "$im" --ref "$t/cm.fms"
expect_one "cm.fmw makes 3x32x32 images; the classifier .*classifier.fmw measures 1x28x28" \
    "$fmrt" eval "$t/cm.fmw" --n 2 --steps 1
mkdir "$t/k5"
ln -s "$im" "$t/k5/train-images-idx3-ubyte.gz"
{ printf '\000\000\010\001\000\000\001\000'; gzip -dc "$lb" | tail -c +9 | tr '\005\006\007\010\011' '\000\001\002\003\004'; } \
    >"$t/k5/train-labels-idx1-ubyte"
"$fmrt" train-classifier --data "$t/k5" --epochs 1 --batch 64 --backend $b --out "$t/k5.fmw" 2>/dev/null </dev/null
expect_one "tiny-cond.fmw is conditional on 10 classes, the classifier .*k5.fmw tells 5 apart" \
    "$fmrt" eval "$src/model/tiny-cond.fmw" --classifier "$t/k5.fmw" --n 2 --steps 1

# Warnings, one line each, and the run goes on: a model trained on another set than the
# classifier's; a model naming its classes otherwise than the shipped digit classifier (a
# Fashion-MNIST model's names); a reference set and a statistics file of another set.
warn_one() { # warn_one PATTERN CMD...: exit 0, PATTERN on exactly one line of stderr
    local pat=$1
    shift
    "$@" >"$t/out" 2>"$t/err" </dev/null || { echo "FAIL: exit $? from: $*"; cat "$t/err"; exit 1; }
    if [ "$(grep -Ec -- "$pat" "$t/err")" -ne 1 ] || [ "$(grep -c -- "warning: " "$t/err")" -ne \
        $((1 + $(grep -c -- "warning: FID of" "$t/err"))) ]; then
        echo "FAIL: '$*' does not warn once with /$pat/:"; cat "$t/err"; exit 1
    fi
    echo "ok: $(grep -E -- "$pat" "$t/err" | head -c 200)"
}
cp -r "$t/cifar" "$t/cifar2"
"$fmrt" train --data "$t/cifar2" "${tiny[@]}" --out "$t/cm2.fmw" </dev/null 2>/dev/null
warn_one "warning: .*cm2.fmw was trained on .*/cifar2, the classifier .*cc.fmw on .*/cifar: the numbers measure another data set" \
    "$fmrt" eval "$t/cm2.fmw" --classifier "$t/cc.fmw" --n 4 --steps 1 --backend $b
"$fmrt" train --data "$data/mnist" "${tiny[@]}" --preset tiny \
    --class-names t-shirt,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,boot \
    --out "$t/fashion.fmw" </dev/null 2>/dev/null
warn_one "warning: .*fashion.fmw names its classes t-shirt,trouser,.*; the classifier .*classifier.fmw names none" \
    "$fmrt" eval "$t/fashion.fmw" --n 4 --steps 1 --backend $b
warn_one "warning: the reference .*cifar2 is not the data the classifier .*cc.fmw was trained on" \
    "$fmrt" eval "$t/cifar" --classifier "$t/cc.fmw" --ref "$t/cifar2" --backend $b
"$fmrt" eval "$t/cifar2" --classifier "$t/cc.fmw" --save-stats "$t/c2.fms" --backend $b >/dev/null 2>&1
warn_one "warning: the reference .*c2.fms holds features of .*/cifar2, the classifier .*cc.fmw was trained on" \
    "$fmrt" eval "$t/cifar" --classifier "$t/cc.fmw" --ref "$t/c2.fms" --backend $b
echo "eval: all passed"
