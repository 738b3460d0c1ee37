/* Tokens back to an image: p x p patches of C channels, token t = i*gw + j for the
 * patch at row i, column j of the gh x gw grid (gh = H/p, gw = W/p):
 *
 *   img[b, c, i*p + pi, j*p + pj] = tok[b, i*gw + j, (pi*p + pj)*C + c]
 *
 * A permutation: the backward is the inverse gather (tok from img), no sums. */
#include "ref.h"

/* The token element of image element (c, y, x) of one sample, C channels, gw columns. */
static int64_t token_index(int64_t c, int64_t y, int64_t x, int64_t p, int64_t C, int64_t gw)
{
    return ((y / p) * gw + x / p) * p * p * C + ((y % p) * p + x % p) * C + c;
}

/* dir 0: img from tok (forward); dir 1: tok from img (backward). */
static void unpatchify(float *img, float *tok, int64_t B, int64_t C, int64_t H, int64_t W,
                       int64_t p, int dir)
{
    int64_t per = C * H * W;
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++) {
                    float *v = &img[b * per + (c * H + y) * W + x];
                    float *t = &tok[b * per + token_index(c, y, x, p, C, W / p)];
                    if (dir == 0)
                        *v = *t;
                    else
                        *t = *v;
                }
}

/* UNPATCHIFY_FWD: out[B,C,H,W], in[B,T,p*p*C]   i0 p */
fm_status fm_ref_unpatchify_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *o = &c->t[0];
    unpatchify(fm_f32(o), fm_f32(&c->t[1]), o->shape[0], o->shape[1], o->shape[2], o->shape[3],
               c->i[0], 0);
    return FM_OK;
}

/* UNPATCHIFY_BWD: din[B,T,p*p*C], dout[B,C,H,W]   i0 p */
fm_status fm_ref_unpatchify_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *d = &c->t[1];
    unpatchify(fm_f32(d), fm_f32(&c->t[0]), d->shape[0], d->shape[1], d->shape[2], d->shape[3],
               c->i[0], 1);
    return FM_OK;
}
