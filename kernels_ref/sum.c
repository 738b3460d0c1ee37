/* Sum of all elements (a scalar reduction, e.g. for tests and diagnostics):
 *
 *   out[0] = sum_i in_i       (accumulated in double),   din_i = dout[0]
 */
#include "ref.h"

static void sum_forward(float *out, const float *in, int64_t n)
{
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        acc += in[i];
    }
    out[0] = (float)acc;
}

static void sum_backward(float *din, const float *dout, int64_t n)
{
    float g = dout[0];
    for (int64_t i = 0; i < n; i++) {
        din[i] = g;
    }
}

/* SUM_FWD: out[1], in */
fm_status fm_ref_sum_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    sum_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_tensor_numel(&c->t[1]));
    return FM_OK;
}

/* SUM_BWD: din, dout[1] */
fm_status fm_ref_sum_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    sum_backward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_tensor_numel(&c->t[0]));
    return FM_OK;
}
