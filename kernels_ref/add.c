/* Elementwise sum of two tensors of the same shape (residual connections):
 *
 *   out = a + b,   da = dout,  db = dout
 *
 * out may alias a or b. Either gradient may be absent (ndim 0). */
#include <string.h>

#include "ref.h"

static void add_forward(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = a[i] + b[i];
    }
}

/* The gradient of a sum passes through unchanged. memmove, not memcpy: nothing
 * forbids a caller from handing dout itself as a gradient buffer. */
static void add_backward(float *da, float *db, const float *dout, int64_t n)
{
    if (da) {
        memmove(da, dout, (size_t)n * sizeof(float));
    }
    if (db) {
        memmove(db, dout, (size_t)n * sizeof(float));
    }
}

/* ADD_FWD: out, a, b */
fm_status fm_ref_add_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    add_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]),
                fm_tensor_numel(&c->t[0]));
    return FM_OK;
}

/* ADD_BWD: da?, db?, dout */
fm_status fm_ref_add_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    float *da = fm_tensor_present(&c->t[0]) ? fm_f32(&c->t[0]) : NULL;
    float *db = fm_tensor_present(&c->t[1]) ? fm_f32(&c->t[1]) : NULL;
    add_backward(da, db, fm_f32(&c->t[2]), fm_tensor_numel(&c->t[2]));
    return FM_OK;
}
