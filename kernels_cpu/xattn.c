/* Attention between token sequences (maths in kernels_ref/xattn.c) as GEMMs per
 * (sample, head), threads over the N x heads pairs. For one pair, q and dO are [Lq, d],
 * k and v [Lk, d], row-major with row stride C (the head's columns of the token rows);
 * A = att and S = ds are [Lq, Lk]:
 *
 *   A  = q k^T / sqrt(d) + bias, masked (-inf) keys dropped, softmax over each row
 *   O  = A v                        [Lq, d] -> out's columns h*d ..
 *   dA = dO v^T (into ds)           dv = A^T dO
 *   dS = A . (dA - rowsum(A . dA))  (the softmax Jacobian, in place in ds)
 *   dq = dS k / sqrt(d)             dk = dS^T q / sqrt(d)
 *
 * Pairs write disjoint columns of out/dq/dk/dv and their own blocks of att/ds, so no
 * scratch and no reduction across threads. A row whose every key is masked (refused by
 * the reference) gets all-zero weights here, so nothing is NaN. */
#include <math.h>

#include "cpu.h"
#include "vmath.h"

typedef struct xa_job {
    fm_cpu *cpu;
    float *out, *att, *dq, *dk, *dv, *ds;
    const float *q, *k, *v, *bias, *dout, *catt;
    int64_t Lq, Lk, C, heads, d;
    int causal;
    float scale;
} xa_job;

/* Row i of scores in r: bias added, masked keys -inf; then the max-shifted softmax
 * with masked weights exactly 0 (vmath.h's expf never returns 0: select instead). */
static void softmax_row(float *r, const float *bias, int64_t Lk, int64_t kept)
{
    for (int64_t t = 0; t < Lk; t++)
        r[t] = t < kept ? r[t] + (bias ? bias[t] : 0.0f) : -INFINITY;
    float mx = -INFINITY;
    for (int64_t t = 0; t < Lk; t++)
        mx = r[t] > mx ? r[t] : mx;
    if (mx == -INFINITY) { /* every key masked */
        for (int64_t t = 0; t < Lk; t++)
            r[t] = 0.0f;
        return;
    }
    for (int64_t t = 0; t < Lk; t++) {
        float e = fm_cpu_expf(r[t] - mx);
        r[t] = r[t] == -INFINITY ? 0.0f : e;
    }
    double sum = 0.0;
    for (int64_t t = 0; t < Lk; t++)
        sum += r[t];
    float inv = (float)(1.0 / sum);
    for (int64_t t = 0; t < Lk; t++)
        r[t] *= inv;
}

static void fwd_pair(void *p, int64_t nh, int tid)
{
    const xa_job *j = p;
    int64_t n = nh / j->heads, h = nh % j->heads, Lq = j->Lq, Lk = j->Lk, C = j->C;
    const float *q = j->q + n * Lq * C + h * j->d;
    const float *k = j->k + n * Lk * C + h * j->d, *v = j->v + n * Lk * C + h * j->d;
    float *a = j->att + nh * Lq * Lk, *o = j->out + n * Lq * C + h * j->d;
    fm_cpu_sgemm(j->cpu, tid, 0, 1, Lq, Lk, j->d, j->scale, q, C, k, C, 0.0f, a, Lk);
    for (int64_t i = 0; i < Lq; i++) /* causal: keys 0..i kept */
        softmax_row(a + i * Lk, j->bias ? j->bias + n * Lk : NULL, Lk,
                    j->causal && i + 1 < Lk ? i + 1 : Lk);
    fm_cpu_sgemm(j->cpu, tid, 0, 0, Lq, j->d, Lk, 1.0f, a, Lk, v, C, 0.0f, o, C);
}

/* t: out, att, q, k, v, bias?   i0 heads, i1 causal */
fm_status fm_cpu_xattn_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *q = &c->t[2];
    xa_job j = {.cpu = fm_cpu_of(be),
                .out = fm_f32(&c->t[0]),
                .att = fm_f32(&c->t[1]),
                .q = fm_f32(q),
                .k = fm_f32(&c->t[3]),
                .v = fm_f32(&c->t[4]),
                .bias = fm_tensor_present(&c->t[5]) ? fm_f32(&c->t[5]) : NULL,
                .Lq = q->shape[1],
                .Lk = c->t[3].shape[1],
                .C = q->shape[2],
                .heads = c->i[0],
                .causal = c->i[1]};
    j.d = j.C / j.heads;
    j.scale = (float)(1.0 / sqrt((double)j.d));
    fm_cpu_parallel(j.cpu, q->shape[0] * j.heads, fwd_pair, &j);
    return FM_OK;
}

static void bwd_pair(void *p, int64_t nh, int tid)
{
    const xa_job *j = p;
    int64_t n = nh / j->heads, h = nh % j->heads, Lq = j->Lq, Lk = j->Lk, C = j->C, d = j->d;
    int64_t oq = n * Lq * C + h * d, ok = n * Lk * C + h * d;
    const float *a = j->catt + nh * Lq * Lk, *dO = j->dout + oq;
    float *s = j->ds + nh * Lq * Lk;
    fm_cpu_sgemm(j->cpu, tid, 0, 1, Lq, Lk, d, 1.0f, dO, C, j->v + ok, C, 0.0f, s, Lk);
    fm_cpu_sgemm(j->cpu, tid, 1, 0, Lk, d, Lq, 1.0f, a, Lk, dO, C, 0.0f, j->dv + ok, C);
    for (int64_t i = 0; i < Lq; i++) {
        const float *ar = a + i * Lk;
        float *r = s + i * Lk;
        double dot = 0.0;
        for (int64_t t = 0; t < Lk; t++)
            dot += (double)ar[t] * r[t];
        float fd = (float)dot;
        for (int64_t t = 0; t < Lk; t++)
            r[t] = ar[t] * (r[t] - fd);
    }
    fm_cpu_sgemm(j->cpu, tid, 0, 0, Lq, d, Lk, j->scale, s, Lk, j->k + ok, C, 0.0f, j->dq + oq, C);
    fm_cpu_sgemm(j->cpu, tid, 1, 0, Lk, d, Lq, j->scale, s, Lk, j->q + oq, C, 0.0f, j->dk + ok, C);
}

/* t: dq, dk, dv, ds, dout, q, k, v, att   i0 heads */
fm_status fm_cpu_xattn_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *q = &c->t[5];
    xa_job j = {.cpu = fm_cpu_of(be),
                .dq = fm_f32(&c->t[0]),
                .dk = fm_f32(&c->t[1]),
                .dv = fm_f32(&c->t[2]),
                .ds = fm_f32(&c->t[3]),
                .dout = fm_f32(&c->t[4]),
                .q = fm_f32(q),
                .k = fm_f32(&c->t[6]),
                .v = fm_f32(&c->t[7]),
                .catt = fm_f32(&c->t[8]),
                .Lq = q->shape[1],
                .Lk = c->t[6].shape[1],
                .C = q->shape[2],
                .heads = c->i[0]};
    j.d = j.C / j.heads;
    j.scale = (float)(1.0 / sqrt((double)j.d));
    fm_cpu_parallel(j.cpu, q->shape[0] * j.heads, bwd_pair, &j);
    return FM_OK;
}
