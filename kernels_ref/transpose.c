/* Batched transpose: out[b,c,r] = in[b,r,c], in[B,R,C], out[B,C,R]. Its own backward
 * (din = the transpose of dout). out must not alias in. */
#include "ref.h"

static void transpose(float *out, const float *in, int64_t B, int64_t R, int64_t C)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                out[(b * C + c) * R + r] = in[(b * R + r) * C + c];
}

/* TRANSPOSE: out[B,C,R], in[B,R,C] */
fm_status fm_ref_transpose(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[1];
    transpose(fm_f32(&c->t[0]), fm_f32(in), in->shape[0], in->shape[1], in->shape[2]);
    return FM_OK;
}
