#!/usr/bin/env bash
# The names the fmrt tool reads and writes (issue #29, points 8 and 9), from a scratch
# folder with nothing in it:
# - one lookup rule for a bare name in every command that reads a weights or
#   statistics file: here, then the installed share/fmrt, then the source tree's
#   model/ (the build tree's tool finds the shipped files by name);
#   found nowhere: one line naming every place tried;
# - an output whose extension is not the format written is refused before any work
#   (any case; no extension is taken as is);
# - fmrt info prints a summary, --tensors lists the tensors;
# - every error line of a command says "fmrt CMD: ".
# Usage: cli_names.sh FMRT SOURCE_DIR
set -euo pipefail
fmrt=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cd "$t"
b=ref
if "$fmrt" backends | grep -qx cpu; then b=cpu; fi

# expect_line STATUS PATTERN CMD...: CMD exits with STATUS, one line on stderr that
# matches PATTERN (grep -E).
expect_line() {
    local want=$1 pat=$2 rc=0
    shift 2
    "$@" >out 2>err </dev/null || rc=$?
    if [ "$rc" -ne "$want" ] || [ "$(wc -l <err)" -ne 1 ] || ! grep -Eq -- "$pat" err; then
        echo "FAIL: '$*': exit $rc (want $want), stderr not one line /$pat/:"; cat err; exit 1
    fi
    echo "ok: $(cat err)"
}

# ---- one lookup rule -------------------------------------------------------------------
"$fmrt" info tiny-cond.fmw >info.txt
grep -Eq "^file +(.*/share/fmrt|$src/model)/tiny-cond.fmw " info.txt \
    || { echo "FAIL: info tiny-cond.fmw did not find the shipped file:"; cat info.txt; exit 1; }
"$fmrt" sample tiny-cond.fmw --n 2 --steps 1 --classes 3 --backend $b --out s.png 2>/dev/null
head -c 8 s.png | od -An -c | grep -q 'P   N   G'
"$fmrt" eval tiny-cond.fmw --n 16 --batch 16 --steps 1 --classes 3 --json --backend $b \
    >eval.json 2>/dev/null
grep -Eq '"samples":"[^"]*/tiny-cond.fmw"' eval.json && grep -q '"confidence":' eval.json \
    || { echo "FAIL: eval tiny-cond.fmw:"; cat eval.json; exit 1; }
# --classifier and --ref by bare name, the same rule.
"$fmrt" eval tiny-uncond.fmw --n 16 --batch 16 --steps 1 --classifier classifier.fmw \
    --ref mnist-test.fms --json --backend $b >eval2.json 2>/dev/null
grep -Eq '"ref":"[^"]*/mnist-test.fms"' eval2.json \
    || { echo "FAIL: eval --ref mnist-test.fms:"; cat eval2.json; exit 1; }
"$fmrt" export tiny-cond.fmw e.fmw >/dev/null 2>&1
"$fmrt" diff tiny-cond.fmw e.fmw --tol 0 >/dev/null
"$fmrt" convert tiny-uncond.fmw u.safetensors >/dev/null 2>&1
test -s u.safetensors
echo "ok: info, sample, eval (SAMPLES, --classifier, --ref), export, diff, convert by bare name"
# A file here comes first: a copy of another model under the shipped name.
cp "$src/model/tiny-uncond.fmw" tiny-cond.fmw
"$fmrt" info tiny-cond.fmw >info.txt
grep -q "^file *tiny-cond.fmw " info.txt || { echo "FAIL: the file here is not first:"; cat info.txt; exit 1; }
rm tiny-cond.fmw
# Found nowhere: one line naming the name and both other places.
for cmd in info sample eval export diff convert; do
    args=(no-such.fmw)
    case $cmd in export | diff) args+=(e.fmw) ;; convert) args+=(x.safetensors) ;; esac
    [ $cmd = diff ] && args=(e.fmw no-such.fmw)
    expect_line 1 "^fmrt $cmd: cannot open no-such.fmw: .*share/fmrt/no-such.fmw, nor $src/model/no-such.fmw\)$" \
        "$fmrt" $cmd "${args[@]}"
done

# ---- output formats --------------------------------------------------------------------
expect_line 2 "^fmrt sample: --out x.jpg: sample writes PNG images; name the file .png$" \
    "$fmrt" sample tiny-cond.fmw --out x.jpg
expect_line 2 "^fmrt sample: --traj t.gif: sample writes PNG images; name the file .png$" \
    "$fmrt" sample tiny-cond.fmw --traj t.gif
test ! -e x.jpg && test ! -e t.gif
mkdir a.b # a dot in a folder's name is no extension
"$fmrt" sample tiny-uncond.fmw --n 1 --steps 1 --backend $b --out UP.PNG --traj a.b/noext 2>/dev/null
test -s UP.PNG && test -s a.b/noext
printf 'step,epoch,loss,img_per_s\n1,0,0.5,10\n2,0,0.4,10\n' >loss.csv
expect_line 2 "^fmrt plot: --out loss.png: plot writes SVG; name the file .svg$" \
    "$fmrt" plot loss.csv --out loss.png
test ! -e loss.png
"$fmrt" plot loss.csv --out LOSS.Svg >/dev/null && grep -q '<svg' LOSS.Svg
"$fmrt" plot loss.csv --out loss >/dev/null && grep -q '<svg' loss
echo "ok: --out and --traj of sample are .png, plot's .svg (any case) or no extension"

# ---- info: a summary, --tensors lists them ---------------------------------------------
"$fmrt" info tiny-cond.fmw >info.txt
grep -Eq "^tensors +[0-9]+: [0-9]+ canonical, 0 raw.\*, 0 optimizer state, 0 text; [0-9]+ bytes" info.txt
grep -q "^weights *canonical = EMA" info.txt && grep -q "^meta " info.txt
if grep -q "conv_in.weight" info.txt; then echo "FAIL: info lists tensors without --tensors"; exit 1; fi
"$fmrt" info tiny-cond.fmw --tensors >info.txt
grep -q "^  conv_in.weight " info.txt
expect_line 2 "^fmrt info: unexpected argument '--bogus'" "$fmrt" info tiny-cond.fmw --bogus
echo "ok: info summary; --tensors lists them"

# ---- every line of a command says which one --------------------------------------------
expect_line 1 "^fmrt sample: cannot open $t/missing.fmw" "$fmrt" sample "$t/missing.fmw"
printf 'step,epoch,loss\nx\n' >bad.csv
expect_line 1 "^fmrt plot: bad.csv:2: expected" "$fmrt" plot bad.csv --out bad.svg
expect_line 1 "^fmrt export: " "$fmrt" export "$t/missing.fmw" x.fmw
expect_line 2 "^fmrt: unknown command 'frobnicate'" "$fmrt" frobnicate
printf 'step,epoch,loss,img_per_s\n1,0,0.5,10\n2,0,nan,10\n3,0,0.4,10\n' >nan.csv
"$fmrt" plot nan.csv --out nan.svg >/dev/null 2>err
grep -q "^fmrt plot: nan.csv: skipped 1 rows" err || { echo "FAIL: plot's note:"; cat err; exit 1; }
# fmrt tokenize: ids on stdout, one line a text; a bad vocabulary or --ctx is one line.
"$fmrt" tokenize --ctx 6 "a  b" "" >tok.txt
printf '256 97 32 98 257 258\n256 257 258 258 258 258\n' | cmp -s - tok.txt \
    || { echo "FAIL: tokenize --bytes:"; cat tok.txt; exit 1; }
"$fmrt" tokenize --vocab "$src/tests/data/tokenizer/clip-merges-300.txt" --ctx 5 "A photo" >tok.txt
[ "$(cat tok.txt)" = "813 320 79 606 814" ] || { echo "FAIL: tokenize --vocab:"; cat tok.txt; exit 1; }
expect_line 1 "^fmrt tokenize: cannot open $t/none.txt.gz" "$fmrt" tokenize --vocab "$t/none.txt.gz" x
expect_line 1 "^fmrt tokenize: --vocab bad.csv: not a CLIP BPE merges file" "$fmrt" tokenize --vocab bad.csv x
expect_line 2 "^fmrt tokenize: --ctx: '1' is not an integer" "$fmrt" tokenize --ctx 1 x
expect_line 2 "^fmrt tokenize: no TEXT" "$fmrt" tokenize --ctx 8
echo "cli_names: ok"
