/* Nearest-neighbour 2x upsampling of NCHW images (the decoder's Up block):
 *
 *   out[p, y, x] = in[p, y/2, x/2]             out [N,C,2H,2W], in [N,C,H,W]
 *   din[p, y, x] = sum_{dy,dx in {0,1}} dout[p, 2y+dy, 2x+dx]
 *
 * p runs over the N*C planes. din is written (=). */
#include "ref.h"

static void upsample2x_forward(float *out, const float *in, int64_t planes, int64_t h,
                               int64_t w)
{
    int64_t wo = 2 * w;
    for (int64_t p = 0; p < planes; p++) {
        const float *src = in + p * h * w;
        float *dst = out + p * 4 * h * w;
        for (int64_t y = 0; y < 2 * h; y++) {
            for (int64_t x = 0; x < wo; x++) {
                dst[y * wo + x] = src[(y / 2) * w + x / 2];
            }
        }
    }
}

static void upsample2x_backward(float *din, const float *dout, int64_t planes, int64_t h,
                                int64_t w)
{
    int64_t wo = 2 * w;
    for (int64_t p = 0; p < planes; p++) {
        const float *src = dout + p * 4 * h * w;
        float *dst = din + p * h * w;
        for (int64_t y = 0; y < h; y++) {
            for (int64_t x = 0; x < w; x++) {
                const float *blk = src + (2 * y) * wo + 2 * x;
                dst[y * w + x] = (blk[0] + blk[1]) + (blk[wo] + blk[wo + 1]);
            }
        }
    }
}

/* UPSAMPLE2X_FWD: out[N,C,2H,2W], in[N,C,H,W] */
fm_status fm_ref_upsample2x_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *in = &c->t[1];
    upsample2x_forward(fm_f32(&c->t[0]), fm_f32(in), in->shape[0] * in->shape[1],
                       in->shape[2], in->shape[3]);
    return FM_OK;
}

/* UPSAMPLE2X_BWD: din[N,C,H,W], dout[N,C,2H,2W] */
fm_status fm_ref_upsample2x_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *din = &c->t[0];
    upsample2x_backward(fm_f32(din), fm_f32(&c->t[1]), din->shape[0] * din->shape[1],
                        din->shape[2], din->shape[3]);
    return FM_OK;
}
