/* GELU, tanh form (the DiT's MLP):
 *
 *   a = k (x + 0.044715 x^3),  k = sqrt(2/pi),  th = tanh(a)
 *   out = 0.5 x (1 + th)
 *   d/dx = 0.5 (1 + th) + 0.5 x (1 - th^2) k (1 + 3 * 0.044715 x^2)
 *
 * Elementwise over any shape; out may alias in. tanhf saturates to +-1 for large |a|,
 * the right limit, so no branch is needed. */
#include <math.h>

#include "ref.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

static void gelu_forward(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    }
}

static void gelu_backward(float *din, const float *dout, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        float th = tanhf(GELU_K * (x + GELU_C * x * x * x));
        float da = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        din[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * da);
    }
}

/* GELU_FWD: out, in */
fm_status fm_ref_gelu_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    gelu_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_tensor_numel(&c->t[0]));
    return FM_OK;
}

/* GELU_BWD: din, dout, in */
fm_status fm_ref_gelu_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    gelu_backward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_tensor_numel(&c->t[0]));
    return FM_OK;
}
