/* GELU in its two forms (i0; maths in kernels_ref/gelu.c) over the pool (fm_cpu_map):
 * 0 tanh:  out = 0.5 x (1 + th),  din = dout (0.5 (1 + th) + 0.5 x (1 - th^2) k (1 + 3c x^2)),
 *   th = tanh(k (x + c x^3)) = 1 - 2 / (1 + e^(2a)), with vmath.h's vectorisable exp
 *   (e^(2a) = inf gives th = 1, e^(2a) = 0 gives -1: the limits, no branch). Within a
 *   few ulps of the reference's tanhf.
 * 1 quick: out = x s,  din = dout (s + 1.702 x s (1 - s)),  s = 1 / (1 + e^(-1.702 x))
 *   with the same exp (its clamp at -87 gives s = 1 - 1.6e-38 = 1 in float: the limit).
 * out may alias in. */
#include "cpu.h"
#include "vmath.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define GELU_Q 1.702f

static inline float gelu_tanh(float x)
{
    return 1.0f - 2.0f / (1.0f + fm_cpu_expf(2.0f * GELU_K * (x + GELU_C * x * x * x)));
}

static void fwd_range(float *out, const float *in, const float *unused, const float *f,
                      int64_t lo, int64_t hi)
{
    (void)unused;
    (void)f;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + gelu_tanh(x));
    }
}

static void bwd_range(float *din, const float *dout, const float *in, const float *f, int64_t lo,
                      int64_t hi)
{
    (void)f;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i], th = gelu_tanh(x);
        float da = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        din[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * da);
    }
}

static inline float quick_sigmoid(float x)
{
    return 1.0f / (1.0f + fm_cpu_expf(-GELU_Q * x));
}

static void quick_fwd_range(float *out, const float *in, const float *unused, const float *f,
                            int64_t lo, int64_t hi)
{
    (void)unused;
    (void)f;
    for (int64_t i = lo; i < hi; i++)
        out[i] = in[i] * quick_sigmoid(in[i]);
}

static void quick_bwd_range(float *din, const float *dout, const float *in, const float *f,
                            int64_t lo, int64_t hi)
{
    (void)f;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i], s = quick_sigmoid(x);
        din[i] = dout[i] * (s + GELU_Q * x * s * (1.0f - s));
    }
}

/* GELU_FWD: out, in   i0 form */
fm_status fm_cpu_gelu_fwd(fm_backend *be, const fm_call *c)
{
    fm_cpu_map(fm_cpu_of(be), fm_tensor_numel(&c->t[0]),
               c->i[0] == FM_GELU_QUICK ? quick_fwd_range : fwd_range, fm_f32(&c->t[0]),
               fm_f32(&c->t[1]), NULL, NULL);
    return FM_OK;
}

/* GELU_BWD: din, dout, in   i0 form */
fm_status fm_cpu_gelu_bwd(fm_backend *be, const fm_call *c)
{
    fm_cpu_map(fm_cpu_of(be), fm_tensor_numel(&c->t[0]),
               c->i[0] == FM_GELU_QUICK ? quick_bwd_range : bwd_range, fm_f32(&c->t[0]),
               fm_f32(&c->t[1]), fm_f32(&c->t[2]), NULL);
    return FM_OK;
}
