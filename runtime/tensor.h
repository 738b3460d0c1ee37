/* Tensors: contiguous row-major views of up to 4 dimensions (NCHW for images)
 * living in a backend's memory. A tensor owns nothing: it names a buffer and a
 * byte offset into it.
 *
 *   base  ref backend: a host pointer (its arena, or any caller memory such as a
 *         const weights image); cuda: a device pointer; opencl: a cl_mem.
 *   off   bytes from base.
 *
 * Shape dims beyond ndim are 1, so shape[0..3] can always be read as N, C, H, W
 * of a 4-D tensor. ndim == 0 marks an absent optional argument. */
#ifndef FMRT_TENSOR_H
#define FMRT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum fm_dtype {
    FM_F32 = 0,
    FM_I32,
    FM_U8,
    FM_F16,  /* storage only, for weights files */
    FM_BF16, /* storage only */
    FM_DTYPE_COUNT
} fm_dtype;

#define FM_MAX_DIMS 4

typedef struct fm_tensor {
    void *base;
    size_t off;
    fm_dtype dtype;
    int ndim;
    int64_t shape[FM_MAX_DIMS];
} fm_tensor;

size_t fm_dtype_size(fm_dtype d);
const char *fm_dtype_name(fm_dtype d);

/* A tensor description with no memory yet (base NULL, off 0). Dims must be >= 1. */
fm_tensor fm_tensor_desc(fm_dtype d, int ndim, const int64_t *shape);
fm_tensor fm_tensor_4d(fm_dtype d, int64_t n, int64_t c, int64_t h, int64_t w);
fm_tensor fm_tensor_2d(fm_dtype d, int64_t rows, int64_t cols);
fm_tensor fm_tensor_1d(fm_dtype d, int64_t n);

int fm_tensor_present(const fm_tensor *t); /* ndim > 0 */
/* Product of the dims; -1 when it overflows int64_t. */
int64_t fm_tensor_numel(const fm_tensor *t);
/* numel * dtype size; 0 when that is negative or overflows size_t. */
size_t fm_tensor_bytes(const fm_tensor *t);
/* Elements between consecutive indices of dimension d (row-major). */
int64_t fm_tensor_stride(const fm_tensor *t, int d);
int fm_tensor_same_shape(const fm_tensor *a, const fm_tensor *b);
/* The same memory seen with another shape of equal element count (else ndim 0). */
fm_tensor fm_tensor_reshape(fm_tensor t, int ndim, const int64_t *shape);
/* Items [start, start + count) along dimension 0 (a batch slice). */
fm_tensor fm_tensor_slice(fm_tensor t, int64_t start, int64_t count);
/* "3x1x28x28" into buf; returns buf. */
const char *fm_tensor_shape_str(const fm_tensor *t, char *buf, size_t len);

/* Host view (ref backend only): base + off. */
static inline float *fm_f32(const fm_tensor *t) { return (float *)((char *)t->base + t->off); }
static inline int32_t *fm_i32(const fm_tensor *t) { return (int32_t *)((char *)t->base + t->off); }
static inline uint8_t *fm_u8(const fm_tensor *t) { return (uint8_t *)((char *)t->base + t->off); }

#endif
