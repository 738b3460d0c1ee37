/* The flow-matching path between data x0 (t = 0) and noise x1 (t = 1), one t per
 * sample:
 *
 *   xt = (1 - t[n]) x0 + t[n] x1,   v = x1 - x0         x0, x1, xt, v [N,...], t [N]
 *   dx0 = (1 - t) dxt - dv,         dx1 = t dxt + dv
 *
 * Each sample is numel/N contiguous floats. In the backward, an absent dxt or dv
 * counts as zero and an absent dx0 or dx1 is skipped. t gets no gradient: it is
 * sampled, not learned. */
#include "ref.h"

static void fm_interp_forward(float *xt, float *v, const float *x0, const float *x1,
                              const float *t, int64_t n, int64_t per)
{
    for (int64_t s = 0; s < n; s++) {
        float ts = t[s];
        for (int64_t i = s * per; i < (s + 1) * per; i++) {
            xt[i] = (1.0f - ts) * x0[i] + ts * x1[i];
            v[i] = x1[i] - x0[i];
        }
    }
}

static void fm_interp_backward(float *dx0, float *dx1, const float *dxt, const float *dv,
                               const float *t, int64_t n, int64_t per)
{
    for (int64_t s = 0; s < n; s++) {
        float ts = t[s];
        for (int64_t i = s * per; i < (s + 1) * per; i++) {
            float gxt = dxt ? dxt[i] : 0.0f;
            float gv = dv ? dv[i] : 0.0f;
            if (dx0) {
                dx0[i] = (1.0f - ts) * gxt - gv;
            }
            if (dx1) {
                dx1[i] = ts * gxt + gv;
            }
        }
    }
}

static float *f32_or_null(const fm_tensor *t) { return fm_tensor_present(t) ? fm_f32(t) : NULL; }

/* FM_INTERP_FWD: xt, v, x0[N,...], x1, t[N] */
fm_status fm_ref_fm_interp_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    /* N from t: the images only need equal element counts, not equal shapes */
    int64_t n = fm_tensor_numel(&c->t[4]);
    fm_interp_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_f32(&c->t[3]),
                      fm_f32(&c->t[4]), n, fm_tensor_numel(&c->t[2]) / n);
    return FM_OK;
}

/* FM_INTERP_BWD: dx0?, dx1?, dxt?, dv?, t[N]
 * The per-sample size comes from whichever gradient is present; with no dx0 and
 * no dx1 there is nothing to write. */
fm_status fm_ref_fm_interp_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *shape = NULL;
    for (int k = 0; k < 2; k++) {
        if (fm_tensor_present(&c->t[k])) {
            shape = &c->t[k];
            break;
        }
    }
    if (!shape) {
        return FM_OK;
    }
    int64_t n = fm_tensor_numel(&c->t[4]);
    fm_interp_backward(f32_or_null(&c->t[0]), f32_or_null(&c->t[1]), f32_or_null(&c->t[2]),
                       f32_or_null(&c->t[3]), fm_f32(&c->t[4]), n, fm_tensor_numel(shape) / n);
    return FM_OK;
}
