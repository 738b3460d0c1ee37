/* Elementwise ops over large activations, cut into chunks over the pool: ADD_FWD
 * (residual sums), AXPBY_FWD (the sampler's update), BIAS_ADD_FWD/BWD (the time
 * embedding of every ResBlock). Same per-element float operations as the reference;
 * outputs may alias inputs (each element is read before it is written, and no
 * `restrict` is claimed). BIAS_ADD_BWD sums each plane in double like the reference,
 * through the vectorisable fm_cpu_sum. */
#include "cpu.h"

#define CHUNK FM_CPU_CHUNK

typedef struct ew_job {
    float *out;
    const float *a, *b;
    const float *f;
    fm_cpu_map_fn fn;
    int64_t n, plane, per; /* bias ops: n planes of `plane` floats, `per` per item */
} ew_job;

static void map_chunk(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t lo = k * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    j->fn(j->out, j->a, j->b, j->f, lo, hi);
}

void fm_cpu_map(fm_cpu *cpu, int64_t n, fm_cpu_map_fn fn, float *out, const float *a,
                const float *b, const float *f)
{
    ew_job j = {.out = out, .a = a, .b = b, .f = f, .fn = fn, .n = n};
    fm_cpu_parallel(cpu, (n + CHUNK - 1) / CHUNK, map_chunk, &j);
}

static void add_range(float *out, const float *a, const float *b, const float *f, int64_t lo,
                      int64_t hi)
{
    (void)f;
    for (int64_t i = lo; i < hi; i++)
        out[i] = a[i] + b[i];
}

/* ADD_FWD: out, a, b */
fm_status fm_cpu_add_fwd(fm_backend *be, const fm_call *c)
{
    fm_cpu_map(fm_cpu_of(be), fm_tensor_numel(&c->t[0]), add_range, fm_f32(&c->t[0]),
               fm_f32(&c->t[1]), fm_f32(&c->t[2]), NULL);
    return FM_OK;
}

static void axpby_range(float *out, const float *x, const float *y, const float *f, int64_t lo,
                        int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        out[i] = f[0] * x[i] + f[1] * y[i];
}

/* AXPBY_FWD: out, x, y   f0 a, f1 b */
fm_status fm_cpu_axpby_fwd(fm_backend *be, const fm_call *c)
{
    fm_cpu_map(fm_cpu_of(be), fm_tensor_numel(&c->t[0]), axpby_range, fm_f32(&c->t[0]),
               fm_f32(&c->t[1]), fm_f32(&c->t[2]), c->f);
    return FM_OK;
}

/* Items: runs of `per` planes of H*W (at least CHUNK floats when planes are small:
 * one 7x7 plane per item left the pool's hand-out, not the adds, as the cost). */
static void bias_planes(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t hi = (k + 1) * j->per < j->n ? (k + 1) * j->per : j->n;
    for (int64_t q = k * j->per; q < hi; q++) {
        float b = j->b[q];
        float *o = j->out + q * j->plane;
        const float *x = j->a + q * j->plane;
        for (int64_t i = 0; i < j->plane; i++)
            o[i] = x[i] + b;
    }
}

static int64_t planes_per_item(int64_t plane) { return plane >= CHUNK ? 1 : CHUNK / plane; }

/* BIAS_ADD_FWD: out[N,C,H,W], in, bias[N,C] */
fm_status fm_cpu_bias_add_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    ew_job j = {.out = fm_f32(out),
                .a = fm_f32(&c->t[1]),
                .b = fm_f32(&c->t[2]),
                .n = out->shape[0] * out->shape[1],
                .plane = out->shape[2] * out->shape[3]};
    j.per = planes_per_item(j.plane);
    fm_cpu_parallel(fm_cpu_of(be), (j.n + j.per - 1) / j.per, bias_planes, &j);
    return FM_OK;
}

static void dbias_planes(void *p, int64_t k, int tid)
{
    (void)tid;
    const ew_job *j = p;
    int64_t hi = (k + 1) * j->per < j->n ? (k + 1) * j->per : j->n;
    for (int64_t q = k * j->per; q < hi; q++)
        j->out[q] = (float)fm_cpu_sum(j->a + q * j->plane, j->plane);
}

/* BIAS_ADD_BWD: dbias[N,C], dout[N,C,H,W] */
fm_status fm_cpu_bias_add_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[1];
    ew_job j = {.out = fm_f32(&c->t[0]),
                .a = fm_f32(dout),
                .n = dout->shape[0] * dout->shape[1],
                .plane = dout->shape[2] * dout->shape[3]};
    j.per = planes_per_item(j.plane);
    fm_cpu_parallel(fm_cpu_of(be), (j.n + j.per - 1) / j.per, dbias_planes, &j);
    return FM_OK;
}
