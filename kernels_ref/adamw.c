/* AdamW (Loshchilov & Hutter), with PyTorch's torch.optim.AdamW semantics: the
 * weight decay is decoupled (applied to the parameter, not added to the gradient)
 * and happens before the Adam step. Per element, with g the gradient:
 *
 *   p = p - lr wd p                          (PyTorch: p.mul_(1 - lr wd))
 *   m = b1 m + (1 - b1) g
 *   v = b2 v + (1 - b2) g^2
 *   p = p - lr (m / bc1) / (sqrt(v / bc2) + eps)
 *
 * f0 lr, f1 b1, f2 b2, f3 eps, f4 wd, f5 bc1 = 1 - b1^step, f6 bc2 = 1 - b2^step.
 * The caller passes the bias corrections so that the kernel holds no step count
 * and the powers are computed once per step (in double, by the caller). */
#include <math.h>

#include "ref.h"

typedef struct adamw_hp {
    float lr, b1, b2, eps, wd, bc1, bc2;
} adamw_hp;

static void adamw_update(float *p, float *m, float *v, const float *g, adamw_hp h, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i] - h.lr * h.wd * p[i];
        float mi = h.b1 * m[i] + (1.0f - h.b1) * gi;
        float vi = h.b2 * v[i] + (1.0f - h.b2) * gi * gi;
        float mhat = mi / h.bc1;
        float vhat = vi / h.bc2;
        p[i] = pi - h.lr * mhat / (sqrtf(vhat) + h.eps);
        m[i] = mi;
        v[i] = vi;
    }
}

/* ADAMW: param, m, v, grad (all the same shape) */
fm_status fm_ref_adamw(fm_backend *be, const fm_call *c)
{
    (void)be;
    adamw_hp h = {c->f[0], c->f[1], c->f[2], c->f[3], c->f[4], c->f[5], c->f[6]};
    adamw_update(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_f32(&c->t[3]), h,
                 fm_tensor_numel(&c->t[0]));
    return FM_OK;
}
