/* SiLU over the pool: out = x s, din = dout s (1 + x (1 - s)), s = 1 / (1 + e^-x), with
 * the vectorisable exp of vmath.h (a few ulps from expf; the conformance tolerance of
 * an elementwise op is NMSE 1e-10, i.e. ~1e-5 relative). out may alias in.
 *
 * The U-Net's SiLUs that follow a group norm run fused into it when sampling
 * (GROUPNORM_FWD i1 = FM_GN_ACT_SILU, groupnorm.c, same formula); this op serves the
 * time path and training, whose backward needs the norm's output itself. */
#include "cpu.h"
#include "vmath.h"

#define CHUNK 16384

typedef struct ew_job {
    float *out;
    const float *a, *b;
    int64_t n;
} ew_job;

static void fwd_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    float *out = j->out;
    const float *in = j->a;
    for (int64_t i = lo; i < hi; i++)
        out[i] = fm_cpu_silu(in[i]);
}

static void bwd_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    float *din = j->out;
    const float *dout = j->a, *in = j->b;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i];
        float s = 1.0f / (1.0f + fm_cpu_expf(-x));
        din[i] = dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

/* SILU_FWD: out, in */
fm_status fm_cpu_silu_fwd(fm_backend *be, const fm_call *c)
{
    ew_job j = {fm_f32(&c->t[0]), fm_f32(&c->t[1]), NULL, fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (j.n + CHUNK - 1) / CHUNK, fwd_chunk, &j);
    return FM_OK;
}

/* SILU_BWD: din, dout, in */
fm_status fm_cpu_silu_bwd(fm_backend *be, const fm_call *c)
{
    ew_job j = {fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (j.n + CHUNK - 1) / CHUNK, bwd_chunk, &j);
    return FM_OK;
}
