/* IDX data sets (MNIST, Fashion-MNIST) without a heap.
 *
 * IDX (LeCun's format for MNIST), big-endian:
 *
 *   offset 0  u8 0, u8 0          magic prefix
 *          2  u8 type             0x08 = u8, the only type accepted here (the others:
 *                                 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64)
 *          3  u8 ndim             1..4 accepted
 *          4  u32 dims[ndim]      each >= 1
 *          4 + 4 ndim             payload: prod(dims) items, row-major
 *
 * A file may be raw or gzip'd (recognised by the gzip magic 1f 8b, not by the
 * name). Nothing may follow the payload, in either form.
 *
 * Memory: every function that returns data takes a host arena and draws exactly
 * the returned bytes from it; on failure the arena is left as it was. zlib's
 * inflate state draws from the same arena and is released before returning.
 *
 * Messages: on failure a one-line message naming the file and what was wrong goes
 * into err (errlen bytes, may be 0). */
#ifndef FMRT_IDX_H
#define FMRT_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"

/* Largest IDX payload accepted (bytes); guards the dims product against overflow
 * and against headers that announce absurd sizes. INT32_MAX rather than 2^31, so
 * that every count and dim of an accepted file fits the int fields of fm_dataset
 * (a 1-D file of exactly 2^31 items would not). */
#define FM_IDX_MAX_BYTES ((size_t)INT32_MAX)

typedef struct fm_idx {
    int ndim;
    uint32_t dims[4];    /* dims[ndim..3] are 1 */
    size_t count;        /* dims[0] */
    size_t item_bytes;   /* prod(dims[1..ndim-1]) bytes (type u8) */
    const uint8_t *data; /* count * item_bytes bytes, in the host arena */
} fm_idx;

typedef struct fm_dataset {
    int n, h, w;
    int c;                 /* channels: 1 (grey; every IDX set), 3 (RGB) */
    const uint8_t *images; /* n * c * h * w bytes, each image channel-major, 0 = black */
    const uint8_t *labels; /* n bytes */
} fm_dataset;

/* Read a raw or gzip'd IDX file of type u8. FM_ERR_IO when the file cannot be
 * read, FM_ERR_FORMAT for a bad header, a header that claims more than the file
 * can hold (see fm_idx_probe; named before any payload memory is taken), a
 * truncated or over-long payload or a corrupt gzip stream, FM_ERR_ARENA when the payload (or zlib's ~45 KiB of
 * state) does not fit in `host`. */
fm_status fm_idx_load(const char *path, fm_arena *host, fm_idx *out, char *err, size_t errlen);

/* Host arena bytes fm_idx_load needs beyond the payload: zlib's inflate state (about
 * 7 KiB) and window (32 KiB), and the arena's rounding of each block. */
#define FM_IDX_ZLIB_BYTES ((size_t)64 << 10)

/* The header of an IDX file without its payload (out->data NULL) and *need, the host
 * arena bytes fm_idx_load takes for it (payload + FM_IDX_ZLIB_BYTES): what a caller
 * sizes its arena by, instead of a gzip trailer (any 32-bit number) or the file's
 * size. The header checks of fm_idx_load, and that the file can hold the claim (a
 * raw file its bytes, a gzip'd one at most 1032 times its size: deflate's largest
 * expansion), each FM_ERR_FORMAT; so *need is bounded by the file, and an arena
 * of *need bytes fills only as data really arrives. zlib's state (gzip) comes from
 * scratch (at least FM_IDX_ZLIB_BYTES free), which is restored. */
fm_status fm_idx_probe(const char *path, fm_arena *scratch, fm_idx *out, size_t *need, char *err,
                       size_t errlen);

/* The same reader over an image already in memory (len bytes at data, raw or
 * gzip'd), with the same checks, statuses and arena use; messages name it `name`
 * (the path it came from; NULL: "IDX data"). fm_idx_load streams the file through this code instead of reading it
 * whole, so a gzip'd file never needs its compressed bytes and its payload in the
 * arena at once. */
fm_status fm_idx_parse(const void *data, size_t len, const char *name, fm_arena *host, fm_idx *out,
                       char *err, size_t errlen);

/* Images [N,H,W] u8 and labels [N] u8 with the same N. num_classes > 0 also
 * requires every label < num_classes; 0 skips that check. */
fm_status fm_mnist_load(const char *images_path, const char *labels_path, int num_classes,
                        fm_arena *host, fm_dataset *out, char *err, size_t errlen);

/* Find the files of a split ("train" or "t10k") in dir under the standard MNIST /
 * Fashion-MNIST names, raw or with ".gz":
 *   <split>-images-idx3-ubyte[.gz]   <split>-labels-idx1-ubyte[.gz]
 * For "train", when the standard pair is absent, the "train-10k-" prefix of
 * ../shared/data/mnist is accepted too. images and labels receive the paths
 * (pathlen bytes each). The raw name wins over ".gz" when both exist. */
fm_status fm_mnist_find(const char *dir, const char *split, char *images, char *labels,
                        size_t pathlen, char *err, size_t errlen);

#endif
