/* Per-sample, per-channel bias broadcast over the image plane (the time embedding
 * added inside a ResBlock):
 *
 *   out[n,c,y,x] = in[n,c,y,x] + bias[n,c]          out, in [N,C,H,W], bias [N,C]
 *   dbias[n,c]   = sum_{y,x} dout[n,c,y,x]          (din = dout, so no din slot)
 *
 * out may alias in. dbias is written (=), as its slot says; each plane sum is
 * accumulated in double so large planes lose nothing. */
#include "ref.h"

static void bias_add_forward(float *out, const float *in, const float *bias, int64_t planes,
                             int64_t plane)
{
    for (int64_t p = 0; p < planes; p++) {
        float b = bias[p];
        for (int64_t i = 0; i < plane; i++) {
            out[p * plane + i] = in[p * plane + i] + b;
        }
    }
}

static void bias_add_backward(float *dbias, const float *dout, int64_t planes, int64_t plane)
{
    for (int64_t p = 0; p < planes; p++) {
        double acc = 0.0;
        for (int64_t i = 0; i < plane; i++) {
            acc += dout[p * plane + i];
        }
        dbias[p] = (float)acc;
    }
}

/* BIAS_ADD_FWD: out[N,C,H,W], in[N,C,H,W], bias[N,C] */
fm_status fm_ref_bias_add_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *out = &c->t[0];
    bias_add_forward(fm_f32(out), fm_f32(&c->t[1]), fm_f32(&c->t[2]),
                     out->shape[0] * out->shape[1], out->shape[2] * out->shape[3]);
    return FM_OK;
}

/* BIAS_ADD_BWD: dbias[N,C], dout[N,C,H,W] */
fm_status fm_ref_bias_add_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *dout = &c->t[1];
    bias_add_backward(fm_f32(&c->t[0]), fm_f32(dout), dout->shape[0] * dout->shape[1],
                      dout->shape[2] * dout->shape[3]);
    return FM_OK;
}
