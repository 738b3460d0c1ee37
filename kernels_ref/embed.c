/* Embedding lookup (class labels -> rows of a table):
 *
 *   out[n,:] = table[idx[n],:]                 out[N,D], table[R,D], idx[N] i32
 *   dtable[idx[n],:] += dout[n,:]              scatter-add: a repeated index sums
 *
 * Indices are trusted to satisfy 0 <= idx < R (the caller's labels). */
#include "ref.h"

/* out[N,D] from table[R,D], idx[N]. */
static void embed_forward(float *out, const float *table, const int32_t *idx, int64_t N, int64_t D)
{
    for (int64_t n = 0; n < N; n++) {
        const float *row = table + (int64_t)idx[n] * D;
        for (int64_t j = 0; j < D; j++)
            out[n * D + j] = row[j];
    }
}

/* dtable[R,D] += from dout[N,D], idx[N]. */
static void embed_backward(float *dtable, const float *dout, const int32_t *idx, int64_t N,
                           int64_t D)
{
    for (int64_t n = 0; n < N; n++) {
        float *row = dtable + (int64_t)idx[n] * D;
        for (int64_t j = 0; j < D; j++)
            row[j] += dout[n * D + j];
    }
}

/* Indices are data, not shapes, so fm_op_check cannot see them; the oracle refuses
 * an out-of-range row rather than reading or writing outside the table. */
static fm_status check_rows(fm_backend *be, const fm_tensor *idx, int64_t rows)
{
    const int32_t *v = fm_i32(idx);
    for (int64_t n = 0; n < fm_tensor_numel(idx); n++)
        if (v[n] < 0 || v[n] >= rows)
            return fm_fail(be, FM_ERR_ARG, "embed: index %d at position %lld outside 0..%lld",
                           (int)v[n], (long long)n, (long long)rows - 1);
    return FM_OK;
}

/* t: out, table, idx */
fm_status fm_ref_embed_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    fm_status s = check_rows(be, &c->t[2], c->t[1].shape[0]);
    if (s != FM_OK)
        return s;
    embed_forward(fm_f32(out), fm_f32(&c->t[1]), fm_i32(&c->t[2]), out->shape[0], out->shape[1]);
    return FM_OK;
}

/* t: dtable, dout, idx */
fm_status fm_ref_embed_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[1];
    fm_status s = check_rows(be, &c->t[2], c->t[0].shape[0]);
    if (s != FM_OK)
        return s;
    embed_backward(fm_f32(&c->t[0]), fm_f32(dout), fm_i32(&c->t[2]), dout->shape[0],
                   dout->shape[1]);
    return FM_OK;
}
