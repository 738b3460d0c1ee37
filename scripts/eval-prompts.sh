#!/usr/bin/env bash
# README's prompt-adherence table of a text model trained on colour MNIST
# (fmrt data colour-mnist, fmrt train --captions), measured with fmrt eval --prompts
# under one protocol: the prompt "a <colour> <digit>" of each of the 80 pairs, K images
# each (default 100), Euler 50 steps, guidance 2, noise seed 0, the shipped colour
# MNIST classifier for the digit and the stroke-colour rule for the colour
# (docs/data-pack.md, "Held-out pairs"). The seen and held-out pairs are those of the
# pack's held-out.txt (fmrt data colour-mnist --hold-out); a pack without one gives
# the "all" row only. Prints Markdown: the seen and held-out groups, then each
# held-out pair's row; the whole eval table and its CSV are kept with --keep DIR.
# Usage: scripts/eval-prompts.sh FMRT MODEL PACK_DIR [BACKEND] [K] [--keep DIR]
#   e.g. scripts/eval-prompts.sh build/fmrt text-cmnist.fmw data/colour-mnist-ho cpu 100
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
fmrt=$1
model=$2
pack=$3
backend=${4:-auto}
k=${5:-100}
keep=
if [ "${6:-}" = --keep ]; then keep=${7:?--keep needs a folder}; fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

colours="red green blue yellow magenta cyan orange white"
for c in $colours; do
    for d in 0 1 2 3 4 5 6 7 8 9; do echo "a $c $d"; done
done >"$t/prompts.txt"
held=()
if [ -f "$pack/held-out.txt" ]; then
    held=(--held-out "$(paste -sd, "$pack/held-out.txt")")
elif [ ! -d "$pack" ]; then
    echo "eval-prompts: $pack is not a folder (fmrt data colour-mnist's OUT)" >&2
    exit 2
fi
"$fmrt" eval "$model" --prompts "$t/prompts.txt" --n-per-prompt "$k" --steps 50 --cfg 2 \
    --seed 0 --backend "$backend" "${held[@]}" --csv "$t/table.csv" >"$t/table.txt"
if [ -n "$keep" ]; then
    mkdir -p "$keep"
    cp "$t/table.txt" "$t/table.csv" "$keep/"
fi

# CSV: group,colour,digit,n,digit_acc,colour_acc,both_acc,class_acc,"prompt"
echo "| pairs | prompts | images | digit | colour | both |"
echo "| --- | --- | --- | --- | --- | --- |"
awk -F, '
    function pct(x) { return x == "" ? "-" : sprintf("%.1f%%", 100 * x) }
    NR == 1 { next }
    $9 ~ /^"\(/ { # the group rows: all, seen, held-out
        np = $1 == "all" ? total : count[$1]
        printf "| %s | %d | %d | %s | %s | %s |\n", $1, np, $4, pct($5), pct($6), pct($7)
        next
    }
    { total++; count[$1]++
      if ($1 == "held-out")
          pair[++nh] = sprintf("| %s %s (held out) | 1 | %d | %s | %s | %s |", $2, $3, $4, pct($5),
                               pct($6), pct($7)) }
    END { for (i = 1; i <= nh; i++) print pair[i] }
' "$t/table.csv"
