/* Scaled sum, the sampler's update step (x - h v, Heun's average, guidance):
 *
 *   out = a x + b y          (a = f0, b = f1; out may alias x or y)
 *   dx  = a dout,  dy = b dout
 *
 * Either gradient may be absent. */
#include "ref.h"

static void axpby_forward(float *out, const float *x, const float *y, float a, float b,
                          int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = a * x[i] + b * y[i];
    }
}

static void axpby_backward(float *dx, float *dy, const float *dout, float a, float b,
                           int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float g = dout[i];
        if (dx) {
            dx[i] = a * g;
        }
        if (dy) {
            dy[i] = b * g;
        }
    }
}

/* AXPBY_FWD: out, x, y; f0 a, f1 b */
fm_status fm_ref_axpby_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    axpby_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), c->f[0], c->f[1],
                  fm_tensor_numel(&c->t[0]));
    return FM_OK;
}

/* AXPBY_BWD: dx?, dy?, dout; f0 a, f1 b */
fm_status fm_ref_axpby_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    float *dx = fm_tensor_present(&c->t[0]) ? fm_f32(&c->t[0]) : NULL;
    float *dy = fm_tensor_present(&c->t[1]) ? fm_f32(&c->t[1]) : NULL;
    axpby_backward(dx, dy, fm_f32(&c->t[2]), c->f[0], c->f[1], fm_tensor_numel(&c->t[2]));
    return FM_OK;
}
