#!/usr/bin/env python3
"""The first N digits of an MNIST IDX pair, as a small test fixture (developers only).

    python3 scripts/reference/mnist_subset.py SRC_IMAGES.gz SRC_LABELS.gz N OUT_DIR [SPLIT]

writes OUT_DIR/SPLIT-images-idx3-ubyte.gz and OUT_DIR/SPLIT-labels-idx1-ubyte.gz (SPLIT
train, the default, or t10k: the standard names `fmrt train --data DIR` and `fmrt eval`
read). tests/data/mnist holds 256 digits of MNIST's training set (the first 256 of
train-images-idx3-ubyte), 50 KB gzipped; tests/data/mnist_t10k the first 1000 of the
test set (t10k-images-idx3-ubyte).
"""
import gzip
import os
import struct
import sys


def subset(src, n, header_words):
    with gzip.open(src, "rb") as f:
        data = f.read()
    head = list(struct.unpack(">%dI" % header_words, data[: 4 * header_words]))
    item = 1
    for d in head[2:]:
        item *= d
    head[1] = n
    return struct.pack(">%dI" % header_words, *head) + data[4 * header_words: 4 * header_words + n * item]


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    images, labels, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    split = sys.argv[5] if len(sys.argv) == 6 else "train"
    os.makedirs(out, exist_ok=True)
    for src, words, name in ((images, 4, split + "-images-idx3-ubyte.gz"), (labels, 2, split + "-labels-idx1-ubyte.gz")):
        # mtime 0: the same bytes on every run
        with gzip.GzipFile(os.path.join(out, name), "wb", compresslevel=9, mtime=0) as f:
            f.write(subset(src, n, words))
