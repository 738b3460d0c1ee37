/* GELU (tanh form; maths in kernels_ref/gelu.c) over the pool, chunked like silu.c:
 *   out = 0.5 x (1 + th),  din = dout (0.5 (1 + th) + 0.5 x (1 - th^2) k (1 + 3c x^2)),
 *   th = tanh(k (x + c x^3)) = 1 - 2 / (1 + e^(2a)), with vmath.h's vectorisable exp
 * (e^(2a) = inf gives th = 1, e^(2a) = 0 gives -1: the limits, no branch). Within a
 * few ulps of the reference's tanhf. out may alias in. */
#include "cpu.h"
#include "vmath.h"

#define CHUNK 16384
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

typedef struct ew_job {
    float *out;
    const float *a, *b;
    int64_t n;
} ew_job;

static inline float gelu_tanh(float x)
{
    return 1.0f - 2.0f / (1.0f + fm_cpu_expf(2.0f * GELU_K * (x + GELU_C * x * x * x)));
}

static void fwd_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    float *out = j->out;
    const float *in = j->a;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + gelu_tanh(x));
    }
}

static void bwd_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    float *din = j->out;
    const float *dout = j->a, *in = j->b;
    for (int64_t i = lo; i < hi; i++) {
        float x = in[i], th = gelu_tanh(x);
        float da = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        din[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * da);
    }
}

/* GELU_FWD: out, in */
fm_status fm_cpu_gelu_fwd(fm_backend *be, const fm_call *c)
{
    ew_job j = {fm_f32(&c->t[0]), fm_f32(&c->t[1]), NULL, fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (j.n + CHUNK - 1) / CHUNK, fwd_chunk, &j);
    return FM_OK;
}

/* GELU_BWD: din, dout, in */
fm_status fm_cpu_gelu_bwd(fm_backend *be, const fm_call *c)
{
    ew_job j = {fm_f32(&c->t[0]), fm_f32(&c->t[1]), fm_f32(&c->t[2]), fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (j.n + CHUNK - 1) / CHUNK, bwd_chunk, &j);
    return FM_OK;
}
