/* Channel concatenation (the decoder's skip connections) over the pool, one sample per
 * item: per sample the a block (Ca*H*W floats) and the b block (Cb*H*W floats) are
 * contiguous in out, so each item is two memcpys (forward) or up to two (backward, the
 * split), exactly kernels_ref/concat.c's copies spread over the threads. */
#include <string.h>

#include "cpu.h"

typedef struct concat_job {
    float *out, *da, *db;
    const float *a, *b, *dout;
    int64_t asz, bsz; /* floats per sample of a and b */
} concat_job;

static void fwd_sample(void *p, int64_t n, int tid)
{
    (void)tid;
    const concat_job *j = p;
    float *o = j->out + n * (j->asz + j->bsz);
    memcpy(o, j->a + n * j->asz, (size_t)j->asz * sizeof(float));
    memcpy(o + j->asz, j->b + n * j->bsz, (size_t)j->bsz * sizeof(float));
}

static void bwd_sample(void *p, int64_t n, int tid)
{
    (void)tid;
    const concat_job *j = p;
    const float *g = j->dout + n * (j->asz + j->bsz);
    if (j->da)
        memcpy(j->da + n * j->asz, g, (size_t)j->asz * sizeof(float));
    if (j->db)
        memcpy(j->db + n * j->bsz, g + j->asz, (size_t)j->bsz * sizeof(float));
}

/* CONCAT_FWD: out[N,Ca+Cb,H,W], a[N,Ca,H,W], b[N,Cb,H,W] */
fm_status fm_cpu_concat_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *a = &c->t[1], *b = &c->t[2];
    int64_t plane = out->shape[2] * out->shape[3];
    concat_job j = {.out = fm_f32(out), .a = fm_f32(a), .b = fm_f32(b),
                    .asz = a->shape[1] * plane, .bsz = b->shape[1] * plane};
    fm_cpu_parallel(fm_cpu_of(be), out->shape[0], fwd_sample, &j);
    return FM_OK;
}

/* CONCAT_BWD: da?[N,Ca,H,W], db?[N,Cb,H,W], dout[N,Ca+Cb,H,W] */
fm_status fm_cpu_concat_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *da = &c->t[0], *db = &c->t[1], *dout = &c->t[2];
    int has_a = fm_tensor_present(da), has_b = fm_tensor_present(db);
    if (!has_a && !has_b)
        return FM_OK;
    int64_t cout = dout->shape[1], plane = dout->shape[2] * dout->shape[3];
    int64_t ca = has_a ? da->shape[1] : cout - db->shape[1];
    concat_job j = {.da = has_a ? fm_f32(da) : NULL, .db = has_b ? fm_f32(db) : NULL,
                    .dout = fm_f32(dout), .asz = ca * plane, .bsz = (cout - ca) * plane};
    fm_cpu_parallel(fm_cpu_of(be), dout->shape[0], bwd_sample, &j);
    return FM_OK;
}
