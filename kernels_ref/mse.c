/* Mean squared error, the flow-matching loss:
 *
 *   loss = (1/n) sum_i (a_i - b_i)^2            loss [1], a and b any equal shape
 *   da_i = 2 (a_i - b_i) dloss / n,  db_i = -da_i
 *
 * dloss (f0) is a scalar argument rather than a tensor: the loss is always the
 * root of the graph, so the caller knows it (1 for plain training). The forward
 * sum runs in double: n is ~1e5 per batch and a float sum would lose the low bits
 * that a gradient check compares. */
#include "ref.h"

static void mse_forward(float *loss, const float *a, const float *b, int64_t n)
{
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        acc += d * d;
    }
    loss[0] = (float)(acc / (double)n);
}

static void mse_backward(float *da, float *db, const float *a, const float *b, float dloss,
                         int64_t n)
{
    float scale = 2.0f * dloss / (float)n;
    for (int64_t i = 0; i < n; i++) {
        float g = scale * (a[i] - b[i]);
        if (da) {
            da[i] = g;
        }
        if (db) {
            db[i] = -g;
        }
    }
}

/* MSE_FWD: loss[1], a, b */
fm_status fm_ref_mse_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    mse_forward(fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]),
                fm_tensor_numel(&c->t[1]));
    return FM_OK;
}

/* MSE_BWD: da?, db?, a, b; f0 dloss */
fm_status fm_ref_mse_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    float *da = fm_tensor_present(&c->t[0]) ? fm_f32(&c->t[0]) : NULL;
    float *db = fm_tensor_present(&c->t[1]) ? fm_f32(&c->t[1]) : NULL;
    mse_backward(da, db, fm_f32(&c->t[2]), fm_f32(&c->t[3]), c->f[0],
                 fm_tensor_numel(&c->t[2]));
    return FM_OK;
}
