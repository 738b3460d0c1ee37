#!/bin/sh
# A small synthetic data set in CIFAR-10's binary format (tools/fmrt/cifar.c): record i
# is label i mod 10 and a 32x32 RGB image of a square in that class's colour on a dark
# ground, shifted by i; data_batch_1.bin holds TRAIN records, test_batch.bin TEST, and
# batches.meta.txt names the ten classes by their colours. Deterministic; no Python.
#   tests/data/make-cifar.sh OUT_DIR [TRAIN] [TEST]     (default 64 and 20 records)
set -eu
out=$1 train=${2:-64} test=${3:-20}
mkdir -p "$out"
records() { # records FIRST COUNT: the bytes of records FIRST .. FIRST+COUNT-1
    LC_ALL=C awk -v first="$1" -v count="$2" 'BEGIN {
        split("250 40 40  40 200 40  40 60 250  240 220 40  220 40 220  40 220 220  250 130 30  150 150 150  120 60 200  250 250 250", col, " ")
        for (i = first; i < first + count; i++) {
            c = i % 10
            printf "%c", c   # the label (%c of 0 writes a NUL byte in mawk and gawk)
            for (ch = 0; ch < 3; ch++) {
                v = col[3 * c + ch + 1]
                for (y = 0; y < 32; y++)
                    for (x = 0; x < 32; x++) {
                        sx = (i * 3) % 8; sy = (i * 5) % 8
                        inside = x >= 8 + sx && x < 20 + sx && y >= 8 + sy && y < 20 + sy
                        printf "%c", inside ? v : 16 + ch * 8
                    }
            }
        }
    }'
}
records 0 "$train" > "$out/data_batch_1.bin"
records "$train" "$test" > "$out/test_batch.bin"
printf 'red\ngreen\nblue\nyellow\nmagenta\ncyan\norange\ngrey\npurple\nwhite\n' > "$out/batches.meta.txt"
