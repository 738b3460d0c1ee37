/* The flat binary weights / checkpoint format (docs/weights-format.md):
 *
 *   fixed header (112 bytes; 176 in version 3) | tensor directory (104 bytes each) |
 *   metadata (40 bytes each) | zero padding to 64 | payload | CRC-32
 *
 * All integers little-endian. The payload holds the tensors in directory order,
 * back to back, every offset a multiple of 4, so tensors saved in the canonical
 * parameter order form one contiguous float block: the model's flat parameter
 * block can point straight into a file image (no copy) on the reference backend.
 *
 * fm_weights_parse checks everything (sizes, every directory entry, the config,
 * the checksum) and never reads outside [image, image + len) for any input; the
 * parsed fm_weights then points into the caller's image, which must outlive it.
 *
 * The reader (parse, checks, queries: weights_read.c) works on memory alone and is
 * all that a microcontroller build compiles; the writer (weights_write.c) saves
 * files through file.h. weights_format.h is the byte layout both share. */
#ifndef FMRT_WEIGHTS_H
#define FMRT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"
#include "status.h"
#include "tensor.h"

#define FM_WEIGHTS_MAGIC "FMRTWGT1" /* 8 bytes, no NUL in the file */
/* The newest version this build reads; 2 added the architecture, 3 the config slots
 * 16..31 (text conditioning). A writer uses the lowest version that holds the model. */
#define FM_WEIGHTS_VERSION 3
#define FM_WEIGHTS_HEADER_BYTES 112    /* the fixed header of versions 1 and 2 */
#define FM_WEIGHTS_HEADER_BYTES_V3 176 /* version 3: config slots 16..31 at 112..175 */
#define FM_WEIGHTS_HEADER_MAX FM_WEIGHTS_HEADER_BYTES_V3 /* the largest fixed header */
#define FM_WEIGHTS_DIR_BYTES 104 /* one directory entry */
#define FM_WEIGHTS_META_BYTES 40 /* one metadata entry */
#define FM_WEIGHTS_ALIGN 64      /* payload offset in the file */
#define FM_WEIGHTS_NAME 48       /* tensor name field, NUL padded */
#define FM_WEIGHTS_KEY 32        /* metadata key field, NUL padded */
#define FM_WEIGHTS_MAX_TENSORS 4096
#define FM_WEIGHTS_MAX_META 1024

enum { FM_WEIGHTS_KIND_WEIGHTS = 0, FM_WEIGHTS_KIND_CHECKPOINT = 1 };

typedef struct fm_wtensor {
    char name[FM_WEIGHTS_NAME]; /* NUL-terminated, at most 47 characters */
    fm_dtype dtype;             /* F32 or F16 (floats, as the header's dtype), I32 or U8 */
    int ndim;                   /* 1..4 */
    int64_t shape[4];           /* >= 1; dims beyond ndim are 1 */
    const void *data;
    size_t bytes; /* prod(shape) * dtype size */
} fm_wtensor;

typedef struct fm_wmeta {
    char key[FM_WEIGHTS_KEY]; /* NUL-terminated, at most 31 characters */
    uint64_t value;
} fm_wmeta;

typedef struct fm_weights {
    int version, kind;
    fm_config cfg;
    fm_dtype dtype; /* of the float tensors */
    int ntensors, nmeta;
    const uint8_t *image; /* the whole file, as passed to fm_weights_parse */
    size_t len;
    const uint8_t *payload; /* image + payload offset (64-aligned when image is) */
    size_t payload_bytes;
    const uint8_t *dir;  /* first directory entry */
    const uint8_t *meta; /* first metadata entry */
    uint32_t crc;
} fm_weights;

/* Write a weights (kind 0) or checkpoint (kind 1) file crash-safely. The header,
 * directory and metadata are built in scratch (restored before returning); the
 * payload is written straight from the tensors' data, never copied. The float
 * tensors must share one dtype (F32; F16 is reserved in the format). Checks what
 * the parser checks: valid config, names unique and fitting, shapes vs bytes.
 * Absent, with fm_weights_save_scratch, from builds without a file system: they
 * leave out weights_write.c (the embedded library, cmake/fmrt_embedded.cmake). */
fm_status fm_weights_save(const char *path, int kind, const fm_config *cfg, const fm_wtensor *t,
                          int nt, const fm_wmeta *meta, int nmeta, fm_arena *scratch, char *err,
                          size_t errlen);

/* Scratch bytes fm_weights_save needs for nt tensors and nmeta metadata entries
 * in an arena of the minimum alignment (64): the header block plus the chunk list
 * handed to fm_file_write_atomic (2 nt + 2 entries). Exact for a version 3 file
 * (176-byte header); a version 1 or 2 file (no text encoder) needs 64 bytes less.
 * For an arena of alignment A, add 3 (A - 64). 0 for counts outside
 * 0..FM_WEIGHTS_MAX_TENSORS / _META. */
size_t fm_weights_save_scratch(int nt, int nmeta);

/* Validate a file image (for instance from fm_file_read) and describe it in *w.
 * FM_ERR_FORMAT with a message naming the problem: truncated or over-long file,
 * wrong magic (with a hint when it looks like gzip, zip/PyTorch, safetensors,
 * NumPy, pickle, PNG or IDX), unknown version or kind, bad header sizes, a bad
 * directory or metadata entry, an invalid config, or a checksum mismatch. */
fm_status fm_weights_parse(const void *image, size_t len, fm_weights *w, char *err, size_t errlen);

/* The fixed header's size in a file of this version: FM_WEIGHTS_HEADER_BYTES for
 * versions 1 and 2, FM_WEIGHTS_HEADER_BYTES_V3 for 3; 0 for a version this build
 * does not read. */
size_t fm_weights_header_bytes(uint32_t version);

/* Tensor i (0 <= i < ntensors) of a parsed image; data points into the image. */
fm_status fm_weights_tensor(const fm_weights *w, int i, fm_wtensor *out);
/* Index of the tensor called name, or -1. */
int fm_weights_find(const fm_weights *w, const char *name);
/* What a file's first n bytes say it is, as a noun phrase ("a PNG image", "gzip-
 * compressed data", ...), or NULL when none of the formats users mistake for one
 * another (fmrt weights of another generation, .fms statistics, gzip, zip, a Python
 * pickle, NumPy, PNG, GGUF, IDX) matches. Readers name a foreign file with it (memory only: the
 * embedded subset has it too). */
const char *fm_file_kind(const uint8_t *p, size_t n);

/* 1 and *value when the metadata holds key, else 0. */
int fm_weights_meta(const fm_weights *w, const char *key, uint64_t *value);

/* Float32 values at data (n of them, little-endian, any alignment) that are NaN or
 * inf; *negative (may be NULL) receives how many are below 0. A file's parameters,
 * moments and golden tensors are scanned with it before use. */
size_t fm_f32_nonfinite(const void *data, size_t n, size_t *negative);

/* Loader checks with messages in the contract's terms. */
/* FM_ERR_FORMAT naming the first field where the file's config differs from want. */
fm_status fm_weights_check_config(const fm_weights *w, const fm_config *want, char *err,
                                  size_t errlen);
/* Tensor `name` with exactly this dtype and shape; FM_ERR_FORMAT when absent or
 * different ("tensor 'conv_in.weight': file has f32 64x1x3x3, model expects ..."). */
fm_status fm_weights_expect(const fm_weights *w, const char *name, fm_dtype dtype, int ndim,
                            const int64_t *shape, fm_wtensor *out, char *err, size_t errlen);
/* Tensors first..first+count-1 lie back to back in the payload: 1 and their
 * combined extent in *data, *bytes (a flat parameter block in place); else 0. */
int fm_weights_contiguous(const fm_weights *w, int first, int count, const void **data,
                          size_t *bytes);

#endif
