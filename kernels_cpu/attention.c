/* Multi-head self-attention (maths in kernels_ref/attention.c) as five GEMMs per
 * (image, head), threads over the N x heads pairs. For one pair, q, k, v, dO are [d, L]
 * row-major (one channel per row), A = att is [L, L]:
 *
 *   S  = q^T k / sqrt(d)            A = softmax over each row of S
 *   O  = v A^T                      [d, L]
 *   dA = dO^T v                     dv = dO A
 *   dS = A . (dA - rowsum(A . dA))  (the softmax Jacobian, in place over dA)
 *   dq = k dS^T / sqrt(d)           dk = q dS / sqrt(d)
 *
 * The forward writes A straight into att; the backward keeps dA/dS in the thread's
 * scratch (L x L floats), not in the op's ws tensor, which only has room for one pair
 * at a time (ws is scratch by contract: its contents are not part of the result). */
#include <math.h>

#include "cpu.h"
#include "vmath.h"

typedef struct att_job {
    fm_cpu *cpu;
    float *out, *att, *dqkv;
    const float *qkv, *dout, *catt;
    int64_t C, L, heads, d;
    float scale;
} att_job;

static void fwd_pair(void *p, int64_t nh, int tid)
{
    const att_job *j = p;
    int64_t n = nh / j->heads, h = nh % j->heads, L = j->L, d = j->d;
    const float *q = j->qkv + (n * 3 * j->C + h * d) * L;
    const float *k = q + j->C * L, *v = k + j->C * L;
    float *a = j->att + nh * L * L, *o = j->out + (n * j->C + h * d) * L;
    fm_cpu_sgemm(j->cpu, tid, 1, 0, L, L, d, j->scale, q, L, k, L, 0.0f, a, L);
    for (int64_t i = 0; i < L; i++) { /* max-shifted softmax: exp never overflows */
        float *r = a + i * L, mx = r[0];
        for (int64_t t = 1; t < L; t++)
            mx = r[t] > mx ? r[t] : mx;
        /* the exps in a loop of their own: vmath.h's expf vectorises, libm's does not */
        for (int64_t t = 0; t < L; t++)
            r[t] = fm_cpu_expf(r[t] - mx);
        double sum = 0.0;
        for (int64_t t = 0; t < L; t++)
            sum += r[t];
        float inv = (float)(1.0 / sum);
        for (int64_t t = 0; t < L; t++)
            r[t] *= inv;
    }
    fm_cpu_sgemm(j->cpu, tid, 0, 1, d, L, L, 1.0f, v, L, a, L, 0.0f, o, L);
}

/* t: out, att, qkv   i0 heads */
fm_status fm_cpu_attention_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    att_job j = {.cpu = fm_cpu_of(be),
                 .out = fm_f32(out),
                 .att = fm_f32(&c->t[1]),
                 .qkv = fm_f32(&c->t[2]),
                 .C = out->shape[1],
                 .L = out->shape[2] * out->shape[3],
                 .heads = c->i[0]};
    j.d = j.C / j.heads;
    j.scale = (float)(1.0 / sqrt((double)j.d));
    fm_cpu_parallel(j.cpu, out->shape[0] * j.heads, fwd_pair, &j);
    return FM_OK;
}

static void bwd_pair(void *p, int64_t nh, int tid)
{
    const att_job *j = p;
    int64_t n = nh / j->heads, h = nh % j->heads, L = j->L, d = j->d;
    const float *q = j->qkv + (n * 3 * j->C + h * d) * L;
    const float *k = q + j->C * L, *v = k + j->C * L;
    float *dq = j->dqkv + (n * 3 * j->C + h * d) * L;
    float *dk = dq + j->C * L, *dv = dk + j->C * L;
    const float *a = j->catt + nh * L * L, *dO = j->dout + (n * j->C + h * d) * L;
    float *dA = fm_cpu_scratch(j->cpu, tid);
    fm_cpu_sgemm(j->cpu, tid, 1, 0, L, L, d, 1.0f, dO, L, v, L, 0.0f, dA, L);
    fm_cpu_sgemm(j->cpu, tid, 0, 0, d, L, L, 1.0f, dO, L, a, L, 0.0f, dv, L);
    for (int64_t i = 0; i < L; i++) {
        const float *ar = a + i * L;
        float *r = dA + i * L;
        double dot = 0.0;
        for (int64_t t = 0; t < L; t++)
            dot += (double)ar[t] * r[t];
        float fd = (float)dot;
        for (int64_t t = 0; t < L; t++)
            r[t] = ar[t] * (r[t] - fd);
    }
    fm_cpu_sgemm(j->cpu, tid, 0, 1, d, L, L, j->scale, k, L, dA, L, 0.0f, dq, L);
    fm_cpu_sgemm(j->cpu, tid, 0, 0, d, L, L, j->scale, q, L, dA, L, 0.0f, dk, L);
}

/* t: dqkv, ws, dout, qkv, att   i0 heads */
fm_status fm_cpu_attention_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[2];
    att_job j = {.cpu = fm_cpu_of(be),
                 .dqkv = fm_f32(&c->t[0]),
                 .dout = fm_f32(dout),
                 .qkv = fm_f32(&c->t[3]),
                 .catt = fm_f32(&c->t[4]),
                 .C = dout->shape[1],
                 .L = dout->shape[2] * dout->shape[3],
                 .heads = c->i[0]};
    if ((size_t)(j.L * j.L) > fm_cpu_scratch_floats(j.cpu))
        return fm_ref_attention_bwd(be, c);
    j.d = j.C / j.heads;
    j.scale = (float)(1.0 / sqrt((double)j.d));
    fm_cpu_parallel(j.cpu, dout->shape[0] * j.heads, bwd_pair, &j);
    return FM_OK;
}
