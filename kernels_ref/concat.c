/* Channel concatenation of two NCHW images (the decoder's skip connections):
 *
 *   out[n, 0:Ca]     = a[n]        out [N,Ca+Cb,H,W], a [N,Ca,H,W], b [N,Cb,H,W]
 *   out[n, Ca:Ca+Cb] = b[n]
 *
 * Per sample the a block (Ca*H*W floats) and the b block (Cb*H*W floats) are
 * contiguous, so both directions are two copies per sample. The backward is the
 * split; either gradient may be absent. */
#include <string.h>

#include "ref.h"

static void concat_forward(float *out, const float *a, const float *b, int64_t n, int64_t asz,
                           int64_t bsz)
{
    for (int64_t i = 0; i < n; i++) {
        memcpy(out + i * (asz + bsz), a + i * asz, (size_t)asz * sizeof(float));
        memcpy(out + i * (asz + bsz) + asz, b + i * bsz, (size_t)bsz * sizeof(float));
    }
}

static void concat_backward(float *da, float *db, const float *dout, int64_t n, int64_t asz,
                            int64_t bsz)
{
    for (int64_t i = 0; i < n; i++) {
        if (da) {
            memcpy(da + i * asz, dout + i * (asz + bsz), (size_t)asz * sizeof(float));
        }
        if (db) {
            memcpy(db + i * bsz, dout + i * (asz + bsz) + asz, (size_t)bsz * sizeof(float));
        }
    }
}

/* CONCAT_FWD: out[N,Ca+Cb,H,W], a[N,Ca,H,W], b[N,Cb,H,W] */
fm_status fm_ref_concat_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *out = &c->t[0], *a = &c->t[1], *b = &c->t[2];
    int64_t n = out->shape[0], plane = out->shape[2] * out->shape[3];
    concat_forward(fm_f32(out), fm_f32(a), fm_f32(b), n, a->shape[1] * plane,
                   b->shape[1] * plane);
    return FM_OK;
}

/* CONCAT_BWD: da?[N,Ca,H,W], db?[N,Cb,H,W], dout[N,Ca+Cb,H,W]
 * ops.c currently demands both; should that relax, an absent one is handled: its
 * channel count follows from dout's. */
fm_status fm_ref_concat_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *da = &c->t[0], *db = &c->t[1], *dout = &c->t[2];
    int has_a = fm_tensor_present(da), has_b = fm_tensor_present(db);
    if (!has_a && !has_b) {
        return FM_OK;
    }
    int64_t n = dout->shape[0], cout = dout->shape[1], plane = dout->shape[2] * dout->shape[3];
    int64_t ca = has_a ? da->shape[1] : cout - db->shape[1];
    concat_backward(has_a ? fm_f32(da) : NULL, has_b ? fm_f32(db) : NULL, fm_f32(dout), n,
                    ca * plane, (cout - ca) * plane);
    return FM_OK;
}
