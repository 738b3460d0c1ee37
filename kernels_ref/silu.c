/* SiLU (swish): out = x * sigmoid(x).
 *
 *   s = 1 / (1 + e^-x),  d/dx [x s] = s + x s (1 - s) = s (1 + x (1 - s))
 *
 * Elementwise over any shape; out may alias in (each element is read before it is
 * written). For x -> -inf, e^-x overflows to inf and s = 0 exactly, which is the
 * right limit, so no branch is needed. */
#include <math.h>

#include "ref.h"

static void silu_forward(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = fm_ref_silu(in[i]);
}

static void silu_backward(float *din, const float *dout, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        float s = 1.0f / (1.0f + expf(-x));
        din[i] = dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

/* SILU_FWD: out, in */
fm_status fm_ref_silu_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    silu_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_tensor_numel(&c->t[0]));
    return FM_OK;
}

/* SILU_BWD: din, dout, in */
fm_status fm_ref_silu_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    silu_backward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]),
                  fm_tensor_numel(&c->t[0]));
    return FM_OK;
}
