#!/usr/bin/env bash
# README's sample-quality table, measured with fmrt eval under the protocol:
# n = 1000 digits per row, noise seed 0 (batch b of 250: Philox(0), stream b), labels
# 0..9 cycling for the conditional model, the shipped classifier, the reference the
# shipped statistics of the 10k MNIST test digits. Prints Markdown rows.
# Usage: scripts/eval-table.sh FMRT MNIST_DIR [BACKEND]
#   MNIST_DIR: t10k and train files, for the sanity rows (fmrt eval --sanity).
set -euo pipefail
fmrt=$1
data=$2
backend=${3:-cpu}
root=$(cd "$(dirname "$0")/.." && pwd)

field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }
row() { # row MODEL-LABEL SAMPLER-LABEL GUIDANCE-LABEL < one JSON line
    local j fid acc conf kl secs
    j=$(cat)
    fid=$(field fid <<<"$j"); acc=$(field label_accuracy <<<"$j"); conf=$(field confidence <<<"$j")
    kl=$(field class_kl <<<"$j"); secs=$(field seconds <<<"$j")
    printf '| %s | %s | %s | %.1f | %s | %.3f | %.4f | %s |\n' "$1" "$2" "$3" "$fid" \
        "$([ -n "$acc" ] && awk -v a="$acc" 'BEGIN { printf "%.1f%%", 100 * a }' || echo -)" \
        "$conf" "$kl" "$([ -n "$secs" ] && printf '%.0f s' "$secs" || echo -)"
}

echo "| model | sampler | guidance | FID | label acc | confidence | class KL | sampling |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for model in tiny-cond tiny-uncond dit-tiny-cond; do
    cond=0
    case $model in *-cond) cond=1 ;; esac
    for s in euler:10 euler:25 euler:50 heun:10 heun:25; do
        g=(); gl=-
        if [ $cond = 1 ]; then g=(--cfg 2); gl=2; fi
        "$fmrt" eval "$root/model/$model.fmw" --n 1000 --sampler "${s%:*}" --steps "${s#*:}" \
            "${g[@]}" --backend "$backend" --json 2>/dev/null | row "$model" "${s/:/ }" "$gl"
    done
    if [ $cond = 1 ]; then
        for w in 1 3; do
            "$fmrt" eval "$root/model/$model.fmw" --n 1000 --steps 50 --cfg $w \
                --backend "$backend" --json 2>/dev/null | row "$model" "euler 50" "$w"
        done
    fi
done
"$fmrt" eval --sanity --ref "$data" --n 1000 --backend "$backend" --json 2>/dev/null |
    while IFS= read -r line; do
        what=$(sed -n 's/.*"samples":"\([^":]*\).*/\1/p' <<<"$line")
        row "sanity: $what" - - <<<"$line"
    done
