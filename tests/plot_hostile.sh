#!/bin/sh
# fmrt plot on hostile input: every case must end within 10 s
# with an exit status in 1..125 and exactly one "fmrt..." line on stderr, and leave an
# existing SVG byte-identical. Also: a normal log still plots, non-finite losses are
# skipped with a count, and a failed write (RLIMIT_FSIZE) keeps the old SVG.
# Needs nothing but the tool: the logs are written here.
#
#   tests/plot_hostile.sh path/to/fmrt
set -u
fmrt=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0

printf 'step,epoch,loss,img_per_s\n1,1,1.2,40\n50,1,0.41,44\n100,1,0.2,44\n150,2,0.15,44\n' >"$t/ok.csv"
timeout 10 "$fmrt" plot --force "$t/ok.csv" --out "$t/old.svg" --smooth 2 >/dev/null || {
    echo "FAIL: a normal log does not plot"
    exit 1
}
cp "$t/old.svg" "$t/keep.svg"

# The files in $t but err, one name a line.
files() { for f in "$t"/*; do [ "$f" = "$t/err" ] || echo "${f##*/}"; done; }

# hostile NAME EXPECT -- ARGS...: refused, quickly, with one line naming EXPECT,
# nothing changed or left behind in $t; returns 1 on a failure. $fsize: RLIMIT_FSIZE
# of the tool, in blocks (only the tool's: the script's own output may be a file).
hostile() {
    name=$1 expect=$2
    shift 3
    before=$(files)
    (ulimit -f "${fsize:-unlimited}" && exec timeout 10 "$fmrt" plot --force "$@") >/dev/null 2>"$t/err"
    rc=$?
    lines=$(wc -l <"$t/err")
    if [ "$rc" -lt 1 ] || [ "$rc" -gt 125 ] || [ "$lines" -ne 1 ] || ! grep -q "^fmrt.*$expect" "$t/err"; then
        echo "FAIL: $name: exit $rc, stderr:"
        cat "$t/err"
        return 1
    fi
    if ! cmp -s "$t/old.svg" "$t/keep.svg"; then
        echo "FAIL: $name: the existing SVG changed"
        return 1
    fi
    if [ "$(files)" != "$before" ]; then
        echo "FAIL: $name: left a file behind: $(files)"
        return 1
    fi
    echo "ok: $name: exit $rc: $(cat "$t/err")"
}

printf 'step,epoch,loss\n1.7e308,1,0.5\n' >"$t/huge.csv"
hostile "step 1.7e308" "huge.csv:2: step" -- "$t/huge.csv" --out "$t/old.svg" || fail=1
hostile "--ref 1.7e300:0.5" "epoch 1.7e+300" -- "$t/ok.csv" --out "$t/old.svg" --ref 1.7e300:0.5 \
    --steps-per-epoch 100 || fail=1
hostile "--ref 1:inf" "loss inf" -- "$t/ok.csv" --out "$t/old.svg" --ref 1:inf --steps-per-epoch 100 || fail=1
printf '1,inf,0.5\n' >"$t/epinf.csv"
hostile "epoch inf" "epoch inf" -- "$t/epinf.csv" --out "$t/old.svg" || fail=1
printf '1,1,-0\n' >"$t/zero.csv"
hostile "loss -0" "loss -0" -- "$t/zero.csv" --out "$t/old.svg" || fail=1
printf '1,1,1e300\n' >"$t/big.csv"
hostile "loss 1e300" "loss 1e+300" -- "$t/big.csv" --out "$t/old.svg" || fail=1
printf '1,1,nan\n2,1,inf\n' >"$t/allnan.csv"
hostile "only NaN/inf losses" "no data rows" -- "$t/allnan.csv" --out "$t/old.svg" || fail=1
hostile "--out is the input" "is also the input" -- "$t/old.svg" --out "$t/old.svg" || fail=1
ln "$t/old.svg" "$t/alias.svg"
hostile "--out is the input by another name" "is also the input" -- "$t/ok.csv" "$t/old.svg" \
    --out "$t/alias.svg" || fail=1
rm -f "$t/alias.svg"
ln -s old.svg "$t/link.svg"
hostile "--out is a symbolic link" "symbolic link" -- "$t/ok.csv" --out "$t/link.svg" || fail=1
rm -f "$t/link.svg"
# A full disk: the new SVG is larger than RLIMIT_FSIZE (one block); the tool ignores
# SIGXFSZ, so the write fails with EFBIG and the old file stays.
fsize=1 hostile "RLIMIT_FSIZE" "File too large" -- "$t/ok.csv" "$t/ok.csv" --out "$t/old.svg" || fail=1

# Non-finite losses are skipped and counted; the rest plots.
printf '1,1,nan\n2,1,0.5\n3,1,inf\n4,1,0.4\n' >"$t/some.csv"
if ! timeout 10 "$fmrt" plot --force "$t/some.csv" --out "$t/some.svg" >/dev/null 2>"$t/err" ||
    ! grep -q "skipped 2 rows" "$t/err" || grep -qi "nan\|inf" "$t/some.svg"; then
    echo "FAIL: non-finite losses: $(cat "$t/err")"
    fail=1
fi
[ $fail -eq 0 ] && echo "plot_hostile: all passed"
exit $fail
