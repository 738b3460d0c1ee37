/* SiLU over the pool: out = x s, din = dout s (1 + x (1 - s)), s = 1 / (1 + e^-x), with
 * the vectorisable exp of vmath.h (a few ulps from expf; the conformance tolerance of
 * an elementwise op is NMSE 1e-10, i.e. ~1e-5 relative). out may alias in.
 *
 * The U-Net's SiLUs that follow a group norm run fused into it when sampling
 * (GROUPNORM_FWD i1 = FM_GN_ACT_SILU, groupnorm.c, same formula); this op serves the
 * time path and training, whose backward needs the norm's output itself. */
#include "cpu.h"
#include "vmath.h"

static void fwd_range(float *out, const float *in, const float *unused, const float *f,
                      int64_t lo, int64_t hi)
{
    (void)unused;
    (void)f;
    for (int64_t i = lo; i < hi; i++)
        out[i] = fm_cpu_silu(in[i]);
}

static void bwd_range(float *din, const float *dout, const float *in, const float *f, int64_t lo,
                      int64_t hi)
{
    (void)f;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i];
        float s = 1.0f / (1.0f + fm_cpu_expf(-x));
        din[i] = dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

/* SILU_FWD: out, in */
fm_status fm_cpu_silu_fwd(fm_backend *be, const fm_call *c)
{
    fm_cpu_map(fm_cpu_of(be), fm_tensor_numel(&c->t[0]), fwd_range, fm_f32(&c->t[0]),
               fm_f32(&c->t[1]), NULL, NULL);
    return FM_OK;
}

/* SILU_BWD: din, dout, in */
fm_status fm_cpu_silu_bwd(fm_backend *be, const fm_call *c)
{
    fm_cpu_map(fm_cpu_of(be), fm_tensor_numel(&c->t[0]), bwd_range, fm_f32(&c->t[0]),
               fm_f32(&c->t[1]), fm_f32(&c->t[2]), NULL);
    return FM_OK;
}
