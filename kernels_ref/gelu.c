/* GELU in two forms (i0), elementwise over any shape; out may alias in.
 *
 * 0 tanh (the DiT's MLP):
 *   a = k (x + 0.044715 x^3),  k = sqrt(2/pi),  th = tanh(a)
 *   out = 0.5 x (1 + th)
 *   d/dx = 0.5 (1 + th) + 0.5 x (1 - th^2) k (1 + 3 * 0.044715 x^2)
 * tanhf saturates to +-1 for large |a|, the right limit, so no branch is needed.
 *
 * 1 quick (CLIP's text encoder):
 *   s = sigmoid(1.702 x) = 1 / (1 + e^(-1.702 x)),  out = x s
 *   d/dx = s + 1.702 x s (1 - s)
 * e^(-1.702 x) = inf gives s = 0 (out -0 or 0, d/dx 0), = 0 gives s = 1: the limits. */
#include <math.h>

#include "ref.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define GELU_Q 1.702f

static float quick_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-GELU_Q * x));
}

static void gelu_forward(float *out, const float *in, int64_t n, int form)
{
    if (form == FM_GELU_QUICK) {
        for (int64_t i = 0; i < n; i++)
            out[i] = in[i] * quick_sigmoid(in[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    }
}

static void gelu_backward(float *din, const float *dout, const float *in, int64_t n, int form)
{
    if (form == FM_GELU_QUICK) {
        for (int64_t i = 0; i < n; i++) {
            float x = in[i], s = quick_sigmoid(x);
            din[i] = dout[i] * (s + GELU_Q * x * s * (1.0f - s));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x = in[i];
        float th = tanhf(GELU_K * (x + GELU_C * x * x * x));
        float da = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        din[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * da);
    }
}

/* GELU_FWD: out, in   i0 form */
fm_status fm_ref_gelu_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    gelu_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_tensor_numel(&c->t[0]), c->i[0]);
    return FM_OK;
}

/* GELU_BWD: din, dout, in   i0 form */
fm_status fm_ref_gelu_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    gelu_backward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_tensor_numel(&c->t[0]),
                  c->i[0]);
    return FM_OK;
}
