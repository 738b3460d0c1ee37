/* Gated residual of adaLN-Zero, over tokens x[B,T,D] with a per-sample gate g[B,D]:
 *
 *   out[b,t,j] = x[b,t,j] + g[b,j] h[b,t,j]        (out may alias x)
 *   dh[b,t,j]  = g[b,j] dout[b,t,j],  dg[b,j] = sum_t h[b,t,j] dout[b,t,j]
 *
 * dx = dout, so the backward has no dx slot. dg is written (=), summed in double. */
#include "ref.h"

static void gated_add_forward(float *out, const float *x, const float *g, const float *h, int64_t B,
                              int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < D; j++) {
                int64_t e = (b * T + t) * D + j;
                out[e] = x[e] + g[b * D + j] * h[e];
            }
}

static void gated_add_backward(float *dh, float *dg, const float *dout, const float *g,
                               const float *h, int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < D; j++) {
            double acc = 0.0;
            for (int64_t t = 0; t < T; t++) {
                int64_t e = (b * T + t) * D + j;
                acc += (double)h[e] * dout[e];
                if (dh)
                    dh[e] = g[b * D + j] * dout[e];
            }
            if (dg)
                dg[b * D + j] = (float)acc;
        }
}

/* GATED_ADD_FWD: out, x[B,T,D], g[B,D], h[B,T,D] */
fm_status fm_ref_gated_add_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *x = &c->t[1];
    gated_add_forward(fm_f32(&c->t[0]), fm_f32(x), fm_f32(&c->t[2]), fm_f32(&c->t[3]), x->shape[0],
                      x->shape[1], x->shape[2]);
    return FM_OK;
}

/* GATED_ADD_BWD: dh?, dg?, dout[B,T,D], g[B,D], h */
fm_status fm_ref_gated_add_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *dout = &c->t[2];
    gated_add_backward(fm_tensor_present(&c->t[0]) ? fm_f32(&c->t[0]) : NULL,
                       fm_tensor_present(&c->t[1]) ? fm_f32(&c->t[1]) : NULL, fm_f32(dout),
                       fm_f32(&c->t[3]), fm_f32(&c->t[4]), dout->shape[0], dout->shape[1],
                       dout->shape[2]);
    return FM_OK;
}
