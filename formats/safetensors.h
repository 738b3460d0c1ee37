/* safetensors (https://github.com/huggingface/safetensors), the format PyTorch and
 * Hugging Face share weights in, for fmrt convert. Tool layer: it allocates
 * (malloc) and parses the JSON header with cJSON; the runtime library never sees it.
 *
 *   u64 N (little-endian) | N bytes of UTF-8 JSON | data buffer
 *
 * The JSON is one object: "name": {"dtype": "F32", "shape": [32, 1, 3, 3],
 * "data_offsets": [begin, end]} per tensor (offsets into the data buffer), and an
 * optional "__metadata__": {"key": "value", ...} of strings only. The buffer is
 * covered by the tensors exactly: in bounds, no overlap, no hole, nothing after.
 *
 * fmrt's own metadata keys (written by fmrt convert, docs/weights-format.md):
 *   "fmrt.config"  the model config as fm_config_format writes it, the syntax of
 *                  --config: "in_channels=1 image=28 base_channels=32 ..."
 *   "fmrt.step", "fmrt.seed"  decimal, the run's step and seed when the .fmw had them
 *   "format"       "pt", as safetensors.torch.save_file writes */
#ifndef FMRT_SAFETENSORS_H
#define FMRT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "layout.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* the reference reader's limit: 100 MB */
/* What fmrt reads, checked before the JSON is parsed (cJSON's tree costs ~64 bytes
 * a value): a header of at most 16 MiB (a model's header is well under 1 MiB: each
 * tensor entry is ~100 bytes), with at most ST_MAX_ENTRIES top-level keys (the
 * FM_MAX_PARAMS parameters twice, as canonical and raw copies, plus __metadata__ and
 * spares) and ST_MAX_VALUES JSON values in all (24 an entry: a tensor takes at most
 * 18 with its 8 dimensions). */
#define ST_MAX_HEADER_FMRT ((uint64_t)16 << 20)
#define ST_MAX_ENTRIES (FM_MAX_PARAMS * 2 + 8)
#define ST_MAX_VALUES (ST_MAX_ENTRIES * 24)
#define ST_MAX_DIMS 8
#define ST_MAX_INT ((((uint64_t)1) << 53) - 1) /* largest integer a JSON double holds exactly */

#define ST_META_CONFIG "fmrt.config"
#define ST_META_STEP "fmrt.step"
#define ST_META_SEED "fmrt.seed"

/* Every dtype of the safetensors specification. */
typedef enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_I64,
    ST_U64,
    ST_NDTYPES
} st_dtype;

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

typedef struct st_tensor {
    const char *name; /* a parsed file: points into the parser's JSON tree */
    st_dtype dtype;
    int ndim;                    /* 0 (a scalar) .. ST_MAX_DIMS */
    uint64_t shape[ST_MAX_DIMS]; /* each <= ST_MAX_INT */
    uint64_t numel;              /* product of the shape (1 for a scalar) */
    uint64_t begin, end;         /* data_offsets, relative to the data buffer */
    const uint8_t *data;         /* end - begin = numel * dtype size bytes */
} st_tensor;

typedef struct st_meta {
    const char *key, *value;
} st_meta;

typedef struct st_file {
    st_tensor *t; /* in header order */
    int n;
    st_meta *meta;
    int nmeta;
    size_t header_bytes; /* N */
    size_t data_bytes;   /* the buffer after the header */
    void *json;          /* the cJSON tree the names point into */
    int *by_name;        /* tensor indices sorted by name (st_find) */
} st_file;

/* Parse and check a whole file image (len bytes; data must outlive f). Returns 0, or
 * 1 with one line in err naming the problem (and the tensor and field): a header
 * length past the end or over ST_MAX_HEADER / ST_MAX_HEADER_FMRT, more than
 * ST_MAX_ENTRIES entries or ST_MAX_VALUES values, a header that is not UTF-8, not
 * JSON or not an object, a string holding \u0000 (names and values are compared as
 * the bytes they decode to), a missing, mistyped or repeated field, an unknown
 * dtype, a shape or offset that is not an integer in 0..2^53-1 or not written as
 * one (512.0, 512e0, -0), a shape whose bytes overflow, offsets out of bounds,
 * inconsistent with the shape, not a multiple of the dtype size, overlapping or
 * leaving a hole, a duplicate name or metadata key, metadata that are not strings. On failure f
 * holds nothing to free; on success release it with st_free. */
int st_parse(const void *data, size_t len, st_file *f, char *err, size_t errlen);
/* The header length N of a file of file_bytes (>= 8) bytes that starts with first:
 * 0, or 1 with st_parse's message when N runs past the end or is over ST_MAX_HEADER.
 * st_parse runs it; a caller can run it before reading a whole file. */
int st_header_length(const uint8_t first[8], uint64_t file_bytes, uint64_t *n, char *err,
                     size_t errlen);
void st_free(st_file *f);
/* The tensor called name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* The metadata value of key, or NULL. */
const char *st_meta_get(const st_file *f, const char *key);

/* The values of t (F32, F16 or BF16, exactly) as numel floats into out. Returns 0,
 * or 1 with a message for any other dtype. */
int st_to_f32(const st_tensor *t, float *out, char *err, size_t errlen);
/* IEEE half <-> float. st_f32_to_f16 rounds to nearest even; a finite value that
 * rounds beyond 65504 becomes inf (callers check). */
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);

/* The header of a file holding t[0..n) (name, dtype, ndim, shape used; begin, end
 * and numel filled in here, back to back in this order) and meta: the 8-byte
 * length, then the JSON padded with spaces so that the data starts at a multiple of
 * 8. *hdr is malloc'd (*len bytes). Returns 0, or 1 with a message. */
int st_header(st_tensor *t, int n, const st_meta *meta, int nmeta, uint8_t **hdr, size_t *len,
              char *err, size_t errlen);

/* ---- fmrt's model contract over a parsed file ----------------------------------------- */
/* The config of the "fmrt.config" metadata value (the mnist preset, then each
 * key=value, then fm_config_validate). A key given twice, a list with an empty item
 * ("channel_mult=1,2,") and more than ST_CONFIG_ITEMS items are refused. Returns 0,
 * -1 when the key is absent, or 1 with a message. */
#define ST_CONFIG_ITEMS 64
int st_fmrt_config(const st_file *f, fm_config *cfg, char *err, size_t errlen);
/* The file against cfg's parameter layout (fm_model_layout): every parameter present
 * with its exact shape and a float dtype (F32, F16, BF16), nothing else. Returns 0,
 * or 1 naming the first mismatch in canonical order ("missing tensor
 * mid.1.proj.bias", "enc.0.conv1.weight: shape 16x1x3x3, the config needs
 * 32x1x3x3"), then the first unexpected tensor in header order. */
int st_fmrt_check(const st_file *f, const fm_config *cfg, char *err, size_t errlen);

#endif
