#include "tensor.h"

#include <stdio.h>

#include "size.h"

size_t fm_dtype_size(fm_dtype d)
{
    switch (d) {
    case FM_F32: return 4;
    case FM_I32: return 4;
    case FM_U8: return 1;
    case FM_F16: return 2;
    case FM_BF16: return 2;
    case FM_DTYPE_COUNT: break;
    }
    return 0;
}

const char *fm_dtype_name(fm_dtype d)
{
    static const char *names[FM_DTYPE_COUNT] = {"f32", "i32", "u8", "f16", "bf16"};
    return (unsigned)d < FM_DTYPE_COUNT ? names[d] : "?";
}

fm_tensor fm_tensor_desc(fm_dtype d, int ndim, const int64_t *shape)
{
    fm_tensor t = {0};
    if (ndim < 0 || ndim > FM_MAX_DIMS)
        return t;
    t.dtype = d;
    t.ndim = ndim;
    for (int i = 0; i < FM_MAX_DIMS; i++)
        t.shape[i] = i < ndim ? shape[i] : 1;
    return t;
}

fm_tensor fm_tensor_4d(fm_dtype d, int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t s[4] = {n, c, h, w};
    return fm_tensor_desc(d, 4, s);
}

fm_tensor fm_tensor_2d(fm_dtype d, int64_t rows, int64_t cols)
{
    int64_t s[2] = {rows, cols};
    return fm_tensor_desc(d, 2, s);
}

fm_tensor fm_tensor_1d(fm_dtype d, int64_t n) { return fm_tensor_desc(d, 1, &n); }

int fm_tensor_present(const fm_tensor *t) { return t->ndim > 0; }

int64_t fm_tensor_numel(const fm_tensor *t)
{
    if (t->ndim <= 0 || t->ndim > FM_MAX_DIMS)
        return 0;
    int64_t n = 1;
    /* Shapes come from files and configs: an overflowing product must not wrap
     * into a small, plausible count (signed overflow is undefined anyway). */
    for (int i = 0; i < t->ndim; i++)
        if (!fm_mul_i64(n, t->shape[i], &n))
            return -1;
    return n;
}

size_t fm_tensor_bytes(const fm_tensor *t)
{
    int64_t n = fm_tensor_numel(t);
    size_t b;
    /* 0 for "no valid size" (negative count, overflow): fm_tensor_alloc refuses it. */
    if (n <= 0 || (uint64_t)n > SIZE_MAX || !fm_mul_size((size_t)n, fm_dtype_size(t->dtype), &b))
        return 0;
    return b;
}

int64_t fm_tensor_stride(const fm_tensor *t, int d)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i > d; i--)
        s *= t->shape[i];
    return s;
}

int fm_tensor_same_shape(const fm_tensor *a, const fm_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

fm_tensor fm_tensor_reshape(fm_tensor t, int ndim, const int64_t *shape)
{
    fm_tensor r = fm_tensor_desc(t.dtype, ndim, shape);
    if (r.ndim == 0 || fm_tensor_numel(&r) != fm_tensor_numel(&t)) {
        fm_tensor none = {0};
        return none;
    }
    r.base = t.base;
    r.off = t.off;
    return r;
}

fm_tensor fm_tensor_slice(fm_tensor t, int64_t start, int64_t count)
{
    if (t.ndim == 0 || start < 0 || count < 1 || start + count > t.shape[0]) {
        fm_tensor none = {0};
        return none;
    }
    t.off += (size_t)(start * fm_tensor_stride(&t, 0)) * fm_dtype_size(t.dtype);
    t.shape[0] = count;
    return t;
}

const char *fm_tensor_shape_str(const fm_tensor *t, char *buf, size_t len)
{
    size_t k = 0;
    if (len == 0)
        return buf;
    buf[0] = 0;
    if (t->ndim == 0) {
        snprintf(buf, len, "(absent)");
        return buf;
    }
    for (int i = 0; i < t->ndim && k < len; i++) {
        int w = snprintf(buf + k, len - k, i ? "x%lld" : "%lld", (long long)t->shape[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
    return buf;
}
