/* Elementwise ops over large activations, cut into chunks over the pool: ADD_FWD
 * (residual sums), AXPBY_FWD (the sampler's update), BIAS_ADD_FWD/BWD (the time
 * embedding of every ResBlock). Same per-element float operations as the reference;
 * outputs may alias inputs (each element is read before it is written, and no
 * `restrict` is claimed). BIAS_ADD_BWD sums each plane in double like the reference,
 * through the vectorisable fm_cpu_sum. */
#include "cpu.h"

#define CHUNK 16384

typedef struct ew_job {
    float *out;
    const float *a, *b;
    float fa, fb;
    int64_t n, plane;
} ew_job;

static void add_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    for (int64_t i = lo; i < hi; i++)
        j->out[i] = j->a[i] + j->b[i];
}

/* ADD_FWD: out, a, b */
fm_status fm_cpu_add_fwd(fm_backend *be, const fm_call *c)
{
    ew_job j = {.out = fm_f32(&c->t[0]),
                .a = fm_f32(&c->t[1]),
                .b = fm_f32(&c->t[2]),
                .n = fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (j.n + CHUNK - 1) / CHUNK, add_chunk, &j);
    return FM_OK;
}

static void axpby_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    for (int64_t i = lo; i < hi; i++)
        j->out[i] = j->fa * j->a[i] + j->fb * j->b[i];
}

/* AXPBY_FWD: out, x, y   f0 a, f1 b */
fm_status fm_cpu_axpby_fwd(fm_backend *be, const fm_call *c)
{
    ew_job j = {.out = fm_f32(&c->t[0]),
                .a = fm_f32(&c->t[1]),
                .b = fm_f32(&c->t[2]),
                .fa = c->f[0],
                .fb = c->f[1],
                .n = fm_tensor_numel(&c->t[0])};
    fm_cpu_parallel(fm_cpu_of(be), (j.n + CHUNK - 1) / CHUNK, axpby_chunk, &j);
    return FM_OK;
}

/* items: planes of H*W */
static void bias_plane(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    float b = j->b[k];
    float *o = j->out + k * j->plane;
    const float *x = j->a + k * j->plane;
    for (int64_t i = 0; i < j->plane; i++)
        o[i] = x[i] + b;
}

/* BIAS_ADD_FWD: out[N,C,H,W], in, bias[N,C] */
fm_status fm_cpu_bias_add_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    ew_job j = {.out = fm_f32(out),
                .a = fm_f32(&c->t[1]),
                .b = fm_f32(&c->t[2]),
                .plane = out->shape[2] * out->shape[3]};
    fm_cpu_parallel(fm_cpu_of(be), out->shape[0] * out->shape[1], bias_plane, &j);
    return FM_OK;
}

static void dbias_plane(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    j->out[k] = (float)fm_cpu_sum(j->a + k * j->plane, j->plane);
}

/* BIAS_ADD_BWD: dbias[N,C], dout[N,C,H,W] */
fm_status fm_cpu_bias_add_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[1];
    ew_job j = {
        .out = fm_f32(&c->t[0]), .a = fm_f32(dout), .plane = dout->shape[2] * dout->shape[3]};
    fm_cpu_parallel(fm_cpu_of(be), dout->shape[0] * dout->shape[1], dbias_plane, &j);
    return FM_OK;
}
