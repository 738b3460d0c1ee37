#!/usr/bin/env bash
# Prompt adherence and held-out pairs (compositional generalisation), on the fixture
# digits (tests/data: 256 training and 1000 t10k digits):
# - fmrt data colour-mnist --hold-out "red 7,green 2": the training split without
#   those pairs' images (pack and captions; the rest byte for byte as without it), the
#   pairs in held-out.txt, the test split unchanged; no --hold-out is the old output
#   (no held-out.txt; a stale one removed by --force); each bad pair one line;
# - fmrt eval --prompts on a tiny text model trained here for 3 steps: the table's
#   header, a row per prompt and the all/seen/held-out rows, the CSV, the held-out
#   group from --held-out (and from the model's record when fmrt train writes one);
# - misuse, one line each and a non-zero exit: a text model without --prompts, --prompts
#   on a class or unconditional model, an empty prompt file, an unknown colour, two
#   digits, a flag of prompts without --prompts.
# Usage: prompts.sh FMRT SOURCE_DIR
set -euo pipefail
fmrt=$1
src=$(cd "$2" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$src/tests/expect.sh"

b=ref
if "$fmrt" backends | grep -qx cpu; then b=cpu; fi
mkdir "$t/m"
ln -s "$src"/tests/data/mnist/train-* "$src"/tests/data/mnist_t10k/t10k-* "$t/m/"
fail() { echo "FAIL: $*"; exit 1; }

# ---- fmrt data colour-mnist --hold-out ----------------------------------------------
"$fmrt" data colour-mnist "$t/m" "$t/all" >"$t/all.out"
"$fmrt" data colour-mnist "$t/m" "$t/ho" --hold-out "red 7, Green 2" --hold-out "red 7" >"$t/ho.out"
test ! -e "$t/all/held-out.txt" || fail "held-out.txt written without --hold-out"
printf 'red 7\ngreen 2\n' | cmp - "$t/ho/held-out.txt" || fail "held-out.txt: $(cat "$t/ho/held-out.txt")"
removed=$(grep -c -E '^a (red 7|green 2)$' "$t/all/train-captions.txt")
test "$removed" -gt 0 || fail "the fixture has no red 7 or green 2 to hold out"
kept=$(wc -l <"$t/ho/train-captions.txt")
test "$kept" -eq $((256 - removed)) || fail "$kept training captions kept, want $((256 - removed))"
grep -q "held out: $removed of the 256 train images" "$t/ho.out" || fail "$(cat "$t/ho.out")"
grep -v -E '^a (red 7|green 2)$' "$t/all/train-captions.txt" | cmp - "$t/ho/train-captions.txt"
"$fmrt" data info "$t/ho/train.fmd" >"$t/info"
grep -q "^$t/ho/train.fmd: $kept images 3x28x28, 80 classes" "$t/info" ||
    fail "the training pack does not hold $kept images"
cmp "$t/all/test.fmd" "$t/ho/test.fmd"
cmp "$t/all/test-captions.txt" "$t/ho/test-captions.txt"
echo "ok: --hold-out removed $removed of 256 training images (pack and captions), the test split unchanged"
# The images kept are the ones without --hold-out: the same pack as packing those rows.
# (A pack's data CRC covers every image's CRC: two runs that keep the same rows agree.)
"$fmrt" data colour-mnist "$t/m" "$t/ho2" --hold-out "green 2,red 7" >/dev/null
cmp "$t/ho/train.fmd" "$t/ho2/train.fmd"
# No --hold-out: the output of before (deterministic; compare with a second run), and
# --force over a held-out folder removes its held-out.txt.
"$fmrt" data colour-mnist "$t/m" "$t/ho2" --force >/dev/null
test ! -e "$t/ho2/held-out.txt" || fail "--force without --hold-out left held-out.txt"
cmp "$t/all/train.fmd" "$t/ho2/train.fmd"
echo "ok: the same pairs in any order give the same pack; none held out is the old output"
expect_one "--hold-out: unknown colour in 'purple 7': the colours are red, green, blue" \
    "$fmrt" data colour-mnist "$t/m" "$t/x" --hold-out "red 7,purple 7"
expect_one "--hold-out: 'red 12' is not a colour and a digit 0..9" \
    "$fmrt" data colour-mnist "$t/m" "$t/x" --hold-out "red 12"
expect_one "--hold-out: 'red' is not a colour and a digit" \
    "$fmrt" data colour-mnist "$t/m" "$t/x" --hold-out "red"
expect_one "--hold-out: an empty pair" "$fmrt" data colour-mnist "$t/m" "$t/x" --hold-out "red 7,"
expect_one "--hold-out needs a value" "$fmrt" data colour-mnist "$t/m" "$t/x" --hold-out
test ! -e "$t/x/train.fmd" || fail "a refused --hold-out wrote a pack"

# ---- fmrt eval --prompts --------------------------------------------------------------
"$fmrt" train --help >"$t/train.help" 2>&1 || true
if ! grep -q -- "--captions" "$t/train.help"; then
    echo "skip: this fmrt train has no --captions (no text model to measure)"
    exit 0
fi
"$fmrt" train --data "$t/ho" --captions "$t/ho" --batch 8 --steps 3 --config base_channels=8 \
    --backend $b --out "$t/text.fmw" --no-ckpt </dev/null 2>"$t/train.log" ||
    { cat "$t/train.log"; fail "training the tiny text model"; }
cat >"$t/p.txt" <<'EOF'
# prompts: blank lines and comments are skipped

a red 7
a green 2
A BLUE 3
seven
a cyan digit
EOF
"$fmrt" eval "$t/text.fmw" --prompts "$t/p.txt" --n-per-prompt 3 --steps 2 --batch 8 \
    --backend $b --held-out "red 7,green 2" --csv "$t/p.csv" >"$t/table" 2>"$t/err" ||
    { cat "$t/err"; fail "eval --prompts"; }
cat "$t/table"
grep -q "^# .*text.fmw: 5 prompts x 3 images, euler 2 steps, cfg 2, seed 0" "$t/table" || fail "line 1"
grep -q "^# held out (--held-out): red 7, green 2$" "$t/table" || fail "the held-out line"
grep -Eq '^group +colour +digit +n +digit% +colour% +both% +class% +prompt$' "$t/table" || fail "header"
num='([0-9]+\.[0-9]|-)'
row() { grep -Eq "^$1 +$2 +$3 +$4 +$num +$num +$num +$num  $5\$" "$t/table" || fail "no row: $*"; }
row held-out red 7 3 "a red 7"
row held-out green 2 3 "a green 2"
row seen blue 3 3 "A BLUE 3"
row - - 7 3 "seven"
row - cyan - 3 "a cyan digit"
row all - - 15 "\(all prompts\)"
row seen - - 3 "\(seen pairs\)"
row held-out - - 6 "\(held-out pairs\)"
# What a prompt does not name is not scored: "seven" has no colour, "a cyan digit" no digit.
grep -Eq '^- +- +7 +3 +[0-9.]+ +- +- +-  seven$' "$t/table" || fail "seven's row"
grep -Eq '^- +cyan +- +3 +- +[0-9.]+ +- +-  a cyan digit$' "$t/table" || fail "cyan's row"
test "$(grep -vc '^#' "$t/table")" -eq 9 || fail "header + 5 prompts + 3 groups"
test "$(wc -l <"$t/p.csv")" -eq 9 || fail "the CSV: $(cat "$t/p.csv")"
head -1 "$t/p.csv" | grep -qx "group,colour,digit,n,digit_acc,colour_acc,both_acc,class_acc,prompt"
grep -Eq '^held-out,red,7,3,[01]\.[0-9]{4},[01]\.[0-9]{4},[01]\.[0-9]{4},[01]\.[0-9]{4},"a red 7"$' \
    "$t/p.csv" || fail "the CSV's red 7 row"
grep -q '^-,cyan,-,3,,[01]\.[0-9]*,,,"a cyan digit"$' "$t/p.csv" || fail "the CSV's cyan row"
echo "ok: the table (a row per prompt, all, seen, held-out) and its CSV"
# The same seed, the same samples: a second run prints the same table.
"$fmrt" eval "$t/text.fmw" --prompts "$t/p.txt" --n-per-prompt 3 --steps 2 --batch 8 \
    --backend $b --held-out "red 7,green 2" 2>/dev/null | grep -v '^#' >"$t/table2"
grep -v '^#' "$t/table" | cmp - "$t/table2"
# Without --held-out: the model's record (held_out= in text.data, when fmrt train
# writes it from the pack's held-out.txt), else no seen/held-out rows.
"$fmrt" eval "$t/text.fmw" --prompts "$t/p.txt" --n-per-prompt 1 --steps 1 --backend $b \
    >"$t/table3" 2>/dev/null
"$fmrt" info "$t/text.fmw" >"$t/info"
if grep -q "held_out=red 7,green 2" "$t/info"; then
    grep -q "^# held out (the model's record): red 7, green 2$" "$t/table3" || fail "record"
    grep -Eq '^held-out +- +- +2 ' "$t/table3" || fail "held-out group from the record"
    echo "ok: the held-out pairs from the model's record"
else
    grep -q "^# held out: not known" "$t/table3" || fail "no record: $(cat "$t/table3")"
    test "$(grep -vc '^#' "$t/table3")" -eq 7 || fail "no record: header + 5 prompts + all"
    echo "ok: no record of held-out pairs: the all row only"
fi

printf 'a red 7\na purple 7\n' >"$t/purple.txt"
printf 'a red 7 and a 2\n' >"$t/two.txt"
printf '# nothing\n\n  \n' >"$t/none.txt"
printf 'a cat\n' >"$t/cat.txt"
ev=(--n-per-prompt 1 --steps 1 --backend $b)
expect_one "text.fmw is a text model: give --prompts FILE" "$fmrt" eval "$t/text.fmw" --n 2 --steps 1
expect_one "tiny-cond.fmw is conditional on 10 classes, not a text model: --prompts is for" \
    "$fmrt" eval tiny-cond.fmw --prompts "$t/p.txt" "${ev[@]}"
expect_one "tiny-uncond.fmw is unconditional, not a text model" \
    "$fmrt" eval tiny-uncond.fmw --prompts "$t/p.txt" "${ev[@]}"
expect_one "none.txt holds no prompts" "$fmrt" eval "$t/text.fmw" --prompts "$t/none.txt" "${ev[@]}"
: >"$t/empty.txt"
expect_one "empty.txt holds no prompts" "$fmrt" eval "$t/text.fmw" --prompts "$t/empty.txt" "${ev[@]}"
expect_one "purple.txt:2: 'a purple 7' names the colour 'purple', which colour MNIST has no" \
    "$fmrt" eval "$t/text.fmw" --prompts "$t/purple.txt" "${ev[@]}"
expect_one "two.txt:1: 'a red 7 and a 2' names two digits, 7 and 2" \
    "$fmrt" eval "$t/text.fmw" --prompts "$t/two.txt" "${ev[@]}"
expect_one "cat.txt:1: 'a cat' names no digit 0..9 and none of the colours" \
    "$fmrt" eval "$t/text.fmw" --prompts "$t/cat.txt" "${ev[@]}"
expect_one "--held-out: unknown colour in 'pink 3'" \
    "$fmrt" eval "$t/text.fmw" --prompts "$t/p.txt" --held-out "pink 3" "${ev[@]}"
expect_one "--n-per-prompt/--held-out/--csv/--vocab are for --prompts FILE" \
    "$fmrt" eval "$t/text.fmw" --n-per-prompt 3
expect_one "--prompts scores a text model's samples by prompt: --ref/--labels" \
    "$fmrt" eval "$t/text.fmw" --prompts "$t/p.txt" --n 4
expect_one "the classifier .*fashion-classifier.fmw tells 10 classes apart by other names" \
    "$fmrt" eval "$t/text.fmw" --prompts "$t/p.txt" --classifier fashion-classifier.fmw "${ev[@]}"
echo "ok: prompts.sh"
