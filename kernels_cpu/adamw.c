/* AdamW and the EMA of the parameters over the pool: the reference's per-element
 * formulas (kernels_ref/adamw.c, ema.c) in the same float operations and order, so the
 * results match it bit for bit; only the loop is cut into chunks (4M parameters:
 * 64 chunks of 64K). */
#include <math.h>

#include "cpu.h"

#define CHUNK 65536

typedef struct opt_job {
    float *p, *m, *v;
    const float *g;
    float lr, b1, b2, eps, wd, bc1, bc2, decay;
    int64_t n;
} opt_job;

static void adamw_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const opt_job *h = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < h->n ? lo + CHUNK : h->n;
    float *restrict pp = h->p, *restrict m = h->m, *restrict v = h->v;
    const float *restrict g = h->g;
    for (int64_t i = lo; i < hi; i++) {
        float gi = g[i];
        float pi = pp[i] - h->lr * h->wd * pp[i];
        float mi = h->b1 * m[i] + (1.0f - h->b1) * gi;
        float vi = h->b2 * v[i] + (1.0f - h->b2) * gi * gi;
        float mhat = mi / h->bc1;
        float vhat = vi / h->bc2;
        pp[i] = pi - h->lr * mhat / (sqrtf(vhat) + h->eps);
        m[i] = mi;
        v[i] = vi;
    }
}

/* ADAMW: param, m, v, grad   f0 lr, f1 b1, f2 b2, f3 eps, f4 wd, f5 bc1, f6 bc2 */
fm_status fm_cpu_adamw(fm_backend *be, const fm_call *c)
{
    opt_job h = {fm_f32(&c->t[0]),
                 fm_f32(&c->t[1]),
                 fm_f32(&c->t[2]),
                 fm_f32(&c->t[3]),
                 c->f[0],
                 c->f[1],
                 c->f[2],
                 c->f[3],
                 c->f[4],
                 c->f[5],
                 c->f[6],
                 0.0f,
                 fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (h.n + CHUNK - 1) / CHUNK, adamw_chunk, &h);
    return FM_OK;
}

static void ema_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const opt_job *h = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < h->n ? lo + CHUNK : h->n;
    float *restrict e = h->p;
    const float *restrict x = h->g;
    float d = h->decay;
    for (int64_t i = lo; i < hi; i++)
        e[i] = d * e[i] + (1.0f - d) * x[i];
}

/* EMA: ema, param   f0 decay */
fm_status fm_cpu_ema(fm_backend *be, const fm_call *c)
{
    opt_job h = {.p = fm_f32(&c->t[0]),
                 .g = fm_f32(&c->t[1]),
                 .decay = c->f[0],
                 .n = fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (h.n + CHUNK - 1) / CHUNK, ema_chunk, &h);
    return FM_OK;
}
